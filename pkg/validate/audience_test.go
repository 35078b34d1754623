package validate

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/ta-guard/ta-guard/internal/cluster"
	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/pkg/rules"
	"github.com/ta-guard/ta-guard/test/worldgen"
)

// The tenant world of issue 14: the requester works in team-a and may not
// read team-b, where a platform TA and other teams' objects live. Every
// name, label value and port name of team-b is a distinct word (b-...), so
// that a leak shows as a substring.
const (
	leakNSa = "apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a, labels: {tenant: a}}\n"
	leakNSb = "apiVersion: v1\nkind: Namespace\nmetadata: {name: team-b, labels: {tenant: b}}\n"
	// leakTA reads every monitor of the cluster, from team-b.
	leakTA = `apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: {name: b-platform-otel, namespace: team-b}
spec:
  mode: statefulset
  targetAllocator:
    enabled: true
    prometheusCR: {enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}
` + goodConfig
	// leakTAPicky reads only monitors labelled team=observed, and only in
	// namespaces it lists.
	leakTAPicky = `apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: {name: b-platform-otel, namespace: team-b}
spec:
  mode: statefulset
  targetAllocator:
    enabled: true
    prometheusCR:
      enabled: true
      allowNamespaces: [b-secret-tenant]
      serviceMonitorSelector: {matchLabels: {team: observed}}
      podMonitorSelector: {}
` + goodConfig
	leakBilling = `apiVersion: v1
kind: Service
metadata: {name: b-secret-billing, namespace: team-b, labels: {app: billing, tier: b-tier-cache}}
spec:
  selector: {app: billing}
  ports: [{name: b-admin-9000, port: 9000}]
`
	leakBillingPods = `apiVersion: v1
kind: Pod
metadata: {name: b-billing-pod, namespace: team-b, labels: {app: billing}}
spec:
  containers: [{name: c, image: i, ports: [{name: b-pod-port, containerPort: 7000}]}]
`
	// leakSMb selects team-a's Service web from team-b.
	leakSMb = `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: b-billing-monitor, namespace: team-b}
spec:
  selector: {matchLabels: {app: web}}
  namespaceSelector: {matchNames: [team-a]}
  endpoints: [{port: b-wanted-port}]
`
	leakWeb = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: team-a, labels: {app: web}}
spec:
  selector: {app: web}
  ports: [{name: metrics, port: 9090}]
`
)

// leakSM is ServiceMonitor team-a/mine with the given selector, namespace
// selector and endpoints.
func leakSM(labels, selector, nsSel, endpoints string) string {
	return `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: mine, namespace: team-a, labels: ` + labels + `}
spec:
  selector: ` + selector + `
  namespaceSelector: ` + nsSel + `
  endpoints: ` + endpoints + `
`
}

// verdict is what an audience must never change: which findings exist,
// with which rule, action, object, job, subject and field.
func verdicts(fs []rules.Finding) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = fmt.Sprintf("%s %s %s %q %q %v %v", f.Rule, f.Action, f.Object.Key(), f.Job, f.Subject, f.Field, f.AtRisk)
	}
	return out
}

// text is everything of a finding a reader sees.
func text(f rules.Finding) string {
	var b strings.Builder
	b.WriteString(f.Message)
	b.WriteString("\n" + f.What + "\n" + f.Fix)
	for _, r := range f.Reasons {
		b.WriteString("\n" + r)
	}
	for _, r := range f.Related {
		b.WriteString("\n" + r.String())
	}
	return b.String()
}

func evaluateFor(t *testing.T, req Request, v cluster.View, facts Facts, aud Audience) []rules.Finding {
	t.Helper()
	res, err := Evaluate(context.Background(), req, v, Options{Facts: facts, Audience: aud})
	require.NoError(t, err)
	return res.Findings
}

func TestAudienceRedactsForeignObjects(t *testing.T) {
	toB := "{matchNames: [team-b]}"
	tests := []struct {
		name     string
		op       Operation
		old, obj string
		world    []string
		facts    Facts
		rule     rules.ID
		// forbidden are team-b's words the redacted text must not hold;
		// the unredacted one holds the first (the test can fail).
		forbidden []string
		// kept are what the user needs and the redacted text still says.
		kept []string
		// silenced: the monitor looks in a namespace the audience may
		// not read, so the rule is not judged for it at all (blindTo):
		// that it fires would tell what team-b holds.
		silenced bool
	}{
		{
			name:  "TA102 near miss: the right labels in another namespace",
			obj:   leakSM("{}", "{matchLabels: {app: billing}}", "{matchNames: [team-a]}", "[{port: metrics}]"),
			world: []string{leakNSa, leakNSb, leakTA, leakBilling}, rule: rules.TA102,
			forbidden: []string{"b-secret-billing", "b-tier-cache"},
			kept:      []string{"a Service in a namespace you cannot read outside spec.namespaceSelector matches the selector"},
		},
		{
			name: "TA102 near miss: one label off in a namespace it selects", silenced: true,
			obj:   leakSM("{}", "{matchLabels: {app: billing, tier: db}}", toB, "[{port: metrics}]"),
			world: []string{leakNSa, leakNSb, leakTA, leakBilling}, rule: rules.TA102,
			forbidden: []string{"b-secret-billing", "b-tier-cache", "lacks"},
			kept:      []string{"a Service in a namespace you cannot read misses the selector by one requirement"},
		},
		{
			name: "TA102 PodMonitor near miss in another namespace",
			obj: `apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: mine, namespace: team-a}
