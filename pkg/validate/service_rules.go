package validate

import (
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

// serviceRules: TA202 on the new state, TA201 on the transition. A Service
// that no ServiceMonitor selects before or after the change costs two index
// look-ups.
func (ev *evaluation) serviceRules(s *model.Service) {
	if ev.req.Operation != Delete {
		ev.portMismatch(s)
		ev.selectedButBlind(s)
	}
	if ev.before != nil {
		if old, ok := ev.req.OldObject.(*model.Service); ok {
			var cur *model.Service
			if ev.req.Operation != Delete {
				cur = s
			}
			ev.orphansEndpoint(old, cur)
		}
	}
}

// portMismatch is TA202, the Service-side view of TA103: a ServiceMonitor
// that a TA reads selects the Service, none of its endpoints finds a port
// on it, and one of its jobs finds its port on none of the Services it
// selects. A sibling Service that merely lacks the port (the monitor's other
// Service has it) is no problem, and neither is a Service that serves one
// job while others miss (the monitor's TA103 says so).
func (ev *evaluation) portMismatch(s *model.Service) {
	for _, m := range ev.after.MonitorsSelecting(model.ServiceMonitor, s.Ref.Namespace, s.Labels) {
		if ev.expired() {
			return
		}
		if len(m.Endpoints) == 0 {
			continue
		}
		serves := false
		for _, ep := range m.Endpoints {
			if onService(ev.after, ep, s) != missing {
				serves = true
				break
			}
		}
		// What it lacks elsewhere is the monitor's to fix (TA103). The cheap
		// local test goes first: most Services serve the monitors selecting them.
		if serves || !describedSet(ev.after, m.Namespaces) || !readByAllocator(ev.after.ReadersOf(m)) {
			continue
		}
		svcs := ev.after.Services(m.Namespaces, m.Selector.Selector())
		blind := false
		for _, ep := range m.Endpoints {
			if onServices(ev.after, ep, svcs) == missing {
				blind = true
				break
			}
		}
		if !blind {
			continue
		}
		what, fix := portMismatchText(m, s, ev.shows(m.Ref))
		f := ev.add(rules.TA202, "", "", what, fix)
		f.Field = field.NewPath("spec", "ports")
		f.Related = ev.related(rules.RoleMonitor, []model.Ref{m.Ref})
	}
}

// orphansEndpoint is TA201: a ServiceMonitor endpoint that found a port on
// the old Service finds none on any Service after the change.
func (ev *evaluation) orphansEndpoint(old, cur *model.Service) {
	for _, m := range ev.before.MonitorsSelecting(model.ServiceMonitor, old.Ref.Namespace, old.Labels) {
		if ev.expired() {
			return
		}
		if !readByAllocator(ev.after.ReadersOf(m)) || !describedSet(ev.after, m.Namespaces) {
			continue // no TA goes blind, or the target may be on a Service the view does not describe
		}
		var after []*model.Service
		loaded := false
		for i, ep := range m.Endpoints {
			if onService(ev.before, ep, old) != found {
				continue
			}
			if !loaded {
				after = ev.after.Services(m.Namespaces, m.Selector.Selector())
				loaded = true
			}
			if onServices(ev.after, ep, after) != missing {
				continue
			}
			// The job stays the finding's (the same whoever reads it); the
			// message names it as far as the reader may see the monitor.
			what, fix := orphanedText(m, i, ep, old, cur, ev.shows(m.Ref))
			ev.add(rules.TA201, m.Job(i), "", what, fix).Related = ev.related(rules.RoleMonitor, []model.Ref{m.Ref})
		}
	}
}
