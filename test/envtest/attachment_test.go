package envtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/ta-guard/ta-guard/internal/server"
)

const ta014NS = "ta014"

// TestCollectorPods is TA014 through the API server. A bare API server has
// no operator and no kubelet: the test creates the Pods they would, and sets
// their phase itself.
func TestCollectorPods(t *testing.T) {
	w := startWebhook(t, webhookSetup{Tune: func(o *server.Options) { o.PolicyInterval = 100 * time.Millisecond }})
	ctx, k, srv := w.ctx, w.k, w.srv
	require.NoError(t, k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ta014NS}}))

	// ta014 applies the object and returns its TA014 warnings.
	ta014 := func(t *testing.T, u *unstructured.Unstructured) []string {
		t.Helper()
		w, err := k.apply(ctx, u)
		require.NoError(t, err)
		var out []string
		for _, s := range w {
			if strings.HasPrefix(s, "TA014 ") {
				out = append(out, s)
			}
		}
		return out
	}

	t.Run("embedded TA", func(t *testing.T) {
		col := objectsFromYAML(t, `apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: {name: c, namespace: ta014}
spec:
  mode: statefulset
  targetAllocator:
    enabled: true
    prometheusCR: {enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}
  config:
    receivers: {prometheus: {config: {scrape_configs: []}}}
    exporters: {debug: {}}
    service: {pipelines: {metrics: {receivers: [prometheus], exporters: [debug]}}}
`)[0]
		// The operator's TA runs before the collector exists: a pod left by
		// an earlier collector of that name. A CREATE still cannot have pods.
		operatorPod(t, ctx, k, srv, "c-targetallocator-x", "ta014.c", "opentelemetry-targetallocator", corev1.PodRunning)
		assert.Empty(t, ta014(t, col), "CREATE")

		assert.Equal(t, []string{"TA014 OpenTelemetryCollector ta014/c: the TA runs but sees no collector pod in ta014 matching " +
			"app.kubernetes.io/instance=ta014.c,app.kubernetes.io/component=opentelemetry-collector"}, ta014(t, col), "UPDATE without collector pods")

		// Scheduled, Pending, not started (no kubelet runs here): the TA
		// hands it targets it does not scrape.
		pod := operatorPod(t, ctx, k, srv, "c-collector-0", "ta014.c", "opentelemetry-collector", corev1.PodPending)
		assert.Equal(t, []string{"TA014 OpenTelemetryCollector ta014/c: the TA runs but no collector pod in ta014 runs to scrape what it hands out: c-collector-0 (Pending, not started on its node)"},
			ta014(t, col), "UPDATE with a Pending collector pod")

		setPhase(t, ctx, k, srv, pod, corev1.PodFailed)
		assert.Len(t, ta014(t, col), 1, "UPDATE with only a Failed collector pod")

		setPhase(t, ctx, k, srv, pod, corev1.PodRunning)
		assert.Empty(t, ta014(t, col), "UPDATE with a Running collector pod")
	})

	t.Run("standalone TargetAllocator", func(t *testing.T) {
		objs := objectsFromYAML(t, `apiVersion: opentelemetry.io/v1alpha1
kind: TargetAllocator
metadata: {name: shared, namespace: ta014}
spec: {prometheusCR: {enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}}
---
apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: {name: feeder, namespace: ta014, labels: {opentelemetry.io/target-allocator: shared}}
spec:
  mode: statefulset
  config:
    receivers: {prometheus: {config: {scrape_configs: []}}}
    exporters: {debug: {}}
    service: {pipelines: {metrics: {receivers: [prometheus], exporters: [debug]}}}
`)
		ta, feeder := objs[0], objs[1]
		assert.Empty(t, ta014(t, ta), "CREATE")
		assert.Empty(t, ta014(t, feeder), "CREATE")
		operatorPod(t, ctx, k, srv, "shared-targetallocator-x", "ta014.shared", "opentelemetry-targetallocator", corev1.PodRunning)
		// The TA's judgement needs the attached collector in the store.
		waitForStore(t, srv, objs, -1)

		w := ta014(t, ta)
		require.Len(t, w, 1, "UPDATE of the TA without collector pods")
		assert.Contains(t, w[0], "TA014 TargetAllocator ta014/shared: the TA runs but sees no collector pod in ta014 matching app.kubernetes.io/instance=ta014.feeder,")
		w = ta014(t, feeder)
		require.Len(t, w, 1, "UPDATE of the attached collector without pods")
		assert.Contains(t, w[0], "TA014 OpenTelemetryCollector ta014/feeder: TargetAllocator shared runs but sees no collector pod in ta014")

		operatorPod(t, ctx, k, srv, "feeder-collector-0", "ta014.feeder", "opentelemetry-collector", corev1.PodRunning)
		assert.Empty(t, ta014(t, ta), "UPDATE with the collector's pod")
		assert.Empty(t, ta014(t, feeder), "UPDATE with the collector's pod")
	})
}

// operatorPod creates a Pod labelled as the operator labels its pods,
// scheduled to a node (no node runs here: the API server does not check),
// sets its phase as a kubelet would, and waits until the webhook's view has
// it.
func operatorPod(t *testing.T, ctx context.Context, k *kube, srv *server.Server, name, instance, component string, phase corev1.PodPhase) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ta014NS, Labels: map[string]string{
			"app.kubernetes.io/managed-by": "opentelemetry-operator",
			"app.kubernetes.io/instance":   instance,
			"app.kubernetes.io/part-of":    "opentelemetry",
			"app.kubernetes.io/component":  component,
			"app.kubernetes.io/name":       name,
		}},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "c", Image: "i"}}},
	}
	require.NoError(t, k.Create(ctx, pod))
	setPhase(t, ctx, k, srv, pod, phase)
	return pod
}

func setPhase(t *testing.T, ctx context.Context, k *kube, srv *server.Server, pod *corev1.Pod, phase corev1.PodPhase) {
	t.Helper()
	if pod.Status.Phase != phase {
		pod.Status.Phase = phase
		require.NoError(t, k.Status().Update(ctx, pod))
	}
	waitFor(t, "the store to see Pod "+pod.Name+" "+string(phase), func() bool {
		for _, p := range srv.Store.Pods(nsSet(ta014NS), labels.SelectorFromSet(pod.Labels)) {
			if p.Ref.Name == pod.Name && p.Phase == phase {
				return true
			}
		}
		return false
	})
}
