package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	monitoringv1alpha1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	sigsjson "sigs.k8s.io/json"

	otelv1alpha1 "github.com/ta-guard/ta-guard/pkg/apis/opentelemetry/v1alpha1"
	otelv1beta1 "github.com/ta-guard/ta-guard/pkg/apis/opentelemetry/v1beta1"
)

// ErrUnsupported is returned for kinds the rules do not read.
var ErrUnsupported = errors.New("kind not read by ta-guard")

// newTyped returns an empty typed object for a supported kind.
func newTyped(gvk schema.GroupVersionKind) (runtime.Object, bool) {
	switch gvk {
	case otelv1beta1.GroupVersion.WithKind("OpenTelemetryCollector"):
		return &otelv1beta1.OpenTelemetryCollector{}, true
	case otelv1alpha1.GroupVersion.WithKind("OpenTelemetryCollector"):
		return &otelv1alpha1.OpenTelemetryCollector{}, true
	case otelv1alpha1.GroupVersion.WithKind("TargetAllocator"):
		return &otelv1alpha1.TargetAllocator{}, true
	case monitoringv1.SchemeGroupVersion.WithKind("ServiceMonitor"):
		return &monitoringv1.ServiceMonitor{}, true
	case monitoringv1.SchemeGroupVersion.WithKind("PodMonitor"):
		return &monitoringv1.PodMonitor{}, true
	case monitoringv1.SchemeGroupVersion.WithKind("Prometheus"):
		return &monitoringv1.Prometheus{}, true
	case monitoringv1alpha1.SchemeGroupVersion.WithKind("PrometheusAgent"):
		return &monitoringv1alpha1.PrometheusAgent{}, true
	case corev1.SchemeGroupVersion.WithKind("Service"):
		return &corev1.Service{}, true
	case corev1.SchemeGroupVersion.WithKind("Pod"):
		return &corev1.Pod{}, true
	case corev1.SchemeGroupVersion.WithKind("Namespace"):
		return &corev1.Namespace{}, true
	case discoveryv1.SchemeGroupVersion.WithKind("EndpointSlice"):
		return &discoveryv1.EndpointSlice{}, true
	case appsv1.SchemeGroupVersion.WithKind("Deployment"):
		return &appsv1.Deployment{}, true
	case appsv1.SchemeGroupVersion.WithKind("StatefulSet"):
		return &appsv1.StatefulSet{}, true
	case appsv1.SchemeGroupVersion.WithKind("DaemonSet"):
		return &appsv1.DaemonSet{}, true
	case appsv1.SchemeGroupVersion.WithKind("ReplicaSet"):
		return &appsv1.ReplicaSet{}, true
	case batchv1.SchemeGroupVersion.WithKind("Job"):
		return &batchv1.Job{}, true
	case batchv1.SchemeGroupVersion.WithKind("CronJob"):
		return &batchv1.CronJob{}, true
	}
	return nil, false
}

// Supported reports whether ta-guard reads objects of this kind.
func Supported(gvk schema.GroupVersionKind) bool {
	_, ok := newTyped(gvk)
	return ok
}

// Decode turns an object's JSON, as a manifest or an admission request
// carries it, into its normalized form. Unknown fields are ignored so that
// any operator version decodes; a field of the wrong type is an error naming
// the field. Kinds the rules do not read return ErrUnsupported.
func Decode(gvk schema.GroupVersionKind, raw []byte) (Object, error) {
	typed, ok := newTyped(gvk)
	if !ok {
		return nil, fmt.Errorf("%s: %w", gvk, ErrUnsupported)
	}
	// Case-sensitive like the API server: "Port" is not "port".
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(raw, typed); err != nil {
		return nil, describeJSONError(err)
	}
	return FromTyped(typed)
}

