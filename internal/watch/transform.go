package watch

import (
	"slices"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	otelv1alpha1 "github.com/ta-guard/ta-guard/internal/apis/opentelemetry/v1alpha1"
	otelv1beta1 "github.com/ta-guard/ta-guard/internal/apis/opentelemetry/v1beta1"
	"github.com/ta-guard/ta-guard/internal/model"
)

// CacheOptions strips what the rules never read before objects enter the
// informers' caches: managed fields and foreign annotations everywhere,
// Pods down to labels, phase, IP and container ports (and of the
// OpenTelemetry Operator's, its mTLS gate), Services to selector
// and port names and numbers, collector configurations to what the model
// reads of them. A 50,000-Pod cluster
// then costs megabytes, not gigabytes. errs, when set, records each
// informer's list and watch errors.
func CacheOptions(errs *ListErrors) cache.Options {
	o := cache.Options{
		// Monitors are stripped by the default transform: a ByObject
		// entry needs its kind served when the cache is built, and the
		// monitoring CRDs may come later.
		DefaultTransform: stripDefault,
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Pod{}:     {Transform: stripPod},
			&corev1.Service{}: {Transform: stripService},
		},
	}
	if errs != nil {
		o.DefaultWatchErrorHandler = errs.handle
	}
	return o
}

func trimMeta(m *metav1.ObjectMeta) {
	m.ManagedFields = nil
	m.OwnerReferences = nil
	m.Finalizers = nil
	for k := range m.Annotations {
		if !strings.HasPrefix(k, model.AnnotationPrefix) {
			delete(m.Annotations, k)
		}
	}
}

var _ toolscache.TransformFunc = stripMeta

func stripMeta(obj any) (any, error) {
	if o, ok := obj.(metav1.ObjectMetaAccessor); ok {
		if m := o.GetObjectMeta(); m != nil {
			if om, ok := m.(*metav1.ObjectMeta); ok {
				trimMeta(om)
			}
		}
	}
	return obj, nil
}

func stripPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return stripMeta(obj)
	}
	out := &corev1.Pod{TypeMeta: p.TypeMeta, ObjectMeta: metav1.ObjectMeta{
		Name: p.Name, Namespace: p.Namespace, UID: p.UID, ResourceVersion: p.ResourceVersion,
		Labels: p.Labels,
	}}
	// At most model.MaxPorts+1 ports, in the order the model reads them
	// (init containers first): past the limit it reads no more.
	room := model.MaxPorts + 1
	keep := func(cs []corev1.Container) []corev1.Container {
		var out []corev1.Container
		for _, c := range cs {
			if len(c.Ports) == 0 || room == 0 {
				continue
			}
			ports := c.Ports
			if len(ports) > room {
				ports = slices.Clone(ports[:room])
			}
			room -= len(ports)
			out = append(out, corev1.Container{Name: c.Name, Ports: ports})
		}
		return out
	}
	out.Spec.InitContainers = keep(p.Spec.InitContainers)
	out.Spec.Containers = keep(p.Spec.Containers)
	// Of the OpenTelemetry Operator's Pod, whether its TAs may run with
	// mTLS by feature gate (TA110): one container of its image, of no
	// version, with the gate's argument or none.
	if op := model.OTelOperatorOf(&p.Spec); op != nil {
		c := corev1.Container{Name: "operator", Image: model.OperatorImage}
		if op.MTLSGate {
			c.Args = model.OperatorGateArgs
		}
		out.Spec.Containers = append(out.Spec.Containers, c)
	}
	out.Status.Phase = p.Status.Phase
	out.Status.PodIP = p.Status.PodIP
	// Of the node and the start time, whether there is one; of the
	// conditions, Ready's status: shared, read-only values, nothing per Pod.
	if p.Spec.NodeName != "" {
		out.Spec.NodeName = scheduled
	}
	if p.Status.StartTime != nil {
		out.Status.StartTime = started
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			switch c.Status {
			case corev1.ConditionTrue:
				out.Status.Conditions = readyTrue
			case corev1.ConditionFalse:
				out.Status.Conditions = readyFalse
			}
		}
	}
	return out, nil
}

// scheduled stands for a cached Pod's node name: the model reads only that
// it has one (model.Pod.Scheduled).
const scheduled = "(scheduled)"

// started stands for a cached Pod's start time: the model reads only that
// it has one (model.Pod.Started). One value for all Pods.
var started = &metav1.Time{}

// readyTrue and readyFalse are the only conditions a cached Pod keeps, one
// slice for all: cached objects are never written to.
var (
	readyTrue  = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	readyFalse = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
)

