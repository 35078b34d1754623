// Package worldgen builds a synthetic, deterministic cluster for the engine's
// benchmarks: namespaces owned by teams, Services with the Pods behind them,
// ServiceMonitors and PodMonitors, and one OpenTelemetryCollector with a
// Target Allocator per team. Objects are built as the real API types and
// normalized with model.FromTyped before they enter the store, as the
// webhook's informers do.
//
// The world is organised in teams of NamespacesPerTeam namespaces; every
// object carries its namespace's team label and each team's monitors are read
// by one collector. A team is the same size at every Scale, so a request about
// one team's objects has the same number of matches in a small world and in a
// large one: only the size of the cluster around them changes.
//
// Namespace i is generated from its own random source (Seed, i), so the
// objects of one namespace can be rebuilt without rebuilding the world
// (NamespaceObjects), which is how benchmarks get typed objects to modify.
package worldgen

import (
	"fmt"
	"math/rand"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	otelv1beta1 "github.com/ta-guard/ta-guard/internal/apis/opentelemetry/v1beta1"
	"github.com/ta-guard/ta-guard/internal/cluster"
	"github.com/ta-guard/ta-guard/internal/model"
)

// Scale is the size of a generated world.
type Scale struct {
	// Name labels the scale in benchmark names ("full", "tenth").
	Name string
	// Namespaces in the world, grouped in teams of NamespacesPerTeam.
	Namespaces        int
	NamespacesPerTeam int
	// ServicesPerNamespace Services, each with PodsPerService Pods.
	ServicesPerNamespace int
	PodsPerService       int
	// ServiceMonitorsPerNamespace and PodMonitorsPerNamespace per namespace.
	ServiceMonitorsPerNamespace int
	PodMonitorsPerNamespace     int
	// Collectors is the number of v1beta1 collectors, one per team starting
	// with team 0 (at most one per team). The last NamespaceScopedCollectors
	// of them select every monitor ({}) restricted by a namespace selector on
	// the team label; the others select their team's monitors by label.
	Collectors                int
	NamespaceScopedCollectors int
	// Seed of the random sources; the same Scale always builds the same world.
	Seed int64
}

// Full is the world of the issue: 500 namespaces, 10,000 Services, 50,000
// Pods, 2,000 ServiceMonitors, 500 PodMonitors and 50 collectors.
var Full = Scale{
	Name:                        "full",
	Namespaces:                  500,
	NamespacesPerTeam:           10,
	ServicesPerNamespace:        20,
	PodsPerService:              5,
	ServiceMonitorsPerNamespace: 4,
	PodMonitorsPerNamespace:     1,
	Collectors:                  50,
	NamespaceScopedCollectors:   2,
	Seed:                        20240601,
}

// Tenth is Full ten times smaller: 50 namespaces, 1,000 Services, 5,000
// Pods, 200 ServiceMonitors, 50 PodMonitors and 5 collectors. Teams keep
// their size (10 namespaces each); there are ten times fewer of them.
var Tenth = Scale{
	Name:                        "tenth",
	Namespaces:                  50,
	NamespacesPerTeam:           10,
	ServicesPerNamespace:        20,
	PodsPerService:              5,
	ServiceMonitorsPerNamespace: 4,
	PodMonitorsPerNamespace:     1,
	Collectors:                  5,
	NamespaceScopedCollectors:   1,
	Seed:                        20240601,
}

// Teams is the number of teams.
func (s Scale) Teams() int { return (s.Namespaces + s.NamespacesPerTeam - 1) / s.NamespacesPerTeam }

// Totals are the object counts of a world.
type Totals struct {
	Namespaces, Services, Pods, ServiceMonitors, PodMonitors, Collectors int
}

// Totals is what Generate builds at this scale.
func (s Scale) Totals() Totals {
	return Totals{
		Namespaces:      s.Namespaces,
		Services:        s.Namespaces * s.ServicesPerNamespace,
		Pods:            s.Namespaces * s.ServicesPerNamespace * s.PodsPerService,
		ServiceMonitors: s.Namespaces * s.ServiceMonitorsPerNamespace,
		PodMonitors:     s.Namespaces * s.PodMonitorsPerNamespace,
		Collectors:      s.Collectors,
	}
}

func (s Scale) check() {
	switch {
	case s.Namespaces <= 0 || s.NamespacesPerTeam <= 0:
		panic("worldgen: Namespaces and NamespacesPerTeam must be positive")
	case s.Collectors > s.Teams():
		panic(fmt.Sprintf("worldgen: %d collectors for %d teams", s.Collectors, s.Teams()))
	case s.NamespaceScopedCollectors > s.Collectors:
		panic("worldgen: NamespaceScopedCollectors > Collectors")
	case s.ServiceMonitorsPerNamespace > s.ServicesPerNamespace:
		panic("worldgen: more ServiceMonitors than Services per namespace")
	}
}

