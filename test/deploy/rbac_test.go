package deploy

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/ta-guard/ta-guard/internal/audit"
	"github.com/ta-guard/ta-guard/internal/metrics"
	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/internal/server"
	"github.com/ta-guard/ta-guard/internal/watch"
	"github.com/ta-guard/ta-guard/internal/webhook"
	"github.com/ta-guard/ta-guard/test/testenv"
)

// asServiceAccount is cfg impersonating a ServiceAccount of ta-guard's
// namespace, with the groups the API server gives its tokens.
func asServiceAccount(cfg *rest.Config, account string) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + namespace + ":" + account,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
	}
	return c
}

// applyRendered creates objects (once: the tests share the API server).
func applyRendered(t *testing.T, c client.Client, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		err := c.Create(context.Background(), o)
		if !apierrors.IsAlreadyExists(err) {
			require.NoError(t, err, "%s %s", o.GetObjectKind().GroupVersionKind().Kind, o.GetName())
		}
	}
}

// installRBAC applies the namespace, ServiceAccount, roles and bindings
// rendered from config/webhook/base.
func installRBAC(t *testing.T, cl *cluster, c client.Client) {
	t.Helper()
	ensureNamespace(t, cl)
	var objs []client.Object
	for _, o := range ofKind(render(t, "base"), "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding") {
		objs = append(objs, o)
	}
	applyRendered(t, c, objs...)
}

