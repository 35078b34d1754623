package validate

import (
	"fmt"
	"strings"

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
		who, fix := m.Ref.String(), fmt.Sprintf("the ServiceMonitor's endpoints ask for %s; %s, or change the endpoints", endpointPorts(m), portAdvice(m))
		if !ev.shows(m.Ref) {
			// The ports it asks for are its spec, in a namespace the user
			// may not read: the owner of that namespace knows them.
			who = unseen(1, m.Ref.Kind)
			fix = fmt.Sprintf("ask the owners of that ServiceMonitor which port it scrapes; %s, or have them change its endpoints", portAdvice(m))
		}
		f := ev.add(rules.TA202, "", "",
			fmt.Sprintf("%s selects it but finds no port on it; it has: %s", who, s.PortList()), fix)
		f.Field = field.NewPath("spec", "ports")
		f.Related = ev.visibleRefs([]model.Ref{m.Ref})
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
			// webhook never shows a job, only the message. What changed is
			// the user's own Service, so it is said either way.
			job, which := "job "+m.Job(i), "the ServiceMonitor "+m.Ref.NamespacedName()
			if !ev.shows(m.Ref) {
				job, which = fmt.Sprintf("job %d of %s", i, unseen(1, m.Ref.Kind)), "that ServiceMonitor"
			}
			ev.add(rules.TA201, m.Job(i), "",
				fmt.Sprintf("%s loses its last target Service: %s", job, whatChanged(m, ep, old, cur)),
				"keep the label or port "+which+" depends on, or update the ServiceMonitor first").Related = ev.visibleRefs([]model.Ref{m.Ref})
		}
	}
}

// whatChanged names the change that cut the endpoint off.
func whatChanged(m *model.Monitor, ep model.Endpoint, old, cur *model.Service) string {
	if cur == nil {
		return "the Service is deleted"
	}
	if unmet := m.Selector.Unmet(cur.Labels); len(unmet) > 0 {
		return fmt.Sprintf("its labels no longer match the selector (missing %s)", strings.Join(unmet, ", "))
	}
	mode, name, _ := ep.Match(model.ServiceMonitor)
	if mode == model.MatchServicePortName {
		for _, op := range old.Ports {
			if !ep.NameMatches(model.ServiceMonitor, op.Name) {
				continue
			}
			for _, np := range cur.Ports {
				if np.Port == op.Port {
					return fmt.Sprintf("port %s (%d) renamed to %s", displayName(op.Name), op.Port, displayName(np.Name))
				}
			}
			return fmt.Sprintf("port %s (%d) removed", displayName(op.Name), op.Port)
		}
		return fmt.Sprintf("no port named %q any more", name)
	}
	if mode == model.MatchAll {
		return "the Service has no ports any more"
	}
	return "the Pods behind the Service no longer declare " + ep.Describe(model.ServiceMonitor) + " (Service selector changed)"
}

// portAdvice says where the missing port belongs: on the Service for port
// names, on the Pods for targetPorts.
func portAdvice(m *model.Monitor) string {
	names, targets := false, false
	for _, ep := range m.Endpoints {
		switch mode, _, _ := ep.Match(model.ServiceMonitor); mode {
		case model.MatchServicePortName:
			names = true
		case model.MatchContainerPortName, model.MatchContainerPortNumber:
			targets = true
		}
	}
	switch {
	case names && targets:
		return "name a Service port accordingly, or declare the targetPort in its Pods"
	case targets:
		return "declare the targetPort in the Pods behind the Service"
	}
	return "name a Service port accordingly"
}

// endpointPorts renders the ports a ServiceMonitor's endpoints ask for.
func endpointPorts(m *model.Monitor) string {
	parts := make([]string, len(m.Endpoints))
	for i, ep := range m.Endpoints {
		_, name, _ := ep.Match(model.ServiceMonitor)
		if name != "" {
			parts[i] = name
		} else {
			parts[i] = ep.Describe(model.ServiceMonitor)
		}
	}
	return strings.Join(parts, ", ")
}
