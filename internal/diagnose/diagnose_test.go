package diagnose

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/ta-guard/ta-guard/test/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/internal/policy"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

func TestChainOnTheGuide(t *testing.T) {
	tests := []struct {
		name      string
		files     []string
		blind     bool
		failSteps []string // names of ✗ steps
		endpoints map[string]rules.ID
		nearMiss  string
	}{
		{
			name: "working collector, two endpoints without a port", files: []string{"collector.yaml", "servicemonitor.yaml", "service.yaml"},
			blind:     true,
			endpoints: map[string]rules.ID{"serviceMonitor/opentelemetry/sm-example/0": "", "serviceMonitor/opentelemetry/sm-example/1": rules.TA103, "serviceMonitor/opentelemetry/sm-example/2": rules.TA103},
		},
		{
			name: "selectors omitted", files: []string{"collector-selectors-omitted.yaml"}, blind: true,
			failSteps: []string{`receiver "prometheus" in a metrics pipeline`, "spec.targetAllocator.prometheusCR.serviceMonitorSelector", "spec.targetAllocator.prometheusCR.podMonitorSelector"},
		},
		{
			name: "selector app=my-app misses the unlabelled monitor", files: []string{"collector-sm-selector-app.yaml", "servicemonitor.yaml", "service.yaml"}, blind: true,
			failSteps: []string{`receiver "prometheus" in a metrics pipeline`, "monitors in its namespaces read", "spec.targetAllocator.prometheusCR.podMonitorSelector"},
			nearMiss:  "ServiceMonitor opentelemetry/sm-example: does not match serviceMonitorSelector (needs app=my-app)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Run(context.Background(), testenv.SeedStore(t, tt.files...), Options{})
			require.NoError(t, err)
			require.Len(t, d.Allocators, 1)
			a := d.Allocators[0]
			assert.Equal(t, tt.blind, d.Blind)
			var failed []string
			for _, s := range a.Steps {
				if !s.OK {
					failed = append(failed, s.Name)
				}
			}
			for _, k := range a.Kinds {
				if !k.Selector.OK {
					failed = append(failed, k.Selector.Name)
				}
			}
			assert.Equal(t, tt.failSteps, failed)
			if tt.endpoints != nil {
				got := map[string]rules.ID{}
				for _, k := range a.Kinds {
					for _, m := range k.Monitors {
						for _, e := range m.Endpoints {
							got[e.Job] = e.Rule
							assert.Equal(t, e.Rule == "", e.OK, e.Job)
						}
					}
				}
				assert.Equal(t, tt.endpoints, got)
			}
			if tt.nearMiss != "" {
				var b strings.Builder
				require.NoError(t, d.WriteText(&b, false))
				assert.Contains(t, b.String(), tt.nearMiss)
			}
		})
	}
}

func TestOneCollectorOnly(t *testing.T) {
	v := testenv.SeedStore(t, "collector.yaml")
	_, err := Run(context.Background(), v, Options{Only: refOf("opentelemetry", "nope")})
	assert.ErrorContains(t, err, "no OpenTelemetryCollector or TargetAllocator opentelemetry/nope")
	d, err := Run(context.Background(), v, Options{Only: refOf("opentelemetry", "otelcol")})
	require.NoError(t, err)
	assert.Len(t, d.Allocators, 1)
}

