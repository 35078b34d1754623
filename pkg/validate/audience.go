package validate

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

// Audience is who reads the findings. A warning goes back to the user who
// made the request, a PolicyReport or Event to whoever may read the
// namespace it is stored in; neither may learn from it the names, labels or
// ports of objects in namespaces they may not read, which the engine, seeing
// the whole cluster, would otherwise spell out in near misses and hints.
//
// The audience changes the words, and for a monitor that looks in a
// namespace the audience may not read, whether what it matches there is
// judged at all (blindTo): that a rule fires would otherwise tell what the
// namespace holds. Every other finding, its rule, action, object, job and
// field, is the same whoever reads it; an audience that may read everything
// (and diagnose, which runs with the user's own credentials and no
// audience) gets the same verdicts as the webhook gives no audience.
type Audience interface {
	// MaySee reports whether the audience may read objects of the resource
	// in the namespace. It must answer no when it cannot tell: a failed
	// question must never reveal.
	MaySee(ctx context.Context, namespace string, gr schema.GroupResource) bool
}

// SameNamespace is the audience of what is stored in one namespace (a
// PolicyReport, an Event): ta-guard cannot enumerate who reads it, so it
// names only what is in that namespace. The engine never asks about the
// subject's own namespace nor about cluster-scoped objects (namespaces,
// which the user named themselves), so this audience sees no other
// namespace at all.
type SameNamespace string

// MaySee implements Audience.
func (s SameNamespace) MaySee(_ context.Context, namespace string, _ schema.GroupResource) bool {
	return namespace == string(s)
}

// resourceOf is the resource an audience must be allowed to read to see
// the object, as the registry names it.
func resourceOf(r model.Ref) schema.GroupResource {
	gv, _ := schema.ParseGroupVersion(r.APIVersion)
	return schema.GroupResource{Group: gv.Group, Resource: model.ResourceOf(gv.Group, r.Kind)}
}

// shows reports whether the findings may name the object (its name, labels,
// ports, what it selects). Objects of the subject's own namespace are the
// requester's to read: they are asking to change something there. The
// answers are kept for the evaluation, so that one look-up serves every
// message about a namespace.
func (ev *evaluation) shows(r model.Ref) bool {
	if ev.aud == nil || r.Namespace == "" || r.Namespace == ev.ref.Namespace {
		return true
	}
	gr := resourceOf(r)
	k := r.Namespace + "/" + gr.String()
	if v, ok := ev.seen[k]; ok {
		return v
	}
	if ev.seen == nil {
		ev.seen = map[string]bool{}
	}
	v := ev.aud.MaySee(ev.ctx, r.Namespace, gr)
	ev.seen[k] = v
	return v
}

// visibleRefs keeps the refs the reader may see, for Related.
func (ev *evaluation) visibleRefs(refs []model.Ref) []model.Ref {
	if ev.aud == nil {
		return refs
	}
	var out []model.Ref
	for _, r := range refs {
		if ev.shows(r) {
			out = append(out, r)
		}
	}
	return out
}

// related are the refs the reader may see, in one role.
func (ev *evaluation) related(role rules.Role, refs []model.Ref) []rules.Related {
	return rules.RelatedAs(role, ev.visibleRefs(refs)...)
}

func refsOf[T any](items []T, ref func(T) model.Ref) []model.Ref {
	out := make([]model.Ref, len(items))
	for i, it := range items {
		out[i] = ref(it)
	}
	return out
}

// blindTo reports whether the audience may not read the workloads in some
// namespace the monitor looks in besides its own. The rules that judge what
// a monitor matches there (TA102 to TA107) then stay silent for this
// audience: whether they fire would tell a tenant whether a label, a port
// or a namespace exists where they may not look, whatever the words. The
// answer depends only on the monitor and the audience, never on what the
// other namespaces hold, so silence tells nothing either.
func (ev *evaluation) blindTo(m *model.Monitor) bool {
	if ev.aud == nil {
		return false
	}
	kind, version := "Service", "v1"
	if m.Kind == model.PodMonitor {
		kind = "Pod"
	}
	if m.Namespaces.All {
		// Reading every namespace is list permission cluster-wide.
		gr := resourceOf(model.Ref{APIVersion: version, Kind: kind})
		k := "/" + gr.String()
		if v, ok := ev.seen[k]; ok {
			return !v
		}
		if ev.seen == nil {
			ev.seen = map[string]bool{}
		}
		v := ev.aud.MaySee(ev.ctx, "", gr)
		ev.seen[k] = v
		return !v
	}
	for _, n := range m.Namespaces.Names {
		if !ev.shows(model.Ref{APIVersion: version, Kind: kind, Namespace: n}) {
			return true
		}
	}
	return false
}
