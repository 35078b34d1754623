package validate

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ta-guard/ta-guard/internal/policy"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

// TA110: credentials the TA serves as "<secret>" (no mTLS), for a monitor's
// Secrets and a collector's inline scrape config credentials.
func TestCredentialsRedacted(t *testing.T) {
	ta := func(name, extra string) string {
		return "apiVersion: opentelemetry.io/v1alpha1\nkind: TargetAllocator\nmetadata: {name: " + name + ", namespace: team}\nspec:\n  prometheusCR: {enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}\n" + extra
	}
	embedded := func(extra string) string {
		return collector("  mode: statefulset\n  targetAllocator: {enabled: true, prometheusCR: {enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}" + extra + "}\n" + goodConfig)
	}
	tests := []struct {
		name     string
		obj      string
		world    []string
		want     []string
		contains string
	}{
		{name: "basicAuth password read by a TA without mTLS", obj: smBasicAuth, world: []string{ta("team-ta", "")},
			want:     []string{"TA110 serviceMonitor/app/sm-auth/0"},
			contains: `TA team/team-ta serves endpoints[0].basicAuth.password to its collectors as "<secret>"`},
		{name: "with mtls.enabled", obj: smBasicAuth, world: []string{ta("team-ta", "  mtls: {enabled: true}\n")}, want: []string{}},
		{name: "with allowInsecureAuthSecrets", obj: smBasicAuth, world: []string{ta("team-ta", "  allowInsecureAuthSecrets: true\n")}, want: []string{}},
		{name: "mtls written but off", obj: smBasicAuth, world: []string{ta("team-ta", "  mtls: {enabled: false}\n")}, want: []string{"TA110 serviceMonitor/app/sm-auth/0"}},
		{name: "one of two readers without mTLS", obj: smBasicAuth, world: []string{ta("team-ta", "  mtls: {enabled: true}\n"), ta("other-ta", "")},
			want: []string{"TA110 serviceMonitor/app/sm-auth/0"}, contains: "TA team/other-ta serves"},
		{name: "an embedded TA without mTLS", obj: smBasicAuth, world: []string{embedded("")}, want: []string{"TA110 serviceMonitor/app/sm-auth/0"}},
		{name: "an embedded TA with mTLS", obj: smBasicAuth, world: []string{embedded(", mtls: {enabled: true}")}, want: []string{}},
		{name: "authorization credentials; TLS keys are not redacted", obj: smTwoEndpoints, world: []string{ta("team-ta", "")},
			want: []string{"TA110 serviceMonitor/app/sm-two/0"}, contains: "serves endpoints[0].authorization.credentials"},
		{name: "an oauth2 client secret", obj: pmOAuth2, world: []string{ta("team-ta", "")},
			want: []string{"TA110 podMonitor/app/pm-oauth/0"}, contains: "serves podMetricsEndpoints[0].oauth2.clientSecret"},
		{name: "files only", obj: smNoSecrets, world: []string{ta("team-ta", "")}, want: []string{}},
		{name: "read by no TA", obj: smBasicAuth, want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := only(offline(t, Request{Operation: Create, Object: object(t, tt.obj)}, store(t, tt.world...), nil), rules.TA110)
			assert.Equal(t, tt.want, ids(fs), messages(fs))
			for _, f := range fs {
				assert.True(t, f.AtRisk, "a target may not check the credential: TA110 is a risk")
			}
			if tt.contains != "" {
				assert.Contains(t, messages(fs), tt.contains)
			}
		})
	}
}

// TA110 under operators before v0.153, which switched mTLS on for every TA
// with the feature gate operator.targetallocator.mtls: read from the
// operator's Deployment (live, its Pods).
func TestCredentialsRedactedOperatorGate(t *testing.T) {
	ta := "apiVersion: opentelemetry.io/v1alpha1\nkind: TargetAllocator\nmetadata: {name: team-ta, namespace: team}\nspec:\n  prometheusCR: {enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}\n"
	operator := func(image, container string) string {
		return `apiVersion: apps/v1
kind: Deployment
metadata: {name: opentelemetry-operator, namespace: otel-system}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: opentelemetry-operator}}
  template:
    metadata: {labels: {app.kubernetes.io/name: opentelemetry-operator, app.kubernetes.io/component: controller-manager}}
    spec:
      containers:
      - name: manager
        image: ` + image + "\n" + container
	}
	const old = "ghcr.io/open-telemetry/opentelemetry-operator/opentelemetry-operator:0.152.0"
	gateOn := "        args: [--metrics-addr=127.0.0.1:8080, --feature-gates=+operator.targetallocator.mtls,-operator.collector.default.config]\n"
	tests := []struct {
		name    string
		world   []string
		finding bool
		unknown bool // the fix says the gate could not be read
	}{
		{name: "no operator in view", finding: true, unknown: true},
		{name: "v0.152 with the gate on", world: []string{operator(old, gateOn)}},
		{name: "v0.152 without it", world: []string{operator(old, "        args: [--enable-leader-election]\n")}, finding: true},
		{name: "the gate turned off again", world: []string{operator(old, "        args: [--feature-gates=operator.targetallocator.mtls, --feature-gates=-operator.targetallocator.mtls]\n")}, finding: true},
		{name: "v0.158: the gate is gone", world: []string{operator("ghcr.io/open-telemetry/opentelemetry-operator/opentelemetry-operator:v0.158.0", gateOn)}, finding: true},
		{name: "a tag that is no version", world: []string{operator("registry.example/mirror/opentelemetry-operator:main", gateOn)}},
		{name: "a digest", world: []string{operator("ghcr.io/open-telemetry/opentelemetry-operator/opentelemetry-operator@sha256:"+sha256Zero, gateOn)}},
		{name: "the gate from FEATURE_GATES", world: []string{operator(old, "        env: [{name: FEATURE_GATES, value: operator.targetallocator.mtls}]\n")}},
		{name: "FEATURE_GATES wins over the flag", world: []string{operator(old, gateOn+"        env: [{name: FEATURE_GATES, value: -operator.targetallocator.mtls}]\n")}, finding: true},
		{name: "FEATURE_GATES from a ConfigMap", world: []string{operator(old, "        env: [{name: FEATURE_GATES, valueFrom: {configMapKeyRef: {name: gates, key: gates}}}]\n")}},
		{name: "a config file", world: []string{operator(old, "        args: [--config-file=/conf/operator.yaml]\n")}},
		{name: "labelled so but another image", world: []string{operator("busybox:1.36", gateOn)}, finding: true, unknown: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := only(offline(t, Request{Operation: Create, Object: object(t, smBasicAuth)}, store(t, append(tt.world, ta)...), nil), rules.TA110)
			if !tt.finding {
				assert.Empty(t, fs, "an operator that may have mTLS on by its gate serves the credentials")
				return
			}
			require.Len(t, fs, 1)
			if tt.unknown {
				assert.Contains(t, fs[0].Fix, "is unknown")
			} else {
				assert.NotContains(t, fs[0].Fix, "is unknown", "the operator's gate was read")
			}
		})
	}
}

