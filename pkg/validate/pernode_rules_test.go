package validate

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ta-guard/ta-guard/internal/cluster"
	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

// pnCollector is collector obs/<name> in the given mode and strategy, its TA
// reading every ServiceMonitor and PodMonitor.
func pnCollector(name, mode, strategy string) string {
	return `apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: {name: ` + name + `, namespace: obs}
spec:
  mode: ` + mode + `
  targetAllocator:
    enabled: true
    allocationStrategy: ` + strategy + `
    prometheusCR: {enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}
` + goodConfig
}

// pnMonitor is ServiceMonitor <ns>/<name> with the given selector, namespace
// selector and endpoints.
func pnMonitor(ns, name, selector, nsSel, endpoints string) string {
	return `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: ` + name + `, namespace: ` + ns + `}
spec:
  selector: ` + selector + `
  namespaceSelector: ` + nsSel + `
  endpoints: ` + endpoints + `
`
}

// pnSlice is an EndpointSlice of Service apps/<svc> with the given ports
// and endpoints (YAML flow lists).
func pnSlice(svc, name, ports, endpoints string) string {
	return `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ` + name + `, namespace: apps, labels: {kubernetes.io/service-name: ` + svc + `}}
addressType: IPv4
ports: ` + ports + `
endpoints: ` + endpoints + `
`
}

const (
	perNodeTA = "per-node"
	// apiserverSM is kube-prometheus's ServiceMonitor for the API server.
	apiserverSM = `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: apiserver, namespace: default}
spec:
  selector: {matchLabels: {component: apiserver, provider: kubernetes}}
  namespaceSelector: {matchNames: [default]}
  endpoints: [{port: https, scheme: https}]
`
	// extService is selector-less: its EndpointSlices are made by hand.
	extService = `apiVersion: v1
kind: Service
metadata: {name: ext, namespace: apps, labels: {app: ext}}
spec: {ports: [{name: metrics, port: 9100}]}
`
	extSM = `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: ext, namespace: apps}
spec:
  selector: {matchLabels: {app: ext}}
  endpoints: [{port: metrics}]
`
	// apiserverSlice is what the API server writes for default/kubernetes:
	// addresses, no node, no targetRef.
	apiserverSlice = `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: kubernetes, namespace: default, labels: {kubernetes.io/service-name: kubernetes}}
addressType: IPv4
ports: [{name: https, port: 6443, protocol: TCP}]
endpoints: [{addresses: [172.18.0.2]}]
`
)

