package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// apiProbe remembers whether the API server answered lately. The informers
// keep serving their last state through an outage without saying so; this is
// what lets /readyz tell "ready, from the cache" from "ready, up to date".
type apiProbe struct {
	client   rest.Interface
	interval time.Duration
	now      func() time.Time

	mu           sync.Mutex
	lastOK       time.Time
	failingSince time.Time
	lastErr      error
}

func newAPIProbe(cfg *rest.Config) (*apiProbe, error) {
	c := rest.CopyConfig(cfg)
	// A probe of its own: it must neither queue behind the reviews nor
	// delay them.
	c.QPS, c.Burst = 5, 5
	c.Timeout = 2 * time.Second
	dc, err := discovery.NewDiscoveryClientForConfig(c)
	if err != nil {
		return nil, fmt.Errorf("API server probe: %w", err)
	}
	return &apiProbe{client: dc.RESTClient(), interval: 2 * time.Second, now: time.Now}, nil
}

func (p *apiProbe) Start(ctx context.Context) error {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		p.probe(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (p *apiProbe) NeedLeaderElection() bool { return false }

// probe asks /readyz, which every authenticated client may read
// (system:public-info-viewer). An API server that answers but is not ready
// (etcd gone, starting) counts as down: its answers cannot be trusted either.
func (p *apiProbe) probe(ctx context.Context) {
	if ctx.Err() != nil {
		return // shutting down, not an outage
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	err := p.client.Get().AbsPath("/readyz").Do(pctx).Error()
	if ctx.Err() != nil {
		return
	}
	p.record(err)
}

func (p *apiProbe) record(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if err == nil {
		p.lastOK, p.failingSince, p.lastErr = now, time.Time{}, nil
		return
	}
	if p.failingSince.IsZero() {
		p.failingSince = now
	}
	p.lastErr = err
}

// outage says since when the API server has not answered, and why; ok is
// false while it answers.
func (p *apiProbe) outage() (since time.Time, lastOK time.Time, err error, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failingSince.IsZero() {
		return time.Time{}, p.lastOK, nil, false
	}
	return p.failingSince, p.lastOK, p.lastErr, true
}

// health serves /healthz and /readyz. controller-runtime's probe server
// answers a bare "ok" and cannot say that ta-guard is ready only from its
// cache, which is what an operator paged during an outage needs to read.
type health struct {
	// ready fails until the informers synced and the webhook serves.
	ready []func(*http.Request) error
	probe *apiProbe
	now   func() time.Time
}

func (h *health) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { writeText(w, http.StatusOK, "ok\n") })
	mux.HandleFunc("/livez", func(w http.ResponseWriter, _ *http.Request) { writeText(w, http.StatusOK, "ok\n") })
	mux.HandleFunc("/readyz", h.readyz)
	return mux
}

// readyz stays 200 through an API server outage once the cache is synced:
// every replica answers admission from it (or admits "not checked"), and a
// readiness failure would only take endpoints away from the API servers that
// still reach us.
func (h *health) readyz(w http.ResponseWriter, r *http.Request) {
	for _, check := range h.ready {
		if err := check(r); err != nil {
			writeText(w, http.StatusServiceUnavailable, "not ready: "+err.Error()+"\n")
			return
		}
	}
	if h.probe == nil {
		writeText(w, http.StatusOK, "ok\n")
		return
	}
	since, lastOK, err, down := h.probe.outage()
	if !down {
		writeText(w, http.StatusOK, "ok\n")
		return
	}
	now := h.now()
	age := "never since start"
	if !lastOK.IsZero() {
		age = fmt.Sprintf("last answered %s ago", now.Sub(lastOK).Round(time.Second))
	}
	writeText(w, http.StatusOK, fmt.Sprintf(
		"ok: answering from the cache; the API server is unreachable since %s (%s ago; %s): %v\n",
		since.UTC().Format(time.RFC3339), now.Sub(since).Round(time.Second), age, err))
}

func writeText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}

// healthServer is the probe endpoint as a manager runnable on every replica.
func healthServer(addr string, h *health) (*manager.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("health probe address %s: %w", addr, err)
	}
	shutdown := 5 * time.Second
	return &manager.Server{
		Name:     "health probe",
		Listener: ln,
		Server: &http.Server{
			Handler:           h.handler(),
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       5 * time.Second,
			WriteTimeout:      5 * time.Second,
			IdleTimeout:       30 * time.Second,
			MaxHeaderBytes:    16 << 10,
		},
		ShutdownTimeout: &shutdown,
	}, nil
}
