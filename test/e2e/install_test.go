package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ta-guard/ta-guard/test/sandbox"
	"github.com/ta-guard/ta-guard/test/testenv"
)

// An install never blocks the cluster: the chart in enforce mode,
// installed with helm on the sandbox cluster whose nodes are all tainted,
// so that its replicas are never scheduled and never become ready. Its
// webhook configuration stays failing open and every Service change in the
// cluster goes through; set to Fail, as the chart did before, the same
// change is refused (the outage this prevents).
func TestInstallWhoseReplicasNeverBecomeReadyBlocksNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sb := startCluster(ctx, t, sandbox.Options{Policy: "{}\n", Nodes: 1})

	var nodes corev1.NodeList
	require.NoError(t, sb.Client.List(ctx, &nodes))
	for i := range nodes.Items {
		n := &nodes.Items[i]
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: "ta-guard.io/test", Value: "never", Effect: corev1.TaintEffectNoSchedule})
		require.NoError(t, sb.Client.Update(ctx, n))
	}

	helmInstall(ctx, t, sb, "--set", "mode=enforce", "--set", "certManager.enabled=false")

	// The scheduler leaves the replicas Pending: no node takes them.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var pods corev1.PodList
		require.NoError(c, sb.Client.List(ctx, &pods, client.InNamespace(releaseNamespace), client.MatchingLabels{"app.kubernetes.io/name": "ta-guard"}))
		require.NotEmpty(c, pods.Items, "the ReplicaSet controller made the Pods")
		for _, p := range pods.Items {
			assert.Equal(c, corev1.PodPending, p.Status.Phase)
			unschedulable := false
			for _, cond := range p.Status.Conditions {
				unschedulable = unschedulable || cond.Type == corev1.PodScheduled && cond.Reason == corev1.PodReasonUnschedulable
			}
			assert.True(c, unschedulable, "%s is unschedulable", p.Name)
		}
	}, 2*time.Minute, 500*time.Millisecond)

	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	require.NoError(t, sb.Client.Get(ctx, client.ObjectKey{Name: "ta-guard"}, &vwc))
	require.Len(t, vwc.Webhooks, 1)
	assert.Equal(t, admissionregistrationv1.Ignore, *vwc.Webhooks[0].FailurePolicy, "installed failing open")

	require.NoError(t, sb.CreateNamespace(ctx, "shop"))
	svc := func(name string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
	}
	assert.NoError(t, sb.Client.Create(ctx, svc("web")), "a Service change goes through while ta-guard is not ready")

	// What the chart did before: Fail from the start. The same change is
	// then refused for as long as no replica is ready.
	fail := admissionregistrationv1.Fail
	vwc.Webhooks[0].FailurePolicy = &fail
	require.NoError(t, sb.Client.Update(ctx, &vwc))
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		err := sb.Client.Create(ctx, svc("api"), client.DryRunAll)
		if assert.Error(c, err) {
			assert.Contains(c, err.Error(), "failed calling webhook")
		}
	}, time.Minute, 500*time.Millisecond)
}

