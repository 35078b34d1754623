// Package diagnose explains a Target Allocator setup the way the
// troubleshooting guide walks it, by hand: is the TA on, is prometheusCR on,
// do mode and receiver fit, which monitors do its selectors read and which do
// they miss, and what each endpoint (each TA job) finds. It is a projection
// of the rule engine's answer: every ✗ is an engine finding, every ✓ a check
// the engine made and passed; it decides nothing itself.
package diagnose

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/ta-guard/ta-guard/internal/cluster"
	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/internal/policy"
	"github.com/ta-guard/ta-guard/pkg/rules"
	"github.com/ta-guard/ta-guard/pkg/validate"
)

// Diagnosis is the whole answer.
type Diagnosis struct {
	Allocators []*Allocator `json:"allocators"`
	// Findings are the engine's findings over the whole view, policy
	// applied: the diagnosis shows them, it never adds a verdict of its own.
	Findings []rules.Finding `json:"findings"`
	// Other are the findings the allocator trees do not show (a Service's,
	// a monitor no diagnosed TA reads).
	Other []rules.Finding `json:"other,omitempty"`
	// Blind is true when some finding at or above FailOn says that something
	// meant for a TA is not scraped now; AtRisk when every such finding only
	// says it will not be (an unset selector while no monitor of that kind
	// exists yet).
	Blind  bool `json:"blind"`
	AtRisk bool `json:"atRisk"`
	// Live tells whether the facts came from a live cluster.
	Live bool `json:"live"`
	// Unchecked says what could not be checked (offline: the live rules,
	// the namespaces the input does not describe): an OK verdict holds for
	// the rest only.
	Unchecked []string `json:"unchecked,omitempty"`
	// Policy says which policy judged the findings, when the caller says
	// (live: the one the webhook runs with).
	Policy string `json:"policy,omitempty"`
}

// Failed is the exit status: a finding at or above the threshold, exactly
// as check --fail-on decides it.
func (d *Diagnosis) Failed() bool { return d.Blind || d.AtRisk }

// Step is one link of the chain: ✓ or ✗, what was seen, and for a ✗ the
// rule and the fix.
type Step struct {
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	// Off: the check failed but the policy or ta-guard.io/skip turned its
	// finding off.
	Off    bool     `json:"off,omitempty"`
	Detail string   `json:"detail"`
	Rule   rules.ID `json:"rule,omitempty"`
	// Action is the finding's action, policy applied (✗ only).
	Action rules.Action `json:"action,omitempty"`
	Fix    string       `json:"fix,omitempty"`
}

// Allocator is the diagnosis of one TA.
type Allocator struct {
	Object model.Ref `json:"object"`
	Steps  []Step    `json:"steps"`
	Kinds  []*Kind   `json:"kinds"`
	// Access holds the live checks: monitoring CRDs, service account, RBAC.
	Access []Step `json:"access,omitempty"`
	// TA compares with the running TA's own answers (--ta-url).
	TA *Comparison `json:"ta,omitempty"`
	// Blind: a finding at or above the threshold is shown in this tree.
	Blind bool `json:"blind"`
}

// Kind is what an allocator does with one monitor kind.
type Kind struct {
	Kind       string    `json:"kind"`
	Selector   Step      `json:"selector"`
	Namespaces Step      `json:"namespaces"`
	Monitors   []Monitor `json:"monitors"`
	// NearMisses are the TA101 findings of monitors no reader reads whose
	// closest TA is this one, with what keeps them out.
	NearMisses []NearMiss `json:"nearMisses"`
}

// Monitor is a monitor the allocator reads.
type Monitor struct {
	Object    model.Ref  `json:"object"`
	Selects   []string   `json:"selects"`
	Endpoints []Endpoint `json:"endpoints"`
	// Problems are the monitor's findings that concern no single job
	// (TA102, TA105, TA106).
	Problems []Step `json:"problems,omitempty"`
}

