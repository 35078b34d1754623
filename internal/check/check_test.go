package check

import (
	"bytes"
	"encoding/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ta-guard/ta-guard/internal/manifest"
	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/internal/policy"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

// read loads one in-memory file.
func read(t *testing.T, source, content string) []manifest.Doc {
	t.Helper()
	docs, err := manifest.Read(source, strings.NewReader(content), "default")
	require.NoError(t, err)
	return docs
}

const service = `apiVersion: v1
kind: Service
metadata:
  name: app
  namespace: shop
  labels: {app: shop}
spec:
  ports: [{name: http, port: 80}]
`

// serviceMonitor's endpoint 1 asks for a port the Service above does not
// have, so it produces one TA103 (warn by default); endpoint 0 finds "http",
// so the Service gets no TA202.
const serviceMonitor = `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: sm
  namespace: shop
spec:
  selector:
    matchLabels: {app: shop}
  endpoints:
    - port: http
    - port: metrics
`

func TestEvaluateDuplicateObject(t *testing.T) {
	tests := []struct {
		name    string
		a, b    string
		wantErr []string
	}{
		{
			// The outcome would depend on which copy wins: refuse, and name
			// both places so the user can delete one.
			name:    "same service in two files",
			a:       service,
			b:       "# another copy\n---\n" + service,
			wantErr: []string{"b.yaml, document 2", "a.yaml, document 1", "Service shop/app"},
		},
		{
			// Objects are keyed without their API version: a v1alpha1 and a
			// v1beta1 collector of one name are the same object.
			name: "collector in two API versions",
			a: `apiVersion: opentelemetry.io/v1alpha1
kind: OpenTelemetryCollector
metadata: {name: otel, namespace: obs}
spec: {mode: statefulset}
`,
			b: `apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: {name: otel, namespace: obs}
spec: {mode: statefulset}
`,
			wantErr: []string{"b.yaml, document 1", "a.yaml, document 1", "OpenTelemetryCollector obs/otel"},
		},
		{
			name: "same name in another namespace is not a duplicate",
			a:    service,
			b:    strings.Replace(service, "namespace: shop", "namespace: other", 1),
		},
		{
			name: "same name of another kind is not a duplicate",
			a:    service,
			b:    "apiVersion: v1\nkind: Pod\nmetadata: {name: app, namespace: shop}\n",
		},
		{
			// Kinds ta-guard does not read are not compared at all.
			name: "unsupported kinds may repeat",
			a:    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
			b:    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs := append(read(t, "a.yaml", tt.a), read(t, "b.yaml", tt.b)...)
			res, err := Evaluate(docs, nil)
			if len(tt.wantErr) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Nil(t, res)
			for _, w := range tt.wantErr {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestEvaluateAppliesPolicy(t *testing.T) {
	docs := append(read(t, "svc.yaml", service), read(t, "sm.yaml", serviceMonitor)...)
	tests := []struct {
		name string
		pol  *policy.Policy
		want []rules.Action
	}{
		{name: "catalog default", pol: nil, want: []rules.Action{rules.Warn}},
		{name: "rule raised to deny", pol: &policy.Policy{Rules: map[rules.ID]rules.Action{rules.TA103: rules.Deny}}, want: []rules.Action{rules.Deny}},
		{name: "rule off", pol: &policy.Policy{Rules: map[rules.ID]rules.Action{rules.TA103: rules.Off}}, want: nil},
		{name: "namespace excluded", pol: &policy.Policy{ExcludeNamespaces: map[string]bool{"shop": true}}, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Evaluate(docs, tt.pol)
			require.NoError(t, err)
			var got []rules.Action
			for _, f := range res.Findings {
				assert.Equal(t, rules.TA103, f.Rule)
				got = append(got, f.Action)
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestResultFailed(t *testing.T) {
	withActions := func(as ...rules.Action) *Result {
		r := &Result{Findings: []rules.Finding{}}
		for _, a := range as {
			r.Findings = append(r.Findings, rules.Finding{Rule: rules.TA101, Action: a})
		}
		return r
	}
	tests := []struct {
		name     string
		findings []rules.Action
		failOn   rules.Action
		want     bool
	}{
		{name: "no findings, fail on audit", findings: nil, failOn: rules.Audit, want: false},
		{name: "warn below deny", findings: []rules.Action{rules.Warn, rules.Audit}, failOn: rules.Deny, want: false},
		{name: "deny at deny", findings: []rules.Action{rules.Warn, rules.Deny}, failOn: rules.Deny, want: true},
		{name: "warn at warn", findings: []rules.Action{rules.Warn}, failOn: rules.Warn, want: true},
		{name: "deny above warn", findings: []rules.Action{rules.Deny}, failOn: rules.Warn, want: true},
		{name: "audit below warn", findings: []rules.Action{rules.Audit}, failOn: rules.Warn, want: false},
		{name: "audit at audit", findings: []rules.Action{rules.Audit}, failOn: rules.Audit, want: true},
		{name: "warn above audit", findings: []rules.Action{rules.Warn}, failOn: rules.Audit, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, withActions(tt.findings...).Failed(tt.failOn))
		})
	}
}

func TestWriteJSON(t *testing.T) {
	// "<unnamed 80>" is how messages show unnamed ports: it must reach a
	// CI log as written, not as \u003c.
	f := rules.New(rules.TA103, model.Ref{APIVersion: "monitoring.coreos.com/v1", Kind: "ServiceMonitor", Namespace: "shop", Name: "sm"},
		"serviceMonitor/shop/sm/0", "endpoint 0", `no port named "metrics"; app has: <unnamed 80>`, "name it")
	f.Field = field.NewPath("spec", "endpoints").Index(0).Child("port")
	f.Related = rules.RelatedAs(rules.RoleTarget, model.Ref{APIVersion: "v1", Kind: "Service", Namespace: "shop", Name: "app"})
	var buf bytes.Buffer
	require.NoError(t, (&Result{Findings: []rules.Finding{f}}).WriteJSON(&buf))

	// Structure: exactly these keys, nothing more.
	var decoded any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &decoded))
	assert.Equal(t, map[string]any{
		"findings": []any{map[string]any{
			"rule":   "TA103",
			"name":   "endpoint-port-not-found",
			"action": "warn",
			"object": map[string]any{
				"apiVersion": "monitoring.coreos.com/v1",
				"kind":       "ServiceMonitor",
				"namespace":  "shop",
				"name":       "sm",
			},
			"job":     "serviceMonitor/shop/sm/0",
			"subject": "endpoint 0",
			"what":    "no port named \"metrics\"; app has: <unnamed 80>",
			"fix":     "name it",
			"field":   "spec.endpoints[0].port",
			"related": []any{map[string]any{"apiVersion": "v1", "kind": "Service", "namespace": "shop", "name": "app", "role": "target"}},
			"message": "TA103 ServiceMonitor shop/sm endpoint 0: no port named \"metrics\"; app has: <unnamed 80>\nfix: name it",
		}},
	}, decoded)

	// Shape and key order of the raw bytes: the documented contract that
	// scripts diff against.
	var compact bytes.Buffer
	require.NoError(t, json.Compact(&compact, buf.Bytes()))
	assert.Equal(t,
		`{"findings":[{"rule":"TA103","name":"endpoint-port-not-found","action":"warn",`+
			`"object":{"apiVersion":"monitoring.coreos.com/v1","kind":"ServiceMonitor","namespace":"shop","name":"sm"},`+
			`"job":"serviceMonitor/shop/sm/0","subject":"endpoint 0","what":"no port named \"metrics\"; app has: <unnamed 80>","fix":"name it",`+
			`"related":[{"apiVersion":"v1","kind":"Service","namespace":"shop","name":"app","role":"target"}],`+
			`"message":"TA103 ServiceMonitor shop/sm endpoint 0: no port named \"metrics\"; app has: <unnamed 80>\nfix: name it","field":"spec.endpoints[0].port"}]}`,
		compact.String())
}

func TestWriteJSONClean(t *testing.T) {
	// A clean run must print an empty list, not null: `jq '.findings | length'`
	// is how pipelines read it.
	res, err := Evaluate(read(t, "svc.yaml", service), nil)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, res.WriteJSON(&buf))
	var compact bytes.Buffer
	require.NoError(t, json.Compact(&compact, buf.Bytes()))
	assert.Equal(t, `{"findings":[]}`, compact.String())
}

func TestWriteText(t *testing.T) {
	t.Run("clean", func(t *testing.T) {
		var buf bytes.Buffer
		require.NoError(t, (&Result{Findings: []rules.Finding{}}).WriteText(&buf))
		assert.Equal(t, "no findings\n", buf.String())
	})
	t.Run("grouped by object with source and counts", func(t *testing.T) {
		res, err := Evaluate(append(read(t, "svc.yaml", service), read(t, "sm.yaml", serviceMonitor)...),
			&policy.Policy{Rules: map[rules.ID]rules.Action{rules.TA103: rules.Deny}})
		require.NoError(t, err)
		require.NotEmpty(t, res.Findings)
		var buf bytes.Buffer
		require.NoError(t, res.WriteText(&buf))
		out := buf.String()
		lines := strings.Split(out, "\n")
		// The object header says where it was read; findings below it drop
		// the "TA103 ServiceMonitor shop/sm" prefix the header already shows.
		assert.Equal(t, "ServiceMonitor shop/sm  (sm.yaml, document 1)", lines[0])
		assert.True(t, strings.HasPrefix(lines[1], "  deny  TA103 endpoint 1 (job serviceMonitor/shop/sm/1): "), lines[1])
		assert.NotContains(t, lines[1], "TA103 ServiceMonitor")
		assert.True(t, strings.HasPrefix(lines[2], "        fix: "), lines[2])
		assert.Contains(t, out, "\n1 finding(s): 1 deny, 0 warn, 0 audit\n")
	})
}
