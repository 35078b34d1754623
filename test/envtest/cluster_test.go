package envtest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/ta-guard/ta-guard/internal/metrics"
	"github.com/ta-guard/ta-guard/internal/server"
	"github.com/ta-guard/ta-guard/test/conversion"
)

// webhookSetup says what a test's API server holds and how ta-guard runs on
// it.
type webhookSetup struct {
	// CRDs are directories of config/crd (opentelemetry is always there).
	CRDs []string
	// Policy is the policy file's content ("" for the defaults).
	Policy string
	// Tune adjusts the server's options (intervals, flags).
	Tune func(*server.Options)
	// Env adjusts the control plane before it starts.
	Env func(*envtest.Environment)
	// NoConversion leaves the collector CRD without the conversion webhook:
	// its probe goes through ta-guard, which a suite may make refuse the
	// API server (a client CA the API server has no certificate for).
	NoConversion bool
	// Unverified runs ta-guard without --client-ca-file and gives the API
	// server no client certificate: ta-guard then believes no userInfo.
	// Every other setup is the documented one, with both.
	Unverified bool
}

// liveWebhook is a real kube-apiserver and etcd with ta-guard registered and
// serving, its informers synced.
type liveWebhook struct {
	ctx        context.Context
	k          *kube
	srv        *server.Server
	cfg        *rest.Config // the API server's admin
	policyFile string
	host       string // where ta-guard's webhook listens
	port       int
	env        *envtest.Environment
	opts       server.Options
	// stopped receives what the server's Start returned.
	stopped chan error
}

// startWebhook starts the API server of the setup and ta-guard on it, each
// test its own: the suites' clusters never share objects.
func startWebhook(t *testing.T, s webhookSetup) *liveWebhook {
	t.Helper()
	assets, err := assetsDir()
	require.NoError(t, err)
	env := newEnvironment(assets)
	env.CRDDirectoryPaths = crdPaths(append([]string{"opentelemetry"}, s.CRDs...)...)
	if s.Env != nil {
		s.Env(env)
	}
	clientCAFile := ""
	if !s.Unverified {
		clientCAFile = apiServerIdentity(t, env)
	}
	cfg, err := env.Start()
	require.NoError(t, err, "starting kube-apiserver and etcd")
	t.Cleanup(func() { _ = env.Stop() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	wo := env.WebhookInstallOptions

	policyFile := filepath.Join(t.TempDir(), "policy.yaml")
	if s.Policy == "" {
		s.Policy = "{}\n"
	}
	require.NoError(t, os.WriteFile(policyFile, []byte(s.Policy), 0o600))
	opts := server.Options{
		Config: cfg, PolicyFile: policyFile,
		Host: wo.LocalServingHost, Port: wo.LocalServingPort, CertDir: wo.LocalServingCertDir,
		MetricsAddr: "0", HealthAddr: "0", Metrics: metrics.New(), // one registry per server
		WatchInterval: 300 * time.Millisecond, PolicyInterval: 50 * time.Millisecond,
		AccessCacheTTL: time.Millisecond, Log: logr.Discard(),
		// With a 1 ms cache every apply asks again: no per-requester budget
		// would fit the suites' pace (the storm test sets its own).
		AccessBudget: 1e6, AccessBurst: 1e6,
		ClientCAFile: clientCAFile,
	}
	if s.Tune != nil {
		s.Tune(&opts)
	}
	srv, err := server.New(opts)
	require.NoError(t, err)
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Start(ctx) }()
	k, err := newKube(cfg)
	require.NoError(t, err)
	k.srv = srv
	waitFor(t, "informers synced", srv.Watcher.Synced)
	// v1alpha1 collectors are converted as the operator converts them on
	// a cluster. Its probe collector passes through the webhook, so the
	// webhook must answer first.
	if !s.NoConversion {
		installConversion(t, ctx, cfg, wo.LocalServingCertDir, wo.LocalServingCAData)
	}
	return &liveWebhook{ctx: ctx, k: k, srv: srv, cfg: cfg, policyFile: policyFile, host: opts.Host, port: opts.Port,
		env: env, opts: opts, stopped: stopped}
}

// installConversion serves the collector CRD's conversion webhook with the
// key pair in certDir (whose CA is caPEM) and points the CRD at it.
func installConversion(t *testing.T, ctx context.Context, cfg *rest.Config, certDir string, caPEM []byte) {
	t.Helper()
	url, err := conversion.Serve(ctx, filepath.Join(certDir, "tls.crt"), filepath.Join(certDir, "tls.key"))
	require.NoError(t, err)
	require.NoError(t, conversion.Install(ctx, cfg, url, caPEM))
}