spec:
  selector: {matchLabels: {app: billing}}
  podMetricsEndpoints: [{port: metrics}]
`,
			world: []string{leakNSa, leakNSb, leakTA, leakBillingPods}, rule: rules.TA102,
			forbidden: []string{"b-billing-pod"},
			kept:      []string{"a Pod in a namespace you cannot read"},
		},
		{
			name: "TA103 port name: the matched Services' ports", silenced: true,
			obj:   leakSM("{}", "{matchLabels: {app: billing}}", toB, "[{port: metrics}]"),
			world: []string{leakNSa, leakNSb, leakTA, leakBilling, leakBillingPods}, rule: rules.TA103,
			forbidden: []string{"b-secret-billing", "b-admin-9000"},
			kept:      []string{`no matched Service has a port named "metrics"; a Service in a namespace you cannot read (its ports not shown)`},
		},
		{
			name: "TA103 targetPort: the ports of the Pods behind them", silenced: true,
			obj:   leakSM("{}", "{matchLabels: {app: billing}}", toB, "[{targetPort: 9999}]"),
			world: []string{leakNSa, leakNSb, leakTA, leakBilling, leakBillingPods}, rule: rules.TA103,
			forbidden: []string{"b-secret-billing", "b-pod-port", "7000"},
			kept:      []string{"(its pods' ports not shown)"},
		},
		{
			name: "TA103 PodMonitor: the matched Pods' ports", silenced: true,
			obj: `apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: mine, namespace: team-a}
spec:
  selector: {matchLabels: {app: billing}}
  namespaceSelector: {matchNames: [team-b]}
  podMetricsEndpoints: [{port: metrics}]
`,
			world: []string{leakNSa, leakNSb, leakTA, leakBillingPods}, rule: rules.TA103,
			forbidden: []string{"b-billing-pod", "b-pod-port"},
			kept:      []string{"a Pod in a namespace you cannot read (its ports not shown)"},
		},
		{
			// Its selector's labels are team-b's too: a tenant must not
			// learn them (issue 26), only what kind of miss it is.
			name:  "TA101 closest TA: its name, namespace lists and selector labels stay out",
			obj:   leakSM("{app: web}", "{matchLabels: {app: web}}", "{}", "[{port: metrics}]"),
			world: []string{leakNSa, leakNSb, leakTAPicky, leakWeb}, rule: rules.TA101,
			forbidden: []string{"b-platform-otel", "b-secret-tenant", "team-b", "team=observed", "observed"},
			kept:      []string{"closest TA (an OpenTelemetryCollector in a namespace you cannot read)", "does not match its serviceMonitorSelector", "not in its allowNamespaces"},
		},
		{
			name:  "TA202 a foreign ServiceMonitor selects the Service",
			obj:   leakWeb,
			world: []string{leakNSa, leakNSb, leakTA, leakSMb}, rule: rules.TA202,
			forbidden: []string{"b-billing-monitor", "b-wanted-port"},
			kept:      []string{"a ServiceMonitor in a namespace you cannot read selects it but finds no port on it; it has: metrics"},
		},
		{
			name: "TA201 a foreign ServiceMonitor's job loses the Service",
			op:   Update,
			old: `apiVersion: v1
kind: Service
metadata: {name: web, namespace: team-a, labels: {app: web}}
spec:
  selector: {app: web}
  ports: [{name: b-wanted-port, port: 9090}]
