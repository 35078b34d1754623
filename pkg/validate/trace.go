package validate

import (
	"fmt"
	"sort"

	"github.com/ta-guard/ta-guard/internal/cluster"
	"github.com/ta-guard/ta-guard/internal/model"
)

// MonitorTrace is what a monitor finds in a view, endpoint by endpoint: the
// facts behind its findings, for diagnose. It uses the very matching the
// rules use.
type MonitorTrace struct {
	Monitor *model.Monitor
	// Selects are the Services (ServiceMonitor) or Pods (PodMonitor) the
	// monitor's selector matches in its namespaces.
	Selects   []model.Ref
	Endpoints []EndpointTrace
}

// EndpointTrace is one endpoint, one TA job.
type EndpointTrace struct {
	Index int
	Job   string
	// Port is the endpoint's port as written ("port \"prom\"").
	Port string
	// Found are the Services or Pods on which the port was found; Unknown
	// those whose Pods the view does not describe.
	Found, Unknown []model.Ref
	// Targets are the addresses the TA should get (ip:port), from
	// EndpointSlices (ServiceMonitor) or Pod IPs (PodMonitor); live views only.
	Targets []string
	// Own: the job's targets are the monitor's own (a ScrapeConfig's or a
	// Probe's), not Services or Pods of the cluster: nothing to trace.
	Own bool
}

// Trace follows a monitor through the view.
func Trace(v cluster.View, m *model.Monitor) MonitorTrace {
	t := MonitorTrace{Monitor: m}
	if !m.Kind.SelectsWorkloads() {
		for i, job := range m.Jobs() {
			t.Endpoints = append(t.Endpoints, EndpointTrace{Index: i, Job: job, Own: true})
		}
		return t
	}
	if m.Kind == model.ServiceMonitor {
		svcs := v.Services(m.Namespaces, m.Selector.Selector())
		for _, s := range svcs {
			t.Selects = append(t.Selects, s.Ref)
		}
		for i, ep := range m.Endpoints {
			et := EndpointTrace{Index: i, Job: m.Job(i), Port: ep.Describe(m.Kind)}
			for _, s := range svcs {
				switch onService(v, ep, s) {
				case found:
					et.Found = append(et.Found, s.Ref)
					et.Targets = append(et.Targets, serviceTargets(v, ep, s)...)
				case unknown:
					et.Unknown = append(et.Unknown, s.Ref)
				}
			}
			sort.Strings(et.Targets)
			t.Endpoints = append(t.Endpoints, et)
		}
		return t
	}
	pods := v.Pods(m.Namespaces, m.Selector.Selector())
	for _, p := range pods {
		t.Selects = append(t.Selects, p.Ref)
	}
	for i, ep := range m.Endpoints {
		et := EndpointTrace{Index: i, Job: m.Job(i), Port: ep.Describe(m.Kind)}
		mode, _, _ := ep.Match(m.Kind)
		for _, p := range pods {
			switch onPod(m.Kind, ep, p) {
			case unknown:
				et.Unknown = append(et.Unknown, p.Ref)
				continue
			case missing:
				continue
			}
			et.Found = append(et.Found, p.Ref)
			if p.IP == "" || p.Terminated() {
				continue
			}
			for _, cp := range p.Ports {
				if mode == model.MatchAll || containerPortMatches(m.Kind, ep, cp) {
					et.Targets = append(et.Targets, fmt.Sprintf("%s:%d", p.IP, cp.Number))
				}
			}
		}
		sort.Strings(et.Targets)
		t.Endpoints = append(t.Endpoints, et)
	}
	return t
}

func containerPortMatches(kind model.MonitorKind, ep model.Endpoint, cp model.ContainerPort) bool {
	one := &model.Pod{Ports: []model.ContainerPort{cp}}
	return one.HasPortFor(kind, ep)
}

// serviceTargets are the addresses behind a Service for an endpoint: the
// EndpointSlice addresses on the slice port of that name (port), the Pod IPs
// on the container port (targetPort), or every port (neither).
func serviceTargets(v cluster.View, ep model.Endpoint, s *model.Service) []string {
	var out []string
	switch mode, _, _ := ep.Match(model.ServiceMonitor); mode {
	case model.MatchServicePortName, model.MatchAll:
		for _, sl := range v.EndpointSlices(s.Ref.Namespace, s.Ref.Name) {
			for _, sp := range sl.Ports {
				if mode == model.MatchAll || ep.NameMatches(model.ServiceMonitor, sp.Name) {
					for _, a := range sl.Addresses {
						out = append(out, fmt.Sprintf("%s:%d", a, sp.Port))
					}
				}
			}
		}
	default:
		for _, p := range podsBehind(v, s) {
			if p.IP == "" || p.Terminated() {
				continue
			}
			for _, cp := range p.Ports {
				if containerPortMatches(model.ServiceMonitor, ep, cp) {
					out = append(out, fmt.Sprintf("%s:%d", p.IP, cp.Number))
				}
			}
		}
	}
	return out
}
