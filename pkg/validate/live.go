package validate

import (
	"context"
	"errors"
	"fmt"

	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

// Permission is one access a TA's service account needs.
type Permission struct {
	Group, Resource, Verb string
	// Subresource, as the kubelet asks for nodes/metrics.
	Subresource string
	// Namespace is empty for cluster-wide access.
	Namespace string
}

func (p Permission) String() string {
	r := p.Resource
	if p.Subresource != "" {
		r += "/" + p.Subresource
	}
	if p.Group != "" {
		r += "." + p.Group
	}
	if p.Namespace != "" {
		return fmt.Sprintf("%s %s in %s", p.Verb, r, p.Namespace)
	}
	return p.Verb + " " + r
}

// Facts are what only the API server can tell: discovery, service accounts
// and access reviews. The webhook implements them; tests fake them.
type Facts interface {
	// MonitorKindServed reports whether the API server serves the kind.
	MonitorKindServed(kind model.MonitorKind) bool
	// ServiceAccountExists looks the account up.
	ServiceAccountExists(ctx context.Context, namespace, name string) (bool, error)
	// MissingPermissions returns the permissions the account does not have.
	MissingPermissions(ctx context.Context, namespace, account string, perms []Permission) ([]Permission, error)
	// MayGetSecret reports whether the account may get the Secret
	// secretNamespace/secret. A TA gets each Secret a monitor uses by name,
	// in the monitor's namespace, so a Role granting get on that one name
	// is enough: the question is asked about the name.
	MayGetSecret(ctx context.Context, namespace, account, secretNamespace, secret string) (bool, error)
	// LookupSecret tells whether a Secret exists and which keys it has
	// (TA109). SecretInfo.Checked is false when ta-guard did not look.
	LookupSecret(ctx context.Context, namespace, name string) (SecretInfo, error)
}

var readVerbs = []string{"get", "list", "watch"}

// RequiredPermissions is what a TA with prometheusCR on needs to discover
// targets: the monitors it selects, the objects service discovery reads,
// configmaps in its namespace, and secrets where monitors may refer to them.
func RequiredPermissions(a *model.Allocator) []Permission {
	var out []Permission
	add := func(group, resource, ns string, verbs ...string) {
		for _, v := range verbs {
			out = append(out, Permission{Group: group, Resource: resource, Verb: v, Namespace: ns})
		}
	}
	add("monitoring.coreos.com", "servicemonitors", "", readVerbs...)
	add("monitoring.coreos.com", "podmonitors", "", readVerbs...)
	if a.ScrapeConfigsAndProbes {
		add("monitoring.coreos.com", "scrapeconfigs", "", readVerbs...)
		add("monitoring.coreos.com", "probes", "", readVerbs...)
	}
	for _, r := range []string{"services", "endpoints", "pods", "namespaces", "nodes"} {
		add("", r, "", readVerbs...)
	}
	add("discovery.k8s.io", "endpointslices", "", readVerbs...)
	add("", "configmaps", a.Ref.Namespace, "get")
	secretNS := a.SecretNamespaces
	if len(secretNS) == 0 {
		secretNS = []string{a.Ref.Namespace}
	}
	for _, ns := range secretNS {
		add("", "secrets", ns, readVerbs...)
	}
	return out
}

func (ev *evaluation) liveAllocator(ctx context.Context, a *model.Allocator, facts Facts) error {
	if !a.Enabled || !a.PrometheusCR {
		return nil
	}
	var missingKinds []string
	for _, k := range model.MonitorKinds {
		// ScrapeConfigs and Probes matter only to a TA that selects them.
		if !k.SelectsWorkloads() && a.Scopes[k].Monitors.Nothing() {
			continue
		}
		if !facts.MonitorKindServed(k) {
			missingKinds = append(missingKinds, k.String())
		}
	}
	if len(missingKinds) > 0 {
		what, fix := ta009Text(missingKinds)
		ev.add(rules.TA009, "", "", what, fix).Field = a.Field.Child("prometheusCR", "enabled")
	} else {
		ev.pass(rules.TA009, "", ta009PassText)
	}
	var errs []error
	sa := a.EffectiveServiceAccount()
	if a.ServiceAccount != "" {
		ok, err := facts.ServiceAccountExists(ctx, a.Ref.Namespace, sa)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("service account %s/%s: %w", a.Ref.Namespace, sa, err))
		case !ok:
			what, fix := ta010Text(a.Ref.Namespace, sa, a.Field.Child("serviceAccount"))
			f := ev.add(rules.TA010, "", "", what, fix)
			f.Field = a.Field.Child("serviceAccount")
			f.Related = rules.RelatedAs(rules.RoleAccount, model.Ref{APIVersion: "v1", Kind: "ServiceAccount", Namespace: a.Ref.Namespace, Name: sa})
		default:
			ev.pass(rules.TA010, "", func() string { return ta010PassText(sa) })
		}
	}
	missing, err := facts.MissingPermissions(ctx, a.Ref.Namespace, sa, RequiredPermissions(a))
	if err != nil {
		errs = append(errs, fmt.Errorf("access review for %s/%s: %w", a.Ref.Namespace, sa, err))
	} else if len(missing) > 0 {
		what, fix, reasons := ta008Text(a.Ref.Namespace, sa, missing)
		f := ev.add(rules.TA008, "", "", what, fix)
		f.Related = rules.RelatedAs(rules.RoleAccount, model.Ref{APIVersion: "v1", Kind: "ServiceAccount", Namespace: a.Ref.Namespace, Name: sa})
		f.Reasons = reasons
	} else {
		ev.pass(rules.TA008, "", func() string { return ta008PassText(sa) })
	}
	return errors.Join(errs...)
}

// noEndpoints is TA106: the monitor matches objects, but they yield no
// target (no endpoints behind the Services, or only terminated Pods).
func (ev *evaluation) noEndpoints(m *model.Monitor) {
	if m.Kind == model.ServiceMonitor {
		svcs := ev.after.Services(m.Namespaces, m.Selector.Selector())
		if len(svcs) == 0 {
			return
		}
		for _, s := range svcs {
			for _, sl := range ev.after.EndpointSlices(s.Ref.Namespace, s.Ref.Name) {
				if len(sl.Addresses) > 0 {
					return
				}
			}
		}
		what, fix := ta106ServicesText(ev, svcs)
		f := ev.add(rules.TA106, "", "", what, fix)
		f.Related = ev.related(rules.RoleTarget, refsOf(svcs, serviceRef))
		return
	}
	pods := ev.after.Pods(m.Namespaces, m.Selector.Selector())
	if len(pods) == 0 {
		return
	}
	for _, p := range pods {
		if !p.Terminated() {
			return
		}
	}
	what, fix := ta106PodsText(len(pods))
	ev.add(rules.TA106, "", "", what, fix)
}
