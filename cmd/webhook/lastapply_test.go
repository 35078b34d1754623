package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ta-guard/ta-guard/internal/check"
	"github.com/ta-guard/ta-guard/internal/manifest"
	"github.com/ta-guard/ta-guard/pkg/model"
	"github.com/ta-guard/ta-guard/pkg/rules"
	"github.com/ta-guard/ta-guard/pkg/validate"
)

// reviewedKinds are the kinds the webhook reviews.
var reviewedKinds = map[string]bool{"OpenTelemetryCollector": true, "TargetAllocator": true, "ServiceMonitor": true, "PodMonitor": true, "ScrapeConfig": true, "Probe": true, "Service": true}

// blindRules are the monitor findings that say a job has no target now.
var blindRules = map[rules.ID]bool{rules.TA101: true, rules.TA102: true, rules.TA103: true, rules.TA105: true, rules.TA107: true, rules.TA111: true}

// applyOrders rank a document's kind for the orders a setup may be
// applied in: collectors first (Services and workloads, collectors,
// monitors), monitors first (as kubectl apply -f dir/ does for files named
// so: monitors, Services, collectors) and Services last (monitors,
// collectors, then the Services and workloads they select).
var applyOrders = map[string]map[int]int{
	"collectors first": {1: 1, 2: 2, 3: 3},
	"monitors first":   {1: 2, 2: 3, 3: 1},
	"services last":    {1: 3, 2: 2, 3: 1},
}

func applyOrder(order map[int]int) func(kind string) int {
	return func(kind string) int {
		r := 1
		switch kind {
		case "Namespace":
			return 0
		case "OpenTelemetryCollector", "TargetAllocator", "ClusterObservability", "Prometheus", "PrometheusAgent":
			r = 2
		case "ServiceMonitor", "PodMonitor", "ScrapeConfig", "Probe":
			r = 3
		}
		return order[r]
	}
}

// replay applies the documents one at a time as the webhook would see
// them (every namespace of the setup known, as on a cluster): the findings
// of each apply, and those of the final state.
func replay(t *testing.T, docs []manifest.Doc) (perApply [][]rules.Finding, final []rules.Finding) {
	return replayWith(t, docs, true)
}

func replayWith(t *testing.T, docs []manifest.Doc, admission bool) (perApply [][]rules.Finding, final []rules.Finding) {
	t.Helper()
	var namespaces []string
	for _, d := range docs {
		if d.Object != nil {
			namespaces = append(namespaces, d.Object.GetMeta().Ref.Namespace)
		}
	}
	world := func(n int) *check.World {
		w, err := check.BuildWorld(docs[:n])
		require.NoError(t, err)
		for _, ns := range namespaces {
			w.Store.Describe(ns)
		}
		return w
	}
	eval := func(w *check.World, obj model.Object, admission bool) []rules.Finding {
		res, err := validate.Evaluate(context.Background(), validate.Request{Operation: validate.Create, Object: obj}, w.Store, validate.Options{Admission: admission})
		require.NoError(t, err)
		return res.Findings
	}
	perApply = make([][]rules.Finding, len(docs))
	for i, d := range docs {
		if d.Object == nil {
			continue
		}
		perApply[i] = eval(world(i+1), d.Object, admission)
	}
	w := world(len(docs))
	for _, s := range w.Subjects {
		final = append(final, eval(w, s, false)...)
	}
	return perApply, final
}

// names reports whether the finding names the monitor: as its object, its
// job or a related object.
func names(f rules.Finding, m model.Ref, job string) bool {
	if f.Object == m || (job != "" && f.Job == job) {
		return true
	}
	for _, r := range f.Related {
		if r == m {
			return true
		}
	}
	return false
}

// TestTheLastApplyNamesTheBlindJob: whatever the order a setup is applied
// in, the apply that completes a blind job (the last of the monitor, the
// objects it selects from and the readers) tells whoever runs it about
// that monitor: over every setup of testdata/realworld, in both orders.
func TestTheLastApplyNamesTheBlindJob(t *testing.T) {
	total, told := 0, 0
	var missed []string
	for dir := range realWorldSetups(t) {
		files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		require.NoError(t, err)
		docs, err := manifest.Load(files, manifest.Options{Namespace: "default"})
		require.NoError(t, err)
		for name, order := range applyOrders {
			rank := applyOrder(order)
			ordered := append([]manifest.Doc(nil), docs...)
			sort.SliceStable(ordered, func(i, j int) bool { return rank(ordered[i].GVK.Kind) < rank(ordered[j].GVK.Kind) })
			perApply, final := replay(t, ordered)
			for _, f := range final {
				if !blindRules[f.Rule] {
					continue
				}
				// The apply completing it: the last of the monitor, its
				// readers, the objects the finding relates it to (the
				// Services it selects) and the EndpointSlices of their
				// namespaces. When that is an object the webhook does not
				// review (an EndpointSlice), no one applying it can be
				// told: the audit's report is where it shows.
				related := map[string]bool{}
				for _, r := range f.Related {
					if r.Kind == "Service" {
						related[r.Namespace] = true
					}
				}
				last := -1
				for i, d := range ordered {
					if d.Object == nil {
						continue
					}
					ref := d.Object.GetMeta().Ref
					if ref == f.Object || rank(d.GVK.Kind) == rank("OpenTelemetryCollector") || slices.Contains(f.Related, ref) ||
						d.GVK.Kind == "EndpointSlice" && related[ref.Namespace] {
						last = i
					}
				}
				if !reviewedKinds[ordered[last].GVK.Kind] {
					continue
				}
				total++
				ok := false
				for _, g := range perApply[last] {
					ok = ok || names(g, f.Object, f.Job)
				}
				if ok {
					told++
					continue
				}
				missed = append(missed, fmt.Sprintf("%s (%s): %s %s %s, last apply %s %s",
					filepath.Base(dir), name, f.Rule, f.Object, f.Job, ordered[last].GVK.Kind, ordered[last].Object.GetMeta().Ref.NamespacedName()))
			}
		}
	}
	sort.Strings(missed)
	t.Logf("told %d of %d blind findings", told, total)
	require.Empty(t, missed, "the last apply says nothing of these:\n%s", strings.Join(missed, "\n"))
}
