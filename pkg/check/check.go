// Package check is the offline `check` command: it builds one world from
// manifests, evaluates every object ta-guard reads as a CREATE into that
// world, and reports the findings for a CI pipeline.
package check

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/ta-guard/ta-guard/pkg/cluster"
	"github.com/ta-guard/ta-guard/pkg/manifest"
	"github.com/ta-guard/ta-guard/pkg/model"
	"github.com/ta-guard/ta-guard/pkg/policy"
	"github.com/ta-guard/ta-guard/pkg/rules"
	"github.com/ta-guard/ta-guard/pkg/validate"
)

// Result is what check found.
type Result struct {
	Findings []rules.Finding `json:"findings"`
	// Warnings are input problems that did not stop the check (unknown
	// fields); the command prints them on stderr.
	Warnings []string `json:"-"`
	// sources maps an object key to where it was read, for text output.
	sources map[string]string
}

// Run loads the manifests, builds the world and evaluates it.
func Run(paths []string, opts manifest.Options, pol *policy.Policy) (*Result, error) {
	docs, err := manifest.Load(paths, opts)
	if err != nil {
		return nil, err
	}
	return Evaluate(docs, pol)
}

// Evaluate checks already loaded documents. Two documents describing the
// same object are an error: the outcome would depend on their order.
func Evaluate(docs []manifest.Doc, pol *policy.Policy) (*Result, error) {
	store := cluster.NewStore()
	res := &Result{Findings: []rules.Finding{}, sources: map[string]string{}}
	var subjects []model.Object
	for _, d := range docs {
		res.Warnings = append(res.Warnings, d.Warnings...)
		if d.Object == nil {
			continue
		}
		key := d.Object.GetMeta().Ref.Key()
		if prev, dup := res.sources[key]; dup {
			return nil, fmt.Errorf("%s: %s is already defined at %s", d.Where(), d.Object.GetMeta().Ref, prev)
		}
		res.sources[key] = d.Where()
		store.Upsert(d.Object)
		switch d.Object.(type) {
		case *model.Allocator, *model.Monitor, *model.Service:
			subjects = append(subjects, d.Object)
		}
	}
	for _, obj := range subjects {
		fs := validate.Evaluate(validate.Request{Operation: validate.Create, Object: obj}, store, pol)
		res.Findings = append(res.Findings, fs...)
	}
	return res, nil
}

// Failed reports whether any finding is at or above the fail-on action.
func (r *Result) Failed(failOn rules.Action) bool {
	for _, f := range r.Findings {
		if f.Action.Severity() >= failOn.Severity() {
			return true
		}
	}
	return false
}

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
		lines := strings.Split(detail(f), "\n")
		fmt.Fprintf(&b, "  %-5s %s %s\n", f.Action, f.Rule, lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(&b, "        %s\n", l)
		}
	}
	fmt.Fprintf(&b, "\n%d finding(s): %d deny, %d warn, %d audit\n",
		len(r.Findings), counts[rules.Deny], counts[rules.Warn], counts[rules.Audit])
	_, err := io.WriteString(w, b.String())
	return err
}

// detail is the message without the "<ID> <Kind> <ns/name>" prefix, which
// the grouping already shows.
func detail(f rules.Finding) string {
	m := strings.TrimPrefix(f.Message, string(f.Rule)+" "+f.Object.String())
	m = strings.TrimPrefix(m, ": ")
	return strings.TrimPrefix(m, " ")
}
