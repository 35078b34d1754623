package validate

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

// scrapeConfig is a ScrapeConfig in namespace apps with the given labels and
// spec body.
func scrapeConfig(labels, spec string) string {
	return `apiVersion: monitoring.coreos.com/v1alpha1
kind: ScrapeConfig
metadata: {name: ext, namespace: apps, labels: ` + labels + `}
spec: ` + spec + `
`
}

const probe = `apiVersion: monitoring.coreos.com/v1
kind: Probe
metadata: {name: uptime, namespace: apps, labels: {team: a}}
spec:
  prober: {url: blackbox.apps:9115}
  targets:
    staticConfig: {static: [https://example.com]}
`

// ScrapeConfigs and Probes: the TA's scrapeConfigSelector / probeSelector
// and their namespace selectors, with the v1beta1 rule that nil reads none.
func TestScrapeConfigsAndProbes(t *testing.T) {
	static := "{staticConfigs: [{targets: ['10.0.0.1:9100']}]}"
	tests := []struct {
		name  string
		c     change
		want  []string
		check func(t *testing.T, fs []rules.Finding)
	}{
		{
			name: "read by a TA whose scrapeConfigSelector is {}: no finding",
			c: change{new: scrapeConfig("{team: a}", static), world: []string{
				ta("c", "{enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}, scrapeConfigSelector: {}}")}},
			want: []string{},
		},
		{
			name: "TA101 when the TA's scrapeConfigSelector is nil, naming the field",
			c: change{new: scrapeConfig("{team: a}", static), world: []string{
				ta("c", "{enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}")}},
			want: []string{"TA101"},
			check: func(t *testing.T, fs []rules.Finding) {
				assert.Contains(t, fs[0].What, "scrapeConfigSelector is unset")
			},
		},
		{
			name: "TA101 when the labels miss the selector",
			c: change{new: scrapeConfig("{team: a}", static), world: []string{
				ta("c", "{enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}, scrapeConfigSelector: {matchLabels: {scrape: otel}}}")}},
			want: []string{"TA101"},
			check: func(t *testing.T, fs []rules.Finding) {
				assert.Contains(t, fs[0].What, "needs scrape=otel")
			},
		},
		{
			name: "a Prometheus reads it: not the TA's, no finding",
			c: change{new: scrapeConfig("{team: a}", static), world: []string{
				ta("c", "{enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}"),
				`apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: k8s, namespace: apps}
spec: {scrapeConfigSelector: {}}
`}},
			want: []string{},
		},
		{
			name: "TA105 for a namespace its Kubernetes service discovery names that does not exist",
			c: change{new: scrapeConfig("{team: a}", "{kubernetesSDConfigs: [{role: Pod, namespaces: {names: [apps, gone]}}]}"), world: []string{
				ta("c", "{enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}, scrapeConfigSelector: {}}"),
				"apiVersion: v1\nkind: Namespace\nmetadata: {name: gone-not}\n"}},
			want: []string{"TA105"},
			check: func(t *testing.T, fs []rules.Finding) {
				assert.Equal(t, "spec.kubernetesSDConfigs[0].namespaces.names", fs[0].Field.String())
				assert.Contains(t, fs[0].What, "gone")
			},
		},
		{
			name: "a Probe read by probeSelector {}: no finding",
			c: change{new: probe, world: []string{
				ta("c", "{enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}, probeSelector: {}}")}},
			want: []string{},
		},
		{
			name: "a Probe no TA reads: TA101",
			c: change{new: probe, world: []string{
				ta("c", "{enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}")}},
			want: []string{"TA101"},
		},
		{
			name: "collector with nil scrapeConfigSelector and no ScrapeConfig anywhere: no TA003 (the default)",
			c:    change{new: ta("c", "{enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}")},
			want: []string{},
		},
		{
			name: "collector with nil scrapeConfigSelector while a ScrapeConfig no reader reads exists: TA003",
			c: change{new: ta("c", "{enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}"),
				world: []string{scrapeConfig("{team: a}", static)}},
			want: []string{"TA003"},
			check: func(t *testing.T, fs []rules.Finding) {
				assert.Equal(t, "spec.targetAllocator.prometheusCR.scrapeConfigSelector", fs[0].Field.String())
				assert.False(t, fs[0].AtRisk)
			},
		},
		{
			name: "collector with nil probeSelector while a Prometheus reads the Probes: no TA003",
			c: change{new: ta("c", "{enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}"),
				world: []string{probe, `apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: k8s, namespace: apps}
spec: {probeSelector: {}}
`}},
			want: []string{},
		},
		{
			name: "TA011: the selector change orphans the ScrapeConfig it read",
			c: change{op: Update,
				old:   ta("c", "{enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}, scrapeConfigSelector: {}}"),
				new:   ta("c", "{enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}, scrapeConfigSelector: {matchLabels: {scrape: otel}}}"),
				world: []string{scrapeConfig("{team: a}", static)}},
			want: []string{"TA011"},
			check: func(t *testing.T, fs []rules.Finding) {
				assert.Contains(t, fs[0].What, "ScrapeConfig apps/ext")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := tt.c.run(t)
			assert.Equal(t, tt.want, ids(fs), messages(fs))
			if tt.check != nil && len(fs) > 0 {
				tt.check(t, fs)
			}
		})
	}
}

