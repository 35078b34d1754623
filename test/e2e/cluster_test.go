package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ta-guard/ta-guard/test/sandbox"
)

// On the sandbox with its controllers, scheduler and kwok nodes, a
// Deployment's Pods are scheduled and Running with IPs, the EndpointSlice
// controller writes the Services' endpoints, and the live rules judge what
// the controllers made, through kubectl and through diagnose: TA106 silent
// on a monitor whose Service has endpoints, a warning on one whose Service
// selects no Pod (the bare API server had no endpoints at all, so TA106 was
// switched off there), and on a PodMonitor of a Job's finished Pods; TA107 silent on endpoints the controller placed on
// nodes, a warning on hand-made ones a per-node TA cannot place; TA008 for
// a TA account no Role is bound to.
func TestLiveRulesOnControllerMadeObjects(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sb := startCluster(ctx, t, sandbox.Options{Policy: "rules:\n  TA106: warn\n", Nodes: 2})
	require.NoError(t, sb.CreateNamespace(ctx, "shop"))

	apply := func(doc string) { t.Helper(); create(ctx, t, sb, doc) }
	apply(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: registry.example/web:1
        ports: [{name: metrics, containerPort: 8080}]
`)
	for _, svc := range []string{
		`{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"shop","labels":{"app":"web"}},"spec":{"selector":{"app":"web"},"ports":[{"name":"metrics","port":8080,"targetPort":"metrics"}]}}`,
		`{"apiVersion":"v1","kind":"Service","metadata":{"name":"idle","namespace":"shop","labels":{"app":"idle"}},"spec":{"selector":{"app":"nothing-runs-this"},"ports":[{"name":"metrics","port":8080}]}}`,
	} {
		apply(svc)
	}

	// The controllers' work: Running Pods on kwok nodes with IPs from the
	// Pod CIDR, and the endpoints behind web (none behind idle).
	cidr := netip.MustParsePrefix(sb.PodCIDR)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var pods corev1.PodList
		require.NoError(c, sb.Client.List(ctx, &pods, client.InNamespace("shop")))
		require.Len(c, pods.Items, 2)
		for _, p := range pods.Items {
			assert.Equal(c, corev1.PodRunning, p.Status.Phase, p.Name)
			assert.True(c, strings.HasPrefix(p.Spec.NodeName, "kwok-node-"), "%s scheduled to %q", p.Name, p.Spec.NodeName)
			ip, err := netip.ParseAddr(p.Status.PodIP)
			if assert.NoError(c, err, p.Name) {
				assert.True(c, cidr.Contains(ip), "%s has IP %s", p.Name, ip)
			}
		}
		var slices discoveryv1.EndpointSliceList
		require.NoError(c, sb.Client.List(ctx, &slices, client.InNamespace("shop"), client.MatchingLabels{discoveryv1.LabelServiceName: "web"}))
		ready := 0
		for _, s := range slices.Items {
			assert.Equal(c, "endpointslice-controller.k8s.io", s.Labels[discoveryv1.LabelManagedBy])
			for _, e := range s.Endpoints {
				if e.Conditions.Ready != nil && *e.Conditions.Ready {
					ready++
				}
			}
		}
		assert.Equal(c, 2, ready, "ready endpoints behind web")
		var idle discoveryv1.EndpointSliceList
		require.NoError(c, sb.Client.List(ctx, &idle, client.InNamespace("shop"), client.MatchingLabels{discoveryv1.LabelServiceName: "idle"}))
		assert.NotEmpty(c, idle.Items, "the controller writes idle's (empty) slice")
	}, 2*time.Minute, 500*time.Millisecond)
	// The Deployment controller writes its status after the EndpointSlice
	// controller has seen the Pods Ready: wait for it rather than read it
	// once.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var dep appsv1.Deployment
		require.NoError(c, sb.Client.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "web"}, &dep))
		assert.Equal(c, int32(2), dep.Status.ReadyReplicas, "the Deployment controller counts them Ready")
	}, 2*time.Minute, 500*time.Millisecond)

	// TA106 on what the controllers made, through kubectl: the webhook's
	// informers have the slices once the dry run says so.
	dir := t.TempDir()
	monitor := func(name, app string) string {
		f := filepath.Join(dir, name+".yaml")
		require.NoError(t, os.WriteFile(f, []byte(`apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: `+name+`, namespace: shop}
