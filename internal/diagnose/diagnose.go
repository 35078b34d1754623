// Package diagnose explains a Target Allocator setup the way the
// troubleshooting guide walks it, by hand: is the TA on, is prometheusCR on,
// do mode and receiver fit, which monitors do its selectors read and which do
// they miss, and what each endpoint (each TA job) finds. It runs the rule
// engine for the verdicts and validate.Trace for the facts behind them.
package diagnose

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/ta-guard/ta-guard/pkg/cluster"
	"github.com/ta-guard/ta-guard/pkg/model"
	"github.com/ta-guard/ta-guard/pkg/policy"
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
}

// Failed is the exit status: a finding at or above the threshold, exactly
// as check --fail-on decides it.
func (d *Diagnosis) Failed() bool { return d.Blind || d.AtRisk }

// Step is one link of the chain: ✓ or ✗, what was seen, and for a ✗ the
// rule and the fix.
type Step struct {
	Name   string   `json:"name"`
	OK     bool     `json:"ok"`
	Detail string   `json:"detail"`
	Rule   rules.ID `json:"rule,omitempty"`
	Fix    string   `json:"fix,omitempty"`
}

// Allocator is the diagnosis of one TA.
type Allocator struct {
	Object model.Ref `json:"object"`
	Steps  []Step    `json:"steps"`
	Kinds  []*Kind   `json:"kinds"`
	// Access holds the live checks: monitoring CRDs, service account, RBAC.
	Access []Step `json:"access,omitempty"`
	// TA compares with the running TA's own answers (--ta-url).
	TA    *Comparison `json:"ta,omitempty"`
	Blind bool        `json:"blind"`
}

// Kind is what an allocator does with one monitor kind.
type Kind struct {
	Kind       string    `json:"kind"`
	Selector   Step      `json:"selector"`
	Namespaces Step      `json:"namespaces"`
	Monitors   []Monitor `json:"monitors"`
	// NearMisses are monitors it does not read that no other reader reads,
	// with what keeps them out.
	NearMisses []NearMiss `json:"nearMisses"`
}

// Monitor is a monitor the allocator reads.
type Monitor struct {
	Object    model.Ref  `json:"object"`
	Selects   []string   `json:"selects"`
	Endpoints []Endpoint `json:"endpoints"`
	// Problems are monitor-level findings (TA102, TA105, TA106).
	Problems []Step `json:"problems,omitempty"`
}

// Endpoint is one endpoint: one TA job.
type Endpoint struct {
	Index int    `json:"index"`
	Job   string `json:"job"`
	Port  string `json:"port"`
	// Found lists the Services or Pods where the port is; Unknown those
	// whose Pods the input does not describe (offline).
	Found   []string `json:"found"`
	Unknown []string `json:"unknown,omitempty"`
	OK      bool     `json:"ok"`
	Rule    rules.ID `json:"rule,omitempty"`
	Reason  string   `json:"reason,omitempty"`
	Fix     string   `json:"fix,omitempty"`
	// Targets are the addresses the TA should get (live only).
	Targets []string `json:"targets,omitempty"`
}

// NearMiss is a monitor kept out, and why.
type NearMiss struct {
	Object  model.Ref `json:"object"`
	Reasons []string  `json:"reasons"`
}

