package validate

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ta-guard/ta-guard/pkg/rules"
)

// operatorPod is a pod in namespace ns as the operator labels it: instance
// "<ns>.<owner>", component opentelemetry-collector or -targetallocator,
// scheduled to a node, in the phase given, Ready when Running. Phases of
// the tests' own: "Unscheduled" (Pending, no node), "NotReady" (Running,
// Ready False), "NoCondition" (Running, no Ready condition), "NotStarted"
// (Pending, scheduled, no start time). Other phases have a start time.
func operatorPod(ns, name, instance, component, phase string) string {
	node, status := "nodeName: node-1, ", "{phase: "+phase+", startTime: '2026-12-01T00:00:00Z'}"
	switch phase {
	case "Running":
		status = `{phase: Running, startTime: '2026-12-01T00:00:00Z', conditions: [{type: Ready, status: "True"}]}`
	case "NotStarted":
		status = "{phase: Pending}"
	case "Unscheduled":
		node, status = "", `{phase: Pending, conditions: [{type: PodScheduled, status: "False", reason: Unschedulable}]}`
	case "NotReady":
		status = `{phase: Running, conditions: [{type: Ready, status: "False"}]}`
	case "NoCondition":
		status = "{phase: Running}"
	}
	return `apiVersion: v1
kind: Pod
metadata:
  name: ` + name + `
  namespace: ` + ns + `
  labels:
    app.kubernetes.io/managed-by: opentelemetry-operator
    app.kubernetes.io/instance: ` + instance + `
    app.kubernetes.io/part-of: opentelemetry
    app.kubernetes.io/component: ` + component + `
    app.kubernetes.io/name: ` + name + `
spec: {` + node + `containers: [{name: c, image: i}]}
status: ` + status + `
`
}

func collectorPod(instance, phase string) string {
	return operatorPod("obs", strings.ReplaceAll(instance, ".", "-")+"-collector-0", instance, "opentelemetry-collector", phase)
}

func allocatorPod(instance, phase string) string {
	return operatorPod("obs", strings.ReplaceAll(instance, ".", "-")+"-targetallocator-x", instance, "opentelemetry-targetallocator", phase)
}

const (
	crOn = "    prometheusCR: {enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}\n"
	// embeddedTA is collector obs/c with an enabled TA reading every monitor.
	embeddedTA = "  mode: statefulset\n  targetAllocator:\n    enabled: true\n" + crOn + goodConfig
	sharedTA   = `apiVersion: opentelemetry.io/v1alpha1
kind: TargetAllocator
metadata: {name: shared, namespace: obs}
spec: {prometheusCR: {enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}}
`
)