// taServer serves recorded TA responses.
func taServer(t *testing.T, routes map[string]string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := routes[r.URL.EscapedPath()]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

const scrapeConfigs = `{"otel-collector":{"job_name":"otel-collector"},
"serviceMonitor/opentelemetry/sm-example/0":{},"serviceMonitor/opentelemetry/sm-example/1":{},"serviceMonitor/opentelemetry/sm-example/2":{}}`

func TestCompareWithRunningTA(t *testing.T) {
	guideJobs, err := os.ReadFile("../../testdata/seed/ta-jobs.json")
	require.NoError(t, err)
	tests := []struct {
		name   string
		routes map[string]string
		want   []string // "job kind"
		blind  bool
	}{
		{
			// What the real TA serves for the guide's manifests: /jobs lists
			// only the job that has targets.
			name: "the real TA on the guide's manifests",
			routes: map[string]string{
				"/scrape_configs": scrapeConfigs,
				"/jobs":           `{"otel-collector":{"_link":"/jobs/otel-collector/targets"},"serviceMonitor/opentelemetry/sm-example/0":{"_link":"/jobs/serviceMonitor%2Fopentelemetry%2Fsm-example%2F0/targets"}}`,
			},
			want:  []string{"serviceMonitor/opentelemetry/sm-example/1 no-targets", "serviceMonitor/opentelemetry/sm-example/2 no-targets"},
			blind: true, // from the chain's TA103, not from the comparison
		},
		{
			// The guide's sample output lists jobs 1 and 2 and a PodMonitor:
			// its cluster held more than its manifests.
			name:   "the guide's sample /jobs",
			routes: map[string]string{"/scrape_configs": strings.Replace(scrapeConfigs, "{\"otel", "{\"podMonitor/opentelemetry/pm-example/0\":{},\"otel", 1), "/jobs": string(guideJobs)},
			want: []string{
				"serviceMonitor/opentelemetry/sm-example/1 unexpected-targets",
				"serviceMonitor/opentelemetry/sm-example/2 unexpected-targets",
				"podMonitor/opentelemetry/pm-example/0 not-predicted",
			},
			blind: true,
		},
		{
			name:   "a job the TA has not configured",
			routes: map[string]string{"/scrape_configs": `{"otel-collector":{}}`, "/jobs": `{"otel-collector":{"_link":"x"}}`},
			want: []string{"serviceMonitor/opentelemetry/sm-example/0 not-configured", "serviceMonitor/opentelemetry/sm-example/1 not-configured",
				"serviceMonitor/opentelemetry/sm-example/2 not-configured"},
			blind: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := testenv.SeedStore(t, "collector.yaml", "servicemonitor.yaml", "service.yaml")
			d, err := Run(context.Background(), v, Options{})
			require.NoError(t, err)
			c, err := NewTAClient(taServer(t, tt.routes).URL)
			require.NoError(t, err)
			cmp, err := Compare(context.Background(), c, d.Allocators[0], v.Allocators()[0].StaticJobs, false)
			require.NoError(t, err)
			var got []string
			for _, diff := range cmp.Differences {
				got = append(got, diff.Job+" "+diff.Kind)
			}
			assert.Equal(t, tt.want, got)
			d.AttachTA(d.Allocators[0], cmp)
			assert.Equal(t, tt.blind, d.Blind)
		})
	}
}

// Live, the targets the TA serves are compared with EndpointSlices.
func TestCompareTargets(t *testing.T) {
	a := &Allocator{Kinds: []*Kind{{Monitors: []Monitor{{Endpoints: []Endpoint{{Job: "serviceMonitor/ns/sm/0", OK: true, Targets: []string{"10.0.0.1:8080", "10.0.0.2:8080"}}}}}}}}
	srv := taServer(t, map[string]string{
		"/scrape_configs": `{"serviceMonitor/ns/sm/0":{}}`,
		"/jobs":           `{"serviceMonitor/ns/sm/0":{"_link":"/jobs/serviceMonitor%2Fns%2Fsm%2F0/targets"}}`,
		"/jobs/serviceMonitor%2Fns%2Fsm%2F0/targets": `{"otelcol-collector-0":{"_link":"/jobs/serviceMonitor%2Fns%2Fsm%2F0/targets?collector_id=otelcol-collector-0",
			"targets":[{"targets":["10.0.0.1:8080"],"labels":{"__meta_kubernetes_namespace":"ns"}}]}}`,
	})
	c, err := NewTAClient(srv.URL)
	require.NoError(t, err)
	cmp, err := Compare(context.Background(), c, a, nil, true)
	require.NoError(t, err)
	require.Len(t, cmp.Differences, 1)
	assert.Equal(t, "targets-differ", cmp.Differences[0].Kind)
	assert.Equal(t, []string{"10.0.0.1:8080"}, cmp.Differences[0].Actual)
}

