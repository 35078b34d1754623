package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/ta-guard/ta-guard/internal/server"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

func TestCommandName(t *testing.T) {
	for _, tc := range []struct {
		argv0, want string
	}{
		{"ta-guard", "ta-guard"},
		{"/usr/local/bin/ta-guard", "ta-guard"},
		{"./bin/ta-guard", "ta-guard"},
		{"webhook", "ta-guard"}, // a plain `go build ./cmd/webhook`
		{"kubectl-ta_guard", "kubectl ta-guard"},
		{"/home/u/.krew/bin/kubectl-ta_guard", "kubectl ta-guard"},
		{"kubectl-ta_guard.exe", "kubectl ta-guard"},
		// kubectl runs kubectl-ta-guard for `kubectl ta guard`, not for us.
		{"/usr/bin/kubectl-ta-guard", "ta-guard"},
		{"kubectl", "ta-guard"},
	} {
		t.Run(tc.argv0, func(t *testing.T) {
			assert.Equal(t, tc.want, commandName(tc.argv0))
		})
	}
}

func TestUsageNamesTheCommandTyped(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		code    int
		toOut   bool
		present string
	}{
		{"kubectl ta-guard", nil, 2, false, "kubectl ta-guard diagnose [-f PATH ...]"},
		{"kubectl ta-guard", []string{"--help"}, 0, true, `Run "kubectl ta-guard <command> -h"`},
		{"kubectl ta-guard", []string{"nope"}, 2, false, "kubectl ta-guard check -f PATH"},
		{"ta-guard", []string{"help"}, 0, true, "\n  ta-guard rules "},
		{"kubectl ta-guard", []string{"check", "-h"}, 0, false, "Usage: kubectl ta-guard check -f PATH"},
		{"ta-guard", []string{"check", "-h"}, 0, false, "Usage: ta-guard check -f PATH"},
	} {
		t.Run(fmt.Sprint(tc.name, tc.args), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runAs(tc.name, tc.args, strings.NewReader(""), &stdout, &stderr)
			assert.Equal(t, tc.code, code)
			got := stderr.String()
			if tc.toOut {
				got = stdout.String()
			}
			assert.Contains(t, got, tc.present)
			if tc.name == "ta-guard" {
				assert.NotContains(t, got, "kubectl ta-guard")
			} else {
				assert.NotContains(t, strings.ReplaceAll(got, tc.name, ""), "  ta-guard ", "every command line names the plugin")
			}
		})
	}
}

// twoContexts writes a kubeconfig whose current context is "good"; "other"
// points at another server and "broken" at a cluster the file lacks.
func twoContexts(t *testing.T) string {
	t.Helper()
	kc := `apiVersion: v1
kind: Config
current-context: good
clusters:
- name: good
  cluster: {server: "https://good.example:6443"}
- name: other
  cluster: {server: "https://other.example:6443"}
users:
- name: u
  user: {token: t}
contexts:
- name: good
  context: {cluster: good, user: u}
- name: other
  context: {cluster: other, user: u}
- name: broken
  context: {cluster: gone, user: u}
`
	p := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(p, []byte(kc), 0o600))
	return p
}

// noAmbientCluster keeps the developer's own kubeconfig and a pod's
// service account out of the test.
func noAmbientCluster(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBECONFIG", "")
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
}

