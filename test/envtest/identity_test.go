package envtest

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// apiServerIdentity gives the API server of env a client certificate for
// calling webhooks, through its admission configuration's kubeConfigFile,
// as docs/multi-tenancy.md tells operators to do, and returns the file of
// the CA that issued it, for ta-guard's --client-ca-file. Only then does
// ta-guard believe the userInfo of a review.
func apiServerIdentity(t *testing.T, env *envtest.Environment) string {
	t.Helper()
	dir := t.TempDir()
	caPEM, cert := clientCA(t)
	key, err := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
	require.NoError(t, err)
	certFile, keyFile, caFile := filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key"), filepath.Join(dir, "client-ca.crt")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: key}), 0o600))
	require.NoError(t, os.WriteFile(caFile, caPEM, 0o600))

	// The user "*" is the API server's fallback for every webhook host.
	kubeconfig := filepath.Join(dir, "webhook-kubeconfig.yaml")
	require.NoError(t, os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
users:
- name: "*"
  user:
    client-certificate: `+certFile+`
    client-key: `+keyFile+`
`), 0o600))
	admission := filepath.Join(dir, "admission.yaml")
	require.NoError(t, os.WriteFile(admission, []byte(`apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: ValidatingAdmissionWebhook
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: `+kubeconfig+`
`), 0o600))
	env.ControlPlane.GetAPIServer().Configure().Append("admission-control-config-file", admission)
	return caFile
}
