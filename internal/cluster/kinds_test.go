package cluster_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ta-guard/ta-guard/internal/cluster"
	"github.com/ta-guard/ta-guard/internal/cluster/clustertest"
	"github.com/ta-guard/ta-guard/internal/model"
)

// Every kind of the registry goes from its manifest into its bucket and out
// of the view's look-ups, and leaves by kind, namespace and name alone (as
// an informer's delete names it): a kind cannot be decoded but not stored,
// or stored where no look-up finds it.
func TestEveryKindRoundTrips(t *testing.T) {
	for _, k := range model.Kinds() {
		t.Run(k.GVK.String(), func(t *testing.T) {
			require.NotEqual(t, model.NoBucket, k.Bucket)
			obj, err := clustertest.Sample(k)
			require.NoError(t, err)
			ref := obj.GetMeta().Ref
			assert.Equal(t, k.GVK.GroupVersion().String(), ref.APIVersion)
			assert.Equal(t, k.GVK.Kind, ref.Kind)

			s := cluster.NewStore()
			s.Upsert(obj)
			assert.Same(t, obj, s.Get(ref), "Get")
			assert.True(t, s.Has(ref), "Has")
			assert.Same(t, obj, clustertest.Found(s, obj), "the look-ups of bucket %s", k.Bucket)

			s.Delete(model.Ref{Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name})
			assert.Nil(t, s.Get(ref), "Get after Delete")
			assert.False(t, s.Has(ref), "Has after Delete")
			assert.Nil(t, clustertest.Found(s, obj), "the look-ups after Delete")
			assert.Nil(t, s.Namespace(clustertest.Namespace), "nothing left makes the namespace exist")
		})
	}
}

// An object whose type is not its kind's leaves the store as it was.
func TestUpsertIgnoresMismatchedType(t *testing.T) {
	s := cluster.NewStore()
	s.Upsert(&model.Pod{Meta: model.Meta{Ref: model.Ref{Kind: "Service", Namespace: "n", Name: "x"}}})
	s.Upsert(&model.Service{Meta: model.Meta{Ref: model.Ref{Kind: "Unknown", Namespace: "n", Name: "x"}}})
	assert.Nil(t, s.Namespace("n"))
	assert.Equal(t, 0, s.Counts()["services"]+s.Counts()["pods"])
}
