package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// inRepoRoot runs the test from the repository root, so that paths in the
// output read as a user running `ta-guard check -f testdata/...` there would
// see them, and golden files do not depend on this package's location.
func inRepoRoot(t *testing.T) {
	t.Helper()
	t.Chdir(filepath.Join("..", ".."))
}

// runCLI calls run as main does and returns the exit code and both streams.
func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, strings.NewReader(stdin), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// output is `check -o json`, decoded with unknown fields rejected so that
// the shape stays the documented one.
type output struct {
	Findings []finding `json:"findings"`
}

type finding struct {
	Rule   string `json:"rule"`
	Name   string `json:"name"`
	Action string `json:"action"`
	Object struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Namespace  string `json:"namespace"`
		Name       string `json:"name"`
	} `json:"object"`
	Job      string    `json:"job"`
	Endpoint *int      `json:"endpoint"`
	AtRisk   bool      `json:"atRisk"`
	Subject  string    `json:"subject"`
	What     string    `json:"what"`
	Fix      string    `json:"fix"`
	Field    string    `json:"field"`
	Related  []related `json:"related"`
	Closest  *ref      `json:"closest"`
	Reasons  []string  `json:"reasons"`
	Message  string    `json:"message"`
}

type ref struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
}

type related struct {
	ref
	Role string `json:"role"`
}

func decodeOutput(t *testing.T, s string) output {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	var out output
	require.NoError(t, dec.Decode(&out), "stdout: %s", s)
	require.NotNil(t, out.Findings, "findings must be a list, never null")
	return out
}

// key is what a finding is about: the rule, the object and the job.
type key struct {
	Rule, Kind, Namespace, Name, Job string
}

func (f finding) key() key {
	return key{f.Rule, f.Object.Kind, f.Object.Namespace, f.Object.Name, f.Job}
}

func keys(out output) []key {
	ks := make([]key, len(out.Findings))
	for i, f := range out.Findings {
		ks[i] = f.key()
	}
	return ks
}

// ruleNames are the catalog names of rules.md for the rules these scenarios
// raise; every one of them defaults to warn.
var ruleNames = map[string]string{
	"TA003": "monitor-selector-missing",
	"TA005": "prometheus-receiver-missing",
	"TA015": "monitors-left-unread",
	"TA101": "monitor-not-selected",
	"TA103": "endpoint-port-not-found",
	"TA202": "service-port-mismatch",
}

const (
	seed      = "testdata/seed/"
	collector = "OpenTelemetryCollector"
	sm        = "ServiceMonitor"
	svc       = "Service"
	ns        = "opentelemetry"
)

func smJob(i string) string { return "serviceMonitor/opentelemetry/sm-example/" + i }

type scenario struct {
	name  string
	files []string
	// want is written from rules.md and the guide, not from the output.
	want []key
	// extra checks what keys cannot express.
	extra func(t *testing.T, out output)
}

