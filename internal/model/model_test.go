package model

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	otelv1alpha1 "github.com/ta-guard/ta-guard/internal/apis/opentelemetry/v1alpha1"
)

func decodeYAML(t *testing.T, apiVersion, kind, doc string) (Object, error) {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(doc))
	require.NoError(t, err)
	gv, err := schema.ParseGroupVersion(apiVersion)
	require.NoError(t, err)
	return Decode(gv.WithKind(kind), j)
}

// The selector semantics of each source, decided in one place.
func TestSelectorSemanticsPerVersion(t *testing.T) {
	tests := []struct {
		name                   string
		apiVersion, kind, spec string
		monitorLabels          map[string]string
		wantSM, wantPM         bool
	}{
		{"v1beta1 nil selects nothing", "opentelemetry.io/v1beta1", "OpenTelemetryCollector",
			"{targetAllocator: {enabled: true, prometheusCR: {enabled: true}}}", map[string]string{"a": "b"}, false, false},
		{"v1beta1 {} selects all", "opentelemetry.io/v1beta1", "OpenTelemetryCollector",
			"{targetAllocator: {enabled: true, prometheusCR: {enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}}}", nil, true, true},
		{"v1beta1 matchLabels", "opentelemetry.io/v1beta1", "OpenTelemetryCollector",
			"{targetAllocator: {enabled: true, prometheusCR: {enabled: true, serviceMonitorSelector: {matchLabels: {a: b}}}}}", map[string]string{"a": "b"}, true, false},
		{"v1alpha1 nil selects all", "opentelemetry.io/v1alpha1", "OpenTelemetryCollector",
			"{targetAllocator: {enabled: true, prometheusCR: {enabled: true}}}", nil, true, true},
		{"v1alpha1 empty map selects all", "opentelemetry.io/v1alpha1", "OpenTelemetryCollector",
			"{targetAllocator: {enabled: true, prometheusCR: {enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}}}", nil, true, true},
		{"v1alpha1 map needs every pair", "opentelemetry.io/v1alpha1", "OpenTelemetryCollector",
			"{targetAllocator: {enabled: true, prometheusCR: {enabled: true, serviceMonitorSelector: {a: b, c: d}}}}", map[string]string{"a": "b"}, false, true},
		{"TargetAllocator nil selects nothing", "opentelemetry.io/v1alpha1", "TargetAllocator",
			"{prometheusCR: {enabled: true, podMonitorSelector: {}}}", nil, false, true},
		{"TA not enabled reads nothing", "opentelemetry.io/v1beta1", "OpenTelemetryCollector",
			"{targetAllocator: {prometheusCR: {enabled: true, serviceMonitorSelector: {}}}}", nil, false, false},
		{"prometheusCR off reads nothing", "opentelemetry.io/v1beta1", "OpenTelemetryCollector",
			"{targetAllocator: {enabled: true, prometheusCR: {serviceMonitorSelector: {}}}}", nil, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := decodeYAML(t, tt.apiVersion, tt.kind, "metadata: {name: x, namespace: ns}\nspec: "+tt.spec)
			require.NoError(t, err)
			a := o.(*Allocator)
			for kind, want := range map[MonitorKind]bool{ServiceMonitor: tt.wantSM, PodMonitor: tt.wantPM} {
				m := &Monitor{Meta: Meta{Ref: Ref{Namespace: "anywhere"}, Labels: tt.monitorLabels}, Kind: kind}
				assert.Equal(t, want, a.Reads(m, nil), kind.String())
			}
		})
	}
}

