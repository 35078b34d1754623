package validate

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

const (
	// smBasicAuth lives in another namespace than the TA: the TA gets its
	// Secret in app, where its own namespace's grants do not reach.
	smBasicAuth = `
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: sm-auth, namespace: app}
spec:
  selector: {matchLabels: {app: web}}
  endpoints:
  - port: http
    basicAuth:
      username: {name: web-auth, key: user}
      password: {name: web-auth, key: pass}
`
	smTwoEndpoints = `
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: sm-two, namespace: app}
spec:
  selector: {matchLabels: {app: web}}
  endpoints:
  - port: http
    authorization: {credentials: {name: web-token, key: token}}
  - port: https
    tlsConfig:
      ca: {secret: {name: web-tls, key: ca.crt}}
      cert: {secret: {name: web-tls, key: tls.crt}}
      keySecret: {name: web-tls, key: tls.key}
`
	smNoSecrets = `
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: sm-plain, namespace: app}
spec:
  selector: {matchLabels: {app: web}}
  endpoints:
  - port: http
    bearerTokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token
    tlsConfig: {caFile: /etc/ca.crt, insecureSkipVerify: true}
`
	pmOAuth2 = `
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: pm-oauth, namespace: app}
spec:
  selector: {matchLabels: {app: web}}
  podMetricsEndpoints:
  - port: http
    oauth2:
      tokenUrl: https://idp.example/token
      clientId: {configMap: {name: web-oauth, key: id}}
      clientSecret: {name: web-oauth, key: secret}
`
	// taTeam is a standalone TA in its own namespace that reads every
	// ServiceMonitor too.
	taTeam = `
apiVersion: opentelemetry.io/v1alpha1
kind: TargetAllocator
metadata: {name: team-ta, namespace: team}
spec:
  serviceAccount: team-sa
  prometheusCR: {enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}
`
	// taCopy is the TargetAllocator the operator makes for collectorAll's
	// embedded TA: the collector stands for it.
	taCopy = `
apiVersion: opentelemetry.io/v1alpha1
kind: TargetAllocator
metadata: {name: otelcol, namespace: opentelemetry}
spec:
  prometheusCR: {enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}
`
	// collectorLabelled reads only ServiceMonitors labelled team: x.
	collectorLabelled = `
apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: {name: otelcol, namespace: opentelemetry}
spec:
  mode: statefulset
  targetAllocator:
    enabled: true
    prometheusCR: {enabled: true, serviceMonitorSelector: {matchLabels: {team: x}}, podMonitorSelector: {}}
  config:
    receivers: {prometheus: {config: {scrape_configs: []}}}
    service: {pipelines: {metrics: {receivers: [prometheus], exporters: [debug]}}}
`
)

// The collector's TA runs as opentelemetry/otelcol-targetallocator (the
// operator's default name); team-ta as team/team-sa.
const (
	collectorSA = "opentelemetry/otelcol-targetallocator"
	teamSA      = "team/team-sa"
)

func canGet(pairs ...string) map[string]bool {
	m := map[string]bool{}
	for _, p := range pairs {
		m[p] = true
	}
	return m
}

