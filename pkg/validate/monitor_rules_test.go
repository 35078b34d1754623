package validate

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// ta builds a v1beta1 collector in namespace obs with the given prometheusCR body.
func ta(name, prometheusCR string) string {
	return `apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: {name: ` + name + `, namespace: obs}
spec:
  mode: statefulset
  targetAllocator:
    enabled: true
    prometheusCR: ` + prometheusCR + `
  config:
    receivers: {prometheus: {config: {scrape_configs: []}}}
    service: {pipelines: {metrics: {receivers: [prometheus]}}}
`
}

// sm builds a ServiceMonitor in namespace apps selecting app=web with one endpoint.
func sm(labels, extraSpec, endpoint string) string {
	return `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: web, namespace: apps, labels: ` + labels + `}
spec:
  selector: {matchLabels: {app: web}}
` + extraSpec + `  endpoints: [` + endpoint + `]
`
}

const (
	webService = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: apps, labels: {app: web}}
spec:
  selector: {app: web}
  ports: [{name: metrics, port: 9090}, {port: 8080}]
`
	webPods = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: apps}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: c, image: i, ports: [{name: http-metrics, containerPort: 9090}, {containerPort: 8080}]}]
`
	nsApps = "apiVersion: v1\nkind: Namespace\nmetadata: {name: apps, labels: {team: a}}\n"
)

