package envtest

import (
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ta-guard/ta-guard/internal/webhook"
)

// Through the real API server: a field no selector can be made of is a
// verdict (TA301, denied under the policy), a collector ta-guard cannot read
// is refused by failurePolicy under an enforcing policy rather than
// admitted, and under one that does not enforce the "not checked" warning
// reaches the client, one line (the API server drops any warning with a
// control character).
func TestNoVerdictThroughTheAPIServer(t *testing.T) {
	lw := startWebhook(t, webhookSetup{Policy: "rules:\n  TA301: deny\n"})
	ctx, k := lw.ctx, lw.k
	require.NoError(t, k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "obs"}}))
	collector := func(name, prometheusCR, config string) string {
		return `apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: {name: ` + name + `, namespace: obs}
spec:
  mode: statefulset
  config: ` + config + `
  targetAllocator:
    enabled: true
    prometheusCR: ` + prometheusCR + `
`
	}
	good := "{receivers: {prometheus: {config: {scrape_configs: []}}}, exporters: {debug: {}}, service: {pipelines: {metrics: {receivers: [prometheus], exporters: [debug]}}}}"
	create := func(doc string) ([]string, error) {
		k.warn.take()
		err := k.Create(ctx, objectsFromYAML(t, doc)[0], client.DryRunAll)
		return k.warn.take(), err
	}

	for _, sel := range []string{
		"{matchLabels: {unused: " + strings.Repeat("x", 64) + "}}",
		"{matchExpressions: [{key: a, operator: Bogus}]}",
	} {
		_, err := create(collector("junk", "{enabled: true, serviceMonitorSelector: {}, podMonitorSelector: "+sel+"}", good))
		require.Error(t, err, "stored by the API server, denied by ta-guard: %s", sel)
		assert.Contains(t, err.Error(), "TA301")
		assert.Contains(t, err.Error(), "podMonitorSelector")
	}

	// A config ta-guard cannot read (the API server keeps any object there).
	unreadable := collector("odd", "{enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}", "{service: {pipelines: []}}")
	_, err := create(unreadable)
	require.Error(t, err, "an enforcing policy: not admitted unchecked")
	assert.Contains(t, err.Error(), "ta-guard could not judge this change")

	setPolicy(t, lw.srv, lw.policyFile, "{}\n")
	warnings, err := create(unreadable)
	require.NoError(t, err)
	var notChecked []string
	for _, w := range warnings {
		assert.False(t, strings.ContainsFunc(w, unicode.IsControl), "%q", w)
		if strings.HasPrefix(w, webhook.NotChecked) {
			notChecked = append(notChecked, w)
		}
	}
	require.Len(t, notChecked, 1, "the warning reaches the client: %q", warnings)
	assert.Contains(t, notChecked[0], "spec.config")
}
