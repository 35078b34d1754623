package envtest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/ta-guard/ta-guard/internal/audit"
	"github.com/ta-guard/ta-guard/internal/check"
	"github.com/ta-guard/ta-guard/internal/manifest"
	"github.com/ta-guard/ta-guard/internal/metrics"
	"github.com/ta-guard/ta-guard/internal/server"
	"github.com/ta-guard/ta-guard/internal/webhook"
	"github.com/ta-guard/ta-guard/test/testenv"
)

// TestAudit: the cluster as it is, with no admission webhook registered at
// all, so every change below goes in unchecked and only the audit sees it.
func TestAudit(t *testing.T) {
	cfg, ctx, k, world := auditedCluster(t, "policyreport")
	require.NoError(t, k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-b"}}))
	teamB := objectsFromYAML(t, `apiVersion: v1
kind: Service
metadata: {name: api, namespace: team-b, labels: {app: api}}
spec: {selector: {app: api}, ports: [{name: http, port: 80}]}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: api, namespace: team-b, labels: {app: my-app}}
spec:
  selector: {matchLabels: {app: api}}
  endpoints: [{port: metrics}]
`)
	for _, o := range teamB {
		_, err := k.apply(ctx, o)
		require.NoError(t, err)
	}
	require.NoError(t, k.Create(ctx, endpointSlice("team-b", "api")))

	// Two replicas; only the elected one audits.
	var replicas []*server.Server
	var addrs []string
	for i := 0; i < 2; i++ {
		port := testenv.FreeLoopbackPort(t)
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", port))
		srv, err := server.New(server.Options{
			Config: cfg, Host: "127.0.0.1", Port: port, CertDir: t.TempDir(),
			MetricsAddr: "0", HealthAddr: "0", Metrics: metrics.New(),
			WatchInterval: 300 * time.Millisecond, AccessCacheTTL: time.Millisecond,
			AuditInterval: time.Hour, AuditDebounce: 200 * time.Millisecond,
			LeaderElection: true, LeaderElectionNamespace: "default", LeaderElectionID: "ta-guard-audit-test",
			Log: logr.Discard(),
		})
		require.NoError(t, err)
		writeSelfSigned(t, srv)
		go func() { _ = srv.Start(ctx) }()
		replicas = append(replicas, srv)
	}

	expect := func(files ...string) []string {
		return expectedResults(t, files)
	}

	t.Run("reports hold exactly the engine's findings", func(t *testing.T) {
		waitForReport(t, ctx, k, "opentelemetry", expect(world...))
		waitForReport(t, ctx, k, "team-b", []string{
			"TA103 ServiceMonitor api job=serviceMonitor/team-b/api/0 warn: " +
				`TA103 ServiceMonitor team-b/api endpoint 0 (job serviceMonitor/team-b/api/0): no matched Service has a port named "metrics"; api has: http`,
			"TA202 Service api warn: TA202 Service team-b/api: ServiceMonitor team-b/api selects it but finds no port on it; it has: http",
		})
	})

	t.Run("only the leader audits, every replica answers", func(t *testing.T) {
		for i, r := range replicas {
			waitFor(t, fmt.Sprintf("replica %d synced", i), r.Watcher.Synced)
		}
		ran := func() int {
			n := 0
			for _, r := range replicas {
				if r.Auditor.Runs() > 0 {
					n++
				}
			}
			return n
		}
		// The report can be read a moment before the run that wrote it
		// counts itself: wait for the count, then require it to be one.
		waitFor(t, "an audit to complete", func() bool { return ran() > 0 })
		assert.Equal(t, 1, ran())

		// The follower does not audit but still judges admission requests
		// with the live view: both give the same, checked answer. sm-example
		// lacks the label the collector's serviceMonitorSelector asks for.
		sm := objectsOf(t, "testdata/seed/servicemonitor.yaml")[0]
		var answers [][]string
		for _, addr := range addrs {
			resp := reviewAt(t, addr, sm)
			assert.True(t, resp.Allowed, addr)
			answers = append(answers, resp.Warnings)
		}
		require.NotEmpty(t, answers[0])
		assert.NotContains(t, strings.Join(answers[0], "\n"), webhook.NotChecked)
		assert.Contains(t, strings.Join(answers[0], "\n"), "TA101 ServiceMonitor opentelemetry/sm-example")
		assert.Equal(t, answers[0], answers[1], "the two replicas answer alike")
	})

	t.Run("a new finding gets a Warning Event on the object", func(t *testing.T) {
		waitFor(t, "the TA101 event", func() bool {
			var evs eventsv1.EventList
			if err := k.List(ctx, &evs, client.InNamespace("opentelemetry")); err != nil {
				return false
			}
			for _, e := range evs.Items {
				if e.Reason == "monitor-not-selected" && e.Regarding.Kind == "ServiceMonitor" && e.Regarding.Name == "sm-example" &&
					e.Type == corev1.EventTypeWarning && strings.HasPrefix(e.Note, "TA101 ServiceMonitor opentelemetry/sm-example") {
					return true
				}
			}
			return false
		})
	})

	t.Run("fixing the Service removes its results at the next run", func(t *testing.T) {
		_, err := k.apply(ctx, objectsOf(t, "testdata/seed/service.yaml")[0])
		require.NoError(t, err)
		waitForReport(t, ctx, k, "opentelemetry", expect("testdata/seed/collector-sm-selector-app.yaml", "testdata/seed/servicemonitor.yaml", "testdata/seed/service.yaml"))
	})

	t.Run("a Service deleted without admission is caught", func(t *testing.T) {
		_, err := k.remove(ctx, objectsOf(t, "testdata/seed/service.yaml")[0])
		require.NoError(t, err)
		want := expect("testdata/seed/collector-sm-selector-app.yaml", "testdata/seed/servicemonitor.yaml")
		require.Contains(t, strings.Join(want, "\n"), "TA102 ServiceMonitor sm-example")
		waitForReport(t, ctx, k, "opentelemetry", want)
	})

	t.Run("a finding a later object makes untrue leaves the report at once", func(t *testing.T) {
		// Monitors first, as a GitOps tool may apply them: the admission's
		// TA102 stays in that terminal, the report must not keep it.
		require.NoError(t, k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "late"}}))
		objs := objectsFromYAML(t, `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: web, namespace: late, labels: {app: my-app}}
spec:
  selector: {matchLabels: {app: web}}
  endpoints: [{port: http}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: late, labels: {app: web}}
spec: {selector: {app: web}, ports: [{name: http, port: 80}]}
`)
		// The endpoints are there already, so that TA106 does not wait for them.
		require.NoError(t, k.Create(ctx, endpointSlice("late", "web")))
		_, err := k.apply(ctx, objs[0])
		require.NoError(t, err)
		waitFor(t, "the TA102 of the monitor applied first", func() bool {
			return strings.Contains(strings.Join(reportResults(ctx, k, "late"), "\n"), "TA102 ServiceMonitor web")
		})
		_, err = k.apply(ctx, objs[1])
		require.NoError(t, err)
		arrived := time.Now()
		require.Eventually(t, func() bool {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(audit.ReportGVK)
			err := k.Get(ctx, client.ObjectKey{Namespace: "late", Name: audit.ReportName}, u)
			return err != nil && strings.Contains(err.Error(), "not found")
		}, 5*time.Second, 50*time.Millisecond, "the report of namespace late outlived the Service that made it untrue: %v", reportResults(ctx, k, "late"))
		t.Logf("the report cleared %v after the Service arrived (audit debounce 200ms)", time.Since(arrived).Round(10*time.Millisecond))
	})

	t.Run("a namespace fixed entirely loses its report", func(t *testing.T) {
		svc := teamB[0]
		require.NoError(t, unstructured.SetNestedSlice(svc.Object, []any{map[string]any{"name": "metrics", "port": int64(80)}}, "spec", "ports"))
		_, err := k.apply(ctx, svc)
		require.NoError(t, err)
		waitFor(t, "team-b's report deleted", func() bool {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(audit.ReportGVK)
			err := k.Get(ctx, client.ObjectKey{Namespace: "team-b", Name: audit.ReportName}, u)
			return err != nil && strings.Contains(err.Error(), "not found")
		})
	})
}

