package validate

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// collector builds a v1beta1 collector from its spec's YAML body.
func collector(spec string) string {
	return "apiVersion: opentelemetry.io/v1beta1\nkind: OpenTelemetryCollector\nmetadata: {name: c, namespace: obs}\nspec:\n" + spec
}

const goodConfig = `  config:
    receivers: {prometheus: {config: {scrape_configs: []}}}
    service: {pipelines: {metrics: {receivers: [prometheus]}}}
`

func TestAllocatorStateRules(t *testing.T) {
	tests := []struct {
		name  string
		obj   string
		world []string
		want  []string
		// contains, when set, must appear in the messages.
		contains string
	}{
		{name: "no targetAllocator block: nothing to say", obj: collector("  mode: deployment\n"), want: []string{}},
		{
			// What the operator's defaulting writes into every collector,
			// TA wanted or not: none of it is evidence of intent.
			name: "operator defaults only: no TA001",
			obj: collector(`  mode: deployment
  targetAllocator:
    allocationStrategy: consistent-hashing
    filterStrategy: relabel-config
    prometheusCR: {scrapeInterval: 30s, serviceMonitorNamespaceSelector: {}, podMonitorNamespaceSelector: {}}
`),
			want: []string{},
		},
		{
			name:     "TA001 prometheusCR on but TA not enabled",
			obj:      collector("  mode: statefulset\n  targetAllocator:\n    prometheusCR: {enabled: true, serviceMonitorSelector: {matchLabels: {team: a}}}\n"),
			want:     []string{"TA001"},
			contains: "it sets prometheusCR.enabled, prometheusCR.serviceMonitorSelector;",
		},
		{
			// What the operator stores for a v1alpha1 collector without a TA:
			// its conversion always writes both selectors, as {}.
			name: "a converted v1alpha1 collector without a TA",
			obj:  collector("  mode: deployment\n  targetAllocator:\n    prometheusCR: {serviceMonitorSelector: {}, podMonitorSelector: {}}\n"),
			want: []string{},
		},
		{
			name: "TA001 serviceAccount set, TA not enabled",
			obj:  collector("  targetAllocator: {serviceAccount: sa}\n"),
			want: []string{"TA001"},
		},
		{
			// enabled: false written out beside the rest of the block: the TA
			// is off on purpose (the operator's e2e setups do so).
			name: "enabled: false written out: off on purpose, no TA001",
			obj:  collector("  mode: statefulset\n  targetAllocator:\n    enabled: false\n    serviceAccount: sa\n    prometheusCR: {enabled: true, serviceMonitorSelector: {}}\n"),
			want: []string{},
		},
		{
			name: "TA001 per-node strategy is a choice",
			obj:  collector("  mode: daemonset\n  targetAllocator: {allocationStrategy: per-node}\n"),
			want: []string{"TA001"},
		},
		{
			name:     "TA002 prometheusCR off while its selector is set",
			obj:      collector("  mode: statefulset\n  targetAllocator:\n    enabled: true\n    prometheusCR: {serviceMonitorSelector: {matchLabels: {team: a}}}\n" + goodConfig),
			want:     []string{"TA002", "TA006"},
			contains: "prometheusCR sets serviceMonitorSelector",
		},
		{
			name: "TA002 v1alpha1: unset map selects all, and a monitor exists",
			obj: `apiVersion: opentelemetry.io/v1alpha1
kind: OpenTelemetryCollector
metadata: {name: c, namespace: obs}
spec:
  mode: statefulset
  targetAllocator: {enabled: true}
  config: |
    receivers: {prometheus: {config: {scrape_configs: [{job_name: x}]}}}
    service: {pipelines: {metrics: {receivers: [prometheus]}}}
`,
			world:    []string{smOneEndpoint},
			want:     []string{"TA002"},
			contains: "1 monitors exist that it would read (e.g. ServiceMonitor opentelemetry/sm)",
		},
		{
			name: "no TA002 under v1beta1 when nil selectors would read nothing",
			obj: collector(`  mode: statefulset
  targetAllocator: {enabled: true}
  config:
    receivers: {prometheus: {config: {scrape_configs: [{job_name: x}]}}}
    service: {pipelines: {metrics: {receivers: [prometheus]}}}
`),
			world: []string{smOneEndpoint},
			want:  []string{},
		},
		{
			name:     "TA003 both selectors nil, and TA005 without receiver (the guide's minimal form)",
			obj:      collector("  mode: statefulset\n  targetAllocator: {enabled: true, prometheusCR: {enabled: true}}\n"),
			want:     []string{"TA003", "TA003", "TA005"},
			contains: "serviceMonitorSelector is unset, so the TA reads no ServiceMonitor",
		},
		{
			name: "TA003 only for the nil one",
			obj:  collector("  mode: statefulset\n  targetAllocator: {enabled: true, prometheusCR: {enabled: true, podMonitorSelector: {}}}\n" + goodConfig),
			want: []string{"TA003"},
		},
		{
			name: "{} selectors: no TA003",
			obj:  collector("  mode: statefulset\n  targetAllocator: {enabled: true, prometheusCR: {enabled: true, podMonitorSelector: {}, serviceMonitorSelector: {}}}\n" + goodConfig),
			want: []string{},
		},
		{
			name: "v1alpha1 unset selectors select all: no TA003",
			obj: `apiVersion: opentelemetry.io/v1alpha1
kind: OpenTelemetryCollector
metadata: {name: c, namespace: obs}
spec:
  mode: statefulset
  targetAllocator: {enabled: true, prometheusCR: {enabled: true}}
  config: "receivers: {prometheus: {config: {scrape_configs: []}}}\nservice: {pipelines: {metrics: {receivers: [prometheus]}}}"
`,
			want: []string{},
		},
		{
			name: "standalone TargetAllocator with nil selectors: TA003 twice",
			obj: `apiVersion: opentelemetry.io/v1alpha1
kind: TargetAllocator
metadata: {name: ta, namespace: obs}
spec: {prometheusCR: {enabled: true}}
`,
			world: []string{attachedCollector("ta", "[]")},
			want:  []string{"TA003", "TA003"},
		},
		{
			name:     "TA004 mode defaults to deployment",
			obj:      collector("  targetAllocator: {enabled: true, prometheusCR: {enabled: true, podMonitorSelector: {}, serviceMonitorSelector: {}}}\n" + goodConfig),
			want:     []string{"TA004"},
			contains: "mode deployment does not support a target allocator",
		},
		{
			name: "TA004 daemonset without per-node",
			obj:  collector("  mode: daemonset\n  targetAllocator: {enabled: true, prometheusCR: {enabled: true, podMonitorSelector: {}, serviceMonitorSelector: {}}}\n" + goodConfig),
			want: []string{"TA004"},
		},
		{
			name: "daemonset with per-node is fine",
			obj:  collector("  mode: daemonset\n  targetAllocator: {enabled: true, allocationStrategy: per-node, prometheusCR: {enabled: true, podMonitorSelector: {}, serviceMonitorSelector: {}}}\n" + goodConfig),
			want: []string{},
		},
		{
			name: "TA004 per-node without daemonset",
			obj:  collector("  mode: statefulset\n  targetAllocator: {enabled: true, allocationStrategy: per-node, prometheusCR: {enabled: true, podMonitorSelector: {}, serviceMonitorSelector: {}}}\n" + goodConfig),
			want: []string{"TA004"},
		},
		{
			name: "TA005 prometheus/foo does not count",
			obj: collector(`  mode: statefulset
  targetAllocator: {enabled: true, prometheusCR: {enabled: true, podMonitorSelector: {}, serviceMonitorSelector: {}}}
  config:
    receivers: {prometheus/foo: {config: {scrape_configs: []}}}
    service: {pipelines: {metrics: {receivers: [prometheus/foo]}}}
`),
			want:     []string{"TA005"},
			contains: "prometheus/foo does not count",
		},
		{
			name: "TA005 receiver only in a traces pipeline",
			obj: collector(`  mode: statefulset
  targetAllocator: {enabled: true, prometheusCR: {enabled: true, podMonitorSelector: {}, serviceMonitorSelector: {}}}
  config:
    receivers: {prometheus: {config: {scrape_configs: []}}}
    service: {pipelines: {traces: {receivers: [prometheus]}}}
`),
			want:     []string{"TA005"},
			contains: "in no metrics pipeline",
		},
		{
			name: "metrics/<name> pipeline counts",
			obj: collector(`  mode: statefulset
  targetAllocator: {enabled: true, prometheusCR: {enabled: true, podMonitorSelector: {}, serviceMonitorSelector: {}}}
  config:
    receivers: {prometheus: {config: {scrape_configs: []}}}
    service: {pipelines: {metrics/prom: {receivers: [otlp, prometheus]}}}
`),
			want: []string{},
		},
		{
			name: "TA006 prometheusCR off and no scrape_configs",
			obj:  collector("  mode: statefulset\n  targetAllocator: {enabled: true}\n" + goodConfig),
			want: []string{"TA006"},
		},
		{
			name: "prometheusCR off with a static scrape config is a valid setup",
			obj: collector(`  mode: statefulset
  targetAllocator: {enabled: true}
  config:
    receivers: {prometheus: {config: {scrape_configs: [{job_name: otel-collector}]}}}
    service: {pipelines: {metrics: {receivers: [prometheus]}}}
`),
			want: []string{},
		},
		{
			name:     "TA006 standalone TargetAllocator without scrapeConfigs",
			obj:      "apiVersion: opentelemetry.io/v1alpha1\nkind: TargetAllocator\nmetadata: {name: ta, namespace: obs}\nspec: {}\n",
			world:    []string{attachedCollector("ta", "[]")},
			want:     []string{"TA006"},
			contains: "spec.scrapeConfigs is empty and no attached collector's prometheus receiver has scrape_configs;",
		},
		{
			name: "a standalone TargetAllocator with nothing attached yet: TA013 only (its feeders may come later)",
			obj:  "apiVersion: opentelemetry.io/v1alpha1\nkind: TargetAllocator\nmetadata: {name: ta, namespace: obs}\nspec: {}\n",
			want: []string{"TA013"},
		},
		{
			name:  "standalone TargetAllocator fed by an attached collector's scrape_configs",
			obj:   "apiVersion: opentelemetry.io/v1alpha1\nkind: TargetAllocator\nmetadata: {name: ta, namespace: obs}\nspec: {}\n",
			world: []string{attachedCollector("ta", "[{job_name: app}]")},
			want:  []string{},
		},
		{
			name:  "a collector attached elsewhere does not feed it",
			obj:   "apiVersion: opentelemetry.io/v1alpha1\nkind: TargetAllocator\nmetadata: {name: ta, namespace: obs}\nspec: {}\n",
			world: []string{attachedCollector("other", "[{job_name: app}]")},
			want:  []string{"TA013"},
		},
		{
			// The operator generates a ClusterObservability's cluster
			// collector attached to "<name>-targetallocator".
			name:  "a ClusterObservability's TargetAllocator has its generated collector",
			obj:   "apiVersion: opentelemetry.io/v1alpha1\nkind: TargetAllocator\nmetadata: {name: co-targetallocator, namespace: obs}\nspec: {prometheusCR: {enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}}\n",
			world: []string{"apiVersion: opentelemetry.io/v1alpha1\nkind: ClusterObservability\nmetadata: {name: co, namespace: obs}\nspec: {exporter: {endpoint: http://x:4318}}\n"},
			want:  []string{},
		},
		{
			name:     "a ClusterObservability of another name pairs with another TA",
			obj:      "apiVersion: opentelemetry.io/v1alpha1\nkind: TargetAllocator\nmetadata: {name: co-targetallocator, namespace: obs}\nspec: {prometheusCR: {enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}}\n",
			world:    []string{"apiVersion: opentelemetry.io/v1alpha1\nkind: ClusterObservability\nmetadata: {name: other, namespace: obs}\nspec: {}\n"},
			want:     []string{"TA013"},
			contains: "or create ClusterObservability co in it",
		},
		{
			name: "a ClusterObservability itself: the operator's collector is not the user's to fix",
			obj:  "apiVersion: opentelemetry.io/v1alpha1\nkind: ClusterObservability\nmetadata: {name: co, namespace: obs}\nspec: {}\n",
			want: []string{},
		},
		{
			name:  "an attached collector is no disabled TA: no TA001",
			obj:   attachedCollector("ta", "[{job_name: app}]"),
			world: []string{"apiVersion: opentelemetry.io/v1alpha1\nkind: TargetAllocator\nmetadata: {name: ta, namespace: obs}\nspec: {}\n"},
			want:  []string{},
		},
		{
			name:     "TA012 a collector attached to a TargetAllocator that does not exist",
			obj:      attachedCollector("ta", "[{job_name: app}]"),
			world:    []string{"apiVersion: opentelemetry.io/v1alpha1\nkind: TargetAllocator\nmetadata: {name: ta, namespace: elsewhere}\nspec: {}\n"},
			want:     []string{"TA012"},
			contains: "attached to TargetAllocator ta, which does not exist",
		},
		{
			name:  "the operator's TargetAllocator copy of an embedded TA is judged on its collector",
			obj:   "apiVersion: opentelemetry.io/v1alpha1\nkind: TargetAllocator\nmetadata: {name: c, namespace: obs}\nspec: {prometheusCR: {enabled: true}}\n",
			world: []string{collector("  mode: statefulset\n  targetAllocator: {enabled: true, prometheusCR: {enabled: true, podMonitorSelector: {}, serviceMonitorSelector: {}}}\n" + goodConfig)},
			want:  []string{},
		},
		{
			name: "TA007 allow and deny lists together",
			obj:  collector("  mode: statefulset\n  targetAllocator: {enabled: true, prometheusCR: {enabled: true, podMonitorSelector: {}, serviceMonitorSelector: {}, allowNamespaces: [a], denyNamespaces: [b]}}\n" + goodConfig),
			want: []string{"TA007"},
		},
		{
			name: "the guide's collector.yaml is clean",
			obj:  strings.ReplaceAll(collectorAll, "name: otelcol", "name: c"),
			want: []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := change{op: Create, new: tt.obj, world: tt.world}.run(t)
			assert.Equal(t, tt.want, ids(fs), messages(fs))
			if tt.contains != "" {
				assert.Contains(t, messages(fs), tt.contains)
			}
			for _, f := range fs {
				assert.LessOrEqual(t, len(f.Summary()), 130, "summary too long: %s", f.Summary())
			}
		})
	}
}