func TestMonitorNotSelected(t *testing.T) {
	all := ta("all", "{enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}")
	tests := []struct {
		name     string
		obj      string
		world    []string
		want     []string
		contains string
	}{
		{name: "read by a {} selector", obj: sm("{}", "", "{port: metrics}"), world: []string{all, webService}, want: []string{}},
		{
			name: "TA101 labels miss matchLabels", obj: sm("{}", "", "{port: metrics}"),
			world: []string{ta("t", "{enabled: true, serviceMonitorSelector: {matchLabels: {team: a}}, podMonitorSelector: {}}"), webService},
			want:  []string{"TA101"}, contains: "closest OpenTelemetryCollector obs/t: does not match serviceMonitorSelector (needs team=a)",
		},
		{
			name: "TA101 nil selector under v1beta1 reads nothing", obj: sm("{team: a}", "", "{port: metrics}"),
			world: []string{ta("t", "{enabled: true, podMonitorSelector: {}}"), webService},
			want:  []string{"TA101"}, contains: "serviceMonitorSelector is unset (selects no ServiceMonitor)",
		},
		{
			name: "no active TA at all: nothing to be blind to", obj: sm("{}", "", "{port: metrics}"),
			world: []string{ta("t", "{enabled: false, serviceMonitorSelector: {matchLabels: {x: z}}}"), webService},
			want:  []string{},
		},
		{name: "matchExpressions In matches", obj: sm("{env: prod}", "", "{port: metrics}"),
			world: []string{ta("t", "{enabled: true, serviceMonitorSelector: {matchExpressions: [{key: env, operator: In, values: [prod, stage]}]}}"), webService},
			want:  []string{}},
		{name: "matchExpressions In misses", obj: sm("{env: dev}", "", "{port: metrics}"),
			world: []string{ta("t", "{enabled: true, serviceMonitorSelector: {matchExpressions: [{key: env, operator: In, values: [prod, stage]}]}}"), webService},
			want:  []string{"TA101"}, contains: "(needs env in (prod,stage))"},
		{name: "matchExpressions NotIn excludes", obj: sm("{env: dev}", "", "{port: metrics}"),
			world: []string{ta("t", "{enabled: true, serviceMonitorSelector: {matchExpressions: [{key: env, operator: NotIn, values: [dev]}]}}"), webService},
			want:  []string{"TA101"}},
		{name: "matchExpressions NotIn admits a missing key", obj: sm("{}", "", "{port: metrics}"),
			world: []string{ta("t", "{enabled: true, serviceMonitorSelector: {matchExpressions: [{key: env, operator: NotIn, values: [dev]}]}}"), webService},
			want:  []string{}},
		{name: "matchExpressions Exists", obj: sm("{scrape: anything}", "", "{port: metrics}"),
			world: []string{ta("t", "{enabled: true, serviceMonitorSelector: {matchExpressions: [{key: scrape, operator: Exists}]}}"), webService},
			want:  []string{}},
		{name: "matchExpressions DoesNotExist", obj: sm("{legacy: x}", "", "{port: metrics}"),
			world: []string{ta("t", "{enabled: true, serviceMonitorSelector: {matchExpressions: [{key: legacy, operator: DoesNotExist}]}}"), webService},
			want:  []string{"TA101"}, contains: "(needs !legacy)"},
		{name: "matchLabels and matchExpressions are ANDed", obj: sm("{team: a}", "", "{port: metrics}"),
			world: []string{ta("t", "{enabled: true, serviceMonitorSelector: {matchLabels: {team: a}, matchExpressions: [{key: env, operator: Exists}]}}"), webService},
			want:  []string{"TA101"}, contains: "(needs env)"},
		{
			name: "namespace selector matches the namespace's labels", obj: sm("{}", "", "{port: metrics}"),
			world: []string{ta("t", "{enabled: true, serviceMonitorSelector: {}, serviceMonitorNamespaceSelector: {matchLabels: {team: a}}}"), webService, nsApps},
			want:  []string{},
		},
		{
			name: "TA101 namespace selector misses", obj: sm("{}", "", "{port: metrics}"),
			world: []string{ta("t", "{enabled: true, serviceMonitorSelector: {}, serviceMonitorNamespaceSelector: {matchLabels: {team: b}}}"), webService, nsApps},
			want:  []string{"TA101"}, contains: "namespace apps does not match serviceMonitorNamespaceSelector team=b",
		},
		{
			// Offline, a namespace no manifest declares has no labels.
			name: "no TA101 when only the labels of a namespace nobody described keep it out", obj: sm("{}", "", "{port: metrics}"),
			world: []string{ta("t", "{enabled: true, serviceMonitorSelector: {}, serviceMonitorNamespaceSelector: {matchLabels: {team: a}}}"), webService},
			want:  []string{},
		},
		{
			name: "TA101 when a Namespace manifest gives labels that miss the namespace selector", obj: sm("{}", "", "{port: metrics}"),
			world: []string{ta("t", "{enabled: true, serviceMonitorSelector: {}, serviceMonitorNamespaceSelector: {matchLabels: {team: b}}}"), webService, nsApps},
			want:  []string{"TA101"}, contains: "namespace apps does not match serviceMonitorNamespaceSelector team=b",
		},
		{
			name: "the API server's metadata.name label is on declared namespaces", obj: sm("{}", "", "{port: metrics}"),
			world: []string{ta("t", "{enabled: true, serviceMonitorSelector: {}, serviceMonitorNamespaceSelector: {matchLabels: {kubernetes.io/metadata.name: apps}}}"), webService, nsApps},
			want:  []string{},
		},
		{
			name: "TA101 denyNamespaces", obj: sm("{}", "", "{port: metrics}"),
			world: []string{ta("t", "{enabled: true, serviceMonitorSelector: {}, denyNamespaces: [apps]}"), webService},
			want:  []string{"TA101"}, contains: "namespace apps is in denyNamespaces",
		},
		{
			name: "TA101 allowNamespaces without it", obj: sm("{}", "", "{port: metrics}"),
			world: []string{ta("t", "{enabled: true, serviceMonitorSelector: {}, allowNamespaces: [other]}"), webService},
			want:  []string{"TA101"}, contains: "namespace apps is not in allowNamespaces (other)",
		},
		{
			name: "allowNamespaces with it", obj: sm("{}", "", "{port: metrics}"),
			world: []string{ta("t", "{enabled: true, serviceMonitorSelector: {}, allowNamespaces: [apps]}"), webService},
			want:  []string{},
		},
		{
			name: "v1alpha1 map: all pairs must be on the monitor", obj: sm("{team: a}", "", "{port: metrics}"),
			world: []string{`apiVersion: opentelemetry.io/v1alpha1
kind: OpenTelemetryCollector
metadata: {name: old, namespace: obs}
spec:
  mode: statefulset
  targetAllocator: {enabled: true, prometheusCR: {enabled: true, serviceMonitorSelector: {team: a, env: prod}}}
`, webService},
			want: []string{"TA101"}, contains: "(needs env=prod)",
		},
		{
			name: "a Prometheus selecting it counts as a reader", obj: sm("{}", "", "{port: metrics}"),
			world: []string{ta("t", "{enabled: true, serviceMonitorSelector: {matchLabels: {team: a}}}"), webService, `apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: p, namespace: monitoring}
spec: {serviceMonitorSelector: {}, serviceMonitorNamespaceSelector: {}}
`},
			want: []string{},
		},
		{
			name: "a Prometheus with no namespace selector reads only its own namespace", obj: sm("{}", "", "{port: metrics}"),
			world: []string{ta("t", "{enabled: true, serviceMonitorSelector: {matchLabels: {team: a}}}"), webService, `apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: p, namespace: monitoring}
spec: {serviceMonitorSelector: {}}
`},
			want: []string{"TA101"},
		},
		{
			name: "a PrometheusAgent in the monitor's namespace with nil namespace selector", obj: sm("{}", "", "{port: metrics}"),
			world: []string{ta("t", "{enabled: true, serviceMonitorSelector: {matchLabels: {team: a}}}"), webService, `apiVersion: monitoring.coreos.com/v1alpha1
kind: PrometheusAgent
metadata: {name: p, namespace: apps}
spec: {serviceMonitorSelector: {}}
`},
			want: []string{},
		},
		{
			name: "a Prometheus with a nil monitor selector reads none", obj: sm("{}", "", "{port: metrics}"),
			world: []string{ta("t", "{enabled: true, serviceMonitorSelector: {matchLabels: {team: a}}}"), webService, `apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: p, namespace: apps}
spec: {serviceMonitorNamespaceSelector: {}}
`},
			want: []string{"TA101"},
		},
		{
			name: "closest TA: fewest reasons", obj: sm("{team: a}", "", "{port: metrics}"),
			world: []string{
				ta("far", "{enabled: true, serviceMonitorSelector: {matchLabels: {team: b, env: x}}}"),
				ta("near", "{enabled: true, serviceMonitorSelector: {matchLabels: {team: a, env: x}}}"),
				webService},
			want: []string{"TA101"}, contains: "closest OpenTelemetryCollector obs/near: does not match serviceMonitorSelector (needs env=x)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := change{op: Create, new: tt.obj, world: tt.world}.run(t)
			assert.Equal(t, tt.want, ids(fs), messages(fs))
			if tt.contains != "" {
				assert.Contains(t, messages(fs), tt.contains)
			}
		})
	}
}

