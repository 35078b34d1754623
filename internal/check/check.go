// Package check is the offline `check` command: it builds one world from
// manifests, evaluates every object ta-guard reads as a CREATE into that
// world, and reports the findings for a CI pipeline.
package check

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ta-guard/ta-guard/internal/cluster"
	"github.com/ta-guard/ta-guard/internal/manifest"
	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/internal/parallel"
	"github.com/ta-guard/ta-guard/internal/policy"
	"github.com/ta-guard/ta-guard/pkg/rules"
	"github.com/ta-guard/ta-guard/pkg/validate"
)

// Result is what check found.
type Result struct {
	Findings []rules.Finding `json:"findings"`
	// Warnings are input problems that did not stop the check (unknown
	// fields); the command prints them on stderr.
	Warnings []string `json:"-"`
	// Undescribed are namespaces monitors look in that the input does not
	// describe ("*": all others); the command says so on stderr.
	Undescribed []string `json:"-"`
	// sources maps an object key to where it was read, for text output.
	sources map[string]string
	// positions and subjects are for the CI formats: SARIF points at a
	// line, and JUnit lists every checked object, not only those with
	// findings, so that a fixed object shows as a passing test.
	positions map[string]Position
	subjects  []model.Ref
}

// Position is where an object was read: the file as given ("-" for
// standard input) and the 1-based line its document starts on.
type Position struct {
	File string
	Line int
	doc  manifest.Doc
}

// LineOf is the line of the object's field p (its document's first line
// when p is nil or the document does not write it).
func (p Position) LineOf(f *field.Path) int {
	if p.doc.Source == "" {
		return p.Line
	}
	return p.doc.FieldLine(f)
}

// Run loads the manifests, builds the world and evaluates it.
func Run(paths []string, opts manifest.Options, pol *policy.Policy) (*Result, error) {
	docs, err := manifest.Load(paths, opts)
	if err != nil {
		return nil, err
	}
	return Evaluate(docs, pol)
}

// World is the cluster the manifests describe: their objects, what every
// cluster has (the four built-in namespaces, Service default/kubernetes) and
// what the OpenTelemetry Operator generates for their collectors. It is
// partial: only namespaces the input declares or puts objects in are known
// in full, so the rules stay silent about the rest.
type World struct {
	Store *cluster.Store
	// Subjects are the input objects the rules review, in input order.
	Subjects []model.Object
	// Sources maps an object key to where it was read.
	Sources map[string]string
	// Positions maps an object key to its file and line.
	Positions map[string]Position
	// Warnings are input problems that did not stop the check.
	Warnings []string
}

// BuildWorld places the documents into a new world. Two documents
// describing the same object are an error: the outcome would depend on
// their order. check and diagnose -f both build theirs here.
func BuildWorld(docs []manifest.Doc) (*World, error) {
	w := &World{Store: cluster.NewStore(), Sources: map[string]string{}, Positions: map[string]Position{}}
	w.Store.SetPartial()
	var allocators []*model.Allocator
	var implies []model.Object
	objs := make([]model.Object, 0, len(docs))
	for _, d := range docs {
		w.Warnings = append(w.Warnings, d.Warnings...)
		if d.Object == nil {
			continue
		}
		ref := d.Object.GetMeta().Ref
		key := ref.Key()
		if prev, dup := w.Sources[key]; dup {
			return nil, fmt.Errorf("%s: %s is already defined at %s", d.Where(), ref, prev)
		}
		w.Sources[key] = d.Where()
		w.Positions[key] = Position{File: d.Source, Line: d.Line, doc: d}
		objs = append(objs, d.Object)
		_, monitor := d.Object.(*model.Monitor)
		switch {
		case ref.Kind == "Namespace":
			w.Store.Describe(ref.Name)
		case ref.Namespace != "" && !monitor:
			// A monitor says nothing of what else its namespace holds:
			// a namespace the input shows only a monitor of is
			// undescribed (its Services, Pods and ports unknown).
			w.Store.Describe(ref.Namespace)
		}
		switch o := d.Object.(type) {
		case *model.Pod:
			implies = append(implies, o.Implies...)
		case *model.Allocator:
			allocators = append(allocators, o)
			w.Subjects = append(w.Subjects, o)
		case *model.Monitor, *model.Service:
			w.Subjects = append(w.Subjects, o)
		}
	}
	// What the cluster and the operator add; the input wins where it
	// describes the same object, and the first of two implied ones stays.
	implied := append(model.Builtins(), implies...)
	for _, a := range allocators {
		implied = append(implied, model.Generated(a)...)
	}
	taken := make(map[string]bool, len(implied))
	for _, o := range implied {
		key := o.GetMeta().Ref.Key()
		if _, input := w.Sources[key]; !input && !taken[key] {
			taken[key] = true
			objs = append(objs, o)
		}
	}
	w.Store.UpsertAll(objs)
	return w, nil
}

// Evaluate checks already loaded documents: every input object is
// evaluated as a CREATE into the world they describe together.
func Evaluate(docs []manifest.Doc, pol *policy.Policy) (*Result, error) {
	w, err := BuildWorld(docs)
	if err != nil {
		return nil, err
	}
	res := newResult(w)
	res.Undescribed = w.Undescribed()
	reqs := make([]validate.Request, len(w.Subjects))
	for i, obj := range w.Subjects {
		reqs[i] = validate.Request{Operation: validate.Create, Object: obj}
	}
	findings, err := evaluateAll(context.Background(), reqs, w.Store, pol, nil)
	if err != nil {
		return nil, err
	}
	res.Findings = append(res.Findings, findings...)
	return res, nil
}

