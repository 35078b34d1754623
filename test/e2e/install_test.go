package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ta-guard/ta-guard/internal/sandbox"
)

// An install never blocks the cluster: the chart in enforce mode,
// installed with helm on the sandbox cluster whose nodes are all tainted,
// so that its replicas are never scheduled and never become ready. Its
// webhook configuration stays failing open and every Service change in the
// cluster goes through; set to Fail, as the chart did before, the same
// change is refused (the outage this prevents).
func TestInstallWhoseReplicasNeverBecomeReadyBlocksNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sb, err := sandbox.Start(ctx, sandbox.Options{Root: repoRoot, Assets: assetsDir(t), Webhook: buildWebhook(t), Policy: "{}\n", Nodes: 1})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, sb.Stop()) })

	var nodes corev1.NodeList
	require.NoError(t, sb.Client.List(ctx, &nodes))
	for i := range nodes.Items {
		n := &nodes.Items[i]
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: "ta-guard.io/test", Value: "never", Effect: corev1.TaintEffectNoSchedule})
		require.NoError(t, sb.Client.Update(ctx, n))
	}

	helmBin, err := exec.Command(filepath.Join(repoRoot, "hack", "helm.sh")).Output()
	require.NoError(t, err, "hack/helm.sh builds helm")
	install := exec.CommandContext(ctx, strings.TrimSpace(string(helmBin)), "install", "ta-guard", filepath.Join(repoRoot, "charts", "ta-guard"),
		"--namespace", "default", "--kubeconfig", sb.Kubeconfig,
		"--set", "mode=enforce", "--set", "certManager.enabled=false")
	out, err := install.CombinedOutput()
	require.NoError(t, err, "helm install: %s", out)

	// The scheduler leaves the replicas Pending: no node takes them.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var pods corev1.PodList
		require.NoError(c, sb.Client.List(ctx, &pods, client.InNamespace("ta-guard"), client.MatchingLabels{"app.kubernetes.io/name": "ta-guard"}))
		require.NotEmpty(c, pods.Items, "the ReplicaSet controller made the Pods")
		for _, p := range pods.Items {
			assert.Equal(c, corev1.PodPending, p.Status.Phase)
			unschedulable := false
			for _, cond := range p.Status.Conditions {
				unschedulable = unschedulable || cond.Type == corev1.PodScheduled && cond.Reason == corev1.PodReasonUnschedulable
			}
			assert.True(c, unschedulable, "%s is unschedulable", p.Name)
		}
	}, 2*time.Minute, 500*time.Millisecond)

	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	require.NoError(t, sb.Client.Get(ctx, client.ObjectKey{Name: "ta-guard"}, &vwc))
	require.Len(t, vwc.Webhooks, 1)
	assert.Equal(t, admissionregistrationv1.Ignore, *vwc.Webhooks[0].FailurePolicy, "installed failing open")

	require.NoError(t, sb.CreateNamespace(ctx, "shop"))
	svc := func(name string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
	}
	assert.NoError(t, sb.Client.Create(ctx, svc("web")), "a Service change goes through while ta-guard is not ready")

	// What the chart did before: Fail from the start. The same change is
	// then refused for as long as no replica is ready.
	fail := admissionregistrationv1.Fail
	vwc.Webhooks[0].FailurePolicy = &fail
	require.NoError(t, sb.Client.Update(ctx, &vwc))
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		err := sb.Client.Create(ctx, svc("api"), client.DryRunAll)
		if assert.Error(c, err) {
			assert.Contains(c, err.Error(), "failed calling webhook")
		}
	}, time.Minute, 500*time.Millisecond)
}
