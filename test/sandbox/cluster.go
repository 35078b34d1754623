package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ClusterBinaries are what Options.Nodes needs besides Binaries, built by
// hack/k8s-bins.sh like them; KwokStages is kwok's configuration of how
// nodes and Pods live, written there from the kwok module's defaults.
var ClusterBinaries = []string{"kube-controller-manager", "kube-scheduler", "kwok"}

const KwokStages = "kwok-stages.yaml"

// kwokAnnotation marks the nodes kwok keeps: kwok's own convention.
const kwokAnnotation = "kwok.x-k8s.io/node"

// component is a control-plane process the sandbox started.
type component struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{}
}

// startCluster starts kube-controller-manager, kube-scheduler and kwok
// against the API server and registers n nodes that kwok keeps Ready:
// Deployments, StatefulSets and DaemonSets then get Pods that are scheduled
// and become Running with an IP, and the real EndpointSlice, ServiceAccount,
// namespace and garbage-collector controllers run.
func (s *Sandbox) startCluster(ctx context.Context, n int, progress func(string, ...any)) error {
	for _, b := range ClusterBinaries {
		if _, err := os.Stat(filepath.Join(s.opts.Assets, b)); err != nil {
			return fmt.Errorf("%s not found in %s: run hack/k8s-bins.sh (make k8s-bins) to build it from the Go module proxy", b, s.opts.Assets)
		}
	}
	caFile := filepath.Join(s.Dir, "apiserver-ca.crt")
	if err := os.WriteFile(caFile, s.Config.CAData, 0o644); err != nil {
		return err
	}
	cidr, routed, why := s.startPodNetwork()
	s.PodCIDR, s.podNetErr = cidr, why
	if routed {
		progress("Pod IPs from %s, routed into the sandbox's own network namespace", cidr)
	} else {
		progress("Pod IPs from %s, routed nowhere (%v): nothing may connect to a Pod", cidr, why)
	}
	progress("starting kube-controller-manager, kube-scheduler and kwok (%d nodes)", n)
	// Each serves nothing (--secure-port=0): the tests ask the API server.
	if err := s.startComponent("kube-controller-manager",
		"--kubeconfig", s.Kubeconfig,
		"--leader-elect=false",
		"--secure-port=0",
		"--controllers=*",
		// The token controller signs with the API server's key; the
		// root CA is published into every namespace as on a cluster.
		"--service-account-private-key-file", filepath.Join(s.env.ControlPlane.APIServer.CertDir, "sa-signer.key"),
		"--root-ca-file", caFile,
	); err != nil {
		return err
	}
	if err := s.startComponent("kube-scheduler",
		"--kubeconfig", s.Kubeconfig,
		"--leader-elect=false",
		"--secure-port=0",
	); err != nil {
		return err
	}
	if err := s.startComponent("kwok",
		"--kubeconfig", s.Kubeconfig,
		"--config", filepath.Join(s.opts.Assets, KwokStages),
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector", kwokAnnotation+"=fake",
		"--cidr", cidr,
	); err != nil {
		return err
	}
	for i := range n {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
			Name:        fmt.Sprintf("kwok-node-%d", i),
			Annotations: map[string]string{kwokAnnotation: "fake"},
			Labels: map[string]string{
				"kubernetes.io/hostname": fmt.Sprintf("kwok-node-%d", i),
				"kubernetes.io/os":       "linux",
				"type":                   "kwok",
			},
		}}
		if err := s.Client.Create(ctx, node); err != nil {
			return fmt.Errorf("node %s: %w", node.Name, err)
		}
	}
	// Ready nodes, and the default ServiceAccount the controller creates:
	// Pods can be scheduled, and admitted, from here on.
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		for _, c := range s.components {
			select {
			case <-c.exited:
				return false, fmt.Errorf("%s exited: %s", c.name, tail(s.componentLog(c.name), 20))
			default:
			}
		}
		var nodes corev1.NodeList
		if err := s.Client.List(ctx, &nodes); err != nil {
			return false, nil
		}
		ready := 0
		for _, nd := range nodes.Items {
			for _, c := range nd.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		var sa corev1.ServiceAccount
		return ready >= n && s.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "default"}, &sa) == nil, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for %d Ready nodes and the default ServiceAccount: %w", n, err)
	}
	progress("%d kwok nodes Ready", n)
	return nil
}

func (s *Sandbox) componentLog(name string) string { return filepath.Join(s.Dir, name+".log") }

func (s *Sandbox) startComponent(name string, args ...string) error {
	logf, err := os.OpenFile(s.componentLog(name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(s.opts.Assets, name), args...)
	cmd.Env = withoutEnv(os.Environ(), "KUBECONFIG")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting %s: %w", name, err)
	}
	c := &component{name: name, cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(c.exited)
	}()
	s.components = append(s.components, c)
	return nil
}

// stopComponents stops them in the reverse order of their start.
func (s *Sandbox) stopComponents() error {
	var errs []error
	for i := len(s.components) - 1; i >= 0; i-- {
		c := s.components[i]
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.exited:
		case <-time.After(10 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.exited
			errs = append(errs, fmt.Errorf("%s did not stop within 10s: killed", c.name))
		}
	}
	s.components = nil
	return errors.Join(errs...)
}

// tail is the end of a log file, for errors.
func tail(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	start, n := len(data), 0
	for start > 0 && n <= lines {
		start--
		if data[start] == '\n' {
			n++
		}
	}
	return string(data[start:])
}
