package sandbox

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// Result is one kubectl run.
type Result struct {
	Args []string
	// Stdout and Stderr are kubectl's two streams (Run).
	Stdout, Stderr string
	// Output is both streams through one pipe, in the order a terminal
	// shows them (RunCombined).
	Output string
	// Exit is kubectl's exit status; -1 when it could not be run (Err).
	Exit int
	Err  error
}

// Text is everything kubectl printed.
func (r Result) Text() string {
	if r.Output != "" {
		return r.Output
	}
	return r.Stdout + r.Stderr
}

// Warnings are the texts of kubectl's "Warning: " lines, in order.
func (r Result) Warnings() []string {
	var out []string
	for _, l := range strings.Split(r.Text(), "\n") {
		if t, ok := strings.CutPrefix(l, "Warning: "); ok {
			out = append(out, t)
		}
	}
	return out
}

// KubectlEnv is the environment kubectl runs with: the sandbox's
// kubeconfig, a discovery cache inside the sandbox, and none of the user's
// kubectl preferences (kuberc, KUBECTL_* settings).
func (s *Sandbox) KubectlEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "KUBECONFIG" || k == "KUBECACHEDIR" || k == "KUBERC" || strings.HasPrefix(k, "KUBECTL_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"KUBECONFIG="+s.Kubeconfig,
		"KUBECACHEDIR="+s.Dir+"/kube-cache",
		"KUBERC=off",
	)
}

// Run runs kubectl in dir with stdout and stderr apart.
func (s *Sandbox) Run(ctx context.Context, dir string, args ...string) Result {
	var stdout, stderr bytes.Buffer
	r := s.run(ctx, dir, &stdout, &stderr, args)
	r.Stdout, r.Stderr = stdout.String(), stderr.String()
	return r
}

// RunCombined runs kubectl in dir with stdout and stderr on one pipe, so
// that Output is exactly what a terminal would show.
func (s *Sandbox) RunCombined(ctx context.Context, dir string, args ...string) Result {
	var out bytes.Buffer
	r := s.run(ctx, dir, &out, &out, args)
	r.Output = out.String()
	return r
}

// RunBinary runs another program (the webhook binary's diagnose, say) with
// kubectl's environment, stdout and stderr together.
func (s *Sandbox) RunBinary(ctx context.Context, bin string, args ...string) Result {
	var out bytes.Buffer
	r := s.exec(ctx, "", bin, &out, &out, args)
	r.Output = out.String()
	return r
}

func (s *Sandbox) run(ctx context.Context, dir string, stdout, stderr *bytes.Buffer, args []string) Result {
	return s.exec(ctx, dir, s.Kubectl, stdout, stderr, args)
}

func (s *Sandbox) exec(ctx context.Context, dir, bin string, stdout, stderr *bytes.Buffer, args []string) Result {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = s.KubectlEnv()
	cmd.Stdout = stdout
	if stderr == stdout {
		cmd.Stderr = cmd.Stdout // one pipe: os/exec shares it when both are the same writer
	} else {
		cmd.Stderr = stderr
	}
	r := Result{Args: args}
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.Exit = exit.ExitCode()
	default:
		r.Exit, r.Err = -1, err
	}
	return r
}

// mutating are the kubectl verbs that take --dry-run.
var mutating = []string{"apply", "create", "delete", "replace", "patch", "label", "annotate"}

// DryRun is args with --dry-run=server after the verb, or nil when the
// command changes nothing or already is a dry run.
func DryRun(args []string) []string {
	if len(args) == 0 || !slices.Contains(mutating, args[0]) {
		return nil
	}
	for _, a := range args {
		if a == "--dry-run" || strings.HasPrefix(a, "--dry-run=") {
			return nil
		}
	}
	return append([]string{args[0], "--dry-run=server"}, args[1:]...)
}

// Settle waits until a server-side dry run of args gives an answer ok
// accepts, for at most timeout, and reports whether it did.
//
// ta-guard judges a change against its informers' view of the cluster,
// which follows the API server by a few milliseconds. A person typing
// kubectl commands never notices; a program firing them back to back can
// outrun it. Settling before each command makes a scripted run see what the
// person would: the command itself is then run for real, and its own
// output is what counts.
func (s *Sandbox) Settle(ctx context.Context, dir string, args []string, ok func(Result) bool, timeout time.Duration) bool {
	dry := DryRun(args)
	if dry == nil {
		return true
	}
	deadline := time.Now().Add(timeout)
	pause := 100 * time.Millisecond
	for {
		if ok(s.Run(ctx, dir, dry...)) {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(pause):
		}
		pause = min(2*pause, time.Second)
	}
}
