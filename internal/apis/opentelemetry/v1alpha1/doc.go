// Package v1alpha1 holds ta-guard's own view of opentelemetry.io/v1alpha1:
// the older OpenTelemetryCollector (config as a YAML string, selectors as
// plain label maps) and the standalone TargetAllocator.
//
// +kubebuilder:object:generate=true
// +groupName=opentelemetry.io
package v1alpha1
