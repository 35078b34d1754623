package validate

import (
	"k8s.io/apimachinery/pkg/labels"

	"github.com/ta-guard/ta-guard/internal/cluster"
	"github.com/ta-guard/ta-guard/internal/model"
)

// verdict is whether an endpoint finds a port on one Service.
type verdict int

const (
	missing verdict = iota
	found
	// unknown: the answer depends on Pods the view does not describe (a
	// selector-less Service, or offline input without the workload). The
	// rules never guess: unknown never fires.
	unknown
)

// podsBehind returns the Pods a Service selects in its namespace.
func podsBehind(v cluster.View, s *model.Service) []*model.Pod {
	if s.Selector == nil {
		return nil
	}
	return v.Pods(model.NamespaceSet{Names: []string{s.Ref.Namespace}}, labels.SelectorFromValidatedSet(s.Selector))
}

// onService says whether a ServiceMonitor endpoint finds a port on s: a
// Service port name for `port`, a declared container port of the Pods behind
// it for `targetPort`, any port when neither is given.
func onService(v cluster.View, ep model.Endpoint, s *model.Service) verdict {
	switch m, _, _ := ep.Match(model.ServiceMonitor); m {
	case model.MatchAll:
		if len(s.Ports) > 0 || s.PortsIncomplete {
			return found
		}
		return missing
	case model.MatchServicePortName:
		if s.HasPortFor(ep) {
			return found
		}
		if s.PortsIncomplete {
			return unknown
		}
		return missing
	}
	return onPods(model.ServiceMonitor, ep, podsBehind(v, s))
}

// onPods says whether an endpoint finds a declared container port on any of
// the Pods; unknown when there are none to look at, or when a Pod's ports
// are known only in part.
func onPods(kind model.MonitorKind, ep model.Endpoint, pods []*model.Pod) verdict {
	if len(pods) == 0 {
		return unknown
	}
	res := missing
	for _, p := range pods {
		switch onPod(kind, ep, p) {
		case found:
			return found
		case unknown:
			res = unknown
		}
	}
	return res
}

// onPod says whether an endpoint finds a declared container port on one
// Pod: unknown when it does not and the Pod's ports are known only in part.
// The rules (onPods) and diagnose's trace both ask it.
func onPod(kind model.MonitorKind, ep model.Endpoint, p *model.Pod) verdict {
	switch {
	case p.HasPortFor(kind, ep):
		return found
	case p.PortsIncomplete:
		return unknown
	}
	return missing
}

// describedSet reports whether the view knows everything in the namespaces:
// only then does "not found" mean absent.
func describedSet(v cluster.View, ns model.NamespaceSet) bool {
	if ns.All {
		return v.Described("")
	}
	for _, n := range ns.Names {
		if !v.Described(n) {
			return false
		}
	}
	return true
}

// onServices combines onService over Services: found if any finds it,
// unknown if none does but some cannot tell.
func onServices(v cluster.View, ep model.Endpoint, svcs []*model.Service) verdict {
	res := missing
	for _, s := range svcs {
		switch onService(v, ep, s) {
		case found:
			return found
		case unknown:
			res = unknown
		}
	}
	return res
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