// Endpoint is one endpoint: one TA job.
type Endpoint struct {
	Index int    `json:"index"`
	Job   string `json:"job"`
	Port  string `json:"port"`
	// Found lists the Services or Pods where the port is; Unknown those
	// whose Pods the input does not describe (offline).
	Found   []string     `json:"found"`
	Unknown []string     `json:"unknown,omitempty"`
	OK      bool         `json:"ok"`
	Rule    rules.ID     `json:"rule,omitempty"`
	Action  rules.Action `json:"action,omitempty"`
	Reason  string       `json:"reason,omitempty"`
	Fix     string       `json:"fix,omitempty"`
	// Targets are the addresses the TA should get (live only).
	Targets []string `json:"targets,omitempty"`
	// Own: the targets are the monitor's own (ScrapeConfig, Probe).
	Own bool `json:"own,omitempty"`
	// Off: a check of the job failed, but the policy or ta-guard.io/skip
	// turned it off (Rule says which).
	Off bool `json:"off,omitempty"`
}

// NearMiss is a monitor kept out, and why.
type NearMiss struct {
	Object  model.Ref    `json:"object"`
	Action  rules.Action `json:"action,omitempty"`
	Reasons []string     `json:"reasons"`
}

// Options select what to diagnose.
type Options struct {
	// Only, when set, restricts the diagnosis to that allocator (by Key()).
	Only *model.Ref
	// Namespace, when set, restricts it to the TAs of that namespace (-n).
	Namespace string
	// Facts enable the live checks.
	Facts validate.Facts
	// Subjects are the objects the engine reviews (nil: everything the view
	// holds); their findings decide the verdict.
	Subjects []model.Object
	// Policy and FailOn decide, as for check, which findings count.
	Policy *policy.Policy
	FailOn rules.Action
	// PolicySource says where Policy came from (Diagnosis.Policy).
	PolicySource string
	// Undescribed are namespaces the input's monitors look in without
	// describing them ("*": every other namespace), offline.
	Undescribed []string
}

const maxNearMisses = 10

// Run diagnoses every allocator of the view (or the one asked for). The
// verdict is the engine's: some finding at or above FailOn.
func Run(ctx context.Context, v cluster.View, opts Options) (*Diagnosis, error) {
	if opts.FailOn == "" {
		opts.FailOn = rules.Audit
	}
	if opts.Subjects == nil {
		opts.Subjects = subjectsOf(v)
	}
	d := &Diagnosis{Live: opts.Facts != nil, Findings: []rules.Finding{}, Policy: opts.PolicySource}
	if !d.Live {
		ids := make([]string, 0, len(rules.LiveIDs()))
		for _, id := range rules.LiveIDs() {
			ids = append(ids, string(id))
		}
		d.Unchecked = append(d.Unchecked, "the live rules "+strings.Join(ids, ", ")+": they need the API server (diagnose without -f)")
	}
	if len(opts.Undescribed) > 0 {
		names := strings.ReplaceAll(strings.Join(opts.Undescribed, ", "), "*", "all others")
		d.Unchecked = append(d.Unchecked, "what monitors find in namespaces the input does not describe ("+names+"): their Services, Pods and ports")
	}
	r := &run{v: v, opts: opts, results: map[string]*validate.Result{}, shown: map[rules.Identity]bool{}}
	for _, s := range opts.Subjects {
		res, err := r.evaluate(ctx, s)
		if err != nil {
			return nil, err
		}
		d.Findings = append(d.Findings, res.Findings...)
	}
	for _, a := range v.Allocators() {
		if opts.Only != nil && ((opts.Only.Kind != "" && a.Ref.Kind != opts.Only.Kind) || a.Ref.Namespace != opts.Only.Namespace || a.Ref.Name != opts.Only.Name) {
			continue
		}
		if !isTA(v, a) && opts.Only == nil {
			continue // a collector without a TA of its own (tracing only, or attached to a TargetAllocator)
		}
		ad, err := r.allocator(ctx, a, d.Findings)
		if err != nil {
			return nil, err
		}
		d.Allocators = append(d.Allocators, ad)
	}
	if opts.Only != nil && len(d.Allocators) == 0 {
		return nil, fmt.Errorf("no OpenTelemetryCollector or TargetAllocator %s", opts.Only.NamespacedName())
	}
	for _, f := range d.Findings {
		if !r.shown[f.Identity()] {
			d.Other = append(d.Other, f)
		}
	}
	if opts.Namespace != "" {
		d.narrow(opts.Namespace, opts.FailOn)
	} else {
		d.judge(opts.FailOn)
	}
	return d, nil
}

