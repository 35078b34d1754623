package model

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every Secret the Prometheus Operator's asset store gets for an endpoint
// is extracted, with the field that names it; files and ConfigMaps are not.
func TestEndpointSecrets(t *testing.T) {
	tests := []struct {
		name, kind, endpoint string
		want                 []string // "<name>/<key> <field>"
	}{
		{
			name: "none: files, ConfigMaps and plain settings", kind: "ServiceMonitor",
			endpoint: `{port: http, bearerTokenFile: /t, tlsConfig: {caFile: /ca, ca: {configMap: {name: cm, key: ca}}, insecureSkipVerify: true}}`,
			want:     nil,
		},
		{
			name: "basicAuth", kind: "ServiceMonitor",
			endpoint: `{port: http, basicAuth: {username: {name: ba, key: u}, password: {name: ba, key: p}}}`,
			want:     []string{"ba/u spec.endpoints[0].basicAuth.username", "ba/p spec.endpoints[0].basicAuth.password"},
		},
		{
			name: "bearerTokenSecret", kind: "ServiceMonitor",
			endpoint: `{port: http, bearerTokenSecret: {name: tok, key: t}}`,
			want:     []string{"tok/t spec.endpoints[0].bearerTokenSecret"},
		},
		{
			name: "authorization credentials; unnamed ones are skipped as the asset store skips them", kind: "ServiceMonitor",
			endpoint: `{port: http, authorization: {type: Bearer, credentials: {name: auth, key: c}}}`,
			want:     []string{"auth/c spec.endpoints[0].authorization.credentials"},
		},
		{
			name: "authorization without a Secret name", kind: "ServiceMonitor",
			endpoint: `{port: http, authorization: {type: Bearer, credentials: {key: c}}}`,
			want:     nil,
		},
		{
			name: "tlsConfig ca, cert and key as Secrets", kind: "ServiceMonitor",
			endpoint: `{port: https, tlsConfig: {ca: {secret: {name: tls, key: ca.crt}}, cert: {secret: {name: tls, key: tls.crt}}, keySecret: {name: tls, key: tls.key}}}`,
			want: []string{
				"tls/ca.crt spec.endpoints[0].tlsConfig.ca.secret",
				"tls/tls.crt spec.endpoints[0].tlsConfig.cert.secret",
				"tls/tls.key spec.endpoints[0].tlsConfig.keySecret",
			},
		},
		{
			name: "oauth2: client id when a Secret, client secret, its TLS and proxy headers", kind: "ServiceMonitor",
			endpoint: `{port: http, oauth2: {tokenUrl: "https://idp/token", clientId: {secret: {name: oa, key: id}}, clientSecret: {name: oa, key: s},
  tlsConfig: {ca: {secret: {name: idp-ca, key: ca.crt}}}, proxyUrl: "http://proxy:3128", proxyConnectHeader: {X-Auth: [{name: px, key: h}]}}}`,
			want: []string{
				"oa/id spec.endpoints[0].oauth2.clientId.secret",
				"oa/s spec.endpoints[0].oauth2.clientSecret",
				"idp-ca/ca.crt spec.endpoints[0].oauth2.tlsConfig.ca.secret",
				"px/h spec.endpoints[0].oauth2.proxyConnectHeader[X-Auth][0]",
			},
		},
		{
			name: "proxyConnectHeader, header names in order", kind: "ServiceMonitor",
			endpoint: `{port: http, proxyUrl: "http://proxy:3128", proxyConnectHeader: {X-B: [{name: b, key: k}], X-A: [{name: a, key: k}, {name: a2, key: k}]}}`,
			want: []string{
				"a/k spec.endpoints[0].proxyConnectHeader[X-A][0]",
				"a2/k spec.endpoints[0].proxyConnectHeader[X-A][1]",
				"b/k spec.endpoints[0].proxyConnectHeader[X-B][0]",
			},
		},
		{
			name: "PodMonitor: the same references, under podMetricsEndpoints", kind: "PodMonitor",
			endpoint: `{port: http, basicAuth: {password: {name: ba, key: p}}, tlsConfig: {keySecret: {name: k, key: tls.key}, cert: {secret: {name: k, key: tls.crt}}}}`,
			want: []string{
				"ba/p spec.podMetricsEndpoints[0].basicAuth.password",
				"k/tls.crt spec.podMetricsEndpoints[0].tlsConfig.cert.secret",
				"k/tls.key spec.podMetricsEndpoints[0].tlsConfig.keySecret",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list := "endpoints"
			if tt.kind == "PodMonitor" {
				list = "podMetricsEndpoints"
			}
			// A first endpoint without Secrets: the second one's paths must
			// say [1], and the first one must stay empty.
			doc := "metadata: {name: m, namespace: app}\nspec:\n  selector: {}\n  " + list + ":\n  - {port: plain}\n  - " + tt.endpoint + "\n"
			o, err := decodeYAML(t, "monitoring.coreos.com/v1", tt.kind, doc)
			require.NoError(t, err)
			m := o.(*Monitor)
			require.Len(t, m.Endpoints, 2)
			assert.Empty(t, m.Endpoints[0].Secrets)
			var got []string
			for _, r := range m.Endpoints[1].Secrets {
				got = append(got, r.Name+"/"+r.Key+" "+r.Field.String())
			}
			var want []string
			for _, w := range tt.want {
				want = append(want, strings.Replace(w, "spec."+list+"[0]", "spec."+list+"[1]", 1))
			}
			assert.Equal(t, want, got)
		})
	}
}