`,
			obj:   leakWeb,
			world: []string{leakNSa, leakNSb, leakTA, leakSMb}, rule: rules.TA201,
			forbidden: []string{"b-billing-monitor"},
			kept:      []string{"job 0 of a ServiceMonitor in a namespace you cannot read loses its last target Service: port b-wanted-port (9090) renamed to metrics"},
		},
		{
			name: "TA011 the change orphans monitors of other namespaces",
			op:   Update,
			old: `apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: {name: otel, namespace: team-a}
spec:
  mode: statefulset
  targetAllocator:
    enabled: true
    prometheusCR: {enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}
` + goodConfig,
			obj: `apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: {name: otel, namespace: team-a}
spec:
  mode: statefulset
  targetAllocator:
    enabled: true
    prometheusCR: {enabled: true, serviceMonitorSelector: {matchLabels: {x: z1}}, podMonitorSelector: {}}
` + goodConfig,
			world: []string{leakNSa, leakNSb, leakSMb}, rule: rules.TA011,
			forbidden: []string{"b-billing-monitor"},
			kept:      []string{"no TA reads 1 monitor(s) it read before: a monitor in a namespace you cannot read"},
		},
		{
			name: "TA002 monitors exist that it would read",
			obj: `apiVersion: opentelemetry.io/v1alpha1
kind: OpenTelemetryCollector
metadata: {name: otel, namespace: team-a}
spec:
  mode: statefulset
  targetAllocator:
    enabled: true
  config: |
    receivers: {prometheus: {config: {scrape_configs: [{job_name: x}]}}}
    service: {pipelines: {metrics: {receivers: [prometheus]}}}
`,
			world: []string{leakNSa, leakNSb, leakSMb}, rule: rules.TA002,
			forbidden: []string{"b-billing-monitor"},
			kept:      []string{"1 monitors exist that it would read; set"},
		},
		{
			name: "TA003 a ScrapeConfig elsewhere is read by no reader",
			obj: `apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: {name: otel, namespace: team-a}
spec:
  mode: statefulset
  targetAllocator:
    enabled: true
    prometheusCR: {enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}
` + goodConfig,
			world: []string{leakNSa, leakNSb, `apiVersion: monitoring.coreos.com/v1alpha1
kind: ScrapeConfig
metadata: {name: b-secret-scrape, namespace: team-b}
spec: {staticConfigs: [{targets: [b.example:80]}]}
`}, rule: rules.TA003,
			forbidden: []string{"b-secret-scrape"},
			kept:      []string{"and a ScrapeConfig in a namespace you cannot read is read by no reader"},
		},
		{
			name: "TA107 a per-node TA elsewhere drops targets of Services elsewhere", silenced: true,
			obj: leakSM("{}", "{matchLabels: {app: billing}}", toB, "[{port: b-admin-9000}]"),
			world: []string{leakNSa, leakNSb, leakBilling, pnColl("b-agent"), `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: b-secret-billing-x, namespace: team-b, labels: {kubernetes.io/service-name: b-secret-billing}}
addressType: IPv4
ports: [{name: b-admin-9000, port: 9000}]
endpoints: [{addresses: [10.0.0.1]}]
`}, rule: rules.TA107,
			forbidden: []string{"b-agent", "b-secret-billing"},
			kept:      []string{"per-node TA an OpenTelemetryCollector in a namespace you cannot read drops its 1 target on a Service in a namespace you cannot read"},
		},
		{
			name: "TA106 the matched Services have no endpoints", silenced: true,
			obj:   leakSM("{}", "{matchLabels: {app: billing}}", toB, "[{port: b-admin-9000}]"),
			world: []string{leakNSa, leakNSb, leakTA, leakBilling}, facts: fakeFacts{},
			rule:      rules.TA106,
			forbidden: []string{"b-secret-billing"},
			kept:      []string{"no endpoints (a Service in a namespace you cannot read)"},
		},
		{
			name: "TA108 the TA elsewhere may not get the Secret",
			obj: `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: mine, namespace: team-a}
spec:
  selector: {matchLabels: {app: web}}
  endpoints:
  - port: metrics
    basicAuth:
      username: {name: web-auth, key: user}
      password: {name: web-auth, key: pass}
