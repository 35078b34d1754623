package check

import (
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const worldTA = `apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: {name: otel, namespace: obs}
spec:
  mode: statefulset
  targetAllocator: {enabled: true, prometheusCR: {enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}}
  config:
    receivers: {prometheus: {config: {scrape_configs: []}}}
    service: {pipelines: {metrics: {receivers: [prometheus]}}}
`

func sm(ns, name, nsSel, sel, port string) string {
	return `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: ` + name + `, namespace: ` + ns + `}
spec:
  namespaceSelector: ` + nsSel + `
  selector: ` + sel + `
  endpoints: [{port: ` + port + `}]
`
}

// TestWorldOfManifests: what every cluster has and what the operator
// generates exist offline; a namespace the input does not describe is
// unknown, so the rules that need its contents stay silent there, and fire
// where the input does describe it.
func TestWorldOfManifests(t *testing.T) {
	tests := []struct {
		name string
		docs []string
		want []string
	}{
		{"the API server's ServiceMonitor finds default/kubernetes",
			[]string{worldTA, sm("obs", "apiserver", "{matchNames: [default]}", "{matchLabels: {component: apiserver, provider: kubernetes}}", "https")}, nil},
		{"a wrong port on default/kubernetes, once the input describes default",
			[]string{worldTA, "apiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n", sm("obs", "apiserver", "{matchNames: [default]}", "{matchLabels: {component: apiserver}}", "http")}, []string{"TA103"}},
		{"a wrong port on default/kubernetes while default is not described: unknown",
			[]string{worldTA, sm("obs", "apiserver", "{matchNames: [default]}", "{matchLabels: {component: apiserver}}", "http")}, nil},
		{"kube-system exists but its contents are unknown",
			[]string{worldTA, sm("obs", "coredns", "{matchNames: [kube-system]}", "{matchLabels: {k8s-app: kube-dns}}", "metrics")}, nil},
		{"a namespace nobody describes: no TA105, TA102 or TA103",
			[]string{worldTA, sm("obs", "argo", "{matchNames: [argocd]}", "{matchLabels: {app: argocd}}", "metrics")}, nil},
		{"namespaceSelector any: other namespaces are unknown",
			[]string{worldTA, sm("obs", "mesh", "{any: true}", "{matchLabels: {app: istiod}}", "http-monitoring")}, nil},
		{"a described namespace without a match: TA102",
			[]string{worldTA, sm("obs", "typo", "{}", "{matchLabels: {app: nope}}", "metrics")}, []string{"TA102"}},
		{"a namespace the input shows only a monitor of: its Services are unknown",
			[]string{worldTA, sm("shop", "web", "{}", "{matchLabels: {app: web}}", "metrics")}, nil},
		{"the same namespace with a Service of it in the input: TA102",
			[]string{worldTA, sm("shop", "web", "{}", "{matchLabels: {app: web}}", "metrics"), "apiVersion: v1\nkind: Service\nmetadata: {name: cart, namespace: shop, labels: {app: cart}}\nspec: {ports: [{name: metrics, port: 80}]}\n"}, []string{"TA102"}},
		{"the collector's own metrics through the generated monitoring Service",
			[]string{worldTA, sm("obs", "self", "{}", "{matchLabels: {app.kubernetes.io/name: otel-collector-monitoring, app.kubernetes.io/managed-by: opentelemetry-operator}}", "monitoring")}, nil},
		{"a port missing from the generated monitoring Service",
			[]string{worldTA, sm("obs", "self", "{}", "{matchLabels: {operator.opentelemetry.io/collector-monitoring-service: Exists}}", "metrics")}, []string{"TA103"}},
		{"the generated base Service's ports come from receivers: unknown",
			[]string{worldTA, sm("obs", "base", "{}", "{matchLabels: {operator.opentelemetry.io/collector-service-type: base}}", "prometheus")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var all string
			for _, d := range tt.docs {
				all += "---\n" + d
			}
			res, err := Evaluate(read(t, "w.yaml", all), nil)
			require.NoError(t, err)
			got := []string{}
			for _, f := range res.Findings {
				got = append(got, string(f.Rule))
			}
			sort.Strings(got)
			want := tt.want
			if want == nil {
				want = []string{}
			}
			assert.Equal(t, want, got, "%v", res.Findings)
		})
	}
}

func TestUndescribedNamespaces(t *testing.T) {
	res, err := Evaluate(read(t, "w.yaml", worldTA+"---\n"+sm("obs", "argo", "{matchNames: [argocd, obs]}", "{}", "m")+"---\n"+sm("obs", "mesh", "{any: true}", "{}", "m")), nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"*", "argocd"}, res.Undescribed)
}