spec:
  selector: {matchLabels: {app: `+app+`}}
  endpoints: [{port: metrics}]
`), 0o600))
		return f
	}
	idle := monitor("idle", "idle")
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		res := sb.Run(ctx, repoRoot, "create", "--dry-run=server", "-f", idle)
		assert.Contains(c, res.Stderr, "TA106", "a monitor of a Service with no endpoints")
	}, time.Minute, 500*time.Millisecond)
	web := monitor("web", "web")
	res := sb.Run(ctx, repoRoot, "create", "--dry-run=server", "-f", web)
	require.Zero(t, res.Exit, res.Stderr)
	assert.NotContains(t, res.Stderr, "TA106", "the controller wrote web's endpoints")

	// TA107 on the controller's slices: a per-node TA places a target on
	// the node its endpoint names, which the EndpointSlice controller
	// takes from the Pod the scheduler placed. A selector-less Service's
	// hand-made endpoints (a database outside the cluster) name no node.
	require.NoError(t, sb.CreateNamespace(ctx, "obs"))
	apply(collectorDoc("{name: agent, namespace: obs}", "daemonset", "allocationStrategy: per-node", readAll))
	apply(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"db","namespace":"shop","labels":{"app":"db"}},"spec":{"ports":[{"name":"metrics","port":9187}]}}`)
	apply(`apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: db-external
  namespace: shop
  labels: {kubernetes.io/service-name: db, endpointslice.kubernetes.io/managed-by: dba-team}
addressType: IPv4
ports: [{name: metrics, port: 9187}]
endpoints: [{addresses: ["` + strings.TrimSuffix(sb.PodCIDR, "0/24") + `250"]}]
`)
	var slices discoveryv1.EndpointSliceList
	require.NoError(t, sb.Client.List(ctx, &slices, client.InNamespace("shop"), client.MatchingLabels{discoveryv1.LabelServiceName: "web"}))
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			require.NotNil(t, e.NodeName, "the controller names the node")
			assert.True(t, strings.HasPrefix(*e.NodeName, "kwok-node-"))
		}
	}
	db := monitor("db", "db")
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		res := sb.Run(ctx, repoRoot, "create", "--dry-run=server", "-f", db)
		assert.Contains(c, res.Stderr, "TA107", "targets on no node")
	}, time.Minute, 500*time.Millisecond)
	res = sb.Run(ctx, repoRoot, "create", "--dry-run=server", "-f", web)
	require.Zero(t, res.Exit, res.Stderr)
	assert.NotContains(t, res.Stderr, "TA107", "every endpoint of web names its node")

	// TA106 for a PodMonitor whose Pods all finished: a Job's, which kwok
	// runs to Succeeded.
	apply(`apiVersion: batch/v1
kind: Job
metadata: {name: batch, namespace: shop}
spec:
  template:
    metadata: {labels: {app: batch}}
    spec:
      restartPolicy: Never
      containers:
      - name: batch
        image: registry.example/batch:1
        ports: [{name: metrics, containerPort: 9091}]
`)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var pods corev1.PodList
		require.NoError(c, sb.Client.List(ctx, &pods, client.InNamespace("shop"), client.MatchingLabels{"app": "batch"}))
		require.NotEmpty(c, pods.Items)
		for _, p := range pods.Items {
			assert.Equal(c, corev1.PodSucceeded, p.Status.Phase, p.Name)
		}
	}, 2*time.Minute, 500*time.Millisecond)
	batch := filepath.Join(dir, "batch.yaml")
	require.NoError(t, os.WriteFile(batch, []byte(`apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: batch, namespace: shop}
spec:
  selector: {matchLabels: {app: batch}}
  podMetricsEndpoints: [{port: metrics}]
`), 0o600))
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		res := sb.Run(ctx, repoRoot, "create", "--dry-run=server", "-f", batch)
		assert.Contains(c, res.Stderr, "TA106 PodMonitor shop/batch: all 1 matched Pods are Failed or Succeeded")
	}, time.Minute, 500*time.Millisecond)

	for _, f := range []string{idle, web, db, batch} {
		require.Zero(t, sb.Run(ctx, repoRoot, "create", "-f", f).Exit)
	}
	// The same through diagnose against the cluster: the findings, and the
	// targets the controllers made, the Pods' IPs.
	d := sb.RunBinary(ctx, sb.Webhook(), "diagnose", "--kubeconfig", sb.Kubeconfig, "--no-color")
	var pods corev1.PodList
	require.NoError(t, sb.Client.List(ctx, &pods, client.InNamespace("shop"), client.MatchingLabels{"app": "web"}))
	var targets []string
	for _, p := range pods.Items {
		targets = append(targets, p.Status.PodIP+":8080")
	}
	sort.Strings(targets)
	for _, want := range []string{
		"ServiceMonitor shop/db (selects shop/db)",
		"they run on no node [TA107]",
		"the matched Services have no endpoints (shop/idle): its jobs exist but stay empty [TA106]",
		"all 1 matched Pods are Failed or Succeeded: its jobs exist but stay empty [TA106]",
		"targets: " + strings.Join(targets, ", "),
		"service account agent-targetallocator lacks", // TA008: no Role was bound to it
	} {
		assert.Contains(t, d.Output, want)
	}
	assert.Contains(t, d.Output, "verdict: BLIND")
}

