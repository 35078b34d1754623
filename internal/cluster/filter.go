package cluster

import (
	"k8s.io/apimachinery/pkg/labels"

	"github.com/ta-guard/ta-guard/internal/model"
)

// What each View look-up returns, written once: the Store answers these
// from its indexes, and a view built on another (the engine's overlay of a
// change) applies them to the object it puts in place, so that both agree
// on membership and order.

// In: the object is among those Services or Pods returns for (ns, sel).
func In(meta *model.Meta, ns model.NamespaceSet, sel labels.Selector) bool {
	return ns.Has(meta.Ref.Namespace) && sel.Matches(labels.Set(meta.Labels))
}

// Outside: the object is among those ServicesOutside or PodsOutside may
// return for (exclude, sel).
func Outside(meta *model.Meta, exclude model.NamespaceSet, sel labels.Selector) bool {
	return !exclude.Has(meta.Ref.Namespace) && sel.Matches(labels.Set(meta.Labels))
}

// Selects: the monitor is among those MonitorsSelecting returns for an
// object in namespace ns with labels l.
func Selects(m *model.Monitor, ns string, l map[string]string) bool {
	return m.Namespaces.Has(ns) && m.Selector.Matches(l)
}

// Less is the order of every View result: by namespace, name, then kind.
func Less(a, b model.Ref) bool {
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	if a.Name != b.Name {
		return a.Name < b.Name
	}
	return a.Kind < b.Kind
}
