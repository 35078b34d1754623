package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/semaphore"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/ta-guard/ta-guard/internal/webhook"
)

// Defaults of the webhook's HTTPS server. controller-runtime's own server
// waits 32 s for headers and forever for a body, so a client that trickles
// one keeps its connection, and its share of memory, as long as it likes.
const (
	// The API server sends its few headers at once.
	DefaultReadHeaderTimeout = 5 * time.Second
	// The whole request, body included: 4 MiB from the API server takes
	// milliseconds; 10 s also covers the wait for memory budget.
	DefaultReadTimeout = 10 * time.Second
	// From the end of the headers to the end of the answer: above the
	// longest timeoutSeconds the API server allows (30), so that an answer
	// is never cut while the API server still waits for it.
	DefaultWriteTimeout = 35 * time.Second
	// Below the 90 s after which the API server's client drops idle
	// connections itself, and short enough that idle connections opened
	// to hold memory go soon (the caps bound how many there are).
	DefaultIdleTimeout = 30 * time.Second
	// The API server's headers are a few hundred bytes.
	DefaultMaxHeaderBytes = 16 << 10
	// DefaultInFlightBytes bounds the bodies read at once. A request costs
	// about twice its body while it is decoded (the body, which the objects
	// point into, and the decoded model); 245 MiB are resident with a large
	// cluster cached (docs/benchmarks.md), GOMEMLIMIT is 460MiB under a
	// 512Mi limit: 64 MiB of bodies, about 130 MiB at worst, fit beside
	// the cache. That is 16 reviews of the largest size at once, and far
	// more of the usual few KiB.
	DefaultInFlightBytes = 64 << 20
)

// webhookServerOptions configure newWebhookServer; zero values take the
// defaults above.
type webhookServerOptions struct {
	Host    string
	Port    int
	CertDir string
	TLSOpts []func(*tls.Config)
	// ClientCAs, when set, are the only issuers of client certificates the
	// webhook port accepts: only the API server (given a certificate by its
	// admission configuration) may call it.
	ClientCAs *x509.CertPool

	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	MaxHeaderBytes                                            int
	// InFlightBytes is the budget of request bodies being read or handled
	// at once, weighted by their declared length. A caller without a
	// verified client certificate gets at most a quarter of it per
	// address, so that no pod can hold what the API server needs.
	InFlightBytes int64
	// MaxConns and MaxConnsPerAddr cap the open connections (0: the
	// defaults).
	MaxConns, MaxConnsPerAddr int
	// CertsReady, when not nil, is closed once CertDir holds the serving
	// certificate (issued by this process: certrotation.go); the port is
	// opened only then.
	CertsReady <-chan struct{}
	Log        logr.Logger
}

// webhookServer is the admission endpoint: controller-runtime's
// webhook.Server with bounded connections and memory. Its routes are kept by
// a controller-runtime DefaultServer that is never started: its Register
// wraps each hook in the controller_runtime_webhook_* metrics that the
// dashboard and alerts read.
type webhookServer struct {
	o       webhookServerOptions
	routes  crwebhook.Server
	budget  *semaphore.Weighted
	started atomic.Bool
	// shares are the per-address budgets of unverified callers.
	shares *addrShares
	// cert is CertDir's watcher once serving: the metrics port shares it
	// when the certificate is issued by this process (servingCertificate).
	cert atomic.Pointer[certwatcher.CertWatcher]
}

// servingCertificate is the webhook's current certificate, for the metrics
// port when it is issued by this process after the port opened: an error
// until then, which a scrape sees as a failed handshake.
func (s *webhookServer) servingCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if cw := s.cert.Load(); cw != nil {
		return cw.GetCertificate(nil)
	}
	return nil, errors.New("serving certificate not yet issued")
}

var _ crwebhook.Server = (*webhookServer)(nil)

