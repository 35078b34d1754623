package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func TestRegisteredMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New()
	require.NoError(t, m.Register(reg, func() map[string]bool { return map[string]bool{"Service": true, "ServiceMonitor": false} }))
	m.Findings.WithLabelValues("TA103", "warn", "ServiceMonitor").Inc()
	m.Unchecked.WithLabelValues("not_synced").Inc()
	want := `
# HELP ta_guard_informer_synced 1 when the informer of the kind has synced, 0 while it has not or the kind is not served.
# TYPE ta_guard_informer_synced gauge
ta_guard_informer_synced{kind="Service"} 1
ta_guard_informer_synced{kind="ServiceMonitor"} 0
# HELP ta_guard_findings_total Findings at admission, by rule ID, action and kind of the object.
# TYPE ta_guard_findings_total counter
ta_guard_findings_total{action="warn",kind="ServiceMonitor",rule="TA103"} 1
# HELP ta_guard_unchecked_requests_total Requests admitted without a full check because of a failure inside ta-guard, by reason.
# TYPE ta_guard_unchecked_requests_total counter
ta_guard_unchecked_requests_total{reason="not_synced"} 1
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want),
		"ta_guard_informer_synced", "ta_guard_findings_total", "ta_guard_unchecked_requests_total"))
}
