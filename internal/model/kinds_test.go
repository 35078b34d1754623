package model

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Informers' objects come without apiVersion and kind: their Go type must
// lead back to the entry they were listed for.
func TestFromTypedFindsTheEntryByType(t *testing.T) {
	for _, k := range Kinds() {
		t.Run(k.GVK.String(), func(t *testing.T) {
			obj, err := FromTyped(k.New())
			require.NoError(t, err)
			assert.Equal(t, k.GVK.GroupVersion().String(), obj.GetMeta().Ref.APIVersion)
			assert.Equal(t, k.GVK.Kind, obj.GetMeta().Ref.Kind)
			got, ok := KindOf(k.GVK)
			require.True(t, ok)
			assert.Equal(t, k.Bucket, got.Bucket)
			assert.True(t, Supported(k.GVK))
		})
	}
}

func TestMonitorKindsAreTheMonitorBucket(t *testing.T) {
	var names []string
	for _, k := range Kinds() {
		if k.Bucket == MonitorBucket {
			names = append(names, k.GVK.Kind)
		}
	}
	var want []string
	for _, k := range MonitorKinds {
		want = append(want, k.String())
		got, ok := MonitorKindOf(k.String())
		assert.True(t, ok)
		assert.Equal(t, k, got)
	}
	assert.Equal(t, want, names)
	assert.Equal(t, NoBucket, BucketOf("ConfigMap"))
}

// A dynamic informer's object normalizes as its typed form does.
func TestFromTypedTakesUnstructured(t *testing.T) {
	raw := []byte(`{"apiVersion":"monitoring.coreos.com/v1","kind":"ServiceMonitor","metadata":{"name":"m","namespace":"n"},"spec":{"selector":{"matchLabels":{"app":"a"}},"endpoints":[{"port":"http"}]}}`)
	want, err := Decode(schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "ServiceMonitor"}, raw)
	require.NoError(t, err)
	u := &unstructured.Unstructured{}
	require.NoError(t, u.UnmarshalJSON(raw))
	got, err := FromTyped(u)
	require.NoError(t, err)
	assert.Equal(t, want, got)

	u.SetKind("ConfigMap")
	_, err = FromTyped(u)
	assert.ErrorIs(t, err, ErrUnsupported)
}
