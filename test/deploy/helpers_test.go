package deploy

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/yaml"

	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/internal/webhook"
)

// testCA signs the serving certificates of the tests, as the CA Issuer of
// certs/ does in a cluster.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ta-guard-ca"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue returns PEM tls.crt and tls.key for 127.0.0.1 and the Service's
// name, with the given serial number.
func (ca *testCA) issue(t *testing.T, serial int64) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "ta-guard"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		DNSNames:    []string{"ta-guard.ta-guard.svc", "ta-guard.ta-guard.svc.cluster.local"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	kb, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

// secretVolume lays out a directory the way the kubelet projects a Secret
// volume: the files live in a timestamped directory, ..data points at it,
// and tls.crt and tls.key are links through ..data. An update writes a new
// directory and swaps ..data in one rename, then removes the old directory.
type secretVolume struct {
	dir     string
	current string
	n       int
}

func newSecretVolume(t *testing.T, certPEM, keyPEM []byte) *secretVolume {
	t.Helper()
	return newSecretVolumeAt(t, t.TempDir(), certPEM, keyPEM)
}

func (v *secretVolume) update(t *testing.T, certPEM, keyPEM []byte) {
	t.Helper()
	v.n++
	ts := fmt.Sprintf("..%s_%d", time.Now().UTC().Format("2006_01_02_15_04_05"), v.n)
	require.NoError(t, os.Mkdir(filepath.Join(v.dir, ts), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(v.dir, ts, "tls.crt"), certPEM, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(v.dir, ts, "tls.key"), keyPEM, 0o600))
	tmp := filepath.Join(v.dir, "..data_tmp")
	require.NoError(t, os.Symlink(ts, tmp))
	require.NoError(t, os.Rename(tmp, filepath.Join(v.dir, "..data")))
	if v.current != "" {
		require.NoError(t, os.RemoveAll(filepath.Join(v.dir, v.current)))
	}
	v.current = ts
}

// servedSerial is the serial number of the certificate a TLS server
// presents, verified against the CA.
func servedSerial(ca *testCA, addr string) (int64, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr,
		&tls.Config{RootCAs: ca.pool, ServerName: "ta-guard.ta-guard.svc", MinVersion: tls.VersionTLS12})
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64(), nil
}

// admissionClient posts AdmissionReviews the way the API server does:
// HTTPS to the Service's DNS name, verified against the CA bundle.
func admissionClient(ca *testCA) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.pool, ServerName: "ta-guard.ta-guard.svc", MinVersion: tls.VersionTLS12},
	}}
}

// review sends obj as a CREATE to the webhook at addr and returns the answer.
func review(c *http.Client, addr string, obj *unstructured.Unstructured) (*admissionv1.AdmissionResponse, error) {
	raw, err := obj.MarshalJSON()
	if err != nil {
		return nil, err
	}
	gvk := obj.GroupVersionKind()
	body, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID(fmt.Sprintf("deploy-test-%d", time.Now().UnixNano())),
			Kind:      metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind},
			Resource:  metav1.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: model.ResourceOf(gvk.Group, gvk.Kind)},
			Namespace: obj.GetNamespace(), Name: obj.GetName(),
			Operation: admissionv1.Create,
			UserInfo:  authenticationv1.UserInfo{Username: "deploy-test"},
			Object:    runtime.RawExtension{Raw: raw},
		},
	})
	if err != nil {
		return nil, err
	}
	resp, err := c.Post("https://"+addr+webhook.Path, "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("webhook answered HTTP %d", resp.StatusCode)
	}
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	if out.Response == nil {
		return nil, fmt.Errorf("webhook answered without a response")
	}
	return out.Response, nil
}

// blindCollector is the guide's collector with a TA ServiceAccount that
// does not exist: answering it needs the live rules, TA010 (GET the
// ServiceAccount) and TA008 (SubjectAccessReviews).
func blindCollector(t *testing.T) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "testdata", "seed", "collector.yaml"))
	require.NoError(t, err)
	j, err := yaml.YAMLToJSON(data)
	require.NoError(t, err)
	u := &unstructured.Unstructured{}
	require.NoError(t, u.UnmarshalJSON(j))
	require.NoError(t, unstructured.SetNestedField(u.Object, "missing-sa", "spec", "targetAllocator", "serviceAccount"))
	return u
}

// requireLiveAnswer checks that the webhook evaluated the live rules: TA010
// and TA008 among its warnings and no "not checked".
func requireLiveAnswer(t *testing.T, resp *admissionv1.AdmissionResponse) {
	t.Helper()
	require.True(t, resp.Allowed, "warn policy: %+v", resp.Result)
	joined := strings.Join(resp.Warnings, "\n")
	require.NotContains(t, joined, webhook.NotChecked)
	require.Contains(t, joined, "TA010 OpenTelemetryCollector opentelemetry/otelcol: serviceAccount missing-sa does not exist")
	require.Contains(t, joined, "TA008 OpenTelemetryCollector opentelemetry/otelcol: service account missing-sa lacks")
}

// waitUntil polls cond (in the test's goroutine: it may use require) until
// it holds, for at most timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, timeout, true,
		func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}