func stripService(obj any) (any, error) {
	s, ok := obj.(*corev1.Service)
	if !ok {
		return stripMeta(obj)
	}
	trimMeta(&s.ObjectMeta)
	out := &corev1.Service{TypeMeta: s.TypeMeta, ObjectMeta: metav1.ObjectMeta{
		Name: s.Name, Namespace: s.Namespace, UID: s.UID, ResourceVersion: s.ResourceVersion,
		Labels: s.Labels, Annotations: s.Annotations,
	}}
	out.Spec.Selector = s.Spec.Selector
	// Past model.MaxPorts the model reads no more ports.
	ports := s.Spec.Ports
	if len(ports) > model.MaxPorts+1 {
		ports = ports[:model.MaxPorts+1]
	}
	if len(ports) > 0 {
		out.Spec.Ports = make([]corev1.ServicePort, len(ports))
		for i, p := range ports {
			out.Spec.Ports[i] = corev1.ServicePort{Name: p.Name, Port: p.Port}
		}
	}
	return out, nil
}

func stripDefault(obj any) (any, error) {
	switch o := obj.(type) {
	case *monitoringv1.ServiceMonitor, *monitoringv1.PodMonitor:
		return stripMonitor(obj)
	case *cappedServiceMonitor:
		if _, err := stripMonitor(&o.ServiceMonitor); err != nil {
			return nil, err
		}
		return o, nil
	case *cappedPodMonitor:
		if _, err := stripMonitor(&o.PodMonitor); err != nil {
			return nil, err
		}
		return o, nil
	case *otelv1beta1.OpenTelemetryCollector:
		o.Spec.Config.Raw = model.CompactCollectorConfig(o.Spec.Config.Raw)
	case *otelv1alpha1.OpenTelemetryCollector:
		// A YAML string: JSON is YAML, so the compact form is kept as one.
		if j, err := yaml.YAMLToJSON([]byte(o.Spec.Config)); err == nil {
			if c := model.CompactCollectorConfig(j); len(c) < len(o.Spec.Config) {
				o.Spec.Config = string(c)
			}
		}
	case *otelv1alpha1.TargetAllocator:
		raws := make([][]byte, len(o.Spec.ScrapeConfigs))
		for i := range o.Spec.ScrapeConfigs {
			raws[i] = o.Spec.ScrapeConfigs[i].Raw
		}
		model.CompactScrapeConfigs(raws)
		for i := range o.Spec.ScrapeConfigs {
			o.Spec.ScrapeConfigs[i].Raw = raws[i]
		}
	}
	return stripMeta(obj)
}

// stripMonitor keeps at most model.MaxEndpoints+1 endpoints: past the
// limit the model reads none of them (TA302), and a stored monitor of a
// million endpoints would otherwise be held whole for as long as it exists.
// Of each endpoint it keeps at most model.MaxRelabelings+1 relabelings
// (past the limit none is read) and no metric relabelings (never read).
func stripMonitor(obj any) (any, error) {
	switch m := obj.(type) {
	case *monitoringv1.ServiceMonitor:
		if len(m.Spec.Endpoints) > model.MaxEndpoints+1 {
			m.Spec.Endpoints = slices.Clone(m.Spec.Endpoints[:model.MaxEndpoints+1])
		}
		for i := range m.Spec.Endpoints {
			ep := &m.Spec.Endpoints[i]
			ep.RelabelConfigs, ep.MetricRelabelConfigs = capRelabelings(ep.RelabelConfigs), nil
		}
	case *monitoringv1.PodMonitor:
		if len(m.Spec.PodMetricsEndpoints) > model.MaxEndpoints+1 {
			m.Spec.PodMetricsEndpoints = slices.Clone(m.Spec.PodMetricsEndpoints[:model.MaxEndpoints+1])
		}
		for i := range m.Spec.PodMetricsEndpoints {
			ep := &m.Spec.PodMetricsEndpoints[i]
			ep.RelabelConfigs, ep.MetricRelabelConfigs = capRelabelings(ep.RelabelConfigs), nil
		}
	}
	return stripMeta(obj)
}

func capRelabelings(rcs []monitoringv1.RelabelConfig) []monitoringv1.RelabelConfig {
	if len(rcs) > model.MaxRelabelings+1 {
		return slices.Clone(rcs[:model.MaxRelabelings+1])
	}
	return rcs
}

// Strip applies the transform the informers use to an object of any kind:
// what the caches would hold of it.
func Strip(obj any) (any, error) {
	switch obj.(type) {
	case *corev1.Pod:
		return stripPod(obj)
	case *corev1.Service:
		return stripService(obj)
	}
	return stripDefault(obj)
}