var scenarios = []scenario{
	{
		// The guide's "working" setup: the Service has only the port prom,
		// so endpoints 1 and 2 find no port; endpoint 0 does, so the Service
		// is not a TA202 mismatch, and the collector itself is sound.
		name:  "seed-working",
		files: []string{seed + "collector.yaml", seed + "servicemonitor.yaml", seed + "service.yaml"},
		want: []key{
			{"TA103", sm, ns, "sm-example", smJob("1")},
			{"TA103", sm, ns, "sm-example", smJob("2")},
		},
	},
	{
		// The guide's counter-example: port bleh serves none of the three
		// endpoints, and the Service the ServiceMonitor selects matches none.
		name:  "seed-port-bleh",
		files: []string{seed + "collector.yaml", seed + "servicemonitor.yaml", seed + "service-port-bleh.yaml"},
		want: []key{
			{"TA103", sm, ns, "sm-example", smJob("0")},
			{"TA103", sm, ns, "sm-example", smJob("1")},
			{"TA103", sm, ns, "sm-example", smJob("2")},
			{"TA202", svc, ns, "py-prometheus-app", ""},
		},
		extra: func(t *testing.T, out output) {
			for _, f := range out.Findings {
				if f.Rule == "TA202" {
					// The Service finding names the ServiceMonitor and the
					// port the Service does have.
					assert.Contains(t, f.Message, "ServiceMonitor opentelemetry/sm-example")
					assert.Contains(t, f.Message, "bleh")
				}
			}
		},
	},
	{
		// Step 5 of the guide: v1beta1 with both selectors left out reads no
		// monitor of either kind (TA003 once per kind), and the minimal
		// example has no config, so no prometheus receiver (TA005).
		name:  "seed-selectors-omitted",
		files: []string{seed + "collector-selectors-omitted.yaml"},
		want: []key{
			{"TA003", collector, ns, "otelcol", ""},
			{"TA003", collector, ns, "otelcol", ""},
			{"TA005", collector, ns, "otelcol", ""},
		},
		extra: func(t *testing.T, out output) {
			var fields []string
			for _, f := range out.Findings {
				if f.Rule != "TA003" {
					continue
				}
				switch {
				case strings.Contains(f.Summary(), "serviceMonitorSelector"):
					fields = append(fields, "serviceMonitorSelector")
				case strings.Contains(f.Summary(), "podMonitorSelector"):
					fields = append(fields, "podMonitorSelector")
				}
			}
			sort.Strings(fields)
			assert.Equal(t, []string{"podMonitorSelector", "serviceMonitorSelector"}, fields, "one TA003 per kind")
		},
	},
	{
		// Step 4: the TA reads only ServiceMonitors labelled app: my-app and
		// sm-example is not, so TA101. The seed's selector example also
		// leaves out podMonitorSelector (TA003 for PodMonitor) and config
		// (TA005); the endpoint ports are as in seed-working (TA103 1, 2).
		// The collector, the closest TA to the unread sm-example, says so
		// too (TA015), whichever of the two is applied last.
		name:  "seed-sm-selector-app",
		files: []string{seed + "collector-sm-selector-app.yaml", seed + "servicemonitor.yaml", seed + "service.yaml"},
		want: []key{
			{"TA003", collector, ns, "otelcol", ""},
			{"TA005", collector, ns, "otelcol", ""},
			{"TA015", collector, ns, "otelcol", ""},
			{"TA101", sm, ns, "sm-example", ""},
			{"TA103", sm, ns, "sm-example", smJob("1")},
			{"TA103", sm, ns, "sm-example", smJob("2")},
		},
		extra: func(t *testing.T, out output) {
			for _, f := range out.Findings {
				switch f.Rule {
				case "TA003":
					assert.Contains(t, f.Summary(), "podMonitorSelector", "serviceMonitorSelector is set here")
				case "TA101":
					// rules.md: names the closest TA and the missing label.
					assert.Contains(t, f.Message, "OpenTelemetryCollector opentelemetry/otelcol")
					assert.Contains(t, f.Message, "app=my-app")
				case "TA015":
					assert.Contains(t, f.Message, "ServiceMonitor opentelemetry/sm-example")
					assert.Contains(t, f.Message, "app=my-app")
				}
			}
		},
	},
	{
		// The same with the ServiceMonitor labelled app: my-app: the TA
		// reads it, so no TA101; everything else is unchanged.
		name:  "seed-sm-selector-app-labelled",
		files: []string{seed + "collector-sm-selector-app.yaml", seed + "servicemonitor-labelled-app.yaml", seed + "service.yaml"},
		want: []key{
			{"TA003", collector, ns, "otelcol", ""},
			{"TA005", collector, ns, "otelcol", ""},
			{"TA103", sm, ns, "sm-example", smJob("1")},
			{"TA103", sm, ns, "sm-example", smJob("2")},
		},
	},
	{
		// Every endpoint finds its port, and the collector is complete.
		name:  "clean-directory",
		files: []string{"testdata/check/clean"},
		want:  []key{},
	},
}

// Summary is the message's first line, what kubectl shows.
func (f finding) Summary() string {
	s, _, _ := strings.Cut(f.Message, "\n")
	return s
}

