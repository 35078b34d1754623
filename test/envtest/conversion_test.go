package envtest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// A v1alpha1 collector, stored as v1beta1 through the conversion webhook
// (as the operator's converts on a cluster), keeps its map selectors: the
// monitor it reads gets no TA101, the one it does not gets the right one,
// and a re-apply of the unchanged collector is no change (no TA011).
func TestV1alpha1CollectorThroughConversion(t *testing.T) {
	w := startWebhook(t, webhookSetup{CRDs: []string{"monitoring"}})
	ctx, k, srv := w.ctx, w.k, w.srv
	require.NoError(t, k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "obs"}}))
	objs := objectsFromYAML(t, `apiVersion: v1
kind: Service
metadata: {name: api, namespace: obs, labels: {app: api}}
spec: {selector: {app: api}, ports: [{name: http, port: 80}]}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: read, namespace: obs, labels: {team: a}}
spec: {selector: {matchLabels: {app: api}}, endpoints: [{port: http}]}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: unread, namespace: obs, labels: {team: b}}
spec: {selector: {matchLabels: {app: api}}, endpoints: [{port: http}]}
---
apiVersion: opentelemetry.io/v1alpha1
kind: OpenTelemetryCollector
metadata: {name: otelcol, namespace: obs}
spec:
  mode: statefulset
  targetAllocator:
    enabled: true
    prometheusCR: {enabled: true, serviceMonitorSelector: {team: a}}
  config: |
    receivers:
      prometheus: {config: {scrape_configs: []}}
    exporters:
      debug: {}
    service:
      pipelines:
        metrics: {receivers: [prometheus], exporters: [debug]}
`)
	for _, o := range objs {
		_, err := k.apply(ctx, o)
		require.NoError(t, err, "%s %s", o.GetKind(), o.GetName())
	}
	col := objs[3]
	waitForStore(t, srv, objs, -1)

	stored := &unstructured.Unstructured{}
	stored.SetAPIVersion("opentelemetry.io/v1beta1")
	stored.SetKind("OpenTelemetryCollector")
	require.NoError(t, k.Get(ctx, client.ObjectKeyFromObject(col), stored))
	sel, _, _ := unstructured.NestedStringMap(stored.Object, "spec", "targetAllocator", "prometheusCR", "serviceMonitorSelector", "matchLabels")
	assert.Equal(t, map[string]string{"team": "a"}, sel, "stored as v1beta1 with its selector")

	warnings, err := k.apply(ctx, col)
	require.NoError(t, err)
	assert.NotContains(t, strings.Join(warnings, "\n"), "TA011", "re-applying an unchanged v1alpha1 collector changes nothing")

	for name, want := range map[string]string{"read": "", "unread": "TA101 ServiceMonitor obs/unread: read by no TA; closest OpenTelemetryCollector obs/otelcol: does not match serviceMonitorSelector (needs team=a)"} {
		m := objs[1]
		if name == "unread" {
			m = objs[2]
		}
		texts := dryRunUpdate(t, k, m)
		if want == "" {
			assert.NotContains(t, strings.Join(texts, "\n"), "TA101", name)
		} else {
			assert.Contains(t, strings.Join(texts, "\n"), want, name)
		}
	}
}

// dryRunUpdate re-applies the object as a server-side dry run and returns
// what the API server said: its warnings and a denial's reasons.
func dryRunUpdate(t *testing.T, k *kube, o *unstructured.Unstructured) []string {
	t.Helper()
	ctx := t.Context()
	cur := o.DeepCopy()
	require.NoError(t, k.Get(ctx, client.ObjectKeyFromObject(o), cur))
	obj := o.DeepCopy()
	obj.SetResourceVersion(cur.GetResourceVersion())
	k.warn.take()
	err := k.Update(ctx, obj, client.DryRunAll)
	texts := k.warn.take()
	if err != nil {
		texts = append(texts, strings.Split(err.Error(), "\n- ")...)
	}
	return texts
}