// Options select what to diagnose.
type Options struct {
	// Only, when set, restricts the diagnosis to that allocator (by Key()).
	Only *model.Ref
	// Facts enable the live checks.
	Facts validate.Facts
	// Subjects are the objects whose findings decide the verdict (nil: the
	// allocators and the monitors they are shown with).
	Subjects []model.Object
	// Policy and FailOn decide, as for check, which findings count.
	Policy *policy.Policy
	FailOn rules.Action
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
	d := &Diagnosis{Live: opts.Facts != nil, Findings: []rules.Finding{}}
	ix := &findingIndex{byObject: map[string][]rules.Finding{}}
	for _, s := range opts.Subjects {
		fs, err := evaluate(ctx, v, s, opts)
		if err != nil {
			return nil, err
		}
		for _, f := range fs {
			ix.byObject[f.Object.Key()] = append(ix.byObject[f.Object.Key()], f)
		}
		d.Findings = append(d.Findings, fs...)
	}
	shown := map[string]bool{}
	for _, a := range v.Allocators() {
		if opts.Only != nil && ((opts.Only.Kind != "" && a.Ref.Kind != opts.Only.Kind) || a.Ref.Namespace != opts.Only.Namespace || a.Ref.Name != opts.Only.Name) {
			continue
		}
		if !isTA(v, a) && opts.Only == nil {
			continue // a collector without a TA of its own (tracing only, or attached to a TargetAllocator)
		}
		ad, err := diagnoseAllocator(ctx, v, a, opts, ix, shown)
		if err != nil {
			return nil, err
		}
		d.Allocators = append(d.Allocators, ad)
	}
	if opts.Only != nil && len(d.Allocators) == 0 {
		return nil, fmt.Errorf("no OpenTelemetryCollector or TargetAllocator %s", opts.Only.NamespacedName())
	}
	for _, f := range d.Findings {
		if f.Action.Severity() < opts.FailOn.Severity() {
			continue
		}
		if f.AtRisk {
			d.AtRisk = true
		} else {
			d.Blind = true
		}
		if !shown[f.Object.Key()] {
			d.Other = append(d.Other, f)
		}
	}
	if d.Blind {
		d.AtRisk = false
	}
	return d, nil
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

// findingIndex holds the engine's findings by object.
type findingIndex struct {
	byObject map[string][]rules.Finding
}

func (ix *findingIndex) of(ref model.Ref) []rules.Finding { return ix.byObject[ref.Key()] }

func evaluate(ctx context.Context, v cluster.View, obj model.Object, opts Options) ([]rules.Finding, error) {
	req := validate.Request{Operation: validate.Create, Object: obj}
	if opts.Facts == nil {
		return validate.Evaluate(req, v, opts.Policy), nil
	}
	fs, err := validate.EvaluateLive(ctx, req, v, opts.Facts, opts.Policy)
	if err != nil {
		return nil, fmt.Errorf("%s: live checks: %w", obj.GetMeta().Ref, err)
	}
	return fs, nil
}

// AttachTA records a comparison with a running TA; a difference that the
// chain did not already predict makes the allocator blind.
func (d *Diagnosis) AttachTA(a *Allocator, c *Comparison) {
	a.TA = c
	for _, diff := range c.Differences {
		if !strings.HasPrefix(diff.Why, "as predicted") {
			a.Blind = true
			d.Blind = true
			d.AtRisk = false
		}
	}
}

func byRule(fs []rules.Finding) map[rules.ID][]rules.Finding {
	out := map[rules.ID][]rules.Finding{}
	for _, f := range fs {
		out[f.Rule] = append(out[f.Rule], f)
	}
	return out
}

// split turns a finding's message into what is wrong and the fix.
func split(f rules.Finding) (string, string) {
	what := f.Summary()
	if i := strings.Index(what, ": "); i >= 0 {
		what = what[i+2:]
	}
	fix := ""
	if i := strings.Index(f.Message, "\nfix: "); i >= 0 {
		fix = f.Message[i+len("\nfix: "):]
	}
	return what, fix
}

func failStep(name string, f rules.Finding) Step {
	what, fix := split(f)
	return Step{Name: name, OK: false, Detail: what, Rule: f.Rule, Fix: fix}
}

func diagnoseAllocator(ctx context.Context, v cluster.View, a *model.Allocator, opts Options, ix *findingIndex, shown map[string]bool) (*Allocator, error) {
	shown[a.Ref.Key()] = true
	fs := ix.of(a.Ref)
	found := byRule(fs)
	ad := &Allocator{Object: a.Ref}
	step := func(name string, okDetail string, ids ...rules.ID) {
		for _, id := range ids {
			if f := found[id]; len(f) > 0 {
				ad.Steps = append(ad.Steps, failStep(name, f[0]))
				return
			}
		}
		ad.Steps = append(ad.Steps, Step{Name: name, OK: true, Detail: okDetail})
	}

	// 1. The TA itself.
	if a.Standalone {
		if f := found[rules.TA013]; len(f) > 0 {
			ad.Steps = append(ad.Steps, failStep("collectors attached", f[0]))
		} else if cs := validate.AttachedCollectors(v, a); len(cs) > 0 {
			names := make([]string, len(cs))
			for i, c := range cs {
				names[i] = c.Ref.Name
			}
			ad.Steps = append(ad.Steps, Step{Name: "collectors attached", OK: true, Detail: strings.Join(names, ", ")})
		}
	}
	switch {
	case a.Standalone:
		ad.Steps = append(ad.Steps, Step{Name: "target allocator enabled", OK: true, Detail: "standalone TargetAllocator (always on)"})
	case a.Enabled:
		ad.Steps = append(ad.Steps, Step{Name: "target allocator enabled", OK: true, Detail: "spec.targetAllocator.enabled: true"})
	default:
		s := Step{Name: "target allocator enabled", Detail: "spec.targetAllocator.enabled is not true: no TA runs", Rule: rules.TA001,
			Fix: "set spec.targetAllocator.enabled: true"}
		if f := found[rules.TA001]; len(f) > 0 {
			s = failStep(s.Name, f[0])
		} else {
			s.OK, s.Rule, s.Fix = true, "", ""
		}
		ad.Steps = append(ad.Steps, s)
		ad.Blind = !s.OK
		return ad, nil // nothing below runs without a TA
	}
	// 2. Prometheus CR discovery.
	if a.PrometheusCR {
		ad.Steps = append(ad.Steps, Step{Name: "prometheusCR enabled", OK: true, Detail: "prometheusCR.enabled: true"})
	} else {
		s := Step{Name: "prometheusCR enabled", OK: true,
			Detail: fmt.Sprintf("off: the TA serves only its %d static scrape config(s), no ServiceMonitor or PodMonitor", a.ScrapeConfigs)}
		if f := found[rules.TA002]; len(f) > 0 {
			s = failStep(s.Name, f[0])
		}
		ad.Steps = append(ad.Steps, s)
		if f := found[rules.TA006]; len(f) > 0 {
			ad.Steps = append(ad.Steps, failStep("scrape configs", f[0]))
		}
	}
	// 3. Mode, strategy, receiver, namespace filters.
	if !a.Standalone {
		step("mode and allocation strategy", fmt.Sprintf("mode %s, allocationStrategy %s", a.Mode, a.AllocationStrategy), rules.TA004)
		step(`receiver "prometheus" in a metrics pipeline`, "receivers.prometheus is in a metrics pipeline", rules.TA005)
	}
	if f := found[rules.TA007]; len(f) > 0 {
		ad.Steps = append(ad.Steps, failStep("namespace filters", f[0]))
	}
	// Live: what only the API server knows.
	if opts.Facts != nil {
		ad.Access = append(ad.Access, liveStep(found, rules.TA009, "monitoring CRDs served", "ServiceMonitor and PodMonitor are served"))
		if a.ServiceAccount != "" {
			ad.Access = append(ad.Access, liveStep(found, rules.TA010, "service account exists", "ServiceAccount "+a.ServiceAccount+" exists"))
		}
		ad.Access = append(ad.Access, liveStep(found, rules.TA008, "service account permissions",
			"service account "+a.EffectiveServiceAccount()+" holds every permission the TA needs"))
	}
	// 4. Per kind: selectors, scope, monitors read, near misses.
	if a.PrometheusCR {
		for _, k := range model.MonitorKinds {
			ad.Kinds = append(ad.Kinds, diagnoseKind(ctx, v, a, k, found, opts, ix, shown))
		}
	}
	for _, s := range append(append([]Step{}, ad.Steps...), ad.Access...) {
		if !s.OK {
			ad.Blind = true
		}
	}
	for _, k := range ad.Kinds {
		if !k.Selector.OK || len(k.NearMisses) > 0 {
			ad.Blind = true
		}
		for _, m := range k.Monitors {
			if len(m.Problems) > 0 {
				ad.Blind = true
			}
			for _, e := range m.Endpoints {
				if !e.OK {
					ad.Blind = true
				}
			}
		}
	}
	return ad, nil
}

func liveStep(found map[rules.ID][]rules.Finding, id rules.ID, name, ok string) Step {
	if f := found[id]; len(f) > 0 {
		return failStep(name, f[0])
	}
	return Step{Name: name, OK: true, Detail: ok}
}

func diagnoseKind(ctx context.Context, v cluster.View, a *model.Allocator, k model.MonitorKind, found map[rules.ID][]rules.Finding, opts Options, ix *findingIndex, shown map[string]bool) *Kind {
	s := &a.Scopes[k]
	kd := &Kind{Kind: k.String(), Monitors: []Monitor{}, NearMisses: []NearMiss{}}
	field := s.MonitorsField
	switch {
	case s.Monitors.Nothing():
		kd.Selector = Step{Name: field, OK: true, Detail: fmt.Sprintf("unset: under v1beta1 this selects NO %s", k)}
		if f := found[rules.TA003]; len(f) > 0 {
			kd.Selector = Step{Name: field, Detail: kd.Selector.Detail, Rule: rules.TA003,
				Fix: fmt.Sprintf("set %s: {} to read every %s", field, k)}
		}
	case s.Monitors.All():
		kd.Selector = Step{Name: field, OK: true, Detail: fmt.Sprintf("%s: every %s", s.Monitors, k)}
	default:
		kd.Selector = Step{Name: field, OK: true, Detail: fmt.Sprintf("%ss whose labels match %s", k, s.Monitors)}
	}
	var scope []string
	switch {
	case s.OwnNamespace != "":
		scope = append(scope, "only its own namespace "+s.OwnNamespace)
	case s.Namespaces.All():
		scope = append(scope, "all namespaces")
	default:
		scope = append(scope, "namespaces whose labels match "+s.Namespaces.String())
	}
	if s.Allow != nil {
		scope = append(scope, "allowNamespaces: "+model.SetList(s.Allow))
	}
	if s.Deny != nil {
		scope = append(scope, "denyNamespaces: "+model.SetList(s.Deny))
	}
	kd.Namespaces = Step{Name: s.NamespacesField, OK: true, Detail: strings.Join(scope, "; ")}

	// Monitors read.
	if !s.Monitors.Nothing() {
		for _, m := range v.Monitors(k, s.Monitors.Selector()) {
			if a.Reads(m, v.Namespace(m.Ref.Namespace)) {
				kd.Monitors = append(kd.Monitors, diagnoseMonitor(v, m, ix, shown))
			}
		}
	}
	// Near misses: monitors the engine says no TA reads (TA101), closest
	// first; a monitor that opts out of TA101 is meant for no TA.
	type miss struct {
		m *model.Monitor
		n int
	}
	var misses []miss
	for _, m := range v.Monitors(k, labels.Everything()) {
		if !hasRule(ix.of(m.Ref), rules.TA101) {
			continue
		}
		shown[m.Ref.Key()] = true
		misses = append(misses, miss{m, a.Misses(m, v.Namespace(m.Ref.Namespace))})
	}
	sort.SliceStable(misses, func(i, j int) bool { return misses[i].n < misses[j].n })
	for i, mm := range misses {
		if i == maxNearMisses {
			kd.NearMisses = append(kd.NearMisses, NearMiss{Reasons: []string{fmt.Sprintf("and %d more", len(misses)-maxNearMisses)}})
			break
		}
		kd.NearMisses = append(kd.NearMisses, NearMiss{Object: mm.m.Ref, Reasons: a.WhyNot(mm.m, v.Namespace(mm.m.Ref.Namespace))})
	}
	return kd
}

func hasRule(fs []rules.Finding, id rules.ID) bool {
	for _, f := range fs {
		if f.Rule == id {
			return true
		}
	}
	return false
}

func diagnoseMonitor(v cluster.View, m *model.Monitor, ix *findingIndex, shown map[string]bool) Monitor {
	shown[m.Ref.Key()] = true
	tr := validate.Trace(v, m)
	fs := ix.of(m.Ref)
	byJob := map[string]rules.Finding{}
	md := Monitor{Object: m.Ref, Selects: names(tr.Selects), Endpoints: []Endpoint{}}
	for _, f := range fs {
		switch {
		case f.Job != "":
			if _, ok := byJob[f.Job]; !ok {
				byJob[f.Job] = f
			}
		default:
			md.Problems = append(md.Problems, failStep(f.Name, f))
		}
	}
	for _, et := range tr.Endpoints {
		e := Endpoint{Index: et.Index, Job: et.Job, Port: et.Port, Found: names(et.Found), Unknown: names(et.Unknown), Targets: et.Targets}
		e.OK = len(et.Found) > 0 || len(et.Unknown) > 0
		if f, ok := byJob[et.Job]; ok {
			e.OK = false
			e.Rule = f.Rule
			e.Reason, e.Fix = split(f)
		} else if !e.OK && hasRule(fs, rules.TA102) {
			e.Rule = rules.TA102
			e.Reason = "the monitor's selector matches nothing, so this job has no target"
		} else {
			e.OK = true // nothing found, but nothing the input describes says it is missing
		}
		if e.Found == nil {
			e.Found = []string{}
		}
		md.Endpoints = append(md.Endpoints, e)
	}
	return md
}

func names(refs []model.Ref) []string {
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = r.NamespacedName()
	}
	return out
}
