// Package deploy proves ta-guard's production deployment (config/webhook,
// certs/, Dockerfile) on a real kube-apiserver and etcd (controller-runtime
// envtest): every overlay renders with kubectl kustomize and passes a
// server-side dry run; the webhook, holding only the rendered ServiceAccount's
// permissions, starts, syncs every informer and answers, and each permission
// of its role is needed; the binary runs with the Deployment's own arguments,
// two replicas, and serves a replaced certificate without a restart; the
// Dockerfile builds what `make build` builds.
//
// kube-apiserver, etcd and kubectl come from hack/k8s-bins.sh (`make test`
// builds them first). Missing binaries fail the tests; they are never
// skipped.
package deploy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ta-guard/ta-guard/test/testenv"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

var repoRoot = testenv.RepoRoot()

// overlays are the installable variants of config/webhook.
var overlays = []string{"audit", "warn", "enforce"}

// The names the manifests give ta-guard.
const (
	namespace      = "ta-guard"
	serviceAccount = "ta-guard"
)

// assetsDir finds kube-apiserver, etcd and kubectl (see testenv.Assets).
func assetsDir() (string, error) { return testenv.Assets() }

func kubectlPath(t *testing.T) string {
	t.Helper()
	dir, err := assetsDir()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "kubectl")
}

// cluster is the API server the tests share: started by the first test that
// needs it, stopped by TestMain.
type cluster struct {
	env        *envtest.Environment
	cfg        *rest.Config
	kubeconfig string // admin kubeconfig file, for kubectl
}

var (
	shared     *cluster
	sharedErr  error
	sharedOnce sync.Once
)

// scratch holds directories that outlive one test; TestMain removes them.
var scratch dirs

type dirs struct {
	mu   sync.Mutex
	list []string
}

func (d *dirs) add(dir string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.list = append(d.list, dir)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		_ = shared.env.Stop()
	}
	for _, d := range scratch.list {
		_ = os.RemoveAll(d)
	}
	os.Exit(code)
}

// apiServer returns the shared API server, with the project's CRDs, the
// PolicyReport CRD and cert-manager's CRDs installed.
func apiServer(t *testing.T) *cluster {
	t.Helper()
	sharedOnce.Do(func() {
		assets, err := assetsDir()
		if err != nil {
			sharedErr = err
			return
		}
		env := &envtest.Environment{
			BinaryAssetsDirectory: assets,
			CRDDirectoryPaths: []string{
				filepath.Join(repoRoot, "config", "crd", "opentelemetry"),
				filepath.Join(repoRoot, "config", "crd", "monitoring"),
				filepath.Join(repoRoot, "config", "crd", "policyreport"),
				// cert-manager's own CRDs, from its module (hack/k8s-bins.sh):
				// its Issuers and Certificates are held to cert-manager's schemas.
				filepath.Join(assets, "crds", "cert-manager"),
			},
			ErrorIfCRDPathMissing: true,
		}
		cfg, err := env.Start()
		if err != nil {
			sharedErr = fmt.Errorf("starting kube-apiserver and etcd: %w", err)
			return
		}
		dir, err := os.MkdirTemp("", "ta-guard-deploy-")
		if err != nil {
			_ = env.Stop()
			sharedErr = err
			return
		}
		scratch.add(dir)
		kc := filepath.Join(dir, "admin.kubeconfig")
		if err := os.WriteFile(kc, env.KubeConfig, 0o600); err != nil {
			_ = env.Stop()
			sharedErr = err
			return
		}
		shared = &cluster{env: env, cfg: cfg, kubeconfig: kc}
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

// kubectl runs the built kubectl; a non-zero exit fails the test with its
// output.
func kubectl(t *testing.T, kubeconfig string, args ...string) (stdout, stderr string) {
	t.Helper()
	if kubeconfig != "" {
		args = append([]string{"--kubeconfig", kubeconfig}, args...)
	}
	cmd := exec.Command(kubectlPath(t), args...)
	cmd.Dir = repoRoot
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, e.String(), o.String())
	}
	return o.String(), e.String()
}

// rendered caches `kubectl kustomize` of a directory of config/webhook.
var (
	renderMu    sync.Mutex
	renderCache = map[string][]*unstructured.Unstructured{}
)

// render returns the objects of `kubectl kustomize config/webhook/<dir>`.
func render(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	renderMu.Lock()
	defer renderMu.Unlock()
	if objs, ok := renderCache[dir]; ok {
		return deepCopies(objs)
	}
	out, _ := kubectl(t, "", "kustomize", filepath.Join("config", "webhook", dir))
	objs := parseYAML(t, out)
	if len(objs) == 0 {
		t.Fatalf("kubectl kustomize config/webhook/%s rendered nothing", dir)
	}
	renderCache[dir] = objs
	return deepCopies(objs)
}

func deepCopies(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		out[i] = o.DeepCopy()
	}
	return out
}

// parseYAML splits a multi-document stream into objects.
func parseYAML(t *testing.T, doc string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, part := range strings.Split(doc, "\n---\n") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		j, err := yaml.YAMLToJSON([]byte(part))
		if err != nil {
			t.Fatal(err)
		}
		if string(bytes.TrimSpace(j)) == "null" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(j); err != nil {
			t.Fatal(err)
		}
		out = append(out, u)
	}
	return out
}

// one returns the only object of a kind (and name, when given).
func one(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	var found []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind && (name == "" || o.GetName() == name) {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one %s %q in the rendered manifests, found %d", kind, name, len(found))
	}
	return found[0]
}

func ofKind(objs []*unstructured.Unstructured, kinds ...string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		for _, k := range kinds {
			if o.GetKind() == k {
				out = append(out, o)
			}
		}
	}
	return out
}
