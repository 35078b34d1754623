// Package sandbox runs ta-guard the way a cluster does, on one machine: a
// local etcd and kube-apiserver (controller-runtime envtest, from the
// binaries hack/k8s-bins.sh builds), the project's CRDs, `ta-guard serve` as
// a child process with a self-signed serving certificate, and a
// ValidatingWebhookConfiguration that sends the API server's admission
// requests to it at https://127.0.0.1:<port>/validate. kubectl (the one
// built at the API server's version) talks to it with an admin kubeconfig.
//
// hack/demo (make demo, make dev) and test/e2e use it.
package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/test/conversion"
)

// Binaries are the programs of hack/k8s-bins.sh a sandbox needs.
var Binaries = []string{"etcd", "kube-apiserver", "kubectl"}

// ConfigurationName is the sandbox's ValidatingWebhookConfiguration: not
// the chart's "ta-guard", so that the chart can be installed beside it.
const ConfigurationName = "ta-guard-sandbox"

// WebhookName is the name of that configuration's webhook, which kubectl's
// messages start with.
const WebhookName = "validate.ta-guard.io"

// Options configure a sandbox.
type Options struct {
	// Root is the repository: CRDs are read from Root/config/crd.
	Root string
	// Assets holds etcd, kube-apiserver and kubectl (hack/k8s-bins.sh).
	Assets string
	// Webhook is the ta-guard binary (make build: bin/ta-guard).
	Webhook string
	// CertDir receives ca.crt, tls.crt and tls.key; a directory inside
	// the sandbox's temporary directory when empty.
	CertDir string
	// Policy is the content of the policy file the webhook starts with.
	Policy string
	// Args are more flags of `ta-guard serve`.
	Args []string
	// Unverified runs the API server without a client certificate for
	// webhooks and ta-guard without --client-ca-file: every caller of the
	// webhook port is then unverified, the API server included. By default
	// the API server presents one (WriteIdentity), as in the deployment
	// docs/multi-tenancy.md describes.
	Unverified bool
	// CRDs are the directories of Root/config/crd installed (nil: all of
	// opentelemetry, monitoring and policyreport).
	CRDs []string
	// Nodes, when above zero, makes the sandbox a cluster: it also runs
	// kube-controller-manager, kube-scheduler and kwok, with that many
	// nodes kwok keeps Ready (startCluster).
	Nodes int
	// Progress, when set, is told what is being started.
	Progress func(format string, args ...any)
}

// Sandbox is a running API server with ta-guard registered.
type Sandbox struct {
	// Dir is the temporary directory (kubeconfig, policy, logs), removed
	// by Stop.
	Dir string
	// Kubeconfig is an admin (system:masters) kubeconfig.
	Kubeconfig string
	// Kubectl is the kubectl binary of Options.Assets.
	Kubectl string
	// PolicyFile is the webhook's --policy; SetPolicy rewrites it.
	PolicyFile string
	// WebhookLog receives the webhook's output (JSON lines).
	WebhookLog string
	CertDir    string
	// ClientCAFile is ta-guard's --client-ca-file ("" when Unverified).
	ClientCAFile string
	// PodCIDR is where kwok takes Pod IPs from (Options.Nodes): a /24 of
	// 198.18.0.0/15, routed into the sandbox's own network namespace when
	// PodNetworkRouted.
	PodCIDR string
	// WebhookURL is where the API server sends admission reviews.
	WebhookURL string
	// Config is the admin REST config; Client uses it.
	Config *rest.Config
	Client client.Client

	opts Options
	env  *envtest.Environment
	// stopConversion stops the collector CRD's conversion webhook.
	stopConversion context.CancelFunc
	webhook        *exec.Cmd
	exited         chan struct{}
	// components are the controller manager, scheduler and kwok.
	components []*component
	// podNet routes PodCIDR into a namespace of the sandbox's own (nil:
	// it could not be made, podNetErr says why).
	podNet    *podNetwork
	podNetErr error
	exitErr   error
	stopOnce  sync.Once
	stopErr   error
}

