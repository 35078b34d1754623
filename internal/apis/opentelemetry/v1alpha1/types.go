package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ta-guard/ta-guard/internal/apis/opentelemetry/v1beta1"
)

// OpenTelemetryCollector is the v1alpha1 collector: spec.config is a string.
//
// +kubebuilder:object:root=true
type OpenTelemetryCollector struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec CollectorSpec `json:"spec,omitempty"`
}

// OpenTelemetryCollectorList is needed by informers.
//
// +kubebuilder:object:root=true
type OpenTelemetryCollectorList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []OpenTelemetryCollector `json:"items"`
}

// CollectorSpec of v1alpha1.
type CollectorSpec struct {
	Mode string `json:"mode,omitempty"`
	// ServiceAccount is the collector pods' (default <name>-collector).
	ServiceAccount  string                  `json:"serviceAccount,omitempty"`
	Config          string                  `json:"config,omitempty"`
	TargetAllocator TargetAllocatorEmbedded `json:"targetAllocator,omitempty"`
}

// TargetAllocatorEmbedded is spec.targetAllocator of a v1alpha1 collector.
type TargetAllocatorEmbedded struct {
	// Enabled is a pointer: enabled: false written out (the TA off on
	// purpose) differs from enabled left out (TA001).
	Enabled            *bool        `json:"enabled,omitempty"`
	ServiceAccount     string       `json:"serviceAccount,omitempty"`
	AllocationStrategy string       `json:"allocationStrategy,omitempty"`
	Image              string       `json:"image,omitempty"`
	PrometheusCR       PrometheusCR `json:"prometheusCR,omitempty"`
}

// PrometheusCR of v1alpha1: selectors are plain maps, and nil or empty selects
// every monitor (the conversion to v1beta1 always yields {matchLabels: map}).
type PrometheusCR struct {
	Enabled                bool              `json:"enabled,omitempty"`
	ServiceMonitorSelector map[string]string `json:"serviceMonitorSelector,omitempty"`
	PodMonitorSelector     map[string]string `json:"podMonitorSelector,omitempty"`
	// ScrapeClasses are only counted (see v1beta1).
	ScrapeClasses []v1beta1.AnyConfig `json:"scrapeClasses,omitempty"`
}

// TargetAllocator is the standalone allocator; it is always on, and
// collectors attach to it with the label opentelemetry.io/target-allocator.
//
// +kubebuilder:object:root=true
type TargetAllocator struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec TargetAllocatorSpec `json:"spec,omitempty"`
}

// TargetAllocatorList is needed by informers.
//
// +kubebuilder:object:root=true
type TargetAllocatorList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []TargetAllocator `json:"items"`
}

// TargetAllocatorSpec: prometheusCR has the v1beta1 shape (nil selector:
// nothing).
type TargetAllocatorSpec struct {
	ServiceAccount     string               `json:"serviceAccount,omitempty"`
	AllocationStrategy string               `json:"allocationStrategy,omitempty"`
	Image              string               `json:"image,omitempty"`
	PrometheusCR       v1beta1.PrometheusCR `json:"prometheusCR,omitempty"`
	ScrapeConfigs      []v1beta1.AnyConfig  `json:"scrapeConfigs,omitempty"`
	// Mtls and AllowInsecureAuthSecrets: as in a collector's embedded TA.
	Mtls                     *v1beta1.TargetAllocatorMTLS `json:"mtls,omitempty"`
	AllowInsecureAuthSecrets bool                         `json:"allowInsecureAuthSecrets,omitempty"`
}

// ClusterObservability is the operator's one-object observability setup
// (feature gate operator.clusterobservability): the operator generates its
// collectors from it. Nothing of its spec is read: what matters is the
// collectors it generates (model.AllocatorFromClusterObservability).
//
// +kubebuilder:object:root=true
type ClusterObservability struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
}

// ClusterObservabilityList is the list type the scheme asks for.
//
// +kubebuilder:object:root=true
type ClusterObservabilityList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []ClusterObservability `json:"items"`
}
