package validate

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ta-guard/ta-guard/internal/model"
)

// The wording of findings: every sentence a finding says (its what, fix
// and reasons, a passed check's detail) is written in the wording_*.go
// files, from the typed facts the rules find. The rules decide; these
// files only say. This one holds the vocabulary they share: counts,
// lists, objects the reader may not see, field paths.

// unseen says how many objects of a kind are in namespaces the reader
// cannot read: "a Service in a namespace you cannot read".
func unseen(n int, kind string) string {
	if n == 1 {
		return fmt.Sprintf("%s %s in a namespace you cannot read", article(kind), kind)
	}
	return fmt.Sprintf("%d %ss in namespaces you cannot read", n, kind)
}

func article(kind string) string {
	if kind != "" && strings.ContainsRune("AEIOU", rune(kind[0])) {
		return "an"
	}
	return "a"
}

// listShown is listEach over the items the reader may see, and then one
// clause counting those they may not: their names, ports and labels stay
// out, that they exist does not, since the verdict rests on them ("and 2
// Services in namespaces you cannot read" + tail).
func listShown[T any](ev *evaluation, items []T, max int, ref func(T) model.Ref, kind, tail string, f func(T) string) string {
	if ev.aud == nil {
		return listEach(items, max, f)
	}
	var shown []T
	hidden := 0
	for _, it := range items {
		if ev.shows(ref(it)) {
			shown = append(shown, it)
		} else {
			hidden++
		}
	}
	s := listEach(shown, max, f)
	if hidden == 0 {
		return s
	}
	h := unseen(hidden, kind) + tail
	if s == "" {
		return h
	}
	return s + "; and " + h
}

// listEach renders "a has: x; b has: y" for the first few items.
func listEach[T any](items []T, max int, f func(T) string) string {
	parts := make([]string, 0, max+1)
	for i, it := range items {
		if i == max {
			parts = append(parts, fmt.Sprintf("and %d more", len(items)-max))
			break
		}
		parts = append(parts, f(it))
	}
	return strings.Join(parts, "; ")
}

func listOf(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}

// either picks the singular or the plural form for n.
func either(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// plural counts a noun: "1 monitor", "3 monitors".
func plural(n int, noun string) string {
	return fmt.Sprintf("%d %s", n, either(n, noun, noun+"s"))
}

// jobSubject names a job: a finding's Subject when it is about a job of
// a receiver's or a TA's own scrape configs.
func jobSubject(job string) string { return "job " + job }

// refList names the first three objects: "Service a/b, Pod a/c and 2 more".
func refList(refs []model.Ref) string {
	names := make([]string, len(refs))
	for i, r := range refs {
		names[i] = r.String()
	}
	return listOf(names, 3)
}

func displayName(n string) string {
	if n == "" {
		return "<unnamed>"
	}
	return n
}

// trimFields renders field paths relative to a prefix: "prometheusCR.enabled, serviceAccount".
func trimFields(fields []string, prefix *field.Path) string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = model.FieldUnder(f, prefix.String())
	}
	return strings.Join(out, ", ")
}

// shortField is a path of a collector's or TA's spec as its messages
// write it: under spec.targetAllocator, or under spec.
func shortField(p *field.Path) string {
	return model.FieldUnder(model.FieldUnder(p.String(), "spec.targetAllocator"), "spec")
}

// whyNot lists why the reader does not read the monitor (empty: it does),
// each reason phrased so that the fix is apparent. With redact, the reader
// belongs to a namespace the audience may not read: a reason that would
// quote its namespace lists, its namespace or the labels its selectors ask
// for says what kind of miss it is without them (a tenant must not learn
// them, nor try labels until the warning goes to find them out).
func whyNot(r *model.Reader, m *model.Monitor, ns *model.Namespace, redact bool) []string {
	res := r.Scope(m, ns, true)
	out := make([]string, 0, len(res.Misses))
	for _, mi := range res.Misses {
		out = append(out, explainMiss(r, mi, m, ns, redact))
	}
	return out
}

func explainMiss(r *model.Reader, mi model.Miss, m *model.Monitor, ns *model.Namespace, redact bool) string {
	s := &r.Scopes[m.Kind]
	nsName := m.Ref.Namespace
	if redact {
		switch mi.Reason {
		case model.OtherNamespace:
			return fmt.Sprintf("its %s is unset, so it reads only its own namespace", model.FieldLeaf(mi.Field))
		case model.NotAllowed:
			return fmt.Sprintf("namespace %s is not in its allowNamespaces", nsName)
		case model.LabelsUnmet, model.NamespaceLabels, model.NamespaceName:
			return fmt.Sprintf("it does not match its %s (what that selector asks for is not shown)", model.FieldLeaf(mi.Field))
		}
	}
	switch mi.Reason {
	case model.Inactive:
		return "it reads no monitors (target allocator or prometheusCR not enabled)"
	case model.SelectorUnset:
		return fmt.Sprintf("%s is unset (selects no %s)", model.FieldLeaf(mi.Field), m.Kind)
	case model.LabelsUnmet:
		if k := s.MapKeyMistake; k != "" {
			return fmt.Sprintf("does not match %s: a v1alpha1 selector is a plain label map, so %s: asks for a label named %s, which no %s carries (write the labels themselves, %s: {app: my-app}, or move the collector to opentelemetry.io/v1beta1 and its matchLabels)",
				model.FieldLeaf(mi.Field), k, k, m.Kind, model.FieldLeaf(mi.Field))
		}
		return fmt.Sprintf("does not match %s (needs %s)", model.FieldLeaf(mi.Field), strings.Join(mi.Unmet, ", "))
	case model.OtherNamespace:
		return fmt.Sprintf("%s is unset, so it reads only its own namespace %s", model.FieldLeaf(mi.Field), s.OwnNamespace)
	case model.NamespaceLabels:
		var l map[string]string
		if ns != nil {
			l = ns.Labels
		}
		return fmt.Sprintf("namespace %s does not match %s %s (namespace labels: %s)", nsName, model.FieldLeaf(mi.Field), s.Namespaces, model.FormatLabels(l))
	case model.NamespaceName:
		return fmt.Sprintf("namespace %s does not match %s %s (%s is the namespace's name)", nsName, model.FieldLeaf(mi.Field), s.Namespaces, corev1.LabelMetadataName)
	case model.NotAllowed:
		return fmt.Sprintf("namespace %s is not in allowNamespaces (%s)", nsName, model.SetList(s.Allow))
	default:
		return fmt.Sprintf("namespace %s is in denyNamespaces", nsName)
	}
}
