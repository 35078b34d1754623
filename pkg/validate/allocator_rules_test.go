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
			obj:      collector("  mode: statefulset\n  targetAllocator:\n    prometheusCR: {enabled: true, serviceMonitorSelector: {}}\n"),
			want:     []string{"TA001"},
			contains: "it sets prometheusCR.enabled, prometheusCR.serviceMonitorSelector;",
		},
		{
			name: "TA001 serviceAccount set, TA not enabled",
			obj:  collector("  targetAllocator: {serviceAccount: sa}\n"),
			want: []string{"TA001"},
		},
		{
			name: "TA001 per-node strategy is a choice",
			obj:  collector("  mode: daemonset\n  targetAllocator: {allocationStrategy: per-node}\n"),
			want: []string{"TA001"},
		},
		{
			name:     "TA002 prometheusCR off while its selector is set",
			obj:      collector("  mode: statefulset\n  targetAllocator:\n    enabled: true\n    prometheusCR: {serviceMonitorSelector: {}}\n" + goodConfig),
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