// NamespaceName is the name of namespace i: ns-000, ns-001, ...
func NamespaceName(i int) string { return fmt.Sprintf("ns-%03d", i) }

// TeamName is the name of team t: team-00, team-01, ...
func TeamName(t int) string { return fmt.Sprintf("team-%02d", t) }

// TeamOf is the team that owns namespace i.
func (s Scale) TeamOf(i int) int { return i / s.NamespacesPerTeam }

// Generate builds the world into a new store.
func Generate(s Scale) *cluster.Store {
	s.check()
	st := cluster.NewStore()
	for i := 0; i < s.Namespaces; i++ {
		for _, o := range s.NamespaceObjects(i).All() {
			st.Upsert(mustNormalize(o))
		}
	}
	for c := 0; c < s.Collectors; c++ {
		st.Upsert(mustNormalize(s.Collector(c)))
	}
	return st
}

// Normalize is model.FromTyped for objects known to be valid.
func Normalize(o runtime.Object) model.Object { return mustNormalize(o) }

func mustNormalize(o runtime.Object) model.Object {
	m, err := model.FromTyped(o)
	if err != nil {
		panic(fmt.Sprintf("worldgen: normalizing %T: %v", o, err))
	}
	return m
}

// Objects are the typed objects of one namespace.
type Objects struct {
	Namespace       *corev1.Namespace
	Services        []*corev1.Service
	Pods            []*corev1.Pod
	ServiceMonitors []*monitoringv1.ServiceMonitor
	PodMonitors     []*monitoringv1.PodMonitor
}

// All lists the objects, namespace first.
func (o *Objects) All() []runtime.Object {
	out := make([]runtime.Object, 0, 1+len(o.Services)+len(o.Pods)+len(o.ServiceMonitors)+len(o.PodMonitors))
	out = append(out, o.Namespace)
	for _, x := range o.Services {
		out = append(out, x)
	}
	for _, x := range o.Pods {
		out = append(out, x)
	}
	for _, x := range o.ServiceMonitors {
		out = append(out, x)
	}
	for _, x := range o.PodMonitors {
		out = append(out, x)
	}
	return out
}

// apps are the application names Services are named after. Namespaces draw
// from the same list, so "redis" lives in many namespaces, as in real
// clusters: cluster-wide look-ups by app label have long posting lists.
var apps = []string{
	"api", "web", "frontend", "checkout", "cart", "catalog", "payments", "orders",
	"users", "auth", "search", "recommend", "inventory", "shipping", "billing", "notify",
	"email", "gateway", "ledger", "reports", "analytics", "ingest", "export", "scheduler",
	"worker", "queue", "cache", "redis", "postgres", "kafka", "zookeeper", "elastic",
	"grafana", "loki", "tempo", "vault", "consul", "nginx", "envoy", "jobs",
}

// Apps is the list of application names Services are named after.
func Apps() []string { return append([]string(nil), apps...) }

var (
	tiers = []string{"frontend", "backend", "data"}
	envs  = []string{"prod", "staging", "dev"}
)

// port is a Service port and the container port behind it.
type port struct {
	name       string
	port       int32
	targetPort intstr.IntOrString
	container  int32
}

var (
	portHTTP    = port{"http", 80, intstr.FromString("http"), 8080}
	portMetrics = port{"metrics", 9090, intstr.FromString("metrics"), 9090}
	portGRPC    = port{"grpc", 9000, intstr.FromInt32(9000), 9000}
)

func (s Scale) rng(i int) *rand.Rand {
	return rand.New(rand.NewSource(s.Seed*1_000_003 + int64(i)))
}

