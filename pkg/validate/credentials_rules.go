package validate

import (
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

// The TA serves each job's scrape config to the collectors, and marshals
// every Prometheus Secret in it (a password, credentials, a bearer token, a
// client secret, a proxy header) as "<secret>" unless the collector asks
// over mTLS or the TA is allowed to serve them in the clear (operator
// cmd/otel-allocator/internal/server: ScrapeConfigsHandler; prometheus/common
// config.Secret). The collector takes "<secret>" as the value and every
// scrape goes out with it: a target that checks it answers 401.
//
// TA110 is a risk, never a loss ta-guard can be certain of: a target may
// not check the credential. It is never denied. An operator before v0.153
// switched mTLS on for all its TAs with its feature gate
// operator.targetallocator.mtls: the rule reads it from the operator's Pods
// (offline, its Deployment), found by their app.kubernetes.io/name label,
// and stays silent where one may have the gate on. Where none is in view,
// it says that it could not tell.

// maxOperatorPods bounds the operator Pods read: anyone may label a Pod so.
const maxOperatorPods = 20

// operatorGate reads the OpenTelemetry Operator Pods in view: the first
// that may run its TAs with mTLS by feature gate (nil if none), and
// whether any operator is in view at all. Memoized.
func (ev *evaluation) operatorGate() (gated *model.Pod, seen bool) {
	if ev.gate == nil {
		ev.gate = &gateFacts{}
		pods := ev.after.Pods(model.NamespaceSet{All: true}, labels.SelectorFromSet(labels.Set{model.OperatorNameLabel: model.OperatorName}))
		for i, p := range pods {
			if i == maxOperatorPods {
				break
			}
			if p.OTelOperator == nil {
				continue
			}
			ev.gate.seen = true
			if p.OTelOperator.MTLSGate {
				ev.gate.gated = p
				break
			}
		}
	}
	return ev.gate.gated, ev.gate.seen
}

// gateFacts memoizes operatorGate.
type gateFacts struct {
	gated *model.Pod
	seen  bool
}

// redactingTAs returns of the TAs those that serve credentials redacted,
// and the fix to give; none, with a passed check, when every one serves
// them or an operator may by its feature gate.
func (ev *evaluation) redactingTAs(tas []*model.Allocator) ([]*model.Allocator, string) {
	var out []*model.Allocator
	for _, a := range tas {
		if !a.ServesSecrets {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		if len(tas) > 0 {
			ev.pass(rules.TA110, "", ta110PassText)
		}
		return nil, ""
	}
	gated, seen := ev.operatorGate()
	if gated != nil {
		ev.pass(rules.TA110, "", func() string { return ta110GatedText(gated.Ref) })
		return nil, ""
	}
	return out, ta110Fix(seen)
}

// monitorCredentials is TA110 for a ServiceMonitor or PodMonitor whose
// endpoints take credentials from Secrets while a TA that reads it serves
// them redacted.
func (ev *evaluation) monitorCredentials(m *model.Monitor) {
	var redacted []endpointSecret
	for i, ep := range m.Endpoints {
		for _, s := range ep.Secrets {
			if s.Redacted {
				redacted = append(redacted, endpointSecret{endpoint: i, SecretRef: s})
			}
		}
	}
	if len(redacted) == 0 {
		return
	}
	all, _ := ev.allocatorsReading(m)
	tas, fix := ev.redactingTAs(all)
	if len(tas) == 0 {
		return
	}
	byEndpoint := map[int][]*field.Path{}
	var order []int
	for _, r := range redacted {
		if _, ok := byEndpoint[r.endpoint]; !ok {
			order = append(order, r.endpoint)
		}
		byEndpoint[r.endpoint] = append(byEndpoint[r.endpoint], r.Field)
	}
	for _, i := range order {
		f := ev.addEndpoint(rules.TA110, m, i, ta110MonitorText(ev, tas, byEndpoint[i]), fix)
		f.Field = m.EndpointPath(i)
		f.AtRisk = true
		f.Related = ev.related(rules.RoleReader, refsOf(tas, allocatorRef))
	}
}

// collectorCredentials is TA110 for the inline credentials of the scrape
// configs a TA serves: a collector's own scrape_configs, served by its
// embedded TA, or a TargetAllocator's spec.scrapeConfigs.
func (ev *evaluation) collectorCredentials(a *model.Allocator) {
	facts := a.Served()
	if facts == nil || len(facts.Credentials) == 0 {
		return
	}
	tas, fix := ev.redactingTAs([]*model.Allocator{a})
	if len(tas) == 0 {
		return
	}
	for _, c := range facts.Credentials {
		subject, what := ta110ServedText(c.Job, c.Path)
		f := ev.add(rules.TA110, c.Job, subject, what, fix)
		f.Field = c.Path
		f.AtRisk = true
	}
}
