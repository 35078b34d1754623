package deploy

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/ta-guard/ta-guard/internal/audit"
	"github.com/ta-guard/ta-guard/internal/metrics"
	"github.com/ta-guard/ta-guard/internal/webhook"
	"github.com/ta-guard/ta-guard/test/testenv"
)

// renderWithComponents renders an overlay with components added, as the
// components' comments tell users to, from an overlay of their own.
func renderWithComponents(t *testing.T, overlay string, components ...string) []*unstructured.Unstructured {
	t.Helper()
	dir := t.TempDir()
	rel := func(p string) string {
		r, err := filepath.Rel(dir, filepath.Join(repoRoot, "config", "webhook", p))
		require.NoError(t, err)
		return r
	}
	k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- " + rel(overlay) + "\ncomponents:\n"
	for _, c := range components {
		k += "- " + rel(c) + "\n"
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o600))
	out, _ := kubectl(t, "", "kustomize", dir)
	return parseYAML(t, out)
}

// servedMetrics are the series ta-guard serves, by exposition name
// (histograms as _bucket, _sum, _count), with their label names: ta-guard's
// and the audit's collectors, and controller-runtime's webhook metrics after
// a real admission request through controller-runtime's webhook server.
func servedMetrics(t *testing.T) map[string][]string {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := metrics.New()
	require.NoError(t, m.Register(reg, func() map[string]bool { return map[string]bool{"Service": true} }))
	// A vector is gathered once it has a child.
	m.Findings.WithLabelValues("TA003", "deny", "Service").Inc()
	m.Unchecked.WithLabelValues("not_synced").Inc()
	m.SkippedObjects.WithLabelValues("Service").Inc()
	am := audit.NewMetrics()
	require.NoError(t, am.Register(reg))
	am.Findings.WithLabelValues("TA003", "deny").Set(1)

	ca := newCA(t)
	crt, key := ca.issue(t, 1)
	certs := newSecretVolume(t, crt, key)
	port := testenv.FreeLoopbackPort(t)
	srv := crwebhook.NewServer(crwebhook.Options{Host: "127.0.0.1", Port: port, CertDir: certs.dir})
	allow := &admission.Webhook{Handler: admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
		return admission.Allowed("")
	})}
	srv.Register(webhook.Path, allow)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = srv.Start(ctx) }()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	svc := &unstructured.Unstructured{}
	svc.SetAPIVersion("v1")
	svc.SetKind("Service")
	svc.SetNamespace("default")
	svc.SetName("s")
	waitUntil(t, 10*time.Second, "controller-runtime's webhook server answers", func() bool {
		_, err := review(admissionClient(ca), addr, svc)
		return err == nil
	})

	out := map[string][]string{}
	for _, g := range []prometheus.Gatherer{reg, crmetrics.Registry} {
		fams, err := g.Gather()
		require.NoError(t, err)
		for _, f := range fams {
			var names []string
			for _, l := range f.GetMetric()[0].GetLabel() {
				names = append(names, l.GetName())
			}
			switch f.GetType() {
			case dto.MetricType_HISTOGRAM:
				out[f.GetName()+"_bucket"] = append(names, "le")
				out[f.GetName()+"_sum"] = names
				out[f.GetName()+"_count"] = names
			default:
				out[f.GetName()] = names
			}
		}
	}
	return out
}

// targetLabels are what Prometheus adds to every series of a
// ServiceMonitor's target.
var targetLabels = []string{"job", "namespace", "pod", "instance", "service", "container", "endpoint"}

