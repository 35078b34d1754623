package envtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ta-guard/ta-guard/internal/access"
	"github.com/ta-guard/ta-guard/internal/server"
	"github.com/ta-guard/ta-guard/internal/webhook"
	"github.com/ta-guard/ta-guard/pkg/validate"
)

// smBasicAuth is read by the guide's collector (every namespace), and its
// Secret lives in app, where the TA's own grants (secrets in
// opentelemetry, as RequiredPermissions asks) do not reach.
const smBasicAuth = `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: sm-auth, namespace: app}
spec:
  selector: {matchLabels: {app: web}}
  endpoints:
  - port: http
    basicAuth:
      username: {name: web-auth, key: user}
      password: {name: web-auth, key: %s}
`

const ta108 = "TA108 ServiceMonitor app/sm-auth: OpenTelemetryCollector opentelemetry/otelcol's TA may not get Secret web-auth (endpoint 0): it drops the monitor"

// TestSecrets: TA108 and TA109 against a real API server's RBAC and
// Secrets, through the webhook, and the opt-in grant that TA109 needs.
func TestSecrets(t *testing.T) {
	w := startWebhook(t, webhookSetup{CRDs: []string{"monitoring"}, Tune: func(o *server.Options) { o.CheckSecretKeys = true }})
	ctx, k, srv, cfg := w.ctx, w.k, w.srv, w.cfg

	for _, ns := range []string{"opentelemetry", "app"} {
		require.NoError(t, k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	}
	const account = "opentelemetry-targetallocator-sa"
	require.NoError(t, k.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: account, Namespace: "opentelemetry"}}))
	grantScoped(t, ctx, k, account)
	collector := objectsOf(t, "testdata/seed/collector.yaml")[0]
	_, err := k.apply(ctx, collector)
	require.NoError(t, err)
	require.NoError(t, k.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "web-auth", Namespace: "app"},
		Data:       map[string][]byte{"user": []byte("scraper"), "pass": []byte("s3cret")},
	}))
	waitForStore(t, srv, []*unstructured.Unstructured{collector}, -1)
	sm := objectsFromYAML(t, strings.Replace(smBasicAuth, "%s", "pass", 1))[0]

	t.Run("TA108 when the TA's service account may not get the Secret", func(t *testing.T) {
		w, err := k.apply(ctx, sm)
		require.NoError(t, err)
		assert.Contains(t, w, ta108)
		assert.Empty(t, secretWarnings(w, "TA109", webhook.NotChecked), "the Secret and its keys are there")
	})

	t.Run("no TA108 once a Role and RoleBinding grant get on that Secret", func(t *testing.T) {
		require.NoError(t, k.Create(ctx, &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: "ta-scrape-secrets", Namespace: "app"},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}, ResourceNames: []string{"web-auth"}}},
		}))
		require.NoError(t, k.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "ta-scrape-secrets", Namespace: "app"},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "ta-scrape-secrets"},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: account, Namespace: "opentelemetry"}},
		}))
		// The API server's authorizer learns of the binding through its
		// own informers, a moment after the create.
		var w []string
		waitFor(t, "the grant to reach the authorizer", func() bool {
			w, err = k.apply(ctx, sm)
			require.NoError(t, err)
			return len(secretWarnings(w, "TA108")) == 0
		})
		assert.Empty(t, secretWarnings(w, "TA108", "TA109", webhook.NotChecked))
	})

	t.Run("TA109 with --check-secret-keys: the key the monitor names is missing", func(t *testing.T) {
		w, err := k.apply(ctx, objectsFromYAML(t, strings.Replace(smBasicAuth, "%s", "password", 1))[0])
		require.NoError(t, err)
		assert.Equal(t, []string{`TA109 ServiceMonitor app/sm-auth: Secret web-auth has no key "password" (endpoint 0): every TA that reads it drops the monitor`},
			secretWarnings(w, "TA108", "TA109", webhook.NotChecked))
	})

	t.Run("the secret-keys component grants ta-guard get on Secrets, nothing more, and turns the flag on", func(t *testing.T) {
		assets, err := assetsDir()
		require.NoError(t, err)
		objs := renderWithComponent(t, assets, "overlays/warn", "components/secret-keys")
		var args []string
		var grants []rbacv1.PolicyRule
		for _, o := range objs {
			switch o.GetKind() {
			case "Deployment":
				cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
				require.Len(t, cs, 1)
				for _, a := range cs[0].(map[string]any)["args"].([]any) {
					args = append(args, a.(string))
				}
			case "ClusterRole", "ClusterRoleBinding":
				if o.GetName() != "ta-guard-secret-keys" {
					continue
				}
				if o.GetKind() == "ClusterRole" {
					var r rbacv1.ClusterRole
					require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &r))
					grants = r.Rules
				}
				require.NoError(t, k.Create(ctx, o.DeepCopy()))
			}
		}
		assert.Contains(t, args, "--check-secret-keys")
		assert.Equal(t, []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}}}, grants)

		// ta-guard's own lookups, as its ServiceAccount: with the grant
		// the Secret's keys are seen, and only get was granted.
		asGuard := rest.CopyConfig(cfg)
		asGuard.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:ta-guard:ta-guard",
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:ta-guard", "system:authenticated"}}
		c, err := client.New(asGuard, client.Options{})
		require.NoError(t, err)
		r := access.NewReviewer(c, c)
		r.ReadSecrets = true
		var info validate.SecretInfo
		waitFor(t, "the component's grant to reach the authorizer", func() bool {
			info, err = r.LookupSecret(ctx, "app", "web-auth")
			require.NoError(t, err)
			return info.Checked
		})
		assert.Equal(t, validate.SecretInfo{Checked: true, Exists: true, Keys: []string{"pass", "user"}}, info)
		err = c.List(ctx, &corev1.SecretList{}, client.InNamespace("app"))
		assert.True(t, err != nil && strings.Contains(err.Error(), "forbidden"), "list secrets must stay forbidden: %v", err)
	})

	t.Run("without the grant ta-guard's lookups stay unchecked, not failed", func(t *testing.T) {
		require.NoError(t, k.Delete(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "ta-guard-secret-keys"}}))
		asGuard := rest.CopyConfig(cfg)
		asGuard.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:ta-guard:ta-guard"}
		c, err := client.New(asGuard, client.Options{})
		require.NoError(t, err)
		r := access.NewReviewer(c, c)
		r.ReadSecrets = true
		waitFor(t, "the binding's removal to reach the authorizer", func() bool {
			info, err := r.LookupSecret(ctx, "app", "web-auth")
			require.NoError(t, err)
			return !info.Checked
		})
	})
}

