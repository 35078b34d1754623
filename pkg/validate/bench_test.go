package validate_test

// Engine benchmarks on a generated world (test/worldgen), at the issue's
// size ("full": 500 namespaces, 10,000 Services, 50,000 Pods, 2,000
// ServiceMonitors, 500 PodMonitors, 50 collectors) and ten times smaller
// ("tenth"). The numbers, the command and the machine are in
// docs/benchmarks.md.
//
// A world is built the first time a benchmark asks for it, never in init or
// TestMain: a plain `go test ./...` runs no benchmark and builds nothing.
// Each benchmark first evaluates its request once and checks the findings,
// so that it measures the path it claims to; b.Loop keeps that setup (and
// the world) out of the timing.

import (
	"context"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"

	"github.com/ta-guard/ta-guard/internal/cluster"
	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/pkg/rules"
	"github.com/ta-guard/ta-guard/pkg/validate"
	"github.com/ta-guard/ta-guard/test/worldgen"
)

// benchWorld is a generated world and the objects requests are built from.
type benchWorld struct {
	scale worldgen.Scale
	store *cluster.Store
	picks *worldgen.Picks
}

var (
	worldsMu sync.Mutex
	worlds   = map[string]*benchWorld{}
)

// world builds the world of a scale once per process.
func world(b *testing.B, s worldgen.Scale) *benchWorld {
	b.Helper()
	worldsMu.Lock()
	defer worldsMu.Unlock()
	if w := worlds[s.Name]; w != nil {
		return w
	}
	st := worldgen.Generate(s)
	p, err := s.Picks(st)
	require.NoError(b, err)
	w := &benchWorld{scale: s, store: st, picks: p}
	worlds[s.Name] = w
	// Let the collector finish with the garbage of the generation before
	// anything is timed.
	runtime.GC()
	return w
}

var scales = []worldgen.Scale{worldgen.Full, worldgen.Tenth}

// perScale runs f as one sub-benchmark per scale: Benchmark.../full, .../tenth.
func perScale(b *testing.B, f func(b *testing.B, w *benchWorld)) {
	for _, s := range scales {
		b.Run(s.Name, func(b *testing.B) { f(b, world(b, s)) })
	}
}

var sink []rules.Finding

// evaluate checks that the request yields the findings want (rule IDs, in
// any order; none when empty), then measures Evaluate on it.
func evaluate(b *testing.B, w *benchWorld, req validate.Request, want ...rules.ID) {
	b.Helper()
	evaluateWith(b, w, req, validate.Options{}, want...)
}

func evaluateWith(b *testing.B, w *benchWorld, req validate.Request, opts validate.Options, want ...rules.ID) {
	b.Helper()
	res, _ := validate.Evaluate(context.Background(), req, w.store, opts)
	fs := res.Findings
	require.Equal(b, sortedIDs(want), findingIDs(fs), "findings:\n%s", findingMessages(fs))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, _ := validate.Evaluate(context.Background(), req, w.store, opts)
		sink = res.Findings
	}
}

func findingIDs(fs []rules.Finding) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, string(f.Rule))
	}
	sort.Strings(out)
	return out
}

func sortedIDs(ids []rules.ID) []string {
	out := []string{}
	for _, id := range ids {
		out = append(out, string(id))
	}
	sort.Strings(out)
	return out
}

func findingMessages(fs []rules.Finding) string {
	var sb strings.Builder
	for _, f := range fs {
		sb.WriteString(f.Message)
		sb.WriteByte('\n')
	}
	return sb.String()
}

// BenchmarkBaselineStoreLookup is the reference the other figures are
// quoted against: one indexed look-up of a Service by namespace and app
// label, the cheapest thing the engine asks of the store.
func BenchmarkBaselineStoreLookup(b *testing.B) {
	perScale(b, func(b *testing.B, w *benchWorld) {
		nss := model.NamespaceSet{Names: []string{w.picks.Namespace}}
		sel := labels.SelectorFromSet(labels.Set{"app": w.picks.Service.Name})
		require.Len(b, w.store.Services(nss, sel), 1)
		b.ReportAllocs()
		b.ResetTimer()
		var n int
		for b.Loop() {
			n += len(w.store.Services(nss, sel))
		}
		_ = n
	})
}