func TestKubeRestConfig(t *testing.T) {
	kc := twoContexts(t)
	for _, tc := range []struct {
		name       string
		explicit   bool   // pass the file as --kubeconfig, else as $KUBECONFIG
		path       string // the file, when not the test's kubeconfig
		context    string
		wantHost   string
		wantErr    string
		noConfigAt bool
	}{
		{name: "current-context", explicit: true, wantHost: "https://good.example:6443"},
		{name: "--context picks another", explicit: true, context: "other", wantHost: "https://other.example:6443"},
		{name: "$KUBECONFIG as kubectl reads it", context: "other", wantHost: "https://other.example:6443"},
		{name: "unknown context", explicit: true, context: "nope", wantErr: `kubeconfig context "nope" does not exist (contexts: broken, good, other)`},
		{name: "context without its cluster", explicit: true, context: "broken", wantErr: `kubeconfig context "broken": its cluster "gone" is not in the kubeconfig`},
		{name: "no kubeconfig anywhere", noConfigAt: true},
		{name: "a character device is no kubeconfig (it would be read forever)", explicit: true, path: "/dev/zero", wantErr: "kubeconfig /dev/zero: a character device, not a file"},
		{name: "a context, no kubeconfig anywhere", context: "good", noConfigAt: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noAmbientCluster(t)
			path := ""
			switch {
			case tc.noConfigAt:
			case tc.explicit:
				path = kc
				if tc.path != "" {
					path = tc.path
				}
			default:
				t.Setenv("KUBECONFIG", kc)
			}
			cfg, err := kubeRestConfig(path, tc.context)
			switch {
			case tc.noConfigAt:
				require.Error(t, err)
				assert.True(t, errors.Is(err, server.ErrNoConfig), "%v", err)
			case tc.wantErr != "":
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
			default:
				require.NoError(t, err)
				assert.Equal(t, tc.wantHost, cfg.Host)
			}
		})
	}
}

// The flags reach the cluster lookup: a context the kubeconfig lacks fails
// before any request, which an ignored flag would not.
func TestKubectlFlagsOfCommands(t *testing.T) {
	inRepoRoot(t)
	kc := twoContexts(t)
	seed := "testdata/seed/collector.yaml"
	for _, tc := range []struct {
		name string
		env  string // $KUBECONFIG
		args []string
	}{
		{"diagnose --kubeconfig --context", "", []string{"diagnose", "--kubeconfig", kc, "--context", "nope"}},
		{"diagnose --context=, $KUBECONFIG", kc, []string{"diagnose", "--context=nope"}},
		{"diagnose -n with --context", kc, []string{"diagnose", "-n", "opentelemetry", "--context", "nope"}},
		{"check --kubeconfig --context", "", []string{"check", "-f", seed, "--kubeconfig", kc, "--context", "nope"}},
		{"check --cluster --context", kc, []string{"check", "-f", seed, "--cluster", "--context", "nope"}},
		// Naming a context is asking for the live cluster.
		{"check --context alone", kc, []string{"check", "-f", seed, "--context", "nope"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noAmbientCluster(t)
			t.Setenv("KUBECONFIG", tc.env)
			code, _, stderr := runCLI(t, "", tc.args...)
			assert.Equal(t, 2, code, stderr)
			assert.Contains(t, stderr, `kubeconfig context "nope"`)
		})
	}
	t.Run("a context does not outlive its command", func(t *testing.T) {
		noAmbientCluster(t)
		code, _, stderr := runCLI(t, "", "check", "-f", seed, "--context", "nope")
		require.Equal(t, 2, code, stderr)
		code, _, stderr = runCLI(t, "", "check", "-f", seed, "--kubeconfig", kc, "-o", "json")
		// good.example does not resolve: the error is about reaching it,
		// not about the previous command's context.
		assert.Equal(t, 2, code)
		assert.NotContains(t, stderr, "nope")
		assert.Contains(t, stderr, "good.example")
	})
}

// A collector that names no namespace, for -n / --namespace with -f.
const namelessCollector = `apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata:
  name: otelcol
spec:
  mode: statefulset
  targetAllocator:
    enabled: true
    prometheusCR:
      enabled: true
`