// grantScoped gives the TA's service account every permission the TA
// needs (validate.RequiredPermissions), each in its scope: cluster-wide
// ones through a ClusterRole, the Secrets of its secretNamespaces (its own
// namespace by default) through a Role there. grantTARBAC grants them all
// cluster-wide, which would let the TA read every Secret.
func grantScoped(t *testing.T, ctx context.Context, k *kube, account string) {
	t.Helper()
	rules := map[string][]rbacv1.PolicyRule{}
	var order []string
	for _, p := range validate.RequiredPermissions(allocatorFor(t)) {
		rs, ok := rules[p.Namespace]
		if !ok {
			order = append(order, p.Namespace)
		}
		if n := len(rs); n > 0 && rs[n-1].Resources[0] == p.Resource && rs[n-1].APIGroups[0] == p.Group {
			rs[n-1].Verbs = append(rs[n-1].Verbs, p.Verb)
		} else {
			rs = append(rs, rbacv1.PolicyRule{APIGroups: []string{p.Group}, Resources: []string{p.Resource}, Verbs: []string{p.Verb}})
		}
		rules[p.Namespace] = rs
	}
	subject := []rbacv1.Subject{{Kind: "ServiceAccount", Name: account, Namespace: "opentelemetry"}}
	name := "ta-" + account
	for _, ns := range order {
		if ns == "" {
			require.NoError(t, k.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules[ns]}))
			require.NoError(t, k.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
				RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name}, Subjects: subject}))
			continue
		}
		require.NoError(t, k.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Rules: rules[ns]}))
		require.NoError(t, k.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name}, Subjects: subject}))
	}
}

// secretWarnings keeps the warnings that start with one of the prefixes.
func secretWarnings(ws []string, prefixes ...string) []string {
	out := []string{}
	for _, w := range ws {
		for _, p := range prefixes {
			if strings.HasPrefix(w, p) {
				out = append(out, w)
				break
			}
		}
	}
	return out
}

// renderWithComponent renders an overlay of config/webhook with a component
// added, the way a user's own kustomization would (kustomize wants relative
// paths).
func renderWithComponent(t *testing.T, assets, overlay, component string) []*unstructured.Unstructured {
	t.Helper()
	dir := t.TempDir()
	rel := func(p string) string {
		r, err := filepath.Rel(dir, filepath.Join(repoRoot, "config", "webhook", p))
		require.NoError(t, err)
		return r
	}
	kz := "resources: [" + rel(overlay) + "]\ncomponents: [" + rel(component) + "]\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(kz), 0o600))
	out, err := exec.Command(filepath.Join(assets, "kubectl"), "kustomize", dir).Output()
	require.NoError(t, err, "kubectl kustomize")
	return objectsFromYAML(t, string(out))
}
