package validate

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ta-guard/ta-guard/internal/cluster"
	"github.com/ta-guard/ta-guard/internal/policy"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

func TestServiceRules(t *testing.T) {
	job0 := "serviceMonitor/opentelemetry/sm-example/0"
	world := []string{collectorAll, smExample}
	relabelled := strings.Replace(serviceProm, "labels: {app: my-app, ", "labels: {", 1)
	tests := []struct {
		name     string
		op       Operation
		old, new string
		world    []string
		want     []string
		contains string
	}{
		{
			name: "TA201 port prom renamed to bleh", op: Update, old: serviceProm, new: serviceBleh, world: world,
			// and TA202: the new state no longer fits sm-example at all.
			want: []string{"TA201 " + job0, "TA202"}, contains: "job " + job0 + " loses its last target Service: port prom (8080) renamed to bleh",
		},
		{
			name: "TA201 on delete", op: Delete, old: serviceProm, world: world,
			want: []string{"TA201 " + job0}, contains: "the Service is deleted",
		},
		{
			name: "TA201 label removed", op: Update, old: serviceProm, new: relabelled, world: world,
			want: []string{"TA201 " + job0}, contains: "its labels no longer match the selector (missing app=my-app)",
		},
		{
			name: "TA201 port removed", op: Update, old: serviceProm,
			new:   strings.Replace(serviceProm, "ports: [{name: prom, port: 8080}]", "ports: [{name: web, port: 80}]", 1),
			world: world, want: []string{"TA201 " + job0, "TA202"}, contains: "port prom (8080) removed",
		},
		{
			name: "another Service still serves the port", op: Delete, old: serviceProm,
			world: append([]string{strings.Replace(serviceProm, "name: py-prometheus-app\n", "name: twin\n", 1)}, world...),
			want:  []string{},
		},
		{
			name: "an unrelated change", op: Update, old: serviceProm,
			new:   strings.Replace(serviceProm, "labels: {", "labels: {extra: x, ", 1),
			world: world, want: []string{},
		},
		{
			// Endpoints 1 and 2 found nothing before: nothing is lost.
			name: "endpoints that were blind already are not reported", op: Delete, old: serviceBleh, world: world,
			want: []string{},
		},
		{
			name: "a Service nobody selects", op: Delete,
			old:   strings.Replace(serviceProm, "labels: {app: my-app, ", "labels: {", 1),
			world: world, want: []string{},
		},
		{
			name: "TA201 targetPort loses its Pods when the Service selector changes", op: Update,
			old: webService, new: strings.Replace(webService, "selector: {app: web}", "selector: {app: other}", 1),
			world: []string{ta("all", "{enabled: true, serviceMonitorSelector: {}}"), sm("{}", "", "{targetPort: 9090}"), webPods, `apiVersion: v1
kind: Pod
metadata: {name: other, namespace: apps, labels: {app: other}}
spec: {containers: [{name: c, image: i, ports: [{containerPort: 5000}]}]}
`},
			want: []string{"TA201 serviceMonitor/apps/web/0", "TA202"}, contains: "the Pods behind the Service no longer declare targetPort 9090",
		},
		{
			name: "TA202 the guide's bleh Service", op: Create, new: serviceBleh, world: world,
			want: []string{"TA202"}, contains: "ServiceMonitor opentelemetry/sm-example selects it but finds no port on it; it has: bleh",
		},
		{name: "no TA202 for port prom", op: Create, new: serviceProm, world: world, want: []string{}},
		{
			name: "no TA202 when an endpoint scrapes every port", op: Create, new: serviceBleh,
			world: []string{collectorAll, strings.Replace(smExample, "- port: py-server-port", "- path: /metrics", 1)},
			want:  []string{},
		},
		{
			name: "no TA202 when the Pods are not described (targetPort)", op: Create, new: webService,
			world: []string{sm("{}", "", "{targetPort: 7070}")}, want: []string{},
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

// The engine must answer the same whether the view has seen the change (the
// offline check) or not (admission, before the write).
func TestOverlayIndependentOfView(t *testing.T) {
	cases := []struct{ subject, world []string }{
		{[]string{serviceBleh}, []string{collectorAll, smExample}},
		{[]string{smExample}, []string{collectorApp, serviceProm}},
		// TA002 depends on which monitors the view holds.
		{[]string{`apiVersion: opentelemetry.io/v1alpha1
kind: OpenTelemetryCollector
metadata: {name: c, namespace: obs}
spec:
  mode: statefulset
  targetAllocator: {enabled: true}
  config: "receivers: {prometheus: {config: {scrape_configs: [{job_name: x}]}}}\nservice: {pipelines: {metrics: {receivers: [prometheus]}}}"
`}, []string{smExample, serviceProm}},
	}
	for _, c := range cases {
		subj := object(t, c.subject[0])
		without := store(t, c.world...)
		with := store(t, c.world...)
		with.Upsert(subj)
		req := Request{Operation: Create, Object: subj}
		a, b := offline(t, req, without, nil), offline(t, req, with, nil)
		require.NotEmpty(t, a, "the case must produce findings to compare")
		assert.Equal(t, a, b)
	}
}

// A monitor created into a world must see itself in ReadersOf etc., and an
// UPDATE replaces, never duplicates.
func TestUpdateReplacesInView(t *testing.T) {
	s := store(t, collectorAll, serviceProm)
	old := object(t, smExample)
	s.Upsert(old)
	fixed := object(t, strings.Replace(smExample, "- port: py-client-port\n  - port: py-server-port\n", "", 1))
	fs := offline(t, Request{Operation: Update, OldObject: old, Object: fixed}, s, nil)
	assert.Empty(t, fs, messages(fs))
}

func TestPolicyApplied(t *testing.T) {
	scenario := change{op: Create, new: smExample, world: []string{collectorAll, serviceProm}}
	tests := []struct {
		name   string
		pol    *policy.Policy
		annot  string
		action rules.Action
		want   []string
	}{
		{name: "defaults", want: []string{"TA103 serviceMonitor/opentelemetry/sm-example/1", "TA103 serviceMonitor/opentelemetry/sm-example/2"}, action: rules.Warn},
		{name: "rule set to deny", pol: &policy.Policy{Rules: map[rules.ID]rules.Action{rules.TA103: rules.Deny}},
			want: []string{"TA103 serviceMonitor/opentelemetry/sm-example/1", "TA103 serviceMonitor/opentelemetry/sm-example/2"}, action: rules.Deny},
		{name: "defaultAction audit", pol: &policy.Policy{DefaultAction: rules.Audit},
			want: []string{"TA103 serviceMonitor/opentelemetry/sm-example/1", "TA103 serviceMonitor/opentelemetry/sm-example/2"}, action: rules.Audit},
		{name: "rule off", pol: &policy.Policy{Rules: map[rules.ID]rules.Action{rules.TA103: rules.Off}}, want: []string{}},
		{name: "namespace excluded", pol: &policy.Policy{ExcludeNamespaces: map[string]bool{"opentelemetry": true}}, want: []string{}},
		{name: "skip annotation names the rule", annot: "TA101, TA103", want: []string{}},
		{name: "skip annotation names another rule", annot: "TA101", action: rules.Warn,
			want: []string{"TA103 serviceMonitor/opentelemetry/sm-example/1", "TA103 serviceMonitor/opentelemetry/sm-example/2"}},
		{name: "skip everything", annot: "*", want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := scenario
			c.pol = tt.pol
			if tt.annot != "" {
				c.new = strings.Replace(smExample, "  labels:", "  annotations: {ta-guard.io/skip: \""+tt.annot+"\"}\n  labels:", 1)
			}
			fs := c.run(t)
			assert.Equal(t, tt.want, ids(fs), messages(fs))
			for _, f := range fs {
				assert.Equal(t, tt.action, f.Action)
			}
		})
	}
}

// The view interface is satisfied by the store and the overlay alike.
var _ cluster.View = (*overlay)(nil)
