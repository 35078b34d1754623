package model

import (
	"fmt"
	"reflect"
	"slices"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	monitoringv1alpha1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	otelv1alpha1 "github.com/ta-guard/ta-guard/internal/apis/opentelemetry/v1alpha1"
	otelv1beta1 "github.com/ta-guard/ta-guard/internal/apis/opentelemetry/v1beta1"
)

// Kind is one kind ta-guard reads, in one API version: all that decoding,
// watching, storing and overlaying need to know about it, so that adding a
// kind is adding one entry to kinds.
type Kind struct {
	GVK schema.GroupVersionKind
	// Resource is the kind's plural resource name (prometheuses, not
	// prometheuss): what RBAC, webhook rules and access reviews name.
	// test/deploy holds it to the API server's RESTMapper.
	Resource string
	// Reviewed kinds are sent to the webhook (CREATE, UPDATE, DELETE):
	// its rules in config/webhook, the chart and the sandbox are tested
	// against, or made from, this.
	Reviewed bool
	// New returns an empty typed object: what Decode fills, and what an
	// informer lists.
	New func() APIObject
	// Normalize turns a typed object, as New returns, into the model.
	Normalize func(runtime.Object) (Object, error)
	// Bucket is where the cluster store files the kind's objects, and so
	// which look-ups of a view return them.
	Bucket Bucket
	// Watched kinds get an informer. Workloads do not: they stand for
	// their Pods offline, and live the Pods themselves are watched.
	Watched bool
	// Sparse: the Go type holds only the fields the rules read (our own
	// opentelemetry.io types), so a field it lacks is no typo.
	Sparse bool
	// PrometheusCR is the path of the prometheusCR block, for kinds whose
	// monitor selectors there are label selectors: the API server prunes a
	// selector written as a plain map to {}, which selects everything.
	PrometheusCR []string
}

// APIObject is a typed API object (client.Object, without the dependency).
type APIObject interface {
	metav1.Object
	runtime.Object
}

// Bucket is where the store files objects. The bucket fixes the model type:
// a kind in ServiceBucket normalizes to *Service, and so on.
type Bucket int

const (
	// NoBucket is the bucket of kinds ta-guard does not read.
	NoBucket Bucket = iota
	NamespaceBucket
	ServiceBucket
	// PodBucket holds Pods and, offline, the workloads standing for them.
	PodBucket
	MonitorBucket
	EndpointSliceBucket
	// ReaderBucket holds readers that are not Target Allocators
	// (Prometheus, PrometheusAgent).
	ReaderBucket
	// AllocatorBucket holds Target Allocators, which are readers too.
	AllocatorBucket
)

var bucketNames = [...]string{"none", "namespaces", "services", "pods", "monitors", "endpointslices", "readers", "allocators"}

func (b Bucket) String() string {
	if b < 0 || int(b) >= len(bucketNames) {
		return fmt.Sprintf("Bucket(%d)", int(b))
	}
	return bucketNames[b]
}

// kinds is the registry. Versions of one kind are listed newest first: the
// watcher watches the first one the API server serves. The order is also
// the order informers start in.
var kinds = []Kind{
	entry(corev1.SchemeGroupVersion.WithKind("Namespace"), NamespaceBucket, always(NamespaceFromCore)),
	reviewed(entry(corev1.SchemeGroupVersion.WithKind("Service"), ServiceBucket, always(ServiceFromCore))),
	entry(corev1.SchemeGroupVersion.WithKind("Pod"), PodBucket, always(PodFromCore)),
	entry(discoveryv1.SchemeGroupVersion.WithKind("EndpointSlice"), EndpointSliceBucket, always(EndpointSliceFromDiscovery)),
	reviewed(sparse(entry(otelv1beta1.GroupVersion.WithKind("OpenTelemetryCollector"), AllocatorBucket, AllocatorFromV1beta1), "spec", "targetAllocator", "prometheusCR")),
	// v1alpha1 selectors are plain maps: nothing to prune.
	reviewed(sparse(entry(otelv1alpha1.GroupVersion.WithKind("OpenTelemetryCollector"), AllocatorBucket, AllocatorFromV1alpha1))),
	reviewed(sparse(entry(otelv1alpha1.GroupVersion.WithKind("TargetAllocator"), AllocatorBucket, AllocatorFromTargetAllocator), "spec", "prometheusCR")),
	unwatched(sparse(entry(otelv1alpha1.GroupVersion.WithKind("ClusterObservability"), AllocatorBucket, AllocatorFromClusterObservability))),
	reviewed(entry(monitoringv1.SchemeGroupVersion.WithKind("ServiceMonitor"), MonitorBucket, MonitorFromServiceMonitor)),
	reviewed(entry(monitoringv1.SchemeGroupVersion.WithKind("PodMonitor"), MonitorBucket, MonitorFromPodMonitor)),
	reviewed(entry(monitoringv1alpha1.SchemeGroupVersion.WithKind("ScrapeConfig"), MonitorBucket, MonitorFromScrapeConfig)),
	reviewed(entry(monitoringv1.SchemeGroupVersion.WithKind("Probe"), MonitorBucket, MonitorFromProbe)),
	entry(monitoringv1.SchemeGroupVersion.WithKind("Prometheus"), ReaderBucket, ReaderFromPrometheus),
	entry(monitoringv1alpha1.SchemeGroupVersion.WithKind("PrometheusAgent"), ReaderBucket, ReaderFromPrometheusAgent),
	workload(appsv1.SchemeGroupVersion.WithKind("Deployment"), func(o *appsv1.Deployment) *corev1.PodTemplateSpec { return &o.Spec.Template }),
	workload(appsv1.SchemeGroupVersion.WithKind("StatefulSet"), func(o *appsv1.StatefulSet) *corev1.PodTemplateSpec { return &o.Spec.Template }),
	workload(appsv1.SchemeGroupVersion.WithKind("DaemonSet"), func(o *appsv1.DaemonSet) *corev1.PodTemplateSpec { return &o.Spec.Template }),
	workload(appsv1.SchemeGroupVersion.WithKind("ReplicaSet"), func(o *appsv1.ReplicaSet) *corev1.PodTemplateSpec { return &o.Spec.Template }),
	workload(batchv1.SchemeGroupVersion.WithKind("Job"), func(o *batchv1.Job) *corev1.PodTemplateSpec { return &o.Spec.Template }),
	workload(batchv1.SchemeGroupVersion.WithKind("CronJob"), func(o *batchv1.CronJob) *corev1.PodTemplateSpec { return &o.Spec.JobTemplate.Spec.Template }),
}

