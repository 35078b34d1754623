// Package replay applies a setup's documents one at a time, in the orders
// people and tools apply them, and says which apply completes each blind
// job: the one whose author must be told. Test tooling, shared by the
// engine's replay (internal/cli) and the live one (test/envtest); not in
// the binary.
package replay

import (
	"context"
	"fmt"
	"sort"

	"github.com/ta-guard/ta-guard/internal/check"
	"github.com/ta-guard/ta-guard/internal/manifest"
	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/pkg/rules"
	"github.com/ta-guard/ta-guard/pkg/validate"
)

// Blind are the monitor findings that say a job has no target now.
var Blind = map[rules.ID]bool{rules.TA101: true, rules.TA102: true, rules.TA103: true, rules.TA105: true, rules.TA107: true, rules.TA111: true}

// Order is an order a setup may be applied in, by a document's kind.
type Order struct {
	Name string
	// ranks maps the careful order's groups (1 workloads and Services, 2
	// readers, 3 monitors) to this order's place.
	ranks [4]int
}

// Orders: collectors first (Services and workloads, collectors, monitors),
// monitors first (as kubectl apply -f dir/ does for files named so:
// monitors, Services, collectors) and Services last (monitors, collectors,
// then the Services and workloads they select).
var Orders = []Order{
	{Name: "collectors first", ranks: [4]int{0, 1, 2, 3}},
	{Name: "monitors first", ranks: [4]int{0, 2, 3, 1}},
	{Name: "services last", ranks: [4]int{0, 3, 2, 1}},
}

// Rank is the kind's place in the order; namespaces always come first.
func (o Order) Rank(kind string) int {
	switch kind {
	case "Namespace":
		return 0
	case "OpenTelemetryCollector", "TargetAllocator", "ClusterObservability", "Prometheus", "PrometheusAgent":
		return o.ranks[2]
	case "ServiceMonitor", "PodMonitor", "ScrapeConfig", "Probe":
		return o.ranks[3]
	}
	return o.ranks[1]
}

// Permutation returns the positions of items of the kinds in this order,
// stable within a rank: for a live replay that orders its objects as Sort
// orders the documents.
func (o Order) Permutation(kinds []string) []int {
	idx := make([]int, len(kinds))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool { return o.Rank(kinds[idx[i]]) < o.Rank(kinds[idx[j]]) })
	return idx
}

// Sort orders the documents, stable within a rank.
func (o Order) Sort(docs []manifest.Doc) []manifest.Doc {
	kinds := make([]string, len(docs))
	for i, d := range docs {
		kinds[i] = d.GVK.Kind
	}
	out := make([]manifest.Doc, len(docs))
	for i, j := range o.Permutation(kinds) {
		out[i] = docs[j]
	}
	return out
}

// Run applies the documents in their order into a world that knows every
// namespace of the setup (as a cluster does): the engine's findings of
// each apply (with admission's, or as the audit sees it), and those of
// the final state.
func Run(docs []manifest.Doc, admission bool) (perApply [][]rules.Finding, final []rules.Finding, err error) {
	var namespaces []string
	for _, d := range docs {
		if d.Object != nil {
			namespaces = append(namespaces, d.Object.GetMeta().Ref.Namespace)
		}
	}
	world := func(n int) (*check.World, error) {
		w, err := check.BuildWorld(docs[:n])
		if err != nil {
			return nil, err
		}
		for _, ns := range namespaces {
			w.Store.Describe(ns)
		}
		return w, nil
	}
	eval := func(w *check.World, obj model.Object, admission bool) ([]rules.Finding, error) {
		res, err := validate.Evaluate(context.Background(), validate.Request{Operation: validate.Create, Object: obj}, w.Store, validate.Options{Admission: admission})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", obj.GetMeta().Ref, err)
		}
		return res.Findings, nil
	}
	perApply = make([][]rules.Finding, len(docs))
	for i, d := range docs {
		if d.Object == nil {
			continue
		}
		w, err := world(i + 1)
		if err != nil {
			return nil, nil, err
		}
		if perApply[i], err = eval(w, d.Object, admission); err != nil {
			return nil, nil, err
		}
	}
	w, err := world(len(docs))
	if err != nil {
		return nil, nil, err
	}
	for _, s := range w.Subjects {
		fs, err := eval(w, s, false)
		if err != nil {
			return nil, nil, err
		}
		final = append(final, fs...)
	}
	return perApply, final, nil
}

// Completing returns the index of the apply that completes a blind
// finding of the final state: the last of the monitor, its readers, the
// objects the finding relates it to (the Services it selects) and the
// EndpointSlices of their namespaces. -1 when that apply is of a kind the
// webhook does not review (an EndpointSlice): no one applying it can be
// told, and the audit's report is where it shows.
func Completing(f rules.Finding, docs []manifest.Doc, o Order) int {
	related := map[string]bool{}
	for _, r := range f.Related {
		if r.Kind == "Service" {
			related[r.Namespace] = true
		}
	}
	last := -1
	for i, d := range docs {
		if d.Object == nil {
			continue
		}
		ref := d.Object.GetMeta().Ref
		if ref == f.Object || o.Rank(d.GVK.Kind) == o.Rank("OpenTelemetryCollector") || f.Relates(ref) ||
			d.GVK.Kind == "EndpointSlice" && related[ref.Namespace] {
			last = i
		}
	}
	if last < 0 || !model.ReviewedKind(docs[last].GVK.Kind) {
		return -1
	}
	return last
}

// Names reports whether a finding of an apply names the blind finding's
// monitor: as its object, its job or a related object.
func Names(g, blind rules.Finding) bool {
	if g.Object == blind.Object || (blind.Job != "" && g.Job == blind.Job) {
		return true
	}
	return g.Relates(blind.Object)
}

// Untold returns, of the final state's blind findings whose completing
// apply the webhook reviews, how many there are and those that told(i, f)
// rejects, i being that apply's index.
func Untold(final []rules.Finding, docs []manifest.Doc, o Order, told func(i int, f rules.Finding) bool) (total int, untold []rules.Finding) {
	for _, f := range final {
		if !Blind[f.Rule] {
			continue
		}
		last := Completing(f, docs, o)
		if last < 0 {
			continue
		}
		total++
		if !told(last, f) {
			untold = append(untold, f)
		}
	}
	return total, untold
}
