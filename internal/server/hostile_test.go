package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/ta-guard/ta-guard/internal/policy"
	"github.com/ta-guard/ta-guard/internal/webhook"
	"github.com/ta-guard/ta-guard/pkg/rules"
	"github.com/ta-guard/ta-guard/test/testenv"
)

// A client past its address's cap is closed at accept; at the total cap a
// new address takes the place of the newest connection of the address that
// holds the most, so that many addresses cannot lock another out, and
// addresses holding as many as the newcomer would are not displaced.
func TestConnectionsAreCapped(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refused := make(chan string, 16)
	l := limitConns(ln, 5, 3, func(a string) { refused <- a })
	t.Cleanup(func() { _ = l.Close() })
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func(from string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	next := func(ch any) any {
		t.Helper()
		switch ch := ch.(type) {
		case chan net.Conn:
			select {
			case c := <-ch:
				return c
			case <-time.After(5 * time.Second):
			}
		case chan string:
			select {
			case a := <-ch:
				return a
			case <-time.After(5 * time.Second):
			}
		}
		t.Fatal("nothing accepted or refused within 5s")
		return nil
	}
	closedByServer := func(c net.Conn) bool {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := c.Read(make([]byte, 1))
		return err == io.EOF
	}
	held := map[string][]net.Conn{}
	var first []net.Conn // the server's side of 127.0.0.1's connections
	for range 3 {
		held["127.0.0.1"] = append(held["127.0.0.1"], dial("127.0.0.1"))
		first = append(first, next(accepted).(net.Conn))
	}
	extra := dial("127.0.0.1")
	assert.Equal(t, "127.0.0.1", next(refused))
	assert.True(t, closedByServer(extra), "a fourth connection from one address is closed")

	var serverSide net.Conn
	for _, a := range []string{"127.0.0.2", "127.0.0.3"} {
		held[a] = append(held[a], dial(a))
		serverSide = next(accepted).(net.Conn)
	}
	total, _ := l.open("127.0.0.1")
	require.Equal(t, 5, total, "the total cap is reached")

	// A new address displaces the newest connection of the heaviest.
	held["127.0.0.4"] = append(held["127.0.0.4"], dial("127.0.0.4"))
	next(accepted)
	assert.True(t, closedByServer(held["127.0.0.1"][2]), "the heaviest address's newest connection is closed")
	total, mine := l.open("127.0.0.1")
	assert.Equal(t, 5, total)
	assert.Equal(t, 2, mine)

	// Now .1 holds 2 and the others 1: a second connection of .4 would
	// hold as many as .1 does, so it is refused rather than displacing.
	dial("127.0.0.4")
	assert.Equal(t, "127.0.0.4", next(refused), "equal shares are not taken from each other")
	_, four := l.open("127.0.0.4")
	assert.Equal(t, 1, four)

	// A place given back is given back once, however often it is closed.
	require.NoError(t, serverSide.Close())
	_ = serverSide.Close()
	total, _ = l.open("")
	assert.Equal(t, 4, total)
	dial("127.0.0.5")
	next(accepted)
	total, _ = l.open("")
	assert.Equal(t, 5, total)

	// A connection serving a request is never displaced: with both of the
	// heaviest address's connections busy, a new address is refused.
	for _, c := range first[:2] {
		trackBusy(c, http.StateActive)
	}
	dial("127.0.0.6")
	assert.Equal(t, "127.0.0.6", next(refused))
	_, mine = l.open("127.0.0.1")
	assert.Equal(t, 2, mine)
	trackBusy(first[0], http.StateIdle)
	dial("127.0.0.6")
	next(accepted)
	assert.True(t, closedByServer(held["127.0.0.1"][0]), "the idle one is displaced")
}

// The request budget cannot be starved into an allow: clients that declare
// 4 MiB bodies and never send them hold at most their address's share, a
// collector the policy denies is denied every time meanwhile, and when no
// budget can be had under an enforcing policy the answer is an error status
// (the API server applies failurePolicy), never "allowed, not checked".
func TestBudgetStarvationIsNoAllow(t *testing.T) {
	view := testenv.SeedStore(t, "servicemonitor.yaml")
	pol := &policy.Policy{DefaultAction: rules.Deny}
	h := &webhook.Handler{View: view, Policy: func() *policy.Policy { return pol }, Ready: func() bool { return true }, Log: logr.Discard()}
	s := newWebhookServer(webhookServerOptions{InFlightBytes: 16 << 20, ReadTimeout: 2 * time.Second, Log: logr.Discard()})
	srv := httptest.NewServer(s.bounded(h.Server()))
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()

	// The starving clients, from an address of their own.
	for range 40 {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		_, err = fmt.Fprintf(c, "POST %s?timeout=5s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", webhook.Path, webhook.MaxRequestBytes)
		require.NoError(t, err)
	}

	body := denyReview(t)
	denied := 0
	for range 30 {
		resp, err := http.Post(srv.URL+webhook.Path+"?timeout=5s", "application/json", bytes.NewReader(body))
		require.NoError(t, err)
		out, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			continue // failurePolicy: Fail refuses it
		}
		var rev admissionv1.AdmissionReview
		require.NoError(t, json.Unmarshal(out, &rev))
		require.False(t, rev.Response.Allowed, "a collector the policy denies was admitted: %v", rev.Response.Warnings)
		denied++
	}
	assert.Equal(t, 30, denied, "the starving address holds only its share: the API server's address is served")

	// With the whole budget held by its own address, an enforcing answer is
	// an error status.
	small := newWebhookServer(webhookServerOptions{InFlightBytes: webhook.MaxRequestBytes, ReadTimeout: 2 * time.Second, Log: logr.Discard()})
	srv2 := httptest.NewServer(small.bounded(h.Server()))
	t.Cleanup(srv2.Close)
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", srv2.Listener.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	_, err = fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", webhook.Path, webhook.MaxRequestBytes)
	require.NoError(t, err)
	// The held request has its budget once the server reads its header:
	// wait for that through the server's own state rather than a sleep.
	require.Eventually(t, func() bool {
		if small.budget.TryAcquire(1) {
			small.budget.Release(1)
			return false
		}
		return true
	}, 5*time.Second, 10*time.Millisecond)
	resp, err := http.Post(srv2.URL+webhook.Path+"?timeout=2s", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	out, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "%s", out)
	assert.Contains(t, string(out), "ta-guard could not judge this change")
}

// denyReview is a CREATE of a collector whose v1beta1 selectors are left
// out (TA003): denied under defaultAction deny.
func denyReview(t *testing.T) []byte {
	t.Helper()
	y, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "testdata", "seed", "collector-selectors-omitted.yaml"))
	require.NoError(t, err)
	j, err := yaml.YAMLToJSON(y)
	require.NoError(t, err)
	b, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: "u", Kind: metav1.GroupVersionKind{Group: "opentelemetry.io", Version: "v1beta1", Kind: "OpenTelemetryCollector"},
			Operation: admissionv1.Create, Namespace: "opentelemetry", Name: "otelcol", Object: runtime.RawExtension{Raw: j},
		},
	})
	require.NoError(t, err)
	return b
}
