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

	"github.com/ta-guard/ta-guard/pkg/model"
)

// CacheOptions strips what the rules never read before objects enter the
// informers' caches: managed fields and foreign annotations everywhere, and
// Pods down to labels, phase, IP and container ports. A 50,000-Pod cluster
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
	for _, c := range p.Spec.Containers {
		if len(c.Ports) > 0 {
			out.Spec.Containers = append(out.Spec.Containers, corev1.Container{Name: c.Name, Ports: c.Ports})
		}
	}
	for _, c := range p.Spec.InitContainers {
		if len(c.Ports) > 0 {
			out.Spec.InitContainers = append(out.Spec.InitContainers, corev1.Container{Name: c.Name, Ports: c.Ports})
		}
	}
	out.Status.Phase = p.Status.Phase
	out.Status.PodIP = p.Status.PodIP
	return out, nil
}

func stripService(obj any) (any, error) {
	s, ok := obj.(*corev1.Service)
	if !ok {
		return stripMeta(obj)
	}
	trimMeta(&s.ObjectMeta)
	s.Status = corev1.ServiceStatus{}
	return s, nil
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
	}
	return stripMeta(obj)
}

// stripMonitor keeps at most model.MaxEndpoints+1 endpoints: past the
// limit the model reads none of them (TA302), and a stored monitor of a
// million endpoints would otherwise be held whole for as long as it exists.
func stripMonitor(obj any) (any, error) {
	switch m := obj.(type) {
	case *monitoringv1.ServiceMonitor:
		if len(m.Spec.Endpoints) > model.MaxEndpoints+1 {
			m.Spec.Endpoints = slices.Clone(m.Spec.Endpoints[:model.MaxEndpoints+1])
		}
	case *monitoringv1.PodMonitor:
		if len(m.Spec.PodMetricsEndpoints) > model.MaxEndpoints+1 {
			m.Spec.PodMetricsEndpoints = slices.Clone(m.Spec.PodMetricsEndpoints[:model.MaxEndpoints+1])
		}
	}
	return stripMeta(obj)
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