func checkArgs(files []string, extra ...string) []string {
	args := []string{"check"}
	for _, f := range files {
		args = append(args, "-f", f)
	}
	return append(args, extra...)
}

func TestGolden(t *testing.T) {
	inRepoRoot(t)
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "", checkArgs(sc.files, "-o", "json")...)
			require.Equal(t, 0, code, "warn findings stay below the default --fail-on deny; stderr: %s", stderr)
			assert.Empty(t, stderr, "json mode writes nothing to stderr")
			out := decodeOutput(t, stdout)
			assert.ElementsMatch(t, sc.want, keys(out))
			for _, f := range out.Findings {
				assert.Equal(t, ruleNames[f.Rule], f.Name, "catalog name of %s", f.Rule)
				assert.Equal(t, "warn", f.Action, "catalog default of %s", f.Rule)
				// Every message starts "<ID> <Kind> <ns/name>" (rules.md).
				assert.True(t, strings.HasPrefix(f.Message, f.Rule+" "+f.Object.Kind+" "+f.Object.Namespace+"/"+f.Object.Name),
					"message %q", f.Message)
				if f.Job != "" {
					assert.Contains(t, f.Summary(), f.Job, "a job finding names its job")
				}
			}
			if sc.extra != nil {
				sc.extra(t, out)
			}
			golden(t, sc.name+".json", stdout)

			code, text, _ := runCLI(t, "", checkArgs(sc.files)...)
			require.Equal(t, 0, code)
			golden(t, sc.name+".txt", text)
		})
	}
}

// golden compares got with testdata/golden/<name>, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run `go test ./internal/cli -run Golden -update` to create it")
	assert.Equal(t, string(want), got, "output differs from %s (rerun with -update if the change is intended)", path)
}