// The chart installed with helm on the sandbox cluster, in enforce mode,
// without cert-manager, and ta-guard's own process run on the host with the
// identity of the chart's ServiceAccount (a TokenRequest token) and the
// chart's arguments and policy: every informer, live check, audit write, the
// failurePolicy update and the certificate rotation use exactly the
// permissions the chart grants. The API server reaches it through the
// chart's Service: kwok runs the chart's Pods with IPs routed into the
// sandbox's network namespace, where this test forwards the webhook port to
// the process. The process issues its own CA and serving certificate into
// the chart's empty Secret (the test copies the Secret to the certificate
// directory, as the kubelet does for the Pod's volume), puts the CA in the
// caBundle, and renews the certificate before it expires while requests go
// on being answered; helm upgrade leaves the CA and caBundle as they are.
func TestServeWithTheChartsIdentityThroughItsService(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	bin := buildWebhook(t)
	sb := startCluster(ctx, t, sandbox.Options{Webhook: bin, Policy: "{}\n", Nodes: 1})
	if !sb.PodNetworkRouted() {
		t.Skip("no network namespace for the Pod network (needs CAP_NET_ADMIN): the API server could reach the chart's Pods nowhere but off this host")
	}
	// A release named otherwise than the kustomize base's objects: every
	// name below is the release's.
	const release, full = "guard", "guard-ta-guard"
	set := []string{"--set", "mode=enforce", "--set", "certManager.enabled=false"}
	helmRun(ctx, t, sb, append([]string{"install", release, filepath.Join(repoRoot, "charts", "ta-guard"), "--namespace", releaseNamespace, "--create-namespace"}, set...)...)

	// The chart's objects: its Deployment's arguments and policy, its
	// Secret, empty, and its webhook configuration, with no caBundle yet.
	var dep appsv1.Deployment
	require.NoError(t, sb.Client.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: full}, &dep))
	var cm corev1.ConfigMap
	require.NoError(t, sb.Client.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: full + "-policy"}, &cm))
	secretKey := client.ObjectKey{Namespace: releaseNamespace, Name: full + "-webhook-tls"}
	var tlsSecret corev1.Secret
	require.NoError(t, sb.Client.Get(ctx, secretKey, &tlsSecret))
	require.Empty(t, tlsSecret.Data, "installed empty: the replicas issue the certificate")
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	require.NoError(t, sb.Client.Get(ctx, client.ObjectKey{Name: full}, &vwc))
	require.Empty(t, vwc.Webhooks[0].ClientConfig.CABundle)
	dir := t.TempDir()
	certDir := filepath.Join(dir, "certs")
	require.NoError(t, os.MkdirAll(certDir, 0o700))
	go mountSecret(ctx, sb, secretKey, certDir)
	policyFile := filepath.Join(dir, "policy.yaml")
	require.Len(t, cm.Data, 1)
	for _, v := range cm.Data {
		require.NoError(t, os.WriteFile(policyFile, []byte(v), 0o600))
	}

	// The chart's ServiceAccount's identity.
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: releaseNamespace, Name: dep.Spec.Template.Spec.ServiceAccountName}}
	expiry := int64(3600)
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}
	require.NoError(t, sb.Client.SubResource("token").Create(ctx, sa, tr))
	kubeconfig := filepath.Join(dir, "kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(clientcmdapi.Config{
		Clusters:       map[string]*clientcmdapi.Cluster{"sandbox": {Server: sb.Config.Host, CertificateAuthorityData: sb.Config.CAData}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{"ta-guard": {Token: tr.Status.Token}},
		Contexts:       map[string]*clientcmdapi.Context{"ta-guard": {Cluster: "sandbox", AuthInfo: "ta-guard"}},
		CurrentContext: "ta-guard",
	}, kubeconfig))

	// The chart's arguments, but for files and addresses, which are the
	// host's here.
	port, health, metricsPort := testenv.FreeLoopbackPort(t), testenv.FreeLoopbackPort(t), testenv.FreeLoopbackPort(t)
	args := []string{"serve"}
	for _, a := range dep.Spec.Template.Spec.Containers[0].Args[1:] {
		name, _, _ := strings.Cut(a, "=")
		switch name {
		case "--policy", "--cert-dir", "--port", "--metrics-bind-address", "--health-probe-bind-address":
			continue
		}
		args = append(args, a)
	}
	require.Contains(t, args, "--failure-policy=Fail", "enforce")
	require.Contains(t, args, "--cert-secret="+releaseNamespace+"/"+full+"-webhook-tls", "ta-guard issues its certificates")
	// A serving certificate of 2 minutes, renewed 90 s before its end:
	// about every 30 s while the test runs.
	args = append(args, "--cert-validity=2m", "--cert-renew-before=90s", "--cert-check-interval=3s")
	args = append(args, "--policy="+policyFile, "--cert-dir="+certDir, "--host=127.0.0.1", fmt.Sprintf("--port=%d", port),
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", metricsPort), fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", health),
		"--kubeconfig="+kubeconfig, "--leader-election-namespace="+releaseNamespace, "--client-ca-file="+sb.ClientCAFile,
		"--audit-debounce=1s")
	logFile := filepath.Join(dir, "serve.log")
	logf, err := os.Create(logFile)
	require.NoError(t, err)
	serve := exec.Command(bin, args...)
	serve.Stdout, serve.Stderr = logf, logf
	require.NoError(t, serve.Start())
	exited := make(chan struct{})
	go func() { _ = serve.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = serve.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = serve.Process.Kill()
			<-exited
		}
		_ = logf.Close()
	})

	// The chart's Pods, on the kwok node: the Service's endpoints.
	containerPort := dep.Spec.Template.Spec.Containers[0].Ports[0].ContainerPort
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var slices discoveryv1.EndpointSliceList
		require.NoError(c, sb.Client.List(ctx, &slices, client.InNamespace(releaseNamespace), client.MatchingLabels{discoveryv1.LabelServiceName: full}))
		ready := 0
		for _, s := range slices.Items {
			for _, e := range s.Endpoints {
				if e.Conditions.Ready != nil && *e.Conditions.Ready {
					ready++
				}
			}
		}
		assert.Positive(c, ready, "ready endpoints behind the chart's Service")
	}, 2*time.Minute, 500*time.Millisecond)
	// Whatever Pod IP the API server picks, port containerPort lands here.
	ln, err := sb.ListenPods(int(containerPort))
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go forward(ln, fmt.Sprintf("127.0.0.1:%d", port))

	// Ready with the chart's permissions, then Fail on the chart's
	// configuration, set by the process itself.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		select {
		case <-exited:
			require.FailNow(c, "serve exited", readTail(logFile))
		default:
		}
		var vwc admissionregistrationv1.ValidatingWebhookConfiguration
		require.NoError(c, sb.Client.Get(ctx, client.ObjectKey{Name: full}, &vwc))
		assert.Equal(c, admissionregistrationv1.Fail, *vwc.Webhooks[0].FailurePolicy)
	}, 2*time.Minute, 500*time.Millisecond)
	// What it serves is the Secret's certificate, for the Service's name,
	// under the caBundle's CA.
	var first served
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		first = servedCertificate(ctx, c, sb, full, secretKey, port)
		assert.Equal(c, first, servedCertificate(ctx, c, sb, full, secretKey, metricsPort), "the metrics port serves it too")
	}, time.Minute, 500*time.Millisecond)

	// Through the chart's Service: the enforce policy admits what it only
	// warns about (a ServiceMonitor before its TA, a Service port it does
	// not find), then denies a collector that would leave that monitor
	// unread (the sandbox's own webhook only warns).
	require.NoError(t, sb.CreateNamespace(ctx, "opentelemetry"))
	for _, f := range []string{"testdata/seed/service-port-bleh.yaml", "testdata/seed/servicemonitor.yaml"} {
		res := sb.Run(ctx, repoRoot, "apply", "-f", f)
		require.Zero(t, res.Exit, res.Stderr)
	}
	var res sandbox.Result
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		res = sb.Run(ctx, repoRoot, "create", "--dry-run=server", "-f", "testdata/demo/collector-selectors-omitted.yaml")
		assert.NotZero(c, res.Exit)
		assert.Contains(c, res.Stderr, `The OpenTelemetryCollector "otelcol" is invalid`)
		assert.Contains(c, res.Stderr, "TA003")
	}, time.Minute, 500*time.Millisecond)
	// The audit, elected through the chart's Lease permissions, writes its
	// report with the chart's policyreports permissions.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		res := sb.Run(ctx, repoRoot, "get", "policyreport", "ta-guard", "-n", "opentelemetry", "-o", "name")
		assert.Zero(c, res.Exit, res.Stderr)
	}, 2*time.Minute, time.Second)

	// Renewed before it expires, without a restart: the Secret gets a new
	// certificate under the same CA, the process serves it, and the API
	// server, whose caBundle did not change, goes on being answered.
	var renewedAt time.Time
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var s corev1.Secret
		require.NoError(c, sb.Client.Get(ctx, secretKey, &s))
		require.NotEqual(c, first.cert, s.Data["tls.crt"], "renewed")
		renewedAt = time.Now()
	}, 2*time.Minute, 500*time.Millisecond)
	assert.True(t, first.notAfter.After(renewedAt), "renewed before the first one expired")
	var second served
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		second = servedCertificate(ctx, c, sb, full, secretKey, port)
		assert.NotEqual(c, first.cert, second.cert, "the renewed certificate is served")
		assert.Equal(c, second, servedCertificate(ctx, c, sb, full, secretKey, metricsPort), "on the metrics port too")
	}, time.Minute, 500*time.Millisecond)
	assert.Equal(t, first.caBundle, second.caBundle, "the CA stays")
	assert.True(t, second.notAfter.After(first.notAfter))
	res = sb.Run(ctx, repoRoot, "create", "--dry-run=server", "-f", "testdata/demo/collector-selectors-omitted.yaml")
	assert.Contains(t, res.Stderr, "TA003", "answered with the renewed certificate")

	// An upgrade keeps the CA and the caBundle: neither is in the chart.
	helmRun(ctx, t, sb, append([]string{"upgrade", release, filepath.Join(repoRoot, "charts", "ta-guard"), "--namespace", releaseNamespace}, set...)...)
	var after corev1.Secret
	require.NoError(t, sb.Client.Get(ctx, secretKey, &after))
	assert.Equal(t, first.caBundle, after.Data["ca.crt"], "the upgrade kept the CA")
	require.NoError(t, sb.Client.Get(ctx, client.ObjectKey{Name: full}, &vwc))
	assert.Equal(t, first.caBundle, vwc.Webhooks[0].ClientConfig.CABundle, "and the caBundle")
	res = sb.Run(ctx, repoRoot, "create", "--dry-run=server", "-f", "testdata/demo/collector-selectors-omitted.yaml")
	assert.Contains(t, res.Stderr, "TA003", "answered after the upgrade")

	// Nothing it did needed more than the chart grants.
	log := readTail(logFile)
	assert.NotContains(t, log, "forbidden", "serve needed a permission the chart does not grant")
}

