package validate

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ta-guard/ta-guard/pkg/rules"
)

// TA111: relabelings that drop the targets of every matched object, run
// with Prometheus's model/relabel over the labels ta-guard knows.
func TestRelabelingsDropEveryTarget(t *testing.T) {
	const ta = "apiVersion: opentelemetry.io/v1alpha1\nkind: TargetAllocator\nmetadata: {name: ta, namespace: obs}\nspec:\n  prometheusCR: {enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}\n"
	svc := func(name, labels string) string {
		return "apiVersion: v1\nkind: Service\nmetadata: {name: " + name + ", namespace: app, labels: {team: shop, " + labels + "}}\nspec: {selector: {app: x}, ports: [{name: metrics, port: 9090}]}\n"
	}
	sm := func(extra, relabelings string) string {
		return "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: sm, namespace: app}\nspec:\n  selector: {matchLabels: {team: shop}}\n" + extra + "  endpoints:\n  - port: metrics\n    relabelings:\n" + relabelings
	}
	pod := "apiVersion: v1\nkind: Pod\nmetadata: {name: web-0, namespace: app, labels: {app: web, tier: front}}\nspec: {containers: [{name: c, image: i, ports: [{name: metrics, containerPort: 9090}]}]}\n"
	pm := func(relabelings string) string {
		return "apiVersion: monitoring.coreos.com/v1\nkind: PodMonitor\nmetadata: {name: pm, namespace: app}\nspec:\n  selector: {matchLabels: {app: web}}\n  podMetricsEndpoints:\n  - port: metrics\n    relabelings:\n" + relabelings
	}
	keep := func(label, regex string) string {
		return "    - {action: keep, sourceLabels: [" + label + "], regex: \"" + regex + "\"}\n"
	}
	tests := []struct {
		name     string
		obj      string
		world    []string
		want     []string
		contains string
	}{
		{name: "keep on a Service label no matched Service has", obj: sm("", keep("__meta_kubernetes_service_label_app", "web")), world: []string{ta, svc("api", "app: api")},
			want:     []string{"TA111 serviceMonitor/app/sm/0"},
			contains: `its relabelings drop every target of the job: relabelings[0] (action keep on __meta_kubernetes_service_label_app, regex "web") drops Service app/api`},
		{name: "keep that the Service satisfies", obj: sm("", keep("__meta_kubernetes_service_label_app", "web")), world: []string{ta, svc("web", "app: web")}, want: []string{}},
		{name: "one of two Services kept", obj: sm("", keep("__meta_kubernetes_service_label_app", "web")), world: []string{ta, svc("api", "app: api"), svc("web", "app: web")}, want: []string{}},
		{name: "a Pod label is unknown for a Service's targets", obj: sm("", keep("__meta_kubernetes_pod_label_app", "nothing")), world: []string{ta, svc("api", "app: api")}, want: []string{}},
		{name: "an annotation is unknown", obj: sm("", keep("__meta_kubernetes_service_annotation_prometheus_io_scrape", "true")), world: []string{ta, svc("api", "app: api")}, want: []string{}},
		{name: "drop on the namespace", obj: sm("", "    - {action: drop, sourceLabels: [namespace], regex: app}\n"), world: []string{ta, svc("api", "app: api")}, want: []string{"TA111 serviceMonitor/app/sm/0"}},
		{name: "a replace, then a keep on what it wrote", obj: sm("", "    - {sourceLabels: [__meta_kubernetes_service_label_tier], targetLabel: tier}\n"+keep("tier", "frontend")),
			world: []string{ta, svc("api", "tier: backend")}, want: []string{"TA111 serviceMonitor/app/sm/0"}, contains: "relabelings[1] (action keep on tier"},
		{name: "labelmap rewrites names: not judged after it", obj: sm("", "    - {action: labelmap, regex: __meta_kubernetes_service_label_(.+)}\n"+keep("tier", "frontend")), world: []string{ta, svc("api", "tier: backend")}, want: []string{}},
		{name: "label names as discovery sanitizes them", obj: sm("", keep("__meta_kubernetes_service_label_app_kubernetes_io_name", "grafana")), world: []string{ta, svc("api", "app.kubernetes.io/name: loki")}, want: []string{"TA111 serviceMonitor/app/sm/0"}},
		{name: "sanitized name satisfied", obj: sm("", keep("__meta_kubernetes_service_label_app_kubernetes_io_name", "loki")), world: []string{ta, svc("api", "app.kubernetes.io/name: loki")}, want: []string{}},
		{name: "an absent label is empty: keep (.+) drops", obj: sm("", keep("__meta_kubernetes_service_label_release", ".+")), world: []string{ta, svc("api", "app: api")}, want: []string{"TA111 serviceMonitor/app/sm/0"}},
		{name: "job from jobLabel", obj: sm("  jobLabel: app\n", keep("job", "api")), world: []string{ta, svc("api-svc", "app: api")}, want: []string{}},
		{name: "job is the Service name without jobLabel", obj: sm("", keep("job", "api")), world: []string{ta, svc("api-svc", "app: api")}, want: []string{"TA111 serviceMonitor/app/sm/0"}},
		{name: "keepequal on two known labels", obj: sm("", "    - {action: keepequal, sourceLabels: [service], targetLabel: job}\n"), world: []string{ta, svc("api", "app: api")}, want: []string{}},
		{name: "read by no TA", obj: sm("", keep("__meta_kubernetes_service_label_app", "web")), world: []string{svc("api", "app: api")}, want: []string{}},
		{name: "a TA with scrape classes", obj: sm("", keep("__meta_kubernetes_service_label_app", "web")),
			world: []string{strings.Replace(ta, "podMonitorSelector: {}}", "podMonitorSelector: {}, scrapeClasses: [{name: default, default: true}]}", 1), svc("api", "app: api")}, want: []string{}},
		{name: "PodMonitor keep on a Pod label", obj: pm(keep("__meta_kubernetes_pod_label_tier", "back")), world: []string{ta, pod}, want: []string{"TA111 podMonitor/app/pm/0"}, contains: "drops Pod app/web-0"},
		{name: "PodMonitor keep satisfied", obj: pm(keep("__meta_kubernetes_pod_label_tier", "front")), world: []string{ta, pod}, want: []string{}},
		{name: "PodMonitor keep on the pod's node: unknown", obj: pm(keep("__meta_kubernetes_pod_node_name", "none")), world: []string{ta, pod}, want: []string{}},
		{name: "a replace only: nothing can drop", obj: sm("", "    - {sourceLabels: [__meta_kubernetes_pod_node_name], targetLabel: node}\n"), world: []string{ta, svc("api", "app: api")}, want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := only(offline(t, Request{Operation: Create, Object: object(t, tt.obj)}, store(t, tt.world...), nil), rules.TA111)
			assert.Equal(t, tt.want, ids(fs), messages(fs))
			if tt.contains != "" {
				assert.Contains(t, messages(fs), tt.contains)
			}
		})
	}
}
