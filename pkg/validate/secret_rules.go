package validate

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

// SecretInfo is what ta-guard may learn of a Secret for TA109: whether it
// exists and the names of its keys, never their values.
type SecretInfo struct {
	// Checked is false when ta-guard did not look. TA109 is opt-in (serve
	// --check-secret-keys): seeing a Secret's keys, or even that it exists,
	// takes get on Secrets, which the API server does not tell apart from
	// reading their values, and ta-guard holds no such access by default.
	// Where it may not read Secrets the answer stays unknown, not absent.
	Checked bool
	Exists  bool
	Keys    []string
}

// secretAccess is TA108 and TA109 (live): the Secrets a monitor's endpoints
// use must exist and be readable by the service account of every TA that
// reads the monitor. The TA gets them while it turns the monitor into scrape
// jobs, and one it cannot have (forbidden, missing, or without the key)
// makes it reject the whole monitor, every endpoint of it. A monitor no TA
// reads blinds no TA: both rules stay silent about it.
func (ev *evaluation) secretAccess(ctx context.Context, m *model.Monitor, facts Facts) error {
	uses := secretUses(m)
	if len(uses) == 0 {
		return nil
	}
	tas, _ := ev.allocatorsReading(m)
	if len(tas) == 0 {
		return nil
	}
	return errors.Join(ev.secretsReadable(ctx, m, uses, tas, facts), ev.secretsFound(ctx, m, uses, facts))
}

// secretUse is one Secret of the monitor and every place that names it.
type secretUse struct {
	name string
	refs []endpointSecret
}

type endpointSecret struct {
	endpoint int
	model.SecretRef
}

// secretUses groups the monitor's references by Secret, in the order the
// monitor names them: one access review and one lookup per Secret.
func secretUses(m *model.Monitor) []secretUse {
	var out []secretUse
	at := map[string]int{}
	for i, ep := range m.Endpoints {
		for _, r := range ep.Secrets {
			j, ok := at[r.Name]
			if !ok {
				j = len(out)
				at[r.Name] = j
				out = append(out, secretUse{name: r.Name})
			}
			out[j].refs = append(out[j].refs, endpointSecret{i, r})
		}
	}
	return out
}

func (u secretUse) endpoints() []int {
	var out []int
	for _, r := range u.refs {
		if len(out) == 0 || out[len(out)-1] != r.endpoint {
			out = append(out, r.endpoint)
		}
	}
	return out
}

// soleJob is the monitor's job when it has exactly one: the job that goes
// blind. With more, they all do, and the finding names no single one.
func soleJob(m *model.Monitor) string {
	if len(m.Endpoints) == 1 {
		return m.Job(0)
	}
	return ""
}

// secretsReadable is TA108: one access review per (service account,
// Secret), asked about get on that name in the monitor's namespace,
// because that is the one request the TA makes. prometheusCR's
// secretNamespaces does not enter into it: it only scopes the TA's watch
// for changes to Secrets, and grants nothing.
func (ev *evaluation) secretsReadable(ctx context.Context, m *model.Monitor, uses []secretUse, tas []*model.Allocator, facts Facts) error {
	var denials []secretDenial
	var errs []error
	for _, a := range tas {
		sa := a.EffectiveServiceAccount()
		d := secretDenial{a: a, sa: sa}
		for _, u := range uses {
			ok, err := facts.MayGetSecret(ctx, a.Ref.Namespace, sa, m.Ref.Namespace, u.name)
			if err != nil {
				// The next review of this account would most likely fail
				// the same way: one error per TA is enough to say so.
				errs = append(errs, fmt.Errorf("access review for %s/%s on Secret %s/%s: %w", a.Ref.Namespace, sa, m.Ref.Namespace, u.name, err))
				break
			}
			if !ok {
				d.uses = append(d.uses, u)
			}
		}
		if len(d.uses) > 0 {
			denials = append(denials, d)
		}
	}
	if len(denials) == 0 {
		if len(errs) == 0 {
			ev.pass(rules.TA108, "", func() string {
				names := make([]string, len(uses))
				for i, u := range uses {
					names[i] = u.name
				}
				return ta108PassText(names)
			})
		}
		return errors.Join(errs...)
	}

	var names []string
	seen := map[string]bool{}
	epSet := map[int]bool{}
	var related []rules.Related
	var secretRefs []model.Ref
	for i := range denials {
		d := &denials[i]
		// A TA of a namespace the reader may not read stays unnamed, and so
		// does its ServiceAccount: the grant is asked of its owners.
		saRef := model.Ref{APIVersion: "v1", Kind: "ServiceAccount", Namespace: d.a.Ref.Namespace, Name: d.sa}
		d.account = saRef
		d.taShown = ev.shows(d.a.Ref)
		d.saShown = d.taShown && ev.shows(saRef)
		if d.taShown {
			related = append(related, rules.Related{Ref: d.a.Ref, Role: rules.RoleReader})
		}
		for _, u := range d.uses {
			if !seen[u.name] {
				seen[u.name] = true
				names = append(names, u.name)
				secretRefs = append(secretRefs, model.Ref{APIVersion: "v1", Kind: "Secret", Namespace: m.Ref.Namespace, Name: u.name})
			}
			for _, e := range u.endpoints() {
				epSet[e] = true
			}
		}
		if d.saShown {
			related = append(related, rules.Related{Ref: saRef, Role: rules.RoleAccount})
		}
	}
	eps := make([]int, 0, len(epSet))
	for e := range epSet {
		eps = append(eps, e)
	}
	sort.Ints(eps)
	what, fix, reasons := ta108Text(denials, m.Ref.Namespace, names, eps)
	f := ev.add(rules.TA108, soleJob(m), "", what, fix)
	f.Field = denials[0].uses[0].refs[0].Field
	f.Related = append(related, rules.RelatedAs(rules.RoleSecret, secretRefs...)...)
	f.Reasons = reasons
	return errors.Join(errs...)
}

