// Package rules is ta-guard's public contract: the rule catalog with its
// stable IDs and names, the actions, and the shape of a finding. kubectl
// warnings, deny messages, `check -o json`, metrics labels and reports all
// use these identifiers.
package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ID is a stable rule identifier such as TA103.
type ID string

// Action is what happens to a finding.
type Action string

const (
	Deny  Action = "deny"
	Warn  Action = "warn"
	Audit Action = "audit"
	Off   Action = "off"
)

// Severity orders actions: deny > warn > audit > off.
func (a Action) Severity() int {
	switch a {
	case Deny:
		return 3
	case Warn:
		return 2
	case Audit:
		return 1
	}
	return 0
}

// Fails reports whether a finding with this action fails a run whose
// threshold is failOn (check --fail-on, diagnose --fail-on, JUnit failures):
// at or above it. Off never fails.
func (a Action) Fails(failOn Action) bool {
	return a.Severity() > 0 && a.Severity() >= failOn.Severity()
}

// Failed reports whether any of the findings fails a run at failOn.
func Failed(fs []Finding, failOn Action) bool {
	for _, f := range fs {
		if f.Action.Fails(failOn) {
			return true
		}
	}
	return false
}

// ParseAction accepts deny, warn, audit and off.
func ParseAction(s string) (Action, error) {
	switch a := Action(strings.ToLower(strings.TrimSpace(s))); a {
	case Deny, Warn, Audit, Off:
		return a, nil
	}
	return "", fmt.Errorf("unknown action %q (want deny, warn, audit or off)", s)
}

// Rule is one entry of the catalog.
type Rule struct {
	ID      ID     `json:"id"`
	Name    string `json:"name"`
	Default Action `json:"defaultAction"`
	// Live rules need the API server (informers, discovery, access reviews);
	// the offline check skips them.
	Live bool `json:"live"`
	// Summary says in a few words when the rule fires.
	Summary string `json:"summary"`
}

// The catalog, as in the rule reference.
const (
	TA001 ID = "TA001"
	TA002 ID = "TA002"
	TA003 ID = "TA003"
	TA004 ID = "TA004"
	TA005 ID = "TA005"
	TA006 ID = "TA006"
	TA007 ID = "TA007"
	TA008 ID = "TA008"
	TA009 ID = "TA009"
	TA010 ID = "TA010"
	TA011 ID = "TA011"
	TA012 ID = "TA012"
	TA013 ID = "TA013"
	TA014 ID = "TA014"
	TA015 ID = "TA015"
	TA016 ID = "TA016"
	TA017 ID = "TA017"
	TA018 ID = "TA018"
	TA101 ID = "TA101"
	TA102 ID = "TA102"
	TA103 ID = "TA103"
	TA104 ID = "TA104"
	TA105 ID = "TA105"
	TA106 ID = "TA106"
	TA107 ID = "TA107"
	TA108 ID = "TA108"
	TA109 ID = "TA109"
	TA110 ID = "TA110"
	TA111 ID = "TA111"
	TA301 ID = "TA301"
	TA302 ID = "TA302"
	TA201 ID = "TA201"
	TA202 ID = "TA202"
)

