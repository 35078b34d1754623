package cluster

import (
	"reflect"
	"sort"
	"sync"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/internal/parallel"
)

// Store is an indexed, concurrency-safe View. Objects are normalized before
// they enter it, so a look-up never parses a selector.
type Store struct {
	mu sync.RWMutex

	namespaces map[string]*model.Namespace
	// implicit counts the objects living in each namespace: offline, a
	// namespace exists when any object names it.
	implicit map[string]int

	services *labelIndex[*model.Service]
	pods     *labelIndex[*model.Pod]
	monitors [model.NumMonitorKinds]*labelIndex[*model.Monitor]
	// selecting files monitors by what they select.
	selecting [model.NumMonitorKinds]*selectorIndex[*model.Monitor]

	// slices holds EndpointSlices by namespace/service.
	slices map[string]map[string]*model.EndpointSlice
	// sliceOwner maps a slice's namespace/name to its namespace/service key.
	sliceOwner map[string]string

	readers    map[string]*model.Reader
	allocators map[string]*model.Allocator
	// allocatorList is the sorted allocators, rebuilt after a change.
	allocatorList []*model.Allocator
	// readersBySelector files active readers by their monitor selectors.
	readersBySelector [model.NumMonitorKinds]*selectorIndex[*model.Reader]
	// unread holds, per kind, the monitors no active reader reads, kept up
	// to date as monitors, readers and namespaces change, so that a
	// collector's admission finds them without reading every monitor.
	unread [model.NumMonitorKinds]map[string]*model.Monitor
	// changed are the readers added or removed by the write in progress;
	// refreshChangedLocked refreshes what they match once it is done.
	changed []*model.Reader

	// partial: the store holds manifests, not a whole cluster; only the
	// namespaces in described are known in full.
	partial   bool
	described map[string]bool
}

// NewStore returns an empty store.
func NewStore() *Store {
	s := &Store{
		namespaces: map[string]*model.Namespace{},
		implicit:   map[string]int{},
		services:   newLabelIndex[*model.Service](),
		pods:       newLabelIndex[*model.Pod](),
		slices:     map[string]map[string]*model.EndpointSlice{},
		sliceOwner: map[string]string{},
		readers:    map[string]*model.Reader{},
		allocators: map[string]*model.Allocator{},
	}
	for _, k := range model.MonitorKinds {
		s.monitors[k] = newLabelIndex[*model.Monitor]()
		s.selecting[k] = newSelectorIndex[*model.Monitor]()
		s.readersBySelector[k] = newSelectorIndex[*model.Reader]()
		s.unread[k] = map[string]*model.Monitor{}
	}
	return s
}

// Upsert adds or replaces an object (matched by kind, namespace and name).
// Its kind's bucket in the model's registry says where it goes; an object
// of a kind ta-guard does not read, or of the wrong type for its kind, is
// left out.
func (s *Store) Upsert(obj model.Object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeLocked(obj.GetMeta().Ref)
	s.putLocked(obj)
	s.refreshChangedLocked()
}

// putLocked adds an object not in the store, and counts it towards the
// namespace it makes exist.
func (s *Store) putLocked(obj model.Object) {
	ref := obj.GetMeta().Ref
	b := model.BucketOf(ref.Kind)
	if s.addLocked(b, ref, obj) {
		s.occupyLocked(b, ref)
	}
}

func (s *Store) occupyLocked(b model.Bucket, ref model.Ref) {
	if occupies(b) && ref.Namespace != "" {
		s.implicit[ref.Namespace]++
	}
}

