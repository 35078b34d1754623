// Package watch keeps a cluster.Store in step with the API server through
// informers: one per kind the rules read, started when the kind is served
// (a CRD installed after start-up is picked up), with cached objects cut down
// to what the rules read.
package watch

import (
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	monitoringv1alpha1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	otelv1alpha1 "github.com/ta-guard/ta-guard/pkg/apis/opentelemetry/v1alpha1"
	otelv1beta1 "github.com/ta-guard/ta-guard/pkg/apis/opentelemetry/v1beta1"
)

// Kind is one informer the watcher runs.
type Kind struct {
	// Name is used in logs, metrics and readiness.
	Name string
	// Alternatives are the object types to watch, the first one served wins
	// (OpenTelemetryCollector: v1beta1, else v1alpha1).
	Alternatives []client.Object
	// Builtin kinds are always served; the others come from CRDs.
	Builtin bool
}

// Kinds are the informers of ta-guard, in start order.
func Kinds() []Kind {
	return []Kind{
		{Name: "Namespace", Alternatives: []client.Object{&corev1.Namespace{}}, Builtin: true},
		{Name: "Service", Alternatives: []client.Object{&corev1.Service{}}, Builtin: true},
		{Name: "Pod", Alternatives: []client.Object{&corev1.Pod{}}, Builtin: true},
		{Name: "EndpointSlice", Alternatives: []client.Object{&discoveryv1.EndpointSlice{}}, Builtin: true},
		{Name: "OpenTelemetryCollector", Alternatives: []client.Object{&otelv1beta1.OpenTelemetryCollector{}, &otelv1alpha1.OpenTelemetryCollector{}}},
		{Name: "TargetAllocator", Alternatives: []client.Object{&otelv1alpha1.TargetAllocator{}}},
		{Name: "ServiceMonitor", Alternatives: []client.Object{&monitoringv1.ServiceMonitor{}}},
		{Name: "PodMonitor", Alternatives: []client.Object{&monitoringv1.PodMonitor{}}},
		{Name: "Prometheus", Alternatives: []client.Object{&monitoringv1.Prometheus{}}},
		{Name: "PrometheusAgent", Alternatives: []client.Object{&monitoringv1alpha1.PrometheusAgent{}}},
	}
}

// NewScheme registers every type the watcher and the webhook decode.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme,
		monitoringv1.AddToScheme,
		monitoringv1alpha1.AddToScheme,
		otelv1alpha1.AddToScheme,
		otelv1beta1.AddToScheme,
	} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// gvkOf returns the GroupVersionKind of a registered object.
func gvkOf(s *runtime.Scheme, obj runtime.Object) (schema.GroupVersionKind, error) {
	gvks, _, err := s.ObjectKinds(obj)
	if err != nil {
		return schema.GroupVersionKind{}, err
	}
	return gvks[0], nil
}