func TestMonitorsOrphanedByChange(t *testing.T) {
	narrowed := strings.Replace(collectorAll, "serviceMonitorSelector: {}", "serviceMonitorSelector: {matchLabels: {team: a}}", 1)
	otherTA := strings.ReplaceAll(strings.ReplaceAll(collectorAll, "name: otelcol", "name: other"), "namespace: opentelemetry", "namespace: elsewhere")
	tests := []struct {
		name     string
		op       Operation
		old, new string
		world    []string
		want     []string
		contains string
	}{
		{
			name: "TA011 selector narrowed away from sm-example", op: Update,
			old: collectorAll, new: narrowed, world: []string{smExample, serviceProm},
			want: []string{"TA011"}, contains: "sm-example: does not match serviceMonitorSelector (needs team=a)",
		},
		{
			name: "another TA still reads it", op: Update,
			old: collectorAll, new: narrowed, world: []string{smExample, serviceProm, otherTA},
			want: []string{},
		},
		{
			name: "a Prometheus does not count as a TA", op: Update,
			old: collectorAll, new: narrowed,
			world: []string{smExample, `apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: p, namespace: opentelemetry}
spec: {serviceMonitorSelector: {}}
`},
			want: []string{"TA011"},
		},
		{
			name: "TA011 prometheusCR switched off", op: Update,
			old: collectorAll, new: strings.Replace(collectorAll, "enabled: true, serviceMonitorSelector", "enabled: false, serviceMonitorSelector", 1),
			world: []string{smExample},
			// prometheusCR off with an empty scrape_configs also stops the TA.
			want: []string{"TA002", "TA006", "TA011"},
		},
		{
			name: "TA011 on delete", op: Delete, old: collectorAll, world: []string{smExample},
			want: []string{"TA011"}, contains: "deleting it leaves 1 monitor(s) read by no TA",
		},
		{
			name: "a change that keeps reading everything", op: Update,
			old: collectorAll, new: strings.Replace(collectorAll, "mode: statefulset", "mode: statefulset\n  replicas: 2", 1),
			world: []string{smExample}, want: []string{},
		},
		{
			name: "namespace selector narrowed", op: Update,
			old:   collectorAll,
			new:   strings.Replace(collectorAll, "podMonitorSelector: {}}", "podMonitorSelector: {}, serviceMonitorNamespaceSelector: {matchLabels: {monitored: \"true\"}}}", 1),
			world: []string{smExample, "apiVersion: v1\nkind: Namespace\nmetadata: {name: opentelemetry}\n"},
			want:  []string{"TA011"}, contains: "namespace opentelemetry does not match serviceMonitorNamespaceSelector",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := change{op: tt.op, old: tt.old, new: tt.new, world: tt.world}.run(t)
			assert.Equal(t, tt.want, ids(fs), messages(fs))
			if tt.contains != "" {
				assert.Contains(t, messages(fs), tt.contains)
			}
		})
	}
}