// NamespaceObjects builds namespace i and everything in it, exactly as
// Generate does.
//
//   - the Namespace carries team, env and (from the API server)
//     kubernetes.io/metadata.name;
//   - ServicesPerNamespace Services named after distinct apps, labelled app,
//     team, tier (most also app.kubernetes.io/managed-by=Helm), selecting
//     their Pods by app, with 1-3 named ports: http always, metrics (75%),
//     grpc (30%);
//   - PodsPerService Pods per Service, labelled like it plus
//     pod-template-hash, declaring the container ports the Service's
//     targetPorts name;
//   - ServiceMonitorsPerNamespace ServiceMonitors, the k-th selecting the
//     k-th Service by app: own namespace (94%), matchNames of two namespaces
//     of the team (5%), any: true (1%, then also selecting by team);
//     endpoint 0 on metrics (http when absent), a second endpoint on another
//     port (30%), 5% of endpoints by targetPort, and 2% of monitors with an
//     extra endpoint on a port that does not exist; 1% lack the team label,
//     so no collector reads them;
//   - PodMonitorsPerNamespace PodMonitors selecting a tier's Pods, on the
//     container port named metrics.
func (s Scale) NamespaceObjects(i int) *Objects {
	r := s.rng(i)
	ns := NamespaceName(i)
	team := TeamName(s.TeamOf(i))
	o := &Objects{}
	o.Namespace = &corev1.Namespace{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{
			"team":                   team,
			"env":                    envs[r.Intn(len(envs))],
			corev1.LabelMetadataName: ns,
		}},
	}

	names := r.Perm(max(len(apps), s.ServicesPerNamespace))
	svcPorts := make([][]port, s.ServicesPerNamespace)
	for j := 0; j < s.ServicesPerNamespace; j++ {
		app := appName(names[j])
		tier := tiers[r.Intn(len(tiers))]
		ports := []port{portHTTP}
		if r.Float64() < 0.75 {
			ports = append(ports, portMetrics)
		}
		if r.Float64() < 0.30 {
			ports = append(ports, portGRPC)
		}
		svcPorts[j] = ports
		labels := map[string]string{"app": app, "team": team, "tier": tier}
		if r.Float64() < 0.7 {
			labels["app.kubernetes.io/managed-by"] = "Helm"
		}
		svc := &corev1.Service{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: app, Labels: labels},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app": app},
				Type:     corev1.ServiceTypeClusterIP,
			},
		}
		cports := make([]corev1.ContainerPort, 0, len(ports))
		for _, p := range ports {
			svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{
				Name: p.name, Port: p.port, TargetPort: p.targetPort, Protocol: corev1.ProtocolTCP,
			})
			cports = append(cports, corev1.ContainerPort{Name: p.name, ContainerPort: p.container, Protocol: corev1.ProtocolTCP})
		}
		o.Services = append(o.Services, svc)

		hash := randSuffix(r, 10)
		for k := 0; k < s.PodsPerService; k++ {
			o.Pods = append(o.Pods, &corev1.Pod{
				TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
				ObjectMeta: metav1.ObjectMeta{
					Namespace: ns,
					Name:      app + "-" + hash + "-" + randSuffix(r, 5),
					Labels:    map[string]string{"app": app, "team": team, "tier": tier, "pod-template-hash": hash},
				},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:  app,
					Image: "registry.example.com/" + app + ":1.0",
					Ports: cports,
				}}},
				Status: corev1.PodStatus{
					Phase: corev1.PodRunning,
					PodIP: fmt.Sprintf("10.%d.%d.%d", i/250, i%250, len(o.Pods)%250+1),
				},
			})
		}
	}

	for k := 0; k < s.ServiceMonitorsPerNamespace; k++ {
		svc := o.Services[k]
		app := svc.Name
		ports := svcPorts[k]
		labels := map[string]string{"app": app, "team": team}
		if r.Float64() < 0.01 {
			delete(labels, "team") // forgotten: no collector reads it
		}
		sm := &monitoringv1.ServiceMonitor{
			TypeMeta:   metav1.TypeMeta{APIVersion: monitoringv1.SchemeGroupVersion.String(), Kind: monitoringv1.ServiceMonitorsKind},
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: app, Labels: labels},
			Spec: monitoringv1.ServiceMonitorSpec{
				Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
			},
		}
		switch x := r.Float64(); {
		case x < 0.01:
			sm.Spec.NamespaceSelector.Any = true
			sm.Spec.Selector.MatchLabels["team"] = team
		case x < 0.06:
			sm.Spec.NamespaceSelector.MatchNames = []string{ns, s.teammate(r, i)}
		}
		first := portHTTP
		if hasPort(ports, "metrics") {
			first = portMetrics
		}
		sm.Spec.Endpoints = append(sm.Spec.Endpoints, endpoint(r, first))
		if r.Float64() < 0.30 {
			for _, p := range ports {
				if p.name != first.name {
					sm.Spec.Endpoints = append(sm.Spec.Endpoints, endpoint(r, p))
					break
				}
			}
		}
		if r.Float64() < 0.02 {
			sm.Spec.Endpoints = append(sm.Spec.Endpoints, monitoringv1.Endpoint{Port: "prom", Path: "/metrics"})
		}
		o.ServiceMonitors = append(o.ServiceMonitors, sm)
	}

	for k := 0; k < s.PodMonitorsPerNamespace; k++ {
		tier := tiers[r.Intn(len(tiers))]
		metrics := "metrics"
		o.PodMonitors = append(o.PodMonitors, &monitoringv1.PodMonitor{
			TypeMeta:   metav1.TypeMeta{APIVersion: monitoringv1.SchemeGroupVersion.String(), Kind: monitoringv1.PodMonitorsKind},
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s-pods-%d", tier, k), Labels: map[string]string{"team": team, "tier": tier}},
			Spec: monitoringv1.PodMonitorSpec{
				Selector:            metav1.LabelSelector{MatchLabels: map[string]string{"tier": tier}},
				PodMetricsEndpoints: []monitoringv1.PodMetricsEndpoint{{Port: &metrics, Path: "/metrics"}},
			},
		})
	}
	return o
}

