package server

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadyz(t *testing.T) {
	start := time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC)
	down := errors.New("dial tcp 10.0.0.1:443: connect: connection refused")
	notSynced := func(*http.Request) error { return errors.New("informers not synced") }
	fine := func(*http.Request) error { return nil }

	tests := []struct {
		name     string
		ready    []func(*http.Request) error
		probes   []error // recorded one second apart from start
		at       time.Duration
		code     int
		body     string
		noProbe  bool
		contains []string
	}{
		{name: "cache not synced", ready: []func(*http.Request) error{fine, notSynced},
			code: 503, body: "not ready: informers not synced\n"},
		{name: "synced, API server answering", ready: []func(*http.Request) error{fine},
			probes: []error{nil}, code: 200, body: "ok\n"},
		{name: "synced, no probe", ready: []func(*http.Request) error{fine}, noProbe: true,
			code: 200, body: "ok\n"},
		{name: "recovered after an outage", ready: []func(*http.Request) error{fine},
			probes: []error{nil, down, down, nil}, code: 200, body: "ok\n"},
		{name: "outage after answers", ready: []func(*http.Request) error{fine},
			probes: []error{nil, down, down}, at: 61 * time.Second, code: 200,
			body: "ok: answering from the cache; the API server is unreachable since 2026-12-03T06:00:01Z (1m0s ago; last answered 1m1s ago): " + down.Error() + "\n"},
		{name: "unreachable since start", ready: []func(*http.Request) error{fine},
			probes: []error{down}, at: 5 * time.Second, code: 200,
			contains: []string{"answering from the cache", "never since start", "5s ago"}},
		{name: "not synced wins over outage", ready: []func(*http.Request) error{notSynced},
			probes: []error{down}, code: 503, body: "not ready: informers not synced\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var clock time.Time
			p := &apiProbe{now: func() time.Time { return clock }}
			for i, err := range tt.probes {
				clock = start.Add(time.Duration(i) * time.Second)
				p.record(err)
			}
			h := &health{ready: tt.ready, probe: p, now: func() time.Time { return start.Add(tt.at) }}
			if tt.noProbe {
				h.probe = nil
			}
			rec := httptest.NewRecorder()
			h.handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			body, _ := io.ReadAll(rec.Body)
			assert.Equal(t, tt.code, rec.Code)
			if tt.body != "" {
				assert.Equal(t, tt.body, string(body))
			}
			for _, c := range tt.contains {
				assert.Contains(t, string(body), c)
			}
		})
	}
}

func TestHealthzIgnoresReadiness(t *testing.T) {
	h := &health{ready: []func(*http.Request) error{func(*http.Request) error { return errors.New("no") }}}
	for _, path := range []string{"/healthz", "/livez"} {
		rec := httptest.NewRecorder()
		h.handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		require.Equal(t, http.StatusOK, rec.Code, path)
	}
}