// attachedCollector is a collector in namespace obs attached to the
// standalone TargetAllocator ta, with those scrape_configs.
func attachedCollector(ta, scrapeConfigs string) string {
	return `apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: {name: feeder, namespace: obs, labels: {opentelemetry.io/target-allocator: ` + ta + `}}
spec:
  mode: statefulset
  config:
    receivers: {prometheus: {config: {scrape_configs: ` + scrapeConfigs + `}}}
    service: {pipelines: {metrics: {receivers: [prometheus]}}}
`
}

// TA015 is TA101 seen from the collector: the same monitors, the same
// closest TA, so the person applying the collector after its monitors is
// told what the monitors' own warnings would have said.
func TestMonitorsLeftUnread(t *testing.T) {
	otherApp := strings.ReplaceAll(strings.ReplaceAll(collectorApp, "name: otelcol", "name: other"), "app: my-app", "release: prometheus")
	secondMonitor := strings.ReplaceAll(smExample, "name: sm-example", "name: sm-second")
	nsScoped := strings.Replace(collectorApp, "      serviceMonitorSelector:", "      serviceMonitorNamespaceSelector: {matchLabels: {monitored: \"true\"}}\n      serviceMonitorSelector:", 1)
	labelledNS := "apiVersion: v1\nkind: Namespace\nmetadata: {name: opentelemetry, labels: {team: a}}\n"
	prometheus := "apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata: {name: p, namespace: opentelemetry}\nspec: {serviceMonitorSelector: {}}\n"
	sameSelectorElsewhere := strings.ReplaceAll(strings.ReplaceAll(collectorApp, "name: otelcol", "name: other"), "namespace: opentelemetry", "namespace: elsewhere")
	inThirdNamespace := strings.ReplaceAll(smExample, "namespace: opentelemetry", "namespace: apps")
	skipped := strings.Replace(smExample, "  namespace: opentelemetry\n", "  namespace: opentelemetry\n  annotations: {ta-guard.io/skip: TA101}\n", 1)
	tests := []struct {
		name     string
		op       Operation
		old, new string
		world    []string
		want     []string
		contains []string
	}{
		{
			name: "an unlabelled monitor applied first", new: collectorApp, world: []string{smExample},
			want:     []string{"TA015"},
			contains: []string{"1 ServiceMonitor in its namespaces is read by no TA", "opentelemetry/sm-example", "needs app=my-app", "spec.targetAllocator.prometheusCR.serviceMonitorSelector"},
		},
		{
			name: "two of them: counted and listed", new: collectorApp, world: []string{smExample, secondMonitor},
			want: []string{"TA015"}, contains: []string{"2 ServiceMonitors in its namespaces are read by no TA", "sm-example", "sm-second"},
		},
		{name: "a monitor it reads", new: collectorAll, world: []string{smExample}, want: []string{}},
		{name: "read by a Prometheus", new: collectorApp, world: []string{smExample, prometheus}, want: []string{}},
		{name: "opted out of TA101", new: collectorApp, world: []string{skipped}, want: []string{}},
		{
			// Another TA that needs fewer changes is the one TA101 names, and
			// it reads the monitor: nothing is unread.
			name: "another TA reads it", new: collectorApp, world: []string{smExample, otherApp}, want: []string{},
		},
		{
			// Outside its namespaces: whoever applies the collector last
			// is told too (TA101 on the monitor was printed before), with
			// the namespace that keeps it out.
			name: "outside its namespaces", new: nsScoped, world: []string{smExample, labelledNS}, want: []string{"TA015"},
			contains: []string{"TA015 OpenTelemetryCollector opentelemetry/otelcol: 1 ServiceMonitor is read by no TA, and this is the closest: ServiceMonitor opentelemetry/sm-example\nfix: ServiceMonitor opentelemetry/sm-example: does not match serviceMonitorSelector (needs app=my-app); namespace opentelemetry does not match serviceMonitorNamespaceSelector monitored=true"},
		},
		{
			name: "re-applied unchanged", op: Update, old: collectorApp, new: collectorApp, world: []string{smExample},
			want: []string{"TA015"},
		},
		{
			// What the old state read is TA011's, not listed twice.
			name: "narrowed by this change", op: Update, old: collectorAll, new: collectorApp, world: []string{smExample},
			want: []string{"TA011"},
		},
		{name: "deleted", op: Delete, old: collectorApp, world: []string{smExample}, want: []string{}},
		{
			// Its own namespace breaks the tie with a TA elsewhere that
			// needs the same label.
			name: "closer by its namespace", new: collectorApp, world: []string{smExample, sameSelectorElsewhere},
			want: []string{"TA015"},
		},
		{
			// In a third namespace, both TAs miss it by as much: it is not
			// one of them's to report (TA101 on the monitor still is).
			name: "a tie with another TA", new: collectorApp, world: []string{inThirdNamespace, sameSelectorElsewhere},
			want: []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := change{op: tt.op, old: tt.old, new: tt.new, world: tt.world}.run(t)
			got := []string{}
			for _, f := range fs {
				if f.Rule == "TA011" || f.Rule == "TA015" {
					got = append(got, string(f.Rule))
				}
			}
			assert.Equal(t, tt.want, got, messages(fs))
			for _, c := range tt.contains {
				assert.Contains(t, messages(fs), c)
			}
		})
	}
}