// FromTyped normalizes a typed API object.
func FromTyped(obj runtime.Object) (Object, error) {
	switch o := obj.(type) {
	case *otelv1beta1.OpenTelemetryCollector:
		return AllocatorFromV1beta1(o)
	case *otelv1alpha1.OpenTelemetryCollector:
		return AllocatorFromV1alpha1(o)
	case *otelv1alpha1.TargetAllocator:
		return AllocatorFromTargetAllocator(o)
	case *monitoringv1.ServiceMonitor:
		return MonitorFromServiceMonitor(o)
	case *monitoringv1.PodMonitor:
		return MonitorFromPodMonitor(o)
	case *monitoringv1.Prometheus:
		return ReaderFromPrometheus(o)
	case *monitoringv1alpha1.PrometheusAgent:
		return ReaderFromPrometheusAgent(o)
	case *corev1.Service:
		return ServiceFromCore(o), nil
	case *corev1.Pod:
		return PodFromCore(o), nil
	case *corev1.Namespace:
		return NamespaceFromCore(o), nil
	case *discoveryv1.EndpointSlice:
		return EndpointSliceFromDiscovery(o), nil
	case *appsv1.Deployment:
		return workloadPod("apps/v1", "Deployment", o.Namespace, o.Name, &o.Spec.Template), nil
	case *appsv1.StatefulSet:
		return workloadPod("apps/v1", "StatefulSet", o.Namespace, o.Name, &o.Spec.Template), nil
	case *appsv1.DaemonSet:
		return workloadPod("apps/v1", "DaemonSet", o.Namespace, o.Name, &o.Spec.Template), nil
	case *appsv1.ReplicaSet:
		return workloadPod("apps/v1", "ReplicaSet", o.Namespace, o.Name, &o.Spec.Template), nil
	case *batchv1.Job:
		return workloadPod("batch/v1", "Job", o.Namespace, o.Name, &o.Spec.Template), nil
	case *batchv1.CronJob:
		return workloadPod("batch/v1", "CronJob", o.Namespace, o.Name, &o.Spec.JobTemplate.Spec.Template), nil
	}
	return nil, fmt.Errorf("%T: %w", obj, ErrUnsupported)
}

// workloadPod stands for the Pods a workload will create: its template's
// labels and ports, in the workload's namespace, named after the workload.
func workloadPod(apiVersion, kind, ns, name string, t *corev1.PodTemplateSpec) *Pod {
	return PodFromTemplate(Ref{APIVersion: apiVersion, Kind: kind, Namespace: ns, Name: name}, t.ObjectMeta, &t.Spec)
}

// UnknownFields lists the fields of an object that its kind does not have:
// typos such as namespaceSelecter, which would otherwise be dropped in
// silence (the API server's strict field validation rejects them). Our own
// opentelemetry.io types model only what the rules read, so of those only
// the label selectors of prometheusCR are checked, where a stray field
// changes the meaning most.
func UnknownFields(gvk schema.GroupVersionKind, raw []byte) []string {
	if gvk.Group == otelv1beta1.GroupVersion.Group {
		return selectorShapes(gvk, raw)
	}
	typed, ok := newTyped(gvk)
	if !ok {
		return nil
	}
	strict, err := sigsjson.UnmarshalStrict(raw, typed, sigsjson.DisallowUnknownFields)
	if err != nil {
		return nil // Decode reports real errors
	}
	out := make([]string, 0, len(strict))
	for _, e := range strict {
		out = append(out, e.Error())
	}
	return out
}

// selectorShapes finds prometheusCR selectors written in the v1alpha1 shape
// under a kind whose selectors are label selectors (a v1beta1 collector, a
// TargetAllocator): serviceMonitorSelector: {team: payments}. The API server
// prunes team and stores {}, which selects every monitor.
func selectorShapes(gvk schema.GroupVersionKind, raw []byte) []string {
	var path []string
	switch {
	case gvk.Version == "v1beta1" && gvk.Kind == "OpenTelemetryCollector":
		path = []string{"spec", "targetAllocator", "prometheusCR"}
	case gvk.Kind == "TargetAllocator":
		path = []string{"spec", "prometheusCR"}
	default:
		return nil
	}
	var obj map[string]any
	if json.Unmarshal(raw, &obj) != nil {
		return nil
	}
	cur := obj
	for _, p := range path {
		next, ok := cur[p].(map[string]any)
		if !ok {
			return nil
		}
		cur = next
	}
	field := strings.Join(path, ".")
	var out []string
	for _, name := range sortedKeys(cur) {
		sel, ok := cur[name].(map[string]any)
		if !ok || !strings.HasSuffix(name, "Selector") {
			continue
		}
		var stray []string
		for _, k := range sortedKeys(sel) {
			if k != "matchLabels" && k != "matchExpressions" {
				stray = append(stray, k)
			}
		}
		if len(stray) == 0 {
			continue
		}
		pairs := make([]string, len(stray))
		for i, k := range stray {
			pairs[i] = fmt.Sprintf("%s: %v", k, sel[k])
		}
		out = append(out, fmt.Sprintf("unknown field %q: %s.%s is a label selector, and the API server prunes %s, leaving {} (every %s); write matchLabels: {%s}",
			field+"."+name+"."+stray[0], field, name, strings.Join(stray, ", "), strings.TrimSuffix(name, "Selector"), strings.Join(pairs, ", ")))
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sortStrings(out)
	return out
}