// A v1alpha1 object served as v1beta1 (conversion None) keeps config as a
// string; it must decode, not break an informer.
func TestV1beta1ToleratesStringConfig(t *testing.T) {
	o, err := decodeYAML(t, "opentelemetry.io/v1beta1", "OpenTelemetryCollector", `metadata: {name: x, namespace: ns}
spec:
  mode: statefulset
  targetAllocator: {enabled: true}
  config: |
    receivers:
      prometheus: {config: {scrape_configs: [{job_name: a}, {job_name: b}]}}
    service: {pipelines: {metrics: {receivers: [prometheus]}}}
`)
	require.NoError(t, err)
	a := o.(*Allocator)
	assert.Equal(t, 2, a.ScrapeConfigs)
	assert.True(t, a.Receiver.Present)
	assert.True(t, a.Receiver.InMetricsPipeline)
}

func TestDecodeErrorsNameTheField(t *testing.T) {
	tests := []struct{ apiVersion, kind, doc, want string }{
		{"opentelemetry.io/v1alpha1", "OpenTelemetryCollector", "metadata: {name: x}\nspec: {config: \"a: [\"}", "spec.config"},
		{"opentelemetry.io/v1beta1", "OpenTelemetryCollector", "metadata: {name: x}\nspec: {config: 5}", "config"},
		{"opentelemetry.io/v1beta1", "OpenTelemetryCollector", "metadata: {name: x}\nspec: {config: {service: {pipelines: []}}}", "service.pipelines"},
		{"v1", "Service", "metadata: {name: x}\nspec: {ports: [{port: abc}]}", "port"},
	}
	for _, tt := range tests {
		t.Run(tt.kind+" "+tt.want, func(t *testing.T) {
			_, err := decodeYAML(t, tt.apiVersion, tt.kind, tt.doc)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// What the API server stores but no selector can be made of (a label value
// past 63 characters, an operator that does not exist) is a defect of the
// object, not an error: the object is still read, and the field selects
// nothing, as it does for the TA.
func TestInvalidSelectorsAreDefects(t *testing.T) {
	long := strings.Repeat("x", 64)
	tests := []struct{ apiVersion, kind, doc, field string }{
		{"opentelemetry.io/v1beta1", "OpenTelemetryCollector",
			"metadata: {name: x}\nspec: {targetAllocator: {prometheusCR: {serviceMonitorSelector: {matchExpressions: [{key: a, operator: Bogus}]}}}}",
			"spec.targetAllocator.prometheusCR.serviceMonitorSelector"},
		{"opentelemetry.io/v1beta1", "OpenTelemetryCollector",
			"metadata: {name: x}\nspec: {targetAllocator: {prometheusCR: {podMonitorSelector: {matchLabels: {unused: " + long + "}}}}}",
			"spec.targetAllocator.prometheusCR.podMonitorSelector"},
		{"opentelemetry.io/v1alpha1", "TargetAllocator",
			"metadata: {name: x}\nspec: {prometheusCR: {podMonitorNamespaceSelector: {matchExpressions: [{key: a, operator: In}]}}}",
			"spec.prometheusCR.podMonitorNamespaceSelector"},
		{"monitoring.coreos.com/v1", "ServiceMonitor", "metadata: {name: x}\nspec: {selector: {matchExpressions: [{key: a, operator: In}]}}", "spec.selector"},
		{"monitoring.coreos.com/v1", "PodMonitor", "metadata: {name: x}\nspec: {selector: {matchLabels: {a: " + long + "}}}", "spec.selector"},
		{"monitoring.coreos.com/v1", "Probe", "metadata: {name: x}\nspec: {targets: {ingress: {selector: {matchLabels: {a: " + long + "}}}}}", "spec.targets.ingress.selector"},
		{"monitoring.coreos.com/v1alpha1", "ScrapeConfig", "metadata: {name: x}\nspec: {kubernetesSDConfigs: [{role: Pod, selectors: [{role: Pod, label: 'a in (b'}]}]}", "spec.kubernetesSDConfigs[0].selectors[0].label"},
		{"monitoring.coreos.com/v1", "Prometheus", "metadata: {name: x}\nspec: {serviceMonitorSelector: {matchExpressions: [{key: a, operator: Exists, values: [b]}]}}", "spec.serviceMonitorSelector"},
	}
	for _, tt := range tests {
		t.Run(tt.kind+" "+tt.field, func(t *testing.T) {
			o, err := decodeYAML(t, tt.apiVersion, tt.kind, tt.doc)
			require.NoError(t, err)
			ds := o.GetMeta().Defects
			require.Len(t, ds, 1)
			assert.True(t, ds[0].Invalid)
			assert.Equal(t, tt.field, ds[0].Field.String())
			if m, ok := o.(*Monitor); ok && m.Kind.SelectsWorkloads() {
				assert.True(t, m.Selector.Nothing(), "an invalid selector selects nothing")
				assert.False(t, m.Selector.Matches(map[string]string{"a": "b"}))
			}
		})
	}
}

// Past the limits a part is left out and said to be, so that what a tenant
// stores cannot cost memory and time without bound; within them nothing
// changes.
func TestLimitsLeaveOutAndSaySo(t *testing.T) {
	endpoints := func(n int, port string) string {
		eps := make([]string, n)
		for i := range eps {
			eps[i] = "{port: '" + port + "'}"
		}
		return "[" + strings.Join(eps, ",") + "]"
	}
	tests := []struct {
		name, kind, doc string
		field           string // "" when within the limits
		endpoints       int
	}{
		{"endpoints at the limit", "ServiceMonitor", "spec: {endpoints: " + endpoints(MaxEndpoints, "web") + "}", "", MaxEndpoints},
		{"endpoints past the limit", "ServiceMonitor", "spec: {endpoints: " + endpoints(MaxEndpoints+1, "web") + "}", "spec.endpoints", 0},
		{"pod endpoints past the limit", "PodMonitor", "spec: {podMetricsEndpoints: " + endpoints(MaxEndpoints+1, "web") + "}", "spec.podMetricsEndpoints", 0},
		{"a usual pattern", "ServiceMonitor", "spec: {endpoints: [{port: 'http-.*|https-metrics'}]}", "", 1},
		{"a pattern that compiles to 100 KiB", "ServiceMonitor", "spec: {endpoints: [{port: web}, {port: '(?:a{31}){32}'}]}", "spec.endpoints[1].port", 0},
		{"a pattern too long", "PodMonitor", "spec: {podMetricsEndpoints: [{port: '" + strings.Repeat("a|", 200) + "b'}]}", "spec.podMetricsEndpoints[0].port", 0},
		{"an invalid regex is a name", "ServiceMonitor", "spec: {endpoints: [{port: 'web('}]}", "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := decodeYAML(t, "monitoring.coreos.com/v1", tt.kind, "metadata: {name: x, namespace: ns}\n"+tt.doc)
			require.NoError(t, err)
			m := o.(*Monitor)
			assert.Len(t, m.Endpoints, tt.endpoints)
			if tt.field == "" {
				assert.Empty(t, m.Defects)
				return
			}
			require.Len(t, m.Defects, 1)
			assert.False(t, m.Defects[0].Invalid)
			assert.Equal(t, tt.field, m.Defects[0].Field.String())
		})
	}
}

// A pattern is compiled once whatever the number of endpoints using it,
// and the compiled ones kept are bounded.
func TestPatternsAreShared(t *testing.T) {
	a, b := Endpoint{Port: "http-.*"}, Endpoint{Port: "http-.*"}
	require.Empty(t, a.compile(ServiceMonitor))
	require.Empty(t, b.compile(ServiceMonitor))
	assert.True(t, a.NameMatches(ServiceMonitor, "http-metrics"))
	assert.False(t, b.NameMatches(ServiceMonitor, "web"))
	assert.Same(t, compiledPattern(a.pattern), compiledPattern(b.pattern))
	for i := range 3 * patternCacheSize {
		compiledPattern(fmt.Sprintf("^(?:p%d.*)$", i))
	}
	assert.LessOrEqual(t, patterns.Len(), patternCacheSize)
	assert.True(t, a.NameMatches(ServiceMonitor, "http-metrics"), "an evicted pattern is compiled again")
}

func TestUnsupportedKind(t *testing.T) {
	_, err := decodeYAML(t, "v1", "ConfigMap", "metadata: {name: x}")
	assert.ErrorIs(t, err, ErrUnsupported)
}

func TestEndpointMatchPrecedence(t *testing.T) {
	tests := []struct {
		name string
		kind MonitorKind
		doc  string
		mode PortMatch
		text string
	}{
		{"sm port", ServiceMonitor, "{port: web, targetPort: 80}", MatchServicePortName, `port "web"`},
		{"sm targetPort number", ServiceMonitor, "{targetPort: 80}", MatchContainerPortNumber, "targetPort 80"},
		{"sm targetPort string of digits is a name", ServiceMonitor, "{targetPort: '80'}", MatchContainerPortName, `targetPort "80"`},
		{"sm targetPort 0 is unset", ServiceMonitor, "{targetPort: 0}", MatchAll, "all ports"},
		{"sm nothing", ServiceMonitor, "{path: /m}", MatchAll, "all ports"},
		{"pm port beats portNumber", PodMonitor, "{port: web, portNumber: 80}", MatchContainerPortName, `port "web"`},
		{"pm portNumber beats targetPort", PodMonitor, "{portNumber: 80, targetPort: web}", MatchContainerPortNumber, "portNumber 80"},
		{"pm portNumber 0 is unset", PodMonitor, "{portNumber: 0, targetPort: web}", MatchContainerPortName, `targetPort "web"`},
		{"pm targetPort", PodMonitor, "{targetPort: 9090}", MatchContainerPortNumber, "targetPort 9090"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var doc string
			if tt.kind == ServiceMonitor {
				doc = "metadata: {name: x, namespace: nsx}\nspec: {endpoints: [" + tt.doc + "]}"
			} else {
				doc = "metadata: {name: x, namespace: nsx}\nspec: {podMetricsEndpoints: [" + tt.doc + "]}"
			}
			o, err := decodeYAML(t, "monitoring.coreos.com/v1", tt.kind.String(), doc)
			require.NoError(t, err)
			ep := o.(*Monitor).Endpoints[0]
			mode, _, _ := ep.Match(tt.kind)
			assert.Equal(t, tt.mode, mode)
			assert.Equal(t, tt.text, ep.Describe(tt.kind))
		})
	}
}

func TestNamespaceScopeOfMonitors(t *testing.T) {
	tests := []struct {
		spec string
		want NamespaceSet
	}{
		{"{}", NamespaceSet{Names: []string{"own"}}},
		{"{namespaceSelector: {matchNames: [a, b, a]}}", NamespaceSet{Names: []string{"a", "b"}}},
		{"{namespaceSelector: {any: true, matchNames: [a]}}", NamespaceSet{All: true}},
		{"{namespaceSelector: {any: false}}", NamespaceSet{Names: []string{"own"}}},
	}
	for _, tt := range tests {
		o, err := decodeYAML(t, "monitoring.coreos.com/v1", "ServiceMonitor", "metadata: {name: x, namespace: own}\nspec: "+tt.spec)
		require.NoError(t, err)
		assert.Equal(t, tt.want, o.(*Monitor).Namespaces, tt.spec)
	}
}

// Only ta-guard's own annotations are kept (memory, and no foreign data in caches).
func TestForeignAnnotationsDropped(t *testing.T) {
	o, err := decodeYAML(t, "v1", "Service", `metadata:
  name: x
  annotations: {ta-guard.io/skip: TA202, kubectl.kubernetes.io/last-applied-configuration: "{}"}`)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"ta-guard.io/skip": "TA202"}, o.GetMeta().Annotations)
}

