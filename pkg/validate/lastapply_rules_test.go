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

// TA018: the apply that completes a monitor's blind job names it, be it a
// collector now reading the monitor or a Service created that it selects;
// only at admission (a whole-state review shows the monitors' own
// findings).
func TestTheApplyThatCompletesABlindJobNamesIt(t *testing.T) {
	const svc = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: app, labels: {app: web}}\nspec: {selector: {app: web}, ports: [{name: http, port: 80}]}\n"
	const smWrongPort = "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: web, namespace: app}\nspec:\n  selector: {matchLabels: {app: web}}\n  endpoints: [{port: metrics}]\n"
	const smGood = "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: good, namespace: app}\nspec:\n  selector: {matchLabels: {app: web}}\n  endpoints: [{port: http}]\n"
	const smDrops = "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: drops, namespace: app}\nspec:\n  selector: {matchLabels: {app: web}}\n  endpoints: [{port: http, relabelings: [{action: keep, sourceLabels: [__meta_kubernetes_service_label_tier], regex: front}]}]\n"
	all := collector("  mode: statefulset\n  targetAllocator: {enabled: true, prometheusCR: {enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}}\n" + goodConfig)
	none := collector("  mode: statefulset\n  targetAllocator: {enabled: true, prometheusCR: {enabled: true, serviceMonitorSelector: {matchLabels: {team: other}}, podMonitorSelector: {}}}\n" + goodConfig)
	tests := []struct {
		name      string
		op        Operation
		obj, old  string
		world     []string
		admission bool
		want      []string
		contains  string
	}{
		{name: "a collector applied after a monitor whose port matches nothing", obj: all, world: []string{svc, smWrongPort, smGood}, admission: true,
			want: []string{"TA018"}, contains: `TA018 OpenTelemetryCollector obs/c: 1 monitor it now reads find no target: ServiceMonitor app/web (TA103: no matched Service has a port named "metrics"; web has: http)`},
		{name: "two: both named in the first line, before any reason", obj: all, world: []string{svc, smWrongPort, smDrops}, admission: true,
			want: []string{"TA018"}, contains: "TA018 OpenTelemetryCollector obs/c: 2 monitors it now reads find no target: ServiceMonitor app/drops (TA111), ServiceMonitor app/web (TA103)\n"},
		{name: "the same in a review of the whole state: the monitor's own TA103 says it", obj: all, world: []string{svc, smWrongPort}, want: []string{}},
		{name: "an update: monitors it read before were told then", op: Update, old: all, obj: all, world: []string{svc, smWrongPort}, admission: true, want: []string{}},
		{name: "an update that starts reading it", op: Update, old: none, obj: all, world: []string{svc, smWrongPort}, admission: true, want: []string{"TA018"}},
		{name: "a Service created after a monitor whose relabelings drop its targets", obj: svc, world: []string{all, smDrops, smGood}, admission: true,
			want: []string{"TA018"}, contains: "1 monitor that select it find no target: ServiceMonitor app/drops (TA111:"},
		{name: "a Service created that a monitor lacks the port on: TA202's", obj: svc, world: []string{all, smWrongPort}, admission: true, want: []string{"TA202"}},
		{name: "a Service updated: not the completing apply", op: Update, old: svc, obj: svc, world: []string{all, smDrops}, admission: true, want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := Request{Operation: Create, Object: object(t, tt.obj)}
			if tt.op == Update {
				req = Request{Operation: Update, Object: object(t, tt.obj), OldObject: object(t, tt.old)}
				tt.world = append(tt.world, tt.old)
			}
			res, err := Evaluate(context.Background(), req, store(t, tt.world...), Options{Admission: tt.admission})
			require.NoError(t, err)
			fs := only(res.Findings, rules.TA018, rules.TA202)
			assert.Equal(t, tt.want, ids(fs), messages(fs))
			if tt.contains != "" {
				assert.Contains(t, messages(fs), tt.contains)
			}
			for _, f := range fs {
				if len(f.Related) > 1 {
					assert.Len(t, f.Reasons, len(f.Related), "why each monitor is blind")
				}
			}
		})
	}

	// The collector itself loses nothing: under a policy that denies
	// everything, TA018 still only warns.
	pol, err := policy.Parse([]byte("defaultAction: deny\n"))
	require.NoError(t, err)
	res, err := Evaluate(context.Background(), Request{Operation: Create, Object: object(t, all)}, store(t, svc, smWrongPort), Options{Admission: true, Policy: pol})
	require.NoError(t, err)
	fs := only(res.Findings, rules.TA018)
	require.Len(t, fs, 1)
	assert.Equal(t, rules.Warn, fs[0].Action)
}

// TA018 judges at most maxReadChecks monitors per change, and says that
// more were left to their own findings.
func TestTA018IsBounded(t *testing.T) {
	world := []string{"apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: app, labels: {app: web}}\nspec: {ports: [{name: http, port: 80}]}\n"}
	for i := 0; i < maxReadChecks+5; i++ {
		world = append(world, fmt.Sprintf("apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: m%02d, namespace: app}\nspec:\n  selector: {matchLabels: {app: web}}\n  endpoints: [{port: metrics}]\n", i))
	}
	all := collector("  mode: statefulset\n  targetAllocator: {enabled: true, prometheusCR: {enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}}\n" + goodConfig)
	res, err := Evaluate(context.Background(), Request{Operation: Create, Object: object(t, all)}, store(t, world...), Options{Admission: true})
	require.NoError(t, err)
	fs := only(res.Findings, rules.TA018)
	require.Len(t, fs, 1)
	assert.Contains(t, fs[0].What, fmt.Sprintf("%d monitors it now reads find no target", maxReadChecks))
	assert.Contains(t, fs[0].What, "(more were not judged here: see their own findings)")
	assert.Len(t, fs[0].Related, maxReadChecks)
}