// judge is the verdict: some finding at or above failOn; blind when one
// says something is not scraped now, at risk when every one only says the
// next object of a kind will not be.
func (d *Diagnosis) judge(failOn rules.Action) {
	d.Blind, d.AtRisk = false, false
	for _, f := range d.Findings {
		if !f.Action.Fails(failOn) {
			continue
		}
		if f.AtRisk {
			d.AtRisk = true
		} else {
			d.Blind = true
		}
	}
	if d.Blind {
		d.AtRisk = false
	}
}

// narrow keeps the TAs of one namespace, as -n narrows kubectl get. The
// engine ran over the whole cluster, so a TA's tree keeps the monitors of
// other namespaces it reads; only the findings on objects elsewhere no
// longer decide the verdict, except those a kept tree shows blind.
func (d *Diagnosis) narrow(ns string, failOn rules.Action) {
	var kept []*Allocator
	for _, a := range d.Allocators {
		if a.Object.Namespace == ns {
			kept = append(kept, a)
		}
	}
	d.Allocators = kept
	own := func(fs []rules.Finding) []rules.Finding {
		out := []rules.Finding{}
		for _, f := range fs {
			if f.Object.Namespace == ns {
				out = append(out, f)
			}
		}
		return out
	}
	d.Findings, d.Other = own(d.Findings), own(d.Other)
	d.judge(failOn)
	for _, a := range kept {
		if a.Blind && !d.Failed() {
			d.Blind = true
		}
	}
}

// run holds the engine's results of one diagnosis, by subject.
type run struct {
	v       cluster.View
	opts    Options
	results map[string]*validate.Result
	// shown are the findings the allocator trees show.
	shown map[rules.Identity]bool
}

func (r *run) evaluate(ctx context.Context, obj model.Object) (*validate.Result, error) {
	key := obj.GetMeta().Ref.Key()
	if res, ok := r.results[key]; ok {
		return res, nil
	}
	res, err := validate.Evaluate(ctx, validate.Request{Operation: validate.Create, Object: obj}, r.v,
		validate.Options{Facts: r.opts.Facts, Policy: r.opts.Policy, Trace: true})
	if err != nil {
		return nil, fmt.Errorf("%s: live checks: %w", obj.GetMeta().Ref, err)
	}
	r.results[key] = &res
	return &res, nil
}

// isTA reports whether an allocator is a TA to diagnose: a standalone
// TargetAllocator (not the operator's copy of an embedded one), or a
// collector whose targetAllocator block is enabled or carries settings.
func isTA(v cluster.View, a *model.Allocator) bool {
	if a.Standalone {
		return !validate.EmbeddedCopy(v, a)
	}
	return !a.Attached() && (a.Enabled || len(a.Settings) > 0)
}

// subjectsOf lists what a view holds for the rules to review: its
// allocators, monitors and Services.
func subjectsOf(v cluster.View) []model.Object {
	var out []model.Object
	for _, a := range v.Allocators() {
		out = append(out, a)
	}
	for _, k := range model.MonitorKinds {
		for _, m := range v.Monitors(k, labels.Everything()) {
			out = append(out, m)
		}
	}
	for _, svc := range v.Services(model.NamespaceSet{All: true}, labels.Everything()) {
		out = append(out, svc)
	}
	return out
}

// Compare's differences are reported beside the chain, never judged: they
// show what ta-guard could not see (objects outside the input, a TA that has
// not caught up), and the verdict stays the engine's.
func (d *Diagnosis) AttachTA(a *Allocator, c *Comparison) { a.TA = c }