func TestPerNodeTargetWithoutNode(t *testing.T) {
	daemon := pnCollector("agent", "daemonset", perNodeTA)
	metricsPort := "[{name: metrics, port: 9100}]"
	tests := []struct {
		name  string
		op    Operation
		obj   string
		world []string
		// want are the TA107 findings, as "TA107 <job>".
		want     []string
		contains []string
		related  []string
	}{
		{
			name: "per-node TA reading the API server's ServiceMonitor", obj: apiserverSM, world: []string{daemon},
			want: []string{"TA107 serviceMonitor/default/apiserver/0"},
			contains: []string{
				"TA107 ServiceMonitor default/apiserver endpoint 0 (job serviceMonitor/default/apiserver/0): per-node TA obs/agent drops its targets on default/kubernetes (the API server): they run on no node",
				"fix: read it with a second collector (mode statefulset) whose TA has allocationStrategy: consistent-hashing, and keep it out of spec.targetAllocator.prometheusCR.serviceMonitorSelector of obs/agent; ",
				"or run the operator with --feature-gates=operator.targetallocator.fallbackstrategy, which hands such targets to consistent-hashing (ta-guard cannot see the operator's flags",
			},
			related: []string{"reader OpenTelemetryCollector obs/agent", "target Service default/kubernetes"},
		},
		{name: "on UPDATE too", op: Update, obj: apiserverSM, world: []string{daemon, apiserverSM}, want: []string{"TA107 serviceMonitor/default/apiserver/0"}},
		{name: "never on DELETE", op: Delete, obj: apiserverSM, world: []string{daemon, apiserverSM}, want: []string{}},
		{name: "consistent-hashing TA: every target is allocated", obj: apiserverSM, world: []string{pnCollector("cluster", "statefulset", "consistent-hashing")}, want: []string{}},
		{name: "least-weighted TA too", obj: apiserverSM, world: []string{pnCollector("cluster", "statefulset", "least-weighted")}, want: []string{}},
		{
			name: "per-node on a statefulset (TA004's) still places by node", obj: apiserverSM,
			world: []string{pnCollector("cluster", "statefulset", perNodeTA)}, want: []string{"TA107 serviceMonitor/default/apiserver/0"},
		},
		{
			name: "a per-node TA that does not read the monitor", obj: apiserverSM,
			world: []string{strings.Replace(daemon, "serviceMonitorSelector: {}", "serviceMonitorSelector: {matchLabels: {team: a}}", 1)},
			want:  []string{},
		},
		{
			name: "only the jobs whose port the API server has", obj: pnMonitor("default", "apiserver", "{matchLabels: {component: apiserver}}", "{}", "[{port: https}, {port: http-metrics}]"),
			world: []string{daemon}, want: []string{"TA107 serviceMonitor/default/apiserver/0"},
		},
		{
			name: "targetPort keeps only Pod targets: the API server's are never the job's", obj: pnMonitor("default", "apiserver", "{matchLabels: {component: apiserver}}", "{}", "[{targetPort: 6443}]"),
			world: []string{daemon}, want: []string{},
		},
		{
			name: "the API server's slice in view: counted", obj: apiserverSM, world: []string{daemon, apiserverSlice},
			want: []string{"TA107 serviceMonitor/default/apiserver/0"}, contains: []string{"drops its 1 target on default/kubernetes (the API server)"},
		},
		{
			name: "selector-less Service, hand-made slice without node", obj: extSM,
			world:    []string{daemon, extService, pnSlice("ext", "ext-1", metricsPort, "[{addresses: [192.0.2.10, 192.0.2.11]}]")},
			want:     []string{"TA107 serviceMonitor/apps/ext/0"},
			contains: []string{"drops its 2 targets on apps/ext: they run on no node"},
			related:  []string{"reader OpenTelemetryCollector obs/agent", "target Service apps/ext"},
		},
		{
			name: "some endpoints on a node, some not", obj: extSM,
			world: []string{daemon, extService, pnSlice("ext", "ext-1", metricsPort, "[{addresses: [10.0.0.1], targetRef: {kind: Pod, namespace: apps, name: p}}, {addresses: [192.0.2.10]}]")},
			want:  []string{"TA107 serviceMonitor/apps/ext/0"}, contains: []string{"drops 1 of its 2 targets on apps/ext"},
		},
		{
			name: "a target per address and matching slice port", obj: pnMonitor("apps", "ext", "{matchLabels: {app: ext}}", "{}", "[{}]"),
			world: []string{daemon, extService, pnSlice("ext", "ext-1", "[{name: metrics, port: 9100}, {name: admin, port: 9101}]", "[{addresses: [192.0.2.10]}]")},
			want:  []string{"TA107 serviceMonitor/apps/ext/0"}, contains: []string{"drops its 2 targets on apps/ext"},
		},
		{
			name: "the slice's port name decides, not the Service's", obj: extSM,
			world: []string{daemon, extService, pnSlice("ext", "ext-1", "[{name: other, port: 9100}]", "[{addresses: [192.0.2.10]}]")},
			want:  []string{},
		},
		{
			// Discovery labels it __meta_kubernetes_endpointslice_endpoint_node_name,
			// which the per-node strategy does not read.
			name: "endpoints with nodeName alone: not placed", obj: extSM,
			world: []string{daemon, extService, pnSlice("ext", "ext-1", metricsPort, "[{addresses: [10.0.0.1], nodeName: n1}]")},
			want:  []string{"TA107 serviceMonitor/apps/ext/0"}, contains: []string{"drops its 1 target on apps/ext"},
		},
		{
			name: "endpoints with nodeName under attachMetadata.node: placed", obj: strings.Replace(extSM, "  endpoints:", "  attachMetadata: {node: true}\n  endpoints:", 1),
			world: []string{daemon, extService, pnSlice("ext", "ext-1", metricsPort, "[{addresses: [10.0.0.1], nodeName: n1}]")},
			want:  []string{},
		},
		{
			name: "endpoints with a Pod targetRef: placed on the Pod's node", obj: extSM,
			world: []string{daemon, extService, pnSlice("ext", "ext-1", metricsPort, "[{addresses: [10.0.0.1], targetRef: {kind: Pod, namespace: apps, name: p}}]")},
			want:  []string{},
		},
		{
			name: "endpoints with a Node targetRef: placed on that node", obj: extSM,
			world: []string{daemon, extService, pnSlice("ext", "ext-1", metricsPort, "[{addresses: [10.0.0.1], targetRef: {kind: Node, name: n1}}]")},
			want:  []string{},
		},
		{name: "selector-less Service whose slices the input does not give: unknown", obj: extSM, world: []string{daemon, extService}, want: []string{}},
		{name: "Service with a selector, no slices: its Pods are on nodes", obj: sm("{}", "", "{port: metrics}"), world: []string{daemon, webService, webPods}, want: []string{}},
		{
			name: "PodMonitor: Pods are on nodes", world: []string{daemon, webPods},
			obj: `apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: web, namespace: apps}
spec:
  selector: {matchLabels: {app: web}}
  podMetricsEndpoints: [{port: http-metrics}]
`,
			want: []string{},
		},
		{
			name: "the operator's copy of an embedded TA is judged as its collector", obj: apiserverSM,
			world: []string{daemon, `apiVersion: opentelemetry.io/v1alpha1
kind: TargetAllocator
metadata: {name: agent, namespace: obs}
spec: {allocationStrategy: per-node, prometheusCR: {enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}}
`},
			want: []string{"TA107 serviceMonitor/default/apiserver/0"}, related: []string{"reader OpenTelemetryCollector obs/agent", "target Service default/kubernetes"},
		},
		{
			name: "a standalone per-node TargetAllocator", obj: apiserverSM,
			world:    []string{attachedCollector("shared", "[]"), strings.Replace(sharedTA, "spec: {", "spec: {allocationStrategy: per-node, ", 1)},
			want:     []string{"TA107 serviceMonitor/default/apiserver/0"},
			contains: []string{"per-node TA obs/shared drops", "keep it out of spec.prometheusCR.serviceMonitorSelector of obs/shared"},
			related:  []string{"reader TargetAllocator obs/shared", "target Service default/kubernetes"},
		},
		{
			name: "a consistent-hashing TA reads it too: its targets are scraped", obj: apiserverSM,
			world: []string{daemon, pnCollector("cluster", "statefulset", "consistent-hashing")}, want: []string{},
		},
		{
			name: "a Prometheus reads it too", obj: apiserverSM,
			world: []string{daemon, `apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: k8s, namespace: monitoring}
spec: {serviceMonitorSelector: {}, serviceMonitorNamespaceSelector: {}}
`},
			want: []string{},
		},
		{
			name: "two per-node TAs", obj: apiserverSM, world: []string{daemon, pnCollector("agent2", "daemonset", perNodeTA)},
			want:     []string{"TA107 serviceMonitor/default/apiserver/0"},
			contains: []string{"per-node TA obs/agent; obs/agent2 drops", "keep it out of the per-node TAs' serviceMonitorSelector"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// As check sees it: what every cluster has (default/kubernetes)
			// is in the world, and on an UPDATE or DELETE the monitor too.
			s := builtinStore(t, tt.world...)
			req := Request{Operation: tt.op, Object: object(t, tt.obj)}
			switch tt.op {
			case Delete:
				req.OldObject, req.Object = req.Object, nil
				s.Upsert(req.OldObject)
			case Update:
				req.OldObject = object(t, tt.obj)
				s.Upsert(req.OldObject)
			default:
				req.Operation = Create
			}
			fs := only(offline(t, req, s, nil), rules.TA107)
			assert.Equal(t, tt.want, ids(fs))
			for _, s := range tt.contains {
				assert.Contains(t, messages(fs), s)
			}
			if tt.related != nil {
				require.Len(t, fs, 1)
				var got []string
				for _, r := range fs[0].Related {
					got = append(got, string(r.Role)+" "+r.Kind+" "+r.NamespacedName())
				}
				assert.Equal(t, tt.related, got)
				assert.Equal(t, "spec.endpoints[0]", fs[0].Field.String())
			}
		})
	}
}

