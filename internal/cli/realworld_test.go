package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// expectation is a real-world setup's expect.yaml.golden: the findings
// check must report, exactly.
type expectation struct {
	Description   string   `json:"description"`
	Working       bool     `json:"working"`
	Live          bool     `json:"live"`
	InputWarnings []string `json:"inputWarnings"`
	Findings      []struct {
		Rule   string `json:"rule"`
		Object string `json:"object"`
		Job    string `json:"job"`
		Why    string `json:"why"`
	} `json:"findings"`
}

// realWorldSetups lists testdata/realworld: each directory holds the
// manifests of one setup shaped like what real teams run, and its
// expectation.
func realWorldSetups(t *testing.T) map[string]expectation {
	t.Helper()
	dirs, err := filepath.Glob("../../testdata/realworld/*")
	require.NoError(t, err)
	out := map[string]expectation{}
	for _, d := range dirs {
		raw, err := os.ReadFile(filepath.Join(d, "expect.yaml.golden"))
		require.NoError(t, err, d)
		var e expectation
		require.NoError(t, yaml.UnmarshalStrict(raw, &e), d)
		require.NotEmpty(t, e.Description, d)
		require.Equal(t, e.Working, len(e.Findings) == 0, "%s: a working setup has no findings, a broken one some", d)
		out[d] = e
	}
	require.GreaterOrEqual(t, len(out), 25, "the corpus keeps at least 25 setups")
	return out
}

func manifestArgs(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files, dir)
	var args []string
	for _, f := range files {
		args = append(args, "-f", f)
	}
	return args
}

// TestRealWorldCorpus: on every setup check reports exactly the expected
// findings (none on a working setup), diagnose fails exactly when
// check --fail-on audit does, and under the enforce overlay's policy no
// working setup is denied.
func TestRealWorldCorpus(t *testing.T) {
	for dir, want := range realWorldSetups(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			args := manifestArgs(t, dir)
			var stdout, stderr bytes.Buffer
			code := runCheck(append(append([]string{}, args...), "-o", "json", "--fail-on", "audit"), nil, &stdout, &stderr)
			require.Contains(t, []int{0, 1}, code, stderr.String())
			got := []string{}
			for _, f := range decodeOutput(t, stdout.String()).Findings {
				got = append(got, f.Rule+" "+f.Object.Kind+" "+f.Object.Namespace+"/"+f.Object.Name+" "+jobOf(f.Rule, f.Job))
			}
			exp := []string{}
			for _, f := range want.Findings {
				exp = append(exp, f.Rule+" "+f.Object+" "+jobOf(f.Rule, f.Job))
			}
			sort.Strings(got)
			sort.Strings(exp)
			assert.Equal(t, exp, got, "%s\n%s", want.Description, stdout.String())
			assert.Equal(t, len(exp) > 0, code == 1, "check --fail-on audit exit code")
			for _, w := range want.InputWarnings {
				assert.Contains(t, stderr.String(), w, "input warning")
			}

			var dout, derr bytes.Buffer
			dcode := runDiagnose(append(append([]string{}, args...), "--no-color"), nil, &dout, &derr)
			assert.Equal(t, code, dcode, "diagnose exit code must equal check --fail-on audit's\n%s%s", dout.String(), derr.String())
			if want.Working {
				assert.Contains(t, dout.String(), "verdict: OK", dout.String())
			}

			if want.Working {
				stdout.Reset()
				stderr.Reset()
				code := runCheck(append(append([]string{}, args...), "--policy", "../../config/webhook/overlays/enforce/policy.yaml", "--fail-on", "deny"), nil, &stdout, &stderr)
				assert.Equal(t, 0, code, "the enforce policy denies a working setup:\n%s%s", stdout.String(), stderr.String())
			}
		})
	}
}

// perEndpoint are the rules whose findings name a job in the expectations.
var perEndpoint = map[string]bool{"TA103": true, "TA104": true, "TA201": true}

// jobOf keeps the job only for per-endpoint rules, as the expectations
// name it.
func jobOf(rule, job string) string {
	if perEndpoint[rule] {
		return job
	}
	return ""
}