`,
			world: []string{leakNSa, leakNSb, leakTA, leakWeb}, facts: fakeFacts{},
			rule:      rules.TA108,
			forbidden: []string{"b-platform-otel", "team-b"},
			kept:      []string{"a TA in a namespace you cannot read may not get Secret web-auth", "grant its ServiceAccount (its owners know which) get on secrets web-auth in namespace team-a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := store(t, tt.world...)
			req := Request{Operation: tt.op, Object: object(t, tt.obj)}
			if req.Operation == "" {
				req.Operation = Create
			}
			if tt.old != "" {
				req.OldObject = object(t, tt.old)
				s.Upsert(req.OldObject)
			}
			all := evaluateFor(t, req, s, tt.facts, nil)
			red := evaluateFor(t, req, s, tt.facts, SameNamespace("team-a"))
			if tt.silenced {
				require.Contains(t, ids(all), firstID(all, tt.rule), "without an audience %s fires: %s", tt.rule, messages(all))
				for _, f := range red {
					assert.False(t, blindRules[f.Rule], "%s judged for an audience blind to team-b: %s", f.Rule, f.Message)
				}
				assert.Equal(t, verdicts(withoutBlindRules(all)), verdicts(red), "only the rules about team-b's content went")
				return
			}
			require.Equal(t, verdicts(all), verdicts(red), "an audience changed the verdict")
			var plain, hidden string
			for i := range red {
				if red[i].Rule == tt.rule {
					plain += text(all[i]) + "\n"
					hidden += text(red[i]) + "\n"
				}
			}
			require.NotEmpty(t, hidden, "no %s: %s", tt.rule, messages(all))
			assert.Contains(t, plain, tt.forbidden[0], "without an audience the finding names the foreign object")
			for _, w := range tt.forbidden {
				assert.NotContains(t, hidden, w)
			}
			for _, w := range tt.kept {
				assert.Contains(t, hidden, w)
			}
			// The requester's own namespace is always shown: an audience
			// that may read everything changes nothing.
			everyone := evaluateFor(t, req, s, tt.facts, seesAll{})
			assert.Equal(t, messages(all), messages(everyone))
		})
	}
}

// blindRules are those blindTo silences: what a monitor matches in the
// namespaces it looks in.
var blindRules = map[rules.ID]bool{rules.TA102: true, rules.TA103: true, rules.TA104: true, rules.TA105: true, rules.TA106: true, rules.TA107: true}

func withoutBlindRules(fs []rules.Finding) []rules.Finding {
	var out []rules.Finding
	for _, f := range fs {
		if !blindRules[f.Rule] {
			out = append(out, f)
		}
	}
	return out
}

// firstID is ids' entry of the first finding of the rule, or the rule.
func firstID(fs []rules.Finding, id rules.ID) string {
	for _, f := range fs {
		if f.Rule == id {
			return ids([]rules.Finding{f})[0]
		}
	}
	return string(id)
}

// pnColl is a per-node collector of team-b reading every monitor.
func pnColl(name string) string {
	return strings.Replace(pnCollector(name, "daemonset", perNodeTA), "namespace: obs", "namespace: team-b", 1)
}

type seesAll struct{}

func (seesAll) MaySee(context.Context, string, schema.GroupResource) bool { return true }

// countingAudience sees nothing and counts the questions.
type countingAudience struct{ asked map[string]int }

func (c *countingAudience) MaySee(_ context.Context, ns string, gr schema.GroupResource) bool {
	c.asked[ns+" "+gr.String()]++
	return false
}

// TestAudienceAskedOncePerNamespace: one evaluation asks the audience once
// per namespace and resource, never about the subject's own namespace.
func TestAudienceAskedOncePerNamespace(t *testing.T) {
	s := store(t, leakNSa, leakNSb, leakTA, leakBilling, `apiVersion: v1
