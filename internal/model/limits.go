package model

import (
	"regexp"
	"regexp/syntax"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/lru"
	sigsjson "sigs.k8s.io/json"
)

// Limits of what ta-guard judges in one object. Every kind a tenant can
// create holds lists the CRDs do not bound (a ServiceMonitor of 6,000
// endpoints is 150 KB), and ta-guard holds what it reads for as long as the
// object exists: past these the part is left out and the object gets a
// TA302 finding, whose action the policy sets, instead of costing memory
// and time without bound. They are far above what monitors in the wild
// carry (kube-prometheus-stack's largest has 4 endpoints).
const (
	// MaxEndpoints is the most endpoints of a ServiceMonitor or PodMonitor
	// judged.
	MaxEndpoints = 1000
	// MaxPorts is the most ports of a Service, or container ports of a Pod
	// (all its containers together), judged. Past it the object's ports are
	// known in part: a port name not among the first MaxPorts is unknown,
	// never missing, so no rule fires on it. The API server bounds neither
	// list: a Service of 30,000 ports fits etcd's 1.5 MiB.
	MaxPorts = 1000
	// MaxPatternBytes is the longest port-name pattern judged: port names
	// are at most 15 characters.
	MaxPatternBytes = 256
	// MaxPatternInstructions bounds the compiled size of a port-name
	// pattern: "(?:a{31}){32}" is 26 bytes and compiles to about a thousand
	// instructions (and 100 KiB), the patterns monitors use to a few dozen.
	MaxPatternInstructions = 300
	// patternCacheSize bounds the compiled patterns kept: each is within
	// MaxPatternInstructions, so the cache holds a few MiB at most whatever
	// the stored monitors say.
	patternCacheSize = 256
)

// patterns holds compiled port-name patterns by source, shared by every
// endpoint that uses one: a thousand monitors with "http-.*" hold one.
var patterns = lru.New(patternCacheSize)

// compiledPattern returns the compiled pattern (nil when it does not
// compile), from the cache or compiled now; its cost is bounded by
// patternCost, checked when the endpoint was read.
func compiledPattern(src string) *regexp.Regexp {
	if v, ok := patterns.Get(src); ok {
		re, _ := v.(*regexp.Regexp)
		return re
	}
	re, err := regexp.Compile(src)
	if err != nil {
		re = nil
	}
	patterns.Add(src, re)
	return re
}

// patternCost is the number of instructions src compiles to, without
// building the matcher regexp.Compile would keep.
func patternCost(src string) (int, error) {
	if len(src) > 4*MaxPatternBytes {
		return 0, nil // too long to be worth parsing: the byte limit says no
	}
	re, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		return 0, err
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return 0, err
	}
	return len(prog.Inst), nil
}

// Skipped is a JSON value scanned and not kept: a slice of them costs no
// memory whatever its length. It counts what is past a limit.
type Skipped struct{}

// UnmarshalJSON implements json.Unmarshaler: the value is dropped.
func (*Skipped) UnmarshalJSON([]byte) error { return nil }

// monitorHead is what of a ServiceMonitor or PodMonitor is read when its
// endpoints are past MaxEndpoints: counted, not decoded. Decoding them
// would cost some 270 bytes each, and a 4 MiB review holds a million.
type monitorHead struct {
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector            metav1.LabelSelector           `json:"selector"`
		NamespaceSelector   monitoringv1.NamespaceSelector `json:"namespaceSelector"`
		Endpoints           []Skipped                      `json:"endpoints"`
		PodMetricsEndpoints []Skipped                      `json:"podMetricsEndpoints"`
	} `json:"spec"`
}

// decodeOversized reads a ServiceMonitor or PodMonitor whose endpoints are
// past the limit without decoding them; ok is false for every other object,
// which is decoded as usual.
func decodeOversized(gvk schema.GroupVersionKind, raw []byte) (Object, bool, error) {
	if gvk.Group != monitoringv1.SchemeGroupVersion.Group || (gvk.Kind != "ServiceMonitor" && gvk.Kind != "PodMonitor") {
		return nil, false, nil
	}
	var h monitorHead
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(raw, &h); err != nil {
		return nil, false, nil // the full decode names the field
	}
	kind, path, n := ServiceMonitor, field.NewPath("spec", "endpoints"), len(h.Spec.Endpoints)
	if gvk.Kind == "PodMonitor" {
		kind, path, n = PodMonitor, field.NewPath("spec", "podMetricsEndpoints"), len(h.Spec.PodMetricsEndpoints)
	}
	if n <= MaxEndpoints {
		return nil, false, nil
	}
	m, err := newMonitor(h.ObjectMeta, gvk.Kind, kind, &h.Spec.Selector, h.Spec.NamespaceSelector)
	if err != nil {
		return nil, true, err
	}
	m.tooMany(path, MaxEndpoints)
	return m, true, nil
}
