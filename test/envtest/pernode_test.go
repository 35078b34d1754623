package envtest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ta-guard/ta-guard/internal/server"
)

const perNodeCollector = `apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: {name: agent, namespace: obs}
spec:
  mode: daemonset
  targetAllocator:
    enabled: true
    allocationStrategy: per-node
    prometheusCR: {enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}
  config:
    receivers: {prometheus: {config: {scrape_configs: []}}}
    exporters: {debug: {}}
    service: {pipelines: {metrics: {receivers: [prometheus], exporters: [debug]}}}
`

// TestPerNodeWebhook: through the real API server, a per-node TA's warning on a
// ServiceMonitor whose targets have no node, judged from the EndpointSlices
// the API server holds: the one it writes itself for default/kubernetes, and
// hand-made ones.
func TestPerNodeWebhook(t *testing.T) {
	w := startWebhook(t, webhookSetup{CRDs: []string{"monitoring"}, Tune: func(o *server.Options) { o.AccessCacheTTL = time.Minute }})
	ctx, k, srv := w.ctx, w.k, w.srv
	for _, ns := range []string{"obs", "apps"} {
		require.NoError(t, k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	}

	col := objectsFromYAML(t, perNodeCollector)[0]
	_, err := k.apply(ctx, col)
	require.NoError(t, err)
	waitForStore(t, srv, []*unstructured.Unstructured{col}, -1)

	t.Run("the API server's ServiceMonitor", func(t *testing.T) {
		// The API server writes this slice itself: addresses, no node, no
		// targetRef. Its targets are what the per-node TA cannot place.
		var apiserver discoveryv1.EndpointSlice
		require.NoError(t, k.Get(ctx, client.ObjectKey{Namespace: "default", Name: "kubernetes"}, &apiserver))
		targets := 0
		for _, e := range apiserver.Endpoints {
			assert.Nil(t, e.NodeName)
			assert.Nil(t, e.TargetRef)
			targets += len(e.Addresses)
		}
		require.NotZero(t, targets)
		waitFor(t, "the store to hold the EndpointSlice default/kubernetes", func() bool {
			return len(srv.Store.EndpointSlices("default", "kubernetes")) == 1
		})
		sm := objectsFromYAML(t, `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: apiserver, namespace: default}
spec:
  selector: {matchLabels: {component: apiserver, provider: kubernetes}}
  namespaceSelector: {matchNames: [default]}
  endpoints: [{port: https, scheme: https}]
`)[0]
		w, err := k.apply(ctx, sm)
		require.NoError(t, err)
		noun := "targets"
		if targets == 1 {
			noun = "target"
		}
		assert.Equal(t, []string{fmt.Sprintf("TA107 ServiceMonitor default/apiserver endpoint 0 (job serviceMonitor/default/apiserver/0): "+
			"per-node TA obs/agent drops its %d %s on default/kubernetes (the API server): they run on no node", targets, noun)}, w)
		_, err = k.remove(ctx, sm)
		require.NoError(t, err)
	})

	t.Run("hand-made EndpointSlices: with a node, then without", func(t *testing.T) {
		svc := objectsFromYAML(t, `apiVersion: v1
kind: Service
metadata: {name: ext, namespace: apps, labels: {app: ext}}
spec: {ports: [{name: metrics, port: 9100}]}
`)[0]
		_, err := k.apply(ctx, svc)
		require.NoError(t, err)
		slice := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: "apps", Name: "ext-1", Labels: map[string]string{discoveryv1.LabelServiceName: "ext"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("metrics"), Port: ptr.To(int32(9100))}},
			// A Node targetRef places it (a nodeName alone would not, without
			// the monitor's attachMetadata.node).
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"192.0.2.10"}, NodeName: ptr.To("worker-1"), TargetRef: &corev1.ObjectReference{Kind: "Node", Name: "worker-1"}}},
		}
		require.NoError(t, k.Create(ctx, slice))
		waitForSliceNode(t, srv, "worker-1")
		sm := objectsFromYAML(t, `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: ext, namespace: apps}
spec:
  selector: {matchLabels: {app: ext}}
  endpoints: [{port: metrics}]
`)[0]
		w, err := k.apply(ctx, sm)
		require.NoError(t, err)
		assert.Empty(t, w, "every target has a node")

		slice.Endpoints[0].NodeName, slice.Endpoints[0].TargetRef = nil, nil
		require.NoError(t, k.Update(ctx, slice))
		waitForSliceNode(t, srv, "")
		cur := sm.DeepCopy()
		require.NoError(t, k.Get(ctx, client.ObjectKeyFromObject(sm), cur))
		obj := sm.DeepCopy()
		obj.SetResourceVersion(cur.GetResourceVersion())
		k.warn.take()
		require.NoError(t, k.Update(ctx, obj, client.DryRunAll))
		assert.Equal(t, []string{"TA107 ServiceMonitor apps/ext endpoint 0 (job serviceMonitor/apps/ext/0): " +
			"per-node TA obs/agent drops its 1 target on apps/ext: they run on no node"}, k.warn.take())
	})
}

// waitForSliceNode waits until the store's EndpointSlice apps/ext-1 has its
// one endpoint on that node ("": on none).
func waitForSliceNode(t *testing.T, srv *server.Server, node string) {
	t.Helper()
	waitFor(t, "the store to hold EndpointSlice apps/ext-1 on node "+node, func() bool {
		sl := srv.Store.EndpointSlices("apps", "ext")
		return len(sl) == 1 && len(sl[0].Endpoints) == 1 && sl[0].Endpoints[0].NodeName == node
	})
}