const sha256Zero = "0000000000000000000000000000000000000000000000000000000000000000"

func TestCollectorCredentialsRedacted(t *testing.T) {
	const jobs = "            - {job_name: mongo, basic_auth: {username: prom, password: s3cret}, static_configs: [{targets: [\"mongo:9216\"]}]}\n" +
		"            - {job_name: files, basic_auth: {username: prom, password_file: /etc/pw}, authorization: {credentials_file: /etc/tok}}\n" +
		"            - {job_name: token, authorization: {credentials: abc}, oauth2: {client_id: x, client_secret: \"\"}}\n"
	ta := func(extra string) string {
		return "  targetAllocator: {enabled: true" + extra + "}\n"
	}
	tests := []struct {
		name string
		obj  string
		want []string
	}{
		{name: "inline credentials served by the TA", obj: collector("  mode: statefulset\n" + ta("") + receiverConfig(jobs)), want: []string{"TA110 mongo", "TA110 token"}},
		{name: "with mTLS", obj: collector("  mode: statefulset\n" + ta(", mtls: {enabled: true}") + receiverConfig(jobs)), want: []string{}},
		{name: "without a TA the collector keeps them", obj: collector("  mode: statefulset\n" + receiverConfig(jobs)), want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := only(offline(t, Request{Operation: Create, Object: object(t, tt.obj)}, store(t), nil), rules.TA110)
			assert.Equal(t, tt.want, ids(fs), messages(fs))
		})
	}
	// Under a policy that denies TA110 the finding still only warns: it is
	// a risk, never a certain loss.
	pol, err := policy.Parse([]byte("defaultAction: deny\n"))
	require.NoError(t, err)
	fs := only(offline(t, Request{Operation: Create, Object: object(t, collector("  mode: statefulset\n"+ta("")+receiverConfig(jobs)))}, store(t), pol), rules.TA110)
	require.NotEmpty(t, fs)
	for _, f := range fs {
		assert.NotEqual(t, rules.Deny, f.Action, f.Message)
	}
	assert.Contains(t, messages(fs), `scrape_configs[0].basic_auth.password reaches the collector as "<secret>"`)
}

// A TargetAllocator's own spec.scrapeConfigs are served as written:
// placeholders (TA016), credentials without mTLS (TA110) and, per node,
// targets without a node (TA107), as for a collector's receiver. The
// operator's copy of a collector's TA is judged on the collector.
func TestTargetAllocatorScrapeConfigs(t *testing.T) {
	ta := func(name, extra string) string {
		return "apiVersion: opentelemetry.io/v1alpha1\nkind: TargetAllocator\nmetadata: {name: " + name + ", namespace: obs}\nspec:\n" + extra +
			"  scrapeConfigs:\n" +
			"  - {job_name: node-exporter, static_configs: [{targets: [\"${env:NODE_IP}:9100\"]}]}\n" +
			"  - {job_name: db, basic_auth: {username: u, password: p}, dns_sd_configs: [{names: [db.example]}]}\n"
	}
	tests := []struct {
		name, obj string
		world     []string
		want      []string
	}{
		{name: "consistent-hashing", obj: ta("shared", ""), want: []string{"TA016 node-exporter", "TA110 db"}},
		{name: "per-node", obj: ta("shared", "  allocationStrategy: per-node\n"), want: []string{"TA016 node-exporter", "TA107 db", "TA107 node-exporter", "TA110 db"}},
		{name: "with mTLS", obj: ta("shared", "  mtls: {enabled: true}\n"), want: []string{"TA016 node-exporter"}},
		{name: "the operator's copy of collector c's TA", obj: ta("c", ""), world: []string{collector("  mode: statefulset\n  targetAllocator: {enabled: true}\n" + goodConfig)}, want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := only(offline(t, Request{Operation: Create, Object: object(t, tt.obj)}, store(t, tt.world...), nil), rules.TA016, rules.TA107, rules.TA110)
			assert.Equal(t, tt.want, ids(fs), messages(fs))
		})
	}
}