// expectedResults is what the offline engine says of the files, in the
// form waitForReport compares: "<rule> <kind> <name> job=<job> <result>: <summary>".
func expectedResults(t *testing.T, files []string) []string {
	t.Helper()
	var paths []string
	for _, f := range files {
		paths = append(paths, repoRoot+"/"+f)
	}
	docs, err := manifest.Load(paths, manifest.Options{})
	require.NoError(t, err)
	res, err := check.Evaluate(docs, nil)
	require.NoError(t, err)
	var out []string
	for _, f := range res.Findings {
		if f.Object.Namespace != "opentelemetry" {
			continue
		}
		kind := "warn"
		if f.Action == "deny" {
			kind = "fail"
		}
		job := ""
		if f.Job != "" {
			job = " job=" + f.Job
		}
		out = append(out, fmt.Sprintf("%s %s %s%s %s: %s", f.Rule, f.Object.Kind, f.Object.Name, job, kind, f.Summary()))
	}
	sort.Strings(out)
	return out
}

// auditedCluster starts a real API server with the CRDs of the kinds ta-guard
// reads and the report CRDs given, and puts the guide's mistakes in it
// before ta-guard starts: the seed's collector, ServiceMonitor and renamed
// Service port in namespace opentelemetry (the files are world), the TA's
// account with its permissions, and an endpoint for the Service.
func auditedCluster(t *testing.T, reportCRDs ...string) (*rest.Config, context.Context, *kube, []string) {
	t.Helper()
	assets, err := assetsDir()
	require.NoError(t, err)
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     crdPaths(append([]string{"opentelemetry", "monitoring"}, reportCRDs...)...),
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	require.NoError(t, err)
	t.Cleanup(func() { _ = env.Stop() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	k, err := newKube(cfg)
	require.NoError(t, err)
	require.NoError(t, k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "opentelemetry"}}))
	require.NoError(t, k.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "opentelemetry-targetallocator-sa", Namespace: "opentelemetry"}}))
	grantTARBAC(t, ctx, k, "opentelemetry-targetallocator-sa")
	world := []string{"testdata/seed/collector-sm-selector-app.yaml", "testdata/seed/servicemonitor.yaml", "testdata/seed/service-port-bleh.yaml"}
	for _, f := range world {
		_, err := k.apply(ctx, objectsOf(t, f)[0])
		require.NoError(t, err)
	}
	require.NoError(t, k.Create(ctx, endpointSlice("opentelemetry", "py-prometheus-app")))
	return cfg, ctx, k, world
}

