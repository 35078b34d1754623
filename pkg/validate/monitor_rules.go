package validate

import (
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

// monitorRules: TA101-TA105 on a ServiceMonitor or PodMonitor. A deleted
// monitor blinds nothing by accident.
//
// blind: the audience may not read some namespace the monitor looks in
// (blindTo); only what the monitor itself says is judged.
func (ev *evaluation) monitorRules(m *model.Monitor, blind bool) {
	if ev.req.Operation == Delete {
		return
	}
	ev.notSelected(m)
	if blind || ev.expired() {
		return
	}
	ev.monitorPlaceholders(m)
	ev.monitorCredentials(m)
	ev.namespacesExist(m)
	if !m.Kind.SelectsWorkloads() {
		ev.sdSelectorsMatch(m)
		return // its other targets are its own: nothing of the cluster to match
	}
	if m.Selector.Invalid() {
		return // TA301 says why it matches nothing; its ports cannot be judged
	}
	if m.Kind == model.ServiceMonitor {
		svcs := ev.after.Services(m.Namespaces, m.Selector.Selector())
		if len(svcs) == 0 && describedSet(ev.after, m.Namespaces) {
			ev.matchesNothing(m, "Service", servicesNearMiss(ev, m))
		}
		ev.serviceMonitorPorts(m, svcs)
		ev.relabelDrops(m, svcs, nil)
		return
	}
	pods := ev.after.Pods(m.Namespaces, m.Selector.Selector())
	if len(pods) == 0 && describedSet(ev.after, m.Namespaces) {
		ev.matchesNothing(m, "Pod", podsNearMiss(ev, m))
	}
	ev.podMonitorPorts(m, pods)
	ev.relabelDrops(m, nil, pods)
}

// notSelected is TA101.
func (ev *evaluation) notSelected(m *model.Monitor) {
	if rs := ev.readersOf(m); len(rs) > 0 {
		ev.pass(rules.TA101, "", func() string { return readByText(rs) })
		return
	}
	ns := ev.after.Namespace(m.Ref.Namespace)
	best, n := closestAllocator(activeAllocators(ev.after), m, ns)
	if best == nil {
		return
	}
	shown := ev.shows(best.Ref)
	// Which TA that is, the namespaces it lists and the labels its
	// selectors ask for belong to a namespace the user may not read: the
	// finding says what kind of miss it is, its owners the rest.
	bestWhy := whyNot(&best.Reader, m, ns, !shown)
	sc := &best.Scopes[m.Kind]
	t := notSelectedText{kind: m.Kind, ta: best.Ref, shown: shown, why: bestWhy, checked: n,
		field: sc.MonitorsField, shape: sc.MapKeyMistake != ""}
	// When the selector's shape is the mistake, not the monitor's labels,
	// no labels are named.
	if !t.shape {
		if unmet := sc.Monitors.Unmet(m.Labels); shown && len(unmet) > 0 && !sc.Monitors.Nothing() {
			t.unmet = unmet
		}
	}
	f := ev.add(rules.TA101, "", "", t.what(), t.fix())
	f.Field = field.NewPath("metadata", "labels")
	f.Related = ev.related(rules.RoleReader, []model.Ref{best.Ref})
	if len(f.Related) > 0 {
		f.Closest = &f.Related[0].Ref
	}
	f.Reasons = bestWhy
}

// closestAllocator is the TA that TA101 names for a monitor no reader
// reads: the first by rank; n is how many were weighed. It is nil when
// there is nothing to say: no TA discovers monitors, one reads it after
// all, or only the namespace's labels, which the input does not give,
// could keep it out.
func closestAllocator(active []*model.Allocator, m *model.Monitor, ns *model.Namespace) (best *model.Allocator, n int) {
	bestRank := 0
	for _, a := range active {
		sc := a.Scope(m, ns, false)
		if silences(sc, ns) {
			return nil, 0
		}
		n++
		if r := rank(a, m, sc); best == nil || r < bestRank {
			best, bestRank = a, r
		}
	}
	return best, n
}

// rank orders TAs by how close a monitor is to being read by them, as
// TA101 and TA015 name them: fewer unmet conditions first and, between
// equals, one in the monitor's own namespace; the earlier TA wins a tie.
func rank(a *model.Allocator, m *model.Monitor, sc model.ScopeResult) int {
	r := 2 * sc.Distance
	if a.Ref.Namespace != m.Ref.Namespace {
		r++
	}
	return r
}

// silences: the TA reads the monitor, or only the namespace's labels,
// which the input does not give, could keep it out; TA101 says nothing.
func silences(sc model.ScopeResult, ns *model.Namespace) bool {
	return sc.Distance == 0 || (sc.OnlyNamespaceLabels && (ns == nil || !ns.LabelsKnown))
}

// namespacesExist is TA105.
func (ev *evaluation) namespacesExist(m *model.Monitor) {
	if !m.Kind.SelectsWorkloads() {
		ev.namespaceRefsExist(m)
		return
	}
	if m.Namespaces.All {
		return
	}
	var gone []string
	for _, n := range m.MatchNames {
		if model.HasPlaceholder(n) {
			continue // TA016's
		}
		if ev.after.Described(n) && ev.after.Namespace(n) == nil {
			gone = append(gone, n)
		}
	}
	if len(gone) == 0 {
		return
	}
	what, fix := matchNamesGoneText(gone)
	f := ev.add(rules.TA105, "", "", what, fix)
	f.Field = field.NewPath("spec", "namespaceSelector", "matchNames")
	for _, n := range gone {
		f.Related = append(f.Related, rules.Related{Ref: model.Ref{APIVersion: "v1", Kind: "Namespace", Name: n}, Role: rules.RoleMissing})
	}
}

// sdSelectorsMatch is TA102 for a ScrapeConfig whose Kubernetes service
// discovery looks for Services or Pods by labels that none has.
func (ev *evaluation) sdSelectorsMatch(m *model.Monitor) {
	for _, sd := range m.SDSelectors {
		if !describedSet(ev.after, sd.Namespaces) {
			continue // they may be where the input does not look
		}
		var n int
		kind := "Service"
		if sd.Role == "pod" {
			kind = "Pod"
			n = len(ev.after.Pods(sd.Namespaces, sd.Selector))
		} else {
			n = len(ev.after.Services(sd.Namespaces, sd.Selector))
		}
		if n > 0 {
			continue
		}
		what, fix := sdFindsNothingText(sd, kind)
		f := ev.add(rules.TA102, m.Jobs()[0], "", what, fix)
		f.Field = sd.Field
	}
}

// namespaceRefsExist is TA105 for the namespaces a ScrapeConfig's
// Kubernetes service discovery or a Probe's ingress selector names.
func (ev *evaluation) namespaceRefsExist(m *model.Monitor) {
	var gone []string
	var at *field.Path
	for _, r := range m.NamespaceRefs {
		if ev.after.Described(r.Name) && ev.after.Namespace(r.Name) == nil {
			gone = append(gone, r.Name)
			if at == nil {
				at = r.Field
			}
		}
	}
	if len(gone) == 0 {
		return
	}
	what, fix := namespaceRefsGoneText(at, gone)
	f := ev.add(rules.TA105, "", "", what, fix)
	f.Field = at
	for _, n := range gone {
		f.Related = append(f.Related, rules.Related{Ref: model.Ref{APIVersion: "v1", Kind: "Namespace", Name: n}, Role: rules.RoleMissing})
	}
}

// matchesNothing is TA102, with near misses as hints.
func (ev *evaluation) matchesNothing(m *model.Monitor, kind string, hints []string) {
	// Nobody installs the kubelet's Service by hand: without a
	// Prometheus Operator to create it, this monitor finds nothing.
	kubelet := kind == "Service" && selectsKubelet(m)
	// Offline: the operator may run from manifests not given.
	offline := kubelet && !ev.after.Described("")
	what, fix := matchesNothingText(m, kind, hints, kubelet, offline)
	f := ev.add(rules.TA102, "", "", what, fix)
	f.Field = field.NewPath("spec", "selector")
	f.Reasons = hints
}

// selectsKubelet: a ServiceMonitor for the kubelet selects the Service the
// Prometheus Operator creates for it, labelled k8s-app or
// app.kubernetes.io/name kubelet.
func selectsKubelet(m *model.Monitor) bool {
	if m.Kind != model.ServiceMonitor {
		return false
	}
	reqs, ok := m.Selector.Selector().Requirements()
	if !ok {
		return false
	}
	for _, r := range reqs {
		if (r.Key() == "k8s-app" || r.Key() == "app.kubernetes.io/name") && r.Values().Has("kubelet") {
			return true
		}
	}
	return false
}

const maxHints = 3

// nearMisses finds objects the monitor almost selects: the right labels in
// another namespace, or its own namespaces with one requirement unmet. Those
// the reader may not see are only counted: their name, and which label they
// lack (which tells the labels they have), stay out.
func nearMisses[T model.Object](ev *evaluation, m *model.Monitor, kind string, elsewhere, inScope []T) []string {
	var hints []string
	hiddenElsewhere, hiddenInScope := 0, 0
	if !m.Namespaces.All {
		for _, o := range elsewhere {
			if len(hints)+min(hiddenElsewhere, 1) == maxHints {
				break
			}
			r := o.GetMeta().Ref
			if !m.Namespaces.Has(r.Namespace) {
				if !ev.shows(r) {
					hiddenElsewhere++
					continue
				}
				hints = append(hints, nearMissElsewhereText(kind, r))
			}
		}
	}
	if hiddenElsewhere > 0 {
		hints = append(hints, nearMissesElsewhereUnseenText(kind, hiddenElsewhere))
	}
	limit := 2 * maxHints
	for _, o := range inScope {
		if len(hints)+min(hiddenInScope, 1) == limit {
			break
		}
		meta := o.GetMeta()
		if unmet := m.Selector.Unmet(meta.Labels); len(unmet) == 1 {
			if !ev.shows(meta.Ref) {
				hiddenInScope++
				continue
			}
			hints = append(hints, nearMissLacksText(kind, meta.Ref, unmet[0]))
		}
	}
	if hiddenInScope > 0 {
		hints = append(hints, nearMissesUnseenText(kind, hiddenInScope))
	}
	return hints
}

func servicesNearMiss(ev *evaluation, m *model.Monitor) []string {
	var elsewhere, inScope []*model.Service
	if !m.Namespaces.All {
		elsewhere = ev.after.ServicesOutside(m.Namespaces, m.Selector.Selector(), maxHints)
		// Only the monitor's own namespaces are scanned label by label, never
		// the whole cluster.
		inScope = ev.after.Services(m.Namespaces, labels.Everything())
	}
	return nearMisses(ev, m, "Service", elsewhere, inScope)
}

func podsNearMiss(ev *evaluation, m *model.Monitor) []string {
	var elsewhere, inScope []*model.Pod
	if !m.Namespaces.All {
		elsewhere = ev.after.PodsOutside(m.Namespaces, m.Selector.Selector(), maxHints)
		inScope = ev.after.Pods(m.Namespaces, labels.Everything())
	}
	return nearMisses(ev, m, "Pod", elsewhere, inScope)
}

// serviceMonitorPorts is TA103 and TA104 for a ServiceMonitor.
func (ev *evaluation) serviceMonitorPorts(m *model.Monitor, svcs []*model.Service) {
	for i, ep := range m.Endpoints {
		if ev.expired() {
			return
		}
		mode, name, num := ep.Match(model.ServiceMonitor)
		numeric := mode == model.MatchServicePortName && !ep.IsPattern() && isDigits(name)
		if numeric && onServices(ev.after, ep, svcs) != found {
			what, fix := numericPortText(name)
			ev.addEndpoint(rules.TA104, m, i, what, fix).Field = m.EndpointPath(i).Child("port")
			continue // TA104 says it better than TA103 would
		}
		if len(svcs) == 0 || mode == model.MatchAll || onServices(ev.after, ep, svcs) != missing ||
			!describedSet(ev.after, m.Namespaces) {
			continue // found, or it may be on a Service the input does not describe
		}
		var f *rules.Finding
		if mode == model.MatchServicePortName {
			what, fix := noServicePortText(ev, name, svcs)
			f = ev.addEndpoint(rules.TA103, m, i, what, fix)
			f.Field = m.EndpointPath(i).Child("port")
		} else {
			// The Pods behind a Service are looked up only for those the
			// finding names.
			what, fix := noTargetPortText(ev, mode, name, num, svcs, func(s *model.Service) []*model.Pod { return podsBehind(ev.after, s) })
			f = ev.addEndpoint(rules.TA103, m, i, what, fix)
			f.Field = m.EndpointPath(i).Child("targetPort")
		}
		for _, s := range svcs {
			if ev.shows(s.Ref) {
				f.Related = append(f.Related, rules.Related{Ref: s.Ref, Role: rules.RoleTarget})
			}
		}
	}
}

func serviceRef(s *model.Service) model.Ref { return s.Ref }
func podRef(p *model.Pod) model.Ref         { return p.Ref }

// podMonitorPorts is TA103 for a PodMonitor.
func (ev *evaluation) podMonitorPorts(m *model.Monitor, pods []*model.Pod) {
	if len(pods) == 0 || !describedSet(ev.after, m.Namespaces) {
		return
	}
	for i, ep := range m.Endpoints {
		if ev.expired() {
			return
		}
		mode, name, num := ep.Match(model.PodMonitor)
		if mode == model.MatchAll || onPods(model.PodMonitor, ep, pods) != missing {
			continue
		}
		what, fix := noContainerPortText(ev, mode, name, num, pods, mode == model.MatchContainerPortName && isDigits(name))
		f := ev.addEndpoint(rules.TA103, m, i, what, fix)
		f.Field = m.EndpointPath(i).Child(map[bool]string{true: "portNumber", false: "port"}[mode == model.MatchContainerPortNumber])
	}
}
