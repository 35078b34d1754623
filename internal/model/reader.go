package model

import (
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// MonitorKind is one of the four Prometheus Operator kinds a TA reads:
// ServiceMonitor, PodMonitor, ScrapeConfig, Probe.
type MonitorKind int

const (
	ServiceMonitor MonitorKind = iota
	PodMonitor
	ScrapeConfig
	Probe
	// NumMonitorKinds sizes per-kind arrays.
	NumMonitorKinds
)

// MonitorKinds lists the kinds in a stable order.
var MonitorKinds = []MonitorKind{ServiceMonitor, PodMonitor, ScrapeConfig, Probe}

func (k MonitorKind) String() string {
	switch k {
	case PodMonitor:
		return "PodMonitor"
	case ScrapeConfig:
		return "ScrapeConfig"
	case Probe:
		return "Probe"
	}
	return "ServiceMonitor"
}

// lowerCamel is the kind as it appears in field names and job names.
func (k MonitorKind) lowerCamel() string {
	switch k {
	case PodMonitor:
		return "podMonitor"
	case ScrapeConfig:
		return "scrapeConfig"
	case Probe:
		return "probe"
	}
	return "serviceMonitor"
}

// SelectsWorkloads is true for the kinds that pick Services or Pods by
// labels and scrape their ports (ServiceMonitor, PodMonitor); a ScrapeConfig
// or a Probe brings its own targets (static, or its own service discovery).
func (k MonitorKind) SelectsWorkloads() bool { return k == ServiceMonitor || k == PodMonitor }

// Scope is how a reader picks monitors of one kind.
type Scope struct {
	// Monitors selects over the monitor's own labels.
	Monitors Selection
	// MonitorsField is the field that holds that selector, for messages.
	MonitorsField *field.Path
	// Namespaces selects over the labels of the monitor's namespace.
	Namespaces      Selection
	NamespacesField *field.Path
	// OwnNamespace, when set, restricts the reader to that one namespace
	// (a Prometheus without a namespace selector).
	OwnNamespace string
	// Allow and Deny are the TA's allowNamespaces / denyNamespaces.
	Allow, Deny map[string]bool
	// MapKeyMistake is set when a v1alpha1 selector, a plain label map, has
	// a key of the v1beta1 shape (matchLabels, matchExpressions): it then
	// asks for a label of that name, which no monitor carries.
	MapKeyMistake string
}

// Reader is anything that turns monitors into scrape jobs: a Target
// Allocator (embedded in a collector, or standalone) or a Prometheus /
// PrometheusAgent.
type Reader struct {
	Meta
	// Allocator is true for TAs, false for Prometheus and PrometheusAgent.
	Allocator bool
	// Active is false when the reader reads no monitor at all: a TA not
	// enabled, or with prometheusCR off.
	Active bool
	Scopes [NumMonitorKinds]Scope

	// owner is the Allocator this reader is part of (nil for Prometheus).
	owner *Allocator
}

// Owner is the Target Allocator the reader is, or nil for a Prometheus or
// PrometheusAgent: rules that find a monitor's readers in an index reach the
// TA's other settings without a scan of every allocator.
func (r *Reader) Owner() *Allocator { return r.owner }

// MissReason is one condition of a reader's scope that a monitor fails.
type MissReason int

const (
	// Inactive: the reader reads no monitor at all.
	Inactive MissReason = iota
	// SelectorUnset: the monitor selector is unset and selects nothing.
	SelectorUnset
	// LabelsUnmet: the monitor's labels miss requirements of the selector.
	LabelsUnmet
	// OtherNamespace: the reader reads only its own namespace.
	OtherNamespace
	// NamespaceLabels: the namespace's labels miss the namespace selector.
	NamespaceLabels
	// NotAllowed: the namespace is not in allowNamespaces.
	NotAllowed
	// Denied: the namespace is in denyNamespaces.
	Denied
	// NamespaceName: the namespace selector asks only about
	// kubernetes.io/metadata.name, which the API server sets on every
	// namespace to its name, and the name misses it: known even where the
	// namespace's other labels are not.
	NamespaceName
)

// Miss is one unmet condition, with what is needed to explain it.
type Miss struct {
	Reason MissReason
	// Field is the reader's field that imposes the condition.
	Field *field.Path
	// Unmet are the selector requirements the labels fail (LabelsUnmet).
	Unmet []string
	// Weight is how many conditions this miss stands for: each unmet
	// requirement of a selector counts, so the nearest reader is the one
	// needing the fewest changes.
	Weight int
}

// ScopeResult is how a monitor fares against a reader's scope.
type ScopeResult struct {
	// Distance is the sum of the misses' weights: 0 means it is read.
	Distance int
	// Misses are filled only when an explanation was asked for.
	Misses []Miss
	// OnlyNamespaceLabels is true when every miss is NamespaceLabels.
	OnlyNamespaceLabels bool
}

// Scope is the one place that decides whether the reader reads the monitor
// and, when explain is set, why not. ns may be nil when the namespace is
// unknown; it then has no labels. Without explain it allocates nothing, so
// the hot path (indexes, admission) stays cheap.
func (r *Reader) Scope(m *Monitor, ns *Namespace, explain bool) ScopeResult {
	mode := measure
	if explain {
		mode = explainMisses
	}
	return r.scope(m, ns, mode)
}

// scopeMode is how much of the scope to work out: whether the monitor is
// read at all (the first miss settles it), how far it is, or also why.
type scopeMode int

const (
	decide scopeMode = iota
	// decideButNamespaceLabels settles at the first miss that is not about
	// the namespace's labels (MightRead).
	decideButNamespaceLabels
	measure
	explainMisses
)

func (r *Reader) scope(m *Monitor, ns *Namespace, mode scopeMode) ScopeResult {
	var res ScopeResult
	nsLabelMisses := 0
	miss := func(mi Miss) {
		if mi.Weight == 0 {
			mi.Weight = 1
		}
		res.Distance += mi.Weight
		if mi.Reason == NamespaceLabels {
			nsLabelMisses += mi.Weight
		}
		res.OnlyNamespaceLabels = nsLabelMisses == res.Distance
		if mode == explainMisses {
			res.Misses = append(res.Misses, mi)
		}
	}
	done := func() bool {
		switch mode {
		case decide:
			return res.Distance > 0
		case decideButNamespaceLabels:
			return res.Distance > nsLabelMisses
		}
		return false
	}
	if !r.Active {
		miss(Miss{Reason: Inactive})
		if done() {
			return res
		}
	}
	s := &r.Scopes[m.Kind]
	switch {
	case s.Monitors.Nothing():
		miss(Miss{Reason: SelectorUnset, Field: s.MonitorsField})
	case !s.Monitors.Matches(m.Labels):
		mi := Miss{Reason: LabelsUnmet, Field: s.MonitorsField, Weight: 1}
		if mode >= measure {
			n := 0
			reqs, _ := s.Monitors.sel.Requirements()
			set := labels.Set(m.Labels)
			for i := range reqs {
				if !reqs[i].Matches(set) {
					n++
				}
			}
			mi.Weight = n
		}
		if mode == explainMisses {
			mi.Unmet = s.Monitors.Unmet(m.Labels)
		}
		miss(mi)
	}
	if done() {
		return res
	}
	name := m.Ref.Namespace
	switch {
	case s.OwnNamespace != "":
		if name != s.OwnNamespace {
			miss(Miss{Reason: OtherNamespace, Field: s.NamespacesField})
		}
	case !s.Namespaces.All():
		var l map[string]string
		switch {
		case ns != nil && ns.LabelsKnown:
			l = ns.Labels
		case s.Namespaces.OnlyKey(corev1.LabelMetadataName):
			// The API server labels every namespace with its name: that
			// label is known even where the others are not.
			l = map[string]string{corev1.LabelMetadataName: name}
		case ns != nil:
			l = ns.Labels
		}
		if !s.Namespaces.Matches(l) {
			reason := NamespaceLabels
			if s.Namespaces.OnlyKey(corev1.LabelMetadataName) {
				reason = NamespaceName
			}
			miss(Miss{Reason: reason, Field: s.NamespacesField})
		}
	}
	if done() {
		return res
	}
	if s.Allow != nil && !s.Allow[name] {
		miss(Miss{Reason: NotAllowed})
	}
	if s.Deny[name] {
		miss(Miss{Reason: Denied})
	}
	return res
}

// Reads reports whether the reader turns this monitor into jobs.
func (r *Reader) Reads(m *Monitor, ns *Namespace) bool {
	return r.scope(m, ns, decide).Distance == 0
}

// MightRead is Reads where a namespace whose labels are unknown (offline,
// no Namespace manifest) is given the benefit of the doubt: a namespace
// label selector cannot be judged against labels nobody described, but for
// one on kubernetes.io/metadata.name alone (NamespaceName).
func (r *Reader) MightRead(m *Monitor, ns *Namespace) bool {
	res := r.scope(m, ns, decideButNamespaceLabels)
	return res.Distance == 0 || (res.OnlyNamespaceLabels && (ns == nil || !ns.LabelsKnown))
}

// Misses is the distance of the monitor from the reader's scope: 0 means
// it reads it.
func (r *Reader) Misses(m *Monitor, ns *Namespace) int {
	return r.Scope(m, ns, false).Distance
}

// SetList renders a set of names sorted and comma-separated.
func SetList(m map[string]bool) string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

func toSet(list []string) map[string]bool {
	if len(list) == 0 {
		return nil
	}
	out := make(map[string]bool, len(list))
	for _, s := range list {
		out[s] = true
	}
	return out
}