// Start brings the sandbox up. On error everything it started is stopped.
func Start(ctx context.Context, opts Options) (sb *Sandbox, err error) {
	progress := opts.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	for _, b := range Binaries {
		if _, err := os.Stat(filepath.Join(opts.Assets, b)); err != nil {
			return nil, fmt.Errorf("%s not found in %s: run hack/k8s-bins.sh (make k8s-bins) to build it from the Go module proxy", b, opts.Assets)
		}
	}
	if _, err := os.Stat(opts.Webhook); err != nil {
		return nil, fmt.Errorf("webhook binary: %w (make build)", err)
	}
	dir, err := os.MkdirTemp("", "ta-guard-sandbox-")
	if err != nil {
		return nil, err
	}
	s := &Sandbox{
		Dir:        dir,
		Kubeconfig: filepath.Join(dir, "kubeconfig"),
		Kubectl:    filepath.Join(opts.Assets, "kubectl"),
		PolicyFile: filepath.Join(dir, "policy.yaml"),
		WebhookLog: filepath.Join(dir, "webhook.log"),
		CertDir:    opts.CertDir,
		opts:       opts,
	}
	if s.CertDir == "" {
		s.CertDir = filepath.Join(dir, "certs")
	}
	defer func() {
		if err != nil {
			_ = s.Stop()
		}
	}()

	progress("starting etcd and kube-apiserver (%s), installing the CRDs", opts.Assets)
	s.env = &envtest.Environment{
		BinaryAssetsDirectory: opts.Assets,
		CRDDirectoryPaths:     crdDirs(opts),
		ErrorIfCRDPathMissing: true,
		// A loaded CI machine (other test packages start API servers too)
		// can take longer than envtest's default 20 s.
		ControlPlaneStartTimeout: time.Minute,
	}
	// The binaries of Options.Assets, whatever $KUBEBUILDER_ASSETS or
	// $TEST_ASSET_* say: kubectl must be at the API server's version.
	s.env.ControlPlane.GetAPIServer().Path = filepath.Join(opts.Assets, "kube-apiserver")
	s.env.ControlPlane.Etcd = &envtest.Etcd{Path: filepath.Join(opts.Assets, "etcd")}
	s.env.ControlPlane.KubectlPath = s.Kubectl
	// Webhooks and aggregated APIs behind a Service are reached at its
	// endpoints, never its ClusterIP: no kube-proxy runs here, and a
	// ClusterIP is no address of this host's (the network rule).
	s.env.ControlPlane.GetAPIServer().Configure().Set("enable-aggregator-routing", "true")
	if !opts.Unverified {
		id, err := WriteIdentity(filepath.Join(dir, "identity"), 30*24*time.Hour)
		if err != nil {
			return nil, fmt.Errorf("API server identity: %w", err)
		}
		s.env.ControlPlane.GetAPIServer().Configure().Append("admission-control-config-file", id.AdmissionConfigFile)
		s.ClientCAFile = id.ClientCAFile
	}
	start := time.Now()
	cfg, err := s.env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting etcd and kube-apiserver: %w", err)
	}
	progress("API server up at %s in %s", cfg.Host, time.Since(start).Round(100*time.Millisecond))
	s.Config = cfg
	if err := os.WriteFile(s.Kubeconfig, s.env.KubeConfig, 0o600); err != nil {
		return nil, err
	}
	if s.Client, err = client.New(cfg, client.Options{}); err != nil {
		return nil, err
	}

	if opts.Nodes > 0 {
		if err := s.startCluster(ctx, opts.Nodes, progress); err != nil {
			return nil, err
		}
	}

	caPEM, err := WriteCerts(s.CertDir, 30*24*time.Hour)
	if err != nil {
		return nil, fmt.Errorf("certificates: %w", err)
	}
	if err := writeAtomic(s.PolicyFile, []byte(opts.Policy), 0o644); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	health, err := freePort()
	if err != nil {
		return nil, err
	}
	s.WebhookURL = fmt.Sprintf("https://127.0.0.1:%d/validate", port)
	progress("starting %s serve on 127.0.0.1:%d (certificates in %s)", opts.Webhook, port, s.CertDir)
	if err := s.startWebhook(port, health); err != nil {
		return nil, err
	}
	if err := s.waitReady(ctx, health); err != nil {
		return nil, err
	}
	progress("registering the ValidatingWebhookConfiguration %s -> %s", ConfigurationName, s.WebhookURL)
	if err := s.Client.Create(ctx, webhookConfiguration(s.WebhookURL, caPEM)); err != nil {
		return nil, fmt.Errorf("ValidatingWebhookConfiguration: %w", err)
	}
	if err := s.waitWired(ctx); err != nil {
		return nil, err
	}
	// v1alpha1 collectors are converted as the OpenTelemetry Operator
	// converts them on a cluster (test/conversion); the probe it writes
	// to see conversion working goes through ta-guard, so ta-guard first.
	var convCtx context.Context
	convCtx, s.stopConversion = context.WithCancel(context.Background())
	url, err := conversion.Serve(convCtx, filepath.Join(s.CertDir, CertFile), filepath.Join(s.CertDir, KeyFile))
	if err != nil {
		return nil, fmt.Errorf("conversion webhook: %w", err)
	}
	progress("converting OpenTelemetryCollector v1alpha1 <-> v1beta1 at %s", url)
	if err := conversion.Install(ctx, s.Config, url, caPEM); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Sandbox) startWebhook(port, health int) error {
	logf, err := os.OpenFile(s.WebhookLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.opts.Webhook, "serve",
		"--cert-dir", s.CertDir,
		"--host", "127.0.0.1",
		"--port", fmt.Sprint(port),
		"--metrics-bind-address", "0",
		"--health-probe-bind-address", fmt.Sprintf("127.0.0.1:%d", health),
		"--policy", s.PolicyFile,
		// The audit follows changes within a second here, so the demo can
		// show its PolicyReports right away.
		"--audit-interval", "1m",
		"--audit-debounce", "1s",
	)
	cmd.Args = append(cmd.Args, "--kubeconfig", s.Kubeconfig)
	if s.ClientCAFile != "" {
		cmd.Args = append(cmd.Args, "--client-ca-file", s.ClientCAFile)
	}
	cmd.Args = append(cmd.Args, s.opts.Args...)
	cmd.Env = withoutEnv(os.Environ(), "KUBECONFIG")
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so that a Ctrl-C meant for the demo does not
	// reach it before the demo stops things in order; and (on Linux) a
	// signal when the demo dies without cleaning up.
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting the webhook: %w", err)
	}
	s.webhook = cmd
	s.exited = make(chan struct{})
	go func() {
		s.exitErr = cmd.Wait()
		logf.Close()
		close(s.exited)
	}()
	return nil
}