// mountSecret copies the Secret's tls.crt and tls.key into dir whenever
// they change, as the kubelet does for a Pod's Secret volume, until ctx
// ends. Each file is replaced whole (rename), never seen half-written.
func mountSecret(ctx context.Context, sb *sandbox.Sandbox, key client.ObjectKey, dir string) {
	var last []byte
	_ = wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		var s corev1.Secret
		if err := sb.Client.Get(ctx, key, &s); err != nil || len(s.Data["tls.crt"]) == 0 || bytes.Equal(s.Data["tls.crt"], last) {
			return false, nil
		}
		for _, k := range []string{"tls.key", "tls.crt"} {
			tmp := filepath.Join(dir, "."+k)
			if os.WriteFile(tmp, s.Data[k], 0o600) != nil || os.Rename(tmp, filepath.Join(dir, k)) != nil {
				return false, nil
			}
		}
		last = s.Data["tls.crt"]
		return false, nil
	})
}

// served is what the webhook port presents, verified as the API server
// verifies it.
type served struct {
	cert, caBundle []byte
	notAfter       time.Time
}

// servedCertificate connects to a port of serve on loopback and checks
// that its certificate is the Secret's, valid for the chart's Service under
// the webhook configuration's caBundle (the Service and the configuration
// are both called name).
func servedCertificate(ctx context.Context, t require.TestingT, sb *sandbox.Sandbox, name string, secret client.ObjectKey, port int) served {
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	require.NoError(t, sb.Client.Get(ctx, client.ObjectKey{Name: name}, &vwc))
	caBundle := vwc.Webhooks[0].ClientConfig.CABundle
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(caBundle), "a CA in the caBundle")
	var leaf *x509.Certificate
	conf := &tls.Config{RootCAs: pool, ServerName: name + "." + secret.Namespace + ".svc",
		VerifyConnection: func(cs tls.ConnectionState) error { leaf = cs.PeerCertificates[0]; return nil }}
	// The port asks for the API server's client certificate, which this
	// connection has not: the handshake may fail after the server's
	// certificate was verified, which is all this looks at.
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", fmt.Sprintf("127.0.0.1:%d", port), conf)
	if err == nil {
		_ = conn.Close()
	}
	if leaf == nil {
		require.Fail(t, "the served certificate does not verify against the caBundle", "%v", err)
	}
	var s corev1.Secret
	require.NoError(t, sb.Client.Get(ctx, secret, &s))
	block, _ := pem.Decode(s.Data["tls.crt"])
	require.NotNil(t, block)
	require.Equal(t, block.Bytes, leaf.Raw, "the served certificate is the Secret's")
	assert.Equal(t, s.Data["ca.crt"], caBundle, "the caBundle is the Secret's CA")
	return served{cert: s.Data["tls.crt"], caBundle: caBundle, notAfter: leaf.NotAfter}
}