func TestSecretRules(t *testing.T) {
	tests := []struct {
		name    string
		obj     string
		world   []string
		facts   fakeFacts
		want    []string // TA108 / TA109 findings, as ids renders them
		summary string   // the first line kubectl prints, when one finding
		fix     string   // a part of its fix
		reasons []string
		related []string
		wantErr bool
	}{
		{
			name: "no secret reference: nothing asked", obj: smNoSecrets, world: []string{collectorAll},
			facts: fakeFacts{secretErr: errors.New("must not be asked"), lookSecrets: true},
			want:  []string{},
		},
		{
			name: "the TA's service account may get the Secret", obj: smBasicAuth, world: []string{collectorAll},
			facts: fakeFacts{readable: canGet(collectorSA + " app/web-auth")},
			want:  []string{},
		},
		{
			name: "TA108 the TA's service account may not get it", obj: smBasicAuth, world: []string{collectorAll},
			// get in the TA's own namespace is no get in the monitor's
			facts:   fakeFacts{readable: canGet(collectorSA + " opentelemetry/web-auth")},
			want:    []string{"TA108 serviceMonitor/app/sm-auth/0"},
			summary: "TA108 ServiceMonitor app/sm-auth: OpenTelemetryCollector opentelemetry/otelcol's TA may not get Secret web-auth (endpoint 0): it drops the monitor",
			fix:     "grant ServiceAccount opentelemetry/otelcol-targetallocator get on secrets web-auth in namespace app (a Role with resourceNames: [web-auth] and a RoleBinding there); prometheusCR.secretNamespaces grants no access",
			reasons: []string{"OpenTelemetryCollector opentelemetry/otelcol's TA (ServiceAccount opentelemetry/otelcol-targetallocator) may not get Secret app/web-auth: spec.endpoints[0].basicAuth.username, spec.endpoints[0].basicAuth.password"},
			related: []string{"reader OpenTelemetryCollector opentelemetry/otelcol", "account ServiceAccount opentelemetry/otelcol-targetallocator", "secret Secret app/web-auth"},
		},
		{
			name: "two TAs read the monitor, one may not get the Secret", obj: smBasicAuth, world: []string{collectorAll, taTeam},
			facts:   fakeFacts{readable: canGet(collectorSA + " app/web-auth")},
			want:    []string{"TA108 serviceMonitor/app/sm-auth/0"},
			summary: "TA108 ServiceMonitor app/sm-auth: TargetAllocator team/team-ta may not get Secret web-auth (endpoint 0): it drops the monitor",
			fix:     "grant ServiceAccount team/team-sa get on secrets web-auth in namespace app",
			related: []string{"reader TargetAllocator team/team-ta", "account ServiceAccount team/team-sa", "secret Secret app/web-auth"},
		},
		{
			name: "two TAs, neither may: one finding naming both", obj: smBasicAuth, world: []string{collectorAll, taTeam},
			want:    []string{"TA108 serviceMonitor/app/sm-auth/0"},
			summary: "TA108 ServiceMonitor app/sm-auth: OpenTelemetryCollector opentelemetry/otelcol's TA and TargetAllocator team/team-ta may not get Secret web-auth (endpoint 0): they drop the monitor",
			fix:     "otelcol-targetallocator get on secrets web-auth in namespace app (a Role with resourceNames: [web-auth] and a RoleBinding there); grant ServiceAccount team/team-sa",
		},
		{
			name: "both TAs may", obj: smBasicAuth, world: []string{collectorAll, taTeam},
			facts: fakeFacts{readable: canGet(collectorSA+" app/web-auth", teamSA+" app/web-auth")},
			want:  []string{},
		},
		{
			name: "the operator's copy of an embedded TA is judged on its collector", obj: smBasicAuth, world: []string{collectorAll, taCopy},
			want:    []string{"TA108 serviceMonitor/app/sm-auth/0"},
			summary: "TA108 ServiceMonitor app/sm-auth: OpenTelemetryCollector opentelemetry/otelcol's TA may not get Secret web-auth (endpoint 0): it drops the monitor",
		},
		{
			name: "a monitor no TA reads: silent", obj: smBasicAuth, world: []string{collectorLabelled},
			facts: fakeFacts{lookSecrets: true},
			want:  []string{},
		},
		{
			name: "a monitor where there is no TA at all: silent", obj: smBasicAuth,
			facts: fakeFacts{lookSecrets: true},
			want:  []string{},
		},
		{
			name: "TA108 lists every Secret and endpoint it may not get, each reference in the reasons", obj: smTwoEndpoints, world: []string{collectorAll},
			want:    []string{"TA108"}, // two jobs go blind: no single job named
			summary: "TA108 ServiceMonitor app/sm-two: OpenTelemetryCollector opentelemetry/otelcol's TA may not get Secrets web-token, web-tls (endpoints 0, 1): it drops the monitor",
			fix:     "get on secrets web-token, web-tls in namespace app (a Role with resourceNames: [web-token, web-tls]",
			reasons: []string{
				"OpenTelemetryCollector opentelemetry/otelcol's TA (ServiceAccount opentelemetry/otelcol-targetallocator) may not get Secret app/web-token: spec.endpoints[0].authorization.credentials",
				"OpenTelemetryCollector opentelemetry/otelcol's TA (ServiceAccount opentelemetry/otelcol-targetallocator) may not get Secret app/web-tls: spec.endpoints[1].tlsConfig.ca.secret, spec.endpoints[1].tlsConfig.cert.secret, spec.endpoints[1].tlsConfig.keySecret",
			},
		},
		{
			name: "one Secret of two readable: only the other is named", obj: smTwoEndpoints, world: []string{collectorAll},
			facts:   fakeFacts{readable: canGet(collectorSA + " app/web-token")},
			want:    []string{"TA108"},
			summary: "TA108 ServiceMonitor app/sm-two: OpenTelemetryCollector opentelemetry/otelcol's TA may not get Secret web-tls (endpoint 1): it drops the monitor",
		},
		{
			name: "TA108 on a PodMonitor's oauth2 client secret (a ConfigMap client id is no Secret)", obj: pmOAuth2, world: []string{collectorAll},
			want:    []string{"TA108 podMonitor/app/pm-oauth/0"},
			summary: "TA108 PodMonitor app/pm-oauth: OpenTelemetryCollector opentelemetry/otelcol's TA may not get Secret web-oauth (endpoint 0): it drops the monitor",
			reasons: []string{"OpenTelemetryCollector opentelemetry/otelcol's TA (ServiceAccount opentelemetry/otelcol-targetallocator) may not get Secret app/web-oauth: spec.podMetricsEndpoints[0].oauth2.clientSecret"},
		},
		{
			name: "a failing access review is returned, the rest still judged", obj: smBasicAuth, world: []string{collectorAll},
			facts: fakeFacts{secretErr: errors.New("boom"), lookSecrets: true}, want: []string{}, wantErr: true,
		},
		{
			name: "TA109 is not evaluated unless ta-guard may look", obj: smBasicAuth, world: []string{collectorAll},
			facts: fakeFacts{readable: canGet(collectorSA + " app/web-auth")},
			want:  []string{},
		},
		{
			name: "TA109 the Secret does not exist", obj: smBasicAuth, world: []string{collectorAll},
			facts:   fakeFacts{readable: canGet(collectorSA + " app/web-auth"), lookSecrets: true},
			want:    []string{"TA109 serviceMonitor/app/sm-auth/0"},
			summary: "TA109 ServiceMonitor app/sm-auth: Secret web-auth does not exist (endpoint 0): every TA that reads it drops the monitor",
			fix:     "create Secret app/web-auth with keys user, pass, or correct spec.endpoints[0].basicAuth.username",
			related: []string{"secret Secret app/web-auth"},
		},
		{
			name: "TA109 a key is missing", obj: smBasicAuth, world: []string{collectorAll},
			facts: fakeFacts{readable: canGet(collectorSA + " app/web-auth"), lookSecrets: true,
				secrets: map[string][]string{"app/web-auth": {"username", "pass"}}},
			want:    []string{"TA109 serviceMonitor/app/sm-auth/0"},
			summary: `TA109 ServiceMonitor app/sm-auth: Secret web-auth has no key "user" (endpoint 0): every TA that reads it drops the monitor`,
			fix:     `add key "user" to Secret app/web-auth (it has: pass, username), or correct spec.endpoints[0].basicAuth.username`,
		},
		{
			name: "TA109 and TA108 together: missing and not readable", obj: smBasicAuth, world: []string{collectorAll},
			facts: fakeFacts{lookSecrets: true},
			want:  []string{"TA108 serviceMonitor/app/sm-auth/0", "TA109 serviceMonitor/app/sm-auth/0"},
		},
		{
			name: "TA109 several problems in one finding", obj: smTwoEndpoints, world: []string{collectorAll},
			facts: fakeFacts{readable: canGet(collectorSA+" app/web-token", collectorSA+" app/web-tls"), lookSecrets: true,
				secrets: map[string][]string{"app/web-tls": {"tls.crt", "tls.key"}}},
			want:    []string{"TA109"},
			summary: "TA109 ServiceMonitor app/sm-two: Secret web-token does not exist (endpoint 0), and 1 more: every TA that reads it drops the monitor",
			fix:     "create the Secrets and keys listed, or correct the references",
			reasons: []string{
				"Secret web-token does not exist: spec.endpoints[0].authorization.credentials",
				`Secret web-tls has no key "ca.crt": spec.endpoints[1].tlsConfig.ca.secret`,
			},
		},
		{
			name: "every Secret and key there", obj: smTwoEndpoints, world: []string{collectorAll},
			facts: fakeFacts{readable: canGet(collectorSA+" app/web-token", collectorSA+" app/web-tls"), lookSecrets: true,
				secrets: map[string][]string{"app/web-token": {"token"}, "app/web-tls": {"ca.crt", "tls.crt", "tls.key"}}},
			want: []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := store(t, tt.world...)
			req := Request{Operation: Create, Object: object(t, tt.obj)}
			res, err := Evaluate(context.Background(), req, s, Options{Facts: tt.facts})
			if tt.wantErr {
				require.Error(t, err)
			} else {
				require.NoError(t, err)
			}
			var fs []rules.Finding
			for _, f := range res.Findings {
				if f.Rule == rules.TA108 || f.Rule == rules.TA109 {
					fs = append(fs, f)
				}
			}
			require.Equal(t, tt.want, ids(fs), messages(fs))
			if tt.summary != "" {
				assert.Equal(t, tt.summary, fs[0].Summary())
			}
			if tt.fix != "" {
				assert.Contains(t, fs[0].Fix, tt.fix)
			}
			if tt.reasons != nil {
				assert.Equal(t, tt.reasons, fs[0].Reasons)
			}
			if tt.related != nil {
				var got []string
				for _, r := range fs[0].Related {
					got = append(got, string(r.Role)+" "+r.String())
				}
				assert.Equal(t, tt.related, got)
			}
		})
	}
}