kind: Service
metadata: {name: b-other, namespace: team-b, labels: {app: billing}}
spec: {ports: [{name: b-x, port: 1}]}
`)
	aud := &countingAudience{asked: map[string]int{}}
	req := Request{Operation: Create, Object: object(t, leakSM("{}", "{matchLabels: {app: billing}}", "{matchNames: [team-b]}", "[{port: metrics}]"))}
	evaluateFor(t, req, s, nil, aud)
	assert.Equal(t, map[string]int{"team-b services": 1}, aud.asked)
}

// TestAudienceNeverChangesVerdicts is the property over generated worlds:
// every subject, created and deleted, evaluated for nobody in particular
// and for the readers of its own namespace, gives the same findings; and
// no foreign object that the first names by namespace/name is named in the
// second.
func TestAudienceNeverChangesVerdicts(t *testing.T) {
	scale := worldgen.Scale{
		Name: "audience", Namespaces: 12, NamespacesPerTeam: 3, ServicesPerNamespace: 4, PodsPerService: 2,
		ServiceMonitorsPerNamespace: 2, PodMonitorsPerNamespace: 1, Collectors: 4, NamespaceScopedCollectors: 1, Seed: 14,
	}
	st := worldgen.Generate(scale)
	redacted := 0
	for _, subj := range st.Subjects() {
		ns := subj.GetMeta().Ref.Namespace
		for _, req := range []Request{
			{Operation: Create, Object: subj},
			{Operation: Delete, OldObject: subj},
		} {
			all := evaluateFor(t, req, st, nil, nil)
			red := evaluateFor(t, req, st, nil, SameNamespace(ns))
			if m, ok := subj.(*model.Monitor); ok && looksElsewhere(m) {
				// blindTo: what it matches elsewhere is not judged for
				// the readers of its own namespace; the rest is.
				for _, f := range red {
					require.False(t, blindRules[f.Rule], "%s %s: %s", req.Operation, m.Ref, f.Message)
				}
				require.Equal(t, verdicts(withoutBlindRules(all)), verdicts(red), "%s %s", req.Operation, m.Ref)
				continue
			}
			require.Equal(t, verdicts(all), verdicts(red), "%s %s", req.Operation, subj.GetMeta().Ref)
			for i, f := range all {
				for _, r := range f.Related {
					if r.Namespace == "" || r.Namespace == ns {
						continue
					}
					assert.NotContains(t, text(red[i]), r.NamespacedName(), "%s names %s", red[i].Rule, r)
					if text(red[i]) != text(f) {
						redacted++
					}
				}
				for _, r := range red[i].Related {
					assert.True(t, r.Namespace == "" || r.Namespace == ns, "%s relates %s", red[i].Rule, r)
				}
			}
		}
	}
	t.Logf("%d findings redacted", redacted)
}

// looksElsewhere: a ServiceMonitor or PodMonitor that looks in a namespace
// besides its own.
func looksElsewhere(m *model.Monitor) bool {
	if !m.Kind.SelectsWorkloads() {
		return false
	}
	if m.Namespaces.All {
		return true
	}
	for _, n := range m.Namespaces.Names {
		if n != m.Ref.Namespace {
			return true
		}
	}
	return false
}

// A tenant learns nothing of a namespace it may not read, not even whether
// a label exists there: its monitor that looks in team-b gets the same
// answer whether team-b holds a Service with that label or not (issue 26:
// whether TA102 fired told).
func TestAudienceLearnsNothingOfForeignContent(t *testing.T) {
	sm := `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: probe, namespace: team-a}
spec:
  namespaceSelector: {matchNames: [team-b]}
  selector: {matchLabels: {team: b-secret-label}}
  endpoints: [{port: metrics}, {port: "8080"}]
`
	with := `apiVersion: v1
kind: Service
metadata: {name: hidden, namespace: team-b, labels: {team: b-secret-label}}
spec: {selector: {team: b-secret-label}, ports: [{name: web, port: 80}]}
`
	base := []string{leakNSa, leakNSb, leakTA}
	req := Request{Operation: Create, Object: object(t, sm)}
	for _, aud := range []Audience{SameNamespace("team-a"), &countingAudience{asked: map[string]int{}}} {
		without := evaluateFor(t, req, store(t, base...), fakeFacts{}, aud)
		withIt := evaluateFor(t, req, store(t, append(base, with)...), fakeFacts{}, aud)
		assert.Equal(t, messages(without), messages(withIt))
		assert.Equal(t, verdicts(without), verdicts(withIt))
	}
	// Without an audience (diagnose, with the user's own credentials) the
	// two worlds differ: the test can fail.
	assert.NotEqual(t, messages(evaluateFor(t, req, store(t, base...), fakeFacts{}, nil)),
		messages(evaluateFor(t, req, store(t, append(base, with)...), fakeFacts{}, nil)))
}

func TestSameNamespace(t *testing.T) {
	a := SameNamespace("team-a")
	assert.True(t, a.MaySee(context.Background(), "team-a", schema.GroupResource{Resource: "services"}))
	assert.False(t, a.MaySee(context.Background(), "team-b", schema.GroupResource{Resource: "services"}))
	assert.Equal(t, "servicemonitors.monitoring.coreos.com", resourceOf(model.Ref{APIVersion: "monitoring.coreos.com/v1", Kind: "ServiceMonitor"}).String())
	assert.Equal(t, "services", resourceOf(model.Ref{APIVersion: "v1", Kind: "Service"}).String())
}
