package envtest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/ta-guard/ta-guard/internal/diagnose"
)

// TestDiagnoseLive runs the real binary against a real API server.
func TestDiagnoseLive(t *testing.T) {
	bin, kubeconfig, k := diagnoseEnv(t)
	ctx := context.Background()
	require.NoError(t, k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "opentelemetry"}}))
	for _, f := range []string{"collector.yaml", "servicemonitor.yaml", "service.yaml"} {
		_, err := k.apply(ctx, objectsOf(t, "testdata/seed/"+f)[0])
		require.NoError(t, err)
	}
	require.NoError(t, k.Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "opentelemetry", Name: "py-prometheus-app-1", Labels: map[string]string{discoveryv1.LabelServiceName: "py-prometheus-app"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("prom"), Port: ptr.To[int32](8080)}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.244.0.11"}}, {Addresses: []string{"10.244.0.12"}}},
	}))

	run := func(args ...string) (int, string, string) {
		return runBinary(t, bin, append([]string{"diagnose", "--kubeconfig", kubeconfig}, args...)...)
	}
	decode := func(s string) *diagnose.Diagnosis {
		var d diagnose.Diagnosis
		require.NoError(t, json.Unmarshal([]byte(s), &d), s)
		return &d
	}

	t.Run("targets from EndpointSlices, and the missing account and permissions", func(t *testing.T) {
		code, out, stderr := run("-o", "json")
		assert.Equal(t, 1, code, stderr)
		// No TA runs here: diagnose asks the API server's proxy for it (the
		// proxy test proves the answer is used), says it could not, and
		// keeps the prediction.
		assert.Contains(t, stderr, "OpenTelemetryCollector opentelemetry/otelcol: the running TA was not read")
		assert.Contains(t, stderr, "services/http:otelcol-targetallocator:targetallocation/proxy")
		d := decode(out)
		require.True(t, d.Live)
		require.Len(t, d.Allocators, 1)
		a := d.Allocators[0]
		access := map[string]bool{}
		for _, s := range a.Access {
			access[s.Name] = s.OK
		}
		assert.Equal(t, map[string]bool{"monitoring CRDs served": true, "service account exists": false, "service account permissions": false}, access)
		ep := a.Kinds[0].Monitors[0].Endpoints
		assert.Equal(t, []string{"10.244.0.11:8080", "10.244.0.12:8080"}, ep[0].Targets)
		assert.True(t, ep[0].OK)
		assert.False(t, ep[1].OK)
	})

	require.NoError(t, k.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "opentelemetry-targetallocator-sa", Namespace: "opentelemetry"}}))
	grantTARBAC(t, ctx, k, "opentelemetry-targetallocator-sa")

	t.Run("granted, the account checks pass; the text tree says so", func(t *testing.T) {
		code, out, _ := run("--collector", "opentelemetry/otelcol", "--no-color")
		assert.Equal(t, 1, code, "endpoints 1 and 2 are still blind")
		assert.Contains(t, out, "✓ service account permissions: service account opentelemetry-targetallocator-sa holds every permission the TA needs")
		assert.Contains(t, out, "✓ job serviceMonitor/opentelemetry/sm-example/0: port \"prom\" on opentelemetry/py-prometheus-app")
		assert.Contains(t, out, "targets: 10.244.0.11:8080, 10.244.0.12:8080")
		assert.Contains(t, out, "✗ job serviceMonitor/opentelemetry/sm-example/1")
	})

	t.Run("-n of a namespace that does not exist is an error, as for kubectl", func(t *testing.T) {
		code, out, stderr := run("-n", "doesnotexist")
		assert.Equal(t, 2, code, out)
		assert.Contains(t, stderr, `diagnose: -n doesnotexist: namespace "doesnotexist" not found`)
		code, _, stderr = run("-n", "opentelemetry", "-o", "json")
		assert.Equal(t, 1, code, stderr)
	})

	t.Run("--ta-url: the TA's targets differ from the EndpointSlices", func(t *testing.T) {
		ta := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.EscapedPath() {
			case "/scrape_configs":
				_, _ = w.Write([]byte(`{"serviceMonitor/opentelemetry/sm-example/0":{},"serviceMonitor/opentelemetry/sm-example/1":{},"serviceMonitor/opentelemetry/sm-example/2":{},"otel-collector":{}}`))
			case "/jobs":
				_, _ = w.Write([]byte(`{"otel-collector":{"_link":"/jobs/otel-collector/targets"},"serviceMonitor/opentelemetry/sm-example/0":{"_link":"/jobs/serviceMonitor%2Fopentelemetry%2Fsm-example%2F0/targets"}}`))
			case "/jobs/serviceMonitor%2Fopentelemetry%2Fsm-example%2F0/targets":
				_, _ = w.Write([]byte(`{"otelcol-collector-0":{"_link":"x","targets":[{"targets":["10.244.0.11:8080"],"labels":{}}]}}`))
			default:
				http.NotFound(w, r)
			}
		}))
		defer ta.Close()
		code, out, stderr := run("-o", "json", "--ta-url", ta.URL)
		assert.Equal(t, 1, code, stderr)
		d := decode(out)
		require.NotNil(t, d.Allocators[0].TA)
		var kinds []string
		for _, diff := range d.Allocators[0].TA.Differences {
			kinds = append(kinds, diff.Job+" "+diff.Kind)
		}
		assert.Equal(t, []string{
			"serviceMonitor/opentelemetry/sm-example/0 targets-differ",
			"serviceMonitor/opentelemetry/sm-example/1 no-targets",
			"serviceMonitor/opentelemetry/sm-example/2 no-targets",
		}, kinds)
		assert.True(t, strings.Contains(out, `"10.244.0.12:8080"`))
	})

	t.Run("check --kubeconfig: manifests checked as changes to the live cluster", func(t *testing.T) {
		check := func(files ...string) (int, []string, string) {
			args := []string{"check", "--kubeconfig", kubeconfig, "-o", "json", "--fail-on", "audit"}
			for _, f := range files {
				args = append(args, "-f", filepath.Join(repoRoot, f))
			}
			code, stdout, stderr := runBinary(t, bin, args...)
			var res struct {
				Findings []struct{ Rule, Job string } `json:"findings"`
			}
			require.NoError(t, json.Unmarshal([]byte(stdout), &res), stdout+stderr)
			var got []string
			for _, f := range res.Findings {
				got = append(got, strings.TrimSpace(f.Rule+" "+f.Job))
			}
			return code, got, stderr
		}
		// The cluster's Service has port prom; the manifest renames it: an
		// UPDATE from the live state, which offline check cannot see.
		code, got, stderr := check("testdata/seed/service-port-bleh.yaml")
		assert.Equal(t, 1, code, stderr)
		assert.Contains(t, got, "TA201 serviceMonitor/opentelemetry/sm-example/0")
		// Offline the same file alone is clean: nothing selects it.
		off := exec.Command(bin, "check", "-f", filepath.Join(repoRoot, "testdata/seed/service-port-bleh.yaml"), "--fail-on", "audit")
		assert.NoError(t, off.Run(), "offline the Service alone has no finding")

		// Against the cluster, every namespace is known: a monitor naming one
		// that does not exist gets TA105, which offline stays silent.
		dir := t.TempDir()
		sm := "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: ghost, namespace: opentelemetry}\nspec:\n  namespaceSelector: {matchNames: [no-such-namespace]}\n  selector: {}\n  endpoints: [{port: prom}]\n"
		require.NoError(t, os.WriteFile(filepath.Join(dir, "sm.yaml"), []byte(sm), 0o600))
		rel, err := filepath.Rel(repoRoot, filepath.Join(dir, "sm.yaml"))
		require.NoError(t, err)
		code, got, stderr = check(rel)
		assert.Equal(t, 1, code, stderr)
		assert.Contains(t, got, "TA105")
		assert.Contains(t, got, "TA102")

		// The live rules run too: a collector naming a service account the
		// cluster does not have is TA010, which offline cannot be known.
		col := strings.Replace(string(mustRead(t, filepath.Join(repoRoot, "testdata/seed/collector.yaml"))), "opentelemetry-targetallocator-sa", "nobody-made-this", 1)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "col.yaml"), []byte(col), 0o600))
		rel, err = filepath.Rel(repoRoot, filepath.Join(dir, "col.yaml"))
		require.NoError(t, err)
		code, got, stderr = check(rel)
		assert.Equal(t, 1, code, stderr)
		assert.Contains(t, got, "TA010", "live rules against the cluster")
		_, offOut, _ := runBinary(t, bin, "check", "-f", filepath.Join(dir, "col.yaml"), "-o", "json")
		assert.NotContains(t, offOut, "TA010", "offline it cannot be known")
	})
}