func TestMonitorTargets(t *testing.T) {
	all := ta("all", "{enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}")
	job := "serviceMonitor/apps/web/0"
	pmJob := "podMonitor/apps/pm/0"
	pm := func(extraSpec, endpoint string) string {
		return `apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: pm, namespace: apps}
spec:
  selector: {matchLabels: {app: web}}
` + extraSpec + `  podMetricsEndpoints: [` + endpoint + `]
`
	}
	tests := []struct {
		name     string
		obj      string
		world    []string
		want     []string
		contains string
	}{
		{name: "port name exists", obj: sm("{}", "", "{port: metrics}"), world: []string{all, webService}, want: []string{}},
		{
			name: "TA102 no Service in the own namespace; hint the other namespace", obj: sm("{}", "", "{port: metrics}"),
			world: []string{all, strings.Replace(webService, "namespace: apps", "namespace: other", 1)},
			want:  []string{"TA102"}, contains: "Service other/web matches the selector but is in namespace other",
		},
		{
			name: "TA102 hint: right namespace, one label off", obj: sm("{}", "", "{port: metrics}"),
			world: []string{all, strings.Replace(webService, "labels: {app: web}", "labels: {app: webb}", 1)},
			want:  []string{"TA102"}, contains: "Service apps/web lacks app=web",
		},
		{
			name: "namespaceSelector any: true finds Services everywhere", obj: sm("{}", "  namespaceSelector: {any: true, matchNames: [nowhere]}\n", "{port: metrics}"),
			world: []string{all, strings.Replace(webService, "namespace: apps", "namespace: other", 1)},
			// any wins over matchNames, so no TA105 either.
			want: []string{},
		},
		{
			name: "matchNames replaces the own namespace", obj: sm("{}", "  namespaceSelector: {matchNames: [other]}\n", "{port: metrics}"),
			world: []string{all, webService},
			want:  []string{"TA102", "TA105"},
		},
		{
			name: "matchNames finds the Service there", obj: sm("{}", "  namespaceSelector: {matchNames: [other]}\n", "{port: metrics}"),
			world: []string{all, strings.Replace(webService, "namespace: apps", "namespace: other", 1)},
			want:  []string{},
		},
		{
			name: "TA105 names a missing namespace among existing ones", obj: sm("{}", "  namespaceSelector: {matchNames: [apps, gone]}\n", "{port: metrics}"),
			world: []string{all, webService},
			want:  []string{"TA105"}, contains: "names gone, which does not exist",
		},
		{
			name: "an empty selector matches every Service in scope", obj: strings.Replace(sm("{}", "", "{port: metrics}"), "selector: {matchLabels: {app: web}}", "selector: {}", 1),
			world: []string{all, webService}, want: []string{},
		},
		{
			name: "TA103 missing port name lists what exists", obj: sm("{}", "", "{port: prom}"),
			world: []string{all, webService},
			want:  []string{"TA103 " + job}, contains: `no matched Service has a port named "prom"; web has: metrics, <unnamed 8080>`,
		},
		{
			name: "an anchored regex port matches", obj: sm("{}", "", "{port: 'met.*'}"),
			world: []string{all, webService}, want: []string{},
		},
		{
			name: "a regex port is anchored", obj: sm("{}", "", "{port: 'etric'}"),
			world: []string{all, webService}, want: []string{"TA103 " + job},
		},
		{
			name: "TA104 numeric port, not TA103", obj: sm("{}", "", "{port: '8080'}"),
			world: []string{all, webService}, want: []string{"TA104 " + job}, contains: "targetPort: 8080",
		},
		{
			name: "a Service port literally named with digits is not TA104", obj: sm("{}", "", "{port: '8080'}"),
			world: []string{all, strings.Replace(webService, "{port: 8080}", "{name: '8080', port: 8080}", 1)},
			want:  []string{},
		},
		{
			name: "targetPort number declared by the Pods", obj: sm("{}", "", "{targetPort: 9090}"),
			world: []string{all, webService, webPods}, want: []string{},
		},
		{
			name: "targetPort number declared without a name", obj: sm("{}", "", "{targetPort: 8080}"),
			world: []string{all, webService, webPods}, want: []string{},
		},
		{
			name: "TA103 targetPort number the Pods do not declare", obj: sm("{}", "", "{targetPort: 7070}"),
			world: []string{all, webService, webPods},
			want:  []string{"TA103 " + job}, contains: "no Pod behind the matched Services declares container port 7070; web's pods declare: http-metrics/9090, 8080",
		},
		{
			name: "targetPort name declared by the Pods", obj: sm("{}", "", "{targetPort: http-metrics}"),
			world: []string{all, webService, webPods}, want: []string{},
		},
		{
			// The Service's own ports are not what targetPort is matched against.
			name: "TA103 targetPort naming a Service port", obj: sm("{}", "", "{targetPort: metrics}"),
			world: []string{all, webService, webPods}, want: []string{"TA103 " + job},
		},
		{
			name: "a string targetPort of digits is a name", obj: sm("{}", "", "{targetPort: '9090'}"),
			world: []string{all, webService, webPods}, want: []string{"TA103 " + job}, contains: `a container port named "9090"`,
		},
		{
			name: "targetPort with Pods the input does not describe: no guess", obj: sm("{}", "", "{targetPort: 7070}"),
			world: []string{all, webService}, want: []string{},
		},
		{
			name: "no port and no targetPort: every port is scraped", obj: sm("{}", "", "{path: /metrics}"),
			world: []string{all, webService}, want: []string{},
		},
		{
			name: "an unnamed Service port never matches a port name", obj: sm("{}", "", "{port: http}"),
			world: []string{all, strings.Replace(webService, "{name: metrics, port: 9090}, ", "", 1)},
			want:  []string{"TA103 " + job}, contains: "web has: <unnamed 8080>",
		},
		{name: "PodMonitor port name", obj: pm("", "{port: http-metrics}"), world: []string{all, webPods}, want: []string{}},
		{
			name: "PodMonitor port wins over a wrong portNumber", obj: pm("", "{port: http-metrics, portNumber: 1}"),
			world: []string{all, webPods}, want: []string{},
		},
		{
			name: "PodMonitor port wins: a wrong port with a right portNumber", obj: pm("", "{port: nope, portNumber: 9090}"),
			world: []string{all, webPods}, want: []string{"TA103 " + pmJob},
		},
		{
			name: "PodMonitor portNumber wins over a wrong targetPort", obj: pm("", "{portNumber: 8080, targetPort: 1}"),
			world: []string{all, webPods}, want: []string{},
		},
		{
			name: "PodMonitor targetPort alone, wrong", obj: pm("", "{targetPort: 1234}"),
			world: []string{all, webPods}, want: []string{"TA103 " + pmJob}, contains: "web declares: http-metrics/9090, 8080",
		},
		{
			name: "PodMonitor digits as a port name suggests portNumber", obj: pm("", "{port: '9090'}"),
			world: []string{all, webPods}, want: []string{"TA103 " + pmJob}, contains: "use portNumber: 9090",
		},
		{
			name: "TA102 PodMonitor matches no Pod", obj: pm("", "{port: http-metrics}"),
			world: []string{all, strings.Replace(webPods, "labels: {app: web}", "labels: {app: api}", 1)},
			want:  []string{"TA102"}, contains: "Pod apps/web lacks app=web",
		},
		{
			// Terminated Pods still match (TA102 stays quiet); that they give
			// no targets is TA106's business, which needs the live cluster.
			name: "Failed pods still match the selector", obj: pm("", "{port: http-metrics}"),
			world: []string{all, `apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: apps, labels: {app: web}}
spec: {containers: [{name: c, image: i, ports: [{name: http-metrics, containerPort: 9090}]}]}
status: {phase: Failed}
`},
			want: []string{},
		},
		{
			name: "the guide's three endpoints against port prom", obj: smExample,
			world:    []string{collectorAll, serviceProm},
			want:     []string{"TA103 serviceMonitor/opentelemetry/sm-example/1", "TA103 serviceMonitor/opentelemetry/sm-example/2"},
			contains: `TA103 ServiceMonitor opentelemetry/sm-example endpoint 1 (job serviceMonitor/opentelemetry/sm-example/1): no matched Service has a port named "py-client-port"; py-prometheus-app has: prom`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := change{op: Create, new: tt.obj, world: tt.world}.run(t)
			assert.Equal(t, tt.want, ids(fs), messages(fs))
			if tt.contains != "" {
				assert.Contains(t, messages(fs), tt.contains)
			}
		})
	}
}