var catalog = []Rule{
	{TA001, "ta-not-enabled", Warn, false, "a targetAllocator block carries settings but enabled is not true"},
	{TA002, "prometheuscr-not-enabled", Warn, false, "prometheusCR carries settings, or monitors exist for it, but prometheusCR.enabled is not true"},
	{TA003, "monitor-selector-missing", Warn, false, "a v1beta1 serviceMonitorSelector or podMonitorSelector is nil: that kind is never read"},
	{TA004, "mode-incompatible", Warn, false, "the collector mode and allocation strategy do not go together"},
	{TA005, "prometheus-receiver-missing", Warn, false, "no receiver named exactly prometheus, or it is in no metrics pipeline"},
	{TA006, "no-scrape-source", Warn, false, "prometheusCR off and no scrape_configs: the TA refuses to start"},
	{TA007, "namespace-filter-conflict", Warn, false, "allowNamespaces and denyNamespaces both set: the TA refuses to start"},
	{TA008, "service-account-rbac", Warn, true, "the TA service account lacks permissions"},
	{TA009, "monitoring-crds-missing", Warn, true, "prometheusCR on but the API server serves no ServiceMonitor / PodMonitor"},
	{TA010, "service-account-missing", Warn, true, "the TA service account does not exist"},
	{TA011, "monitors-orphaned-by-change", Warn, false, "monitors this TA read before the change are read by no TA after it"},
	{TA012, "target-allocator-not-found", Warn, false, "a collector is attached (label opentelemetry.io/target-allocator) to a TargetAllocator that does not exist in its namespace"},
	{TA013, "target-allocator-unattached", Warn, false, "no collector is attached to a standalone TargetAllocator: its targets go nowhere"},
	{TA014, "no-collector-pods", Warn, true, "the TA has targets to hand out but no collector pod it can see runs in its namespace, or hands them to collector pods that are not Running and Ready"},
	{TA015, "monitors-left-unread", Warn, false, "monitors are read by no TA, and this TA is the closest: their labels miss its selector, or their namespace its namespace selection"},
	{TA016, "placeholder-not-expanded", Warn, false, "a scrape config the TA serves, or a monitor's matchNames, holds a placeholder (${env:X}, $(VAR)) nothing expands: the TA uses the text as written"},
	{TA017, "collector-kubelet-forbidden", Warn, true, "the TA hands kubelet targets to collectors whose service account may not get nodes/metrics: the kubelet answers 403"},
	{TA018, "monitors-read-find-nothing", Warn, false, "the apply that completes monitors' jobs is told they find no target (their TA102, TA103, TA105, TA107 or TA111): a collector or TargetAllocator now reading them, a Service created that they select"},
	{TA101, "monitor-not-selected", Warn, false, "no TA (and no Prometheus) reads this monitor"},
	{TA102, "monitor-matches-nothing", Warn, false, "the monitor's selector matches no Service / Pod in its namespaces"},
	{TA103, "endpoint-port-not-found", Warn, false, "an endpoint's port matches no port of the matched Services or Pods"},
	{TA104, "endpoint-port-numeric", Warn, false, "a ServiceMonitor endpoint's port is a number; port takes a name"},
	{TA105, "namespace-not-found", Warn, false, "namespaceSelector.matchNames names a namespace that does not exist"},
	{TA106, "no-endpoints", Audit, true, "the matched Services have no endpoints, or the matched Pods are all terminated"},
	{TA107, "per-node-target-without-node", Warn, false, "a per-node TA reads the monitor, but its targets run on no node: per-node allocation drops them"},
	{TA108, "secret-not-readable", Warn, true, "a monitor endpoint uses a Secret the TA's service account cannot read in the monitor's namespace: its scrapes fail"},
	{TA109, "secret-not-found", Warn, true, "a monitor endpoint names a Secret, or a key of it, that does not exist"},
	{TA110, "credentials-redacted", Warn, false, "a monitor endpoint's credentials from Secrets, or a scrape config's inline ones, reach the collectors as \"<secret>\": the TA serves them without mTLS"},
	{TA111, "relabelings-drop-all", Warn, false, "an endpoint's relabelings drop the targets of every Service / Pod its monitor matches: its job has no target"},
	{TA201, "service-change-orphans-endpoint", Warn, false, "a Service change leaves a job of a ServiceMonitor a TA reads with no port on any Service"},
	{TA202, "service-port-mismatch", Warn, false, "a ServiceMonitor a TA reads selects this Service, and one of its jobs finds its port on none of the Services it selects"},
	{TA301, "selector-invalid", Warn, false, "a label selector that cannot be parsed: the TA and the Prometheus Operator cannot use it either, so nothing is read through it"},
	{TA302, "too-large-to-judge", Warn, false, "a list or pattern past the limits ta-guard judges (endpoints, port-name patterns, ports): that part was not checked"},
}

// orderDependent are the rules whose finding an object applied a moment
// later can make untrue (or whose absence one applied a moment earlier can
// make true): a GitOps tool applies a set of objects in an order of its
// own, so on these the answer at admission depends on that order. The
// audit's reports are right once everything has arrived; an enforcing
// policy must not deny on them (config/webhook/overlays/enforce).
var orderDependent = map[ID]string{
	TA002: "the monitors it would read may be applied before or after it",
	TA008: "the TA's RBAC may be applied after the collector",
	TA009: "the monitoring CRDs may be installed after the collector",
	TA010: "the TA's ServiceAccount may be applied after the collector",
	TA012: "the TargetAllocator a collector names may come later",
	TA013: "the collectors attached to a TargetAllocator may come later",
	TA014: "the collector pods start a moment after the TA",
	TA015: "the monitors' labels, or the TA that reads them, may come later",
	TA017: "the collector's RBAC may be applied after it",
	TA018: "the Services, Pods or namespaces the monitors need may come later",
	TA101: "the collector that will read the monitor may come later",
	TA102: "the Services / Pods the monitor selects may come later",
	TA103: "the sibling Service that carries the port may come later",
	TA105: "the namespace the monitor names may come later",
	TA106: "endpoints appear once the workload runs",
	TA107: "the Pods behind a target may be scheduled a moment later",
	TA108: "the TA's RBAC for Secrets may be applied after the monitor",
	TA109: "the Secret may be applied after the monitor",
	TA110: "the TA's mtls setting may be applied after the monitor",
	TA111: "the Service / Pod whose labels the relabelings keep may come later",
	TA202: "the Service that carries the monitor's port may come later",
}