// checkExpr parses a PromQL expression and checks that every series it
// selects is one ta-guard serves, and that every label it matches or groups
// by is one of that series or of the target.
func checkExpr(t *testing.T, served map[string][]string, expr string) []string {
	t.Helper()
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	require.NoError(t, err, "%s", expr)
	var used, selected []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			require.NotEmpty(t, n.Name, "%s: a selector names its metric", expr)
			selected = append(selected, n.Name)
			for _, m := range n.LabelMatchers {
				if m.Name != "__name__" {
					used = append(used, m.Name)
				}
			}
		case *parser.AggregateExpr:
			used = append(used, n.Grouping...)
		}
		return nil
	})
	require.NotEmpty(t, selected, "%s selects no series", expr)
	for _, name := range selected {
		have, ok := served[name]
		if !assert.True(t, ok, "%s: ta-guard serves no %s", expr, name) {
			continue
		}
		for _, l := range used {
			if !contains(targetLabels, l) && !contains(have, l) {
				// A label may belong to another selector of the expression.
				found := false
				for _, other := range selected {
					found = found || contains(served[other], l)
				}
				assert.True(t, found, "%s: no series it selects has label %q", expr, l)
			}
		}
	}
	return selected
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestMonitoringComponent renders overlays/warn with components/monitoring:
// the ServiceMonitor scrapes the Service's metrics port over HTTPS verified
// with cert-manager's CA, Prometheus is bound to the metrics reader role,
// every alert and dashboard panel parses as PromQL and selects series and
// labels ta-guard serves, and every metric of ta-guard is on the dashboard.
func TestMonitoringComponent(t *testing.T) {
	base := render(t, "overlays/warn")
	objs := renderWithComponents(t, "overlays/warn", "components/monitoring")
	served := servedMetrics(t)
	svc := typed[corev1.Service](t, one(t, objs, "Service", ""))
	d := renderedDeployment(t, objs)

	t.Run("the component adds objects and changes none of the overlay", func(t *testing.T) {
		key := func(o *unstructured.Unstructured) string { return o.GetKind() + "/" + o.GetName() }
		byKey := map[string]*unstructured.Unstructured{}
		for _, o := range objs {
			byKey[key(o)] = o
		}
		for _, o := range base {
			assert.Equal(t, o.Object, byKey[key(o)].Object, key(o))
		}
		assert.Len(t, objs, len(base)+8, "ServiceMonitor, PrometheusRule, the dashboard ConfigMap, the scraper's ServiceAccount, its token Secret and ClusterRoleBinding, Prometheus's discovery Role and RoleBinding")
	})

	t.Run("service monitor", func(t *testing.T) {
		sm := typed[monitoringv1.ServiceMonitor](t, one(t, objs, "ServiceMonitor", ""))
		assert.Equal(t, svc.Namespace, sm.Namespace)
		sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
		require.NoError(t, err)
		assert.True(t, sel.Matches(labels.Set(svc.Labels)), "it selects the Service")
		require.Len(t, sm.Spec.Endpoints, 1)
		ep := sm.Spec.Endpoints[0]
		var port *corev1.ServicePort
		for i, p := range svc.Spec.Ports {
			if p.Name == ep.Port {
				port = &svc.Spec.Ports[i]
			}
		}
		require.NotNil(t, port, "the endpoint names a port of the Service")
		assert.Equal(t, "metrics", port.TargetPort.StrVal)
		assert.Equal(t, "https", strings.ToLower(string(*ep.Scheme)))
		assert.Equal(t, "/metrics", ep.Path)
		// The scrape authenticates with the token of a ServiceAccount of
		// ta-guard's own, from its token Secret, which the metrics reader
		// role is bound to: whatever the Prometheus's own account is called.
		//lint:ignore SA1019 checking that the deprecated field is not used
		assert.Empty(t, ep.BearerTokenFile, "not the deprecated file")
		require.NotNil(t, ep.Authorization)
		assert.Equal(t, "Bearer", ep.Authorization.Type)
		require.NotNil(t, ep.Authorization.Credentials)
		tokenSecret := typed[corev1.Secret](t, one(t, objs, "Secret", ep.Authorization.Credentials.Name))
		assert.Equal(t, corev1.SecretTypeServiceAccountToken, tokenSecret.Type)
		assert.Equal(t, "token", ep.Authorization.Credentials.Key, "the key the token controller writes")
		scraper := tokenSecret.Annotations[corev1.ServiceAccountNameKey]
		sa := typed[corev1.ServiceAccount](t, one(t, objs, "ServiceAccount", scraper))
		assert.Equal(t, sm.Namespace, sa.Namespace)
		assert.Equal(t, sm.Namespace, tokenSecret.Namespace, "the operator reads the Secret from the ServiceMonitor's namespace")
		b := typed[rbacv1.ClusterRoleBinding](t, one(t, objs, "ClusterRoleBinding", metricsReaderRole))
		assert.Contains(t, b.Subjects, rbacv1.Subject{Kind: "ServiceAccount", Name: scraper, Namespace: sa.Namespace}, "the scraper may get /metrics")
		tls := ep.TLSConfig
		require.NotNil(t, tls)
		assert.False(t, tls.InsecureSkipVerify != nil && *tls.InsecureSkipVerify, "the certificate is verified")
		require.NotNil(t, tls.CA.Secret)
		secret, _ := d.volumeMountedAt(t, d.args["cert-dir"])
		assert.Equal(t, secret.Secret.SecretName, tls.CA.Secret.Name, "the CA beside the serving certificate ta-guard serves metrics with")
		assert.Equal(t, "ca.crt", tls.CA.Secret.Key)
		var serving *unstructured.Unstructured
		for _, c := range ofKind(objs, "Certificate") {
			if n, _, _ := unstructured.NestedString(c.Object, "spec", "secretName"); n == secret.Secret.SecretName {
				serving = c
			}
		}
		require.NotNil(t, serving)
		dns, _, _ := unstructured.NestedStringSlice(serving.Object, "spec", "dnsNames")
		require.NotNil(t, tls.ServerName)
		assert.Contains(t, dns, *tls.ServerName, "the name the certificate is for")
	})

	t.Run("prometheus may read the metrics and nothing else", func(t *testing.T) {
		b := typed[rbacv1.ClusterRoleBinding](t, one(t, objs, "ClusterRoleBinding", metricsReaderRole))
		assert.Equal(t, rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: metricsReaderRole}, b.RoleRef)
		role := typed[rbacv1.ClusterRole](t, one(t, objs, "ClusterRole", metricsReaderRole))
		assert.Equal(t, []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}, role.Rules)
		for _, s := range b.Subjects {
			assert.NotEqual(t, serviceAccount, s.Name, "ta-guard does not read its own metrics")
		}
	})

	t.Run("kube-prometheus's Prometheus may discover the Service's endpoints", func(t *testing.T) {
		role := typed[rbacv1.Role](t, one(t, objs, "Role", "ta-guard-prometheus-discovery"))
		assert.Equal(t, svc.Namespace, role.Namespace)
		for _, want := range []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"services", "endpoints", "pods"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"get", "list", "watch"}},
		} {
			assert.Contains(t, role.Rules, want)
		}
		rb := typed[rbacv1.RoleBinding](t, one(t, objs, "RoleBinding", "ta-guard-prometheus-discovery"))
		assert.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: "prometheus-k8s", Namespace: "monitoring"}}, rb.Subjects)
	})

	t.Run("alerts", func(t *testing.T) {
		pr := typed[monitoringv1.PrometheusRule](t, one(t, objs, "PrometheusRule", ""))
		assert.Equal(t, svc.Namespace, pr.Namespace)
		alerts := map[string][]string{} // alert -> series it selects
		for _, g := range pr.Spec.Groups {
			for _, r := range g.Rules {
				require.NotEmpty(t, r.Alert, "alerting rules only")
				alerts[r.Alert] = checkExpr(t, served, r.Expr.String())
				assert.NotEmpty(t, r.Labels["severity"], r.Alert)
				assert.NotEmpty(t, r.Annotations["summary"], r.Alert)
				assert.Contains(t, r.Expr.String(), `job="`+svc.Name+`"`, "%s: ta-guard's series only (job is the Service's name)", r.Alert)
			}
		}
		for alert, series := range map[string]string{
			"TaGuardUncheckedRequests": "ta_guard_unchecked_requests_total",
			"TaGuardInformerNotSynced": "ta_guard_informer_synced",
			"TaGuardWebhookSlow":       "controller_runtime_webhook_latency_seconds_bucket",
			"TaGuardAuditNotRun":       "ta_guard_audit_last_run_timestamp_seconds",
			"TaGuardDenyFindings":      "ta_guard_findings_total",
		} {
			assert.Equal(t, []string{series}, alerts[alert], alert)
		}
		assert.Len(t, alerts, 5)
	})

	t.Run("dashboard", func(t *testing.T) {
		var cm *corev1.ConfigMap
		for _, o := range ofKind(objs, "ConfigMap") {
			if o.GetLabels()["grafana_dashboard"] == "1" {
				require.Nil(t, cm, "one dashboard ConfigMap")
				cm = typed[corev1.ConfigMap](t, o)
			}
		}
		require.NotNil(t, cm, "a ConfigMap labelled grafana_dashboard: \"1\" (the Grafana sidecar's label)")
		assert.Equal(t, svc.Namespace, cm.Namespace)
		require.Len(t, cm.Data, 1)
		var shown []string
		for file, data := range cm.Data {
			assert.True(t, strings.HasSuffix(file, ".json"), file)
			var dash struct {
				UID    string `json:"uid"`
				Title  string `json:"title"`
				Panels []struct {
					Title   string `json:"title"`
					Targets []struct {
						Expr string `json:"expr"`
					} `json:"targets"`
				} `json:"panels"`
			}
			require.NoError(t, json.Unmarshal([]byte(data), &dash), "valid JSON")
			assert.NotEmpty(t, dash.UID, "a fixed uid: an update replaces the dashboard")
			assert.NotEmpty(t, dash.Title)
			require.NotEmpty(t, dash.Panels)
			for _, p := range dash.Panels {
				require.NotEmpty(t, p.Targets, p.Title)
				for _, tg := range p.Targets {
					shown = append(shown, checkExpr(t, served, tg.Expr)...)
				}
			}
		}
		for name := range served {
			if strings.HasPrefix(name, "ta_guard_") {
				assert.Contains(t, shown, name, "the dashboard shows every metric of ta-guard")
			}
		}
		sort.Strings(shown)
		assert.Contains(t, shown, "controller_runtime_webhook_requests_total")
		assert.Contains(t, shown, "controller_runtime_webhook_latency_seconds_bucket")
	})
}
