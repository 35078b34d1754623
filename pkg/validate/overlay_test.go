package validate

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ta-guard/ta-guard/pkg/cluster"
	"github.com/ta-guard/ta-guard/pkg/cluster/clustertest"
	"github.com/ta-guard/ta-guard/pkg/model"
)

// The overlay places a changed object of any registered kind where the
// store would file it, and takes a deleted one out, by kind alone. Only
// Namespaces and EndpointSlices pass through: they are never the subject of
// a request, only read around one.
func TestOverlayPlacesEveryKind(t *testing.T) {
	passThrough := map[model.Bucket]bool{model.NamespaceBucket: true, model.EndpointSliceBucket: true}
	for _, k := range model.Kinds() {
		t.Run(k.GVK.String(), func(t *testing.T) {
			obj, err := clustertest.Sample(k)
			require.NoError(t, err)
			ref := obj.GetMeta().Ref
			if passThrough[k.Bucket] {
				assert.Nil(t, clustertest.Found(newOverlay(cluster.NewStore(), ref, obj), obj))
				return
			}
			assert.Same(t, obj, clustertest.Found(newOverlay(cluster.NewStore(), ref, obj), obj), "placed into an empty view")

			s := cluster.NewStore()
			s.Upsert(obj)
			require.NotNil(t, clustertest.Found(s, obj))
			gone := model.Ref{Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name}
			assert.Nil(t, clustertest.Found(newOverlay(s, gone, nil), obj), "taken out of a view that holds it")
		})
	}
}
