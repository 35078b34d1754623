package watch

import (
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ta-guard/ta-guard/pkg/model"
)

// The informers hold no more of a monitor's endpoints than the model reads:
// one past the limit, so that the model still knows the limit was passed.
func TestCacheKeepsEndpointsWithinTheLimit(t *testing.T) {
	for _, n := range []int{3, model.MaxEndpoints, model.MaxEndpoints + 1, 50 * model.MaxEndpoints} {
		sm := &monitoringv1.ServiceMonitor{ObjectMeta: metav1.ObjectMeta{Name: "sm", Namespace: "ns"}}
		sm.Spec.Endpoints = make([]monitoringv1.Endpoint, n)
		pm := &monitoringv1.PodMonitor{ObjectMeta: metav1.ObjectMeta{Name: "pm", Namespace: "ns"}}
		pm.Spec.PodMetricsEndpoints = make([]monitoringv1.PodMetricsEndpoint, n)

		out, err := Strip(sm)
		require.NoError(t, err)
		kept := out.(*monitoringv1.ServiceMonitor).Spec.Endpoints
		assert.Len(t, kept, min(n, model.MaxEndpoints+1))
		assert.Less(t, cap(kept), 2*(model.MaxEndpoints+1), "the rest is released")
		out, err = Strip(pm)
		require.NoError(t, err)
		assert.Len(t, out.(*monitoringv1.PodMonitor).Spec.PodMetricsEndpoints, min(n, model.MaxEndpoints+1))

		m, err := model.FromTyped(out.(*monitoringv1.PodMonitor))
		require.NoError(t, err)
		if n > model.MaxEndpoints {
			require.Len(t, m.GetMeta().Defects, 1, "n=%d", n)
		} else {
			assert.Empty(t, m.GetMeta().Defects, "n=%d", n)
		}
	}
}
