package envtest

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ta-guard/ta-guard/internal/server"
	"github.com/ta-guard/ta-guard/internal/webhook"
)

// The webhook port, reachable by any pod, bounds what a client can hold:
// a client that trickles its body is cut at the read timeout, and a body
// declared larger than any the API server sends is answered at once,
// without being read.
func TestWebhookConnectionLimits(t *testing.T) {
	const readTimeout = 2 * time.Second
	// Any pod may open these: no client certificate.
	lw := startWebhook(t, webhookSetup{Unverified: true, Tune: func(o *server.Options) {
		o.WebhookReadHeaderTimeout, o.WebhookReadTimeout = time.Second, readTimeout
	}})
	host, port := lw.host, lw.port
	dial := func(t *testing.T) *tls.Conn {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", net.JoinHostPort(host, strconv.Itoa(port)),
			&tls.Config{InsecureSkipVerify: true}) //nolint:gosec // our own test server's self-signed certificate
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	header := func(length int) string {
		return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", webhook.Path, host, length)
	}

	t.Run("a trickling body is cut at the read timeout", func(t *testing.T) {
		c := dial(t)
		start := time.Now()
		_, err := io.WriteString(c, header(100000)+"{")
		require.NoError(t, err)
		closed := make(chan time.Duration, 1)
		go func() {
			buf := make([]byte, 4096)
			for {
				if _, err := c.Read(buf); err != nil {
					closed <- time.Since(start)
					return
				}
			}
		}()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case d := <-closed:
				t.Logf("trickling client cut after %s", d.Round(10*time.Millisecond))
				assert.Less(t, d, readTimeout+3*time.Second)
				return
			case <-tick.C:
				if time.Since(start) > 4*readTimeout {
					t.Fatalf("still connected after %s", time.Since(start))
				}
				_, _ = io.WriteString(c, " ")
			}
		}
	})

	t.Run("a body declared over the limit is answered without being read", func(t *testing.T) {
		c := dial(t)
		start := time.Now()
		review := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"big-1","kind":{"group":"","version":"v1","kind":"Service"},"operation":"CREATE","object":{"x":"`
		_, err := io.WriteString(c, header(6<<20)+review)
		require.NoError(t, err)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
		buf := make([]byte, 64<<10)
		n, _ := io.ReadAtLeast(c, buf, 12)
		resp := string(buf[:n])
		t.Logf("answered after %s: %.200s", time.Since(start).Round(time.Millisecond), resp)
		require.True(t, strings.HasPrefix(resp, "HTTP/1.1 "), "an HTTP answer: %q", resp)
		// Admitted with the not-checked warning when the UID could be read,
		// or refused with 413 (the API server's failurePolicy decides).
		assert.True(t, strings.Contains(resp, "big-1") || strings.HasPrefix(resp, "HTTP/1.1 413"), resp)
		if strings.Contains(resp, "big-1") {
			assert.Contains(t, resp, strings.TrimSuffix(webhook.NotChecked, " "))
		}
	})
}