func TestNamespaceFlagWithManifests(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"check -n", []string{"check", "-f", "-", "-o", "json", "-n", "team-a"}, "team-a"},
		{"check --namespace", []string{"check", "-f", "-", "-o", "json", "--namespace", "team-a"}, "team-a"},
		{"check default", []string{"check", "-f", "-", "-o", "json"}, "default"},
		{"diagnose -n", []string{"diagnose", "-f", "-", "-o", "json", "-n", "team-a"}, "team-a"},
		{"diagnose --namespace=", []string{"diagnose", "-f", "-", "-o", "json", "--namespace=team-a"}, "team-a"},
		{"diagnose default", []string{"diagnose", "-f", "-", "-o", "json"}, "default"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, namelessCollector, tc.args...)
			require.NotEqual(t, 2, code, stderr)
			var out struct {
				Findings []rules.Finding `json:"findings"`
			}
			require.NoError(t, json.Unmarshal([]byte(stdout), &out), stdout)
			require.NotEmpty(t, out.Findings, "the unset selectors are findings")
			for _, f := range out.Findings {
				assert.Equal(t, tc.want, f.Object.Namespace, f.Message)
			}
		})
	}
}

// The manifest is a krew-release-bot template; rendered as the bot renders
// it, it must be a krew Plugin that installs kubectl-ta_guard everywhere we
// build for.
func TestKrewManifest(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "plugins", "krew", "ta-guard.yaml"))
	require.NoError(t, err)
	const tag = "v1.2.3"
	sha := strings.Repeat("ab", 32)
	tmpl, err := template.New("krew").Funcs(template.FuncMap{
		"addURIAndSha": func(url, tag string) string {
			return fmt.Sprintf("uri: %s\n    sha256: %s", strings.ReplaceAll(url, "{{ .TagName }}", tag), sha)
		},
	}).Parse(string(src))
	require.NoError(t, err)
	var rendered bytes.Buffer
	require.NoError(t, tmpl.Execute(&rendered, struct{ TagName string }{tag}))

	var m struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			Version          string `json:"version"`
			Homepage         string `json:"homepage"`
			ShortDescription string `json:"shortDescription"`
			Description      string `json:"description"`
			Platforms        []struct {
				Selector struct {
					MatchLabels map[string]string `json:"matchLabels"`
				} `json:"selector"`
				URI    string `json:"uri"`
				Sha256 string `json:"sha256"`
				Bin    string `json:"bin"`
				Files  []struct {
					From string `json:"from"`
					To   string `json:"to"`
				} `json:"files"`
			} `json:"platforms"`
		} `json:"spec"`
	}
	require.NoError(t, yaml.UnmarshalStrict(rendered.Bytes(), &m), "%s", rendered.String())
	assert.Equal(t, "krew.googlecontainertools.github.com/v1alpha2", m.APIVersion)
	assert.Equal(t, "Plugin", m.Kind)
	assert.Equal(t, "ta-guard", m.Metadata.Name, "krew installs it as kubectl-ta_guard")
	assert.Equal(t, tag, m.Spec.Version)
	assert.NotEmpty(t, m.Spec.Homepage)
	assert.NotEmpty(t, m.Spec.Description)
	assert.NotEmpty(t, m.Spec.ShortDescription)
	assert.LessOrEqual(t, len(m.Spec.ShortDescription), 50, "krew-index keeps it short")

	seen := map[string]bool{}
	for _, p := range m.Spec.Platforms {
		osArch := p.Selector.MatchLabels["os"] + "/" + p.Selector.MatchLabels["arch"]
		assert.False(t, seen[osArch], "%s twice", osArch)
		seen[osArch] = true
		assert.Equal(t, pluginBinary, p.Bin, osArch)
		assert.Equal(t, fmt.Sprintf("https://github.com/ta-guard/ta-guard/releases/download/%s/ta-guard_%s_%s.tar.gz",
			tag, p.Selector.MatchLabels["os"], p.Selector.MatchLabels["arch"]), p.URI, osArch)
		assert.Equal(t, sha, p.Sha256, osArch)
		var from []string
		for _, f := range p.Files {
			from = append(from, f.From)
		}
		assert.Contains(t, from, pluginBinary, "%s: the archive's binary is installed", osArch)
	}
	assert.Equal(t, map[string]bool{"linux/amd64": true, "linux/arm64": true, "darwin/amd64": true, "darwin/arm64": true}, seen)
}
