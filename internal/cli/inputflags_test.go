package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// check and diagnose -f bound their input the same way and say what they
// skipped.
func TestInputLimitFlags(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "svc.yaml"), []byte("apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: a}\n"), 0o600))
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "pipe.yaml"), 0o600))
	for _, tt := range []struct {
		name     string
		run      func(args []string, stdout, stderr *bytes.Buffer) int
		wantCode int
	}{
		{"check", func(a []string, o, e *bytes.Buffer) int { return runCheck(a, nil, o, e) }, 0},
		{"diagnose", func(a []string, o, e *bytes.Buffer) int { return runDiagnose(a, nil, o, e) }, 0},
	} {
		t.Run(tt.name+" skips the named pipe and says so", func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := tt.run([]string{"-f", dir}, &stdout, &stderr)
			assert.Equal(t, tt.wantCode, code, stderr.String())
			assert.Contains(t, stderr.String(), "warning: "+filepath.Join(dir, "pipe.yaml")+": skipped: a named pipe, not a regular file")
		})
		t.Run(tt.name+" --max-file-bytes names the file", func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := tt.run([]string{"-f", "/dev/zero", "--max-file-bytes", "4096"}, &stdout, &stderr)
			assert.Equal(t, 2, code)
			assert.Contains(t, stderr.String(), "/dev/zero: larger than 4096 bytes, the most a file may hold (--max-file-bytes)")
		})
		t.Run(tt.name+" --policy is bounded too", func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := tt.run([]string{"-f", filepath.Join(dir, "svc.yaml"), "--policy", "/dev/zero"}, &stdout, &stderr)
			assert.Equal(t, 2, code)
			assert.Contains(t, stderr.String(), "/dev/zero: larger than 1 MiB, the most a policy file may hold")
		})
	}
}

// diagnose -f reads like check -f: an object defined twice is an error
// whatever the order of -f, and a field its kind does not have is warned.
func TestDiagnoseReadsLikeCheck(t *testing.T) {
	dir := t.TempDir()
	svc := "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: x}\nspec:\n  portz: []\n"
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	require.NoError(t, os.WriteFile(a, []byte(svc), 0o600))
	require.NoError(t, os.WriteFile(b, []byte(svc), 0o600))
	for _, order := range [][]string{{a, b}, {b, a}} {
		for _, run := range []func(args []string, stdout, stderr *bytes.Buffer) int{
			func(x []string, o, e *bytes.Buffer) int { return runCheck(x, nil, o, e) },
			func(x []string, o, e *bytes.Buffer) int { return runDiagnose(x, nil, o, e) },
		} {
			var stdout, stderr bytes.Buffer
			assert.Equal(t, 2, run([]string{"-f", order[0], "-f", order[1]}, &stdout, &stderr))
			assert.Contains(t, stderr.String(), order[1]+", document 1: Service x/a is already defined at "+order[0]+", document 1")
		}
	}
	var stdout, stderr bytes.Buffer
	assert.Equal(t, 0, runDiagnose([]string{"-f", a}, nil, &stdout, &stderr))
	assert.Contains(t, stderr.String(), `warning: `+a+`, document 1: Service a: unknown field "spec.portz" (ignored: a typo?)`)
}