func TestCheckExitCodes(t *testing.T) {
	inRepoRoot(t)
	working := []string{seed + "collector.yaml", seed + "servicemonitor.yaml", seed + "service.yaml"}
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr []string
	}{
		{name: "clean input", args: checkArgs([]string{"testdata/check/clean"}), wantCode: 0},
		{name: "clean input fails on nothing even at audit", args: checkArgs([]string{"testdata/check/clean"}, "--fail-on", "audit"), wantCode: 0},
		{name: "warn findings below the default deny", args: checkArgs(working), wantCode: 0},
		{name: "warn findings with --fail-on warn", args: checkArgs(working, "--fail-on", "warn"), wantCode: 1},
		{name: "warn findings with --fail-on audit", args: checkArgs(working, "--fail-on", "audit"), wantCode: 1},
		{name: "policy makes TA103 deny", args: checkArgs(working, "--policy", "testdata/check/policy-ta103-deny.yaml"), wantCode: 1,
			wantStderr: []string{"check: caution: the policy denies TA103, whose findings depend on the order objects arrive in"}},
		{name: "no -f", args: []string{"check"}, wantCode: 2, wantStderr: []string{"-f"}},
		{name: "bad -o", args: checkArgs(working, "-o", "yaml"), wantCode: 2, wantStderr: []string{`"yaml"`, "text or json"}},
		{name: "bad --fail-on", args: checkArgs(working, "--fail-on", "error"), wantCode: 2, wantStderr: []string{`"error"`}},
		// off would make every run pass: it is not a threshold.
		{name: "--fail-on off", args: checkArgs(working, "--fail-on", "off"), wantCode: 2, wantStderr: []string{`"off"`}},
		{name: "missing file", args: checkArgs([]string{"testdata/check/no-such.yaml"}), wantCode: 2, wantStderr: []string{"testdata/check/no-such.yaml"}},
		{
			name:       "invalid policy file",
			args:       checkArgs(working, "--policy", "testdata/check/policy-invalid.yaml"),
			wantCode:   2,
			wantStderr: []string{"testdata/check/policy-invalid.yaml:3:", `"TA1O3"`},
		},
		{name: "missing policy file", args: checkArgs(working, "--policy", "testdata/check/no-policy.yaml"), wantCode: 2, wantStderr: []string{"testdata/check/no-policy.yaml"}},
		{
			name:       "bad manifest",
			args:       checkArgs([]string{"testdata/check/bad-manifest.yaml"}),
			wantCode:   2,
			wantStderr: []string{"testdata/check/bad-manifest.yaml, document 2", "kind"},
		},
		{name: "positional argument", args: []string{"check", seed + "service.yaml"}, wantCode: 2, wantStderr: []string{"-f"}},
		{name: "unknown command", args: []string{"chek"}, wantCode: 2, wantStderr: []string{`"chek"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, "", tt.args...)
			assert.Equal(t, tt.wantCode, code, "stderr: %s", stderr)
			for _, w := range tt.wantStderr {
				assert.Contains(t, stderr, w)
			}
		})
	}
}

func TestCheckPolicyActionsInJSON(t *testing.T) {
	inRepoRoot(t)
	// The exit code alone does not show that the policy set the action of
	// the right findings: TA103 becomes deny, nothing else changes.
	code, stdout, _ := runCLI(t, "", checkArgs(
		[]string{seed + "collector.yaml", seed + "servicemonitor.yaml", seed + "service-port-bleh.yaml"},
		"-o", "json", "--policy", "testdata/check/policy-ta103-deny.yaml")...)
	require.Equal(t, 1, code)
	actions := map[string][]string{}
	for _, f := range decodeOutput(t, stdout).Findings {
		actions[f.Rule] = append(actions[f.Rule], f.Action)
	}
	assert.Equal(t, map[string][]string{"TA103": {"deny", "deny", "deny"}, "TA202": {"warn"}}, actions)
}

func TestCheckStdin(t *testing.T) {
	inRepoRoot(t)
	var in strings.Builder
	for i, f := range []string{"collector.yaml", "servicemonitor.yaml", "service.yaml"} {
		b, err := os.ReadFile(seed + f)
		require.NoError(t, err)
		if i > 0 {
			in.WriteString("---\n")
		}
		in.Write(b)
	}

	// The same objects through stdin give the same findings as seed-working.
	code, stdout, stderr := runCLI(t, in.String(), "check", "-f", "-", "-o", "json")
	require.Equal(t, 0, code, stderr)
	assert.ElementsMatch(t, scenarios[0].want, keys(decodeOutput(t, stdout)))

	// Text output names stdin as "-" and counts documents across the stream.
	code, text, _ := runCLI(t, in.String(), "check", "-f", "-")
	require.Equal(t, 0, code)
	assert.Contains(t, text, "ServiceMonitor opentelemetry/sm-example  (-, document 2)\n")
}

func TestCheckLiveOnlyNote(t *testing.T) {
	inRepoRoot(t)
	files := []string{seed + "collector.yaml", seed + "servicemonitor.yaml", seed + "service.yaml"}

	_, _, stderr := runCLI(t, "", checkArgs(files)...)
	// rules.md marks exactly these rules live (and issue 12 adds TA014,
	// TA108, TA109): the note must name all of them and no other.
	ids := regexp.MustCompile(`TA\d{3}`).FindAllString(stderr, -1)
	assert.Equal(t, []string{"TA008", "TA009", "TA010", "TA014", "TA017", "TA106", "TA108", "TA109"}, ids, "stderr: %s", stderr)
	assert.Contains(t, stderr, "live")

	// JSON goes to machines; the note would only be noise there (and stdout
	// must stay pure JSON).
	_, stdout, stderr := runCLI(t, "", checkArgs(files, "-o", "json")...)
	assert.Empty(t, stderr)
	assert.NotContains(t, stdout, "TA106")
}

func TestCheckCleanJSON(t *testing.T) {
	inRepoRoot(t)
	code, stdout, stderr := runCLI(t, "", "check", "-f", "testdata/check/clean", "-o", "json")
	require.Equal(t, 0, code, stderr)
	assert.JSONEq(t, `{"findings": []}`, stdout)
}