// repeats are the rules that tell, on the object applied last, what other
// objects' findings say (TA018): the change itself loses nothing, so they
// are never denied.
var repeats = map[ID]bool{TA018: true}

// Repeats reports whether the rule repeats other objects' findings.
func Repeats(id ID) bool { return repeats[id] }

// OrderDependent reports whether an object applied later can change the
// rule's finding, and which object that is.
func OrderDependent(id ID) (string, bool) {
	why, ok := orderDependent[id]
	return why, ok
}

var byID = func() map[ID]Rule {
	m := make(map[ID]Rule, len(catalog))
	for _, r := range catalog {
		m[r.ID] = r
	}
	return m
}()

// All returns the catalog in ID order.
func All() []Rule { return append([]Rule(nil), catalog...) }

// Lookup returns the rule with that ID.
func Lookup(id ID) (Rule, bool) {
	r, ok := byID[id]
	return r, ok
}

// LiveIDs lists the rules the offline check cannot evaluate.
func LiveIDs() []ID {
	var out []ID
	for _, r := range catalog {
		if r.Live {
			out = append(out, r.ID)
		}
	}
	return out
}

// Finding is one problem with one object. Its JSON form is part of the
// contract (check -o json). Every part is typed; Message is rendered from
// them and never parsed back.
type Finding struct {
	Rule   ID     `json:"rule"`
	Name   string `json:"name"`
	Action Action `json:"action"`
	Object Ref    `json:"object"`
	// Job is the TA job that goes blind, where there is one.
	Job string `json:"job"`
	// AtRisk: nothing is blind yet, but the next object of some kind will
	// be (an unset v1beta1 selector while no monitor of that kind exists).
	AtRisk bool `json:"atRisk,omitempty"`
	// Endpoint is the index of the monitor's endpoint the finding is about,
	// when it is about one (its job is Job).
	Endpoint *int `json:"endpoint,omitempty"`
	// Subject narrows the object to a part of it ("endpoint 1 (job ...)"),
	// in words; for an endpoint it is EndpointSubject's.
	Subject string `json:"subject,omitempty"`
	// What is wrong, in one clause; Fix how to repair it.
	What string `json:"what"`
	Fix  string `json:"fix,omitempty"`
	// Field is the field of Object the finding is about.
	Field *field.Path `json:"-"`
	// Related are the other objects the finding names, each with the part
	// it plays (the closest TA, the ServiceMonitor that selects a Service,
	// a namespace that does not exist, ...).
	Related []Related `json:"related,omitempty"`
	// Closest is, for a monitor no TA reads (TA101), the TA it comes
	// nearest to being read by, when the reader of the finding may see it:
	// diagnose shows the finding under that TA.
	Closest *Ref `json:"closest,omitempty"`
	// Reasons detail What, one clause each (why a reader misses a monitor).
	Reasons []string `json:"reasons,omitempty"`
	// Message: a first line saying what is wrong, under 120 characters where
	// possible, starting with the rule ID; then a line saying how to fix it.
	Message string `json:"message"`
}