// waitReady polls the webhook's /readyz: informers synced, HTTPS serving.
func (s *Sandbox) waitReady(ctx context.Context, health int) error {
	url := fmt.Sprintf("http://127.0.0.1:%d/readyz", health)
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("webhook exited (%v) before it was ready:\n%s", s.exitErr, s.LogTail(20))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("webhook not ready at %s after 60s:\n%s", url, s.LogTail(20))
		}
	}
}

// waitWired waits until the API server calls the webhook: a dry-run
// ServiceMonitor that selects nothing comes back with TA102 (without the
// monitoring CRDs, a collector whose TA reads no ServiceMonitor, TA003).
func (s *Sandbox) waitWired(ctx context.Context) error {
	probe, want := probeMonitor, "TA102 "
	if !slices.Contains(crdDirs(s.opts), filepath.Join(s.opts.Root, "config", "crd", "monitoring")) {
		probe, want = probeCollector, "TA003 "
	}
	wh := &warningList{}
	cfg := rest.CopyConfig(s.Config)
	cfg.WarningHandler = wh
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		wh.take()
		err := c.Create(ctx, probe(), client.DryRunAll)
		for _, w := range wh.take() {
			if strings.HasPrefix(w, want) {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the API server does not call the webhook after 30s (last error: %v):\n%s", err, s.LogTail(20))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func probeMonitor() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("monitoring.coreos.com/v1")
	u.SetKind("ServiceMonitor")
	u.SetNamespace(metav1.NamespaceDefault)
	u.SetName("ta-guard-sandbox-probe")
	_ = unstructured.SetNestedStringMap(u.Object, map[string]string{"ta-guard.io/sandbox-probe": "none"}, "spec", "selector", "matchLabels")
	_ = unstructured.SetNestedSlice(u.Object, []any{map[string]any{"port": "none"}}, "spec", "endpoints")
	return u
}

func probeCollector() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("opentelemetry.io/v1beta1")
	u.SetKind("OpenTelemetryCollector")
	u.SetNamespace(metav1.NamespaceDefault)
	u.SetName("ta-guard-sandbox-probe")
	_ = unstructured.SetNestedField(u.Object, "statefulset", "spec", "mode")
	_ = unstructured.SetNestedField(u.Object, true, "spec", "targetAllocator", "enabled")
	_ = unstructured.SetNestedField(u.Object, true, "spec", "targetAllocator", "prometheusCR", "enabled")
	_ = unstructured.SetNestedMap(u.Object, map[string]any{}, "spec", "config")
	return u
}

type warningList struct {
	mu   sync.Mutex
	list []string
}

func (w *warningList) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warningList) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.list
	w.list = nil
	return out
}