// TA014 on Pods the controllers run: the TA's Pods Running (a Deployment
// standing for the one the operator makes, with the operator's labels) and
// no collector Pod in its namespace, so the targets it hands out go to no
// one: a warning on the collector's next change. Then a collector Pod the
// scheduler can place on no node (Pending, which the TA does not count);
// then one scheduled and Running, and TA014 is silent; then that Pod not
// Ready, which the TA still hands targets to. Each through kubectl and
// diagnose.
func TestTA014OnControllerMadePods(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sb := startCluster(ctx, t, sandbox.Options{Policy: "{}\n", Nodes: 1})
	require.NoError(t, sb.CreateNamespace(ctx, "mon"))
	apply := func(doc string) { t.Helper(); create(ctx, t, sb, doc) }
	workload := func(kind, name, component string, podSpec ...string) string {
		labels := `{app.kubernetes.io/managed-by: opentelemetry-operator, app.kubernetes.io/instance: mon.otel, app.kubernetes.io/part-of: opentelemetry, app.kubernetes.io/component: ` + component + `}`
		extra := ""
		if kind == "StatefulSet" {
			extra = "  serviceName: " + name + "\n"
		}
		return `apiVersion: apps/v1
kind: ` + kind + `
metadata: {name: ` + name + `, namespace: mon}
spec:
  replicas: 1
` + extra + `  selector: {matchLabels: ` + labels + `}
  template:
    metadata: {labels: ` + labels + `}
    spec: {` + strings.Join(podSpec, "") + `containers: [{name: c, image: registry.example/otel:1}]}
`
	}
	collector := func(label string) string {
		dir := t.TempDir()
		f := filepath.Join(dir, "otel.yaml")
		require.NoError(t, os.WriteFile(f, []byte(collectorDoc(`{name: otel, namespace: mon, labels: {change: "`+label+`"}}`, "statefulset", "", readAll)), 0o600))
		return f
	}
	require.Zero(t, sb.Run(ctx, repoRoot, "apply", "-f", collector("1")).Exit)
	apply(workload("Deployment", "otel-targetallocator", "opentelemetry-targetallocator"))
	running := func(c *assert.CollectT, component string) {
		var pods corev1.PodList
		require.NoError(c, sb.Client.List(ctx, &pods, client.InNamespace("mon"), client.MatchingLabels{"app.kubernetes.io/component": component}))
		require.NotEmpty(c, pods.Items)
		for _, p := range pods.Items {
			assert.Equal(c, corev1.PodRunning, p.Status.Phase)
		}
	}
	require.EventuallyWithT(t, func(c *assert.CollectT) { running(c, "opentelemetry-targetallocator") }, 2*time.Minute, 500*time.Millisecond)

	n := 2
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		res := sb.Run(ctx, repoRoot, "apply", "--dry-run=server", "-f", collector(fmt.Sprint(n)))
		n++
		assert.Contains(c, res.Stderr, "TA014", "the TA runs, no collector Pod does")
	}, time.Minute, 500*time.Millisecond)

	warnsTA014 := func(want string) {
		t.Helper()
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			res := sb.Run(ctx, repoRoot, "apply", "--dry-run=server", "-f", collector(fmt.Sprint(n)))
			n++
			assert.Contains(c, res.Stderr, want)
		}, time.Minute, 500*time.Millisecond)
		d := sb.RunBinary(ctx, sb.Webhook(), "diagnose", "--kubeconfig", sb.Kubeconfig, "--no-color")
		assert.Contains(t, d.Output, want, "diagnose says the same")
	}

	// A collector whose Pod no node takes: the scheduler leaves it
	// Pending, unscheduled, and the TA does not count it.
	apply(workload("StatefulSet", "otel-collector", "opentelemetry-collector", "nodeSelector: {ta-guard.io/no-such-node: \"true\"}, "))
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var pods corev1.PodList
		require.NoError(c, sb.Client.List(ctx, &pods, client.InNamespace("mon"), client.MatchingLabels{"app.kubernetes.io/component": "opentelemetry-collector"}))
		require.NotEmpty(c, pods.Items)
		for _, p := range pods.Items {
			assert.Equal(c, corev1.PodPending, p.Status.Phase)
			assert.Empty(c, p.Spec.NodeName)
		}
	}, 2*time.Minute, 500*time.Millisecond)
	warnsTA014("1 match but none is scheduled to a node (Pending)")

	// A StatefulSet does not replace a Pod that never became Ready: the
	// collector's workload made anew, without the selector.
	require.NoError(t, sb.Client.Delete(ctx, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "otel-collector", Namespace: "mon"}},
		client.PropagationPolicy(metav1.DeletePropagationForeground)))
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var pods corev1.PodList
		require.NoError(c, sb.Client.List(ctx, &pods, client.InNamespace("mon"), client.MatchingLabels{"app.kubernetes.io/component": "opentelemetry-collector"}))
		assert.Empty(c, pods.Items, "the garbage collector removed the Pod")
		var sts appsv1.StatefulSetList
		require.NoError(c, sb.Client.List(ctx, &sts, client.InNamespace("mon")))
		assert.Empty(c, sts.Items)
	}, 2*time.Minute, 500*time.Millisecond)
	apply(workload("StatefulSet", "otel-collector", "opentelemetry-collector"))
	require.EventuallyWithT(t, func(c *assert.CollectT) { running(c, "opentelemetry-collector") }, 2*time.Minute, 500*time.Millisecond)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		res := sb.Run(ctx, repoRoot, "apply", "--dry-run=server", "-f", collector(fmt.Sprint(n)))
		n++
		assert.Zero(c, res.Exit, res.Stderr)
		assert.NotContains(c, res.Stderr, "TA014", "the StatefulSet's Pod runs")
	}, time.Minute, 500*time.Millisecond)

	// Running but not Ready (a failing readiness probe, as its kubelet
	// would report it): the TA still hands it targets.
	var pod corev1.Pod
	require.NoError(t, sb.Client.Get(ctx, client.ObjectKey{Namespace: "mon", Name: "otel-collector-0"}, &pod))
	for i, cond := range pod.Status.Conditions {
		if cond.Type == corev1.PodReady || cond.Type == corev1.ContainersReady {
			pod.Status.Conditions[i].Status = corev1.ConditionFalse
		}
	}
	require.NoError(t, sb.Client.Status().Update(ctx, &pod))
	warnsTA014("hands targets to 1 of 1 collector pod(s) in mon that cannot scrape them: otel-collector-0 (Running, not Ready)")
}

