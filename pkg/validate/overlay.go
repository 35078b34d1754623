package validate

import (
	"k8s.io/apimachinery/pkg/labels"

	"github.com/ta-guard/ta-guard/internal/cluster"
	"github.com/ta-guard/ta-guard/internal/model"
)

// overlay is the view with one object put in its place (obj) or taken out
// (obj nil): the cluster as it is after a change, or as it was before it,
// whether or not the underlying view has seen the change yet. Look-ups of
// other kinds pass straight through.
type overlay struct {
	base cluster.View
	ref  model.Ref
	key  string
	obj  model.Object
	// bucket is where the store files the object's kind: the only look-ups
	// the change can alter.
	bucket model.Bucket
}

func newOverlay(base cluster.View, ref model.Ref, obj model.Object) *overlay {
	return &overlay{base: base, ref: ref, key: ref.Key(), obj: obj, bucket: model.BucketOf(ref.Kind)}
}

// swap removes the overlay's object from a result and, when add is true,
// puts the replacement in, in the order of every View result.
func swap[T model.Object](in []T, key string, repl T, add bool) []T {
	idx := -1
	for i, o := range in {
		if o.GetMeta().Ref.Key() == key {
			idx = i
			break
		}
	}
	if idx < 0 && !add {
		return in
	}
	out := make([]T, 0, len(in)+1)
	for i, o := range in {
		if i != idx {
			out = append(out, o)
		}
	}
	if add {
		rr := repl.GetMeta().Ref
		pos := len(out)
		for i, o := range out {
			if cluster.Less(rr, o.GetMeta().Ref) {
				pos = i
				break
			}
		}
		out = append(out, repl)
		copy(out[pos+1:], out[pos:])
		out[pos] = repl
	}
	return out
}

func (o *overlay) Namespace(name string) *model.Namespace {
	if ns := o.base.Namespace(name); ns != nil {
		return ns
	}
	if o.obj != nil && o.ref.Namespace == name {
		// The object lives there, so the namespace exists.
		return &model.Namespace{Meta: model.Meta{Ref: model.Ref{APIVersion: "v1", Kind: "Namespace", Name: name}}}
	}
	return nil
}

func (o *overlay) Described(namespace string) bool { return o.base.Described(namespace) }

func (o *overlay) Services(ns model.NamespaceSet, sel labels.Selector) []*model.Service {
	res := o.base.Services(ns, sel)
	if o.bucket != model.ServiceBucket {
		return res
	}
	s, ok := o.obj.(*model.Service)
	return swap(res, o.key, s, ok && cluster.In(&s.Meta, ns, sel))
}

func (o *overlay) Pods(ns model.NamespaceSet, sel labels.Selector) []*model.Pod {
	res := o.base.Pods(ns, sel)
	if o.bucket != model.PodBucket {
		return res
	}
	p, ok := o.obj.(*model.Pod)
	return swap(res, o.key, p, ok && cluster.In(&p.Meta, ns, sel))
}

func (o *overlay) ServicesOutside(exclude model.NamespaceSet, sel labels.Selector, limit int) []*model.Service {
	res := o.base.ServicesOutside(exclude, sel, limit+1)
	if o.bucket != model.ServiceBucket {
		return trim(res, limit)
	}
	s, ok := o.obj.(*model.Service)
	return trim(swap(res, o.key, s, ok && cluster.Outside(&s.Meta, exclude, sel)), limit)
}

func (o *overlay) PodsOutside(exclude model.NamespaceSet, sel labels.Selector, limit int) []*model.Pod {
	res := o.base.PodsOutside(exclude, sel, limit+1)
	if o.bucket != model.PodBucket {
		return trim(res, limit)
	}
	p, ok := o.obj.(*model.Pod)
	return trim(swap(res, o.key, p, ok && cluster.Outside(&p.Meta, exclude, sel)), limit)
}

