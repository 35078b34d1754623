package validate

import (
	"fmt"
	"strings"

	"github.com/ta-guard/ta-guard/pkg/model"
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
// not check the credential, and an operator before v0.153 switched mTLS on
// with its feature gate operator.targetallocator.mtls, which a webhook
// cannot see. It is never denied.

// credentialsFix says how to let the credentials through.
const credentialsFix = "set mtls.enabled: true in the TA's spec (spec.targetAllocator.mtls of a collector, spec.mtls of a TargetAllocator; with cert-manager, or useCertManager: false and your own certificates), or allowInsecureAuthSecrets: true where a service mesh already encrypts the TA's traffic, or use the *_file forms (password_file, credentials_file), which name a file on the collector pod and are not redacted; operators before v0.153 use --feature-gates=operator.targetallocator.mtls instead (if yours does, annotate ta-guard.io/skip: \"TA110\")"

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
	var tas []*model.Allocator
	for _, a := range all {
		if !a.ServesSecrets {
			tas = append(tas, a)
		}
	}
	if len(tas) == 0 {
		if len(all) > 0 {
			ev.pass(rules.TA110, "", func() string {
				return "every TA reading it serves credentials to its collectors (mtls or allowInsecureAuthSecrets)"
			})
		}
		return
	}
	byEndpoint := map[int][]string{}
	var order []int
	for _, r := range redacted {
		if _, ok := byEndpoint[r.endpoint]; !ok {
			order = append(order, r.endpoint)
		}
		byEndpoint[r.endpoint] = append(byEndpoint[r.endpoint], shortField(r.Field))
	}
	for _, i := range order {
		f := ev.add(rules.TA110, m.Job(i), fmt.Sprintf("endpoint %d (job %s)", i, m.Job(i)),
			fmt.Sprintf("TA %s serves %s to its collectors as \"<secret>\": it runs without mTLS, so every scrape of the job sends that text as the credential",
				ev.allocatorNames(tas), strings.Join(byEndpoint[i], ", ")),
			credentialsFix)
		f.Field = m.EndpointPath(i)
		f.AtRisk = true
		f.Related = ev.visibleRefs(refsOf(tas, allocatorRef))
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
	if a.ServesSecrets {
		ev.pass(rules.TA110, "", func() string {
			return "the TA serves its scrape configs' credentials (mtls or allowInsecureAuthSecrets)"
		})
		return
	}
	for _, c := range facts.Credentials {
		f := ev.add(rules.TA110, c.Job, "job "+c.Job,
			fmt.Sprintf("%s reaches the collector as \"<secret>\": the TA serves these scrape configs without mTLS, so every scrape of the job sends that text as the credential", shortField(c.Path)),
			credentialsFix)
		f.Field = c.Path
		f.AtRisk = true
	}
}
