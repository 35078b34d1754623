package validate

import (
	"fmt"
	"strings"

	"github.com/ta-guard/ta-guard/internal/cluster"
	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

// perNode is TA107: a per-node TA reads the monitor, but its targets run on
// no node.
//
// The per-node strategy hands a target to the collector on the node its
// discovery labels name, and leaves it unassigned when they name none
// (operator cmd/otel-allocator/internal/allocation/per_node.go,
// target.Item.GetNodeName). Only the operator's alpha feature gate
// operator.targetallocator.fallbackstrategy gives such targets to
// consistent-hashing instead, and a webhook cannot see the operator's flags:
// the finding says so.
//
// A PodMonitor's targets are Pods, and a scheduled Pod always has a node
// (__meta_kubernetes_pod_node_name): only ServiceMonitors can be caught.
func (ev *evaluation) perNode(m *model.Monitor) {
	if m.Kind == model.ScrapeConfig && len(m.Nodeless) > 0 {
		ev.perNodeScrapeConfig(m)
		return
	}
	if m.Kind != model.ServiceMonitor || len(m.Endpoints) == 0 {
		return
	}
	tas := ev.perNodeOnly(m)
	if len(tas) == 0 {
		return
	}
	svcs := ev.after.Services(m.Namespaces, m.Selector.Selector())
	fired := false
	for i, ep := range m.Endpoints {
		var lost []placement
		for _, s := range svcs {
			if p := jobPlacement(ev.after, m, ep, s); p.unplaced != 0 {
				lost = append(lost, p)
			}
		}
		if len(lost) == 0 {
			continue
		}
		fired = true
		f := ev.addEndpoint(rules.TA107, m, i,
			fmt.Sprintf("per-node TA %s drops %s on %s: they run on no node",
				ev.allocatorNames(tas), targetCount(lost), listShown(ev, lost, maxHints, placementRef, "Service", "", placement.String)),
			ev.perNodeFix(tas, m))
		f.Field = m.EndpointPath(i)
		f.Related = ev.visibleRefs(append(refsOf(tas, allocatorRef), refsOf(lost, placementRef)...))
	}
	if !fired {
		ev.pass(rules.TA107, "", func() string {
			return "per-node TA " + ev.allocatorNames(tas) + ": no target of the matched Services is known to run on no node"
		})
	}
}

// perNodeAllocators are the TAs reading the monitor that allocate per node,
// and one reader that is no such TA (another strategy, a Prometheus), if any.
func (ev *evaluation) perNodeAllocators(m *model.Monitor) ([]*model.Allocator, *model.Reader) {
	all, others := ev.allocatorsReading(m)
	var other *model.Reader
	if len(others) > 0 {
		other = others[0]
	}
	var out []*model.Allocator
	for _, a := range all {
		if a.AllocationStrategy == model.StrategyPerNode {
			out = append(out, a)
		} else if other == nil {
			other = &a.Reader
		}
	}
	return out, other
}

// placement is how many of one job's targets on one Service the per-node
// strategy cannot place.
type placement struct {
	svc *model.Service
	// unplaced and total count targets (address × port) from the
	// EndpointSlices; unplaced is -1 for the API server's Service when no
	// slice of it is in view: its endpoints are the API servers, never on a
	// node, but how many there are is unknown.
	unplaced, total int
}

func (p placement) String() string {
	s := p.svc.Ref.NamespacedName()
	if isAPIServer(p.svc) {
		s += " (the API server)"
	}
	return s
}

// jobPlacement counts the targets a ServiceMonitor endpoint takes from the
// Service's EndpointSlices (the TA discovers with role endpointslice), and
// those of them the per-node strategy can place on no node.
func jobPlacement(v cluster.View, m *model.Monitor, ep model.Endpoint, s *model.Service) placement {
	p := placement{svc: s}
	mode, _, _ := ep.Match(model.ServiceMonitor)
	if mode != model.MatchAll && mode != model.MatchServicePortName {
		// targetPort keeps only targets with a Pod's container port labels:
		// endpoints that are no Pod never become targets of the job.
		return p
	}
	slices := v.EndpointSlices(s.Ref.Namespace, s.Ref.Name)
	if len(slices) == 0 {
		// Live, a Service without slices has no targets to lose; offline,
		// the input rarely carries slices, so they are unknown. Only the API
		// server's are known without looking: they never name a node.
		if isAPIServer(s) && onService(v, ep, s) == found {
			p.unplaced = -1
		}
		return p
	}
	for _, sl := range slices {
		ports := 0
		for _, sp := range sl.Ports {
			// The operator keeps targets by the slice's port name, not the
			// Service's.
			if mode == model.MatchAll || ep.NameMatches(model.ServiceMonitor, sp.Name) {
				ports++
			}
		}
		for _, e := range sl.Endpoints {
			n := len(e.Addresses) * ports
			p.total += n
			if !onSomeNode(e, m.AttachNode) {
				p.unplaced += n
			}
		}
	}
	return p
}

// onSomeNode reports whether the TA learns a node for the endpoint's
// targets. With the endpointslice role it places a target by the node of a
// Pod targetRef (the Pod's spec.nodeName), by a Node targetRef, or, when the
// monitor sets attachMetadata.node, by the node endpoints[].nodeName names
// (its __meta_kubernetes_node_name); endpoints[].nodeName alone is labelled
// __meta_kubernetes_endpointslice_endpoint_node_name, which the per-node
// strategy does not read (operator cmd/otel-allocator target.Item
// GetNodeName). A Pod targetRef is taken at its word: the Pod it names is
// scheduled, or it would have no address.
func onSomeNode(e model.SliceEndpoint, attachNode bool) bool {
	switch {
	case e.TargetKind == "Pod", e.TargetKind == "Node" && e.TargetName != "", attachNode && e.NodeName != "":
		return true
	}
	return false
}

// isAPIServer: the Service default/kubernetes, whose endpoints the API
// servers write themselves, with neither a node nor a targetRef.
func isAPIServer(s *model.Service) bool {
	return s.Ref.Namespace == "default" && s.Ref.Name == "kubernetes" && s.Selector == nil
}

// targetCount renders how many targets are lost: "its 1 target", "2 of its
// 5 targets", or "its targets" when the API server's count is unknown.
func targetCount(lost []placement) string {
	unplaced, total := 0, 0
	for _, p := range lost {
		if p.unplaced < 0 {
			return "its targets"
		}
		unplaced += p.unplaced
		total += p.total
	}
	noun := "targets"
	if total == 1 {
		noun = "target"
	}
	if unplaced == total {
		return fmt.Sprintf("its %d %s", total, noun)
	}
	return fmt.Sprintf("%d of its %d %s", unplaced, total, noun)
}

func (ev *evaluation) allocatorNames(tas []*model.Allocator) string {
	return listShown(ev, tas, maxHints, allocatorRef, tas[0].Ref.Kind, "", func(a *model.Allocator) string { return a.Ref.NamespacedName() })
}

func allocatorRef(a *model.Allocator) model.Ref { return a.Ref }
func placementRef(p placement) model.Ref        { return p.svc.Ref }

// perNodeFix names the two ways out: the operator's fallback strategy, or a
// second, consistent-hashing TA for the targets that have no node.
func (ev *evaluation) perNodeFix(tas []*model.Allocator, m *model.Monitor) string {
	sel := tas[0].Scopes[m.Kind].MonitorsField
	keepOut := "keep it out of the per-node TAs' " + model.FieldLeaf(sel)
	if len(tas) == 1 && ev.shows(tas[0].Ref) {
		keepOut = fmt.Sprintf("keep it out of %s of %s", sel, tas[0].Ref.NamespacedName())
	}
	return strings.Join([]string{
		"read it with a second collector (mode statefulset) whose TA has allocationStrategy: consistent-hashing, and " + keepOut,
		"or run the operator with --feature-gates=operator.targetallocator.fallbackstrategy, which hands such targets to consistent-hashing (ta-guard cannot see the operator's flags: if it is on, annotate the " + m.Kind.String() + " ta-guard.io/skip: \"TA107\")",
		"the TA logs them as \"Could not assign targets\" and counts them in opentelemetry_allocator_targets_unassigned",
	}, "; ")
}

// perNodeStatic is TA107 for a collector whose own TA allocates per node:
// the static targets of its receiver's scrape_configs carry no node label,
// so the per-node strategy hands them to no collector.
func (ev *evaluation) perNodeStatic(a *model.Allocator) {
	facts := a.Served()
	if facts == nil || a.AllocationStrategy != model.StrategyPerNode {
		return
	}
	for _, st := range facts.Nodeless {
		f := ev.add(rules.TA107, st.Job, "job "+st.Job,
			fmt.Sprintf("the per-node TA drops %s: %s", st, nodelessWhy(st)),
			strings.Join([]string{
				"move the job to a receiver the TA does not read (prometheus/<name>), so that each collector scrapes it itself (its own telemetry at 0.0.0.0:8888, say)",
				"or run the operator with --feature-gates=operator.targetallocator.fallbackstrategy, which hands such targets to consistent-hashing (ta-guard cannot see the operator's flags: if it is on, annotate the collector ta-guard.io/skip: \"TA107\")",
			}, "; "))
		f.Field = st.Path
	}
}

// perNodeScrapeConfig is TA107 for a ScrapeConfig whose targets carry no
// node (static ones, or a discovery outside Kubernetes) read by per-node
// TAs only.
func (ev *evaluation) perNodeScrapeConfig(m *model.Monitor) {
	tas := ev.perNodeOnly(m)
	if len(tas) == 0 {
		return
	}
	job := m.Jobs()[0]
	what := make([]string, len(m.Nodeless))
	for i, n := range m.Nodeless {
		what[i] = n.String()
	}
	f := ev.add(rules.TA107, job, "job "+job,
		fmt.Sprintf("per-node TA %s drops %s: %s", ev.allocatorNames(tas), strings.Join(what, " and "), nodelessWhy(m.Nodeless[0])),
		ev.perNodeFix(tas, m))
	f.Field = m.Nodeless[0].Path
	f.Related = ev.visibleRefs(refsOf(tas, allocatorRef))
}

// nodelessWhy says why the per-node strategy places such targets nowhere.
func nodelessWhy(n model.NodelessTargets) string {
	if n.Discovery != "" {
		return "their discovery names no node to place them on"
	}
	return "a static target runs on no node"
}

// perNodeOnly returns the per-node TAs reading the monitor when no other
// reader does; when another does, the targets are scraped anyway (the
// per-node TAs' empty share blinds nothing) and the check passes.
func (ev *evaluation) perNodeOnly(m *model.Monitor) []*model.Allocator {
	tas, other := ev.perNodeAllocators(m)
	if len(tas) == 0 {
		return nil
	}
	if other != nil {
		ev.pass(rules.TA107, "", func() string {
			return fmt.Sprintf("also read by %s, which allocates targets that have no node", other.Ref)
		})
		return nil
	}
	return tas
}