// TestRBAC runs the webhook in-process as the rendered ServiceAccount, on
// the API server with RBAC authorization: with the rendered role it syncs
// every informer and answers with the live rules evaluated; with a copy of
// the role that lacks one grant, the kind of that grant never syncs (or the
// live rules fail), so each grant is needed and a kind the code reads that
// the role does not grant fails this test.
func TestRBAC(t *testing.T) {
	cl := apiServer(t)
	admin, err := client.New(cl.cfg, client.Options{})
	require.NoError(t, err)
	installRBAC(t, cl, admin)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	// The resource of every informer, through the API server's RESTMapper.
	kindOf := map[string]string{} // group/resource -> watch.Kind name
	t.Run("the role's informer grants are the kinds internal/watch reads", func(t *testing.T) {
		hc, err := rest.HTTPClientFor(cl.cfg)
		require.NoError(t, err)
		mapper, err := apiutil.NewDynamicRESTMapper(cl.cfg, hc)
		require.NoError(t, err)
		scheme, err := watch.NewScheme()
		require.NoError(t, err)
		for _, k := range watch.Kinds() {
			for _, obj := range k.Alternatives {
				gvk, err := apiutil.GVKForObject(obj, scheme)
				require.NoError(t, err)
				m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
				require.NoError(t, err, "%s is served (CRDs installed)", gvk)
				kindOf[m.Resource.Group+"/"+m.Resource.Resource] = k.Name
				assert.Equal(t, m.Resource.Resource, model.ResourceOf(gvk.Group, gvk.Kind), "the registry names %s's resource as the API server does", gvk)
			}
		}
		var read []string
		for r := range kindOf {
			read = append(read, r)
		}
		sort.Strings(read)
		want := append([]string(nil), informerResources...)
		sort.Strings(want)
		require.Equal(t, want, read, "informerResources (and so the role, see TestOverlaysRender) lists what internal/watch reads")
	})
	require.Len(t, kindOf, len(informerResources))

	// The role as rendered, and copies without one resource each.
	role := typed[rbacv1.ClusterRole](t, one(t, render(t, "base"), "ClusterRole", "ta-guard"))
	type run struct {
		account string
		without string // group/resource left out of the role; "" for the role as rendered
		srv     *server.Server
		addr    string
	}
	runs := []*run{{account: serviceAccount}}
	for _, r := range append(append([]string(nil), informerResources...), "/serviceaccounts", "authorization.k8s.io/subjectaccessreviews") {
		_, resource, _ := strings.Cut(r, "/")
		runs = append(runs, &run{account: "ta-guard-without-" + resource, without: r})
	}
	for _, r := range runs[1:] {
		objs := withoutResource(role, r.account, r.without)
		require.Equal(t, countResources(role.Rules)-1, countResources(objs[1].(*rbacv1.ClusterRole).Rules), "%s is left out", r.without)
		applyRendered(t, admin, objs...)
	}

	ca := newCA(t)
	crt, key := ca.issue(t, 1)
	certs := newSecretVolume(t, crt, key)
	for _, r := range runs {
		port := testenv.FreeLoopbackPort(t)
		srv, err := server.New(server.Options{
			Config: asServiceAccount(cl.cfg, r.account),
			Host:   "127.0.0.1", Port: port, CertDir: certs.dir,
			MetricsAddr: "0", HealthAddr: "0", Metrics: metrics.New(),
			WatchInterval: 300 * time.Millisecond, AccessCacheTTL: time.Millisecond,
			Log: logr.Discard(),
		})
		require.NoError(t, err)
		r.srv, r.addr = srv, "127.0.0.1:"+strconv.Itoa(port)
		go func() { _ = srv.Start(ctx) }()
	}
	hc := admissionClient(ca)

	t.Run("as rendered: every informer syncs and the webhook answers with the live rules", func(t *testing.T) {
		srv := runs[0].srv
		waitUntil(t, 20*time.Second, "every informer served and synced", func() bool {
			for _, k := range watch.Kinds() {
				if !srv.Watcher.Served(k.Name) {
					return false
				}
			}
			return srv.Watcher.Synced()
		})
		resp, err := review(hc, runs[0].addr, blindCollector(t))
		require.NoError(t, err)
		requireLiveAnswer(t, resp)
	})

	for _, r := range runs[1:] {
		kind, informer := kindOf[r.without]
		if !informer {
			t.Run("without "+r.without+": the live rules fail, the request is admitted unchecked", func(t *testing.T) {
				waitUntil(t, 20*time.Second, "every informer synced", r.srv.Watcher.Synced)
				resp, err := review(hc, r.addr, blindCollector(t))
				require.NoError(t, err)
				assert.True(t, resp.Allowed)
				assert.Contains(t, strings.Join(resp.Warnings, "\n"), webhook.NotChecked+"live checks (RBAC, service account) failed")
			})
			continue
		}
		t.Run("without "+r.without+": "+kind+" never syncs", func(t *testing.T) {
			waitUntil(t, 20*time.Second, "every other informer synced", func() bool {
				for k, ok := range r.srv.Watcher.SyncState() {
					if k != kind && !ok {
						return false
					}
				}
				return true
			})
			// The positive proof that it will not sync: the API server has
			// refused its list for lack of the grant.
			waitUntil(t, 20*time.Second, kind+"'s list refused as forbidden", func() bool {
				return apierrors.IsForbidden(r.srv.Watcher.ListError(kind))
			})
			assert.True(t, r.srv.Watcher.Served(kind), "the API serves %s; the role does not grant it", kind)
			assert.False(t, r.srv.Watcher.SyncState()[kind], "%s synced without list/watch on %s", kind, r.without)
			assert.False(t, r.srv.Watcher.Synced())
		})
	}

	t.Run("the audit's grants hold where the audit uses them, and nowhere else", func(t *testing.T) {
		sa, err := client.New(asServiceAccount(cl.cfg, serviceAccount), client.Options{})
		require.NoError(t, err)
		canNamed := func(ns, group, resource, verb, name string) bool {
			r := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
				ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Group: group, Resource: resource, Verb: verb, Name: name},
			}}
			require.NoError(t, sa.Create(ctx, r))
			return r.Status.Allowed
		}
		can := func(ns, group, resource, verb string) bool { return canNamed(ns, group, resource, verb, "") }
		for _, verb := range []string{"create", "list", "watch"} {
			assert.True(t, can("opentelemetry", "wgpolicyk8s.io", "policyreports", verb), verb+" policyreports")
			assert.True(t, can("opentelemetry", "openreports.io", "reports", verb), verb+" reports")
		}
		// What the audit does, as the account: server-side apply creates
		// and updates its report, and delete removes it; another name is
		// refused.
		if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "opentelemetry"}}); !apierrors.IsAlreadyExists(err) {
			require.NoError(t, err)
		}
		for _, name := range []string{audit.ReportName, audit.ReportName, "kyverno-polr"} {
			u := &unstructured.Unstructured{Object: map[string]any{"results": []any{}, "summary": map[string]any{"pass": int64(0)}}}
			u.SetGroupVersionKind(audit.ReportGVK)
			u.SetNamespace("opentelemetry")
			u.SetName(name)
			err := sa.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(audit.FieldOwner), client.ForceOwnership)
			if name == audit.ReportName {
				require.NoError(t, err, "apply of its own report")
			} else {
				assert.True(t, apierrors.IsForbidden(err), "apply of another tool's report: %v", err)
			}
		}
		own := &unstructured.Unstructured{}
		own.SetGroupVersionKind(audit.ReportGVK)
		own.SetNamespace("opentelemetry")
		own.SetName(audit.ReportName)
		require.NoError(t, sa.Delete(ctx, own), "delete of its own report")
		// Its own report only: another tool's is read through list, never
		// changed or deleted.
		for _, verb := range []string{"get", "update", "patch", "delete"} {
			assert.True(t, canNamed("opentelemetry", "wgpolicyk8s.io", "policyreports", verb, "ta-guard"), verb+" policyreport ta-guard")
			assert.False(t, canNamed("opentelemetry", "wgpolicyk8s.io", "policyreports", verb, "kyverno-polr"), verb+" another tool's policyreport")
			assert.False(t, can("opentelemetry", "wgpolicyk8s.io", "policyreports", verb), verb+" policyreports of any name")
			assert.True(t, canNamed("opentelemetry", "openreports.io", "reports", verb, "ta-guard"), verb+" report ta-guard")
			assert.False(t, canNamed("opentelemetry", "openreports.io", "reports", verb, "kyverno-rep"), verb+" another tool's report")
		}
		for _, group := range []string{"", "events.k8s.io"} {
			assert.True(t, can("opentelemetry", group, "events", "create"), "create events in group %q", group)
			assert.True(t, can("opentelemetry", group, "events", "patch"), "patch events in group %q", group)
			assert.False(t, can("opentelemetry", group, "events", "delete"), "delete events in group %q", group)
		}
		for _, verb := range []string{"get", "create", "update"} {
			assert.True(t, can(namespace, "coordination.k8s.io", "leases", verb), verb+" leases in "+namespace)
			assert.False(t, can("kube-system", "coordination.k8s.io", "leases", verb), verb+" leases in kube-system")
		}
		for _, ns := range []string{namespace, "opentelemetry"} {
			for _, res := range []string{"secrets", "configmaps"} {
				assert.False(t, can(ns, "", res, "get"), "get %s in %s", res, ns)
				assert.False(t, can(ns, "", res, "list"), "list %s in %s", res, ns)
			}
			assert.False(t, can(ns, "", "services", "update"), "update services in %s", ns)
			assert.False(t, can(ns, "", "pods", "get"), "get pods in %s", ns)
			assert.False(t, can(ns, "", "serviceaccounts", "update"), "update serviceaccounts in %s", ns)
			assert.False(t, can(ns, "rbac.authorization.k8s.io", "rolebindings", "create"), "create rolebindings in %s", ns)
		}
	})
}