func TestTAErrorsAreClear(t *testing.T) {
	_, err := NewTAClient("localhost:8080")
	assert.ErrorContains(t, err, "want http(s)://host:port")
	tests := []struct {
		name   string
		routes map[string]string
		want   string
	}{
		{"not JSON", map[string]string{"/scrape_configs": "<html>hi</html>"}, "not the JSON a target allocator serves"},
		{"wrong JSON shape", map[string]string{"/scrape_configs": `["a"]`}, "not the JSON a target allocator serves"},
		{"missing endpoint", map[string]string{}, "HTTP 404"},
	}
	a := &Allocator{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewTAClient(taServer(t, tt.routes).URL)
			require.NoError(t, err)
			_, err = Compare(context.Background(), c, a, nil, false)
			assert.ErrorContains(t, err, tt.want)
		})
	}
	t.Run("an endless answer", func(t *testing.T) {
		chunk := make([]byte, 1<<20)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for range maxTAResponse>>20 + 1 {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}))
		t.Cleanup(srv.Close)
		c, err := NewTAClient(srv.URL)
		require.NoError(t, err)
		_, err = Compare(context.Background(), c, a, nil, false)
		assert.ErrorContains(t, err, "/scrape_configs: an answer larger than 64 MiB, more than diagnose reads")
	})
}

func refOf(ns, name string) *model.Ref { return &model.Ref{Namespace: ns, Name: name} }

// diagnose judges with the policy and the skip annotation, as check does:
// a finding the policy turns off, or one below --fail-on, blinds nothing.
func TestPolicyAndSkip(t *testing.T) {
	seed := []string{"collector.yaml", "servicemonitor.yaml", "service.yaml"} // two TA103
	tests := []struct {
		name   string
		policy string
		skip   string
		failOn rules.Action
		blind  bool
		ta103  int // ✗ endpoint lines
	}{
		{name: "defaults", blind: true, ta103: 2},
		{name: "TA103 off", policy: "rules:\n  TA103: off\n", blind: false},
		{name: "TA103 audit, fail on warn", policy: "rules:\n  TA103: audit\n", failOn: rules.Warn, blind: false, ta103: 2},
		{name: "TA103 audit, fail on audit", policy: "rules:\n  TA103: audit\n", blind: true, ta103: 2},
		{name: "monitor skips TA103", skip: "TA103", blind: false},
		{name: "monitor skips another rule", skip: "TA101", blind: true, ta103: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := testenv.SeedStore(t, seed...)
			if tt.skip != "" {
				for _, m := range v.Monitors(model.ServiceMonitor, labels.Everything()) {
					m.Annotations = map[string]string{policy.SkipAnnotation: tt.skip}
				}
			}
			opts := Options{FailOn: tt.failOn}
			if tt.policy != "" {
				p, err := policy.Parse([]byte(tt.policy))
				require.NoError(t, err)
				opts.Policy = p
			}
			d, err := Run(context.Background(), v, opts)
			require.NoError(t, err)
			assert.Equal(t, tt.blind, d.Blind)
			assert.Equal(t, tt.blind, d.Failed())
			n := 0
			for _, k := range d.Allocators[0].Kinds {
				for _, m := range k.Monitors {
					for _, e := range m.Endpoints {
						if !e.OK {
							assert.Equal(t, rules.TA103, e.Rule)
							n++
						}
					}
				}
			}
			assert.Equal(t, tt.ta103, n)
		})
	}
}

