package envtest

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/ta-guard/ta-guard/internal/diagnose"
)

// TestKubectlPlugin runs ta-guard the way krew installs it: as
// kubectl-ta_guard on PATH, started by the real kubectl, against a real API
// server reached through a kubeconfig whose current context is wrong.
func TestKubectlPlugin(t *testing.T) {
	assets, err := assetsDir()
	require.NoError(t, err)
	kubectl := filepath.Join(assets, "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		t.Fatalf("kubectl is not in %s: run hack/k8s-bins.sh (%v)", assets, err)
	}
	binDir := t.TempDir()
	plugin := filepath.Join(binDir, "kubectl-ta_guard")
	build := exec.Command("go", "build", "-ldflags", "-X github.com/ta-guard/ta-guard/internal/cli.version=plugin-test", "-o", plugin, "./cmd/ta-guard")
	build.Dir = repoRoot
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	// Only what the test gives: no kubeconfig of the developer's, no pod's
	// service account.
	env := []string{
		"PATH=" + binDir + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
	}
	exe := func(t *testing.T, extraEnv []string, bin string, args ...string) (int, string, string) {
		t.Helper()
		return runCommand(t, repoRoot, append(append([]string{}, env...), extraEnv...), bin, args...)
	}
	viaKubectl := func(t *testing.T, args ...string) (int, string, string) {
		t.Helper()
		return exe(t, nil, kubectl, append([]string{"ta-guard"}, args...)...)
	}

	t.Run("plugin list finds it", func(t *testing.T) {
		code, stdout, stderr := exe(t, nil, kubectl, "plugin", "list")
		assert.Equal(t, 0, code, stderr)
		assert.Contains(t, stdout, plugin)
		assert.NotContains(t, stderr, "kubectl-ta_guard", "no warning about our file: %s", stderr)
	})
	t.Run("version, rules, offline check", func(t *testing.T) {
		code, stdout, stderr := viaKubectl(t, "version")
		assert.Equal(t, 0, code, stderr)
		assert.Equal(t, "plugin-test\n", stdout)

		code, stdout, stderr = viaKubectl(t, "rules")
		assert.Equal(t, 0, code, stderr)
		assert.Contains(t, stdout, "TA003  monitor-selector-missing")

		code, stdout, stderr = viaKubectl(t, "check", "-f", "testdata/seed/collector.yaml")
		assert.Equal(t, 0, code, stderr)
		assert.Equal(t, "no findings\n", stdout)
		code, _, stderr = viaKubectl(t, "check", "-f", "testdata/seed/collector-selectors-omitted.yaml", "--fail-on", "warn")
		assert.Equal(t, 1, code, "the findings still fail the run: %s", stderr)
	})
	t.Run("usage says kubectl ta-guard", func(t *testing.T) {
		code, _, stderr := viaKubectl(t)
		assert.Equal(t, 2, code)
		assert.Contains(t, stderr, "kubectl ta-guard diagnose [-f PATH ...]")
		assert.NotContains(t, stderr, "\n  ta-guard ")
	})

	testEnv := &envtest.Environment{BinaryAssetsDirectory: assets, CRDDirectoryPaths: crdPaths("opentelemetry", "monitoring"), ErrorIfCRDPathMissing: true}
	cfg, err := testEnv.Start()
	require.NoError(t, err)
	t.Cleanup(func() { _ = testEnv.Stop() })
	user, err := testEnv.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	require.NoError(t, err)
	kc, err := user.KubeConfig()
	require.NoError(t, err)
	kubeconfig := twoContextKubeconfig(t, kc)

	ctx := context.Background()
	k, err := newKube(cfg)
	require.NoError(t, err)
	for _, ns := range []string{"opentelemetry", "team-b", "empty"} {
		require.NoError(t, k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	}
	for _, f := range []string{"collector.yaml", "servicemonitor.yaml", "service.yaml"} {
		_, err := k.apply(ctx, objectsOf(t, "testdata/seed/"+f)[0])
		require.NoError(t, err)
	}
	other := objectsOf(t, "testdata/seed/collector-selectors-omitted.yaml")[0]
	other.SetNamespace("team-b")
	_, err = k.apply(ctx, other)
	require.NoError(t, err)

	decode := func(t *testing.T, s string) *diagnose.Diagnosis {
		t.Helper()
		var d diagnose.Diagnosis
		require.NoError(t, json.Unmarshal([]byte(s), &d), s)
		return &d
	}
	namespaces := func(d *diagnose.Diagnosis) []string {
		var out []string
		for _, a := range d.Allocators {
			out = append(out, a.Object.Namespace)
		}
		return out
	}

	t.Run("--context selects the good context", func(t *testing.T) {
		code, stdout, stderr := viaKubectl(t, "diagnose", "--kubeconfig", kubeconfig, "--context", "good", "-o", "json")
		assert.Equal(t, 1, code, "both TAs miss something: %s", stderr)
		d := decode(t, stdout)
		assert.True(t, d.Live)
		assert.ElementsMatch(t, []string{"opentelemetry", "team-b"}, namespaces(d))
	})
	t.Run("-n and --namespace restrict the TAs", func(t *testing.T) {
		for _, flag := range []string{"-n", "--namespace"} {
			code, stdout, stderr := viaKubectl(t, "diagnose", "--kubeconfig", kubeconfig, "--context", "good", flag, "team-b", "-o", "json")
			assert.Equal(t, 1, code, stderr)
			d := decode(t, stdout)
			assert.Equal(t, []string{"team-b"}, namespaces(d), flag)
			for _, f := range d.Findings {
				assert.Equal(t, "team-b", f.Object.Namespace, f.Message)
			}
		}
		// Nothing of ta-guard's in the namespace: nothing is blind there,
		// whatever the rest of the cluster does.
		code, stdout, stderr := viaKubectl(t, "diagnose", "--kubeconfig", kubeconfig, "--context", "good", "-n", "empty", "-o", "json")
		assert.Equal(t, 0, code, stderr)
		assert.Empty(t, decode(t, stdout).Allocators)
		// --collector takes a bare name in -n's namespace.
		code, stdout, stderr = viaKubectl(t, "diagnose", "--kubeconfig", kubeconfig, "--context", "good", "-n", "team-b", "--collector", "otelcol", "-o", "json")
		assert.Equal(t, 1, code, stderr)
		assert.Equal(t, []string{"team-b"}, namespaces(decode(t, stdout)))
	})
	t.Run("the wrong context fails, naming the server", func(t *testing.T) {
		for _, args := range [][]string{
			{"--context", "wrong"},
			{}, // the current-context is the wrong one
		} {
			code, stdout, stderr := viaKubectl(t, append([]string{"diagnose", "--kubeconfig", kubeconfig}, args...)...)
			assert.Equal(t, 2, code, "%v: %s", args, stdout)
			assert.Contains(t, stderr, "127.0.0.1:1", args)
		}
		code, _, stderr := viaKubectl(t, "diagnose", "--kubeconfig", kubeconfig, "--context", "missing")
		assert.Equal(t, 2, code)
		assert.Contains(t, stderr, `kubeconfig context "missing" does not exist (contexts: good, wrong)`)
	})
	t.Run("check --context goes live", func(t *testing.T) {
		// The Service renames the port sm-example scrapes: only a check
		// against the cluster knows sm-example exists.
		code, stdout, stderr := viaKubectl(t, "check", "--kubeconfig", kubeconfig, "--context", "good", "-f", "testdata/seed/service-port-bleh.yaml", "-o", "json", "--fail-on", "audit")
		assert.Equal(t, 1, code, stderr)
		assert.Contains(t, stdout, `"TA201"`)
		code, _, stderr = viaKubectl(t, "check", "--kubeconfig", kubeconfig, "--context", "wrong", "-f", "testdata/seed/service-port-bleh.yaml")
		assert.Equal(t, 2, code)
		assert.Contains(t, stderr, "127.0.0.1:1")
	})
	t.Run("without kubectl: $KUBECONFIG and --context", func(t *testing.T) {
		code, stdout, stderr := exe(t, []string{"KUBECONFIG=" + kubeconfig}, plugin, "diagnose", "--context", "good", "-n", "opentelemetry", "-o", "json")
		assert.Equal(t, 1, code, stderr)
		assert.Equal(t, []string{"opentelemetry"}, namespaces(decode(t, stdout)))
		code, _, stderr = exe(t, []string{"KUBECONFIG=" + kubeconfig}, plugin, "diagnose")
		assert.Equal(t, 2, code)
		assert.Contains(t, stderr, "127.0.0.1:1")
	})
	t.Run("kubectl refuses its flags before the plugin name", func(t *testing.T) {
		// Why the flags must come after `ta-guard`: kubectl does not parse
		// or forward them (nor set $KUBECONFIG) for a plugin.
		code, _, stderr := exe(t, nil, kubectl, "--context", "good", "ta-guard", "diagnose")
		assert.NotEqual(t, 0, code)
		assert.Contains(t, stderr, "flags cannot be placed before plugin name")
	})
}

// twoContextKubeconfig writes the API server's kubeconfig with a context
// "good" for it and a current-context "wrong" whose server listens nowhere.
func twoContextKubeconfig(t *testing.T, kc []byte) string {
	t.Helper()
	c, err := clientcmd.Load(kc)
	require.NoError(t, err)
	cur, ok := c.Contexts[c.CurrentContext]
	require.True(t, ok, "envtest's kubeconfig has a current context")
	good := *cur
	wrong := *cur
	wrong.Cluster = "nowhere"
	c.Clusters["nowhere"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1", InsecureSkipTLSVerify: true}
	c.Contexts = map[string]*clientcmdapi.Context{"good": &good, "wrong": &wrong}
	c.CurrentContext = "wrong"
	p := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*c, p))
	return p
}