// waitForReport waits until the namespace's PolicyReport holds exactly the
// results wanted; on time-out the last difference seen fails the test.
func waitForReport(t *testing.T, ctx context.Context, k *kube, ns string, want []string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		got := reportResults(ctx, k, ns)
		if got == nil {
			got = []string{}
		}
		assert.Equal(c, want, got, "PolicyReport of %s", ns)
	}, 30*time.Second, 100*time.Millisecond)
}

func reportResults(ctx context.Context, k *kube, ns string) []string {
	return reportResultsOf(ctx, k, audit.ReportGVK, ns)
}

// reportResultsOf reads the namespace's report of kind gvk.
func reportResultsOf(ctx context.Context, k *kube, gvk schema.GroupVersionKind, ns string) []string {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	if err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: audit.ReportName}, u); err != nil {
		return []string{"(no report: " + err.Error() + ")"}
	}
	results, _, _ := unstructured.NestedSlice(u.Object, "results")
	var out []string
	for _, r := range results {
		m := r.(map[string]any)
		res := m["resources"].([]any)[0].(map[string]any)
		job := ""
		if props, ok := m["properties"].(map[string]any); ok && props["job"] != nil {
			job = fmt.Sprintf(" job=%v", props["job"])
		}
		if m["source"] != audit.Source {
			continue
		}
		summary := strings.SplitN(fmt.Sprint(m["message"]), "\n", 2)[0]
		out = append(out, fmt.Sprintf("%v %v %v%s %v: %s", m["rule"], res["kind"], res["name"], job, m["result"], summary))
	}
	sort.Strings(out)
	return out
}

// endpointSlice gives a Service one ready endpoint (envtest runs no
// EndpointSlice controller), so that TA106 stays quiet.
func endpointSlice(ns, svc string) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: svc + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
	}
}

// With OpenReports' CRD installed beside the PolicyReport's, the audit writes
// Reports (auto: the successor, when served) with the same results and its
// source, and no PolicyReport; with --report-api both, both.
func TestAuditOpenReports(t *testing.T) {
	cfg, ctx, k, world := auditedCluster(t, "policyreport", "openreports")
	want := expectedResults(t, world)

	start := func(apis audit.ReportAPIs) context.CancelFunc {
		sctx, stop := context.WithCancel(ctx)
		srv, err := server.New(server.Options{
			Config: cfg, Host: "127.0.0.1", Port: testenv.FreeLoopbackPort(t), CertDir: t.TempDir(),
			MetricsAddr: "0", HealthAddr: "0", Metrics: metrics.New(),
			WatchInterval: 300 * time.Millisecond, AccessCacheTTL: time.Millisecond,
			AuditInterval: time.Hour, AuditDebounce: 200 * time.Millisecond, ReportAPIs: apis,
			Log: logr.Discard(),
		})
		require.NoError(t, err)
		writeSelfSigned(t, srv)
		done := make(chan struct{})
		go func() { defer close(done); _ = srv.Start(sctx) }()
		return func() { stop(); <-done }
	}
	openReports := func() []string { return reportResultsOf(ctx, k, audit.OpenReportGVK, "opentelemetry") }

	stop := start(audit.ReportsAuto)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Equal(c, want, openReports())
	}, 30*time.Second, 100*time.Millisecond, "the audit's Report")
	rep := &unstructured.Unstructured{}
	rep.SetGroupVersionKind(audit.OpenReportGVK)
	require.NoError(t, k.Get(ctx, client.ObjectKey{Namespace: "opentelemetry", Name: audit.ReportName}, rep))
	assert.Equal(t, audit.Source, rep.Object["source"], "the Report names its source")
	assert.Contains(t, reportResults(ctx, k, "opentelemetry")[0], "(no report: ", "auto writes the successor only")
	stop()

	stop = start(audit.ReportsBoth)
	defer stop()
	waitForReport(t, ctx, k, "opentelemetry", want)
	assert.Equal(t, want, openReports(), "both: the same results in each")
}