// step renders one check: ✓ with what was seen, ✗ with the finding's what
// and fix.
func (r *run) step(name string, c validate.Check) Step {
	switch {
	case c.Finding != nil:
		r.shown[c.Finding.Identity()] = true
		return Step{Name: name, Detail: c.Finding.What, Rule: c.Rule, Action: c.Finding.Action, Fix: c.Finding.Fix}
	case c.Off:
		return Step{Name: name, OK: true, Off: true, Detail: offReason, Rule: c.Rule}
	}
	return Step{Name: name, OK: true, Detail: c.Detail}
}

// checks indexes a result's checks by rule and monitor kind.
type checks map[checkKey][]validate.Check

type checkKey struct {
	rule        rules.ID
	monitorKind string
	scope       bool
}

func indexChecks(res *validate.Result) checks {
	out := checks{}
	for _, c := range res.Checks {
		k := checkKey{c.Rule, c.MonitorKind, c.Scope}
		out[k] = append(out[k], c)
	}
	return out
}

func (cs checks) of(id rules.ID, monitorKind string) []validate.Check {
	return cs[checkKey{rule: id, monitorKind: monitorKind}]
}

// scope is the allocator's namespace scope for a monitor kind.
func (cs checks) scope(monitorKind string) []validate.Check {
	return cs[checkKey{monitorKind: monitorKind, scope: true}]
}

// allocatorSteps are the allocator's checks in the order of the guide, with
// the name each step has there.
var allocatorSteps = []struct {
	rule rules.ID
	name string
}{
	{rules.TA013, "collectors attached"},
	{rules.TA001, "target allocator enabled"},
	{rules.TA002, "prometheusCR enabled"},
	{rules.TA006, "scrape configs"},
	{rules.TA004, "mode and allocation strategy"},
	{rules.TA005, `receiver "prometheus" in a metrics pipeline`},
	{rules.TA007, "namespace filters"},
	{rules.TA015, "monitors in its namespaces read"},
}

var accessSteps = []struct {
	rule rules.ID
	name string
}{
	{rules.TA009, "monitoring CRDs served"},
	{rules.TA010, "service account exists"},
	{rules.TA008, "service account permissions"},
}

func (r *run) allocator(ctx context.Context, a *model.Allocator, all []rules.Finding) (*Allocator, error) {
	res, err := r.evaluate(ctx, a)
	if err != nil {
		return nil, err
	}
	cs := indexChecks(res)
	ad := &Allocator{Object: a.Ref}
	for _, st := range allocatorSteps {
		for _, c := range cs.of(st.rule, "") {
			ad.Steps = append(ad.Steps, r.step(st.name, c))
		}
	}
	for _, st := range accessSteps {
		for _, c := range cs.of(st.rule, "") {
			ad.Access = append(ad.Access, r.step(st.name, c))
		}
	}
	if a.Enabled && a.PrometheusCR {
		for _, k := range model.MonitorKinds {
			if !k.SelectsWorkloads() && len(cs.of(rules.TA003, k.String())) == 0 {
				continue // no selector for it and nothing of the kind to be blind to
			}
			kd, err := r.kind(ctx, a, k, res, cs, all)
			if err != nil {
				return nil, err
			}
			ad.Kinds = append(ad.Kinds, kd)
		}
	}
	// The engine's findings on this allocator that no step shows (a rule
	// added later) still belong to its tree.
	for _, f := range res.Findings {
		if !r.shown[f.Identity()] {
			ad.Steps = append(ad.Steps, r.step(f.Name, validate.Check{Rule: f.Rule, Finding: &f}))
		}
	}
	ad.Blind = r.blind(ad)
	return ad, nil
}

// blind: some finding at or above the threshold is shown in the tree.
func (r *run) blind(ad *Allocator) bool {
	counts := func(a rules.Action) bool { return a.Fails(r.opts.FailOn) }
	for _, s := range append(append([]Step{}, ad.Steps...), ad.Access...) {
		if !s.OK && counts(s.Action) {
			return true
		}
	}
	for _, k := range ad.Kinds {
		if !k.Selector.OK && counts(k.Selector.Action) {
			return true
		}
		for _, nm := range k.NearMisses {
			if counts(nm.Action) {
				return true
			}
		}
		for _, m := range k.Monitors {
			for _, p := range m.Problems {
				if !p.OK && counts(p.Action) {
					return true
				}
			}
			for _, e := range m.Endpoints {
				if !e.OK && counts(e.Action) {
					return true
				}
			}
		}
	}
	return false
}