// secretDenial is a TA whose service account may not get some of the
// monitor's Secrets (TA108).
type secretDenial struct {
	a    *model.Allocator
	sa   string
	uses []secretUse
	// Once the finding is drawn: the account's ServiceAccount, and whether
	// the reader may see the TA and the account.
	account          model.Ref
	taShown, saShown bool
}

// secretProblem is a Secret the monitor uses that does not exist, or a
// key it names that the Secret does not have (TA109).
type secretProblem struct {
	secret string
	exists bool
	// key is the key missing from a Secret that exists.
	key string
	// keys are, of a Secret that does not exist, the keys the monitor
	// names; of one that does, the keys it has.
	keys []string
	ref  endpointSecret
	eps  []int
	// use holds the references concerned.
	use secretUse
}

// secretsFound is TA109, when ta-guard may look: the Secret exists and has
// every key the monitor names. Without the opt-in the lookups come back
// unchecked and the rule says nothing, neither finding nor pass.
func (ev *evaluation) secretsFound(ctx context.Context, m *model.Monitor, uses []secretUse, facts Facts) error {
	var problems []secretProblem
	var errs []error
	var related []model.Ref
	var checked []string
	for _, u := range uses {
		info, err := facts.LookupSecret(ctx, m.Ref.Namespace, u.name)
		if err != nil {
			errs = append(errs, fmt.Errorf("looking up secret %s/%s: %w", m.Ref.Namespace, u.name, err))
			continue
		}
		if !info.Checked {
			continue
		}
		checked = append(checked, u.name)
		ref := model.Ref{APIVersion: "v1", Kind: "Secret", Namespace: m.Ref.Namespace, Name: u.name}
		if !info.Exists {
			problems = append(problems, secretProblem{
				secret: u.name,
				keys:   u.keys(),
				ref:    u.refs[0],
				eps:    u.endpoints(),
				use:    u,
			})
			related = append(related, ref)
			continue
		}
		has := map[string]bool{}
		for _, k := range info.Keys {
			has[k] = true
		}
		missing := map[string]bool{}
		for _, r := range u.refs {
			if has[r.Key] || missing[r.Key] {
				continue
			}
			missing[r.Key] = true
			var at []endpointSecret
			for _, o := range u.refs {
				if o.Key == r.Key {
					at = append(at, o)
				}
			}
			one := secretUse{name: u.name, refs: at}
			problems = append(problems, secretProblem{
				secret: u.name,
				exists: true,
				key:    r.Key,
				keys:   info.Keys,
				ref:    r,
				eps:    one.endpoints(),
				use:    one,
			})
		}
		if len(missing) > 0 {
			related = append(related, ref)
		}
	}
	if len(problems) == 0 {
		if len(checked) > 0 && len(errs) == 0 {
			ev.pass(rules.TA109, "", func() string { return ta109PassText(checked) })
		}
		return errors.Join(errs...)
	}
	p := problems[0]
	what, fix, reasons := ta109Text(problems, m.Ref.Namespace)
	f := ev.add(rules.TA109, soleJob(m), "", what, fix)
	f.Field = p.ref.Field
	f.Related = rules.RelatedAs(rules.RoleSecret, related...)
	f.Reasons = reasons
	return errors.Join(errs...)
}

func (u secretUse) keys() []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range u.refs {
		if !seen[r.Key] {
			seen[r.Key] = true
			out = append(out, r.Key)
		}
	}
	return out
}
