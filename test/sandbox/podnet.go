package sandbox

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// The Pod network. kwok gives Pods IPs from a /24 of 198.18.0.0/15, the
// range RFC 2544 sets aside for benchmarks, which no real network routes.
// Where the sandbox may create a network namespace, that /24 is routed into
// one of its own (joined to the host by a veth pair, every address of the
// /24 local there): whatever connects to a Pod, the API server proxying to
// a Service's endpoints or calling a webhook behind a Service, reaches that
// namespace and nothing else, and ListenPods answers there. Without one
// (no privileges) nothing may connect to a Pod: tests that need it skip.
type podNetwork struct {
	ns, hostLink string
	cidr         string
}

// startPodNetwork picks a free /24 and routes it into a new namespace;
// the CIDR is returned even when no namespace could be made (routed is
// false then, with the reason).
func (s *Sandbox) startPodNetwork() (cidr string, routed bool, why error) {
	id := os.Getpid() % 10000
	var last error
	for try := range 8 {
		k := (id*8 + try) % 250
		cidr = fmt.Sprintf("198.18.%d.0/24", k)
		pn := &podNetwork{ns: fmt.Sprintf("tag-pods-%d-%d", id, try), hostLink: fmt.Sprintf("tagp%dh%d", id, try), cidr: cidr}
		peer := fmt.Sprintf("tagp%dn%d", id, try)
		hostIP, nsIP := fmt.Sprintf("198.19.%d.1", k), fmt.Sprintf("198.19.%d.2", k)
		if err := ipCmd("netns", "add", pn.ns); err != nil {
			// No privileges, or a name left by a run that was killed:
			// never delete what this run did not make.
			last = err
			continue
		}
		err := ipSteps([][]string{
			{"link", "add", pn.hostLink, "type", "veth", "peer", "name", peer},
			{"link", "set", peer, "netns", pn.ns},
			{"addr", "add", hostIP + "/30", "dev", pn.hostLink},
			{"link", "set", pn.hostLink, "up"},
			{"netns", "exec", pn.ns, "ip", "addr", "add", nsIP + "/30", "dev", peer},
			{"netns", "exec", pn.ns, "ip", "link", "set", peer, "up"},
			{"netns", "exec", pn.ns, "ip", "link", "set", "lo", "up"},
			// Every address of the /24 is the namespace's own.
			{"netns", "exec", pn.ns, "ip", "route", "add", "local", cidr, "dev", "lo"},
			// Fails when another sandbox routes this /24: try the next.
			{"route", "add", cidr, "via", nsIP, "dev", pn.hostLink},
		})
		if err == nil {
			s.podNet = pn
			return cidr, true, nil
		}
		last = err
		pn.stop()
	}
	return cidr, false, last
}

func (pn *podNetwork) stop() {
	// Deleting the host end removes the pair and the route through it.
	_ = ipCmd("link", "del", pn.hostLink)
	_ = ipCmd("netns", "del", pn.ns)
}

func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func ipSteps(steps [][]string) error {
	for _, args := range steps {
		if err := ipCmd(args...); err != nil {
			return err
		}
	}
	return nil
}

// PodNetworkRouted reports whether connections to Pod IPs reach the
// sandbox's own network namespace (ListenPods).
func (s *Sandbox) PodNetworkRouted() bool { return s.podNet != nil }

// ListenPods listens on TCP port in the Pod network's namespace, on every
// Pod IP at once: what connects to any Pod at that port (the API server
// calling a webhook behind a Service whose Pods kwok runs) is accepted
// here, in this process.
func (s *Sandbox) ListenPods(port int) (net.Listener, error) {
	if s.podNet == nil {
		return nil, fmt.Errorf("no routed Pod network: %v", s.podNetErr)
	}
	// A socket belongs to the namespace of the thread that makes it: make
	// it on a thread of its own, which goes back, or, if it cannot, ends
	// with its goroutine (a goroutine that exits locked takes its thread).
	type result struct {
		ln  net.Listener
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: err}
			return
		}
		defer self.Close()
		target, err := os.Open("/var/run/netns/" + s.podNet.ns)
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: err}
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- result{err: err}
			return
		}
		ln, lerr := net.Listen("tcp", fmt.Sprintf("0.0.0.0:%d", port))
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- result{ln: ln, err: lerr} // the thread ends here, still locked
			return
		}
		runtime.UnlockOSThread()
		done <- result{ln: ln, err: lerr}
	}()
	r := <-done
	return r.ln, r.err
}
