// Package testenv finds what the tests that run a real API server need: the
// repository root and the binaries of the local cluster that
// hack/k8s-bins.sh builds from the Go module proxy.
package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/ta-guard/ta-guard/test/sandbox"
)

// RepoRoot is the repository's top directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Binaries are what hack/k8s-bins.sh builds: the sandbox's, cluster included.
var Binaries = append(slices.Clone(sandbox.Binaries), sandbox.ClusterBinaries...)

// Assets is the directory of the binaries: $KUBEBUILDER_ASSETS, or the
// project's cache. Missing binaries are an error naming the command that
// builds them: tests fail on it, never skip.
func Assets() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		out, err := exec.Command(filepath.Join(RepoRoot(), "hack", "k8s-bins.sh"), "--print-dir").Output()
		if err != nil {
			return "", fmt.Errorf("hack/k8s-bins.sh --print-dir: %w", err)
		}
		dir = strings.TrimSpace(string(out))
	}
	for _, b := range Binaries {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("%s not found in %s: run `make test` or hack/k8s-bins.sh first (it builds the local cluster from the Go module proxy)", b, dir)
		}
	}
	return dir, nil
}

// FreeLoopbackPort is a TCP port on 127.0.0.1 that nothing listened on a
// moment ago, for a server a test starts.
func FreeLoopbackPort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("a free loopback port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
