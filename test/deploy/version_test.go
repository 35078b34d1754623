package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A tagged commit built without ldflags, as go install builds a module
// version, reports its tag: the version comes from the build information
// Go records, not from -X. Built from a clone of HEAD tagged v0.9.7.
func TestABuildOfATagReportsIt(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
	}
	git("clone", "--quiet", "--no-hardlinks", repoRoot, src)
	git("-C", src, "tag", "v0.9.7")
	bin := filepath.Join(dir, "ta-guard")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, "./cmd/ta-guard") // this machine's go env may turn it off
	build.Dir = src
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = exec.Command(bin, "version").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Equal(t, "v0.9.7", strings.TrimSpace(string(out)))
}
