package sandbox

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Identity is what gives an API server a client certificate for calling
// webhooks, as docs/multi-tenancy.md tells operators to: ta-guard then
// believes the userInfo of the reviews it gets from it and gives it a
// budget no other caller can spend.
type Identity struct {
	// ClientCAFile is the CA that issued the API server's certificate: the
	// file of ta-guard's --client-ca-file.
	ClientCAFile string
	// AdmissionConfigFile is the API server's
	// --admission-control-config-file: its ValidatingAdmissionWebhook
	// plugin presents the certificate to every webhook (the kubeconfig
	// user "*").
	AdmissionConfigFile string
}

// WriteIdentity creates a client CA and a certificate for the API server
// signed by it, and the admission configuration that presents it, in dir.
func WriteIdentity(dir string, validFor time.Duration) (Identity, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Identity{}, err
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Identity{}, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "ta-guard sandbox API server client CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(validFor),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return Identity{}, fmt.Errorf("client CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return Identity{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Identity{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(validFor),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return Identity{}, fmt.Errorf("API server client certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return Identity{}, err
	}
	id := Identity{ClientCAFile: filepath.Join(dir, "client-ca.crt"), AdmissionConfigFile: filepath.Join(dir, "admission.yaml")}
	certFile, keyFile, kubeconfig := filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key"), filepath.Join(dir, "webhook-kubeconfig.yaml")
	files := []struct {
		path string
		data []byte
	}{
		{id.ClientCAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})},
		{certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})},
		{keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})},
		// The user "*" is the API server's fallback for every webhook host.
		{kubeconfig, []byte("apiVersion: v1\nkind: Config\nusers:\n- name: \"*\"\n  user:\n    client-certificate: " + certFile + "\n    client-key: " + keyFile + "\n")},
		{id.AdmissionConfigFile, []byte(`apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: ValidatingAdmissionWebhook
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: ` + kubeconfig + "\n")},
	}
	for _, f := range files {
		if err := writeAtomic(f.path, f.data, 0o600); err != nil {
			return Identity{}, err
		}
	}
	return id, nil
}