// The live rules about accounts and Secrets on the cluster, through kubectl
// and through diagnose: the ServiceAccount controller makes each
// namespace's default account, the TA's own account is bound to all the
// TA needs but Secrets outside its namespace, and ta-guard reads Secrets
// (--check-secret-keys). TA010 for a collector naming an account that does
// not exist (and none for default, which the controller made); TA108 for a
// monitor whose basicAuth Secret the TA may not read; TA109 for one naming
// a key its Secret does not have. All three also through diagnose (TA109
// with --check-secret-keys).
func TestAccountsAndSecretsOnTheCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sb := startCluster(ctx, t, sandbox.Options{Policy: "{}\n", Nodes: 1, Args: []string{"--check-secret-keys"}})
	for _, ns := range []string{"obs", "apps"} {
		require.NoError(t, sb.CreateNamespace(ctx, ns))
	}
	dir := t.TempDir()
	write := func(name, doc string) string {
		f := filepath.Join(dir, name+".yaml")
		require.NoError(t, os.WriteFile(f, []byte(doc), 0o600))
		return f
	}
	mustApply := func(f string) {
		t.Helper()
		res := sb.Run(ctx, repoRoot, "apply", "-f", f)
		require.Zero(t, res.Exit, res.Stderr)
	}
	collector := func(name, sa string) string {
		return write(name, collectorDoc("{name: "+name+", namespace: obs}", "statefulset", "serviceAccount: "+sa,
			"{enabled: true, serviceMonitorSelector: {matchLabels: {team: "+name+"}}, podMonitorSelector: {matchLabels: {team: "+name+"}}}"))
	}
	// The TA's account, with what the TA needs cluster-wide and Secrets in
	// its own namespace only.
	mustApply(write("rbac", `apiVersion: v1
kind: ServiceAccount
metadata: {name: ta, namespace: obs}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: ta-reads}
rules:
- apiGroups: [monitoring.coreos.com]
  resources: [servicemonitors, podmonitors]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [services, endpoints, pods, namespaces, nodes]
  verbs: [get, list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ta-reads}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ta-reads}
subjects: [{kind: ServiceAccount, name: ta, namespace: obs}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: ta-own, namespace: obs}
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: ta-own, namespace: obs}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: ta-own}
subjects: [{kind: ServiceAccount, name: ta, namespace: obs}]
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: apps}
stringData: {user: scraper, password: s3cret}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: apps, labels: {app: db}}
spec:
  selector: {app: db}
  ports: [{name: metrics, port: 9187}]
`))
	// TA010: the controller made "default" in obs; "nobody" exists nowhere.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		res := sb.Run(ctx, repoRoot, "apply", "--dry-run=server", "-f", collector("ghost", "nobody"))
		assert.Contains(c, res.Stderr, "TA010")
		res = sb.Run(ctx, repoRoot, "apply", "--dry-run=server", "-f", collector("plain", "default"))
		assert.Zero(c, res.Exit, res.Stderr)
		assert.NotContains(c, res.Stderr, "TA010", "the ServiceAccount controller made default")
	}, time.Minute, 500*time.Millisecond)

	mustApply(collector("db", "ta"))
	monitor := func(name, key string) string {
		return write(name, `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: `+name+`, namespace: apps, labels: {team: db}}
spec:
  selector: {matchLabels: {app: db}}
  endpoints:
  - port: metrics
    basicAuth:
      username: {name: creds, key: user}
      password: {name: creds, key: `+key+`}
`)
	}
	wrongKey, rightKey := monitor("db-typo", "passwd"), monitor("db", "password")
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		res := sb.Run(ctx, repoRoot, "apply", "--dry-run=server", "-f", rightKey)
		assert.Contains(c, res.Stderr, "TA108", "the TA may not read Secrets in apps")
		assert.NotContains(c, res.Stderr, "TA109", "the Secret has both keys")
		res = sb.Run(ctx, repoRoot, "apply", "--dry-run=server", "-f", wrongKey)
		assert.Contains(c, res.Stderr, "TA109", "no key passwd")
	}, time.Minute, 500*time.Millisecond)

	// Through diagnose, once stored; TA109 only with --check-secret-keys,
	// as serve.
	mustApply(wrongKey)
	mustApply(collector("ghost", "nobody"))
	d := sb.RunBinary(ctx, sb.Webhook(), "diagnose", "--kubeconfig", sb.Kubeconfig, "--no-color")
	for _, want := range []string{
		"OpenTelemetryCollector obs/db",
		"OpenTelemetryCollector obs/db's TA may not get Secret creds (endpoint 0): it drops the monitor [TA108]",
		"OpenTelemetryCollector obs/ghost",
		"[TA010]",
	} {
		assert.Contains(t, d.Output, want)
	}
	assert.NotContains(t, d.Output, "[TA109]", "diagnose reads no Secret unless asked")
	d = sb.RunBinary(ctx, sb.Webhook(), "diagnose", "--kubeconfig", sb.Kubeconfig, "--no-color", "--check-secret-keys")
	assert.Contains(t, d.Output, "[TA109]", d.Output)
}