// Deleting a monitor blinds nothing, and offline nothing can be asked.
func TestSecretRulesNotRun(t *testing.T) {
	facts := fakeFacts{secretErr: errors.New("must not be asked"), lookSecrets: true}
	s := store(t, collectorAll, smBasicAuth)
	_, err := Evaluate(context.Background(), Request{Operation: Delete, OldObject: object(t, smBasicAuth)}, s, Options{Facts: facts})
	require.NoError(t, err)
	res, err := Evaluate(context.Background(), Request{Operation: Create, Object: object(t, smBasicAuth)}, store(t, collectorAll), Options{})
	require.NoError(t, err)
	for _, f := range res.Findings {
		assert.NotContains(t, []rules.ID{rules.TA108, rules.TA109}, f.Rule)
	}
}

// diagnose shows what passed: both rules record a check when they looked.
func TestSecretRulesTrace(t *testing.T) {
	facts := fakeFacts{readable: canGet(collectorSA + " app/web-auth"), lookSecrets: true,
		secrets: map[string][]string{"app/web-auth": {"user", "pass"}}}
	res, err := Evaluate(context.Background(), Request{Operation: Create, Object: object(t, smBasicAuth)}, store(t, collectorAll), Options{Facts: facts, Trace: true})
	require.NoError(t, err)
	details := map[rules.ID]string{}
	for _, c := range res.Checks {
		if c.Rule == rules.TA108 || c.Rule == rules.TA109 {
			require.True(t, c.Passed(), c.Rule)
			details[c.Rule] = c.Detail
		}
	}
	assert.Equal(t, map[rules.ID]string{
		rules.TA108: "every TA that reads it may get Secret web-auth",
		rules.TA109: "Secret web-auth has every key named",
	}, details)
}

// The rules read the monitor's references as the model extracted them.
func TestSecretUses(t *testing.T) {
	m := object(t, smTwoEndpoints).(*model.Monitor)
	var got []string
	for _, u := range secretUses(m) {
		got = append(got, u.name+": "+secretEndpoints(u.endpoints())+": "+strings.Join(u.keys(), ","))
	}
	assert.Equal(t, []string{"web-token: endpoint 0: token", "web-tls: endpoint 1: ca.crt,tls.crt,tls.key"}, got)
}
