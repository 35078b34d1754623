package watch

import (
	"context"
	"reflect"
	"sync"

	toolscache "k8s.io/client-go/tools/cache"
)

// ListErrors remembers, per informer, the last error its list or watch
// returned. An informer the API server refuses (RBAC) never syncs and, left
// alone, says nothing; this lets readiness and tests name the reason.
type ListErrors struct {
	mu   sync.Mutex
	last map[string]error // by reflector type description ("*v1.Service")
}

// NewListErrors makes an empty record.
func NewListErrors() *ListErrors { return &ListErrors{last: map[string]error{}} }

// handle records the error, then does what client-go does by default (log
// it; the informer backs off and retries).
func (l *ListErrors) handle(ctx context.Context, r *toolscache.Reflector, err error) {
	l.mu.Lock()
	l.last[r.TypeDescription()] = err
	l.mu.Unlock()
	toolscache.DefaultWatchErrorHandler(ctx, r, err)
}

// of is the last error of the informer of objects like obj, or nil.
func (l *ListErrors) of(obj any) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// The type description of a typed informer is its object's Go type.
	return l.last[reflect.TypeOf(obj).String()]
}

// clear forgets an informer's error once it has synced.
func (l *ListErrors) clear(obj any) {
	if l == nil {
		return
	}
	l.mu.Lock()
	delete(l.last, reflect.TypeOf(obj).String())
	l.mu.Unlock()
}
