// Package server wires ta-guard's webhook: the manager and its cache, the
// watcher that feeds the rule engine's view, the access reviewer, the policy
// (reloaded when its file changes) and the HTTPS admission endpoint.
package server

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/ta-guard/ta-guard/internal/access"
	"github.com/ta-guard/ta-guard/internal/audit"
	"github.com/ta-guard/ta-guard/internal/cluster"
	"github.com/ta-guard/ta-guard/internal/input"
	"github.com/ta-guard/ta-guard/internal/metrics"
	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/internal/policy"
	"github.com/ta-guard/ta-guard/internal/watch"
	"github.com/ta-guard/ta-guard/internal/webhook"
	"github.com/ta-guard/ta-guard/pkg/rules"
	"github.com/ta-guard/ta-guard/pkg/validate"
)

// Options configure the server.
type Options struct {
	Config *rest.Config
	// PolicyFile is reloaded when it changes (a mounted ConfigMap).
	PolicyFile string
	// DefaultAction, when set, overrides the policy's defaultAction.
	DefaultAction rules.Action
	Host          string
	Port          int
	// CertDir holds tls.crt and tls.key; they are reloaded when they change.
	CertDir string
	// MetricsAddr and HealthAddr are bind addresses ("0" disables).
	MetricsAddr, HealthAddr string
	// InsecureMetrics serves /metrics over plain HTTP to anyone who can
	// reach the port. Otherwise it is HTTPS with the serving certificate of
	// CertDir (a self-signed one when CertDir has none), and each scrape is
	// authenticated (TokenReview) and authorized (SubjectAccessReview for
	// get on the non-resource URL /metrics) by the API server: the
	// findings and the kinds ta-guard reads are not for every pod.
	InsecureMetrics bool
	EnableHTTP2     bool
	// TLSMinVersion is the oldest TLS version served (0: TLS 1.3, which
	// every supported API server speaks).
	TLSMinVersion uint16
	// ClientCAFile, when set, makes the webhook port require a client
	// certificate issued by one of its CAs (the API server's).
	ClientCAFile string
	// WebhookConfiguration and FailurePolicy, when both set: once this
	// replica is ready, the failurePolicy of every webhook of that
	// ValidatingWebhookConfiguration is set to FailurePolicy and kept so
	// (failurePolicyKeeper). The configuration is installed with Ignore.
	WebhookConfiguration string
	FailurePolicy        admissionregistrationv1.FailurePolicyType
	// CertRotation, when set, makes this process issue, rotate and inject
	// its own certificates (certrotation.go) into CertDir's Secret and
	// WebhookConfiguration's caBundle, instead of cert-manager.
	CertRotation *CertRotation
	// WebhookReadHeaderTimeout, WebhookReadTimeout (the whole request),
	// WebhookWriteTimeout and WebhookIdleTimeout bound the webhook's
	// connections; 0 takes the defaults of webhookserver.go.
	WebhookReadHeaderTimeout, WebhookReadTimeout, WebhookWriteTimeout, WebhookIdleTimeout time.Duration
	// WebhookInFlightBytes is the budget of admission request bodies held at
	// once, by declared length (0: DefaultInFlightBytes). Raise it with the
	// memory limit.
	WebhookInFlightBytes int64
	// RequestTimeout bounds the live look-ups of one admission request.
	RequestTimeout time.Duration
	// WatchInterval is how often kinds not served yet are looked for.
	WatchInterval time.Duration
	// PolicyInterval is how often the policy file is looked at.
	PolicyInterval time.Duration
	// AccessCacheTTL is how long access-review answers are reused (30 s).
	AccessCacheTTL time.Duration
	// AccessBudget and AccessBurst are each requester's rate of access
	// reviews (API calls per second; 20/s, bursts of 120 by default, about
	// four collectors naming new accounts at once). A negative budget
	// removes it (the storm test's baseline).
	AccessBudget float64
	AccessBurst  int
	// CheckSecretKeys lets ta-guard read the Secrets monitors name, to tell
	// whether they exist with the keys named (TA109). Off, TA109 is not
	// evaluated and ta-guard reads no Secret: it needs get on Secrets,
	// which the base RBAC does not grant.
	CheckSecretKeys bool
	// AuditInterval is the period of the full audit (0 disables the audit);
	// AuditDebounce how soon after a change an audit follows.
	AuditInterval, AuditDebounce time.Duration
	// ReportAPIs are the report APIs the audit writes to ("": auto).
	ReportAPIs audit.ReportAPIs
	// LeaderElection makes only one replica run the audit (the webhook
	// answers on every replica).
	LeaderElection          bool
	LeaderElectionNamespace string
	LeaderElectionID        string
	Log                     logr.Logger
	// Metrics, when nil, are created and registered with controller-runtime.
	Metrics *metrics.Metrics
}

