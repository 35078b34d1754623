package envtest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/ta-guard/ta-guard/test/sandbox"
)

// apiServerIdentity gives the API server of env a client certificate for
// calling webhooks (sandbox.WriteIdentity) and returns the file of the CA
// that issued it, for ta-guard's --client-ca-file. Only then does ta-guard
// believe the userInfo of a review.
func apiServerIdentity(t *testing.T, env *envtest.Environment) string {
	t.Helper()
	id, err := sandbox.WriteIdentity(t.TempDir(), time.Hour)
	require.NoError(t, err)
	env.ControlPlane.GetAPIServer().Configure().Append("admission-control-config-file", id.AdmissionConfigFile)
	return id.ClientCAFile
}