// newServiceMonitor is a ServiceMonitor a team creates for one of its
// Services that none monitors yet: read by the team's collector, selecting
// by app in its own namespace, scraping the port named port.
func newServiceMonitor(w *benchWorld, app, port string) *monitoringv1.ServiceMonitor {
	p := w.picks
	return &monitoringv1.ServiceMonitor{
		TypeMeta:   metav1.TypeMeta{APIVersion: monitoringv1.SchemeGroupVersion.String(), Kind: monitoringv1.ServiceMonitorsKind},
		ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: "bench-new", Labels: map[string]string{"app": app, "team": p.Team}},
		Spec: monitoringv1.ServiceMonitorSpec{
			Selector:  metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
			Endpoints: []monitoringv1.Endpoint{{Port: port, Path: "/metrics"}},
		},
	}
}

func create(obj model.Object) validate.Request {
	return validate.Request{Operation: validate.Create, Object: obj}
}

// BenchmarkServiceMonitorCreate: a new ServiceMonitor selecting an existing
// Service on a port it has. No finding: the common case.
func BenchmarkServiceMonitorCreate(b *testing.B) {
	perScale(b, func(b *testing.B, w *benchWorld) {
		sm := newServiceMonitor(w, w.picks.Unmonitored.Name, "metrics")
		evaluate(b, w, create(worldgen.Normalize(sm)))
	})
}

// BenchmarkServiceMonitorCreateTA103: the same ServiceMonitor asking for a
// port the Service does not have.
func BenchmarkServiceMonitorCreateTA103(b *testing.B) {
	perScale(b, func(b *testing.B, w *benchWorld) {
		sm := newServiceMonitor(w, w.picks.Unmonitored.Name, "prom")
		evaluate(b, w, create(worldgen.Normalize(sm)), rules.TA103)
	})
}

// BenchmarkServiceMonitorCreateTA101: the same ServiceMonitor without the
// team label, so that no collector reads it; the message names the closest.
func BenchmarkServiceMonitorCreateTA101(b *testing.B) {
	perScale(b, func(b *testing.B, w *benchWorld) {
		sm := newServiceMonitor(w, w.picks.Unmonitored.Name, "metrics")
		delete(sm.Labels, "team")
		evaluate(b, w, create(worldgen.Normalize(sm)), rules.TA101)
	})
}

// BenchmarkServiceMonitorCreateTA102: a ServiceMonitor selecting an app that
// has Services in other namespaces but not in its own: it matches nothing,
// and the near-miss hints look for that app across the cluster.
func BenchmarkServiceMonitorCreateTA102(b *testing.B) {
	perScale(b, func(b *testing.B, w *benchWorld) {
		sm := newServiceMonitor(w, w.picks.AbsentApp, "metrics")
		evaluate(b, w, create(worldgen.Normalize(sm)), rules.TA102)
	})
}

// newPodMonitor is a PodMonitor a team creates for the Pods of one app in
// its namespace, on the container port named metrics.
func newPodMonitor(w *benchWorld, app string) *monitoringv1.PodMonitor {
	p := w.picks
	port := "metrics"
	return &monitoringv1.PodMonitor{
		TypeMeta:   metav1.TypeMeta{APIVersion: monitoringv1.SchemeGroupVersion.String(), Kind: monitoringv1.PodMonitorsKind},
		ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: "bench-new-pods", Labels: map[string]string{"app": app, "team": p.Team}},
		Spec: monitoringv1.PodMonitorSpec{
			Selector:            metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
			PodMetricsEndpoints: []monitoringv1.PodMetricsEndpoint{{Port: &port, Path: "/metrics"}},
		},
	}
}

// BenchmarkPodMonitorCreate: a new PodMonitor selecting the Pods of an
// existing app on a port they declare. No finding.
func BenchmarkPodMonitorCreate(b *testing.B) {
	perScale(b, func(b *testing.B, w *benchWorld) {
		evaluate(b, w, create(worldgen.Normalize(newPodMonitor(w, w.picks.Unmonitored.Name))))
	})
}

// BenchmarkPodMonitorCreateTA102: a PodMonitor selecting an app that has
// Pods in other namespaces but not in its own (TA102, with near misses).
func BenchmarkPodMonitorCreateTA102(b *testing.B) {
	perScale(b, func(b *testing.B, w *benchWorld) {
		evaluate(b, w, create(worldgen.Normalize(newPodMonitor(w, w.picks.AbsentApp))), rules.TA102)
	})
}