func TestCollectorPods(t *testing.T) {
	taRunning := allocatorPod("obs.c", "Running")
	tests := []struct {
		name string
		obj  string
		// as is how the engine meets the object: "" an UPDATE (the store
		// holds the object), "create" a webhook CREATE (it does not),
		// "audit" a CREATE of an object the store holds (audit, diagnose).
		as       string
		world    []string
		want     []string
		contains []string
	}{
		{
			name: "embedded TA runs, no collector pod",
			obj:  collector(embeddedTA), world: []string{taRunning},
			want: []string{"TA014"},
			contains: []string{
				"TA014 OpenTelemetryCollector obs/c: the TA runs but sees no collector pod in obs matching " +
					"app.kubernetes.io/instance=obs.c,app.kubernetes.io/component=opentelemetry-collector",
				"fix: kubectl get pods -n obs -l app.kubernetes.io/component=opentelemetry-collector,app.kubernetes.io/instance=obs.c," +
					"app.kubernetes.io/managed-by=opentelemetry-operator,app.kubernetes.io/part-of=opentelemetry lists what the TA sees; " +
					"kubectl describe statefulset c-collector -n obs tells why there are none",
			},
		},
		{name: "a Running collector pod", obj: collector(embeddedTA), world: []string{taRunning, collectorPod("obs.c", "Running")}, want: []string{}},
		// The TA counts a pod as a collector once it is scheduled, and
		// hands it targets while it runs or has just started: a scheduled
		// Pending pod or a Running one that is not Ready gets targets it
		// does not scrape; an unscheduled one is not counted at all.
		{
			name: "only a Pending collector pod: nothing is scraped", obj: collector(embeddedTA),
			world: []string{taRunning, collectorPod("obs.c", "Pending")}, want: []string{"TA014"},
			contains: []string{
				"TA014 OpenTelemetryCollector obs/c: the TA runs but no collector pod in obs runs to scrape what it hands out: obs-c-collector-0 (Pending)",
				"kubectl describe statefulset c-collector -n obs tells why they are not Running and Ready",
			},
		},
		{
			name: "an unscheduled collector pod is not counted", obj: collector(embeddedTA),
			world: []string{taRunning, collectorPod("obs.c", "Unscheduled")}, want: []string{"TA014"},
			contains: []string{"the TA runs but sees no collector pod in obs matching app.kubernetes.io/instance=obs.c,app.kubernetes.io/component=opentelemetry-collector: " +
				"1 match but none is scheduled to a node (Pending), and the TA counts only scheduled pods"},
		},
		{
			name: "a Running collector pod that is not Ready", obj: collector(embeddedTA),
			world: []string{taRunning, collectorPod("obs.c", "NotReady")}, want: []string{"TA014"},
			contains: []string{"1 of 1 collector pod(s) in obs that cannot scrape them: obs-c-collector-0 (Running, not Ready)"},
		},
		{
			name: "one of two collector pods not Ready: its share is lost", obj: collector(embeddedTA),
			world: []string{taRunning, collectorPod("obs.c", "Running"), operatorPod("obs", "c-collector-1", "obs.c", "opentelemetry-collector", "NotReady")},
			want:  []string{"TA014"}, contains: []string{"1 of 2 collector pod(s) in obs that cannot scrape them: c-collector-1 (Running, not Ready)"},
		},
		{
			// The TA stops counting it 30 s after its start: its targets
			// go to the Running one.
			name: "a started Pending pod beside a Running one", obj: collector(embeddedTA),
			world: []string{taRunning, collectorPod("obs.c", "Running"), operatorPod("obs", "c-collector-1", "obs.c", "opentelemetry-collector", "Pending")},
			want:  []string{},
		},
		{
			// No kubelet took it (its node is gone): the TA counts it for good.
			name: "a Pending pod never started beside a Running one", obj: collector(embeddedTA),
			world: []string{taRunning, collectorPod("obs.c", "Running"), operatorPod("obs", "c-collector-1", "obs.c", "opentelemetry-collector", "NotStarted")},
			want:  []string{"TA014"}, contains: []string{"1 of 2 collector pod(s) in obs that cannot scrape them: c-collector-1 (Pending, not started on its node)"},
		},
		{
			name: "a Running pod that reports no Ready condition is taken at its phase", obj: collector(embeddedTA),
			world: []string{taRunning, collectorPod("obs.c", "NoCondition")}, want: []string{},
		},
		{
			name: "six idle pods: five named", obj: collector(embeddedTA),
			world: []string{taRunning,
				operatorPod("obs", "c-collector-0", "obs.c", "opentelemetry-collector", "Pending"), operatorPod("obs", "c-collector-1", "obs.c", "opentelemetry-collector", "Pending"),
				operatorPod("obs", "c-collector-2", "obs.c", "opentelemetry-collector", "Pending"), operatorPod("obs", "c-collector-3", "obs.c", "opentelemetry-collector", "Pending"),
				operatorPod("obs", "c-collector-4", "obs.c", "opentelemetry-collector", "Pending"), operatorPod("obs", "c-collector-5", "obs.c", "opentelemetry-collector", "Pending")},
			want: []string{"TA014"}, contains: []string{"no collector pod in obs runs", "c-collector-4 (Pending); and 1 more"},
		},
		{
			name: "only Failed / Succeeded collector pods", obj: collector(embeddedTA),
			world: []string{taRunning, collectorPod("obs.c", "Failed"), operatorPod("obs", "c-collector-1", "obs.c", "opentelemetry-collector", "Succeeded")},
			want:  []string{"TA014"},
		},
		{
			name: "the collector pod of another collector does not count", obj: collector(embeddedTA),
			world: []string{taRunning, collectorPod("obs.other", "Running")}, want: []string{"TA014"},
		},
		{
			name: "a collector pod in another namespace does not count", obj: collector(embeddedTA),
			world: []string{taRunning, operatorPod("elsewhere", "c-collector-0", "obs.c", "opentelemetry-collector", "Running")},
			want:  []string{"TA014"},
		},
		{
			name: "a pod missing one of the selector labels does not count", obj: collector(embeddedTA),
			world: []string{taRunning, strings.Replace(collectorPod("obs.c", "Running"), "    app.kubernetes.io/part-of: opentelemetry\n", "", 1)},
			want:  []string{"TA014"},
		},
		// Timing: TA014 speaks only of a TA that runs, on an object that
		// existed before the request.
		{name: "no TA pod yet: the operator may not be done", obj: collector(embeddedTA), want: []string{}},
		{name: "the TA pod is still Pending", obj: collector(embeddedTA), world: []string{allocatorPod("obs.c", "Pending")}, want: []string{}},
		{name: "a webhook CREATE is silent even beside a Running TA pod", obj: collector(embeddedTA), as: "create", world: []string{taRunning}, want: []string{}},
		{name: "an audit of an existing collector fires", obj: collector(embeddedTA), as: "audit", world: []string{taRunning}, want: []string{"TA014"}},
		// Only a TA with targets to give.
		{
			name: "TA not enabled", obj: collector("  mode: statefulset\n  targetAllocator:\n" + crOn + goodConfig),
			world: []string{taRunning}, want: []string{},
		},
		{
			name: "prometheusCR off and no scrape_configs is TA006's", obj: collector("  mode: statefulset\n  targetAllocator: {enabled: true}\n" + goodConfig),
			world: []string{taRunning}, want: []string{},
		},
		{
			name: "prometheusCR off with static scrape_configs", obj: collector(`  mode: statefulset
  targetAllocator: {enabled: true}
  config:
    receivers: {prometheus: {config: {scrape_configs: [{job_name: x}]}}}
    service: {pipelines: {metrics: {receivers: [prometheus]}}}
`),
			world: []string{taRunning}, want: []string{"TA014"},
		},
		{
			name: "an embedded TA on a sidecar is TA004's", obj: collector(strings.Replace(embeddedTA, "statefulset", "sidecar", 1)),
			world: []string{taRunning}, want: []string{},
		},
		{
			name: "daemonset: the workload in the fix", obj: collector("  mode: daemonset\n  targetAllocator:\n    enabled: true\n    allocationStrategy: per-node\n" + crOn + goodConfig),
			world: []string{taRunning}, want: []string{"TA014"}, contains: []string{"kubectl describe daemonset c-collector -n obs"},
		},
		// Standalone TargetAllocators and the collectors attached to them.
		{
			name: "standalone TA runs, its collector has no pod", obj: sharedTA,
			world: []string{attachedCollector("shared", "[]"), allocatorPod("obs.shared", "Running")},
			want:  []string{"TA014"},
			contains: []string{
				"TA014 TargetAllocator obs/shared: the TA runs but sees no collector pod in obs matching app.kubernetes.io/instance=obs.feeder,",
				"kubectl describe statefulset feeder-collector -n obs",
				"the TA hands targets only to the collector of obs labelled opentelemetry.io/target-allocator: shared",
			},
		},
		{
			name: "standalone TA, its collector's pod runs", obj: sharedTA,
			world: []string{attachedCollector("shared", "[]"), allocatorPod("obs.shared", "Running"), collectorPod("obs.feeder", "Running")},
			want:  []string{},
		},
		{
			// The TA's pods are named after the TargetAllocator, the
			// collector's after the collector: not interchangeable.
			name: "standalone TA: a pod of a collector of the TA's name does not count", obj: sharedTA,
			world: []string{attachedCollector("shared", "[]"), allocatorPod("obs.shared", "Running"), collectorPod("obs.shared", "Running")},
			want:  []string{"TA014"},
		},
		{
			name: "standalone TA without attached collector is TA013's", obj: sharedTA,
			world: []string{allocatorPod("obs.shared", "Running")}, want: []string{},
		},
		{
			name:  "standalone TA fed only by its collectors' scrape_configs",
			obj:   strings.Replace(sharedTA, "spec: {prometheusCR: {enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}}", "spec: {}", 1),
			world: []string{attachedCollector("shared", "[{job_name: x}]"), allocatorPod("obs.shared", "Running")},
			want:  []string{"TA014"},
		},
		{
			name: "standalone TA with nothing to give", obj: strings.Replace(sharedTA, "spec: {prometheusCR: {enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}}", "spec: {}", 1),
			world: []string{attachedCollector("shared", "[]"), allocatorPod("obs.shared", "Running")},
			want:  []string{},
		},
		{
			name:  "the operator's copy of an embedded TA is judged on its collector",
			obj:   strings.Replace(sharedTA, "name: shared", "name: c", 1),
			world: []string{collector(embeddedTA), taRunning}, want: []string{},
		},
		{
			name: "attached collector: its TA runs and sees none of its pods", obj: attachedCollector("shared", "[]"),
			world: []string{sharedTA, allocatorPod("obs.shared", "Running")},
			want:  []string{"TA014"},
			contains: []string{
				"TA014 OpenTelemetryCollector obs/feeder: TargetAllocator shared runs but sees no collector pod in obs matching app.kubernetes.io/instance=obs.feeder,",
			},
		},
		{
			name: "attached collector with a pod", obj: attachedCollector("shared", "[]"),
			world: []string{sharedTA, allocatorPod("obs.shared", "Running"), collectorPod("obs.feeder", "Running")},
			want:  []string{},
		},
		{
			name: "attached to a TargetAllocator that does not exist is TA012's", obj: attachedCollector("shared", "[]"),
			world: []string{allocatorPod("obs.shared", "Running")}, want: []string{},
		},
		{
			name: "attached sidecar collector: the fix says why no TA sees it", obj: strings.Replace(attachedCollector("shared", "[]"), "statefulset", "sidecar", 1),
			world: []string{sharedTA, allocatorPod("obs.shared", "Running")},
			want:  []string{"TA014"}, contains: []string{"collector feeder has mode sidecar, whose pods no TA can see"},
		},
		{
			name: "two attached collectors, one has a pod", obj: sharedTA,
			world: []string{attachedCollector("shared", "[]"), strings.Replace(attachedCollector("shared", "[]"), "name: feeder", "name: feeder2", 1),
				allocatorPod("obs.shared", "Running"), collectorPod("obs.feeder2", "Running")},
			want: []string{},
		},
		{
			name: "two attached collectors, no pod", obj: sharedTA,
			world: []string{attachedCollector("shared", "[]"), strings.Replace(attachedCollector("shared", "[]"), "name: feeder", "name: feeder2", 1),
				allocatorPod("obs.shared", "Running")},
			want: []string{"TA014"}, contains: []string{"no collector pod in obs matching app.kubernetes.io/instance in (obs.feeder,obs.feeder2),"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := store(t, tt.world...)
			obj := object(t, tt.obj)
			req := Request{Operation: Update, Object: obj, OldObject: obj}
			switch tt.as {
			case "create":
				req = Request{Operation: Create, Object: obj}
			case "audit":
				req = Request{Operation: Create, Object: obj}
				s.Upsert(obj)
			default:
				s.Upsert(obj)
			}
			res, err := Evaluate(context.Background(), req, s, Options{Facts: fakeFacts{}})
			require.NoError(t, err)
			var fs []rules.Finding
			for _, f := range res.Findings {
				if f.Rule == rules.TA014 {
					fs = append(fs, f)
				}
			}
			assert.Equal(t, tt.want, ids(fs), messages(fs))
			for _, c := range tt.contains {
				assert.Contains(t, messages(fs), c)
			}
		})
	}
}

