package worldgen

import (
	"fmt"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	otelv1beta1 "github.com/ta-guard/ta-guard/internal/apis/opentelemetry/v1beta1"
	"github.com/ta-guard/ta-guard/internal/cluster"
	"github.com/ta-guard/ta-guard/internal/model"
)

// Picks are representative objects of a generated world, from which
// benchmarks build their requests. All live in one namespace of a team whose
// collector selects monitors by label. The typed objects are fresh copies
// (rebuilt by NamespaceObjects): callers may modify them.
type Picks struct {
	// Namespace and Team of the picked objects.
	Namespace string
	Team      string
	// Service is selected by exactly one ServiceMonitor, Monitor, which lives
	// in the same namespace, looks only there, is read by Collector, and
	// whose endpoints all name (by port) ports the Service has: the common,
	// healthy case.
	Service *corev1.Service
	Monitor *monitoringv1.ServiceMonitor
	// Unmonitored is a Service of the namespace with a metrics port that no
	// ServiceMonitor selects: the target of a new ServiceMonitor.
	Unmonitored *corev1.Service
	// AbsentApp is an app with no Service in Namespace but Services in other
	// namespaces: a ServiceMonitor selecting it here matches nothing.
	AbsentApp string
	// Collector is the collector that reads the namespace's monitors by
	// their team label.
	Collector *otelv1beta1.OpenTelemetryCollector
	// OtherTeam is the team label of another team.
	OtherTeam string
}

// PickFrom is the namespace Picks starts from: ns-025, the middle of the
// Tenth world. A namespace's objects depend only on its index, the seed and
// the per-namespace sizes, so Full holds the very same ns-025: both scales
// evaluate the same requests with the same matches, and only the cluster
// around them differs.
const PickFrom = 25

// Picks chooses representative objects in the world that Generate(s) built
// into v, starting from namespace PickFrom (the middle namespace of a
// smaller world) and moving on until one has them all. It checks its choices
// against v.
func (s Scale) Picks(v cluster.View) (*Picks, error) {
	labelTeams := s.Collectors - s.NamespaceScopedCollectors
	if labelTeams <= 0 {
		return nil, fmt.Errorf("worldgen: scale %s has no collector selecting by label", s.Name)
	}
	start := min(PickFrom, s.Namespaces/2)
	for d := 0; d < s.Namespaces; d++ {
		i := (start + d) % s.Namespaces
		t := s.TeamOf(i)
		if t >= labelTeams {
			continue
		}
		if p := s.picksIn(v, i); p != nil {
			p.Collector = s.Collector(t)
			p.OtherTeam = TeamName((t + 1) % s.Teams())
			return p, nil
		}
	}
	return nil, fmt.Errorf("worldgen: no namespace of scale %s has representative objects", s.Name)
}

func (s Scale) picksIn(v cluster.View, i int) *Picks {
	o := s.NamespaceObjects(i)
	ns := o.Namespace.Name
	p := &Picks{Namespace: ns, Team: o.Namespace.Labels["team"]}
	byName := map[string]*corev1.Service{}
	for _, svc := range o.Services {
		byName[svc.Name] = svc
	}
	for _, sm := range o.ServiceMonitors {
		svc := byName[sm.Spec.Selector.MatchLabels["app"]]
		if svc == nil || sm.Labels["team"] == "" || sm.Spec.NamespaceSelector.Any || len(sm.Spec.NamespaceSelector.MatchNames) > 0 {
			continue
		}
		if !allPortsOn(sm, svc) {
			continue
		}
		sel := v.MonitorsSelecting(model.ServiceMonitor, ns, svc.Labels)
		if len(sel) == 1 && sel[0].Ref.Name == sm.Name {
			p.Service, p.Monitor = svc, sm
			break
		}
	}
	for _, svc := range o.Services {
		if !hasServicePort(svc, "metrics") {
			continue
		}
		if len(v.MonitorsSelecting(model.ServiceMonitor, ns, svc.Labels)) == 0 {
			p.Unmonitored = svc
			break
		}
	}
	for _, app := range apps {
		if byName[app] != nil {
			continue
		}
		if len(v.Services(model.NamespaceSet{All: true}, labels.SelectorFromSet(labels.Set{"app": app}))) > 0 {
			p.AbsentApp = app
			break
		}
	}
	if p.Service == nil || p.Unmonitored == nil || p.AbsentApp == "" {
		return nil
	}
	return p
}

func allPortsOn(sm *monitoringv1.ServiceMonitor, svc *corev1.Service) bool {
	for _, ep := range sm.Spec.Endpoints {
		if ep.Port == "" || !hasServicePort(svc, ep.Port) {
			return false
		}
	}
	return len(sm.Spec.Endpoints) > 0
}

func hasServicePort(svc *corev1.Service, name string) bool {
	for _, sp := range svc.Spec.Ports {
		if sp.Name == name {
			return true
		}
	}
	return false
}