// TestDiagnoseReadsTheWebhooksPolicy: live, diagnose judges with the
// policy the installed webhook runs with, found as the cluster says it
// (webhook configuration, Service, Deployment, --policy, ConfigMap volume):
// a rule that policy turns off is no ✗.
func TestDiagnoseReadsTheWebhooksPolicy(t *testing.T) {
	bin, kubeconfig, k := diagnoseEnv(t)
	assets, err := assetsDir()
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "opentelemetry"}}))
	for _, f := range []string{"collector.yaml", "servicemonitor.yaml", "service-port-bleh.yaml"} {
		_, err := k.apply(ctx, objectsOf(t, "testdata/seed/"+f)[0])
		require.NoError(t, err)
	}
	diagnoseText := func() (int, string, string) {
		return runBinary(t, bin, "diagnose", "--kubeconfig", kubeconfig, "--collector", "opentelemetry/otelcol", "--no-color", "--no-ta-proxy")
	}

	code, text, _ := diagnoseText()
	assert.Equal(t, 1, code)
	assert.Contains(t, text, "policy: the defaults: no ta-guard webhook is installed")
	assert.Contains(t, text, "[TA103]")

	// The warn overlay as a user installs it, its policy turning TA103 off.
	var installed int
	for _, o := range renderWithComponent(t, assets, "overlays/warn", "components/monitoring") {
		switch o.GetKind() {
		case "Namespace", "Service", "Deployment", "ValidatingWebhookConfiguration":
		case "ConfigMap":
			if o.GetName() != "ta-guard-policy" {
				continue
			}
			// Off: the port mistake, and what a bare API server adds (no
			// TA account, no endpoints).
			require.NoError(t, unstructured.SetNestedField(o.Object, "rules:\n  TA103: off\n  TA202: off\n  TA008: off\n  TA010: off\n  TA106: off\n", "data", "policy.yaml"))
		default:
			continue
		}
		_, err := k.apply(ctx, o)
		require.NoError(t, err, "%s %s", o.GetKind(), o.GetName())
		installed++
	}
	require.Equal(t, 5, installed)

	code, text, stderr := diagnoseText()
	assert.Equal(t, 0, code, "%s\n%s", text, stderr)
	assert.Contains(t, text, "policy: ConfigMap ta-guard/ta-guard-policy (key policy.yaml), which Deployment ta-guard/ta-guard runs with")
	assert.NotContains(t, text, "✗")
	assert.Contains(t, text, `– job serviceMonitor/opentelemetry/sm-example/1: port "py-client-port": failed, but turned off by the policy or ta-guard.io/skip [TA103]`)
}

