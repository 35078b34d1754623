// Command demo walks the Target Allocator troubleshooting guide against a
// local API server with ta-guard registered, and shows what kubectl prints
// at each of the guide's mistakes (make demo). With --keep it only brings
// the sandbox up and keeps it until Ctrl-C, for your own manifests (make
// dev).
//
// Every command of the walk is checked: the demo exits 0 only if kubectl
// printed, at every step, the warnings or the rejection it should, and 1
// with what differed otherwise. Whatever happens it stops the webhook,
// kube-apiserver and etcd it started.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/ta-guard/ta-guard/test/sandbox"
)

func main() {
	os.Exit(run())
}

func run() int {
	root := flag.String("root", ".", "the repository (CRDs, testdata)")
	assets := flag.String("assets", "", "directory with etcd, kube-apiserver and kubectl (default: hack/k8s-bins.sh --print-dir)")
	webhook := flag.String("webhook", "bin/ta-guard", "the ta-guard binary (make build)")
	certs := flag.String("certs", "certs", "where the CA and the serving certificate are written")
	keep := flag.Bool("keep", false, "bring the sandbox up and keep it until Ctrl-C, without the walk (make dev)")
	flag.Parse()
	ctrl.SetLogger(logr.Discard()) // envtest logs through controller-runtime

	out := &printer{w: os.Stdout, tty: isTerminal(os.Stdout)}
	abs, err := filepath.Abs(*root)
	if err != nil {
		out.fail("%v", err)
		return 2
	}
	if *assets == "" {
		b, err := exec.Command(filepath.Join(abs, "hack", "k8s-bins.sh"), "--print-dir").Output()
		if err != nil {
			out.fail("hack/k8s-bins.sh --print-dir: %v", err)
			return 2
		}
		*assets = strings.TrimSpace(string(b))
	}
	bin, err := filepath.Abs(*webhook)
	if err != nil {
		out.fail("%v", err)
		return 2
	}
	certDir, err := filepath.Abs(*certs)
	if err != nil {
		out.fail("%v", err)
		return 2
	}

	// Two sandboxes writing one cert directory would break each other: the
	// webhook of the first reloads the second's serving certificate, which
	// its caBundle does not trust. The lock goes when the process does.
	unlock, err := lockDir(filepath.Join(abs, ".cache"), certDir)
	if err != nil {
		out.fail("%v", err)
		return 1
	}
	defer unlock()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	policy := demoPolicy
	if *keep {
		policy = devPolicy
	}
	start := time.Now()
	sb, err := sandbox.Start(ctx, sandbox.Options{
		Root: abs, Assets: *assets, Webhook: bin, CertDir: certDir, Policy: policy, Nodes: demoNodes,
		Progress: func(format string, args ...any) { out.note(format, args...) },
	})
	if err != nil {
		out.fail("%v", err)
		if ctx.Err() != nil {
			return 130
		}
		return 1
	}
	defer func() {
		t := time.Now()
		if err := sb.Stop(); err != nil {
			out.fail("stopping: %v", err)
		} else {
			out.note("stopped the webhook, the controllers, kube-apiserver and etcd in %s", time.Since(t).Round(100*time.Millisecond))
		}
	}()
	out.note("sandbox up in %s", time.Since(start).Round(100*time.Millisecond))

	if *keep {
		return dev(ctx, out, sb, abs)
	}
	w := &walk{ctx: ctx, sb: sb, dir: abs, out: out}
	err = w.run()
	switch {
	case ctx.Err() != nil:
		out.fail("interrupted")
		return 130
	case err != nil:
		out.fail("%v", err)
		out.fail("the demo did not show what it should; webhook log (last lines):\n%s", sb.LogTail(15))
		return 1
	}
	out.blank()
	out.note("all %d kubectl commands printed what they should (%s in all)", w.checked, time.Since(start).Round(time.Second))
	return 0
}

// demoNodes is how many kwok nodes the demo's cluster has.
const demoNodes = 2

// The walk's policy files. TA106 (no endpoints) is audit by default, so it
// never shows in kubectl; under defaultAction: deny it would reject every
// monitor created before the Pods it scrapes run. Only collectors are
// applied under deny here.
const (
	demoPolicy = "# the catalog's default actions\n{}\n"
	denyPolicy = "defaultAction: deny\n"
)

const devPolicy = `# ta-guard policy: the webhook re-reads this file within 2 s of a change.
# Actions: deny, warn, audit, off. Try: defaultAction: deny
{}
`