// Server is a configured, not yet running, webhook.
type Server struct {
	Manager manager.Manager
	Watcher *watch.Watcher
	Store   *cluster.Store
	Handler *webhook.Handler
	// Auditor is nil when the audit is disabled.
	Auditor *audit.Auditor
	policy  atomic.Pointer[policy.Policy]
	opts    Options
}

// New builds the server; Start runs it.
func New(opts Options) (*Server, error) {
	if opts.Port == 0 {
		opts.Port = 9443
	}
	if opts.RequestTimeout == 0 {
		opts.RequestTimeout = 3 * time.Second
	}
	if opts.PolicyInterval == 0 {
		opts.PolicyInterval = 2 * time.Second
	}
	if opts.Config.QPS == 0 {
		// client-go's default of 5/s would throttle the access reviews of a
		// single collector (TA008 asks about 28 questions at once).
		opts.Config = rest.CopyConfig(opts.Config)
		opts.Config.QPS, opts.Config.Burst = 50, 100
	}
	s := &Server{opts: opts, Store: cluster.NewStore()}
	if err := s.loadPolicy(); err != nil {
		return nil, err
	}
	scheme, err := watch.NewScheme()
	if err != nil {
		return nil, err
	}
	listErrors := watch.NewListErrors()
	minTLS := opts.TLSMinVersion
	if minTLS == 0 {
		minTLS = tls.VersionTLS13
	}
	tlsOpts := []func(*tls.Config){func(c *tls.Config) { c.MinVersion = minTLS }}
	var clientCAs *x509.CertPool
	if opts.ClientCAFile != "" {
		// A CA bundle of every public root is about 200 KiB.
		pem, err := input.ReadFile(opts.ClientCAFile, 4<<20, "a CA bundle may hold")
		if err != nil {
			return nil, fmt.Errorf("client CA file: %w", err)
		}
		clientCAs = x509.NewCertPool()
		if !clientCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client CA file %s: no PEM certificate in it", opts.ClientCAFile)
		}
	}
	if !opts.EnableHTTP2 {
		// HTTP/2 stays off unless asked for (rapid-reset advisories).
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	// Closed once the serving certificate is there; the webhook server
	// waits for it.
	certsReady := make(chan struct{})
	if opts.CertRotation == nil {
		close(certsReady)
	}
	ws := newWebhookServer(webhookServerOptions{
		Host: opts.Host, Port: opts.Port, CertDir: opts.CertDir, TLSOpts: tlsOpts, ClientCAs: clientCAs,
		ReadHeaderTimeout: opts.WebhookReadHeaderTimeout, ReadTimeout: opts.WebhookReadTimeout,
		WriteTimeout: opts.WebhookWriteTimeout, IdleTimeout: opts.WebhookIdleTimeout,
		InFlightBytes: opts.WebhookInFlightBytes, Log: opts.Log.WithName("webhook-server"),
		CertsReady: certsReady,
	})
	metricsTLS := tlsOpts
	if opts.CertRotation != nil {
		// The metrics server looks at CertDir once, at start, and would
		// keep a self-signed certificate for good if ours is not issued
		// yet: it shares the webhook's instead.
		metricsTLS = append(append([]func(*tls.Config){}, tlsOpts...), func(c *tls.Config) { c.GetCertificate = ws.servingCertificate })
	}
	mgr, err := ctrl.NewManager(opts.Config, manager.Options{
		Scheme:  scheme,
		Logger:  opts.Log,
		Cache:   watch.CacheOptions(listErrors),
		Metrics: metricsOptions(opts, metricsTLS),
		// Our own probe server (health.go) replaces the manager's: its
		// /readyz must say when it answers from the cache.
		HealthProbeBindAddress: "0",
		// No manager-wide leader election: losing the Lease would end the
		// process (see elected); only the audit is elected.
		WebhookServer: ws,
	})
	if err != nil {
		return nil, fmt.Errorf("manager: %w", err)
	}
	s.Manager = mgr
	ready := []func(*http.Request) error{}
	if opts.CertRotation != nil {
		isReady, err := addCertRotation(mgr, *opts.CertRotation, opts.CertDir, opts.WebhookConfiguration, certsReady)
		if err != nil {
			return nil, err
		}
		ready = append(ready, isReady)
	}
	s.Watcher = watch.New(mgr.GetCache(), mgr.GetRESTMapper(), scheme, s.Store, opts.Log.WithName("watch"))
	ready = append(ready, s.Watcher.ReadyCheck, mgr.GetWebhookServer().StartedChecker())
	s.Watcher.ListErrors = listErrors
	if opts.WatchInterval > 0 {
		s.Watcher.Interval = opts.WatchInterval
	}
	m := opts.Metrics
	if m == nil {
		m = metrics.New()
		if err := m.Register(nil, s.Watcher.SyncState); err != nil {
			return nil, err
		}
	}
	s.Watcher.OnError = func(kind string) { m.SkippedObjects.WithLabelValues(kind).Inc() }
	if err := mgr.Add(s.Watcher); err != nil {
		return nil, err
	}
	// Reviews have a client, and so a rate limit, of their own: the audit's
	// writes and the watcher's look-ups never queue behind them, nor they
	// behind those. SubjectAccessReviews cost the API server no storage.
	reviewCfg := rest.CopyConfig(opts.Config)
	reviewCfg.QPS, reviewCfg.Burst = 100, 200
	reviews, err := client.New(reviewCfg, client.Options{Scheme: scheme, Mapper: mgr.GetRESTMapper()})
	if err != nil {
		return nil, fmt.Errorf("access review client: %w", err)
	}
	reviewer := access.NewReviewer(reviews, reviews)
	reviewer.Budget, reviewer.Burst = 20, 120
	switch {
	case opts.AccessBudget < 0:
		reviewer.Budget = 0
	case opts.AccessBudget > 0:
		reviewer.Budget = rate.Limit(opts.AccessBudget)
	}
	if opts.AccessBurst > 0 {
		reviewer.Burst = opts.AccessBurst
	}
	if opts.AccessCacheTTL > 0 {
		reviewer.TTL = opts.AccessCacheTTL
	}
	reviewer.ReadSecrets = opts.CheckSecretKeys
	// A request waits on the API server for half its time at most: the rest
	// is for the engine and the answer, from the last known result if need be.
	reviewer.Wait = opts.RequestTimeout / 2
	if err := mgr.Add(watchAccessChanges(mgr.GetCache(), reviewer, opts.Log.WithName("access"))); err != nil {
		return nil, err
	}
	s.Handler = &webhook.Handler{
		View:    s.Store,
		Facts:   facts{Watcher: s.Watcher, Reviewer: reviewer},
		Policy:  s.policy.Load,
		Ready:   s.Watcher.Synced,
		Metrics: m,
		Log:     opts.Log.WithName("admission"),
		Timeout: opts.RequestTimeout,
		// Their questions share the reviews' client and rate limit.
		Audiences: access.NewAudiences(reviews),
	}
	mgr.GetWebhookServer().Register(webhook.Path, s.Handler.Server())
	if opts.AuditInterval > 0 {
		am := audit.NewMetrics()
		if opts.Metrics == nil {
			if err := am.Register(crmetrics.Registry); err != nil {
				return nil, err
			}
		}
		s.Auditor = &audit.Auditor{
			View: s.Store, Facts: s.Handler.Facts, Policy: s.policy.Load, Ready: s.Watcher.Synced, Redact: true,
			Client: mgr.GetClient(), Mapper: mgr.GetRESTMapper(), APIs: opts.ReportAPIs, Events: mgr.GetEventRecorder("ta-guard"),
			Interval: opts.AuditInterval, Debounce: opts.AuditDebounce,
			Metrics: am, Log: opts.Log.WithName("audit"),
		}
		s.Watcher.OnChange = func(string) { s.Auditor.Trigger() }
		var audit manager.Runnable = everyReplica(s.Auditor.Start)
		if opts.LeaderElection {
			e, err := newElected(opts.Config, opts.LeaderElectionNamespace, orDefault(opts.LeaderElectionID, "ta-guard-audit"), s.Auditor, opts.Log.WithName("leader"))
			if err != nil {
				return nil, err
			}
			audit = e
		}
		if err := mgr.Add(audit); err != nil {
			return nil, err
		}
	}
	if addr := orDefault(opts.HealthAddr, ":8081"); addr != "0" {
		probe, err := newAPIProbe(opts.Config)
		if err != nil {
			return nil, err
		}
		if err := mgr.Add(probe); err != nil {
			return nil, err
		}
		hs, err := healthServer(addr, &health{
			ready: ready,
			probe: probe, now: time.Now,
		})
		if err != nil {
			return nil, err
		}
		if err := mgr.Add(hs); err != nil {
			return nil, err
		}
	}
	if opts.PolicyFile != "" {
		if err := mgr.Add(everyReplica(s.watchPolicy)); err != nil {
			return nil, err
		}
	}
	if opts.WebhookConfiguration != "" && opts.FailurePolicy != "" {
		if err := mgr.Add(&failurePolicyKeeper{
			reader: mgr.GetAPIReader(), writer: mgr.GetClient(),
			name: opts.WebhookConfiguration, want: opts.FailurePolicy,
			ready: ready,
			log:   opts.Log.WithName("failure-policy"),
		}); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Start runs until ctx ends.
func (s *Server) Start(ctx context.Context) error { return s.Manager.Start(ctx) }

// CertDir is where the server reads its serving certificate.
func (s *Server) CertDir() string { return s.opts.CertDir }

// Policy is the policy in force.
func (s *Server) Policy() *policy.Policy { return s.policy.Load() }

// everyReplica is a runnable that runs on every replica, not only on the
// leader (controller-runtime's default for runnables).
type everyReplica func(context.Context) error

func (f everyReplica) Start(ctx context.Context) error { return f(ctx) }
func (f everyReplica) NeedLeaderElection() bool        { return false }

// facts joins what the watcher knows (served kinds) and the reviewer asks.
type facts struct {
	*watch.Watcher
	*access.Reviewer
}

var _ validate.Facts = facts{}

func (f facts) MonitorKindServed(k model.MonitorKind) bool { return f.Watcher.MonitorKindServed(k) }

func (s *Server) loadPolicy() error {
	p := &policy.Policy{}
	if s.opts.PolicyFile != "" {
		var err error
		if p, err = policy.LoadFile(s.opts.PolicyFile); err != nil {
			return fmt.Errorf("policy %w", err)
		}
	}
	if s.opts.DefaultAction != "" {
		p.DefaultAction = s.opts.DefaultAction
	}
	if c := p.Caution(); c != "" {
		s.opts.Log.WithName("policy").Info("caution: " + c)
	}
	s.policy.Store(p)
	return nil
}

// watchPolicy reloads the policy file when its content changes. A mounted
// ConfigMap is replaced through a symlink swap, so content is compared, not
// inotify events. A broken file keeps the previous policy in force.
func (s *Server) watchPolicy(ctx context.Context) error {
	log := s.opts.Log.WithName("policy")
	last := fileHash(s.opts.PolicyFile)
	t := time.NewTicker(s.opts.PolicyInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		h := fileHash(s.opts.PolicyFile)
		if h == last {
			continue
		}
		last = h
		if err := s.loadPolicy(); err != nil {
			log.Error(err, "policy not reloaded; the previous one stays in force")
			continue
		}
		log.Info("policy reloaded", "file", s.opts.PolicyFile)
	}
}

func fileHash(path string) [32]byte {
	b, err := policy.ReadFile(path)
	if err != nil {
		return [32]byte{}
	}
	return sha256.Sum256(b)
}

func metricsOptions(opts Options, tlsOpts []func(*tls.Config)) metricsserver.Options {
	o := metricsserver.Options{BindAddress: orDefault(opts.MetricsAddr, ":8443"), TLSOpts: tlsOpts}
	if opts.InsecureMetrics {
		o.BindAddress = orDefault(opts.MetricsAddr, ":8080")
		return o
	}
	o.SecureServing = true
	o.FilterProvider = filters.WithAuthenticationAndAuthorization
	// The webhook's certificate (cert-manager's Secret, already mounted):
	// Prometheus can verify it against the same CA, and a renewal is
	// picked up without a restart, as for the webhook.
	o.CertDir = opts.CertDir
	return o
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// ErrNoConfig is returned when no cluster can be reached.
var ErrNoConfig = errors.New("no kubeconfig: give --kubeconfig, set KUBECONFIG, or run in a cluster")
