package watch

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/ta-guard/ta-guard/internal/model"
)

// The informers are the registry's watched kinds, each version resolving
// through the scheme to the kind and version the registry gives it: what
// the watcher checks is served is what its informer lists.
func TestKindsAreTheRegistry(t *testing.T) {
	scheme, err := NewScheme()
	require.NoError(t, err)
	var want, got []schema.GroupVersionKind
	for _, k := range model.Kinds() {
		if k.Watched {
			want = append(want, k.GVK)
		}
	}
	names := map[string]bool{}
	for _, k := range Kinds() {
		assert.False(t, names[k.Name], "%s watched twice", k.Name)
		names[k.Name] = true
		for _, obj := range k.Alternatives {
			gvk, err := gvkOf(scheme, obj)
			require.NoError(t, err, "%T is in the scheme", obj)
			assert.Equal(t, k.Name, gvk.Kind)
			got = append(got, gvk)

			// What the cache holds of it still normalizes, to its kind.
			stripped, err := Strip(obj)
			require.NoError(t, err)
			m, err := model.FromTyped(uncapped(stripped.(runtime.Object)))
			require.NoError(t, err)
			assert.Equal(t, k.Name, m.GetMeta().Ref.Kind)
		}
	}
	assert.Equal(t, want, got)
}

// A cache transform is for a type an informer lists.
func TestTransformsAreForWatchedTypes(t *testing.T) {
	watched := map[reflect.Type]bool{}
	for _, k := range Kinds() {
		for _, obj := range k.Alternatives {
			watched[reflect.TypeOf(obj)] = true
		}
	}
	for obj := range CacheOptions(nil).ByObject {
		assert.True(t, watched[reflect.TypeOf(obj)], "%T", obj)
	}
}