// teammate picks another namespace of namespace i's team (i itself when the
// team has only one).
func (s Scale) teammate(r *rand.Rand, i int) string {
	first := s.TeamOf(i) * s.NamespacesPerTeam
	n := min(s.NamespacesPerTeam, s.Namespaces-first)
	if n <= 1 {
		return NamespaceName(i)
	}
	j := first + r.Intn(n-1)
	if j >= i {
		j++
	}
	return NamespaceName(j)
}

func endpoint(r *rand.Rand, p port) monitoringv1.Endpoint {
	if r.Float64() < 0.05 {
		tp := intstr.FromString(p.name)
		return monitoringv1.Endpoint{TargetPort: &tp, Path: "/metrics"}
	}
	return monitoringv1.Endpoint{Port: p.name, Path: "/metrics"}
}

func hasPort(ports []port, name string) bool {
	for _, p := range ports {
		if p.name == name {
			return true
		}
	}
	return false
}

func appName(n int) string {
	if n < len(apps) {
		return apps[n]
	}
	return fmt.Sprintf("%s-%d", apps[n%len(apps)], n/len(apps))
}

const suffixChars = "bcdfghjklmnpqrstvwxz2456789"

func randSuffix(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = suffixChars[r.Intn(len(suffixChars))]
	}
	return string(b)
}

// collectorConfig wires the prometheus receiver into a metrics pipeline.
const collectorConfig = `{"receivers":{"prometheus":{"config":{"scrape_configs":[]}}},` +
	`"exporters":{"otlp":{"endpoint":"backend.observability:4317"}},` +
	`"service":{"pipelines":{"metrics":{"receivers":["prometheus"],"exporters":["otlp"]}}}}`

// Collector builds collector c (0 <= c < Collectors): otelcol-<team> in the
// first namespace of team c, a statefulset with its Target Allocator and
// prometheusCR enabled. Most read their team's monitors by label
// (serviceMonitorSelector / podMonitorSelector matchLabels team); the last
// NamespaceScopedCollectors read every monitor ({}) of the namespaces
// labelled with their team (serviceMonitorNamespaceSelector /
// podMonitorNamespaceSelector).
func (s Scale) Collector(c int) *otelv1beta1.OpenTelemetryCollector {
	team := TeamName(c)
	col := &otelv1beta1.OpenTelemetryCollector{
		TypeMeta: metav1.TypeMeta{APIVersion: otelv1beta1.GroupVersion.String(), Kind: "OpenTelemetryCollector"},
		ObjectMeta: metav1.ObjectMeta{
			Namespace: NamespaceName(c * s.NamespacesPerTeam),
			Name:      "otelcol-" + team,
			Labels:    map[string]string{"team": team},
		},
		Spec: otelv1beta1.CollectorSpec{
			Mode: "statefulset",
			TargetAllocator: otelv1beta1.TargetAllocatorEmbedded{
				Enabled: ptr.To(true),
				PrometheusCR: otelv1beta1.PrometheusCR{
					Enabled: true,
				},
			},
			Config: otelv1beta1.AnyConfig{Raw: []byte(collectorConfig)},
		},
	}
	cr := &col.Spec.TargetAllocator.PrometheusCR
	if c >= s.Collectors-s.NamespaceScopedCollectors {
		cr.ServiceMonitorSelector = &metav1.LabelSelector{}
		cr.PodMonitorSelector = &metav1.LabelSelector{}
		cr.ServiceMonitorNamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": team}}
		cr.PodMonitorNamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": team}}
	} else {
		cr.ServiceMonitorSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": team}}
		cr.PodMonitorSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": team}}
	}
	return col
}
