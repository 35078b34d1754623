package model

import (
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Selection is a label selector whose meaning has been decided: it can select
// nothing, everything, or what its requirements allow. Text says how the user
// wrote it, for messages ("unset", "{}", "app=my-app").
type Selection struct {
	nothing bool
	sel     labels.Selector
	Text    string
}

// SelectNothing is a selection that matches no object, e.g. a nil v1beta1
// monitor selector.
func SelectNothing(text string) Selection {
	return Selection{nothing: true, sel: labels.Nothing(), Text: text}
}

// SelectAll matches every object.
func SelectAll(text string) Selection {
	return Selection{sel: labels.Everything(), Text: text}
}

// SelectLabels turns a label selector into a Selection; an empty selector
// selects everything. The caller decides what nil means before calling.
func SelectLabels(ls *metav1.LabelSelector) (Selection, error) {
	if ls == nil || (len(ls.MatchLabels) == 0 && len(ls.MatchExpressions) == 0) {
		return SelectAll("{}"), nil
	}
	s, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return Selection{}, err
	}
	return Selection{sel: s, Text: s.String()}, nil
}

// selectLabels is SelectLabels for a field of o: a selector the API
// machinery cannot parse selects nothing, and is recorded as a defect (the
// TA and the Prometheus Operator cannot use it either).
func (o *Meta) selectLabels(ls *metav1.LabelSelector, path *field.Path) Selection {
	s, err := SelectLabels(ls)
	if err != nil {
		o.invalid(path, "not a valid label selector: "+err.Error())
		return SelectNothing("invalid")
	}
	return s
}

func (o *Meta) invalid(path *field.Path, detail string) {
	o.Defects = append(o.Defects, Defect{Field: path, Invalid: true, Detail: detail})
}

// tooMany records a list longer than ta-guard judges: it is left out.
func (o *Meta) tooMany(path *field.Path, limit int) {
	// n is not said: the informers keep only the first limit+1 items.
	o.Defects = append(o.Defects, Defect{Field: path, Detail: fmt.Sprintf("more than %d items; at most %d are judged", limit, limit)})
}

// Invalid reports whether the selector was not valid as written.
func (s Selection) Invalid() bool { return s.nothing && s.Text == "invalid" }

// SelectMap is a plain equality map (a Service's selector, a v1alpha1 TA
// selector); the caller decides what an empty map means.
func SelectMap(m map[string]string) Selection {
	if len(m) == 0 {
		return SelectAll("{}")
	}
	s := labels.SelectorFromValidatedSet(labels.Set(m))
	return Selection{sel: s, Text: s.String()}
}

// Nothing reports whether the selection can never match.
func (s Selection) Nothing() bool { return s.nothing || s.sel == nil }

// All reports whether the selection matches every object.
func (s Selection) All() bool { return !s.Nothing() && s.sel.Empty() }

// Matches reports whether the labels satisfy the selection.
// OnlyKey reports whether every requirement of the selection is on the
// label key: whether labels beside it cannot change the answer.
func (s Selection) OnlyKey(key string) bool {
	if s.Nothing() || s.sel.Empty() {
		return false
	}
	reqs, ok := s.sel.Requirements()
	if !ok {
		return false
	}
	for i := range reqs {
		if reqs[i].Key() != key {
			return false
		}
	}
	return true
}

func (s Selection) Matches(l map[string]string) bool {
	if s.Nothing() {
		return false
	}
	return s.sel.Matches(labels.Set(l))
}

// Selector is the underlying selector (labels.Nothing() when it selects
// nothing), for index look-ups.
func (s Selection) Selector() labels.Selector {
	if s.Nothing() {
		return labels.Nothing()
	}
	return s.sel
}

// Unmet lists the requirements that l does not satisfy, in a form users can
// act on: "app=my-app" for a missing or different label, or the requirement
// itself ("env in (prod)", "!canary").
func (s Selection) Unmet(l map[string]string) []string {
	if s.Nothing() {
		return []string{"(selects nothing)"}
	}
	reqs, _ := s.sel.Requirements()
	var out []string
	set := labels.Set(l)
	for _, r := range reqs {
		if r.Matches(set) {
			continue
		}
		out = append(out, describeRequirement(r))
	}
	return out
}

func describeRequirement(r labels.Requirement) string {
	switch r.Operator() {
	case selection.Equals, selection.DoubleEquals:
		return fmt.Sprintf("%s=%s", r.Key(), r.Values().List()[0])
	case selection.In:
		if r.Values().Len() == 1 {
			return fmt.Sprintf("%s=%s", r.Key(), r.Values().List()[0])
		}
	}
	return r.String()
}

// String is the selection as written.
func (s Selection) String() string { return s.Text }

// sortedPairs renders a label map deterministically for messages.
func sortedPairs(m map[string]string) string {
	if len(m) == 0 {
		return "(none)"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

// FormatLabels renders labels as k=v,k=v in key order.
func FormatLabels(m map[string]string) string { return sortedPairs(m) }