// dev keeps the sandbox until a signal, or until the webhook dies.
func dev(ctx context.Context, out *printer, sb *sandbox.Sandbox, root string) int {
	for _, args := range [][]string{
		{"create", "namespace", "opentelemetry"},
		{"apply", "-f", "testdata/demo/ta-rbac.yaml"},
	} {
		r := sb.Run(ctx, root, args...)
		if r.Exit != 0 {
			out.fail("kubectl %s: %s%s%v", strings.Join(args, " "), r.Stdout, r.Stderr, r.Err)
			return 1
		}
	}
	rel := func(p string) string {
		if r, err := filepath.Rel(root, p); err == nil && !strings.HasPrefix(r, "..") {
			return r
		}
		return p
	}
	fmt.Fprintf(out.w, `
ta-guard is registered with a local API server. In another terminal:

  export KUBECONFIG=%s
  export PATH=%s:$PATH   # kubectl %s, the API server's version

  kubectl apply -f testdata/demo/collector-selectors-omitted.yaml   # Warning: TA003 ...
  kubectl apply -f testdata/seed/collector.yaml -f testdata/seed/service.yaml
  kubectl apply -f testdata/seed/servicemonitor.yaml                # Warning: TA103 ...
  kubectl delete -f testdata/seed/service.yaml                      # Warning: TA201 ...

The namespace opentelemetry and the TA's service account with its
permissions (testdata/demo/ta-rbac.yaml) exist already.
  policy:       %s   (edit it: reloaded within 2 s)
  webhook log:  %s
  certificates: %s

Ctrl-C stops the webhook, kube-apiserver and etcd.
`, sb.Kubeconfig, filepath.Dir(sb.Kubectl), kubectlVersion(sb), sb.PolicyFile, sb.WebhookLog, rel(sb.CertDir))
	select {
	case <-ctx.Done():
		out.blank()
		out.note("stopping")
		return 0
	case <-sb.Exited():
		out.fail("the webhook exited:\n%s", sb.LogTail(15))
		return 1
	}
}

// lockDir takes an exclusive lock for dir, in a file under cache.
func lockDir(cache, dir string) (func(), error) {
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, err
	}
	name := filepath.Join(cache, "demo-"+strings.NewReplacer("/", "_", "\\", "_", ":", "_").Replace(strings.TrimPrefix(dir, "/"))+".lock")
	f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		pid, _ := os.ReadFile(name)
		f.Close()
		return nil, fmt.Errorf("another make demo / make dev (pid %s) uses %s: stop it first, or give this one --certs <another directory>", strings.TrimSpace(string(pid)), dir)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(fmt.Sprintln(os.Getpid())), 0)
	return func() { f.Close() }, nil
}

func kubectlVersion(sb *sandbox.Sandbox) string {
	cmd := exec.Command(sb.Kubectl, "version", "--client", "-o", "yaml")
	cmd.Env = sb.KubectlEnv()
	b, err := cmd.Output()
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "gitVersion: "); ok {
			return v
		}
	}
	return ""
}

// printer writes the demo's transcript: narration as shell comments,
// commands after "$ ", and kubectl's output exactly as it came.
type printer struct {
	w   io.Writer
	tty bool
}

func (p *printer) style(code, s string) string {
	if !p.tty {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func (p *printer) blank() { fmt.Fprintln(p.w) }

func (p *printer) heading(s string) {
	fmt.Fprintf(p.w, "\n%s\n", p.style("1", "=== "+s))
}

func (p *printer) say(format string, args ...any) {
	for _, l := range strings.Split(fmt.Sprintf(format, args...), "\n") {
		fmt.Fprintln(p.w, p.style("36", strings.TrimRight("# "+l, " ")))
	}
}

// commandLine prints a command that is not kubectl.
func (p *printer) commandLine(line string) {
	fmt.Fprintln(p.w, p.style("1", "$ "+line))
}

func (p *printer) command(args []string) {
	fmt.Fprintln(p.w, p.style("1", "$ kubectl "+shellJoin(args)))
}

func (p *printer) output(s string) {
	fmt.Fprint(p.w, s)
	if s != "" && !strings.HasSuffix(s, "\n") {
		fmt.Fprintln(p.w)
	}
}

func (p *printer) note(format string, args ...any) {
	fmt.Fprintln(p.w, p.style("2", "demo: "+fmt.Sprintf(format, args...)))
}

func (p *printer) fail(format string, args ...any) {
	fmt.Fprintln(p.w, p.style("31", "demo: "+fmt.Sprintf(format, args...)))
}

func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " '\"{}[]*$\\|&;<>()?!#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb" && os.Getenv("NO_COLOR") == ""
}
