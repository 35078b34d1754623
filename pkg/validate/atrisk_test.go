package validate

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ta-guard/ta-guard/internal/policy"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

// TA003 denies under an enforcing policy only when a monitor is lost now:
// one that the unset selector's {} would read and no reader reads. Nothing
// of the kind anywhere, or every one read by another TA or a Prometheus,
// is a risk: a warning, whatever the policy says.
func TestUnsetSelectorDeniesOnlyALoss(t *testing.T) {
	enforce, err := policy.Parse([]byte("defaultAction: deny\n"))
	require.NoError(t, err)
	const (
		scrapeConfigsOnly = "  mode: statefulset\n  targetAllocator: {enabled: true, prometheusCR: {enabled: true, scrapeConfigSelector: {}}}\n" + goodConfig
		other             = `apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: {name: other, namespace: opentelemetry}
spec:
  mode: statefulset
  targetAllocator: {enabled: true, prometheusCR: {enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {matchLabels: {team: x}}}}
` + goodConfig
		pm = `apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: pm, namespace: opentelemetry, labels: {team: x}}
spec: {selector: {}, podMetricsEndpoints: [{port: http}]}
`
	)
	tests := []struct {
		name  string
		world []string
		// want is "<rule> <action> <atRisk>" per TA003 finding, sorted by kind
		// (ServiceMonitor first).
		want []string
	}{
		{name: "no monitor anywhere", want: []string{"TA003 warn true", "TA003 warn true"}},
		{name: "every monitor read by another TA", world: []string{other, smOneEndpoint, pm}, want: []string{"TA003 warn true", "TA003 warn true"}},
		{name: "a ServiceMonitor no one reads", world: []string{smOneEndpoint}, want: []string{"TA003 deny false", "TA003 warn true"}},
		{name: "a PodMonitor no one reads", world: []string{other, smOneEndpoint, pm, `apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: pm2, namespace: opentelemetry}
spec: {selector: {}, podMetricsEndpoints: [{port: http}]}
`}, want: []string{"TA003 warn true", "TA003 deny false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := object(t, collector(scrapeConfigsOnly))
			res, err := Evaluate(context.Background(), Request{Operation: Create, Object: obj}, store(t, tt.world...), Options{Policy: enforce})
			require.NoError(t, err)
			got := []string{}
			for _, f := range res.Findings {
				if f.Rule == rules.TA003 {
					got = append(got, fmt.Sprintf("%s %s %v", f.Rule, f.Action, f.AtRisk))
				}
			}
			assert.Equal(t, tt.want, got)
		})
	}
}