// Offline there are no live facts: TA014 never runs, whatever the view.
func TestCollectorPodsOffline(t *testing.T) {
	obj := object(t, collector(embeddedTA))
	s := store(t, allocatorPod("obs.c", "Running"))
	s.Upsert(obj)
	fs := offline(t, Request{Operation: Update, Object: obj, OldObject: obj}, s, nil)
	assert.NotContains(t, ids(fs), "TA014")
}

func TestCollectorPodsTrace(t *testing.T) {
	obj := object(t, collector(embeddedTA))
	s := store(t, allocatorPod("obs.c", "Running"), collectorPod("obs.c", "Running"))
	s.Upsert(obj)
	res, err := Evaluate(context.Background(), Request{Operation: Create, Object: obj}, s, Options{Facts: fakeFacts{}, Trace: true})
	require.NoError(t, err)
	var details []string
	for _, c := range res.Checks {
		if c.Rule == rules.TA014 {
			assert.True(t, c.Passed())
			details = append(details, c.Detail)
		}
	}
	assert.Equal(t, []string{"1 collector pod(s) in obs match app.kubernetes.io/instance=obs.c,app.kubernetes.io/component=opentelemetry-collector and run"}, details)
}

// instanceLabel must name the pods the operator labels: it shortens the
// namespace before the name, and trims what the cut leaves at the ends.
