package envtest

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/internal/server"
)

// ScrapeConfigs and Probes go through the webhook like the monitors: their
// CREATE is checked against the TAs in the informers, a collector UPDATE
// that stops reading them and a DELETE that orphans them are seen too.
func TestOwnTargetsLive(t *testing.T) {
	w := startWebhook(t, webhookSetup{CRDs: []string{"monitoring", "policyreport"}, Tune: func(o *server.Options) {
		o.AccessCacheTTL, o.AuditInterval, o.AuditDebounce = time.Minute, time.Hour, 200*time.Millisecond
	}})
	ctx, k, srv := w.ctx, w.k, w.srv
	waitFor(t, "informers synced, ScrapeConfig and Probe among them", func() bool {
		return srv.Watcher.Synced() && srv.Watcher.Served("ScrapeConfig") && srv.Watcher.Served("Probe")
	})
	require.NoError(t, k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "observability"}}))

	dir := "testdata/realworld/a14-scrapeconfig-probe-selected/"
	selecting := objectsOf(t, dir+"collector.yaml")[1]
	targets := objectsOf(t, dir+"targets.yaml")
	omitting := objectsOf(t, "testdata/realworld/b14-scrapeconfig-selector-omitted/collector.yaml")[1]
	joined := func(w []string) string { return strings.Join(w, "\n") }
	// The TA's service account is not granted anything here: TA008 is
	// expected on every collector and is not what these steps are about.
	beside008 := func(w []string) []string {
		var out []string
		for _, s := range w {
			if !strings.HasPrefix(s, "TA008 ") {
				out = append(out, s)
			}
		}
		return out
	}

	t.Run("CREATE of a ScrapeConfig and a Probe no TA reads: TA101 each", func(t *testing.T) {
		_, err := k.apply(ctx, omitting)
		require.NoError(t, err)
		waitForStore(t, srv, objectsOf(t, "testdata/realworld/b14-scrapeconfig-selector-omitted/collector.yaml"), -1)
		for _, o := range targets {
			w, err := k.apply(ctx, o)
			require.NoError(t, err)
			assert.Contains(t, joined(w), "TA101 "+o.GetKind()+" observability/"+o.GetName()+": read by no TA; closest OpenTelemetryCollector observability/platform-metrics")
		}
	})

	t.Run("the collector that omits the selectors is told, once they exist: TA003 for each kind", func(t *testing.T) {
		waitForStore(t, srv, targets, -1)
		w, err := k.apply(ctx, omitting)
		require.NoError(t, err)
		assert.Contains(t, joined(w), "TA003 OpenTelemetryCollector observability/platform-metrics: prometheusCR.scrapeConfigSelector is unset")
		assert.Contains(t, joined(w), "TA003 OpenTelemetryCollector observability/platform-metrics: prometheusCR.probeSelector is unset")
	})

	t.Run("the audit reports them", func(t *testing.T) {
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			got := strings.Join(reportResults(ctx, k, "observability"), "\n")
			assert.Contains(c, got, "TA101 ScrapeConfig bare-metal-nodes warn")
			assert.Contains(c, got, "TA101 Probe storefront warn")
			assert.Contains(c, got, "TA003 OpenTelemetryCollector platform-metrics warn")
		}, 30*time.Second, 100*time.Millisecond)
	})

	t.Run("UPDATE to the selecting collector: no finding", func(t *testing.T) {
		w, err := k.apply(ctx, selecting)
		require.NoError(t, err)
		assert.Empty(t, beside008(w))
		waitFor(t, "the store sees the TA read the ScrapeConfig", func() bool {
			o := srv.Store.Get(model.Ref{Kind: "ScrapeConfig", Namespace: "observability", Name: "bare-metal-nodes"})
			m, ok := o.(*model.Monitor)
			return ok && len(srv.Store.ReadersOf(m)) == 1
		})
		for _, o := range targets {
			w, err := k.apply(ctx, o)
			require.NoError(t, err)
			assert.Empty(t, w, "%s is read now", o.GetKind())
		}
	})

	t.Run("a collector's receiver pointed by hand at a TA Service: TA012 until the Service exists", func(t *testing.T) {
		agent := objectsFromYAML(t, `apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: {name: agent, namespace: observability}
spec:
  mode: statefulset
  config:
    receivers:
      prometheus:
        config: {scrape_configs: []}
        target_allocator: {endpoint: "http://shared-targetallocator:80", interval: 30s, collector_id: "${POD_NAME}"}
    exporters: {debug: {}}
    service: {pipelines: {metrics: {receivers: [prometheus], exporters: [debug]}}}
`)[0]
		w, err := k.apply(ctx, agent)
		require.NoError(t, err)
		assert.Contains(t, joined(w), "TA012 OpenTelemetryCollector observability/agent: receivers.prometheus.target_allocator.endpoint http://shared-targetallocator:80 names Service observability/shared-targetallocator, which does not exist")
		svc := objectsFromYAML(t, "apiVersion: v1\nkind: Service\nmetadata: {name: shared-targetallocator, namespace: observability}\nspec: {ports: [{name: http, port: 80}]}\n")
		_, err = k.apply(ctx, svc[0])
		require.NoError(t, err)
		waitForStore(t, srv, svc, -1)
		w, err = k.apply(ctx, agent)
		require.NoError(t, err)
		assert.NotContains(t, joined(w), "TA012")
	})

	t.Run("DELETE of the collector orphans them: TA011 lists both", func(t *testing.T) {
		w, err := k.remove(ctx, selecting)
		require.NoError(t, err)
		assert.Contains(t, joined(w), "TA011 OpenTelemetryCollector observability/platform-metrics: deleting it leaves 2 monitor(s) read by no TA")
		assert.Contains(t, joined(w), "Probe observability/storefront")
		assert.Contains(t, joined(w), "ScrapeConfig observability/bare-metal-nodes")
	})
}