// evaluateAll evaluates the requests on every core against a world nobody
// writes to any more (the store's reads are safe together), and returns the
// findings in the requests' order, or the first error in that order.
func evaluateAll(ctx context.Context, reqs []validate.Request, view cluster.View, pol *policy.Policy, facts validate.Facts) ([]rules.Finding, error) {
	type result struct {
		findings []rules.Finding
		err      error
	}
	results := parallel.Map(len(reqs), func(i int) result {
		r, err := validate.Evaluate(ctx, reqs[i], view, validate.Options{Policy: pol, Facts: facts})
		return result{r.Findings, err}
	})
	var out []rules.Finding
	for _, r := range results {
		if r.err != nil {
			return nil, r.err
		}
		out = append(out, r.findings...)
	}
	return out, nil
}

func newResult(w *World) *Result {
	subjects := make([]model.Ref, len(w.Subjects))
	for i, o := range w.Subjects {
		subjects[i] = o.GetMeta().Ref
	}
	return &Result{Findings: []rules.Finding{}, Warnings: w.Warnings, sources: w.Sources, positions: w.Positions, subjects: subjects}
}

// EvaluateAgainst checks the documents as changes to a live cluster's
// objects (cluster, read once, e.g. by watch.Snapshot): an object the
// cluster already holds is an UPDATE from its live state, so removing what a
// live monitor depends on is found too; any other is a CREATE. The world is
// then complete: nothing is unknown. facts, when not nil, answer the live
// rules (access reviews, accounts, Secrets) as the webhook's do.
func EvaluateAgainst(ctx context.Context, docs []manifest.Doc, cluster *cluster.Store, pol *policy.Policy, facts validate.Facts) (*Result, error) {
	w, err := BuildWorld(docs)
	if err != nil {
		return nil, err
	}
	res := newResult(w)
	type change struct{ obj, old model.Object }
	changes := make([]change, 0, len(w.Subjects))
	for _, o := range w.Subjects {
		changes = append(changes, change{o, cluster.Get(o.GetMeta().Ref)})
	}
	for _, d := range docs {
		if d.Object != nil {
			cluster.Upsert(d.Object)
		}
	}
	for _, o := range w.Subjects {
		if a, ok := o.(*model.Allocator); ok {
			for _, g := range model.Generated(a) {
				if !cluster.Has(g.GetMeta().Ref) {
					cluster.Upsert(g)
				}
			}
		}
	}
	reqs := make([]validate.Request, len(changes))
	for i, c := range changes {
		reqs[i] = validate.Request{Operation: validate.Create, Object: c.obj}
		if c.old != nil {
			reqs[i].Operation, reqs[i].OldObject = validate.Update, c.old
		}
	}
	findings, err := evaluateAll(ctx, reqs, cluster, pol, facts)
	if err != nil {
		return nil, err
	}
	res.Findings = append(res.Findings, findings...)
	return res, nil
}

// Undescribed lists the namespaces the input's monitors look in without
// describing them ("*" when a monitor looks in every namespace): there,
// checks that need the namespace's contents were skipped.
func (w *World) Undescribed() []string {
	set := map[string]bool{}
	for _, o := range w.Subjects {
		m, ok := o.(*model.Monitor)
		if !ok {
			continue
		}
		if m.Namespaces.All {
			set["*"] = true
			continue
		}
		for _, n := range m.Namespaces.Names {
			if !w.Store.Described(n) {
				set[n] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Failed reports whether any finding is at or above the fail-on action.
func (r *Result) Failed(failOn rules.Action) bool { return rules.Failed(r.Findings, failOn) }

// WriteJSON writes {"findings":[...]}.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// WriteText writes the findings grouped by object.
func (r *Result) WriteText(w io.Writer) error {
	if len(r.Findings) == 0 {
		_, err := fmt.Fprintln(w, "no findings")
		return err
	}
	var b strings.Builder
	last := ""
	counts := map[rules.Action]int{}
	for _, f := range r.Findings {
		counts[f.Action]++
		if key := f.Object.Key(); key != last {
			if last != "" {
				b.WriteByte('\n')
			}
			last = key
			fmt.Fprintf(&b, "%s", f.Object)
			if src := r.sources[key]; src != "" {
				fmt.Fprintf(&b, "  (%s)", src)
			}
			b.WriteByte('\n')
		}
		// The grouping already names the object; the rest comes from the
		// finding's own fields.
		what := f.What
		if f.Subject != "" {
			what = f.Subject + ": " + what
		}
		fmt.Fprintf(&b, "  %-5s %s %s\n", f.Action, f.Rule, what)
		if f.Fix != "" {
			fmt.Fprintf(&b, "        fix: %s\n", f.Fix)
		}
	}
	fmt.Fprintf(&b, "\n%d finding(s): %d deny, %d warn, %d audit\n",
		len(r.Findings), counts[rules.Deny], counts[rules.Warn], counts[rules.Audit])
	_, err := io.WriteString(w, b.String())
	return err
}
