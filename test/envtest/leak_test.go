package envtest

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ta-guard/ta-guard/internal/server"
)

// A developer who may read team-a only learns nothing of team-b from the
// warnings of a dry run in team-a, while the cluster admin, sending the
// same request, is shown the team-b objects (so the test can fail).
func TestNoLeakAcrossNamespaces(t *testing.T) {
	lw := startWebhook(t, webhookSetup{CRDs: []string{"monitoring", "policyreport"}, Tune: func(o *server.Options) {
		o.AuditInterval, o.AuditDebounce = time.Hour, 200*time.Millisecond
	}})
	ctx, k := lw.ctx, lw.k
	twoTeams(t, lw)

	asDev := accountWithRole(t, ctx, k, lw.cfg, "team-a", "dev",
		rbacv1.PolicyRule{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}})
	dev, err := newKube(asDev)
	require.NoError(t, err)
	err = dev.List(ctx, &corev1.ServiceList{}, client.InNamespace("team-b"))
	require.Error(t, err, "the developer may not list Services in team-b")

	monitor := crossNamespaceMonitor(t)
	dryRun := func(kc *kube) string {
		kc.warn.take()
		require.NoError(t, kc.Create(ctx, monitor.DeepCopy(), client.DryRunAll))
		return strings.Join(kc.warn.take(), "\n")
	}
	asAdmin := dryRun(k)
	require.Contains(t, asAdmin, "secret-billing", "the admin may read team-b: the Service is named")
	require.Contains(t, asAdmin, "admin-9000")

	// The developer may not read team-b: what the monitor matches there
	// is not judged for them at all, since whether TA103 fired would tell
	// that team-b has a Service labelled app=billing.
	asDevWarnings := dryRun(dev)
	for _, secret := range []string{"secret-billing", "admin-9000", "TA102", "TA103"} {
		assert.NotContains(t, asDevWarnings, secret)
	}

	// The audit's report in team-a, read by whoever may read team-a, says
	// nothing of team-b either; its other findings are there (TA101 for a
	// monitor no TA reads).
	_, err = dev.apply(ctx, monitor)
	require.NoError(t, err)
	_, err = dev.apply(ctx, objectsFromYAML(t, `
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: unread, namespace: team-a, annotations: {note: "read by no TA"}}
spec:
  selector: {matchLabels: {app: billing}}
  endpoints: [{port: metrics}]
`)[0])
	require.NoError(t, err)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		got := strings.Join(reportResults(ctx, k, "team-a"), "\n")
		assert.Contains(c, got, "TA10", "the report of team-a is written")
		assert.NotContains(c, got, "TA103")
		assert.NotContains(c, got, "secret-billing")
		assert.NotContains(c, got, "admin-9000")
	}, 30*time.Second, 200*time.Millisecond)
	t.Logf("admin:\n%s\ndeveloper:\n%s", asAdmin, asDevWarnings)
}

// Without a client certificate proving the API server is the caller,
// ta-guard believes no userInfo: even the cluster admin's dry run is
// answered as if by someone who may read only the request's namespace,
// since anyone who can reach the port could have claimed to be the admin.
func TestUnverifiedCallerIsToldNothingElsewhere(t *testing.T) {
	lw := startWebhook(t, webhookSetup{CRDs: []string{"monitoring"}, Unverified: true})
	ctx, k := lw.ctx, lw.k
	twoTeams(t, lw)
	monitor := crossNamespaceMonitor(t)
	k.warn.take()
	require.NoError(t, k.Create(ctx, monitor, client.DryRunAll))
	got := strings.Join(k.warn.take(), "\n")
	for _, secret := range []string{"secret-billing", "admin-9000", "TA102", "TA103"} {
		assert.NotContains(t, got, secret)
	}
	// Its own namespace is judged as for anyone: a monitor there that
	// selects nothing is told.
	own := objectsFromYAML(t, `
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: own, namespace: team-a}
spec:
  selector: {matchLabels: {app: nothing-here}}
  endpoints: [{port: metrics}]
`)[0]
	k.warn.take()
	require.NoError(t, k.Create(ctx, own, client.DryRunAll))
	assert.Contains(t, strings.Join(k.warn.take(), "\n"), "TA102")
}

// twoTeams is the world of the leak tests: namespaces team-a and team-b,
// a Service in team-b whose name and port are team-b's secrets, and the
// guide's collector reading every ServiceMonitor.
func twoTeams(t *testing.T, lw *liveWebhook) {
	t.Helper()
	for _, ns := range []string{"team-a", "team-b", "opentelemetry"} {
		require.NoError(t, lw.k.Create(lw.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	}
	for _, u := range append(objectsFromYAML(t, `
apiVersion: v1
kind: Service
metadata: {name: secret-billing, namespace: team-b, labels: {app: billing}}
spec:
  selector: {app: billing}
  ports: [{name: admin-9000, port: 9000}]
`), objectsOf(t, "testdata/seed/collector.yaml")[0]) {
		_, err := lw.k.apply(lw.ctx, u)
		require.NoError(t, err)
	}
}

// crossNamespaceMonitor is team-a's ServiceMonitor looking into team-b.
func crossNamespaceMonitor(t *testing.T) *unstructured.Unstructured {
	return objectsFromYAML(t, `
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: billing, namespace: team-a}
spec:
  namespaceSelector: {matchNames: [team-b]}
  selector: {matchLabels: {app: billing}}
  endpoints: [{port: metrics}]
`)[0]
}
