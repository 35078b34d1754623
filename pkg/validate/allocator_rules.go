package validate

import (
	"net"
	"net/url"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ta-guard/ta-guard/internal/cluster"
	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/internal/policy"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

// allocatorRules: TA001-TA007 on the new state, TA011 on the transition.
func (ev *evaluation) allocatorRules(a *model.Allocator) {
	if ev.req.Operation != Delete {
		ev.allocatorState(a)
	}
	if ev.before != nil {
		if old, ok := ev.req.OldObject.(*model.Allocator); ok {
			var cur *model.Allocator
			if ev.req.Operation != Delete {
				cur = a
			}
			ev.orphanedByChange(old, cur)
		}
	}
}

func (ev *evaluation) allocatorState(a *model.Allocator) {
	if a.Generated != "" {
		// The operator writes that collector: nothing in it is the user's
		// to fix. It counts as attached to its TargetAllocator (TA013).
		return
	}
	block := a.Field // spec.targetAllocator, or spec for a TargetAllocator
	if !(a.Standalone && EmbeddedCopy(ev.after, a)) {
		// The operator's copy of a collector's TA serves the collector's
		// scrape configs: judged on the collector.
		ev.collectorPlaceholders(a)
		ev.collectorCredentials(a)
	}
	if a.Attached() {
		ev.attachedCollector(a)
		return
	}
	if a.Standalone && EmbeddedCopy(ev.after, a) {
		return // the operator's own copy of a collector's TA: judged on the collector
	}
	if !a.Enabled {
		switch {
		case a.DisabledOnPurpose:
			// Settings kept for later beside enabled: false are not a
			// mistake: nothing was meant to run.
			ev.pass(rules.TA001, "", func() string { return ta001OffOnPurposeText(block) })
		case len(a.Settings) > 0:
			what, fix := ta001SettingsText(block, a.Settings)
			f := ev.add(rules.TA001, "", "", what, fix)
			f.Field = block.Child("enabled")
		default:
			ev.pass(rules.TA001, "", func() string { return ta001NothingText(block) })
		}
		if !a.Standalone {
			ev.manualTAEndpoint(a)
		}
		return
	}
	ev.pass(rules.TA001, "", func() string { return ta001OnText(a.Standalone, block) })
	cr := block.Child("prometheusCR")
	if !a.PrometheusCR {
		ev.prometheusCROff(a, cr)
	} else {
		ev.pass(rules.TA002, "", ta002OnText)
		for _, k := range model.MonitorKinds {
			ev.selectorRule(a, k)
		}
		ev.leftUnread(a)
		ev.readButBlind(a)
	}
	if !a.Standalone {
		ev.modeRules(a)
		ev.receiverRules(a)
	}
	ev.perNodeStatic(a)
	var attached []*model.Allocator
	if a.Standalone {
		attached = AttachedCollectors(ev.after, a)
		ev.unattached(a, attached)
	}
	// A standalone TA without attached collectors is TA013's: the collectors
	// that would feed it may be applied a moment later.
	if !a.PrometheusCR && a.ScrapeConfigs == 0 && !hasScrapeConfigs(attached) && !(a.Standalone && len(attached) == 0) {
		what, fix := ta006Text(a.Standalone, cr)
		ev.add(rules.TA006, "", "", what, fix).Field = cr.Child("enabled")
	}
	if a.AllowAndDeny {
		what, fix := ta007Text(cr)
		ev.add(rules.TA007, "", "", what, fix).Field = cr.Child("denyNamespaces")
	}
}

// prometheusCROff is TA002: discovery is off although the user configured it,
// or although monitors exist that it would read.
func (ev *evaluation) prometheusCROff(a *model.Allocator, cr *field.Path) {
	n, example := 0, ""
	if len(a.CRSettings) == 0 {
		// Would it read anything if it were on?
		probe := a.Reader
		probe.Active = true
		for _, k := range model.MonitorKinds {
			if probe.Scopes[k].Monitors.Nothing() {
				continue
			}
			for _, m := range ev.after.Monitors(k, probe.Scopes[k].Monitors.Selector()) {
				if ev.expired() {
					return
				}
				if probe.Reads(m, ev.after.Namespace(m.Ref.Namespace)) {
					if example == "" && ev.shows(m.Ref) {
						example = m.Ref.String()
					}
					n++
				}
			}
		}
		if n == 0 {
			ev.pass(rules.TA002, "", func() string { return ta002StaticOnlyText(a.ScrapeConfigs) })
			return
		}
	}
	what, fix := ta002Text(a.CRSettings, cr, n, example)
	ev.add(rules.TA002, "", "", what, fix).Field = cr.Child("enabled")
}

// ownTargetsSelector is TA003 for ScrapeConfigs and Probes: it fires only
// when such objects exist that no reader reads and {} would.
func (ev *evaluation) ownTargetsSelector(a *model.Allocator, k model.MonitorKind) {
	s := &a.Scopes[k]
	probe := a.Reader
	probe.Active = true
	probe.Scopes[k].Monitors = model.SelectAll("{}")
	// One a Prometheus (or another TA) reads is not meant for this TA.
	example := ev.unreadBy(&probe, k)
	if example == nil {
		return
	}
	shown := ev.shows(example.Ref)
	what, fix := ta003OwnTargetsText(k, s.MonitorsField, a.Ref.APIVersion == "opentelemetry.io/v1alpha1", example.Ref, shown)
	f := ev.add(rules.TA003, "", "", what, fix)
	f.Field = s.MonitorsField
	f.Related = ev.related(rules.RoleMonitor, []model.Ref{example.Ref})
	if ev.trace {
		ev.checks[len(ev.checks)-1].MonitorKind = k.String()
	}
	ev.scopeFact(a, k)
}

// selectorRule is TA003 for one monitor kind, and with it the facts of the
// allocator's scope for that kind: the selectors and the monitors it reads.
func (ev *evaluation) selectorRule(a *model.Allocator, k model.MonitorKind) {
	s := &a.Scopes[k]
	kind := k.String()
	if !k.SelectsWorkloads() && s.Monitors.Nothing() {
		// Most setups have no ScrapeConfig or Probe, and an unset selector
		// is the default: only a TA that would read one that exists is blind.
		ev.ownTargetsSelector(a, k)
		return
	}
	switch {
	case s.Monitors.Nothing():
		what, fix := ta003UnsetText(s.MonitorsField, k)
		f := ev.add(rules.TA003, "", "", what, fix)
		f.Field = s.MonitorsField
		if ev.trace {
			ev.checks[len(ev.checks)-1].MonitorKind = kind // the check is per kind; the finding names the field
		}
		// Blind now only if a monitor of that kind exists that {} would
		// read and no reader reads: one read by another TA or a Prometheus
		// is not lost, and one applied later is a risk, not a loss.
		probe := a.Reader
		probe.Active = true
		probe.Scopes[k].Monitors = model.SelectAll("{}")
		if m := ev.unreadBy(&probe, k); m == nil {
			f.AtRisk = true
		} else {
			// The monitor lost now is named, so that whoever applies
			// the collector last is told of it (its TA101 was printed
			// before).
			f.What += ta003LostText(k, m.Ref)
			f.Related = ev.related(rules.RoleMonitor, []model.Ref{m.Ref})
		}
	case s.Monitors.All():
		ev.pass(rules.TA003, kind, func() string { return ta003AllText(s.Monitors, k) })
	default:
		ev.pass(rules.TA003, kind, func() string { return ta003MatchText(s.Monitors, k) })
	}
	ev.scopeFact(a, k)
	if ev.trace && !s.Monitors.Nothing() {
		for _, m := range ev.after.Monitors(k, s.Monitors.Selector()) {
			if ev.expired() {
				return
			}
			if a.Reads(m, ev.after.Namespace(m.Ref.Namespace)) {
				ev.result.Reads = append(ev.result.Reads, m)
			}
		}
	}
}

// scopeFact records, for diagnose, which namespaces the TA looks in for a
// kind.
func (ev *evaluation) scopeFact(a *model.Allocator, k model.MonitorKind) {
	if !ev.trace {
		return
	}
	s := &a.Scopes[k]
	ev.scope(k.String(), func() string { return scopeText(s) })
}

func (ev *evaluation) modeRules(a *model.Allocator) {
	mode := func() *field.Path { return field.NewPath("spec", "mode") }
	switch {
	case a.Mode != "statefulset" && a.Mode != "daemonset":
		what, fix := ta004ModeText(a.Mode)
		ev.add(rules.TA004, "", "", what, fix).Field = mode()
	case a.Mode == "daemonset" && a.AllocationStrategy != model.StrategyPerNode:
		what, fix := ta004DaemonsetText(a.AllocationStrategy)
		ev.add(rules.TA004, "", "", what, fix).Field = a.Field.Child("allocationStrategy")
	case a.AllocationStrategy == model.StrategyPerNode && a.Mode != "daemonset":
		what, fix := ta004PerNodeText(a.Mode)
		ev.add(rules.TA004, "", "", what, fix).Field = mode()
	default:
		ev.pass(rules.TA004, "", func() string { return ta004PassText(a.Mode, a.AllocationStrategy) })
	}
}

func (ev *evaluation) receiverRules(a *model.Allocator) {
	r := a.Receiver
	switch {
	case r == nil || !r.Present:
		what, fix := ta005MissingText(r)
		ev.add(rules.TA005, "", "", what, fix).Field = field.NewPath("spec", "config", "receivers")
	case !r.InMetricsPipeline:
		what, fix := ta005NoPipelineText()
		ev.add(rules.TA005, "", "", what, fix).Field = field.NewPath("spec", "config", "service", "pipelines")
	default:
		ev.pass(rules.TA005, "", ta005PassText)
	}
}

// orphanedByChange is TA011: monitors the old allocator read that no
// allocator reads after the change.
func (ev *evaluation) orphanedByChange(old, cur *model.Allocator) {
	if !old.Active {
		return
	}
	var orphans []*model.Monitor
	for _, k := range model.MonitorKinds {
		for _, m := range ev.before.Monitors(k, old.Scopes[k].Monitors.Selector()) {
			if ev.expired() {
				return
			}
			if !old.Reads(m, ev.before.Namespace(m.Ref.Namespace)) {
				continue
			}
			if cur != nil && cur.Reads(m, ev.after.Namespace(m.Ref.Namespace)) {
				continue
			}
			if !readByAllocator(ev.after.ReadersOf(m)) {
				orphans = append(orphans, m)
			}
		}
	}
	if len(orphans) == 0 {
		return
	}
	// The first monitor the reader may see explains why the new state
	// misses it.
	shown, list := ev.listMonitors(orphans, "monitor")
	related := ev.related(rules.RoleMonitor, refsOf(orphans, func(m *model.Monitor) model.Ref { return m.Ref }))
	var first model.Ref
	var why []string
	if cur != nil && len(shown) > 0 {
		first = shown[0].Ref
		why = whyNot(&cur.Reader, shown[0], ev.after.Namespace(first.Namespace), false)
	}
	what, fix := ta011Text(cur == nil, len(orphans), list, first, why)
	ev.add(rules.TA011, "", "", what, fix).Related = related
}

// leftUnread is TA015, the collector's side of TA101: monitors already in
// the TA's namespaces that no reader reads, for which this TA is the one
// TA101 would name. Whichever of the two was applied last, the person
// applying it is told: a monitor applied before its collector gets its
// TA101 only in the audit, so the collector's apply says it instead.
// Monitors opted out of TA101 are not counted; a kind whose selector is
// unset is TA003's.
func (ev *evaluation) leftUnread(a *model.Allocator) {
	if ev.req.Operation == Delete || !a.Active {
		return
	}
	active := activeAllocators(ev.after)
	old, _ := ev.req.OldObject.(*model.Allocator)
	if ev.before == nil || old == nil || !old.Active {
		old = nil
	}
	reported := false
	defer func() {
		if !reported {
			ev.pass(rules.TA015, "", ta015PassText)
		}
	}()
	for _, k := range model.MonitorKinds {
		s := &a.Scopes[k]
		if s.Monitors.Nothing() {
			continue
		}
		var unread []*model.Monitor
		// Whether or not the view has seen this change, a monitor read by
		// nobody after it is read by nobody in the view, or was read by the
		// old version alone (TA011's): the view's list is enough, and the
		// checks below are against the state after the change.
		for _, m := range ev.view.UnreadMonitors(k) {
			if ev.expired() {
				return
			}
			if skip := policy.Skips(m.Annotations); skip["*"] || skip[string(rules.TA101)] {
				continue
			}
			ns := ev.after.Namespace(m.Ref.Namespace)
			if !closestWithoutTie(a, active, m, ns) || !onlySelectionUnmet(a.Scope(m, ns, true)) {
				continue
			}
			if old != nil && old.Reads(m, ev.before.Namespace(m.Ref.Namespace)) {
				continue // read before this change: TA011 names it
			}
			unread = append(unread, m)
		}
		if len(unread) > 0 {
			ev.reportUnread(a, k, unread)
			reported = true
		}
	}
}

// closestWithoutTie: TA101 on the monitor would name a, and no other TA is
// as close. A monitor that several TAs miss by as much (a label none of
// them finds, in a namespace none of them lives in) is not one TA's to
// report, whatever order TA101 breaks the tie in: telling every team's
// collector about it would be noise. Most monitors are settled by the
// first TA that is closer or as close.
func closestWithoutTie(a *model.Allocator, active []*model.Allocator, m *model.Monitor, ns *model.Namespace) bool {
	own := rank(a, m, a.Scope(m, ns, false))
	for _, b := range active {
		if b.Ref == a.Ref {
			continue
		}
		if sb := b.Scope(m, ns, false); silences(sb, ns) || rank(b, m, sb) <= own {
			return false
		}
	}
	return true
}

// onlySelectionUnmet: the reader reads the monitor's kind, and only the
// monitor's labels or its namespace keep it out (not an unset selector,
// TA003's, nor a reader that reads nothing).
func onlySelectionUnmet(sc model.ScopeResult) bool {
	if sc.Distance == 0 {
		return false
	}
	for _, mi := range sc.Misses {
		switch mi.Reason {
		case model.Inactive, model.SelectorUnset:
			return false
		}
	}
	return true
}

// namespaceMiss returns the first miss of the monitor's namespace, if any.
func namespaceMiss(sc model.ScopeResult) (model.Miss, bool) {
	for _, mi := range sc.Misses {
		if mi.Reason != model.LabelsUnmet {
			return mi, true
		}
	}
	return model.Miss{}, false
}

func (ev *evaluation) reportUnread(a *model.Allocator, k model.MonitorKind, unread []*model.Monitor) {
	s := &a.Scopes[k]
	t := unreadText{kind: k, n: len(unread), inNamespaces: true, field: s.MonitorsField}
	var shown []*model.Monitor
	shown, t.list = ev.listMonitors(unread, k.String())
	// Monitors kept out by their namespace are no longer "in its
	// namespaces": the count says so only when none is.
	for _, m := range unread {
		if _, ok := namespaceMiss(a.Scope(m, ev.after.Namespace(m.Ref.Namespace), true)); ok {
			t.inNamespaces = false
			if t.nsMiss == nil && ev.shows(m.Ref) {
				t.nsMiss = m
			}
		}
	}
	switch {
	case t.nsMiss != nil:
		t.why = whyNot(&a.Reader, t.nsMiss, ev.after.Namespace(t.nsMiss.Ref.Namespace), false)
	case len(shown) > 0:
		t.first, t.unmet = shown[0], s.Monitors.Unmet(shown[0].Labels)
	}
	f := ev.add(rules.TA015, "", "", t.what(), t.fix())
	f.Field = s.MonitorsField
	f.Related = ev.related(rules.RoleMonitor, refsOf(unread, func(m *model.Monitor) model.Ref { return m.Ref }))
}

func readByAllocator(rs []*model.Reader) bool {
	for _, r := range rs {
		if r.Allocator {
			return true
		}
	}
	return false
}

// activeAllocators are the TAs that read monitors, without the operator's
// copies of embedded TAs (they read what their collector reads).
func activeAllocators(v cluster.View) []*model.Allocator {
	var out []*model.Allocator
	for _, a := range v.Allocators() {
		if a.Active && !(a.Standalone && EmbeddedCopy(v, a)) {
			out = append(out, a)
		}
	}
	return out
}

// EmbeddedCopy reports whether a TargetAllocator is the one the operator
// creates for a collector's embedded TA: same namespace and name as a
// collector with targetAllocator.enabled.
func EmbeddedCopy(v cluster.View, ta *model.Allocator) bool {
	for _, a := range v.Allocators() {
		if !a.Standalone && a.Enabled && a.Ref.Namespace == ta.Ref.Namespace && a.Ref.Name == ta.Ref.Name {
			return true
		}
	}
	return false
}

// AttachedCollectors are the collectors of a standalone TargetAllocator's
// namespace labelled opentelemetry.io/target-allocator: <its name>.
func AttachedCollectors(v cluster.View, ta *model.Allocator) []*model.Allocator {
	var out []*model.Allocator
	for _, a := range v.Allocators() {
		if a.Attached() && a.AttachedTo == ta.Ref.Name && a.Ref.Namespace == ta.Ref.Namespace {
			out = append(out, a)
		}
	}
	return out
}

func hasScrapeConfigs(cs []*model.Allocator) bool {
	for _, c := range cs {
		if c.ScrapeConfigs > 0 {
			return true
		}
	}
	return false
}

// attachedCollector: a collector that feeds a standalone TargetAllocator
// runs no TA of its own (no TA001), but the TA it names must exist (TA012)
// and its prometheus receiver is what receives the targets (TA005).
func (ev *evaluation) attachedCollector(c *model.Allocator) {
	ns := c.Ref.Namespace
	if ev.after.Described(ns) {
		exists := false
		for _, a := range ev.after.Allocators() {
			if a.Standalone && a.Ref.Namespace == ns && a.Ref.Name == c.AttachedTo {
				exists = true
				break
			}
		}
		if !exists {
			what, fix := ta012MissingText(ns, c.AttachedTo)
			f := ev.add(rules.TA012, "", "", what, fix)
			f.Field = field.NewPath("metadata", "labels").Key(model.AttachLabel)
			f.Related = rules.RelatedAs(rules.RoleMissing, model.Ref{APIVersion: "opentelemetry.io/v1alpha1", Kind: "TargetAllocator", Namespace: ns, Name: c.AttachedTo})
		} else {
			ev.pass(rules.TA012, "", func() string { return ta012ExistsText(c.AttachedTo) })
		}
	}
	ev.receiverRules(c)
}

// manualTAEndpoint is TA012 for a collector whose prometheus receiver is
// pointed by hand (target_allocator.endpoint) at a TA Service of the cluster
// that does not exist: the receiver gets no targets. The operator writes the
// endpoint itself only for an enabled TA, so only then is it not the user's.
func (ev *evaluation) manualTAEndpoint(c *model.Allocator) {
	if c.Receiver == nil || c.Receiver.TAEndpoint == "" {
		return
	}
	ns, name, ok := serviceOfURL(c.Receiver.TAEndpoint, c.Ref.Namespace)
	if !ok || !ev.after.Described(ns) {
		return // an address outside the cluster, a template, or a namespace the input does not describe
	}
	for _, s := range ev.after.Services(model.NamespaceSet{Names: []string{ns}}, labels.Everything()) {
		if s.Ref.Name == name {
			ev.pass(rules.TA012, "", func() string { return ta012EndpointExistsText(ns, name) })
			return
		}
	}
	what, fix := ta012EndpointText(c.Receiver.TAEndpoint, ns, name)
	f := ev.add(rules.TA012, "", "", what, fix)
	f.Field = field.NewPath("spec", "config", "receivers", "prometheus", "target_allocator", "endpoint")
	f.Related = rules.RelatedAs(rules.RoleMissing, model.Ref{APIVersion: "v1", Kind: "Service", Namespace: ns, Name: name})
}

// serviceOfURL reads a cluster Service from a URL's host: svc, svc.ns,
// svc.ns.svc or svc.ns.svc.<cluster domain>. Anything else (an IP, an
// external name, an environment variable) is not judged.
func serviceOfURL(raw, defaultNS string) (ns, name string, ok bool) {
	if strings.Contains(raw, "${") {
		return "", "", false
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" || net.ParseIP(u.Hostname()) != nil {
		return "", "", false
	}
	parts := strings.Split(u.Hostname(), ".")
	switch {
	case len(parts) == 1:
		return defaultNS, parts[0], true
	case len(parts) == 2, len(parts) >= 3 && parts[2] == "svc":
		return parts[1], parts[0], true
	}
	return "", "", false
}

// unattached is TA013: a standalone TargetAllocator whose targets go to no
// collector.
func (ev *evaluation) unattached(ta *model.Allocator, attached []*model.Allocator) {
	if len(attached) > 0 {
		ev.pass(rules.TA013, "", func() string { return ta013PassText(attached) })
		return
	}
	if !ev.after.Described(ta.Ref.Namespace) {
		return
	}
	what, fix := ta013Text(ta)
	ev.add(rules.TA013, "", "", what, fix)
}

// unreadBy returns a monitor of the kind that the reader might read and no
// reader reads: one lost now, not merely at risk. nil past the deadline.
func (ev *evaluation) unreadBy(r *model.Reader, k model.MonitorKind) *model.Monitor {
	for _, m := range ev.after.Monitors(k, r.Scopes[k].Monitors.Selector()) {
		if ev.expired() {
			return nil
		}
		// The name-and-label test goes first: it is free, the index
		// look-up of the object's readers is not.
		if r.MightRead(m, ev.after.Namespace(m.Ref.Namespace)) && len(ev.after.ReadersOf(m)) == 0 {
			return m
		}
	}
	return nil
}
