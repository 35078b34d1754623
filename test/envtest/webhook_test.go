package envtest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/internal/policy"
	"github.com/ta-guard/ta-guard/internal/server"
	"github.com/ta-guard/ta-guard/internal/webhook"
	"github.com/ta-guard/ta-guard/pkg/validate"
)

// TestWebhook walks ta-guard through a real API server. Its steps share one
// cluster and run in order: the first ones need the monitoring CRDs absent.
func TestWebhook(t *testing.T) {
	assets, err := assetsDir()
	require.NoError(t, err)
	env := newEnvironment(assets)
	cfg, err := env.Start()
	require.NoError(t, err, "starting kube-apiserver and etcd")
	t.Cleanup(func() { _ = env.Stop() })

	policyFile := filepath.Join(t.TempDir(), "policy.yaml")
	require.NoError(t, os.WriteFile(policyFile, []byte("{}\n"), 0o600))
	wo := env.WebhookInstallOptions
	srv, err := server.New(server.Options{
		Config: cfg, PolicyFile: policyFile,
		Host: wo.LocalServingHost, Port: wo.LocalServingPort, CertDir: wo.LocalServingCertDir,
		MetricsAddr: "0", HealthAddr: "0",
		WatchInterval: 300 * time.Millisecond, PolicyInterval: 100 * time.Millisecond,
		AccessCacheTTL: time.Millisecond,
		Log:            logr.Discard(),
	})
	require.NoError(t, err)
	// The gate holds ta-guard "not synced" until the first step has sent its
	// request: a real informer syncs too fast to catch otherwise.
	var gate atomic.Bool
	synced := srv.Handler.Ready
	srv.Handler.Ready = func() bool { return gate.Load() && synced() }

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = srv.Start(ctx) }()

	k, err := newKube(cfg)
	require.NoError(t, err)
	k.srv = srv
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "opentelemetry"}}
	require.NoError(t, k.Create(ctx, ns))

	waitFor(t, "webhook serving", func() bool {
		_, err := k.apply(ctx, serviceNamed("probe"))
		return err == nil
	})

	t.Run("TLS 1.2 minimum, HTTP/2 not offered", func(t *testing.T) {
		addr := net.JoinHostPort(wo.LocalServingHost, fmt.Sprint(wo.LocalServingPort))
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}}) //nolint:gosec // a probe of our own test server
		require.NoError(t, err)
		assert.Equal(t, "http/1.1", conn.ConnectionState().NegotiatedProtocol)
		_ = conn.Close()
		_, err = tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}) //nolint:gosec // must be refused
		assert.Error(t, err, "TLS 1.1 must be refused")
	})

	t.Run("requests before the caches sync are admitted, not checked", func(t *testing.T) {
		w, err := k.apply(ctx, objectsOf(t, "testdata/seed/service-port-bleh.yaml")[0])
		require.NoError(t, err)
		assert.Equal(t, []string{webhook.NotChecked + "ta-guard's caches have not synced yet"}, w)
		_, _ = k.remove(ctx, objectsOf(t, "testdata/seed/service-port-bleh.yaml")[0])
	})
	gate.Store(true)
	waitFor(t, "informers synced", srv.Watcher.Synced)

	t.Run("TA009 while the monitoring CRDs are absent", func(t *testing.T) {
		assert.False(t, srv.Watcher.Served("ServiceMonitor"))
		w, err := k.apply(ctx, objectsOf(t, "testdata/seed/collector.yaml")[0])
		require.NoError(t, err)
		assert.Contains(t, strings.Join(w, "\n"), "TA009 OpenTelemetryCollector opentelemetry/otelcol: prometheusCR is on but the API server serves no ServiceMonitor / PodMonitor")
		_, _ = k.remove(ctx, objectsOf(t, "testdata/seed/collector.yaml")[0])
	})

	t.Run("monitoring CRDs installed later are picked up", func(t *testing.T) {
		_, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: crdPaths("monitoring"), ErrorIfPathMissing: true})
		require.NoError(t, err)
		waitFor(t, "ServiceMonitor and PodMonitor informers", func() bool {
			return srv.Watcher.Served("ServiceMonitor") && srv.Watcher.Served("PodMonitor") && srv.Watcher.Synced()
		})
	})

	// From here on the TA's RBAC is granted, so that live rules do not add
	// TA008 to the guide's findings.
	require.NoError(t, k.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "opentelemetry-targetallocator-sa", Namespace: "opentelemetry"}}))
	grantTARBAC(t, ctx, k, "opentelemetry-targetallocator-sa")

	t.Run("the guide's scenarios give the golden warnings", func(t *testing.T) {
		for _, sc := range goldenScenarios {
			t.Run(sc.name, func(t *testing.T) { runScenario(t, ctx, k, sc) })
		}
	})

	t.Run("deny policy rejects the blind collector with our message, and admits it fixed", func(t *testing.T) {
		// The guide's ServiceMonitor is there, read by no TA: a collector
		// that reads no ServiceMonitor loses it now. No PodMonitor exists:
		// the unset podMonitorSelector is a risk, a warning whatever the
		// policy says.
		sm := objectsOf(t, "testdata/seed/servicemonitor.yaml")[0]
		_, err := k.apply(ctx, sm)
		require.NoError(t, err)
		defer func() { _, _ = k.remove(ctx, sm) }()
		waitForStore(t, srv, []*unstructured.Unstructured{sm}, -1)
		setPolicy(t, srv, policyFile, "defaultAction: deny\n")
		defer setPolicy(t, srv, policyFile, "{}\n")
		blind := objectsOf(t, "testdata/seed/collector-selectors-omitted.yaml")[0]
		_, err = k.apply(ctx, blind)
		require.Error(t, err)
		msg := err.Error()
		assert.Contains(t, msg, "ta-guard denied this change:")
		assert.Contains(t, msg, "TA003 OpenTelemetryCollector opentelemetry/otelcol: prometheusCR.serviceMonitorSelector is unset, so the TA reads no ServiceMonitor")
		assert.Contains(t, msg, "fix: set spec.targetAllocator.prometheusCR.serviceMonitorSelector: {}")
		assert.NotContains(t, msg, "podMonitorSelector is unset", "a risk is not denied")
		// The API server passes on what an invalid object gets: 422,
		// reason Invalid, and the field of each denial.
		require.True(t, apierrors.IsInvalid(err), "%T %v", err, err)
		var status apierrors.APIStatus
		require.ErrorAs(t, err, &status)
		details := status.Status().Details
		require.NotNil(t, details)
		assert.Equal(t, "OpenTelemetryCollector", details.Kind)
		var fields []string
		for _, c := range details.Causes {
			fields = append(fields, c.Field)
		}
		assert.Contains(t, fields, "spec.targetAllocator.prometheusCR.serviceMonitorSelector")
		fixed := objectsOf(t, "testdata/seed/collector.yaml")[0]
		w, err := k.apply(ctx, fixed)
		require.NoError(t, err, "the fixed collector is admitted")
		// It completes the monitor's job, which finds no Service here:
		// told (TA018), never denied.
		require.Len(t, w, 1)
		assert.True(t, strings.HasPrefix(w[0], "TA018 OpenTelemetryCollector opentelemetry/otelcol: 1 monitor it now reads find no target: ServiceMonitor opentelemetry/sm-example (TA102:"), w[0])
		_, _ = k.remove(ctx, fixed)
	})

	t.Run("TA201 on a Service port rename and on its deletion", func(t *testing.T) {
		var guide []*unstructured.Unstructured
		for _, f := range []string{"collector.yaml", "servicemonitor.yaml", "service.yaml"} {
			o := objectsOf(t, "testdata/seed/"+f)[0]
			_, err := k.apply(ctx, o)
			require.NoError(t, err)
			guide = append(guide, o)
		}
		// TA201 is about the Service's monitor losing its last target: the
		// store must hold all three, with the Service's port still prom.
		waitForStore(t, srv, guide, -1)
		waitForService(t, srv, "py-prometheus-app", "prom")
		w, err := k.apply(ctx, objectsOf(t, "testdata/seed/service-port-bleh.yaml")[0])
		require.NoError(t, err)
		assert.Contains(t, w, "TA201 Service opentelemetry/py-prometheus-app: job serviceMonitor/opentelemetry/sm-example/0 loses its last target Service: port prom (8080) renamed to bleh")

		_, err = k.apply(ctx, objectsOf(t, "testdata/seed/service.yaml")[0])
		require.NoError(t, err)
		waitForService(t, srv, "py-prometheus-app", "prom")

		// A dry run gets the same answer as the deletion itself and changes
		// nothing.
		deleted := []string{"TA201 Service opentelemetry/py-prometheus-app: job serviceMonitor/opentelemetry/sm-example/0 loses its last target Service: the Service is deleted"}
		k.warn.take()
		require.NoError(t, k.Delete(ctx, objectsOf(t, "testdata/seed/service.yaml")[0], client.DryRunAll))
		assert.Equal(t, deleted, k.warn.take(), "dry run")
		require.NoError(t, k.Get(ctx, client.ObjectKey{Namespace: "opentelemetry", Name: "py-prometheus-app"}, &corev1.Service{}), "still there")

		w, err = k.remove(ctx, objectsOf(t, "testdata/seed/service.yaml")[0])
		require.NoError(t, err)
		assert.Equal(t, deleted, w, "deletion")
	})

	t.Run("TA011 when a collector's selector stops matching sm-example", func(t *testing.T) {
		// TA011 compares what the collector reads before and after the
		// change: before it, the store must hold sm-example and see the
		// collector read it.
		smRef := model.Ref{Kind: "ServiceMonitor", Namespace: "opentelemetry", Name: "sm-example"}
		var sm *model.Monitor
		waitFor(t, "ServiceMonitor sm-example in the store", func() bool {
			sm, _ = srv.Store.Get(smRef).(*model.Monitor)
			return sm != nil
		})
		waitFor(t, "the store to see OpenTelemetryCollector otelcol read sm-example", func() bool {
			for _, r := range srv.Store.ReadersOf(sm) {
				if r.Ref.Kind == "OpenTelemetryCollector" && r.Ref.Namespace == "opentelemetry" && r.Ref.Name == "otelcol" {
					return true
				}
			}
			return false
		})
		narrowed := objectsOf(t, "testdata/seed/collector-sm-selector-app.yaml")[0]
		w, err := k.apply(ctx, narrowed)
		require.NoError(t, err)
		assert.Contains(t, strings.Join(w, "\n"), "TA011 OpenTelemetryCollector opentelemetry/otelcol: after this change no TA reads 1 monitor(s) it read before: ServiceMonitor opentelemetry/sm-example")
		for _, f := range []string{"servicemonitor.yaml", "collector.yaml"} {
			_, _ = k.remove(ctx, objectsOf(t, "testdata/seed/"+f)[0])
		}
	})

	t.Run("TA008 and TA010 from the API server's own answers", func(t *testing.T) {
		col := objectsOf(t, "testdata/seed/collector.yaml")[0]
		require.NoError(t, unstructured.SetNestedField(col.Object, "bare-sa", "spec", "targetAllocator", "serviceAccount"))
		w, err := k.apply(ctx, col)
		require.NoError(t, err)
		joined := strings.Join(w, "\n")
		assert.Contains(t, joined, "TA010 OpenTelemetryCollector opentelemetry/otelcol: serviceAccount bare-sa does not exist in namespace opentelemetry")
		assert.Contains(t, joined, "TA008 OpenTelemetryCollector opentelemetry/otelcol: service account bare-sa lacks 28 permission(s) the TA needs")

		require.NoError(t, k.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "bare-sa", Namespace: "opentelemetry"}}))
		grantTARBAC(t, ctx, k, "bare-sa")
		w, err = k.apply(ctx, col)
		require.NoError(t, err)
		assert.Empty(t, w, "bound to the permissions of semantics.md §5, the account passes")
		_, _ = k.remove(ctx, col)
	})
}

