package model

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
)

// MonitorKind is ServiceMonitor or PodMonitor.
type MonitorKind int

const (
	ServiceMonitor MonitorKind = iota
	PodMonitor
	numMonitorKinds
)

// MonitorKinds lists the kinds in a stable order.
var MonitorKinds = []MonitorKind{ServiceMonitor, PodMonitor}

func (k MonitorKind) String() string {
	if k == PodMonitor {
		return "PodMonitor"
	}
	return "ServiceMonitor"
}

// lowerCamel is the kind as it appears in field names and job names.
func (k MonitorKind) lowerCamel() string {
	if k == PodMonitor {
		return "podMonitor"
	}
	return "serviceMonitor"
}

// Scope is how a reader picks monitors of one kind.
type Scope struct {
	// Monitors selects over the monitor's own labels.
	Monitors Selection
	// MonitorsField is the field that holds that selector, for messages.
	MonitorsField string
	// Namespaces selects over the labels of the monitor's namespace.
	Namespaces      Selection
	NamespacesField string
	// OwnNamespace, when set, restricts the reader to that one namespace
	// (a Prometheus without a namespace selector).
	OwnNamespace string
	// Allow and Deny are the TA's allowNamespaces / denyNamespaces.
	Allow, Deny map[string]bool
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
	Scopes [numMonitorKinds]Scope
}

// Reads reports whether the reader turns this monitor into jobs. ns may be nil
// when the namespace is unknown; it then has no labels.
func (r *Reader) Reads(m *Monitor, ns *Namespace) bool {
	if !r.Active {
		return false
	}
	s := &r.Scopes[m.Kind]
	return s.Monitors.Matches(m.Labels) && s.coversNamespace(m.Ref.Namespace, ns)
}

// MightRead is Reads where a namespace whose labels are unknown (offline,
// no Namespace manifest) is given the benefit of the doubt: a namespace
// label selector cannot be judged against labels nobody described.
func (r *Reader) MightRead(m *Monitor, ns *Namespace) bool {
	if !r.Active {
		return false
	}
	s := &r.Scopes[m.Kind]
	if !s.Monitors.Matches(m.Labels) {
		return false
	}
	if ns == nil || !ns.LabelsKnown {
		return s.coversNamespaceName(m.Ref.Namespace)
	}
	return s.coversNamespace(m.Ref.Namespace, ns)
}

// coversNamespaceName checks what a namespace's name alone decides: the
// own-namespace restriction and the allow / deny lists.
func (s *Scope) coversNamespaceName(name string) bool {
	if s.OwnNamespace != "" && name != s.OwnNamespace {
		return false
	}
	if s.Allow != nil && !s.Allow[name] {
		return false
	}
	return !s.Deny[name]
}

func (s *Scope) coversNamespace(name string, ns *Namespace) bool {
	if !s.coversNamespaceName(name) {
		return false
	}
	if s.OwnNamespace == "" && !s.Namespaces.All() {
		var l map[string]string
		if ns != nil {
			l = ns.Labels
		}
		if !s.Namespaces.Matches(l) {
			return false
		}
	}
	return true
}

// Misses counts the conditions the monitor fails for this reader (each unmet
// selector requirement counts): 0 means it reads it. It allocates nothing,
// so ranking many readers stays cheap; WhyNot explains the chosen one.
func (r *Reader) Misses(m *Monitor, ns *Namespace) int {
	n := 0
	if !r.Active {
		n++
	}
	s := &r.Scopes[m.Kind]
	if s.Monitors.Nothing() {
		n++
	} else {
		reqs, _ := s.Monitors.sel.Requirements()
		set := labels.Set(m.Labels)
		for i := range reqs {
			if !reqs[i].Matches(set) {
				n++
			}
		}
	}
	name := m.Ref.Namespace
	if s.OwnNamespace != "" {
		if name != s.OwnNamespace {
			n++
		}
	} else if !s.Namespaces.All() {
		var l map[string]string
		if ns != nil {
			l = ns.Labels
		}
		if !s.Namespaces.Matches(l) {
			n++
		}
	}
	if s.Allow != nil && !s.Allow[name] {
		n++
	}
	if s.Deny[name] {
		n++
	}
	return n
}

// WhyNot lists why the reader does not read the monitor (empty: it does),
// each reason phrased so that the fix is apparent.
func (r *Reader) WhyNot(m *Monitor, ns *Namespace) []string {
	var out []string
	if !r.Active {
		out = append(out, "it reads no monitors (target allocator or prometheusCR not enabled)")
	}
	s := &r.Scopes[m.Kind]
	switch {
	case s.Monitors.Nothing():
		out = append(out, fmt.Sprintf("%s is unset (selects no %s)", short(s.MonitorsField), m.Kind))
	default:
		if unmet := s.Monitors.Unmet(m.Labels); len(unmet) > 0 {
			out = append(out, fmt.Sprintf("does not match %s (needs %s)", short(s.MonitorsField), strings.Join(unmet, ", ")))
		}
	}
	nsName := m.Ref.Namespace
	switch {
	case s.OwnNamespace != "":
		if nsName != s.OwnNamespace {
			out = append(out, fmt.Sprintf("%s is unset, so it reads only its own namespace %s", short(s.NamespacesField), s.OwnNamespace))
		}
	case !s.Namespaces.All():
		var nsLabels map[string]string
		if ns != nil {
			nsLabels = ns.Labels
		}
		if !s.Namespaces.Matches(nsLabels) {
			out = append(out, fmt.Sprintf("namespace %s does not match %s %s (namespace labels: %s)",
				nsName, short(s.NamespacesField), s.Namespaces, FormatLabels(nsLabels)))
		}
	}
	if s.Allow != nil && !s.Allow[nsName] {
		out = append(out, fmt.Sprintf("namespace %s is not in allowNamespaces (%s)", nsName, SetList(s.Allow)))
	}
	if s.Deny[nsName] {
		out = append(out, fmt.Sprintf("namespace %s is in denyNamespaces", nsName))
	}
	return out
}

// short is the last element of a field path, for one-line messages.
func short(field string) string {
	if i := strings.LastIndexByte(field, '.'); i >= 0 {
		return field[i+1:]
	}
	return field
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
