package cli

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
)

// serve refuses contradictory or incomplete flags before it reaches any
// cluster: exit 2 and a line naming the flag.
func TestServeRefusesBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--failure-policy=Fail"}, "--failure-policy needs --webhook-configuration"},
		{[]string{"--failure-policy=Never", "--webhook-configuration=ta-guard"}, `--failure-policy "Never"`},
		{[]string{"--cert-secret=ta-guard-webhook-tls"}, "want NAMESPACE/NAME"},
		{[]string{"--cert-secret=a/b/c"}, "want NAMESPACE/NAME"},
		{[]string{"--cert-secret=ns/s", "--webhook-configuration=ta-guard"}, "--cert-secret needs --cert-dns-names"},
		{[]string{"--cert-secret=ns/s", "--cert-dns-names=ta-guard.ns.svc"}, "--cert-secret needs --webhook-configuration"},
		{[]string{"--cert-secret=ns/s", "--cert-dns-names=x", "--webhook-configuration=w", "--cert-validity=1h", "--cert-renew-before=2h"}, "--cert-renew-before 2h0m0s"},
		{[]string{"--cert-secret=ns/s", "--cert-dns-names=x", "--webhook-configuration=w", "--cert-check-interval=0s"}, "--cert-check-interval 0s"},
		{[]string{"--cert-dns-names=x"}, "--cert-dns-names needs --cert-secret"},
	} {
		var stderr bytes.Buffer
		assert.Equal(t, 2, runServe(tc.args, &stderr), "%v", tc.args)
		assert.Contains(t, stderr.String(), tc.want, "%v", tc.args)
	}
}