// grantTARBAC binds a service account of the opentelemetry namespace to a
// ClusterRole holding exactly the permissions the engine requires.
func grantTARBAC(t *testing.T, ctx context.Context, k *kube, account string) {
	t.Helper()
	byKey := map[string]*rbacv1.PolicyRule{}
	var order []string
	for _, p := range validate.RequiredPermissions(allocatorFor(t)) {
		key := p.Group + "/" + p.Resource
		r, ok := byKey[key]
		if !ok {
			r = &rbacv1.PolicyRule{APIGroups: []string{p.Group}, Resources: []string{p.Resource}}
			byKey[key] = r
			order = append(order, key)
		}
		r.Verbs = append(r.Verbs, p.Verb)
	}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "ta-" + account}}
	for _, key := range order {
		role.Rules = append(role.Rules, *byKey[key])
	}
	require.NoError(t, k.Create(ctx, role))
	require.NoError(t, k.Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "ta-" + account},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: account, Namespace: "opentelemetry"}},
	}))
}

type scenario struct {
	name  string
	files []string
}

// The scenarios of the check golden tests (internal/cli), whose JSON the API
// server's warnings must equal.
var goldenScenarios = []scenario{
	{"seed-working", []string{"collector.yaml", "servicemonitor.yaml", "service.yaml"}},
	{"seed-port-bleh", []string{"collector.yaml", "servicemonitor.yaml", "service-port-bleh.yaml"}},
	{"seed-selectors-omitted", []string{"collector-selectors-omitted.yaml"}},
	{"seed-sm-selector-app", []string{"collector-sm-selector-app.yaml", "servicemonitor.yaml", "service.yaml"}},
	{"seed-sm-selector-app-labelled", []string{"collector-sm-selector-app.yaml", "servicemonitor-labelled-app.yaml", "service.yaml"}},
}