// TestPerNodeLive: the same verdict with the live rules on, from the slices
// the informers hold.
func TestPerNodeLive(t *testing.T) {
	daemon := pnCollector("agent", "daemonset", perNodeTA)
	facts := fakeFacts{served: map[model.MonitorKind]bool{model.ServiceMonitor: true, model.PodMonitor: true}}
	for _, tt := range []struct {
		name  string
		slice string
		want  []string
	}{
		{name: "the API server's slice", slice: apiserverSlice, want: []string{"TA107 serviceMonitor/default/apiserver/0"}},
		{name: "a slice that names a node, without attachMetadata.node", slice: strings.Replace(apiserverSlice, "[172.18.0.2]", "[172.18.0.2], nodeName: cp-1", 1), want: []string{"TA107 serviceMonitor/default/apiserver/0"}},
		{name: "a slice that targets a Node", slice: strings.Replace(apiserverSlice, "[172.18.0.2]", "[172.18.0.2], targetRef: {kind: Node, name: cp-1}", 1), want: []string{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := builtinStore(t, daemon, tt.slice)
			res, err := Evaluate(context.Background(), Request{Operation: Create, Object: object(t, apiserverSM)}, s, Options{Facts: facts})
			require.NoError(t, err)
			assert.Equal(t, tt.want, ids(only(res.Findings, rules.TA107)))
		})
	}
}