// The operator's instance label, which selects a collector's pods: cut as
// the operator cuts it, or the offline world names other pods than it.
func TestInstanceLabel(t *testing.T) {
	a, b := strings.Repeat("a", 70), strings.Repeat("b", 70)
	tests := []struct {
		ns, name, want string
	}{
		{"obs", "c", "obs.c"},
		{a[:31], b[:31], a[:31] + "." + b[:31]}, // 63: untouched
		{a[:40], b[:30], a[:32] + "." + b[:30]}, // the namespace gives way
		{a[:10], b[:60], a[:2] + "." + b[:60]},
		{a[:5], b[:70], b[:62]},                                // namespace gone, then the name cut, the leading dot trimmed
		{a[:31] + "-" + a[:8], b[:30], a[:31] + "-." + b[:30]}, // a dash inside stays
		{a[:5], b[:61] + "-" + b[:8], b[:61]},                  // a dash the cut leaves at the end goes
	}
	for _, tt := range tests {
		got := InstanceLabel(tt.ns, tt.name)
		assert.Equal(t, tt.want, got, "%s.%s", tt.ns, tt.name)
		assert.LessOrEqual(t, len(got), 63)
	}
}

// A review of a million empty endpoints is counted, not decoded: the
// monitor comes back with its selector and the defect, and the decode
// allocates a small fraction of what the typed endpoints would take.
func TestOversizedMonitorIsCountedNotDecoded(t *testing.T) {
	const n = 1_000_000
	raw := []byte(`{"metadata":{"name":"x","namespace":"ns"},"spec":{"selector":{"matchLabels":{"app":"a"}},"endpoints":[` +
		strings.Repeat(`{},`, n-1) + `{}]}}`)
	gvk := schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "ServiceMonitor"}
	var o Object
	allocs := testing.AllocsPerRun(1, func() {
		var err error
		o, err = Decode(gvk, raw)
		require.NoError(t, err)
	})
	m := o.(*Monitor)
	assert.Empty(t, m.Endpoints)
	require.Len(t, m.Defects, 1)
	assert.Equal(t, "spec.endpoints", m.Defects[0].Field.String())
	assert.Contains(t, m.Defects[0].Detail, "more than 1000 items")
	assert.True(t, m.Selector.Matches(map[string]string{"app": "a"}))
	assert.Less(t, allocs, float64(1000), "allocations do not grow with the endpoints")

	o, _, err := DecodeManifest(gvk, raw, "")
	require.NoError(t, err)
	assert.Len(t, o.GetMeta().Defects, 1, "check reads it the same way")
}

