// Package v1beta1 holds ta-guard's own view of opentelemetry.io/v1beta1: only
// the fields the rules read. Unknown fields are ignored on decode so that any
// operator release, older or newer, decodes.
//
// +kubebuilder:object:generate=true
// +groupName=opentelemetry.io
package v1beta1