// TestPerNodeTrace: diagnose sees why the check passed when a per-node TA
// reads the monitor.
func TestPerNodeTrace(t *testing.T) {
	daemon := pnCollector("agent", "daemonset", perNodeTA)
	onNode := pnSlice("ext", "ext-1", "[{name: metrics, port: 9100}]", "[{addresses: [10.0.0.1], nodeName: n1, targetRef: {kind: Pod, namespace: apps, name: p}}]")
	noNode := pnSlice("ext", "ext-1", "[{name: metrics, port: 9100}]", "[{addresses: [10.0.0.1]}]")
	for _, tt := range []struct {
		name  string
		world []string
		want  []string
	}{
		{name: "every target on a node", world: []string{daemon, extService, onNode},
			want: []string{"per-node TA obs/agent: no target of the matched Services is known to run on no node"}},
		{name: "another TA takes them", world: []string{daemon, pnCollector("cluster", "statefulset", "consistent-hashing"), extService, noNode},
			want: []string{"also read by OpenTelemetryCollector obs/cluster, which allocates targets that have no node"}},
		{name: "no per-node TA: nothing to check", world: []string{pnCollector("cluster", "statefulset", "consistent-hashing"), extService, noNode}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Evaluate(context.Background(), Request{Operation: Create, Object: object(t, extSM)}, store(t, tt.world...), Options{Trace: true})
			require.NoError(t, err)
			var details []string
			for _, c := range res.Checks {
				if c.Rule == rules.TA107 {
					assert.True(t, c.Passed())
					details = append(details, c.Detail)
				}
			}
			assert.Equal(t, tt.want, details)
		})
	}
}

// builtinStore is a world of manifests with what every cluster holds.
func builtinStore(t *testing.T, docs ...string) *cluster.Store {
	s := store(t, docs...)
	for _, o := range model.Builtins() {
		s.Upsert(o)
	}
	return s
}

func only(fs []rules.Finding, ids ...rules.ID) []rules.Finding {
	out := []rules.Finding{}
	for _, f := range fs {
		if slices.Contains(ids, f.Rule) {
			out = append(out, f)
		}
	}
	return out
}

