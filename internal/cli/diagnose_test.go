package cli

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Golden output of diagnose on the guide's scenarios, text and JSON.
func TestDiagnoseGolden(t *testing.T) {
	inRepoRoot(t)
	scenarios := []struct {
		name  string
		files []string
		code  int
	}{
		{"diagnose-working", []string{"collector.yaml", "servicemonitor.yaml", "service.yaml"}, 1},
		{"diagnose-port-bleh", []string{"collector.yaml", "servicemonitor.yaml", "service-port-bleh.yaml"}, 1},
		{"diagnose-selectors-omitted", []string{"collector-selectors-omitted.yaml"}, 1},
		{"diagnose-sm-selector-app", []string{"collector-sm-selector-app.yaml", "servicemonitor.yaml", "service.yaml"}, 1},
		{"diagnose-fixed", []string{"collector.yaml", "servicemonitor-labelled-app.yaml"}, 0},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			var args []string
			for _, f := range sc.files {
				args = append(args, "-f", "testdata/seed/"+f)
			}
			if sc.name == "diagnose-fixed" {
				args = append(args, "-f", "testdata/diagnose/fixed.yaml")
			}
			for _, format := range []string{"txt", "json"} {
				code, out, stderr := runCLI(t, "", append(append([]string{"diagnose"}, args...), "-o", map[string]string{"txt": "text", "json": "json"}[format])...)
				assert.Equal(t, sc.code, code, stderr)
				assert.Empty(t, stderr)
				assert.NotContains(t, out, "\x1b[", "no colour when not on a terminal")
				golden(t, sc.name+"."+format, out)
			}
		})
	}
}

func TestDiagnoseErrors(t *testing.T) {
	inRepoRoot(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"diagnose", "-f", "testdata/seed/collector.yaml", "-o", "yaml"}, "-o \"yaml\": want text or json"},
		{[]string{"diagnose", "-f", "testdata/seed/collector.yaml", "--collector", "otelcol"}, "want namespace/name"},
		{[]string{"diagnose", "-f", "testdata/seed/collector.yaml", "--collector", "opentelemetry/nope"}, "no OpenTelemetryCollector or TargetAllocator opentelemetry/nope"},
		{[]string{"diagnose", "-f", "testdata/seed/collector.yaml", "--ta-url", "127.0.0.1:8080"}, "want http(s)://host:port"},
		{[]string{"diagnose", "-f", "testdata/seed/collector.yaml", "--ta-url", "http://127.0.0.1:1"}, "target allocator unreachable at http://127.0.0.1:1"},
		{[]string{"diagnose", "-f", "testdata/nope.yaml"}, "nope.yaml"},
	}
	for _, tt := range tests {
		code, _, stderr := runCLI(t, "", tt.args...)
		assert.Equal(t, 2, code, strings.Join(tt.args, " "))
		assert.Contains(t, stderr, tt.want)
	}
}

// --ta-url against an HTTP server serving what the real TA serves for the
// guide's manifests.
func TestDiagnoseTAURL(t *testing.T) {
	inRepoRoot(t)
	jobs, err := os.ReadFile("testdata/seed/ta-jobs.json")
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/scrape_configs":
			_, _ = w.Write([]byte(`{"otel-collector":{},"serviceMonitor/opentelemetry/sm-example/0":{},"serviceMonitor/opentelemetry/sm-example/1":{},"serviceMonitor/opentelemetry/sm-example/2":{},"podMonitor/opentelemetry/pm-example/0":{}}`))
		case "/jobs":
			_, _ = w.Write(jobs)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	code, out, stderr := runCLI(t, "", "diagnose", "-f", "testdata/seed/collector.yaml", "-f", "testdata/seed/servicemonitor.yaml",
		"-f", "testdata/seed/service.yaml", "--ta-url", srv.URL)
	assert.Equal(t, 1, code, stderr)
	assert.Contains(t, out, "✗ running TA at "+srv.URL+": 5 jobs configured, 5 with targets")
	assert.Contains(t, out, "serviceMonitor/opentelemetry/sm-example/1 unexpected-targets")
	assert.Contains(t, out, "podMonitor/opentelemetry/pm-example/0 not-predicted")
}