// entry makes a watched entry; T is inferred from normalize, so the typed
// object and its normalizer cannot disagree.
func entry[T any, P interface {
	*T
	APIObject
}, O Object](gvk schema.GroupVersionKind, b Bucket, normalize func(P) (O, error)) Kind {
	plural, _ := meta.UnsafeGuessKindToResource(gvk)
	return Kind{
		GVK:      gvk,
		Resource: plural.Resource,
		New:      func() APIObject { return P(new(T)) },
		Bucket:   b,
		Normalize: func(obj runtime.Object) (Object, error) {
			p, ok := obj.(P)
			if !ok {
				return nil, fmt.Errorf("%T is not a %s: %w", obj, gvk.Kind, ErrUnsupported)
			}
			o, err := normalize(p)
			if err != nil {
				return nil, err
			}
			return o, nil
		},
		Watched: true,
	}
}

func always[P any, O Object](f func(P) O) func(P) (O, error) {
	return func(p P) (O, error) { return f(p), nil }
}

// reviewed marks a kind the webhook reviews.
func reviewed(k Kind) Kind {
	k.Reviewed = true
	return k
}

func sparse(k Kind, prometheusCR ...string) Kind {
	k.Sparse, k.PrometheusCR = true, prometheusCR
	return k
}

// workload stands for the Pods a workload will create: its template's
// labels and ports, in the workload's namespace, named after the workload.
// unwatched marks a kind read from manifests only: live, what the operator
// generates from it is in the cluster itself.
func unwatched(k Kind) Kind {
	k.Watched = false
	return k
}

func workload[T any, P interface {
	*T
	APIObject
}](gvk schema.GroupVersionKind, template func(P) *corev1.PodTemplateSpec) Kind {
	apiVersion := gvk.GroupVersion().String()
	k := entry(gvk, PodBucket, always(func(o P) *Pod {
		t := template(o)
		p := PodFromTemplate(Ref{APIVersion: apiVersion, Kind: gvk.Kind, Namespace: o.GetNamespace(), Name: o.GetName()}, t.ObjectMeta, &t.Spec)
		p.Implies = kubeletServices(&t.Spec)
		return p
	}))
	k.Watched = false
	return k
}

// The look-ups, built once. A kind's name decides its bucket whatever the
// version, since the store keys objects by kind, namespace and name.
var byGVK, byType, byName = index(kinds)

func index(ks []Kind) (map[schema.GroupVersionKind]*Kind, map[reflect.Type]*Kind, map[string]Bucket) {
	gvks := map[schema.GroupVersionKind]*Kind{}
	types := map[reflect.Type]*Kind{}
	names := map[string]Bucket{}
	for i := range ks {
		k := &ks[i]
		t := reflect.TypeOf(k.New())
		if gvks[k.GVK] != nil || types[t] != nil {
			panic(fmt.Sprintf("model: %s (%s) registered twice", k.GVK, t))
		}
		if b, ok := names[k.GVK.Kind]; ok && b != k.Bucket {
			panic(fmt.Sprintf("model: %s in buckets %s and %s", k.GVK.Kind, b, k.Bucket))
		}
		gvks[k.GVK], types[t], names[k.GVK.Kind] = k, k, k.Bucket
	}
	return gvks, types, names
}

// Kinds lists the registry, in its order.
func Kinds() []Kind { return slices.Clone(kinds) }

// ResourceOf returns the plural resource of a kind, any version: its
// registry entry's, else apimachinery's guess (a kind the registry does not
// hold: a ServiceAccount, a Secret).
func ResourceOf(group, kind string) string {
	for _, k := range kinds {
		if k.GVK.Group == group && k.GVK.Kind == kind {
			return k.Resource
		}
	}
	plural, _ := meta.UnsafeGuessKindToResource(schema.GroupVersionKind{Group: group, Kind: kind})
	return plural.Resource
}

// ReviewedKind reports whether the webhook reviews the kind, any version.
func ReviewedKind(kind string) bool {
	for _, k := range kinds {
		if k.GVK.Kind == kind && k.Reviewed {
			return true
		}
	}
	return false
}

// KindOf returns the registry entry of a kind and version.
func KindOf(gvk schema.GroupVersionKind) (Kind, bool) {
	if k := byGVK[gvk]; k != nil {
		return *k, true
	}
	return Kind{}, false
}

// BucketOf returns where objects of a kind (by name, any version) are
// filed: NoBucket for kinds ta-guard does not read.
func BucketOf(kind string) Bucket { return byName[kind] }

// MonitorKindOf returns the MonitorKind of a kind name in MonitorBucket.
func MonitorKindOf(kind string) (MonitorKind, bool) {
	for _, k := range MonitorKinds {
		if k.String() == kind {
			return k, true
		}
	}
	return 0, false
}