func trim[T any](in []T, limit int) []T {
	if len(in) > limit {
		return in[:limit]
	}
	return in
}

func (o *overlay) monitorOf(kind model.MonitorKind) (*model.Monitor, bool, bool) {
	if o.bucket != model.MonitorBucket || o.ref.Kind != kind.String() {
		return nil, false, false
	}
	m, ok := o.obj.(*model.Monitor)
	return m, ok, true
}

func (o *overlay) Monitors(kind model.MonitorKind, sel labels.Selector) []*model.Monitor {
	res := o.base.Monitors(kind, sel)
	m, ok, mine := o.monitorOf(kind)
	if !mine {
		return res
	}
	return swap(res, o.key, m, ok && cluster.In(&m.Meta, model.NamespaceSet{All: true}, sel))
}

func (o *overlay) MonitorsSelecting(kind model.MonitorKind, ns string, l map[string]string) []*model.Monitor {
	res := o.base.MonitorsSelecting(kind, ns, l)
	m, ok, mine := o.monitorOf(kind)
	if !mine {
		return res
	}
	return swap(res, o.key, m, ok && cluster.Selects(m, ns, l))
}

// reader returns the overlay's object as a reader, when it is one.
func (o *overlay) reader() (*model.Reader, bool, bool) {
	switch o.bucket {
	case model.AllocatorBucket:
		if a, ok := o.obj.(*model.Allocator); ok {
			return &a.Reader, true, true
		}
		return nil, false, true
	case model.ReaderBucket:
		r, ok := o.obj.(*model.Reader)
		return r, ok, true
	}
	return nil, false, false
}

func (o *overlay) ReadersOf(m *model.Monitor) []*model.Reader {
	res := o.base.ReadersOf(m)
	r, ok, mine := o.reader()
	if !mine {
		return res
	}
	return swap(res, o.key, r, ok && r.Reads(m, o.Namespace(m.Ref.Namespace)))
}

func (o *overlay) UnreadMonitors(kind model.MonitorKind) []*model.Monitor {
	res := o.base.UnreadMonitors(kind)
	if m, ok, mine := o.monitorOf(kind); mine {
		return swap(res, o.key, m, ok && len(o.ReadersOf(m)) == 0)
	}
	r, ok, mine := o.reader()
	if !mine {
		return res
	}
	// The new version may read monitors nobody read; the old one's
	// monitors may be read by nobody now. The old one's are found by its
	// selector, in the label index: a collector's admission costs what it
	// matches. A Prometheus (no allocator to look up) is looked for in every
	// monitor; no rule asks this of a Prometheus change.
	out := make([]*model.Monitor, 0, len(res))
	for _, m := range res {
		if !(ok && r.Reads(m, o.Namespace(m.Ref.Namespace))) {
			out = append(out, m)
		}
	}
	sel := labels.Everything()
	if o.bucket == model.AllocatorBucket {
		sel = labels.Nothing()
		for _, a := range o.base.Allocators() {
			if a.Ref.Key() == o.key {
				sel = a.Scopes[kind].Monitors.Selector()
			}
		}
	}
	added := false
	for _, m := range o.base.Monitors(kind, sel) {
		// Read by the old version alone, and not by the new one.
		if rs := o.base.ReadersOf(m); len(rs) == 1 && rs[0].Ref.Key() == o.key &&
			!(ok && r.Reads(m, o.Namespace(m.Ref.Namespace))) {
			out, added = append(out, m), true
		}
	}
	if added {
		cluster.SortObjects(out)
	}
	return out
}

func (o *overlay) Allocators() []*model.Allocator {
	res := o.base.Allocators()
	if o.bucket != model.AllocatorBucket {
		return res
	}
	a, ok := o.obj.(*model.Allocator)
	return swap(res, o.key, a, ok)
}

func (o *overlay) EndpointSlices(namespace, service string) []*model.EndpointSlice {
	return o.base.EndpointSlices(namespace, service)
}
