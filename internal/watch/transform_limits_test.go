package watch

import (
	"fmt"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"

	"github.com/ta-guard/ta-guard/pkg/model"
)

// The informers decode no more of a monitor's endpoints than the model
// reads: one past the limit, so that the model still knows the limit was
// passed (TA302), and the rest only scanned, so that a stored monitor of
// 400,000 empty endpoints costs what 1,001 do. Decoded as the informers
// decode: the scheme's codec, a list and single objects.
func TestInformersDecodeEndpointsWithinTheLimit(t *testing.T) {
	scheme, err := NewScheme()
	require.NoError(t, err)
	codecs := serializer.NewCodecFactory(scheme)
	decode := func(t *testing.T, doc string) runtime.Object {
		t.Helper()
		obj, _, err := codecs.UniversalDeserializer().Decode([]byte(doc), nil, nil)
		require.NoError(t, err)
		return obj
	}
	monitor := func(kind, field string, n int, ep string) string {
		return fmt.Sprintf(`{"apiVersion":"monitoring.coreos.com/v1","kind":%q,"metadata":{"name":"m","namespace":"ns"},"spec":{"selector":{"matchLabels":{"app":"a"}},"jobLabel":"j",%q:[%s]}}`,
			kind, field, strings.TrimSuffix(strings.Repeat(ep+",", n), ","))
	}
	for _, n := range []int{0, 3, model.MaxEndpoints, model.MaxEndpoints + 1, 400_000} {
		sm := decode(t, monitor("ServiceMonitor", "endpoints", n, `{"port":"web","path":"/m"}`))
		require.IsType(t, &cappedServiceMonitor{}, sm)
		typed := uncapped(sm).(*monitoringv1.ServiceMonitor)
		assert.Len(t, typed.Spec.Endpoints, min(n, model.MaxEndpoints+1))
		assert.Equal(t, "j", typed.Spec.JobLabel, "the rest of the spec is read")
		assert.Equal(t, "a", typed.Spec.Selector.MatchLabels["app"])
		if n > 0 {
			assert.Equal(t, "/m", typed.Spec.Endpoints[0].Path)
		}
		m, err := model.FromTyped(typed)
		require.NoError(t, err)
		assert.Equal(t, n > model.MaxEndpoints, len(m.GetMeta().Defects) == 1, "n=%d", n)

		pm := decode(t, monitor("PodMonitor", "podMetricsEndpoints", n, `{"port":"web"}`))
		assert.Len(t, uncapped(pm).(*monitoringv1.PodMonitor).Spec.PodMetricsEndpoints, min(n, model.MaxEndpoints+1))
	}

	list := decode(t, `{"apiVersion":"monitoring.coreos.com/v1","kind":"ServiceMonitorList","metadata":{},"items":[`+
		monitor("ServiceMonitor", "endpoints", 5000, `{}`)+`,`+monitor("ServiceMonitor", "endpoints", 2, `{}`)+`]}`)
	items := list.(*cappedServiceMonitorList).Items
	require.Len(t, items, 2)
	assert.Len(t, items[0].Spec.Endpoints, model.MaxEndpoints+1)
	assert.Len(t, items[1].Spec.Endpoints, 2)
	assert.Len(t, list.DeepCopyObject().(*cappedServiceMonitorList).Items[0].Spec.Endpoints, model.MaxEndpoints+1)

	// What the endpoints past the limit cost: nothing per endpoint.
	doc := []byte(monitor("ServiceMonitor", "endpoints", 400_000, `{}`))
	allocs := testing.AllocsPerRun(1, func() {
		_, _, err := codecs.UniversalDeserializer().Decode(doc, nil, nil)
		require.NoError(t, err)
	})
	assert.Less(t, allocs, float64(20*model.MaxEndpoints), "allocations follow the endpoints kept, not those sent")
}
