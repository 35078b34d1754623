// Package audit checks the whole cluster as it is, not only the change in
// front of the webhook: a Service deleted by a controller, an RBAC binding
// removed, a CRD uninstalled, objects that predate ta-guard. It runs the
// admission engine and policy over every collector, TargetAllocator,
// monitor and Service of the view, writes one PolicyReport per namespace,
// emits a Warning Event for each new finding (rate-limited) and exports
// gauges. Only the elected leader runs it.
package audit

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ta-guard/ta-guard/internal/cluster"
	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/internal/policy"
	"github.com/ta-guard/ta-guard/pkg/rules"
	"github.com/ta-guard/ta-guard/pkg/validate"
)

// View is the cluster view the audit evaluates, with its subjects listed.
type View interface {
	cluster.View
	Subjects() []model.Object
}

// Auditor runs audits. Start it as a manager runnable; it needs leader
// election, so that only one replica writes.
type Auditor struct {
	View   View
	Facts  validate.Facts
	Policy func() *policy.Policy
	// Ready reports whether the view describes the cluster yet.
	Ready func() bool
	// Redact keeps each finding's texts to its own namespace (docs/multi-tenancy.md).
	Redact bool
	// Client writes the reports; Mapper tells which report APIs are
	// served; APIs which of them to write to ("": auto).
	Client client.Client
	Mapper meta.RESTMapper
	APIs   ReportAPIs
	// Events records Warning Events on offending objects (nil: none).
	Events events.EventRecorder
	// Interval between full audits; Debounce is how long after a change the
	// next audit starts (changes in between are folded in).
	Interval, Debounce time.Duration
	// EventInterval is the least time between two Events of the same
	// finding, so a flapping object cannot flood.
	EventInterval time.Duration
	Metrics       *Metrics
	Log           logr.Logger

	trigger chan struct{}
	once    sync.Once
	runs    atomic.Int64

	mu        sync.Mutex
	firstSeen map[rules.Identity]time.Time // finding key -> when first seen (report timestamps)
	lastEvent map[rules.Identity]time.Time // finding key -> last Event
	written   map[string]string            // report kind/namespace -> content of the last report written
	noReports bool                         // no report CRD served (logged once)
}

// NeedLeaderElection implements manager.LeaderElectionRunnable.
func (a *Auditor) NeedLeaderElection() bool { return true }

func (a *Auditor) init() {
	a.once.Do(func() {
		a.trigger = make(chan struct{}, 1)
		a.firstSeen = map[rules.Identity]time.Time{}
		a.lastEvent = map[rules.Identity]time.Time{}
		a.written = map[string]string{}
		if a.Debounce == 0 {
			a.Debounce = 30 * time.Second
		}
		if a.EventInterval == 0 {
			a.EventInterval = time.Hour
		}
	})
}

// Trigger asks for an audit soon (debounced); it never blocks.
func (a *Auditor) Trigger() {
	a.init()
	select {
	case a.trigger <- struct{}{}:
	default:
	}
}

// Runs is how many audits this auditor has completed.
func (a *Auditor) Runs() int64 { return a.runs.Load() }

// Start implements manager.Runnable: an audit once the view is ready, then
// every Interval and after changes.
func (a *Auditor) Start(ctx context.Context) error {
	a.init()
	for a.Ready != nil && !a.Ready() {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
	a.runLogged(ctx)
	var tick <-chan time.Time
	if a.Interval > 0 {
		t := time.NewTicker(a.Interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
		case <-a.trigger:
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(a.Debounce):
			}
			select { // fold in what arrived meanwhile
			case <-a.trigger:
			default:
			}
		}
		a.runLogged(ctx)
	}
}

func (a *Auditor) runLogged(ctx context.Context) {
	res, err := a.Run(ctx)
	if err != nil {
		a.Log.Error(err, "audit incomplete")
	}
	if res != nil {
		a.Log.Info("audit done", "objects", res.Objects, "findings", len(res.Findings), "duration", res.Duration.String())
	}
}

// Result is one audit.
type Result struct {
	Findings []rules.Finding
	Objects  int
	Duration time.Duration
	// Reports are the PolicyReports written (or that would be, when the CRD
	// is absent), by namespace.
	Reports map[string]*Report
}

// Evaluate runs the rules over every subject of the view, live rules
// included. It writes nothing.
func (a *Auditor) Evaluate(ctx context.Context) ([]rules.Finding, int, error) {
	var pol *policy.Policy
	if a.Policy != nil {
		pol = a.Policy()
	}
	subjects := a.View.Subjects()
	var all []rules.Finding
	var errs []error
	for _, s := range subjects {
		req := validate.Request{Operation: validate.Create, Object: s}
		opts := validate.Options{Facts: a.Facts, Policy: pol}
		if a.Redact {
			// Reports and Events are stored in the object's namespace, read
			// by whoever may read it there: name nothing outside it.
			opts.Audience = validate.SameNamespace(s.GetMeta().Ref.Namespace)
		}
		res, err := validate.Evaluate(ctx, req, a.View, opts)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.GetMeta().Ref, err))
		}
		all = append(all, res.Findings...)
	}
	return all, len(subjects), errors.Join(errs...)
}

// Run audits once: evaluate, report, record events, update metrics.
func (a *Auditor) Run(ctx context.Context) (*Result, error) {
	a.init()
	start := time.Now()
	fs, n, evalErr := a.Evaluate(ctx)
	res := &Result{Findings: fs, Objects: n}
	now := time.Now()

	a.mu.Lock()
	seen := map[rules.Identity]bool{}
	var fresh []rules.Finding
	for _, f := range fs {
		k := key(f)
		seen[k] = true
		if _, ok := a.firstSeen[k]; !ok {
			a.firstSeen[k] = now
			fresh = append(fresh, f)
		}
	}
	for k := range a.firstSeen {
		if !seen[k] {
			delete(a.firstSeen, k) // fixed: a later return is news again
		}
	}
	res.Reports = buildReports(fs, a.firstSeen)
	a.mu.Unlock()

	reportErr := a.writeReports(ctx, res.Reports)
	a.recordEvents(fresh, now)
	res.Duration = time.Since(start)
	if a.Metrics != nil {
		a.Metrics.observe(res)
	}
	a.runs.Add(1)
	return res, errors.Join(evalErr, reportErr)
}

// key identifies a finding across audits: its identity, never its text
// (a count in it that changes is the same finding).
func key(f rules.Finding) rules.Identity { return f.Identity() }

func (a *Auditor) recordEvents(fresh []rules.Finding, now time.Time) {
	if a.Events == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	sort.Slice(fresh, func(i, j int) bool { return key(fresh[i]).String() < key(fresh[j]).String() })
	for _, f := range fresh {
		k := key(f)
		if last, ok := a.lastEvent[k]; ok && now.Sub(last) < a.EventInterval {
			continue // flapping: at most one Event per finding per interval
		}
		a.lastEvent[k] = now
		ref := &corev1.ObjectReference{APIVersion: f.Object.APIVersion, Kind: f.Object.Kind, Namespace: f.Object.Namespace, Name: f.Object.Name}
		a.Events.Eventf(ref, nil, corev1.EventTypeWarning, f.Name, "Audit", "%s", f.Summary())
	}
	for k, t := range a.lastEvent {
		if now.Sub(t) > a.EventInterval {
			delete(a.lastEvent, k)
		}
	}
}