// UpsertAll is Upsert of each object in order (a later object replaces an
// earlier one with the same kind, namespace and name), done at once: loading
// a whole world (check, diagnose -f, a snapshot) spends most of its time
// posting Services and Pods under their labels, and the per-namespace and
// cluster-wide posting lists are separate maps, filled on separate cores.
func (s *Store) UpsertAll(objs []model.Object) {
	last := make(map[string]int, len(objs))
	for i, o := range objs {
		last[o.GetMeta().Ref.Key()] = i
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var services []*model.Service
	var pods []*model.Pod
	var rest []model.Object
	for i, o := range objs {
		ref := o.GetMeta().Ref
		if last[ref.Key()] != i {
			continue
		}
		s.removeLocked(ref)
		b := model.BucketOf(ref.Kind)
		switch o := o.(type) {
		case *model.Service:
			if b != model.ServiceBucket {
				continue
			}
			services = append(services, o)
		case *model.Pod:
			if b != model.PodBucket {
				continue
			}
			pods = append(pods, o)
		default:
			rest = append(rest, o)
			continue
		}
		s.occupyLocked(b, ref)
	}
	tasks := []func(){
		func() { s.services.addEachNamespace(services) },
		func() { s.services.addClusterWide(services) },
		func() { s.pods.addEachNamespace(pods) },
		func() { s.pods.addClusterWide(pods) },
		func() {
			// Every other kind shares the store's remaining maps, so they
			// go in one after another.
			for _, o := range rest {
				s.putLocked(o)
			}
		},
	}
	// implicit is written by the last task only: the Services' and Pods'
	// counts were taken above.
	parallel.Map(len(tasks), func(i int) struct{} { tasks[i](); return struct{}{} })
	s.refreshChangedLocked()
}

// occupies reports whether objects of the bucket make their namespace
// exist offline. A Namespace is the namespace; EndpointSlices are only ever
// seen live, where every namespace is listed.
func occupies(b model.Bucket) bool {
	return b != model.NamespaceBucket && b != model.EndpointSliceBucket
}

func (s *Store) addLocked(b model.Bucket, ref model.Ref, obj model.Object) bool {
	switch b {
	case model.NamespaceBucket:
		o, ok := obj.(*model.Namespace)
		if ok {
			s.namespaces[ref.Name] = o
			s.refreshNamespaceLocked(ref.Name)
		}
		return ok
	case model.ServiceBucket:
		o, ok := obj.(*model.Service)
		if ok {
			s.services.add(o)
		}
		return ok
	case model.PodBucket:
		o, ok := obj.(*model.Pod)
		if ok {
			s.pods.add(o)
		}
		return ok
	case model.MonitorBucket:
		o, ok := obj.(*model.Monitor)
		k, known := model.MonitorKindOf(ref.Kind)
		if !ok || !known {
			return false
		}
		s.monitors[k].add(o)
		if k.SelectsWorkloads() {
			var nss []string
			if !o.Namespaces.All {
				nss = o.Namespaces.Names
			}
			s.selecting[k].add(o, nss, o.Selector.Selector())
		}
		s.refreshUnreadLocked(o)
		return true
	case model.EndpointSliceBucket:
		o, ok := obj.(*model.EndpointSlice)
		if !ok {
			return false
		}
		k := ref.Namespace + "/" + o.Service
		if s.slices[k] == nil {
			s.slices[k] = map[string]*model.EndpointSlice{}
		}
		s.slices[k][ref.Name] = o
		s.sliceOwner[ref.Namespace+"/"+ref.Name] = k
		return true
	case model.AllocatorBucket:
		o, ok := obj.(*model.Allocator)
		if ok {
			s.allocators[ref.Key()] = o
			s.addReaderLocked(&o.Reader)
		}
		return ok
	case model.ReaderBucket:
		o, ok := obj.(*model.Reader)
		if ok {
			s.addReaderLocked(o)
		}
		return ok
	}
	return false
}

func (s *Store) addReaderLocked(r *model.Reader) {
	s.allocatorList = nil
	s.readers[r.Ref.Key()] = r
	for _, k := range model.MonitorKinds {
		if r.Active {
			s.readersBySelector[k].add(r, nil, r.Scopes[k].Monitors.Selector())
		}
	}
	s.changed = append(s.changed, r)
}

// refreshChangedLocked refreshes the monitors the readers a write added or
// removed match. A reader replaced by one that reads the same (a status
// update of a collector, the informers' resync) changes no monitor's
// readers: the write lock is not held over every monitor it matches.
func (s *Store) refreshChangedLocked() {
	changed := s.changed
	s.changed = nil
	if len(changed) == 2 && changed[0].Active == changed[1].Active && reflect.DeepEqual(changed[0].Scopes, changed[1].Scopes) {
		return
	}
	for _, r := range changed {
		s.refreshReadByLocked(r)
	}
}

// refreshUnreadLocked files the monitor as unread, or not, by its readers now.
func (s *Store) refreshUnreadLocked(m *model.Monitor) {
	if len(s.readersOfLocked(m)) == 0 {
		s.unread[m.Kind][m.Ref.Key()] = m
	} else {
		delete(s.unread[m.Kind], m.Ref.Key())
	}
}

// refreshReadByLocked refreshes the monitors a reader's selectors match:
// the only ones whose readers it can change, found in the label index.
func (s *Store) refreshReadByLocked(r *model.Reader) {
	if !r.Active {
		return
	}
	for _, k := range model.MonitorKinds {
		for _, m := range s.monitors[k].all.query(r.Scopes[k].Monitors.Selector(), nil) {
			s.refreshUnreadLocked(m)
		}
	}
}

// refreshNamespaceLocked refreshes the monitors of a namespace whose
// labels, which namespace selectors read, may have changed.
func (s *Store) refreshNamespaceLocked(ns string) {
	for _, k := range model.MonitorKinds {
		if b := s.monitors[k].byNS[ns]; b != nil {
			for _, m := range b.items {
				s.refreshUnreadLocked(m)
			}
		}
	}
}

// Delete removes the object with that reference, if present.
func (s *Store) Delete(ref model.Ref) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeLocked(ref)
	s.refreshChangedLocked()
}

