package cluster

import (
	"sort"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"

	"github.com/ta-guard/ta-guard/internal/model"
)

// labelIndex finds objects by namespace and labels without scanning: every
// object is posted under each of its "key=value" pairs and each of its keys,
// per namespace and cluster-wide. A query starts from the shortest posting
// list one of the selector's requirements allows, so its cost follows the
// number of candidates, not the size of the cluster.
type labelIndex[T model.Object] struct {
	byNS map[string]*bucket[T]
	all  *bucket[T]
}

type bucket[T model.Object] struct {
	items map[string]T
	posts map[string]posting[T] // "k=v" or "k" -> the objects posted there
}

// posting is the set of objects posted under one label pair or key. Most
// pairs name a single object (an instance label, a Pod's name), and a map
// for each cost about 300 bytes, a third of what the object itself takes:
// one object is held inline, and the map is made for the second.
type posting[T model.Object] struct {
	key  string // of the object held inline, when many is nil
	one  T
	many map[string]T
}

func (p posting[T]) len() int {
	switch {
	case p.many != nil:
		return len(p.many)
	case p.key != "":
		return 1
	}
	return 0
}

func (p *posting[T]) put(key string, obj T) {
	switch {
	case p.many != nil:
		p.many[key] = obj
	case p.key == "" || p.key == key:
		p.key, p.one = key, obj
	default:
		p.many = map[string]T{p.key: p.one, key: obj}
		var zero T
		p.key, p.one = "", zero
	}
}

// drop removes an object. A map left with one object goes back inline, so
// that the same objects are held the same way whatever came and went.
func (p *posting[T]) drop(key string) {
	if p.many != nil {
		delete(p.many, key)
		if len(p.many) == 1 {
			for k, obj := range p.many {
				p.key, p.one, p.many = k, obj, nil
			}
		}
	} else if p.key == key {
		var zero T
		p.key, p.one = "", zero
	}
}

// all yields the objects posted.
func (p posting[T]) all(yield func(T) bool) {
	if p.many == nil {
		if p.key != "" {
			yield(p.one)
		}
		return
	}
	for _, obj := range p.many {
		if !yield(obj) {
			return
		}
	}
}

func newLabelIndex[T model.Object]() *labelIndex[T] {
	return &labelIndex[T]{byNS: map[string]*bucket[T]{}, all: newBucket[T]()}
}

func newBucket[T model.Object]() *bucket[T] {
	return &bucket[T]{items: map[string]T{}, posts: map[string]posting[T]{}}
}

func (b *bucket[T]) add(key string, obj T) {
	b.items[key] = obj
	for k, v := range obj.GetMeta().Labels {
		b.post(k+"="+v, key, obj)
		b.post(k, key, obj)
	}
}

func (b *bucket[T]) post(p, key string, obj T) {
	ps := b.posts[p]
	ps.put(key, obj)
	b.posts[p] = ps
}

func (b *bucket[T]) remove(key string) {
	obj, ok := b.items[key]
	if !ok {
		return
	}
	delete(b.items, key)
	for k, v := range obj.GetMeta().Labels {
		b.unpost(k+"="+v, key)
		b.unpost(k, key)
	}
}

func (b *bucket[T]) unpost(p, key string) {
	ps, ok := b.posts[p]
	if !ok {
		return
	}
	ps.drop(key)
	if ps.len() == 0 {
		delete(b.posts, p)
	} else {
		b.posts[p] = ps
	}
}

// candidates returns the smallest posting set the selector allows, or all
// items when no requirement narrows the search (empty selector, NotIn, !key).
func (b *bucket[T]) candidates(sel labels.Selector) []posting[T] {
	reqs, ok := sel.Requirements()
	if !ok {
		return nil // labels.Nothing()
	}
	var best []posting[T]
	bestN := len(b.items) + 1
	for _, r := range reqs {
		var sets []posting[T]
		n := 0
		switch r.Operator() {
		case selection.Equals, selection.DoubleEquals, selection.In:
			for _, v := range r.Values().UnsortedList() {
				if ps, ok := b.posts[r.Key()+"="+v]; ok {
					sets = append(sets, ps)
					n += ps.len()
				}
			}
		case selection.Exists:
			if ps, ok := b.posts[r.Key()]; ok {
				sets = append(sets, ps)
				n = ps.len()
			}
		default:
			continue
		}
		if n < bestN {
			best, bestN = sets, n
			if n == 0 {
				return nil
			}
		}
	}
	if bestN > len(b.items) {
		return []posting[T]{{many: b.items}}
	}
	return best
}

func (b *bucket[T]) query(sel labels.Selector, out []T) []T {
	for _, set := range b.candidates(sel) {
		for obj := range set.all {
			if sel.Matches(labels.Set(obj.GetMeta().Labels)) {
				out = append(out, obj)
			}
		}
	}
	return out
}

func (ix *labelIndex[T]) add(obj T) {
	ref := obj.GetMeta().Ref
	key := ref.Key()
	ix.remove(ref)
	b := ix.byNS[ref.Namespace]
	if b == nil {
		b = newBucket[T]()
		ix.byNS[ref.Namespace] = b
	}
	b.add(key, obj)
	ix.all.add(key, obj)
}

// addEachNamespace and addClusterWide are add's two halves for objects
// not in the index yet. They touch disjoint maps, so they may run together.
func (ix *labelIndex[T]) addEachNamespace(objs []T) {
	for _, obj := range objs {
		ref := obj.GetMeta().Ref
		b := ix.byNS[ref.Namespace]
		if b == nil {
			b = newBucket[T]()
			ix.byNS[ref.Namespace] = b
		}
		b.add(ref.Key(), obj)
	}
}