// withoutResource is the role as rendered less one group/resource, bound to
// its own ServiceAccount.
func withoutResource(role *rbacv1.ClusterRole, account, gr string) []client.Object {
	group, resource, _ := strings.Cut(gr, "/")
	cr := &rbacv1.ClusterRole{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
		ObjectMeta: metav1.ObjectMeta{Name: account},
	}
	for _, r := range role.Rules {
		r = *r.DeepCopy()
		if len(r.APIGroups) == 1 && r.APIGroups[0] == group {
			var keep []string
			for _, res := range r.Resources {
				if res != resource {
					keep = append(keep, res)
				}
			}
			r.Resources = keep
		}
		if len(r.Resources) > 0 {
			cr.Rules = append(cr.Rules, r)
		}
	}
	return []client.Object{
		&corev1.ServiceAccount{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
			ObjectMeta: metav1.ObjectMeta{Name: account, Namespace: namespace},
		},
		cr,
		&rbacv1.ClusterRoleBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
			ObjectMeta: metav1.ObjectMeta{Name: account},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: account},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: account, Namespace: namespace}},
		},
	}
}

func countResources(rs []rbacv1.PolicyRule) int {
	n := 0
	for _, r := range rs {
		n += len(r.APIGroups) * len(r.Resources)
	}
	return n
}
