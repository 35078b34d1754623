package envtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ta-guard/ta-guard/internal/server"
	"github.com/ta-guard/ta-guard/internal/webhook"
	"github.com/ta-guard/ta-guard/test/testenv"
)

// TestWebhookTLS: the webhook port speaks TLS 1.3 only unless told
// otherwise, and with --client-ca-file it answers only clients holding a
// certificate that CA issued (what the API server is given in its admission
// configuration), while its readiness still reads true.
func TestWebhookTLS(t *testing.T) {
	caPEM, clientCert := clientCA(t)
	caFile := filepath.Join(t.TempDir(), "client-ca.crt")
	require.NoError(t, os.WriteFile(caFile, caPEM, 0o600))
	healthPort := testenv.FreeLoopbackPort(t)
	lw := startWebhook(t, webhookSetup{NoConversion: true, Unverified: true, Tune: func(o *server.Options) {
		o.ClientCAFile = caFile
		o.HealthAddr = fmt.Sprintf("127.0.0.1:%d", healthPort)
	}})
	addr := net.JoinHostPort(lw.host, strconv.Itoa(lw.port))
	waitFor(t, "/readyz 200 with client certificates required", func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", healthPort))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	post := func(cfg *tls.Config) (int, error) {
		cfg.InsecureSkipVerify = true //nolint:gosec // our own test server's self-signed certificate
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
		resp, err := c.Post("https://"+addr+webhook.Path, "application/json", bytes.NewReader([]byte(`{}`)))
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		return resp.StatusCode, nil
	}
	tests := []struct {
		name   string
		cfg    *tls.Config
		wantOK bool
	}{
		{"TLS 1.3 with the CA's client certificate", &tls.Config{Certificates: []tls.Certificate{clientCert}}, true},
		{"no client certificate", &tls.Config{}, false},
		{"a certificate of another CA", &tls.Config{Certificates: []tls.Certificate{otherCert(t)}}, false},
		{"TLS 1.2 at most, even with the certificate", &tls.Config{MaxVersion: tls.VersionTLS12, Certificates: []tls.Certificate{clientCert}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, err := post(tt.cfg)
			if tt.wantOK {
				require.NoError(t, err)
				assert.Equal(t, http.StatusBadRequest, code, "the request reached the handler (an empty review is a 400)")
				return
			}
			assert.Error(t, err, "the handshake is refused")
		})
	}
}

// clientCA makes a CA and a client certificate it issued.
func clientCA(t *testing.T) ([]byte, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "api-server-client-ca"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), issue(t, ca, caKey)
}

func otherCert(t *testing.T) tls.Certificate {
	_, c := clientCA(t)
	return c
}

func issue(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
