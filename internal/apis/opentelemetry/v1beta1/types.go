package v1beta1

import (
	"bytes"
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// OpenTelemetryCollector is the subset of the operator's collector the rules read.
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

// CollectorSpec: mode, the embedded TA and the collector configuration.
type CollectorSpec struct {
	Mode string `json:"mode,omitempty"`
	// ServiceAccount is the collector pods' (default <name>-collector).
	ServiceAccount  string                  `json:"serviceAccount,omitempty"`
	TargetAllocator TargetAllocatorEmbedded `json:"targetAllocator,omitempty"`
	Config          AnyConfig               `json:"config,omitempty"`
}

// TargetAllocatorEmbedded is spec.targetAllocator of a collector.
type TargetAllocatorEmbedded struct {
	// Enabled is a pointer: enabled: false written out (the TA off on
	// purpose) differs from enabled left out (TA001).
	Enabled            *bool        `json:"enabled,omitempty"`
	ServiceAccount     string       `json:"serviceAccount,omitempty"`
	AllocationStrategy string       `json:"allocationStrategy,omitempty"`
	Image              string       `json:"image,omitempty"`
	PrometheusCR       PrometheusCR `json:"prometheusCR,omitempty"`
	// Mtls and AllowInsecureAuthSecrets decide whether the TA hands
	// collectors the credentials of their scrape configs or "<secret>"
	// (operator v0.153 and later; before, a feature gate did).
	Mtls                     *TargetAllocatorMTLS `json:"mtls,omitempty"`
	AllowInsecureAuthSecrets bool                 `json:"allowInsecureAuthSecrets,omitempty"`
}

// TargetAllocatorMTLS is the TA's mTLS with its collectors.
type TargetAllocatorMTLS struct {
	Enabled bool `json:"enabled,omitempty"`
}

// PrometheusCR is the Prometheus Operator CR discovery of a TA. Selectors are
// pointers on purpose: nil (select nothing) and {} (select all) differ.
type PrometheusCR struct {
	Enabled          bool     `json:"enabled,omitempty"`
	AllowNamespaces  []string `json:"allowNamespaces,omitempty"`
	DenyNamespaces   []string `json:"denyNamespaces,omitempty"`
	SecretNamespaces []string `json:"secretNamespaces,omitempty"`

	ServiceMonitorSelector *metav1.LabelSelector `json:"serviceMonitorSelector,omitempty"`
	PodMonitorSelector     *metav1.LabelSelector `json:"podMonitorSelector,omitempty"`
	ScrapeConfigSelector   *metav1.LabelSelector `json:"scrapeConfigSelector,omitempty"`
	ProbeSelector          *metav1.LabelSelector `json:"probeSelector,omitempty"`

	ServiceMonitorNamespaceSelector *metav1.LabelSelector `json:"serviceMonitorNamespaceSelector,omitempty"`
	PodMonitorNamespaceSelector     *metav1.LabelSelector `json:"podMonitorNamespaceSelector,omitempty"`
	ScrapeConfigNamespaceSelector   *metav1.LabelSelector `json:"scrapeConfigNamespaceSelector,omitempty"`
	ProbeNamespaceSelector          *metav1.LabelSelector `json:"probeNamespaceSelector,omitempty"`

	// ScrapeClasses are only counted: their relabelings run before a
	// monitor's own (TA111 does not judge then).
	ScrapeClasses []AnyConfig `json:"scrapeClasses,omitempty"`
}

// AnyConfig keeps a free-form configuration as raw JSON; the rules parse only
// the part they need, and only when they need it.
//
// It also accepts a YAML string, which is what a v1alpha1 collector carries in
// spec.config: without the operator's conversion webhook (CRD conversion
// None) such an object is served as v1beta1 unchanged, and one odd object
// must not break a decoder or an informer.
type AnyConfig struct {
	Raw []byte `json:"-"`
}

// UnmarshalJSON accepts an object, null, or a YAML document in a string.
func (c *AnyConfig) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	switch {
	case len(data) == 0 || bytes.Equal(data, []byte("null")):
		c.Raw = nil
		return nil
	case data[0] == '"':
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		j, err := yaml.YAMLToJSON([]byte(s))
		if err != nil {
			return fmt.Errorf("config string is not valid YAML: %w", err)
		}
		if bytes.Equal(bytes.TrimSpace(j), []byte("null")) {
			c.Raw = nil
			return nil
		}
		c.Raw = j
		return nil
	case data[0] == '{':
		c.Raw = append([]byte(nil), data...)
		return nil
	default:
		return fmt.Errorf("config must be an object or a YAML string, got %.20s", data)
	}
}

// MarshalJSON writes the raw object back, or {} when empty.
func (c AnyConfig) MarshalJSON() ([]byte, error) {
	if len(c.Raw) == 0 {
		return []byte("{}"), nil
	}
	return c.Raw, nil
}