func (s *Store) removeLocked(ref model.Ref) {
	if s.getLocked(ref) == nil {
		return
	}
	key := ref.Key()
	b := model.BucketOf(ref.Kind)
	switch b {
	case model.NamespaceBucket:
		delete(s.namespaces, ref.Name)
		s.refreshNamespaceLocked(ref.Name)
	case model.ServiceBucket:
		s.services.remove(ref)
	case model.PodBucket:
		s.pods.remove(ref)
	case model.MonitorBucket:
		k, _ := model.MonitorKindOf(ref.Kind)
		s.monitors[k].remove(ref)
		s.selecting[k].remove(key)
		delete(s.unread[k], key)
	case model.EndpointSliceBucket:
		id := ref.Namespace + "/" + ref.Name
		k := s.sliceOwner[id]
		delete(s.sliceOwner, id)
		delete(s.slices[k], ref.Name)
		if len(s.slices[k]) == 0 {
			delete(s.slices, k)
		}
	case model.AllocatorBucket, model.ReaderBucket:
		s.allocatorList = nil
		old := s.readers[key]
		delete(s.readers, key)
		delete(s.allocators, key)
		for _, k := range model.MonitorKinds {
			s.readersBySelector[k].remove(key)
		}
		if old != nil {
			s.changed = append(s.changed, old)
		}
	}
	if occupies(b) && ref.Namespace != "" {
		if s.implicit[ref.Namespace]--; s.implicit[ref.Namespace] <= 0 {
			delete(s.implicit, ref.Namespace)
		}
	}
}

// SetPartial marks the store as holding part of a cluster (offline
// manifests): from then on only the namespaces passed to Describe are
// known in full.
func (s *Store) SetPartial() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = true
	if s.described == nil {
		s.described = map[string]bool{}
	}
}

// Describe records that the input describes the namespace's contents.
func (s *Store) Describe(namespace string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.described == nil {
		s.described = map[string]bool{}
	}
	s.described[namespace] = true
}

// Described implements View.
func (s *Store) Described(namespace string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return !s.partial || s.described[namespace]
}

// Namespace implements View.
func (s *Store) Namespace(name string) *model.Namespace {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if ns := s.namespaces[name]; ns != nil {
		return ns
	}
	if s.implicit[name] > 0 {
		return &model.Namespace{Meta: model.Meta{Ref: model.Ref{APIVersion: "v1", Kind: "Namespace", Name: name}}}
	}
	return nil
}

// Services implements View.
func (s *Store) Services(ns model.NamespaceSet, sel labels.Selector) []*model.Service {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.services.query(ns, sel)
}

// Pods implements View.
func (s *Store) Pods(ns model.NamespaceSet, sel labels.Selector) []*model.Pod {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.pods.query(ns, sel)
}

// Monitors implements View.
func (s *Store) Monitors(kind model.MonitorKind, sel labels.Selector) []*model.Monitor {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.monitors[kind].query(model.NamespaceSet{All: true}, sel)
}

// MonitorsSelecting implements View.
func (s *Store) MonitorsSelecting(kind model.MonitorKind, ns string, l map[string]string) []*model.Monitor {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*model.Monitor
	s.selecting[kind].candidates(ns, l, func(m *model.Monitor) {
		if Selects(m, ns, l) {
			out = append(out, m)
		}
	})
	sortObjects(out)
	return out
}

// ReadersOf implements View.
func (s *Store) ReadersOf(m *model.Monitor) []*model.Reader {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.readersOfLocked(m)
}

// UnreadMonitors returns the monitors of a kind that no active reader reads.
func (s *Store) UnreadMonitors(kind model.MonitorKind) []*model.Monitor {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*model.Monitor, 0, len(s.unread[kind]))
	for _, m := range s.unread[kind] {
		out = append(out, m)
	}
	sortObjects(out)
	return out
}

