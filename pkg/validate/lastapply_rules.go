package validate

import (
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

// blindScope is whose monitors TA018 names: those the applied collector or
// TA now reads, or those that select the created Service.
type blindScope int

const (
	readByApplied blindScope = iota
	selectingCreated
)

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
		ev.pass(rules.TA018, "", allReadHaveTargetsText)
		return
	}
	ev.reportBlind(blind, left, readByApplied)
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
		ev.reportBlind(blind, left, selectingCreated)
	}
}

// names reports whether a finding of the rule made so far relates to ref.
func (ev *evaluation) names(id rules.ID, ref model.Ref) bool {
	for _, f := range ev.findings {
		if f.Rule == id && f.Relates(ref) {
			return true
		}
	}
	return false
}

// reportBlind says which monitors have blind jobs: the first few the
// reader may see are named (blindText), the others counted.
func (ev *evaluation) reportBlind(blind []blindMonitor, left bool, scope blindScope) {
	var shown []blindMonitor
	var related []model.Ref
	for i, b := range blind {
		related = append(related, b.m.Ref)
		if i < maxHints && ev.shows(b.m.Ref) {
			shown = append(shown, b)
		}
	}
	what, fix, reasons := blindText(blind, shown, left, scope)
	f := ev.add(rules.TA018, "", "", what, fix)
	f.Related = ev.related(rules.RoleMonitor, related)
	f.Reasons = reasons
}