func newWebhookServer(o webhookServerOptions) *webhookServer {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	def(&o.ReadTimeout, DefaultReadTimeout)
	def(&o.WriteTimeout, DefaultWriteTimeout)
	def(&o.IdleTimeout, DefaultIdleTimeout)
	if o.MaxHeaderBytes == 0 {
		o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if o.InFlightBytes == 0 {
		o.InFlightBytes = DefaultInFlightBytes
	}
	// A budget smaller than one review would refuse the largest ones always.
	o.InFlightBytes = max(o.InFlightBytes, webhook.MaxRequestBytes)
	if o.Port == 0 {
		o.Port = crwebhook.DefaultPort
	}
	if o.MaxConns == 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.MaxConnsPerAddr == 0 {
		o.MaxConnsPerAddr = DefaultMaxConnsPerAddr
	}
	return &webhookServer{
		o:      o,
		routes: crwebhook.NewServer(crwebhook.Options{Port: o.Port, WebhookMux: http.NewServeMux()}),
		budget: semaphore.NewWeighted(o.InFlightBytes),
		shares: &addrShares{size: max(o.InFlightBytes/4, webhook.MaxRequestBytes), held: map[string]*share{}},
	}
}

func (*webhookServer) NeedLeaderElection() bool { return false }

func (s *webhookServer) Register(path string, hook http.Handler) {
	s.routes.Register(path, s.bounded(hook))
}

func (s *webhookServer) WebhookMux() *http.ServeMux { return s.routes.WebhookMux() }

func (s *webhookServer) addr() string { return net.JoinHostPort(s.o.Host, strconv.Itoa(s.o.Port)) }

func (s *webhookServer) Start(ctx context.Context) error {
	cfg := &tls.Config{NextProtos: []string{"h2", "http/1.1"}}
	for _, f := range s.o.TLSOpts {
		f(cfg)
	}
	if s.o.ClientCAs != nil {
		cfg.ClientCAs, cfg.ClientAuth = s.o.ClientCAs, tls.RequireAndVerifyClientCert
	}
	if s.o.CertsReady != nil {
		select {
		case <-s.o.CertsReady:
		case <-ctx.Done():
			return nil
		}
	}
	if cfg.GetCertificate == nil {
		cw, err := certwatcher.New(filepath.Join(s.o.CertDir, "tls.crt"), filepath.Join(s.o.CertDir, "tls.key"))
		if err != nil {
			return err
		}
		cfg.GetCertificate = cw.GetCertificate
		s.cert.Store(cw)
		go func() {
			if err := cw.Start(ctx); err != nil {
				s.o.Log.Error(err, "serving certificate watcher stopped")
			}
		}()
	}
	ln, err := net.Listen("tcp", s.addr())
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           s.WebhookMux(),
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ReadHeaderTimeout: s.o.ReadHeaderTimeout,
		ReadTimeout:       s.o.ReadTimeout,
		WriteTimeout:      s.o.WriteTimeout,
		IdleTimeout:       s.o.IdleTimeout,
		MaxHeaderBytes:    s.o.MaxHeaderBytes,
		ConnState:         trackBusy,
		// Timeouts and failed handshakes of clients cut off are expected
		// here: at -v=1, not one line each on stderr.
		ErrorLog: log.New(logWriter{s.o.Log.V(1)}, "", 0),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			s.o.Log.Error(err, "webhook server shutdown")
		}
	}()
	s.o.Log.Info("serving webhook", "addr", s.addr(), "readTimeout", s.o.ReadTimeout, "inFlightBytes", s.o.InFlightBytes)
	s.started.Store(true)
	limited := limitConns(ln, s.o.MaxConns, s.o.MaxConnsPerAddr, func(addr string) {
		s.o.Log.V(1).Info("connection refused: too many open", "addr", addr)
	})
	if err := srv.Serve(tls.NewListener(limited, cfg)); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	<-done
	return nil
}

