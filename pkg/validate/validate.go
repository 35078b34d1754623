// Package validate is ta-guard's rule engine: pure functions that tell, for
// one change to one object, whether it leaves a Target Allocator blind. It
// reads the cluster only through cluster.View, so the webhook (informers),
// the audit and the offline check (manifests) share it.
package validate

import (
	"context"
	"errors"
	"fmt"

	"github.com/ta-guard/ta-guard/internal/cluster"
	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/internal/policy"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

// Operation is the admission operation.
type Operation string

const (
	Create Operation = "CREATE"
	Update Operation = "UPDATE"
	Delete Operation = "DELETE"
)

// Request is one change: Object is the new state (nil on DELETE), OldObject
// the state before it (nil on CREATE).
type Request struct {
	Operation Operation
	Object    model.Object
	OldObject model.Object
}

// subject is the object the findings are about.
func (r Request) subject() model.Object {
	if r.Object != nil {
		return r.Object
	}
	return r.OldObject
}

// Options say how to evaluate a change.
type Options struct {
	// Facts answer the live rules (discovery, service accounts, access
	// reviews); nil means offline: the live rules are not run.
	Facts Facts
	// Policy sets actions, exclusions and skips; nil keeps the catalog's
	// default actions.
	Policy *policy.Policy
	// Trace records, beside the findings, what was checked and passed: the
	// ✓ lines of diagnose.
	Trace bool
	// Audience is who will read the findings; the texts name objects of
	// other namespaces only where it may read them. nil sees everything:
	// check reads files the user holds, diagnose runs with the user's own
	// credentials.
	Audience Audience
	// Admission: the change is an apply being admitted, told to whoever
	// runs it. The rules that repeat, on the object applied last, what
	// other objects' findings say (TA018) run only then: a review of the
	// whole state (check, audit, diagnose) shows those findings themselves.
	Admission bool
}

// Result is the engine's answer for one change.
type Result struct {
	// Findings are what is wrong, policy applied.
	Findings []rules.Finding
	// Checks are every check made, in order, passed or not (Trace only).
	Checks []Check
	// Reads are the monitors an allocator subject reads (Trace only).
	Reads []*model.Monitor
	// Monitor is what a monitor subject finds, endpoint by endpoint
	// (Trace only).
	Monitor *MonitorTrace
}

// Check is one check the engine made of the subject, or, with Scope, a
// fact it recorded (an allocator's namespace scope), which no rule checks.
type Check struct {
	Rule rules.ID `json:"rule,omitempty"`
	// Scope: the check is the allocator's namespace scope for MonitorKind,
	// a fact that passes always (Rule is empty).
	Scope bool `json:"scope,omitempty"`
	// MonitorKind is the monitor kind of an allocator's per-kind checks
	// (a finding's Subject names a part of its object instead).
	MonitorKind string `json:"monitorKind,omitempty"`
	Job         string `json:"job,omitempty"`
	// Detail is what was seen when the check passed.
	Detail string `json:"detail,omitempty"`
	// Finding is set when the check failed and the policy kept the
	// finding; Off when it failed but the policy or a skip annotation
	// turned it off.
	Finding *rules.Finding `json:"finding,omitempty"`
	Off     bool           `json:"off,omitempty"`
}

// Passed reports whether the check found nothing wrong.
func (c Check) Passed() bool { return c.Finding == nil && !c.Off }

// Evaluate is the engine's one entry point. It runs every rule that applies
// to the change against the view (which may or may not hold the object
// already: the engine places the change into it), the live ones when
// opts.Facts is set, then applies the policy. When a fact cannot be had, the
// other findings still come back, with the error: the caller says the change
// was not fully checked, and never blocks on it.
func Evaluate(ctx context.Context, req Request, view cluster.View, opts Options) (Result, error) {
	subj := req.subject()
	if subj == nil {
		return Result{}, nil
	}
	meta := subj.GetMeta()
	if opts.Policy.Excluded(meta.Ref.Namespace) {
		return Result{}, nil
	}
	ev := &evaluation{req: req, ref: meta.Ref, view: view, trace: opts.Trace, aud: opts.Audience, ctx: ctx, admission: opts.Admission}
	ev.after = newOverlay(view, meta.Ref, req.Object)
	if req.Operation != Create && req.OldObject != nil {
		ev.before = newOverlay(view, meta.Ref, req.OldObject)
	}
	var err error
	if !policy.Skips(meta.Annotations)["*"] {
		ev.defects(meta)
		switch o := subj.(type) {
		case *model.Allocator:
			ev.allocatorRules(o)
			if opts.Facts != nil && req.Operation != Delete && !ev.expired() {
				err = errors.Join(ev.liveAllocator(ctx, o, opts.Facts), ev.kubeletScrape(ctx, o, opts.Facts))
				ev.collectorPods(o)
			}
		case *model.Monitor:
			blind := o.Kind.SelectsWorkloads() && ev.blindTo(o)
			ev.monitorRules(o, blind)
			if req.Operation != Delete && !ev.expired() && !blind {
				ev.perNode(o)
			}
			if opts.Facts != nil && req.Operation != Delete && !ev.expired() {
				if !blind {
					ev.noEndpoints(o)
				}
				err = ev.secretAccess(ctx, o, opts.Facts)
			}
			if opts.Trace && req.Operation != Delete && !ev.expired() {
				t := Trace(ev.after, o)
				ev.result.Monitor = &t
			}
		case *model.Service:
			ev.serviceRules(o)
		}
	}
	if ev.outOfTime {
		// Findings made before the deadline stand; what was not reached
		// is unknown, which only the caller can weigh (a deny found is
		// still certain).
		ev.finish(meta, opts.Policy)
		return ev.result, fmt.Errorf("%w: %w", ErrOutOfTime, ctx.Err())
	}
	ev.finish(meta, opts.Policy)
	return ev.result, err
}

// ErrOutOfTime is returned when the request's deadline passed before every
// rule ran.
var ErrOutOfTime = errors.New("the rules did not finish before the request's deadline")

// expired reports, and remembers, that the request's deadline has passed:
// loops over what the object lists stop there.
func (ev *evaluation) expired() bool {
	if !ev.outOfTime && ev.ctx != nil && ev.ctx.Err() != nil {
		ev.outOfTime = true
	}
	return ev.outOfTime
}

// evaluation carries one request through the rules.
type evaluation struct {
	req    Request
	ref    model.Ref
	before cluster.View // nil on CREATE
	after  cluster.View
	// view is the view as given, without the change put in or taken out:
	// the cluster before it, or after it once the informers have seen it.
	view  cluster.View
	trace bool
	// findings are the rules' findings before the policy; checks refer to
	// them by index.
	findings []rules.Finding
	checks   []pending
	result   Result
	// readers memoizes ReadersOf(readersFor) (readersOf).
	readers []*model.Reader
	// outOfTime: the request's deadline passed and some rules did not run.
	outOfTime  bool
	readersFor *model.Monitor
	// aud is who reads the findings (nil: anyone); seen memoizes its
	// answers by namespace and resource (shows).
	aud  Audience
	ctx  context.Context
	seen map[string]bool
	// admission: Options.Admission.
	admission bool
	// gate memoizes operatorGate.
	gate *gateFacts
}

type pending struct {
	Check
	finding int // index into findings, or -1 for a passed check
}

// add records a failed check: a finding of the rule about the subject.
func (ev *evaluation) add(id rules.ID, job, subject, what, fix string) *rules.Finding {
	ev.findings = append(ev.findings, rules.Draft(id, ev.ref, job, subject, what, fix))
	if ev.trace {
		ev.checks = append(ev.checks, pending{Check{Rule: id, Job: job}, len(ev.findings) - 1})
	}
	return &ev.findings[len(ev.findings)-1]
}

// addEndpoint is add for a finding about endpoint i of the monitor: its
// job, index and subject.
func (ev *evaluation) addEndpoint(id rules.ID, m *model.Monitor, i int, what, fix string) *rules.Finding {
	job := m.Job(i)
	f := ev.add(id, job, rules.EndpointSubject(i, job), what, fix)
	f.Endpoint = &i
	return f
}

// pass records a passed check. Only a trace pays for rendering the detail:
// admission never calls it.
func (ev *evaluation) pass(id rules.ID, monitorKind string, detail func() string) {
	if ev.trace {
		ev.checks = append(ev.checks, pending{Check{Rule: id, MonitorKind: monitorKind, Detail: detail()}, -1})
	}
}

// scope records an allocator's namespace scope for a monitor kind, a fact
// no rule checks; like pass, only a trace pays for it.
func (ev *evaluation) scope(monitorKind string, detail func() string) {
	if ev.trace {
		ev.checks = append(ev.checks, pending{Check{Scope: true, MonitorKind: monitorKind, Detail: detail()}, -1})
	}
}

// finish renders the messages and applies the policy; when tracing, finding
// by finding, so that each check knows what became of its finding.
func (ev *evaluation) finish(meta *model.Meta, pol *policy.Policy) {
	if len(ev.findings) == 0 && !ev.trace {
		return
	}
	if !ev.trace {
		for i := range ev.findings {
			ev.findings[i].Render()
		}
		ev.result.Findings = pol.Apply(meta, ev.findings)
		rules.Sort(ev.result.Findings)
		return
	}
	kept := make([]*rules.Finding, len(ev.findings))
	for i := range ev.findings {
		f := &ev.findings[i]
		f.Render()
		if out := pol.Apply(meta, []rules.Finding{*f}); len(out) == 1 {
			ev.result.Findings = append(ev.result.Findings, out[0])
			kept[i] = &out[0]
		}
	}
	rules.Sort(ev.result.Findings)
	for _, p := range ev.checks {
		c := p.Check
		if p.finding >= 0 {
			if k := kept[p.finding]; k != nil {
				c.Finding = k
			} else {
				c.Off = true
			}
		}
		ev.result.Checks = append(ev.result.Checks, c)
	}
}
