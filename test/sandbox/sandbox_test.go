package sandbox

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDryRun(t *testing.T) {
	assert.Equal(t, []string{"apply", "--dry-run=server", "-f", "x.yaml"}, DryRun([]string{"apply", "-f", "x.yaml"}))
	assert.Equal(t, []string{"delete", "--dry-run=server", "-f", "x.yaml"}, DryRun([]string{"delete", "-f", "x.yaml"}))
	assert.Nil(t, DryRun([]string{"apply", "--dry-run=server", "-f", "x.yaml"}), "already a dry run")
	assert.Nil(t, DryRun([]string{"get", "services"}), "changes nothing")
	assert.Nil(t, DryRun(nil))
}

func TestWarnings(t *testing.T) {
	r := Result{Output: "Warning: TA003 a\nobj configured\nWarning: TA201 b\n"}
	assert.Equal(t, []string{"TA003 a", "TA201 b"}, r.Warnings())
	assert.Empty(t, Result{Stdout: "obj created\n"}.Warnings())
}

// The serving certificate verifies for 127.0.0.1 against the CA written
// next to it, as the API server checks it with the caBundle.
func TestWriteCerts(t *testing.T) {
	dir := t.TempDir()
	caPEM, err := WriteCerts(dir, time.Hour)
	require.NoError(t, err)
	onDisk, err := os.ReadFile(filepath.Join(dir, CAFile))
	require.NoError(t, err)
	assert.Equal(t, caPEM, onDisk)
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile))
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(caPEM))
	_, err = leaf.Verify(x509.VerifyOptions{DNSName: "127.0.0.1", Roots: roots})
	assert.NoError(t, err)
	fi, err := os.Stat(filepath.Join(dir, KeyFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}
