package validate

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/ta-guard/ta-guard/pkg/cluster"
	"github.com/ta-guard/ta-guard/pkg/model"
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
		if len(s.Ports) > 0 {
			return found
		}
		return missing
	case model.MatchServicePortName:
		if s.HasPortFor(ep) {
			return found
		}
		return missing
	}
	pods := podsBehind(v, s)
	if len(pods) == 0 {
		return unknown
	}
	for _, p := range pods {
		if p.HasPortFor(model.ServiceMonitor, ep) {
			return found
		}
	}
	return missing
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

// listEach renders "a has: x; b has: y" for the first few items.
func listEach[T any](items []T, max int, f func(T) string) string {
	parts := make([]string, 0, max+1)
	for i, it := range items {
		if i == max {
			parts = append(parts, fmt.Sprintf("and %d more", len(items)-max))
			break
		}
		parts = append(parts, f(it))
	}
	return strings.Join(parts, "; ")
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