func update(old, cur model.Object) validate.Request {
	return validate.Request{Operation: validate.Update, Object: cur, OldObject: old}
}

// BenchmarkServiceUpdate: a Service a ServiceMonitor scrapes changes labels
// (tier moved, version added) but keeps the app label its monitor selects.
// No finding.
func BenchmarkServiceUpdate(b *testing.B) {
	perScale(b, func(b *testing.B, w *benchWorld) {
		old := w.picks.Service
		cur := old.DeepCopy()
		cur.Labels["tier"] = "platform"
		cur.Labels["version"] = "v2"
		evaluate(b, w, update(worldgen.Normalize(old), worldgen.Normalize(cur)))
	})
}

// BenchmarkServiceUpdateTA201: the same Service renames the port its
// ServiceMonitor's first endpoint scrapes (TA201; TA202 too when that was
// the monitor's only endpoint).
func BenchmarkServiceUpdateTA201(b *testing.B) {
	perScale(b, func(b *testing.B, w *benchWorld) {
		old := w.picks.Service
		cur := old.DeepCopy()
		port := w.picks.Monitor.Spec.Endpoints[0].Port
		for i := range cur.Spec.Ports {
			if cur.Spec.Ports[i].Name == port {
				cur.Spec.Ports[i].Name = "renamed-" + port
				cur.Spec.Ports[i].TargetPort = intstr.FromString(port)
			}
		}
		want := []rules.ID{rules.TA201}
		if len(w.picks.Monitor.Spec.Endpoints) == 1 {
			want = append(want, rules.TA202)
		}
		evaluate(b, w, update(worldgen.Normalize(old), worldgen.Normalize(cur)), want...)
	})
}

// BenchmarkCollectorUpdate: a team's collector widens its
// serviceMonitorSelector to a second team (matchExpressions team in (...)).
// Every monitor it read before is still read: no finding, but each is checked.
func BenchmarkCollectorUpdate(b *testing.B) {
	perScale(b, func(b *testing.B, w *benchWorld) {
		evaluate(b, w, widenToSecondTeam(w))
	})
}

// widenToSecondTeam is the UPDATE of a team's collector whose
// serviceMonitorSelector takes a second team too.
func widenToSecondTeam(w *benchWorld) validate.Request {
	old := w.picks.Collector
	cur := old.DeepCopy()
	cur.Spec.TargetAllocator.PrometheusCR.ServiceMonitorSelector = &metav1.LabelSelector{
		MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: "team", Operator: metav1.LabelSelectorOpIn, Values: []string{w.picks.Team, w.picks.OtherTeam},
		}},
	}
	return update(worldgen.Normalize(old), worldgen.Normalize(cur))
}

// BenchmarkCollectorUpdateAdmission: BenchmarkCollectorUpdate as the
// webhook asks it (an admission): the monitors of the second team it now
// reads are judged by their own rules for TA018, up to 50 of them (the
// generated world's other team has a monitor whose port matches nothing,
// which TA018 names).
func BenchmarkCollectorUpdateAdmission(b *testing.B) {
	perScale(b, func(b *testing.B, w *benchWorld) {
		evaluateWith(b, w, widenToSecondTeam(w), validate.Options{Admission: true}, rules.TA018)
	})
}

// BenchmarkServiceCreateAdmission: a second Service with the labels of one
// a ServiceMonitor scrapes, created at admission: its monitors are judged
// for TA018.
func BenchmarkServiceCreateAdmission(b *testing.B) {
	perScale(b, func(b *testing.B, w *benchWorld) {
		svc := w.picks.Service.DeepCopy()
		svc.Name += "-canary"
		evaluateWith(b, w, create(worldgen.Normalize(svc)), validate.Options{Admission: true})
	})
}

// BenchmarkCollectorUpdateTA011: a team's collector switches its
// serviceMonitorSelector to another team: every ServiceMonitor of its own
// team is left to no target allocator.
func BenchmarkCollectorUpdateTA011(b *testing.B) {
	perScale(b, func(b *testing.B, w *benchWorld) {
		old := w.picks.Collector
		cur := old.DeepCopy()
		cur.Spec.TargetAllocator.PrometheusCR.ServiceMonitorSelector = &metav1.LabelSelector{
			MatchLabels: map[string]string{"team": w.picks.OtherTeam},
		}
		evaluate(b, w, update(worldgen.Normalize(old), worldgen.Normalize(cur)), rules.TA011)
	})
}