// diagnoseEnv builds the binary and starts a real API server with the
// opentelemetry.io and monitoring CRDs: the binary, an admin kubeconfig
// for it, and a client.
func diagnoseEnv(t *testing.T) (bin, kubeconfig string, k *kube) {
	t.Helper()
	assets, err := assetsDir()
	require.NoError(t, err)
	bin = filepath.Join(t.TempDir(), "ta-guard")
	build := exec.Command("go", "build", "-o", bin, "./cmd/ta-guard")
	build.Dir = repoRoot
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	env := &envtest.Environment{BinaryAssetsDirectory: assets, CRDDirectoryPaths: crdPaths("opentelemetry", "monitoring"), ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	require.NoError(t, err)
	t.Cleanup(func() { _ = env.Stop() })
	user, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	require.NoError(t, err)
	kc, err := user.KubeConfig()
	require.NoError(t, err)
	kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfig, kc, 0o600))
	k, err = newKube(cfg)
	require.NoError(t, err)
	return bin, kubeconfig, k
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

// runBinary runs the built binary and returns its exit code and output.
func runBinary(t *testing.T, bin string, args ...string) (int, string, string) {
	t.Helper()
	return runCommand(t, "", nil, bin, args...)
}

// runCommand runs a program in dir (the test's when empty) with env (the
// test's own when nil) and returns its exit code and output.
func runCommand(t *testing.T, dir string, env []string, bin string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir, cmd.Env = dir, env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return code, o.String(), e.String()
}
