package watch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ta-guard/ta-guard/internal/cluster"
	"github.com/ta-guard/ta-guard/internal/model"
)

// Watcher runs the informers and mirrors their objects into a Store.
type Watcher struct {
	cache  cache.Cache
	mapper meta.RESTMapper
	scheme *runtime.Scheme
	store  *cluster.Store
	log    logr.Logger
	// Interval between looks for kinds that are not served yet.
	Interval time.Duration
	// OnError is told about objects that cannot be normalized (metrics).
	OnError func(kind string)
	// OnChange is told when an object of a kind changes (audit debounce).
	OnChange func(kind string)
	// ListErrors, when set, is the record the cache's informers report
	// their list and watch errors to (CacheOptions).
	ListErrors *ListErrors

	mu      sync.RWMutex
	running map[string]*running // by Kind.Name
	started bool
}

type running struct {
	gvk      schema.GroupVersionKind
	informer cache.Informer
	obj      client.Object // what the informer lists
}

// New makes a watcher; Start runs it.
func New(c cache.Cache, mapper meta.RESTMapper, scheme *runtime.Scheme, store *cluster.Store, log logr.Logger) *Watcher {
	return &Watcher{cache: c, mapper: mapper, scheme: scheme, store: store, log: log, Interval: 15 * time.Second, running: map[string]*running{}}
}

// NeedLeaderElection is false: every replica answers admission requests, so
// every replica needs its informers, leader or not.
func (w *Watcher) NeedLeaderElection() bool { return false }

// Start implements manager.Runnable: it starts every served kind at once, and
// keeps looking for the others until ctx ends.
func (w *Watcher) Start(ctx context.Context) error {
	w.ensure(ctx)
	w.mu.Lock()
	w.started = true
	w.mu.Unlock()
	t := time.NewTicker(w.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			w.ensure(ctx)
		}
	}
}

// ensure starts informers for kinds that have become served.
func (w *Watcher) ensure(ctx context.Context) {
	for _, k := range Kinds() {
		w.mu.RLock()
		_, ok := w.running[k.Name]
		w.mu.RUnlock()
		if ok {
			continue
		}
		if err := w.startKind(ctx, k); err != nil {
			w.log.Error(err, "cannot start informer", "kind", k.Name)
		}
	}
}

func (w *Watcher) startKind(ctx context.Context, k Kind) error {
	for _, obj := range k.Alternatives {
		gvk, err := gvkOf(w.scheme, obj)
		if err != nil {
			return err
		}
		if _, err := w.mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
			if meta.IsNoMatchError(err) {
				continue // not served (yet)
			}
			return err
		}
		inf, err := w.cache.GetInformer(ctx, obj, cache.BlockUntilSynced(false))
		if err != nil {
			return err
		}
		if _, err := inf.AddEventHandler(w.handler(k.Name)); err != nil {
			return err
		}
		w.mu.Lock()
		w.running[k.Name] = &running{gvk: gvk, informer: inf, obj: obj}
		w.mu.Unlock()
		w.log.Info("watching", "kind", k.Name, "version", gvk.Version)
		return nil
	}
	return nil
}

func (w *Watcher) handler(kind string) toolscache.ResourceEventHandler {
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { w.upsert(kind, obj) },
		UpdateFunc: func(_, obj any) { w.upsert(kind, obj) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if o, ok := obj.(client.Object); ok {
				w.store.Delete(refOf(kind, o))
				w.changed(kind)
			}
		},
	}
}

func (w *Watcher) upsert(kind string, obj any) {
	typed, ok := obj.(runtime.Object)
	if !ok {
		return
	}
	m, err := model.FromTyped(uncapped(typed))
	if err != nil {
		// The rules cannot reason about it, so it must not linger in an
		// older form either.
		if o, ok := obj.(client.Object); ok {
			w.store.Delete(refOf(kind, o))
			w.log.Info("object left out of checks", "kind", kind, "namespace", o.GetNamespace(), "name", o.GetName(), "reason", err.Error())
		}
		if w.OnError != nil {
			w.OnError(kind)
		}
		return
	}
	w.store.Upsert(m)
	w.changed(kind)
}

func (w *Watcher) changed(kind string) {
	if w.OnChange != nil {
		w.OnChange(kind)
	}
}

// refOf is the store key of an object of a kind (versions do not matter).
func refOf(kind string, o client.Object) model.Ref {
	return model.Ref{Kind: kind, Namespace: o.GetNamespace(), Name: o.GetName()}
}

// Served reports whether a kind is being watched (its API is served).
func (w *Watcher) Served(kind string) bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	_, ok := w.running[kind]
	return ok
}

// MonitorKindServed implements part of validate.Facts.
func (w *Watcher) MonitorKindServed(k model.MonitorKind) bool { return w.Served(k.String()) }

// Synced reports whether the watcher has started and every running informer
// has synced: until then the store does not describe the cluster.
func (w *Watcher) Synced() bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if !w.started {
		return false
	}
	for _, r := range w.running {
		if !r.informer.HasSynced() {
			return false
		}
	}
	return true
}

// SyncState lists every kind with true when its informer has synced.
func (w *Watcher) SyncState() map[string]bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	out := map[string]bool{}
	for _, k := range Kinds() {
		r, ok := w.running[k.Name]
		out[k.Name] = ok && r.informer.HasSynced()
	}
	return out
}

// ListError is the last error the API server gave the kind's informer
// while it has not synced (nil once it has, or when none was recorded).
func (w *Watcher) ListError(kind string) error {
	w.mu.RLock()
	r, ok := w.running[kind]
	w.mu.RUnlock()
	if !ok {
		return nil
	}
	if r.informer.HasSynced() {
		w.ListErrors.clear(r.obj)
		return nil
	}
	return w.ListErrors.of(r.obj)
}

// ReadyCheck is a healthz checker: it fails until every informer synced.
func (w *Watcher) ReadyCheck(_ *http.Request) error {
	if w.Synced() {
		return nil
	}
	var waiting []string
	for k, ok := range w.SyncState() {
		if !ok && w.Served(k) {
			if err := w.ListError(k); err != nil {
				k += " (" + err.Error() + ")"
			}
			waiting = append(waiting, k)
		}
	}
	sort.Strings(waiting)
	if len(waiting) == 0 {
		return errors.New("informers not started")
	}
	return fmt.Errorf("informers not synced: %s", strings.Join(waiting, ", "))
}
