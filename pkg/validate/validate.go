// Package validate is ta-guard's rule engine: pure functions that tell, for
// one change to one object, whether it leaves a Target Allocator blind. It
// reads the cluster only through cluster.View, so the webhook (informers),
// the audit and the offline check (manifests) share it.
package validate

import (
	"github.com/ta-guard/ta-guard/pkg/cluster"
	"github.com/ta-guard/ta-guard/pkg/model"
	"github.com/ta-guard/ta-guard/pkg/policy"
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

// Evaluate runs every offline rule that applies to the change against the
// view (which may or may not hold the object already: the engine places the
// change into it), then applies the policy. A nil policy keeps the catalog's
// default actions.
func Evaluate(req Request, view cluster.View, pol *policy.Policy) []rules.Finding {
	subj := req.subject()
	if subj == nil {
		return nil
	}
	meta := subj.GetMeta()
	if pol.Excluded(meta.Ref.Namespace) {
		return nil
	}
	if policy.Skips(meta.Annotations)["*"] {
		return nil
	}
	ev := &evaluation{req: req, ref: meta.Ref}
	ev.after = newOverlay(view, meta.Ref, req.Object)
	if req.Operation != Create && req.OldObject != nil {
		ev.before = newOverlay(view, meta.Ref, req.OldObject)
	}
	switch o := subj.(type) {
	case *model.Allocator:
		ev.allocatorRules(o)
	case *model.Monitor:
		ev.monitorRules(o)
	case *model.Service:
		ev.serviceRules(o)
	}
	fs := pol.Apply(meta, ev.findings)
	rules.Sort(fs)
	return fs
}

// evaluation carries one request through the rules.
type evaluation struct {
	req      Request
	ref      model.Ref
	before   cluster.View // nil on CREATE
	after    cluster.View
	findings []rules.Finding
}

func (ev *evaluation) add(id rules.ID, job, subject, what, fix string) {
	ev.findings = append(ev.findings, rules.New(id, ev.ref, job, subject, what, fix))
}