// -n keeps the TAs of one namespace; findings elsewhere stop deciding the
// verdict unless a kept tree shows them.
func TestNarrowToNamespace(t *testing.T) {
	ref := func(ns, name string) model.Ref {
		return model.Ref{Kind: "OpenTelemetryCollector", Namespace: ns, Name: name}
	}
	finding := func(ns string, action rules.Action, atRisk bool) rules.Finding {
		return rules.Finding{Rule: rules.TA003, Object: ref(ns, "c"), Action: action, AtRisk: atRisk}
	}
	for _, tc := range []struct {
		name         string
		allocators   []*Allocator
		findings     []rules.Finding
		failOn       rules.Action
		wantTAs      int
		wantFindings int
		blind        bool
		atRisk       bool
	}{
		{
			name:       "blind elsewhere only",
			allocators: []*Allocator{{Object: ref("a", "c")}, {Object: ref("b", "c"), Blind: true}},
			findings:   []rules.Finding{finding("b", rules.Deny, false)},
			failOn:     rules.Audit, wantTAs: 1,
		},
		{
			name:       "blind here",
			allocators: []*Allocator{{Object: ref("a", "c"), Blind: true}, {Object: ref("b", "c")}},
			findings:   []rules.Finding{finding("a", rules.Warn, false), finding("b", rules.Warn, false)},
			failOn:     rules.Audit, wantTAs: 1, wantFindings: 1, blind: true,
		},
		{
			name:       "at risk here",
			allocators: []*Allocator{{Object: ref("a", "c"), Blind: true}},
			findings:   []rules.Finding{finding("a", rules.Warn, true), finding("b", rules.Deny, false)},
			failOn:     rules.Audit, wantTAs: 1, wantFindings: 1, atRisk: true,
		},
		{
			name:       "below the threshold",
			allocators: []*Allocator{{Object: ref("a", "c")}},
			findings:   []rules.Finding{finding("a", rules.Audit, false)},
			failOn:     rules.Warn, wantTAs: 1, wantFindings: 1,
		},
		{
			// The finding is on a ServiceMonitor of namespace b that the TA
			// of namespace a reads: its tree shows it.
			name:       "blind through another namespace's monitor",
			allocators: []*Allocator{{Object: ref("a", "c"), Blind: true}},
			findings:   []rules.Finding{finding("b", rules.Deny, false)},
			failOn:     rules.Audit, wantTAs: 1, blind: true,
		},
		{
			name:       "no TA in the namespace",
			allocators: []*Allocator{{Object: ref("b", "c"), Blind: true}},
			findings:   []rules.Finding{finding("b", rules.Deny, false)},
			failOn:     rules.Audit,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &Diagnosis{Allocators: tc.allocators, Findings: tc.findings, Other: tc.findings, Blind: true}
			d.narrow("a", tc.failOn)
			assert.Len(t, d.Allocators, tc.wantTAs)
			for _, a := range d.Allocators {
				assert.Equal(t, "a", a.Object.Namespace)
			}
			assert.NotNil(t, d.Findings, "findings stay a list in -o json")
			assert.Len(t, d.Findings, tc.wantFindings)
			assert.Len(t, d.Other, tc.wantFindings)
			assert.Equal(t, tc.blind, d.Blind, "blind")
			assert.Equal(t, tc.atRisk, d.AtRisk, "at risk")
		})
	}
}

// An error answer is summarised in one line: the API server proxy's Status
// message, or the first line of anything else, never the body pasted whole.
func TestTAErrorAnswersAreSummarised(t *testing.T) {
	for _, tt := range []struct {
		name, body, want string
	}{
		{"the proxy's Status", `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"error trying to reach service: dial tcp 10.0.0.9:8080: connect: connection refused","reason":"ServiceUnavailable","code":503}`,
			"HTTP 503: error trying to reach service: dial tcp 10.0.0.9:8080: connect: connection refused"},
		{"a page", "<html>\n<body>bad gateway</body>\n</html>", "HTTP 503: <html>"},
		{"nothing", "", "HTTP 503: (no body)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			c, err := NewTAClient(srv.URL)
			require.NoError(t, err)
			err = c.get(context.Background(), "/jobs", &map[string]any{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "\n")
			assert.NotContains(t, err.Error(), `"kind"`)
		})
	}
}
