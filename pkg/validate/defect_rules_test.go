package validate

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/internal/policy"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

// A field the request controls never keeps the object from being judged:
// an invalid selector is TA301, a part past ta-guard's limits TA302, and
// the other rules still run on the rest.
func TestDefectsAreFindings(t *testing.T) {
	long := strings.Repeat("x", 64)
	collector := func(extra string) string {
		return `apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: {name: otel, namespace: opentelemetry}
spec:
  mode: statefulset
  config: {receivers: {prometheus: {config: {scrape_configs: []}}}, exporters: {debug: {}}, service: {pipelines: {metrics: {receivers: [prometheus], exporters: [debug]}}}}
  targetAllocator:
    enabled: true
    serviceAccount: missing-sa
    prometheusCR:
      enabled: true
      serviceMonitorSelector: {}
` + extra
	}
	tests := []struct {
		name, doc string
		want      []string
		field     string
	}{
		{"a label value past 63 characters", collector("      podMonitorSelector: {matchLabels: {unused: " + long + "}}\n"),
			[]string{"TA010", "TA301"}, "spec.targetAllocator.prometheusCR.podMonitorSelector"},
		{"an operator that does not exist", collector("      podMonitorSelector: {matchExpressions: [{key: a, operator: Bogus}]}\n"),
			[]string{"TA010", "TA301"}, "spec.targetAllocator.prometheusCR.podMonitorSelector"},
		{"a monitor's own selector", `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: sm, namespace: opentelemetry}
spec: {selector: {matchExpressions: [{key: app, operator: In}]}, endpoints: [{port: web}]}
`, []string{"TA301"}, "spec.selector"},
		{"endpoints past the limit", `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: sm, namespace: opentelemetry}
spec: {selector: {matchLabels: {app: a}}, endpoints: [` + strings.Repeat("{port: web},", model.MaxEndpoints) + `{port: web}]}
`, []string{"TA302"}, "spec.endpoints"},
		{"Service ports past the limit", `apiVersion: v1
kind: Service
metadata: {name: wide, namespace: opentelemetry}
spec: {selector: {app: wide}, ports: [` + manyPorts(model.MaxPorts+1) + `]}
`, []string{"TA302"}, "spec.ports"},
		{"a port a Service has past the limit", `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: sm, namespace: opentelemetry}
spec: {selector: {matchLabels: {app: big}}, endpoints: [{port: last}]}
`, []string{}, ""},
		{"a costly port pattern", `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: sm, namespace: opentelemetry}
spec: {selector: {matchLabels: {app: a}}, endpoints: [{port: '(?:a{31}){32}'}]}
`, []string{"TA302"}, "spec.endpoints[0].port"},
	}
	world := []string{`apiVersion: v1
kind: Namespace
metadata: {name: opentelemetry}
`, `apiVersion: v1
kind: Service
metadata: {name: a, namespace: opentelemetry, labels: {app: a}}
spec: {selector: {app: a}, ports: [{name: web, port: 80}]}
`, `apiVersion: v1
kind: Service
metadata: {name: big, namespace: opentelemetry, labels: {app: big}}
spec: {ports: [` + manyPorts(model.MaxPorts) + `, {name: last, port: 1}]}
`}
	pol := &policy.Policy{Rules: map[rules.ID]rules.Action{rules.TA010: rules.Deny, rules.TA301: rules.Deny, rules.TA302: rules.Deny}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := object(t, tt.doc)
			facts := fakeFacts{served: map[model.MonitorKind]bool{model.ServiceMonitor: true, model.PodMonitor: true}, granted: grantAll(t, tt.doc)}
			res, err := Evaluate(context.Background(), Request{Operation: Create, Object: obj}, store(t, world...), Options{Policy: pol, Facts: facts})
			require.NoError(t, err)
			got := []string{}
			for _, f := range res.Findings {
				if f.Rule == rules.TA010 || f.Rule == rules.TA301 || f.Rule == rules.TA302 {
					got = append(got, string(f.Rule))
					assert.Equal(t, rules.Deny, f.Action)
				}
				if f.Rule == rules.TA301 || f.Rule == rules.TA302 {
					require.NotNil(t, f.Field)
					assert.Equal(t, tt.field, f.Field.String())
					assert.Contains(t, f.Message, tt.field)
				}
				assert.NotEqual(t, rules.TA102, f.Rule, "an invalid selector is said once, as TA301")
				assert.NotEqual(t, rules.TA103, f.Rule, "ports not judged are not said to be missing")
			}
			assert.ElementsMatch(t, tt.want, got)
		})
	}
}

// manyPorts is a YAML flow list's items: n Service ports named p0, p1, ...
func manyPorts(n int) string {
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf("{name: p%d, port: %d}", i, 1000+i)
	}
	return strings.Join(items, ", ")
}

// The rules stop at the request's deadline: what the object lists is gone
// through only while there is time, and the caller is told the rules did
// not finish (the webhook then answers with an error under an enforcing
// policy, never with an allow).
func TestEvaluationStopsAtTheDeadline(t *testing.T) {
	world := []string{`apiVersion: v1
kind: Namespace
metadata: {name: opentelemetry}
`}
	for i := range 50 {
		world = append(world, fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: s%d, namespace: opentelemetry, labels: {app: a}}
spec: {selector: {app: a}, ports: [{name: web, port: 80}]}
`, i))
	}
	sm := object(t, `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: sm, namespace: opentelemetry}
spec: {selector: {matchLabels: {app: a}}, endpoints: [`+strings.Repeat("{port: nope},", model.MaxEndpoints-1)+`{port: nope}]}
`)
	s := store(t, world...)
	res, err := Evaluate(context.Background(), Request{Operation: Create, Object: sm}, s, Options{})
	require.NoError(t, err)
	require.Len(t, res.Findings, model.MaxEndpoints, "one TA103 per endpoint with time to spare")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err = Evaluate(ctx, Request{Operation: Create, Object: sm}, s, Options{})
	require.ErrorIs(t, err, ErrOutOfTime)
	assert.Less(t, len(res.Findings), model.MaxEndpoints, "stopped before the end")
}