// runScenario applies each object of the scenario last, into a cluster that
// holds all the others (as check evaluates it), and compares the warnings
// with the golden findings of that object. Besides, the apply tells what
// check shows on other objects only: TA018 on a collector or Service
// applied last names the monitors whose jobs it completes blind, and only
// those the golden findings show blind.
func runScenario(t *testing.T, ctx context.Context, k *kube, sc scenario) {
	var golden struct {
		Findings []struct {
			Rule    string `json:"rule"`
			Action  string `json:"action"`
			Message string `json:"message"`
			Object  struct{ Kind, Namespace, Name string }
		} `json:"findings"`
	}
	data, err := os.ReadFile(filepath.Join(repoRoot, "testdata", "golden", sc.name+".json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &golden))
	var objs []*unstructured.Unstructured
	for _, f := range sc.files {
		objs = append(objs, objectsOf(t, "testdata/seed/"+f)...)
	}
	cleanup := func() {
		for i := len(objs) - 1; i >= 0; i-- {
			_, _ = k.remove(ctx, objs[i])
		}
		waitForStoreToForget(t, k.srv, objs)
	}
	defer cleanup()
	for last := range objs {
		cleanup()
		for i, o := range objs {
			if i != last {
				_, err := k.apply(ctx, o)
				require.NoError(t, err)
			}
		}
		waitForStore(t, k.srv, objs, last)
		warnings, err := k.apply(ctx, objs[last])
		require.NoError(t, err)
		got := []string{}
		for _, w := range warnings {
			if !strings.HasPrefix(w, "TA018 ") {
				got = append(got, w)
				continue
			}
			named := false
			for _, f := range golden.Findings {
				blind := map[string]bool{"TA102": true, "TA103": true, "TA105": true, "TA107": true, "TA111": true}[f.Rule]
				named = named || blind && strings.Contains(w, f.Object.Kind+" "+f.Object.Namespace+"/"+f.Object.Name+" (")
			}
			assert.True(t, named, "TA018 names a monitor the golden findings show blind: %s", w)
		}
		want := []string{}
		for _, f := range golden.Findings {
			if f.Object.Kind == objs[last].GetKind() && f.Object.Name == objs[last].GetName() && f.Action == "warn" {
				want = append(want, strings.SplitN(f.Message, "\n", 2)[0])
			}
		}
		assert.Equal(t, want, got, "%s applied last", fmt.Sprintf("%s %s", objs[last].GetKind(), objs[last].GetName()))
	}
}

func serviceNamed(name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("v1")
	u.SetKind("Service")
	u.SetNamespace("opentelemetry")
	u.SetName(name)
	_ = unstructured.SetNestedSlice(u.Object, []any{map[string]any{"name": "x", "port": int64(80)}}, "spec", "ports")
	return u
}

// waitFor polls cond (in the test's goroutine: it may use require) until it
// holds, for at most 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitWithin(t, 30*time.Second, what, cond)
}

func waitWithin(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, timeout, true,
		func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}

func waitForService(t *testing.T, srv *server.Server, name, port string) {
	waitFor(t, "Service "+name+" with port "+port+" in the store", func() bool {
		for _, s := range srv.Store.Services(nsSet("opentelemetry"), everything()) {
			if s.Ref.Name == name && len(s.Ports) > 0 && s.Ports[0].Name == port {
				return true
			}
		}
		return false
	})
}

// setPolicy writes the policy file and waits until the server has put that
// very policy in force, so that the next request is judged by it.
func setPolicy(t *testing.T, srv *server.Server, file, content string) {
	t.Helper()
	want, err := policy.Parse([]byte(content))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(file, []byte(content), 0o600))
	waitFor(t, "the server to put the new policy in force", func() bool {
		return assert.ObjectsAreEqual(want, srv.Policy())
	})
}
