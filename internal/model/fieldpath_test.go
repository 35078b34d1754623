package model

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestFieldShortening(t *testing.T) {
	ta := field.NewPath("spec", "targetAllocator")
	tests := []struct {
		path       *field.Path
		base       string
		leaf, rest string
	}{
		{ta.Child("prometheusCR", "serviceMonitorSelector"), "spec.targetAllocator", "serviceMonitorSelector", "prometheusCR.serviceMonitorSelector"},
		{ta, "spec.targetAllocator", "targetAllocator", "spec.targetAllocator"},
		{field.NewPath("spec", "endpoints").Index(1), "spec", "endpoints[1]", "endpoints[1]"},
		// A sibling whose name starts like the base is not under it.
		{field.NewPath("spec", "targetAllocatorX"), "spec.targetAllocator", "targetAllocatorX", "spec.targetAllocatorX"},
		{field.NewPath("metadata"), "spec", "metadata", "metadata"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.leaf, FieldLeaf(tt.path), tt.path.String())
		assert.Equal(t, tt.rest, FieldUnder(tt.path.String(), tt.base), tt.path.String())
	}
}