// The names the operator generates from a ClusterObservability: its name
// gives way to the suffix within 63 characters (naming.Truncate).
func TestClusterObservabilityGeneratedNames(t *testing.T) {
	long := strings.Repeat("a", 60) + "-bcd"
	tests := []struct{ name, wantTA, wantCollector string }{
		{name: "cluster-obs", wantTA: "cluster-obs-targetallocator", wantCollector: "cluster-obs-cluster"},
		{name: long, wantTA: strings.Repeat("a", 47) + "-targetallocator", wantCollector: strings.Repeat("a", 55) + "-cluster"},
		// The cut may end the name in a dash, which the operator trims off
		// the whole only at its ends: the suffix keeps its own.
		{name: strings.Repeat("b", 46) + "-c", wantTA: strings.Repeat("b", 46) + "--targetallocator"},
	}
	for _, tt := range tests {
		co := &otelv1alpha1.ClusterObservability{}
		co.Name, co.Namespace = tt.name, "obs"
		a, err := AllocatorFromClusterObservability(co)
		require.NoError(t, err)
		assert.Equal(t, tt.wantTA, a.AttachedTo, tt.name)
		assert.LessOrEqual(t, len(a.AttachedTo), 63)
		if tt.wantCollector != "" {
			assert.Equal(t, tt.wantCollector, a.Generated, tt.name)
		}
		assert.True(t, a.Attached(), "the generated collector is attached to the TA")
		assert.False(t, a.Active, "it reads no monitor itself")
	}
}