func (s *Store) readersOfLocked(m *model.Monitor) []*model.Reader {
	ns := s.namespaceLocked(m.Ref.Namespace)
	var out []*model.Reader
	s.readersBySelector[m.Kind].candidates("", m.Labels, func(r *model.Reader) {
		if r.Reads(m, ns) {
			out = append(out, r)
		}
	})
	sortObjects(out)
	return out
}

func (s *Store) namespaceLocked(name string) *model.Namespace {
	return s.namespaces[name]
}

// EndpointSlices implements View.
func (s *Store) EndpointSlices(namespace, service string) []*model.EndpointSlice {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m := s.slices[namespace+"/"+service]
	if len(m) == 0 {
		return nil
	}
	out := make([]*model.EndpointSlice, 0, len(m))
	for _, sl := range m {
		out = append(out, sl)
	}
	sortObjects(out)
	return out
}

// ServicesOutside implements View.
func (s *Store) ServicesOutside(exclude model.NamespaceSet, sel labels.Selector, limit int) []*model.Service {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.services.queryOutside(exclude, sel, limit)
}

// PodsOutside implements View.
func (s *Store) PodsOutside(exclude model.NamespaceSet, sel labels.Selector, limit int) []*model.Pod {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.pods.queryOutside(exclude, sel, limit)
}

// Allocators implements View. The list is shared: callers must not modify it.
func (s *Store) Allocators() []*model.Allocator {
	s.mu.RLock()
	list := s.allocatorList
	s.mu.RUnlock()
	if list != nil {
		return list
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.allocatorList == nil {
		out := make([]*model.Allocator, 0, len(s.allocators))
		for _, a := range s.allocators {
			out = append(out, a)
		}
		sortObjects(out)
		s.allocatorList = out
	}
	return s.allocatorList
}

// Subjects returns every object the rules review (allocators, monitors and
// Services), sorted by kind, namespace and name: what an audit evaluates.
func (s *Store) Subjects() []model.Object {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := len(s.allocators) + s.services.len()
	for _, ix := range s.monitors {
		n += ix.len()
	}
	out := make([]model.Object, 0, n)
	for _, a := range s.allocators {
		out = append(out, a)
	}
	for _, k := range model.MonitorKinds {
		for _, m := range s.monitors[k].all.items {
			out = append(out, m)
		}
	}
	for _, svc := range s.services.all.items {
		out = append(out, svc)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].GetMeta().Ref, out[j].GetMeta().Ref
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return out
}

// Get returns the object the store holds under that reference (by kind,
// namespace and name), or nil. Allocators are returned as such, not as their
// readers.
func (s *Store) Get(ref model.Ref) model.Object {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.getLocked(ref)
}

// getLocked never returns a typed nil: callers compare with nil.
func (s *Store) getLocked(ref model.Ref) model.Object {
	var (
		o  model.Object
		ok bool
	)
	switch model.BucketOf(ref.Kind) {
	case model.NamespaceBucket:
		o, ok = s.namespaces[ref.Name]
	case model.ServiceBucket:
		o, ok = s.services.get(ref)
	case model.PodBucket:
		o, ok = s.pods.get(ref)
	case model.MonitorBucket:
		if k, known := model.MonitorKindOf(ref.Kind); known {
			o, ok = s.monitors[k].get(ref)
		}
	case model.EndpointSliceBucket:
		o, ok = s.slices[s.sliceOwner[ref.Namespace+"/"+ref.Name]][ref.Name]
	case model.AllocatorBucket:
		o, ok = s.allocators[ref.Key()]
	case model.ReaderBucket:
		o, ok = s.readers[ref.Key()]
	}
	if !ok {
		return nil
	}
	return o
}

// Has reports whether the store holds the object (by kind, namespace, name).
func (s *Store) Has(ref model.Ref) bool { return s.Get(ref) != nil }

// Counts reports how many objects of each sort the store holds.
func (s *Store) Counts() map[string]int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return map[string]int{
		"namespaces":      len(s.namespaces),
		"services":        s.services.len(),
		"pods":            s.pods.len(),
		"serviceMonitors": s.monitors[model.ServiceMonitor].len(),
		"podMonitors":     s.monitors[model.PodMonitor].len(),
		"scrapeConfigs":   s.monitors[model.ScrapeConfig].len(),
		"probes":          s.monitors[model.Probe].len(),
		"readers":         len(s.readers),
	}
}
