package validate

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

// blindJobRules are the monitor rules that say a job of a monitor a TA
// reads has no target now: what a collector applied after its monitors
// completes.
var blindJobRules = map[rules.ID]bool{rules.TA102: true, rules.TA103: true, rules.TA105: true, rules.TA107: true, rules.TA111: true}

// maxReadChecks bounds the monitors one change judges for TA018: past it
// the rest are left to their own findings and the audit (the finding says
// that more were not judged).
const maxReadChecks = 50

// blindMonitor is a monitor with a job that finds no target, and why.
type blindMonitor struct {
	m    *model.Monitor
	why  string
	rule rules.ID
}

// judgeMonitors runs the engine's own monitor rules on each monitor, on
// the view after the change, up to maxReadChecks of them: those with a
// blind job, and whether some were left unjudged.
func (ev *evaluation) judgeMonitors(ms []*model.Monitor) (blind []blindMonitor, left bool) {
	for i, m := range ms {
		if i == maxReadChecks || ev.expired() {
			return blind, true
		}
		res, err := Evaluate(ev.ctx, Request{Operation: Create, Object: m}, ev.after, Options{})
		if err != nil {
			continue // out of time: what was not judged is unknown
		}
		for _, f := range res.Findings {
			if blindJobRules[f.Rule] && f.Action != rules.Off {
				blind = append(blind, blindMonitor{m: m, why: f.What, rule: f.Rule})
				break
			}
		}
	}
	return blind, false
}

// readButBlind is TA018, the collector's side of TA102, TA103, TA105,
// TA107 and TA111, as TA015 is of TA101: a collector or TargetAllocator
// applied after its monitors is the apply that completes their jobs, and
// whoever runs it is told which of the monitors it now reads have jobs
// with no target. Monitors it read before the change were told then, and
// are not repeated.
func (ev *evaluation) readButBlind(a *model.Allocator) {
	if !ev.admission || ev.req.Operation == Delete || !a.Active {
		return
	}
	old, _ := ev.req.OldObject.(*model.Allocator)
	if ev.before == nil || old == nil || !old.Active {
		old = nil
	}
	var read []*model.Monitor
	for _, k := range model.MonitorKinds {
		s := &a.Scopes[k]
		if s.Monitors.Nothing() {
			continue
		}
		for _, m := range ev.after.Monitors(k, s.Monitors.Selector()) {
			if ev.expired() {
				return
			}
			if !a.Reads(m, ev.after.Namespace(m.Ref.Namespace)) {
				continue
			}
			if old != nil && old.Reads(m, ev.before.Namespace(m.Ref.Namespace)) {
				continue // read before: its findings were told then
			}
			read = append(read, m)
			if len(read) > maxReadChecks {
				break
			}
		}
	}
	blind, left := ev.judgeMonitors(read)
	if len(blind) == 0 {
		ev.pass(rules.TA018, "", func() string { return "every monitor it now reads has targets, as far as ta-guard can see" })
		return
	}
	ev.reportBlind(blind, left, "it now reads", "or keep it out of this TA's selectors")
}

// selectedButBlind is TA018 for a Service created after the monitors that
// select it: whoever creates it is told of their jobs that still find no
// target (TA202 names those whose port it lacks).
func (ev *evaluation) selectedButBlind(s *model.Service) {
	if !ev.admission || ev.req.Operation != Create {
		return
	}
	var ms []*model.Monitor
	for _, m := range ev.after.MonitorsSelecting(model.ServiceMonitor, s.Ref.Namespace, s.Labels) {
		if ev.expired() {
			return
		}
		if ev.names(rules.TA202, m.Ref) || !readByAllocator(ev.after.ReadersOf(m)) {
			continue
		}
		ms = append(ms, m)
	}
	blind, left := ev.judgeMonitors(ms)
	if len(blind) > 0 {
		ev.reportBlind(blind, left, "that select it", "or keep this Service out of their selectors")
	}
}

// names reports whether a finding of the rule made so far relates to ref.
func (ev *evaluation) names(id rules.ID, ref model.Ref) bool {
	for _, f := range ev.findings {
		if f.Rule == id && slices.Contains(f.Related, ref) {
			return true
		}
	}
	return false
}

// reportBlind says which monitors have blind jobs. kubectl shows the first
// line of a finding, cut at 256 characters: the monitors are named first,
// and why each is blind follows only for one alone (for several, Reasons
// hold it, and each monitor's own finding).
func (ev *evaluation) reportBlind(blind []blindMonitor, left bool, which, orFix string) {
	var parts, reasons []string
	var related []model.Ref
	for i, b := range blind {
		related = append(related, b.m.Ref)
		if i < maxHints && ev.shows(b.m.Ref) {
			parts = append(parts, fmt.Sprintf("%s %s (%s)", b.m.Kind, b.m.Ref.NamespacedName(), b.rule))
			reasons = append(reasons, fmt.Sprintf("%s %s: %s %s", b.m.Kind, b.m.Ref.NamespacedName(), b.rule, b.why))
		}
	}
	list := strings.Join(parts, ", ")
	if len(parts) == 1 && len(blind) == 1 {
		b := blind[0]
		list = fmt.Sprintf("%s %s (%s: %s)", b.m.Kind, b.m.Ref.NamespacedName(), b.rule, b.why)
	}
	what := fmt.Sprintf("%s %s find no target: %s", plural(len(blind), "monitor"), which, list)
	if len(parts) < len(blind) {
		what += fmt.Sprintf(" and %d more", len(blind)-len(parts))
	}
	if left {
		what += " (more were not judged here: see their own findings)"
	}
	f := ev.add(rules.TA018, "", "", what, "fix each monitor as its own finding says (kubectl apply --dry-run=server -f on the monitor shows it), "+orFix)
	f.Related = ev.visibleRefs(related)
	f.Reasons = reasons
}