// TA107 for the static targets a collector's own per-node TA serves: they
// carry no node label, so no collector gets them.
func TestPerNodeStaticTargets(t *testing.T) {
	scrape := receiverConfig
	const self = "            - {job_name: self, static_configs: [{targets: [\"0.0.0.0:8888\"]}, {targets: [a:1, b:2]}]}\n"
	const nodes = "            - {job_name: kubelet, kubernetes_sd_configs: [{role: node}]}\n"
	ta := func(strategy string) string {
		return "  targetAllocator: {enabled: true, allocationStrategy: " + strategy + ", prometheusCR: {enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}}\n"
	}
	tests := []struct {
		name, obj string
		want      []string
		contains  string
	}{
		{name: "per-node with a static job", obj: collector("  mode: daemonset\n" + ta("per-node") + scrape(self+nodes)),
			want: []string{"TA107 self"}, contains: "TA107 OpenTelemetryCollector obs/c job self: the per-node TA drops its 3 static targets: a static target runs on no node"},
		{name: "per-node without static targets", obj: collector("  mode: daemonset\n" + ta("per-node") + scrape(nodes)), want: []string{}},
		{name: "per-node with a DNS discovery", obj: collector("  mode: daemonset\n" + ta("per-node") + scrape("            - {job_name: memcached, dns_sd_configs: [{names: [memcached.cache.svc], type: A, port: 9150}], file_sd_configs: []}\n"+nodes)),
			want: []string{"TA107 memcached"}, contains: "TA107 OpenTelemetryCollector obs/c job memcached: the per-node TA drops the targets of its dns_sd_configs: their discovery names no node to place them on"},
		{name: "per-node with Kubernetes' service role", obj: collector("  mode: daemonset\n" + ta("per-node") + scrape("            - {job_name: blackbox, kubernetes_sd_configs: [{role: pod}, {role: service}]}\n")),
			want: []string{"TA107 blackbox"}, contains: "drops the targets of its kubernetes_sd_configs (role service)"},
		{name: "per-node with pod and endpointslice roles", obj: collector("  mode: daemonset\n" + ta("per-node") + scrape("            - {job_name: pods, kubernetes_sd_configs: [{role: pod}, {role: endpointslice}]}\n")), want: []string{}},
		{name: "consistent-hashing places static targets", obj: collector("  mode: statefulset\n" + ta("consistent-hashing") + scrape(self)), want: []string{}},
		{name: "without a TA the collector scrapes them itself", obj: collector("  mode: daemonset\n" + scrape(self)), want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := only(offline(t, Request{Operation: Create, Object: object(t, tt.obj)}, store(t), nil), rules.TA107)
			assert.Equal(t, tt.want, ids(fs), messages(fs))
			if tt.contains != "" {
				assert.Contains(t, messages(fs), tt.contains)
			}
		})
	}
}

// TA107 for a ScrapeConfig's static targets read by per-node TAs only.
func TestPerNodeScrapeConfigStaticTargets(t *testing.T) {
	sc := `apiVersion: monitoring.coreos.com/v1alpha1
kind: ScrapeConfig
metadata: {name: blackbox, namespace: obs}
spec:
  staticConfigs:
    - targets: ["prometheus.io:443", "example.com:443"]
`
	ta := func(name, mode, strategy string) string {
		return strings.Replace(collector("  mode: "+mode+"\n  targetAllocator: {enabled: true, allocationStrategy: "+strategy+", prometheusCR: {enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}, scrapeConfigSelector: {}}}\n"+goodConfig), "name: c,", "name: "+name+",", 1)
	}
	tests := []struct {
		name, sc string
		world    []string
		want     []string
		contains string
	}{
		{name: "read by a per-node TA only", world: []string{ta("agent", "daemonset", "per-node")}, want: []string{"TA107 scrapeConfig/obs/blackbox"},
			contains: "TA107 ScrapeConfig obs/blackbox job scrapeConfig/obs/blackbox: per-node TA obs/agent drops its 2 static targets: a static target runs on no node"},
		{name: "a DNS discovery and a Service role besides", sc: sc + "  dnsSDConfigs: [{names: [db.example.com]}]\n  kubernetesSDConfigs: [{role: Pod}, {role: Service}]\n", world: []string{ta("agent", "daemonset", "per-node")}, want: []string{"TA107 scrapeConfig/obs/blackbox"},
			contains: "per-node TA obs/agent drops its 2 static targets and the targets of its kubernetesSDConfigs (role Service) and the targets of its dnsSDConfigs: a static target runs on no node"},
		{name: "a Pod discovery alone", sc: strings.Replace(sc, "  staticConfigs:\n    - targets: [\"prometheus.io:443\", \"example.com:443\"]\n", "  kubernetesSDConfigs: [{role: Pod}]\n", 1), world: []string{ta("agent", "daemonset", "per-node")}, want: []string{}},
		{name: "also read by a consistent-hashing TA", world: []string{ta("agent", "daemonset", "per-node"), ta("cluster", "statefulset", "consistent-hashing")}, want: []string{}},
		{name: "no per-node TA", world: []string{ta("cluster", "statefulset", "consistent-hashing")}, want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := sc
			if tt.sc != "" {
				obj = tt.sc
			}
			fs := only(offline(t, Request{Operation: Create, Object: object(t, obj)}, store(t, tt.world...), nil), rules.TA107)
			assert.Equal(t, tt.want, ids(fs), messages(fs))
			if tt.contains != "" {
				assert.Contains(t, messages(fs), tt.contains)
			}
		})
	}
}