// webhookConfiguration sends the kinds the model's registry marks reviewed,
// every version of each, CREATE / UPDATE / DELETE, to url. failurePolicy
// Fail: a broken webhook shows up as errors, not as a silent pass.
func webhookConfiguration(url string, caPEM []byte) *admissionregistrationv1.ValidatingWebhookConfiguration {
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	timeout := int32(5)
	ops := []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update, admissionregistrationv1.Delete}
	var rules []admissionregistrationv1.RuleWithOperations
	for _, k := range model.Kinds() {
		if k.Reviewed {
			rules = append(rules, admissionregistrationv1.RuleWithOperations{Operations: ops, Rule: admissionregistrationv1.Rule{
				APIGroups: []string{k.GVK.Group}, APIVersions: []string{k.GVK.Version}, Resources: []string{k.Resource},
			}})
		}
	}
	return &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: ConfigurationName},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:                    WebhookName,
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             &none,
			FailurePolicy:           &fail,
			TimeoutSeconds:          &timeout,
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caPEM},
			Rules:                   rules,
		}},
	}
}

// Exited is closed when the webhook process has ended.
func (s *Sandbox) Exited() <-chan struct{} { return s.exited }

// WebhookPID is the webhook process's ID (0 before it started): tests read
// its memory in /proc.
func (s *Sandbox) WebhookPID() int {
	if s.webhook == nil || s.webhook.Process == nil {
		return 0
	}
	return s.webhook.Process.Pid
}

// Webhook is the path of the ta-guard binary the sandbox runs.
func (s *Sandbox) Webhook() string { return s.opts.Webhook }

// CreateNamespace creates a namespace (it is never deleted: the sandbox
// runs no namespace controller to finish a deletion).
func (s *Sandbox) CreateNamespace(ctx context.Context, name string) error {
	return s.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
}

// SetPolicy rewrites the policy file and waits until the webhook has
// reloaded it (it looks at the file every 2 s).
func (s *Sandbox) SetPolicy(ctx context.Context, content string) error {
	old, err := os.ReadFile(s.PolicyFile)
	if err != nil {
		return err
	}
	if string(old) == content {
		return nil
	}
	before := s.logCount("policy reloaded")
	failed := s.logCount("policy not reloaded")
	if err := writeAtomic(s.PolicyFile, []byte(content), 0o644); err != nil {
		return err
	}
	deadline := time.Now().Add(15 * time.Second)
	for s.logCount("policy reloaded") == before {
		if s.logCount("policy not reloaded") > failed {
			return fmt.Errorf("the webhook rejected the policy:\n%s", s.LogTail(3))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the webhook did not reload %s within 15s", s.PolicyFile)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

func (s *Sandbox) logCount(msg string) int {
	data, err := os.ReadFile(s.WebhookLog)
	if err != nil {
		return 0
	}
	return bytes.Count(data, []byte(`"msg":"`+msg+`"`))
}

// LogTail is the end of the webhook's log.
func (s *Sandbox) LogTail(lines int) string {
	f, err := os.Open(s.WebhookLog)
	if err != nil {
		return ""
	}
	defer f.Close()
	var all []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		all = append(all, sc.Text())
	}
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// Stop stops the webhook, then kwok, the scheduler and the controller
// manager, then kube-apiserver, then etcd, and removes the temporary
// directory. It is safe to call more than once.
func (s *Sandbox) Stop() error {
	s.stopOnce.Do(func() {
		var errs []error
		if s.webhook != nil && s.webhook.Process != nil {
			_ = s.webhook.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.exited:
			case <-time.After(10 * time.Second):
				_ = s.webhook.Process.Kill()
				<-s.exited
			}
		}
		if s.stopConversion != nil {
			s.stopConversion()
		}
		if err := s.stopComponents(); err != nil {
			errs = append(errs, err)
		}
		if s.podNet != nil {
			s.podNet.stop()
		}
		if s.env != nil {
			// ControlPlane.Stop stops kube-apiserver before etcd, and each
			// with a timeout; it also removes their data directories.
			if err := s.env.Stop(); err != nil {
				errs = append(errs, fmt.Errorf("stopping kube-apiserver and etcd: %w", err))
			}
		}
		if s.Dir != "" {
			if err := os.RemoveAll(s.Dir); err != nil {
				errs = append(errs, err)
			}
		}
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}

func withoutEnv(env []string, names ...string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, n := range names {
			drop = drop || k == n
		}
		if !drop {
			out = append(out, kv)
		}
	}
	return out
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// crdDirs are the CRD directories Options.CRDs names.
func crdDirs(opts Options) []string {
	names := opts.CRDs
	if names == nil {
		names = []string{"opentelemetry", "monitoring", "policyreport"}
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = filepath.Join(opts.Root, "config", "crd", n)
	}
	return out
}