func (ix *labelIndex[T]) addClusterWide(objs []T) {
	for _, obj := range objs {
		ix.all.add(obj.GetMeta().Ref.Key(), obj)
	}
}

func (ix *labelIndex[T]) remove(ref model.Ref) {
	key := ref.Key()
	if b := ix.byNS[ref.Namespace]; b != nil {
		b.remove(key)
		if len(b.items) == 0 {
			delete(ix.byNS, ref.Namespace)
		}
	}
	ix.all.remove(key)
}

func (ix *labelIndex[T]) get(ref model.Ref) (T, bool) {
	obj, ok := ix.all.items[ref.Key()]
	return obj, ok
}

// query returns the objects in the namespaces that match sel, sorted by
// namespace and name so that messages are stable.
func (ix *labelIndex[T]) query(ns model.NamespaceSet, sel labels.Selector) []T {
	var out []T
	if ns.All {
		out = ix.all.query(sel, out)
	} else {
		for _, n := range ns.Names {
			if b := ix.byNS[n]; b != nil {
				out = b.query(sel, out)
			}
		}
	}
	sortObjects(out)
	return out
}

// queryOutside returns the first limit objects, by namespace and name, that
// match sel and live outside the namespaces.
func (ix *labelIndex[T]) queryOutside(exclude model.NamespaceSet, sel labels.Selector, limit int) []T {
	out := make([]T, 0, limit+1)
	for _, set := range ix.all.candidates(sel) {
		for obj := range set.all {
			meta := obj.GetMeta()
			if !Outside(meta, exclude, sel) {
				continue
			}
			if len(out) == limit && !Less(meta.Ref, out[limit-1].GetMeta().Ref) {
				continue
			}
			// insert in order, dropping the last when full
			i := len(out)
			for i > 0 && Less(meta.Ref, out[i-1].GetMeta().Ref) {
				i--
			}
			out = append(out, obj)
			copy(out[i+1:], out[i:])
			out[i] = obj
			if len(out) > limit {
				out = out[:limit]
			}
		}
	}
	return out
}

func (ix *labelIndex[T]) len() int { return len(ix.all.items) }

func sortObjects[T model.Object](out []T) {
	sort.Slice(out, func(i, j int) bool { return Less(out[i].GetMeta().Ref, out[j].GetMeta().Ref) })
}

// selectorIndex is the inverse: it finds the objects (monitors, readers)
// whose selector may match a given set of labels. Each is filed under one
// requirement its selector cannot do without ("k=v" for k=v or k in (v,..),
// "k" for k exists), or under "" when it has none, per namespace it looks
// in ("*" for all). A look-up reads the lists for the labels actually
// present, so its cost follows the candidates.
type selectorIndex[T model.Object] struct {
	files map[string]map[string]map[string]T // ns -> post -> key -> obj
	where map[string][][2]string             // key -> (ns, post) filed under
}

func newSelectorIndex[T model.Object]() *selectorIndex[T] {
	return &selectorIndex[T]{files: map[string]map[string]map[string]T{}, where: map[string][][2]string{}}
}

// add files obj for the namespaces (nil: all) under its selector.
func (ix *selectorIndex[T]) add(obj T, namespaces []string, sel labels.Selector) {
	key := obj.GetMeta().Ref.Key()
	ix.remove(key)
	reqs, ok := sel.Requirements()
	if !ok {
		return // selects nothing: never a candidate
	}
	posts := []string{""}
	for _, r := range reqs {
		switch r.Operator() {
		case selection.Equals, selection.DoubleEquals, selection.In:
			posts = posts[:0]
			for _, v := range r.Values().List() {
				posts = append(posts, r.Key()+"="+v)
			}
		case selection.Exists:
			posts = []string{r.Key()}
		default:
			continue
		}
		break
	}
	if namespaces == nil {
		namespaces = []string{"*"}
	}
	for _, ns := range namespaces {
		byPost := ix.files[ns]
		if byPost == nil {
			byPost = map[string]map[string]T{}
			ix.files[ns] = byPost
		}
		for _, p := range posts {
			m := byPost[p]
			if m == nil {
				m = map[string]T{}
				byPost[p] = m
			}
			m[key] = obj
			ix.where[key] = append(ix.where[key], [2]string{ns, p})
		}
	}
}

func (ix *selectorIndex[T]) remove(key string) {
	for _, w := range ix.where[key] {
		byPost := ix.files[w[0]]
		if m := byPost[w[1]]; m != nil {
			delete(m, key)
			if len(m) == 0 {
				delete(byPost, w[1])
			}
		}
		if len(byPost) == 0 {
			delete(ix.files, w[0])
		}
	}
	delete(ix.where, key)
}

// candidates visits every object that may select labels l in namespace ns
// (a superset: the caller checks the full selector).
func (ix *selectorIndex[T]) candidates(ns string, l map[string]string, visit func(T)) {
	for _, n := range [2]string{ns, "*"} {
		byPost := ix.files[n]
		if byPost == nil {
			continue
		}
		for _, obj := range byPost[""] {
			visit(obj)
		}
		for k, v := range l {
			for _, obj := range byPost[k+"="+v] {
				visit(obj)
			}
			for _, obj := range byPost[k] {
				visit(obj)
			}
		}
	}
}

// SortObjects sorts by namespace, name and kind, the order every View
// result is in: for views built on another view.
func SortObjects[T model.Object](out []T) { sortObjects(out) }