func (r *run) kind(ctx context.Context, a *model.Allocator, k model.MonitorKind, res *validate.Result, cs checks, all []rules.Finding) (*Kind, error) {
	s := &a.Scopes[k]
	kd := &Kind{Kind: k.String(), Monitors: []Monitor{}, NearMisses: []NearMiss{}}
	for _, c := range cs.of(rules.TA003, k.String()) {
		kd.Selector = r.step(s.MonitorsField.String(), c)
	}
	for _, c := range cs.scope(k.String()) {
		kd.Namespaces = r.step(s.NamespacesField.String(), c)
	}
	for _, m := range res.Reads {
		if m.Kind != k {
			continue
		}
		md, err := r.monitor(ctx, m)
		if err != nil {
			return nil, err
		}
		kd.Monitors = append(kd.Monitors, md)
	}
	// Near misses: the TA101 findings whose closest TA is this one.
	var misses []rules.Finding
	for _, f := range all {
		if f.Rule == rules.TA101 && f.Object.Kind == k.String() && f.Closest != nil && *f.Closest == a.Ref {
			misses = append(misses, f)
			r.shown[f.Identity()] = true
		}
	}
	for i, f := range misses {
		if i == maxNearMisses {
			kd.NearMisses = append(kd.NearMisses, NearMiss{Reasons: []string{fmt.Sprintf("and %d more", len(misses)-maxNearMisses)}})
			break
		}
		kd.NearMisses = append(kd.NearMisses, NearMiss{Object: f.Object, Action: f.Action, Reasons: f.Reasons})
	}
	return kd, nil
}

func (r *run) monitor(ctx context.Context, m *model.Monitor) (Monitor, error) {
	res, err := r.evaluate(ctx, m)
	if err != nil {
		return Monitor{}, err
	}
	md := Monitor{Object: m.Ref, Endpoints: []Endpoint{}}
	byJob := map[string]*rules.Finding{}
	for i := range res.Findings {
		f := &res.Findings[i]
		switch {
		case f.Job != "":
			if _, ok := byJob[f.Job]; !ok {
				byJob[f.Job] = f
			}
		case f.Rule == rules.TA101:
			// shown under the TA it is closest to, among the near misses
		default:
			md.Problems = append(md.Problems, r.step(f.Name, validate.Check{Rule: f.Rule, Finding: f}))
		}
	}
	tr := res.Monitor
	if tr == nil {
		return md, nil
	}
	md.Selects = names(tr.Selects)
	offByJob := map[string]rules.ID{}
	for _, c := range res.Checks {
		if _, seen := offByJob[c.Job]; c.Off && c.Job != "" && !seen {
			offByJob[c.Job] = c.Rule
		}
	}
	for _, et := range tr.Endpoints {
		e := Endpoint{Index: et.Index, Job: et.Job, Port: et.Port, Found: names(et.Found), Unknown: names(et.Unknown), Targets: et.Targets, Own: et.Own, OK: true}
		if f, ok := byJob[et.Job]; ok {
			r.shown[f.Identity()] = true
			e.OK, e.Rule, e.Action, e.Reason, e.Fix = false, f.Rule, f.Action, f.What, f.Fix
		} else if id, ok := offByJob[et.Job]; ok {
			e.Off, e.Rule, e.Reason = true, id, offReason
		}
		md.Endpoints = append(md.Endpoints, e)
	}
	for _, f := range byJob {
		r.shown[f.Identity()] = true
	}
	return md, nil
}

func names(refs []model.Ref) []string {
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = r.NamespacedName()
	}
	return out
}

// offReason says why a failed check shows no ✗.
var offReason = "failed, but turned off by the policy or " + policy.SkipAnnotation