func (s *webhookServer) StartedChecker() healthz.Checker {
	return func(*http.Request) error {
		if !s.started.Load() {
			return errors.New("webhook server not started yet")
		}
		d := &net.Dialer{Timeout: 5 * time.Second}
		var conn net.Conn
		var err error
		if s.o.ClientCAs != nil {
			// Without a client certificate the handshake is refused (and
			// logged): that the port accepts connections must do.
			conn, err = d.Dial("tcp", s.addr())
		} else {
			conn, err = tls.DialWithDialer(d, "tcp", s.addr(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only that the port answers TLS
		}
		if err != nil {
			return fmt.Errorf("webhook server not reachable: %w", err)
		}
		return conn.Close()
	}
}

// refuser is a hook that answers a request the server will not let it read.
type refuser interface {
	Refuse(w http.ResponseWriter, r *http.Request, status int, reason, why string)
}

// bounded admits a request to hook only within the memory budget: a body
// declared above webhook.MaxRequestBytes is refused before it is read, one
// of unknown length counts as the largest and is cut there, and a request
// that finds no budget in time is refused. Refusals are quick: a refused
// request never holds memory or the API server's time.
func (s *webhookServer) bounded(hook http.Handler) http.Handler {
	refuse := func(w http.ResponseWriter, r *http.Request, status int, reason, why string) {
		if rf, ok := hook.(refuser); ok {
			rf.Refuse(w, r, status, reason, why)
			return
		}
		http.Error(w, why, status)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := r.ContentLength
		if n > webhook.MaxRequestBytes {
			refuse(w, r, http.StatusRequestEntityTooLarge, "too_large",
				fmt.Sprintf("the AdmissionReview (%d bytes) is larger than the %d bytes ta-guard reads", n, webhook.MaxRequestBytes))
			return
		}
		if n < 0 {
			n = webhook.MaxRequestBytes
		}
		start := time.Now()
		timeout := requestTimeout(r)
		// Wait for budget half of the time the API server gives at most,
		// and within the read timeout, which runs meanwhile: the rest is
		// for reading, checking and answering.
		wait := min(timeout, s.o.ReadTimeout) / 2
		wctx, cancel := context.WithTimeout(r.Context(), wait)
		release, err := s.acquire(wctx, r, n)
		cancel()
		if err != nil {
			refuse(w, r, http.StatusServiceUnavailable, "busy",
				fmt.Sprintf("ta-guard was reading as many requests as its memory allows for %s", wait.Round(time.Millisecond)))
			return
		}
		defer release()
		// The answer must reach the API server before it gives up: a wait
		// for budget is taken from the live look-ups' time, not added to it.
		ctx, cancel := context.WithDeadline(r.Context(), start.Add(timeout-min(timeout/10, time.Second)))
		defer cancel()
		r = r.WithContext(ctx)
		r.Body = http.MaxBytesReader(w, r.Body, webhook.MaxRequestBytes)
		hook.ServeHTTP(w, r)
	})
}

// acquire takes n bytes of the budget for r: a caller without a verified
// client certificate first from its address's share, then from the whole.
func (s *webhookServer) acquire(ctx context.Context, r *http.Request, n int64) (func(), error) {
	verified, addr := webhook.Caller(r)
	if verified {
		if err := s.budget.Acquire(ctx, n); err != nil {
			return nil, err
		}
		return func() { s.budget.Release(n) }, nil
	}
	sh := s.shares.get(addr)
	if err := sh.sem.Acquire(ctx, n); err != nil {
		s.shares.put(addr, sh)
		return nil, err
	}
	if err := s.budget.Acquire(ctx, n); err != nil {
		sh.sem.Release(n)
		s.shares.put(addr, sh)
		return nil, err
	}
	return func() {
		s.budget.Release(n)
		sh.sem.Release(n)
		s.shares.put(addr, sh)
	}, nil
}

// addrShares are semaphores by client address, kept while in use: the
// addresses that hold none cost nothing.
type addrShares struct {
	size int64
	mu   sync.Mutex
	held map[string]*share
}

type share struct {
	sem  *semaphore.Weighted
	refs int
}

func (a *addrShares) get(addr string) *share {
	a.mu.Lock()
	defer a.mu.Unlock()
	sh := a.held[addr]
	if sh == nil {
		sh = &share{sem: semaphore.NewWeighted(a.size)}
		a.held[addr] = sh
	}
	sh.refs++
	return sh
}

func (a *addrShares) put(addr string, sh *share) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if sh.refs--; sh.refs == 0 {
		delete(a.held, addr)
	}
}

// requestTimeout is how long the API server waits for this answer: it says
// so in the timeout parameter; 5 s (the base's timeoutSeconds) otherwise.
func requestTimeout(r *http.Request) time.Duration {
	if d, err := time.ParseDuration(r.URL.Query().Get("timeout")); err == nil && d > 0 {
		return d
	}
	return 5 * time.Second
}

// logWriter turns net/http's log lines into logr messages.
type logWriter struct{ log logr.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.log.Info(strings.TrimSpace(string(p)))
	return len(p), nil
}
