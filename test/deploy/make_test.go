package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// `make manifests`, as the README shows it, renders each overlay into
// bin/manifests/<overlay>.yaml.
func TestMakeManifests(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("make is needed: the README's commands use it")
	}
	cmd := exec.Command("make", "-s", "manifests")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "MAKEFLAGS=")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", b)
	for _, o := range overlays {
		path := filepath.Join(repoRoot, "bin", "manifests", o+".yaml")
		assert.Contains(t, string(b), "bin/manifests/"+o+".yaml")
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.True(t, strings.Contains(string(data), "kind: ValidatingWebhookConfiguration"), o)
	}
}
