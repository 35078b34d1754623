package validate

import (
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
		f := ev.addEndpoint(rules.TA107, m, i, ev.perNodeLostText(tas, lost), ev.perNodeFix(tas, m))
		f.Field = m.EndpointPath(i)
		f.Related = append(ev.related(rules.RoleReader, refsOf(tas, allocatorRef)), ev.related(rules.RoleTarget, refsOf(lost, placementRef))...)
	}
	if !fired {
		ev.pass(rules.TA107, "", func() string { return ev.perNodePlacedText(tas) })
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

func allocatorRef(a *model.Allocator) model.Ref { return a.Ref }
func placementRef(p placement) model.Ref        { return p.svc.Ref }

// perNodeStatic is TA107 for a collector whose own TA allocates per node:
// the static targets of its receiver's scrape_configs carry no node label,
// so the per-node strategy hands them to no collector.
func (ev *evaluation) perNodeStatic(a *model.Allocator) {
	facts := a.Served()
	if facts == nil || a.AllocationStrategy != model.StrategyPerNode {
		return
	}
	for _, st := range facts.Nodeless {
		what, fix := perNodeStaticText(st)
		f := ev.add(rules.TA107, st.Job, jobSubject(st.Job), what, fix)
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
	f := ev.add(rules.TA107, job, jobSubject(job), ev.perNodeNodelessText(tas, m.Nodeless), ev.perNodeFix(tas, m))
	f.Field = m.Nodeless[0].Path
	f.Related = ev.related(rules.RoleReader, refsOf(tas, allocatorRef))
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
		ev.pass(rules.TA107, "", func() string { return alsoReadText(other.Ref) })
		return nil
	}
	return tas
}
