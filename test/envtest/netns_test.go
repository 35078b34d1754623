package envtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// listenInNetns listens on TCP in a network namespace of the test's own,
// joined to this host by a veth pair with private addresses: an address
// the API server agrees to proxy to (it refuses loopback and link-local
// ones) that is not this host's. Tests connect only to loopback and to
// namespaces they create. Without the privileges to create one the test is
// skipped, saying why.
func listenInNetns(t *testing.T) net.Listener {
	t.Helper()
	id := os.Getpid() % 10000
	ns, host, peer := fmt.Sprintf("tag-test-%d", id), fmt.Sprintf("tagh%d", id), fmt.Sprintf("tagn%d", id)
	hostIP, nsIP := fmt.Sprintf("10.213.%d.1", id%250), fmt.Sprintf("10.213.%d.2", id%250)
	ip := func(args ...string) error {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := ip("netns", "add", ns); err != nil {
		t.Skipf("cannot create a network namespace for the fake TA: %v", err)
	}
	t.Cleanup(func() {
		_ = ip("link", "del", host)
		_ = ip("netns", "del", ns)
	})
	for _, args := range [][]string{
		{"link", "add", host, "type", "veth", "peer", "name", peer},
		{"link", "set", peer, "netns", ns},
		{"addr", "add", hostIP + "/30", "dev", host},
		{"link", "set", host, "up"},
		{"netns", "exec", ns, "ip", "addr", "add", nsIP + "/30", "dev", peer},
		{"netns", "exec", ns, "ip", "link", "set", peer, "up"},
		{"netns", "exec", ns, "ip", "link", "set", "lo", "up"},
	} {
		require.NoError(t, ip(args...))
	}

	// A socket belongs to the namespace of the thread that makes it: make
	// it there, then put the thread back.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	require.NoError(t, err)
	defer self.Close()
	target, err := os.Open("/var/run/netns/" + ns)
	require.NoError(t, err)
	defer target.Close()
	require.NoError(t, unix.Setns(int(target.Fd()), unix.CLONE_NEWNET))
	ln, lerr := net.Listen("tcp", net.JoinHostPort(nsIP, "0"))
	require.NoError(t, unix.Setns(int(self.Fd()), unix.CLONE_NEWNET), "back to the host's namespace")
	require.NoError(t, lerr)
	return ln
}