// A TA that selects ScrapeConfigs or Probes needs to list and watch them:
// TA008 asks for that, and only then.
func TestRequiredPermissionsForOwnTargets(t *testing.T) {
	has := func(doc, resource string) bool {
		a := object(t, doc).(*model.Allocator)
		for _, p := range RequiredPermissions(a) {
			if p.Resource == resource && p.Verb == "watch" {
				return true
			}
		}
		return false
	}
	plain := ta("c", "{enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}")
	both := ta("c", "{enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}, scrapeConfigSelector: {}, probeSelector: {matchLabels: {a: b}}}")
	assert.False(t, has(plain, "scrapeconfigs"))
	assert.False(t, has(plain, "probes"))
	assert.True(t, has(both, "scrapeconfigs"))
	assert.True(t, has(both, "probes"))
	assert.True(t, has(plain, "servicemonitors"))
}

// A ScrapeConfig's Kubernetes service discovery for Services or Pods by
// labels: TA102 when nothing in the named namespaces has them.
func TestScrapeConfigServiceDiscovery(t *testing.T) {
	reader := ta("c", "{enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}, scrapeConfigSelector: {}}")
	sd := func(role, sel, names string) string {
		return scrapeConfig("{team: a}", "{kubernetesSDConfigs: [{role: "+role+", namespaces: {names: ["+names+"]}, selectors: [{role: "+role+", label: '"+sel+"'}]}]}")
	}
	tests := []struct {
		name  string
		c     change
		want  []string
		field string
	}{
		{name: "role Service finds the Service", c: change{new: sd("Service", "app=web", "apps"), world: []string{reader, nsApps, webService}}, want: []string{}},
		{name: "role Service, labels nothing has", c: change{new: sd("Service", "app=shop", "apps"), world: []string{reader, nsApps, webService}},
			want: []string{"TA102 scrapeConfig/apps/ext"}, field: "spec.kubernetesSDConfigs[0].selectors[0].label"},
		{name: "role Pod finds the Pods of a Deployment", c: change{new: sd("Pod", "app=web", "apps"), world: []string{reader, nsApps, webPods}}, want: []string{}},
		{name: "role Pod, set-based selector nothing matches", c: change{new: sd("Pod", "app in (api,db)", "apps"), world: []string{reader, nsApps, webPods}},
			want: []string{"TA102 scrapeConfig/apps/ext"}},
		{name: "role Node: not checked", c: change{new: sd("Node", "kubernetes.io/os=linux", "apps"), world: []string{reader, nsApps}}, want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := tt.c.run(t)
			assert.Equal(t, tt.want, ids(fs), messages(fs))
			if tt.field != "" && len(fs) == 1 {
				assert.Equal(t, tt.field, fs[0].Field.String())
			}
		})
	}
}

// A collector whose prometheus receiver is pointed by hand at a TA Service:
// TA012 when that Service does not exist where the input describes it.
func TestManualTargetAllocatorEndpoint(t *testing.T) {
	collector := func(endpoint string) string {
		return `apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: {name: agent, namespace: obs}
spec:
  mode: statefulset
  config:
    receivers:
      prometheus:
        config: {scrape_configs: []}
        target_allocator: {endpoint: "` + endpoint + `", interval: 30s, collector_id: "${POD_NAME}"}
    service: {pipelines: {metrics: {receivers: [prometheus]}}}
`
	}
	taService := "apiVersion: v1\nkind: Service\nmetadata: {name: shared-targetallocator, namespace: obs}\nspec: {ports: [{name: http, port: 80}]}\n"
	other := "apiVersion: v1\nkind: Namespace\nmetadata: {name: infra}\n"
	tests := []struct {
		name string
		c    change
		want []string
	}{
		{name: "the Service exists", c: change{new: collector("http://shared-targetallocator:80"), world: []string{taService}}, want: []string{}},
		{name: "the Service does not exist", c: change{new: collector("http://shared-targetallocator:80"), world: []string{"apiVersion: v1\nkind: Namespace\nmetadata: {name: obs}\n"}}, want: []string{"TA012"}},
		{name: "svc.ns form, namespace described, Service missing", c: change{new: collector("http://ta.infra.svc.cluster.local:80"), world: []string{other}}, want: []string{"TA012"}},
		{name: "svc.ns form, a namespace the (whole) cluster does not have", c: change{new: collector("http://ta.elsewhere:80")}, want: []string{"TA012"}},
		{name: "an IP is not judged", c: change{new: collector("http://10.0.0.5:80")}, want: []string{}},
		{name: "a template is not judged", c: change{new: collector("http://${TA_HOST}:80")}, want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := tt.c.run(t)
			assert.Equal(t, tt.want, ids(fs), messages(fs))
		})
	}
}