// releaseNamespace is where the tests install the chart: not the
// kustomize base's ta-guard, so that a namespace the chart did not follow
// shows.
const releaseNamespace = "guard-system"

// helmInstall installs charts/ta-guard as release ta-guard on the sandbox,
// into releaseNamespace, which helm creates.
func helmInstall(ctx context.Context, t *testing.T, sb *sandbox.Sandbox, set ...string) {
	t.Helper()
	helmRun(ctx, t, sb, append([]string{"install", "ta-guard", filepath.Join(repoRoot, "charts", "ta-guard"), "--namespace", releaseNamespace, "--create-namespace"}, set...)...)
}

// forward copies each connection ln accepts to and from addr (loopback)
// until ln is closed.
func forward(ln net.Listener, addr string) {
	for {
		in, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer in.Close()
			out, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				return
			}
			defer out.Close()
			done := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(out, in); done <- struct{}{} }()
			go func() { _, _ = io.Copy(in, out); done <- struct{}{} }()
			<-done
		}()
	}
}

// readTail is the end of a log file.
func readTail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 64<<10 {
		b = b[len(b)-64<<10:]
	}
	return string(b)
}

// Without cert-manager and with selfSignedBy=helm, the chart makes its own
// CA and serving certificate,
// and an upgrade keeps them, so the webhook configuration's caBundle and
// the Secret the replicas mount stay as they are; once the Secret's
// ta-guard.io/renew-after has passed, the next upgrade renews both, and
// the caBundle is the CA that signed the new certificate.
func TestChartCertificatesStableAcrossUpgradeAndRenewed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sb := startCluster(ctx, t, sandbox.Options{Policy: "{}\n"})
	set := []string{"--set", "certManager.enabled=false", "--set", "selfSignedBy=helm"}
	helmInstall(ctx, t, sb, set...)
	state := func() (caBundle, cert []byte, renewAfter string) {
		t.Helper()
		var vwc admissionregistrationv1.ValidatingWebhookConfiguration
		require.NoError(t, sb.Client.Get(ctx, client.ObjectKey{Name: "ta-guard"}, &vwc))
		var s corev1.Secret
		require.NoError(t, sb.Client.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: "ta-guard-webhook-tls"}, &s))
		assert.Equal(t, s.Data["ca.crt"], vwc.Webhooks[0].ClientConfig.CABundle, "the caBundle is the Secret's CA")
		pool := x509.NewCertPool()
		require.True(t, pool.AppendCertsFromPEM(vwc.Webhooks[0].ClientConfig.CABundle))
		block, _ := pem.Decode(s.Data["tls.crt"])
		require.NotNil(t, block)
		leaf, err := x509.ParseCertificate(block.Bytes)
		require.NoError(t, err)
		_, err = leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "ta-guard." + releaseNamespace + ".svc"})
		require.NoError(t, err, "the serving certificate verifies against the caBundle for the Service's name")
		return vwc.Webhooks[0].ClientConfig.CABundle, s.Data["tls.crt"], s.Annotations["ta-guard.io/renew-after"]
	}
	ca1, cert1, renew1 := state()
	require.NotEmpty(t, renew1)

	helmRun(ctx, t, sb, append([]string{"upgrade", "ta-guard", filepath.Join(repoRoot, "charts", "ta-guard"), "--namespace", releaseNamespace}, set...)...)
	ca2, cert2, renew2 := state()
	assert.Equal(t, ca1, ca2, "an upgrade keeps the CA")
	assert.Equal(t, cert1, cert2, "and the certificate")
	assert.Equal(t, renew1, renew2)

	// Past renew-after, as a year later.
	var s corev1.Secret
	require.NoError(t, sb.Client.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: "ta-guard-webhook-tls"}, &s))
	s.Annotations["ta-guard.io/renew-after"] = fmt.Sprint(time.Now().Add(-time.Hour).Unix())
	require.NoError(t, sb.Client.Update(ctx, &s))
	helmRun(ctx, t, sb, append([]string{"upgrade", "ta-guard", filepath.Join(repoRoot, "charts", "ta-guard"), "--namespace", releaseNamespace}, set...)...)
	ca3, cert3, renew3 := state()
	assert.NotEqual(t, ca1, ca3, "renewed")
	assert.NotEqual(t, cert1, cert3)
	assert.NotEqual(t, renew1, renew3)
}

// helmRun runs hack/helm.sh's helm against the sandbox.
func helmRun(ctx context.Context, t *testing.T, sb *sandbox.Sandbox, args ...string) {
	t.Helper()
	helmBin, err := exec.Command(filepath.Join(repoRoot, "hack", "helm.sh")).Output()
	require.NoError(t, err, "hack/helm.sh builds helm")
	out, err := exec.CommandContext(ctx, strings.TrimSpace(string(helmBin)), append(args, "--kubeconfig", sb.Kubeconfig)...).CombinedOutput()
	require.NoError(t, err, "helm %s: %s", strings.Join(args, " "), out)
}
