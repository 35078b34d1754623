// Package watch keeps a cluster.Store in step with the API server through
// informers: one per kind the rules read, started when the kind is served
// (a CRD installed after start-up is picked up), with cached objects cut down
// to what the rules read.
package watch

import (
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	monitoringv1alpha1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1alpha1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	otelv1alpha1 "github.com/ta-guard/ta-guard/internal/apis/opentelemetry/v1alpha1"
	otelv1beta1 "github.com/ta-guard/ta-guard/internal/apis/opentelemetry/v1beta1"
	"github.com/ta-guard/ta-guard/internal/model"
)

// Kind is one informer the watcher runs.
type Kind struct {
	// Name is used in logs, metrics and readiness.
	Name string
	// Alternatives are the object types to watch, the first one served wins
	// (OpenTelemetryCollector: v1beta1, else v1alpha1).
	Alternatives []client.Object
}

// Kinds are the informers of ta-guard, in start order: one per watched kind
// of the model's registry, whichever of its versions is served.
func Kinds() []Kind {
	var out []Kind
	at := map[string]int{}
	for _, k := range model.Kinds() {
		if !k.Watched {
			continue
		}
		i, ok := at[k.GVK.Kind]
		if !ok {
			i = len(out)
			at[k.GVK.Kind] = i
			out = append(out, Kind{Name: k.GVK.Kind})
		}
		out[i].Alternatives = append(out[i].Alternatives, informerType(k.New()))
	}
	return out
}

// informerType is the type an informer decodes a kind into: the capped
// monitors for ServiceMonitor and PodMonitor (capped.go).
func informerType(obj client.Object) client.Object {
	switch obj.(type) {
	case *monitoringv1.ServiceMonitor:
		return &cappedServiceMonitor{}
	case *monitoringv1.PodMonitor:
		return &cappedPodMonitor{}
	}
	return obj
}

// NewScheme registers every type the watcher and the webhook decode; the
// monitors with endpoints as the informers decode them (capped.go).
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme,
		addMonitoringV1,
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
