package envtest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ta-guard/ta-guard/internal/server"
)

const kubeletSetup = `apiVersion: v1
kind: Service
metadata: {name: kubelet, namespace: kube-system, labels: {k8s-app: kubelet, app.kubernetes.io/name: kubelet}}
spec:
  clusterIP: None
  ports: [{name: https-metrics, port: 10250}, {name: cadvisor, port: 4194}]
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: kubelet, namespace: obs}
spec:
  namespaceSelector: {matchNames: [kube-system]}
  selector: {matchLabels: {k8s-app: kubelet}}
  endpoints:
  - port: https-metrics
    scheme: https
    bearerTokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token
    tlsConfig: {insecureSkipVerify: true}
  - port: https-metrics
    scheme: https
    path: /metrics/cadvisor
    bearerTokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token
    tlsConfig: {insecureSkipVerify: true}
---
apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: {name: metrics, namespace: obs}
spec:
  mode: statefulset
  targetAllocator:
    enabled: true
    prometheusCR: {enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}
  config:
    receivers: {prometheus: {config: {scrape_configs: []}}}
    exporters: {debug: {}}
    service: {pipelines: {metrics: {receivers: [prometheus], exporters: [debug]}}}
`

// TestKubeletScrapeRBAC: TA017 against a real API server's RBAC, through
// the webhook: the collector's own service account (metrics-collector, the
// operator's default) asked for get nodes/metrics, refused, then granted.
func TestKubeletScrapeRBAC(t *testing.T) {
	w := startWebhook(t, webhookSetup{CRDs: []string{"monitoring"}, Tune: func(o *server.Options) { o.AccessCacheTTL = time.Second }})
	ctx, k, srv := w.ctx, w.k, w.srv
	for _, ns := range []string{"obs", "kube-system"} {
		_ = k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	objs := objectsFromYAML(t, kubeletSetup)
	for _, o := range objs {
		_, err := k.apply(ctx, o)
		require.NoError(t, err, o.GetKind())
	}
	waitForStore(t, srv, objs, -1)
	collector := objs[2]
	const ta017 = "TA017 OpenTelemetryCollector obs/metrics: collector obs/metrics scrapes the kubelet (2 jobs of ServiceMonitor obs/kubelet) as service account metrics-collector, which may not get nodes/metrics: the kubelet answers 403"

	t.Run("the collector's service account may not get nodes/metrics", func(t *testing.T) {
		warnings, err := k.apply(ctx, collector)
		require.NoError(t, err)
		assert.Equal(t, []string{ta017}, secretWarnings(warnings, "TA017"))
	})

	t.Run("no TA017 once a ClusterRole grants it", func(t *testing.T) {
		require.NoError(t, k.Create(ctx, &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: "collector-kubelet"},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes/metrics"}, Verbs: []string{"get"}}},
		}))
		require.NoError(t, k.Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "collector-kubelet"},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "collector-kubelet"},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "metrics-collector", Namespace: "obs"}},
		}))
		// The authorizer and ta-guard's answer cache learn of the binding
		// a moment after the create.
		waitFor(t, "the grant to reach the authorizer", func() bool {
			warnings, err := k.apply(ctx, collector)
			require.NoError(t, err)
			return len(secretWarnings(warnings, "TA017")) == 0
		})
	})

	// The classic cadvisor job of a receiver, through the API server's
	// proxy: the API server asks for nodes/proxy, which the grant above
	// does not give.
	proxied := collector.DeepCopy()
	require.NoError(t, unstructured.SetNestedSlice(proxied.Object, []any{map[string]any{
		"job_name": "cadvisor", "scheme": "https",
		"bearer_token_file":     "/var/run/secrets/kubernetes.io/serviceaccount/token",
		"kubernetes_sd_configs": []any{map[string]any{"role": "node"}},
		"relabel_configs": []any{
			map[string]any{"target_label": "__address__", "replacement": "kubernetes.default.svc:443"},
			map[string]any{"source_labels": []any{"__meta_kubernetes_node_name"}, "regex": "(.+)", "target_label": "__metrics_path__", "replacement": "/api/v1/nodes/${1}/proxy/metrics/cadvisor"},
		},
	}}, "spec", "config", "receivers", "prometheus", "config", "scrape_configs"))

	t.Run("a job through the API server's proxy needs nodes/proxy", func(t *testing.T) {
		warnings, err := k.apply(ctx, proxied)
		require.NoError(t, err)
		assert.Equal(t, []string{"TA017 OpenTelemetryCollector obs/metrics: collector obs/metrics scrapes the kubelet (1 job of its scrape configs) as service account metrics-collector, which may not get nodes/proxy: the API server's proxy answers 403"},
			secretWarnings(warnings, "TA017"))
	})

	t.Run("no TA017 once nodes/proxy is granted", func(t *testing.T) {
		var role rbacv1.ClusterRole
		require.NoError(t, k.Get(ctx, client.ObjectKey{Name: "collector-kubelet"}, &role))
		role.Rules[0].Resources = append(role.Rules[0].Resources, "nodes/proxy")
		require.NoError(t, k.Update(ctx, &role))
		waitFor(t, "the grant to reach the authorizer", func() bool {
			warnings, err := k.apply(ctx, proxied)
			require.NoError(t, err)
			return len(secretWarnings(warnings, "TA017")) == 0
		})
	})
}
