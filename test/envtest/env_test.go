// Package envtest runs ta-guard against a real kube-apiserver and etcd
// (controller-runtime envtest), with the webhook registered through a
// ValidatingWebhookConfiguration and called by the API server. The binaries
// come from hack/k8s-bins.sh (built from the Go module proxy); `make test`
// builds them first.
package envtest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/ta-guard/ta-guard/internal/manifest"
	"github.com/ta-guard/ta-guard/internal/server"
	"github.com/ta-guard/ta-guard/internal/webhook"
	"github.com/ta-guard/ta-guard/test/testenv"
)

var repoRoot = testenv.RepoRoot()

// assetsDir finds kube-apiserver and etcd (see testenv.Assets).
func assetsDir() (string, error) { return testenv.Assets() }

// validatingWebhook registers ta-guard for the five kinds, both collector
// versions, CREATE / UPDATE / DELETE. failurePolicy Fail here, so that a
// broken webhook fails the tests instead of passing silently.
func validatingWebhook() *admissionregistrationv1.ValidatingWebhookConfiguration {
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	timeout := int32(10)
	path := webhook.Path
	ops := []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update, admissionregistrationv1.Delete}
	rule := func(group string, versions []string, resources ...string) admissionregistrationv1.RuleWithOperations {
		return admissionregistrationv1.RuleWithOperations{Operations: ops, Rule: admissionregistrationv1.Rule{
			APIGroups: []string{group}, APIVersions: versions, Resources: resources,
		}}
	}
	return &admissionregistrationv1.ValidatingWebhookConfiguration{
		TypeMeta:   metaType("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"),
		ObjectMeta: objectMeta("ta-guard"),
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:                    "validate.ta-guard.io",
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             &none,
			FailurePolicy:           &fail,
			TimeoutSeconds:          &timeout,
			ClientConfig: admissionregistrationv1.WebhookClientConfig{
				Service: &admissionregistrationv1.ServiceReference{Name: "ta-guard", Namespace: "ta-guard", Path: &path},
			},
			Rules: []admissionregistrationv1.RuleWithOperations{
				rule("opentelemetry.io", []string{"v1alpha1", "v1beta1"}, "opentelemetrycollectors", "targetallocators"),
				rule("monitoring.coreos.com", []string{"v1"}, "servicemonitors", "podmonitors", "probes"),
				rule("monitoring.coreos.com", []string{"v1alpha1"}, "scrapeconfigs"),
				rule("", []string{"v1"}, "services"),
			},
		}},
	}
}

// warnings collects the warnings of the requests of one client.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.list
	w.list = nil
	if out == nil {
		out = []string{}
	}
	return out
}

// kube is a client whose requests' warnings are collected.
type kube struct {
	client.Client
	warn *warnings
	srv  *server.Server
}

func newKube(cfg *rest.Config) (*kube, error) {
	w := &warnings{}
	c := rest.CopyConfig(cfg)
	c.WarningHandler = w
	cl, err := client.New(c, client.Options{})
	if err != nil {
		return nil, err
	}
	return &kube{Client: cl, warn: w}, nil
}

// objectsOf reads a manifest file of the repository into unstructured objects.
func objectsOf(t *testing.T, rel string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	return objectsFromYAML(t, string(data))
}

func objectsFromYAML(t *testing.T, doc string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, part := range strings.Split(doc, "\n---") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		u := &unstructured.Unstructured{}
		j, err := yaml.YAMLToJSON([]byte(part))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(bytes.TrimSpace(j), []byte("null")) {
			continue
		}
		if err := u.UnmarshalJSON(j); err != nil {
			t.Fatal(err)
		}
		// The operator's CRD requires spec.config, which the guide's minimal
		// collectors leave out; {} means the same to the rules (no receiver).
		if u.GetKind() == "OpenTelemetryCollector" {
			if _, found, _ := unstructured.NestedFieldNoCopy(u.Object, "spec", "config"); !found {
				_ = unstructured.SetNestedMap(u.Object, map[string]any{}, "spec", "config")
			}
		}
		out = append(out, u)
	}
	return out
}

// apply creates the object, or replaces it when it exists, and returns the
// warnings the API server relayed.
func (k *kube) apply(ctx context.Context, u *unstructured.Unstructured) ([]string, error) {
	k.warn.take()
	obj := u.DeepCopy()
	err := k.Create(ctx, obj)
	if err != nil && strings.Contains(err.Error(), "already exists") {
		cur := u.DeepCopy()
		if gerr := k.Get(ctx, client.ObjectKeyFromObject(u), cur); gerr != nil {
			return nil, gerr
		}
		obj.SetResourceVersion(cur.GetResourceVersion())
		k.warn.take()
		err = k.Update(ctx, obj)
	}
	return k.warn.take(), err
}

func (k *kube) remove(ctx context.Context, u *unstructured.Unstructured) ([]string, error) {
	k.warn.take()
	err := k.Delete(ctx, u.DeepCopy())
	return k.warn.take(), client.IgnoreNotFound(err)
}

var _ = manifest.Options{}

// crdPaths are the project's CRDs.
func crdPaths(which ...string) []string {
	var out []string
	for _, w := range which {
		out = append(out, filepath.Join(repoRoot, "config", "crd", w))
	}
	return out
}

func newEnvironment(assets string) *envtest.Environment {
	return &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     crdPaths("opentelemetry"),
		ErrorIfCRDPathMissing: true,
		WebhookInstallOptions: envtest.WebhookInstallOptions{
			ValidatingWebhooks: []*admissionregistrationv1.ValidatingWebhookConfiguration{validatingWebhook()},
		},
	}
}