// MarshalJSON adds Field in its string form ("spec.endpoints[0].port"),
// after the other keys.
func (f Finding) MarshalJSON() ([]byte, error) {
	type plain Finding // the same fields without this method
	out := struct {
		plain
		Field string `json:"field,omitempty"`
	}{plain: plain(f)}
	if f.Field != nil {
		out.Field = f.Field.String()
	}
	// Escaping is the outer encoder's choice ("<unnamed 80>" stays
	// readable in check -o json): encode here without it.
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// Summary is the first line of the message: what kubectl prints.
func (f Finding) Summary() string {
	if f.Message != "" {
		if i := strings.IndexByte(f.Message, '\n'); i >= 0 {
			return f.Message[:i]
		}
		return f.Message
	}
	var b strings.Builder
	f.summary(&b)
	return b.String()
}

func (f *Finding) summary(b *strings.Builder) {
	b.WriteString(string(f.Rule))
	b.WriteByte(' ')
	b.WriteString(f.Object.String())
	if f.Subject != "" {
		b.WriteByte(' ')
		b.WriteString(f.Subject)
	}
	b.WriteString(": ")
	b.WriteString(f.What)
}

// Render sets Message from the typed fields; call it after changing them.
func (f *Finding) Render() {
	var b strings.Builder
	b.Grow(len(f.Rule) + len(f.Object.Kind) + len(f.Object.Namespace) + len(f.Object.Name) + len(f.Subject) + len(f.What) + len(f.Fix) + 16)
	f.summary(&b)
	if f.Fix != "" {
		b.WriteString("\nfix: ")
		b.WriteString(f.Fix)
	}
	f.Message = b.String()
}

// New builds a finding with the rule's default action and renders its
// message.
func New(id ID, obj Ref, job, subject, what, fix string) Finding {
	f := Draft(id, obj, job, subject, what, fix)
	f.Render()
	return f
}

// Role is the part a related object plays in a finding.
type Role string

const (
	// RoleReader: a TA or Prometheus that reads the monitor, or would.
	RoleReader Role = "reader"
	// RoleMonitor: a monitor the finding is about besides its object (one
	// no TA reads any more, one that selects the Service, ...).
	RoleMonitor Role = "monitor"
	// RoleTarget: a Service or Pod a monitor matches.
	RoleTarget Role = "target"
	// RoleMissing: an object the finding's object names that does not exist.
	RoleMissing Role = "missing"
	// RoleAccount: the ServiceAccount whose permissions are judged.
	RoleAccount Role = "account"
	// RoleSecret: a Secret scrape credentials come from.
	RoleSecret Role = "secret"
	// RoleCollector: a collector the TA feeds.
	RoleCollector Role = "collector"
	// RoleWorkload: what runs a collector's pods.
	RoleWorkload Role = "workload"
)

// Related is an object a finding names, and its role in it.
type Related struct {
	Ref
	Role Role `json:"role"`
}

// RelatedAs gives the objects one role.
func RelatedAs(role Role, refs ...Ref) []Related {
	if len(refs) == 0 {
		return nil
	}
	out := make([]Related, len(refs))
	for i, r := range refs {
		out[i] = Related{Ref: r, Role: role}
	}
	return out
}

// Relates reports whether ref is among the finding's related objects.
func (f *Finding) Relates(ref Ref) bool {
	for _, r := range f.Related {
		if r.Ref == ref {
			return true
		}
	}
	return false
}

// EndpointSubject is the Subject of a finding about a monitor's endpoint.
func EndpointSubject(i int, job string) string {
	return "endpoint " + strconv.Itoa(i) + " (job " + job + ")"
}

// Draft is New without the message, for a caller that sets more fields
// and then calls Render once.
func Draft(id ID, obj Ref, job, subject, what, fix string) Finding {
	r := byID[id]
	return Finding{Rule: id, Name: r.Name, Action: r.Default, Object: obj, Job: job, Subject: subject, What: what, Fix: fix}
}

// Identity names a finding across runs and modes: the same rule about the
// same part of the same object is the same finding, whatever its wording,
// counts or lists say today. The audit keys its first-seen times and
// Events on it, diagnose what it has shown.
type Identity struct {
	Rule   ID
	Object Ref
	// Field is the field path, when the finding has one.
	Field string
	// Job and Subject narrow it to an endpoint or a job.
	Job     string
	Subject string
}

// Identity returns the finding's identity.
func (f Finding) Identity() Identity {
	id := Identity{Rule: f.Rule, Object: f.Object, Job: f.Job, Subject: f.Subject}
	if f.Field != nil {
		id.Field = f.Field.String()
	}
	return id
}

// String renders the identity for keys that must be text (sorting).
func (id Identity) String() string {
	return string(id.Rule) + "|" + id.Object.Key() + "|" + id.Field + "|" + id.Job + "|" + id.Subject
}

// Sort orders findings by object, then rule; findings of one rule keep the
// order they were made in (endpoint order).
func Sort(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Object.Key() != b.Object.Key() {
			return a.Object.Key() < b.Object.Key()
		}
		return a.Rule < b.Rule
	})
}
