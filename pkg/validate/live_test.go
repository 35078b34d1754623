package validate

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ta-guard/ta-guard/internal/model"
)

type fakeFacts struct {
	served   map[model.MonitorKind]bool
	accounts map[string]bool
	granted  map[string]bool // Permission.String() of what is granted
	err      error
	// readable: "<sa ns>/<sa> <secret ns>/<secret>" the account may get.
	readable map[string]bool
	// secrets: "<ns>/<name>" to its keys; looked at only with lookSecrets
	// (TA109 is opt-in).
	secrets     map[string][]string
	lookSecrets bool
	secretErr   error
}

func (f fakeFacts) MonitorKindServed(k model.MonitorKind) bool { return f.served[k] }
func (f fakeFacts) ServiceAccountExists(_ context.Context, ns, name string) (bool, error) {
	return f.accounts[ns+"/"+name], f.err
}
func (f fakeFacts) MissingPermissions(_ context.Context, _, _ string, perms []Permission) ([]Permission, error) {
	if f.err != nil {
		return nil, f.err
	}
	var out []Permission
	for _, p := range perms {
		if !f.granted[p.String()] {
			out = append(out, p)
		}
	}
	return out, nil
}

func (f fakeFacts) MayGetSecret(_ context.Context, ns, account, secretNS, secret string) (bool, error) {
	if f.secretErr != nil {
		return false, f.secretErr
	}
	return f.readable[ns+"/"+account+" "+secretNS+"/"+secret], nil
}
func (f fakeFacts) LookupSecret(_ context.Context, ns, name string) (SecretInfo, error) {
	if !f.lookSecrets {
		return SecretInfo{}, nil
	}
	if f.secretErr != nil {
		return SecretInfo{}, f.secretErr
	}
	keys, ok := f.secrets[ns+"/"+name]
	return SecretInfo{Checked: true, Exists: ok, Keys: keys}, nil
}

func grantAll(t *testing.T, a string) map[string]bool {
	s := store(t, a)
	m := map[string]bool{}
	for _, al := range s.Allocators() {
		for _, p := range RequiredPermissions(al) {
			m[p.String()] = true
		}
	}
	return m
}

func TestLiveRules(t *testing.T) {
	withSA := strings.Replace(collectorAll, "enabled: true\n    prometheusCR", "enabled: true\n    serviceAccount: ta-sa\n    prometheusCR", 1)
	both := map[model.MonitorKind]bool{model.ServiceMonitor: true, model.PodMonitor: true}
	slice := func(svc string, addrs int) string {
		eps := ""
		for i := 0; i < addrs; i++ {
			eps += "- addresses: [10.0.0.1]\n"
		}
		if eps == "" {
			eps = "[]\n"
		} else {
			eps = "\n" + eps
		}
		return "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\naddressType: IPv4\nmetadata: {name: " + svc + "-x, namespace: opentelemetry, labels: {kubernetes.io/service-name: " + svc + "}}\nendpoints: " + eps
	}
	tests := []struct {
		name      string
		obj       string
		world     []string
		facts     fakeFacts
		want      []string
		contains  string
		contains2 string
		wantErr   bool
	}{
		{name: "all granted", obj: collectorAll, facts: fakeFacts{served: both, granted: grantAll(t, collectorAll)}, want: []string{}},
		{
			name: "TA008 nothing granted, default account name", obj: collectorAll, facts: fakeFacts{served: both},
			want: []string{"TA008"}, contains: "service account otelcol-targetallocator lacks 28 permission(s) the TA needs, e.g. get servicemonitors.monitoring.coreos.com",
			// grouped per resource and scope in the fix
			contains2: "servicemonitors.monitoring.coreos.com (get, list, watch); podmonitors.monitoring.coreos.com (get, list, watch)",
		},
		{
			name: "TA009 monitoring CRDs absent", obj: collectorAll, facts: fakeFacts{served: map[model.MonitorKind]bool{}, granted: grantAll(t, collectorAll)},
			want: []string{"TA009"}, contains: "serves no ServiceMonitor / PodMonitor",
		},
		{
			name: "TA010 named account missing", obj: withSA, facts: fakeFacts{served: both, granted: grantAll(t, withSA)},
			want: []string{"TA010"}, contains: "serviceAccount ta-sa does not exist in namespace opentelemetry",
		},
		{
			name: "named account present", obj: withSA, facts: fakeFacts{served: both, accounts: map[string]bool{"opentelemetry/ta-sa": true}, granted: grantAll(t, withSA)},
			want: []string{},
		},
		{
			name: "a failing fact returns the other findings and the error", obj: strings.Replace(collectorAll, "podMonitorSelector: {}", "", 1),
			facts: fakeFacts{served: both, err: errors.New("boom")}, want: []string{"TA003"}, wantErr: true,
		},
		{
			name: "TA TA-off collectors need nothing", obj: strings.Replace(collectorAll, "    enabled: true\n    prometheusCR", "    prometheusCR", 1),
			facts: fakeFacts{}, want: []string{"TA001"},
		},
		{
			name: "TA106 Service without endpoints (audit by default)", obj: smOneEndpoint,
			world: []string{collectorAll, serviceProm, slice("py-prometheus-app", 0)}, facts: fakeFacts{served: both},
			want: []string{"TA106"}, contains: "the matched Services have no endpoints (opentelemetry/py-prometheus-app)",
		},
		{
			name: "no TA106 with an endpoint", obj: smOneEndpoint,
			world: []string{collectorAll, serviceProm, slice("py-prometheus-app", 1)}, facts: fakeFacts{served: both},
			want: []string{},
		},
		{
			name: "TA106 PodMonitor with only Failed pods", obj: `apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: pm, namespace: opentelemetry}
spec: {selector: {matchLabels: {app: my-app}}, podMetricsEndpoints: [{port: http}]}
`,
			world: []string{collectorAll, `apiVersion: v1
kind: Pod
metadata: {name: p, namespace: opentelemetry, labels: {app: my-app}}
spec: {containers: [{name: c, image: i, ports: [{name: http, containerPort: 80}]}]}
status: {phase: Failed}
`}, facts: fakeFacts{served: both},
			want: []string{"TA106"}, contains: "all 1 matched Pods are Failed or Succeeded",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := store(t, tt.world...)
			req := Request{Operation: Create, Object: object(t, tt.obj)}
			res, err := Evaluate(context.Background(), req, s, Options{Facts: tt.facts})
			fs := res.Findings
			if tt.wantErr {
				require.Error(t, err)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.want, ids(fs), messages(fs))
			if tt.contains != "" {
				assert.Contains(t, messages(fs), tt.contains)
			}
			if tt.contains2 != "" {
				assert.Contains(t, messages(fs), tt.contains2)
			}
		})
	}
}