// TA009 on a cluster that serves no monitoring kind: a collector whose TA
// reads ServiceMonitors is warned, through kubectl and diagnose, that the
// API server serves none (the TA would fail to watch them).
func TestTA009WithoutMonitoringCRDs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sb := startCluster(ctx, t, sandbox.Options{Policy: "{}\n", Nodes: 1, CRDs: []string{"opentelemetry", "policyreport"}})
	require.NoError(t, sb.CreateNamespace(ctx, "obs"))
	f := filepath.Join(t.TempDir(), "otel.yaml")
	require.NoError(t, os.WriteFile(f, []byte(collectorDoc("{name: otel, namespace: obs}", "statefulset", "", readAll)), 0o600))
	res := sb.Run(ctx, repoRoot, "apply", "-f", f)
	require.Zero(t, res.Exit, res.Stderr)
	assert.Contains(t, res.Stderr, "TA009")
	d := sb.RunBinary(ctx, sb.Webhook(), "diagnose", "--kubeconfig", sb.Kubeconfig, "--no-color")
	assert.Contains(t, d.Output, "[TA009]", d.Output)
}

// startCluster starts a sandbox of this repository with o's settings (and
// the webhook built now, unless o names one), stopped when the test ends.
func startCluster(ctx context.Context, t *testing.T, o sandbox.Options) *sandbox.Sandbox {
	t.Helper()
	o.Root, o.Assets = repoRoot, assetsDir(t)
	if o.Webhook == "" {
		o.Webhook = buildWebhook(t)
	}
	sb, err := sandbox.Start(ctx, o)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, sb.Stop()) })
	return sb
}

// create stores one object, YAML or JSON, as the sandbox's admin.
func create(ctx context.Context, t *testing.T, sb *sandbox.Sandbox, doc string) {
	t.Helper()
	u := &unstructured.Unstructured{}
	require.NoError(t, yaml.Unmarshal([]byte(doc), &u.Object))
	require.NoError(t, sb.Client.Create(ctx, u))
}

// readAll is a prometheusCR that reads every ServiceMonitor and PodMonitor.
const readAll = "{enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}"

// collectorDoc is a v1beta1 collector with its TA enabled and a prometheus
// receiver in a metrics pipeline: metadata and mode as given, taSetting
// (one line, or "") beside enabled, and prometheusCR.
func collectorDoc(metadata, mode, taSetting, prometheusCR string) string {
	if taSetting != "" {
		taSetting = "\n    " + taSetting
	}
	return `apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: ` + metadata + `
spec:
  mode: ` + mode + `
  targetAllocator:
    enabled: true` + taSetting + `
    prometheusCR: ` + prometheusCR + `
  config:
    receivers: {prometheus: {config: {scrape_configs: []}}}
    exporters: {debug: {}}
    service: {pipelines: {metrics: {receivers: [prometheus], exporters: [debug]}}}
`
}
