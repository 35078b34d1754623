// Package e2e runs ta-guard as a user meets it: `ta-guard serve` (built from
// ./cmd/ta-guard) registered with a local kube-apiserver and etcd, and
// kubectl, built at the API server's version, applying the troubleshooting
// guide's manifests. The assertions are on kubectl's own stdout, stderr and
// exit status; the warnings expected are what the rule engine says about
// the same change.
//
// The binaries come from hack/k8s-bins.sh (make test builds them). Missing
// binaries fail the test with the command that builds them; they never skip
// it.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ta-guard/ta-guard/test/testenv"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/ta-guard/ta-guard/internal/cluster"
	"github.com/ta-guard/ta-guard/internal/manifest"
	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/internal/policy"
	"github.com/ta-guard/ta-guard/pkg/rules"
	"github.com/ta-guard/ta-guard/pkg/validate"
	"github.com/ta-guard/ta-guard/test/sandbox"
)

var repoRoot = testenv.RepoRoot()

const (
	collector = "testdata/seed/collector.yaml"
	monitor   = "testdata/seed/servicemonitor.yaml"
	service   = "testdata/seed/service.yaml"
	bleh      = "testdata/seed/service-port-bleh.yaml"
	blind     = "testdata/demo/collector-selectors-omitted.yaml"
	taRBAC    = "testdata/demo/ta-rbac.yaml"

	denyPolicy = "defaultAction: deny\n"
)

// assetsDir finds etcd, kube-apiserver and kubectl (see testenv.Assets).
func assetsDir(t *testing.T) string {
	t.Helper()
	dir, err := testenv.Assets()
	require.NoError(t, err)
	return dir
}

// buildWebhook builds the binary `make build` builds, with the test's own
// build settings so that the build cache of `go test` serves it.
func buildWebhook(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ta-guard")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/ta-guard")
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build ./cmd/ta-guard:\n%s", out)
	return bin
}

// cli runs kubectl in the repository, as a user would from its root.
type cli struct {
	t   *testing.T
	ctx context.Context
	sb  *sandbox.Sandbox
}

func (c *cli) run(args ...string) sandbox.Result {
	c.t.Helper()
	r := c.sb.Run(c.ctx, repoRoot, args...)
	require.NoError(c.t, r.Err, "kubectl %v", args)
	return r
}

// settle waits until a server-side dry run of the command gets the answer
// expected (exit status and warnings): ta-guard's informers follow the API
// server by milliseconds, and this test fires commands faster than a
// person. It fails the test only through the assertion on the real command.
func (c *cli) settle(wantFail bool, warnings []string, args ...string) {
	c.sb.Settle(c.ctx, repoRoot, args, func(r sandbox.Result) bool {
		return (r.Exit != 0) == wantFail && fmt.Sprint(r.Warnings()) == fmt.Sprint(warnings)
	}, 15*time.Second)
}

// stderrOf is what kubectl prints for these warnings.
func stderrOf(warnings []string) string {
	var b strings.Builder
	for _, w := range warnings {
		b.WriteString("Warning: " + w + "\n")
	}
	return b.String()
}

func TestKubectlShowsTheGuidesMistakes(t *testing.T) {
	ctrl.SetLogger(logr.Discard())
	assets := assetsDir(t)
	bin := buildWebhook(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sb, err := sandbox.Start(ctx, sandbox.Options{
		Root: repoRoot, Assets: assets, Webhook: bin,
		Policy:   "# the catalog's default actions\n{}\n",
		Progress: func(format string, args ...any) { t.Logf(format, args...) },
	})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, sb.Stop()) })
	k := &cli{t: t, ctx: ctx, sb: sb}

	// The guide's namespace, and its TA's service account with what it
	// reads: before any collector, so that TA008 / TA010 stay silent.
	for _, args := range [][]string{{"create", "namespace", "opentelemetry"}, {"apply", "-f", taRBAC}} {
		r := k.run(args...)
		require.Equal(t, 0, r.Exit, "kubectl %v: %s%s", args, r.Stdout, r.Stderr)
	}
	// The collector and the Service first: within one kubectl command the
	// webhook may judge an object before its informers saw the one applied
	// a millisecond earlier.
	k.settle(false, nil, "apply", "-f", collector, "-f", service)
	r := k.run("apply", "-f", collector, "-f", service)
	assert.Equal(t, 0, r.Exit)
	assert.Equal(t, "opentelemetrycollector.opentelemetry.io/otelcol created\nservice/py-prometheus-app created\n", r.Stdout)
	assert.Equal(t, "", r.Stderr, "the guide's collector and Service, with the TA's RBAC granted, are clean")

	t.Run("apply of the guide's working example prints the TA103 warnings", func(t *testing.T) {
		want := engineSays(t, nil, validate.Create, monitor, "", collector, service)
		require.Len(t, want, 2)
		k.settle(false, want, "apply", "-f", collector, "-f", monitor, "-f", service)
		r := k.run("apply", "-f", collector, "-f", monitor, "-f", service)
		assert.Equal(t, 0, r.Exit)
		assert.Equal(t, stderrOf(want), r.Stderr)
		assert.Equal(t, "opentelemetrycollector.opentelemetry.io/otelcol unchanged\n"+
			"servicemonitor.monitoring.coreos.com/sm-example created\n"+
			"service/py-prometheus-app unchanged\n", r.Stdout)
		// And literally, so that the engine and the webhook cannot agree on nothing.
		assert.Contains(t, r.Stderr, `Warning: TA103 ServiceMonitor opentelemetry/sm-example endpoint 1 (job serviceMonitor/opentelemetry/sm-example/1): no matched Service has a port named "py-client-port"; py-prometheus-app has: prom`+"\n")
		assert.Contains(t, r.Stderr, `Warning: TA103 ServiceMonitor opentelemetry/sm-example endpoint 2 (job serviceMonitor/opentelemetry/sm-example/2): no matched Service has a port named "py-server-port"; py-prometheus-app has: prom`+"\n")
	})

	t.Run("apply --dry-run=server prints the same warnings and changes nothing", func(t *testing.T) {
		want := engineSays(t, nil, validate.Update, bleh, service, collector, monitor, service)
		require.Len(t, want, 2)
		assert.True(t, strings.HasPrefix(want[0], "TA201 ") && strings.HasPrefix(want[1], "TA202 "), "%q", want)
		before := k.run("get", "service", "py-prometheus-app", "-n", "opentelemetry", "-o", "jsonpath={.metadata.resourceVersion} {.spec.ports[*].name}").Stdout
		require.True(t, strings.HasSuffix(before, " prom"), before)

		k.settle(false, want, "apply", "-f", bleh)
		dry := k.run("apply", "--dry-run=server", "-f", bleh)
		assert.Equal(t, 0, dry.Exit)
		assert.Equal(t, stderrOf(want), dry.Stderr)
		assert.Equal(t, "service/py-prometheus-app configured (server dry run)\n", dry.Stdout)
		after := k.run("get", "service", "py-prometheus-app", "-n", "opentelemetry", "-o", "jsonpath={.metadata.resourceVersion} {.spec.ports[*].name}").Stdout
		assert.Equal(t, before, after, "resourceVersion and port names after the dry run")

		real := k.run("apply", "-f", bleh)
		assert.Equal(t, 0, real.Exit)
		assert.Equal(t, dry.Stderr, real.Stderr, "the real apply prints what the dry run printed")
		assert.Equal(t, "service/py-prometheus-app configured\n", real.Stdout)
		ports := k.run("get", "service", "py-prometheus-app", "-n", "opentelemetry", "-o", "jsonpath={.spec.ports[*].name}").Stdout
		assert.Equal(t, "bleh", ports)

		k.settle(false, nil, "apply", "-f", service)
		fixed := k.run("apply", "-f", service)
		assert.Equal(t, 0, fixed.Exit)
		assert.Equal(t, "", fixed.Stderr, "the port's name back is clean")
	})

	t.Run("delete of the Service prints TA201", func(t *testing.T) {
		want := engineSays(t, nil, validate.Delete, "", service, collector, monitor, service)
		require.Equal(t, []string{"TA201 Service opentelemetry/py-prometheus-app: job serviceMonitor/opentelemetry/sm-example/0 loses its last target Service: the Service is deleted"}, want)
		k.settle(false, want, "delete", "-f", service)
		r := k.run("delete", "-f", service)
		assert.Equal(t, 0, r.Exit)
		assert.Equal(t, stderrOf(want), r.Stderr)
		assert.True(t, strings.HasPrefix(r.Stdout, `service "py-prometheus-app" deleted`), "%q", r.Stdout)

		// Whoever brings it back is told what the monitor's other jobs
		// still lack (TA018).
		want = engineSays(t, nil, validate.Create, service, "", collector, monitor)
		require.Len(t, want, 1)
		require.True(t, strings.HasPrefix(want[0], "TA018 Service opentelemetry/py-prometheus-app: 1 monitor that select it find no target: ServiceMonitor opentelemetry/sm-example (TA103:"), want[0])
		k.settle(false, want, "apply", "-f", service)
		back := k.run("apply", "-f", service)
		assert.Equal(t, "service/py-prometheus-app created\n", back.Stdout)
		assert.Equal(t, stderrOf(want), back.Stderr)
	})

	t.Run("check reads what kubectl get -o yaml prints as it reads the manifests", func(t *testing.T) {
		// A snapshot of the cluster is a kind: List with items first and
		// kind after, every object with its status, server-set fields and
		// defaults: none of it may be a warning, and the
		// findings are those of the manifests that made it.
		snap := k.run("get", "opentelemetrycollectors.opentelemetry.io,services,servicemonitors", "-n", "opentelemetry", "-o", "yaml")
		require.Equal(t, 0, snap.Exit, snap.Stderr)
		require.True(t, strings.HasPrefix(snap.Stdout, "apiVersion: v1\nitems:\n"), "%.200s", snap.Stdout)
		require.Contains(t, snap.Stdout, "\nkind: List\n")
		require.Contains(t, snap.Stdout, "\n  status:\n")
		file := filepath.Join(t.TempDir(), "snapshot.yaml")
		require.NoError(t, os.WriteFile(file, []byte(snap.Stdout), 0o600))

		findings := func(files ...string) ([]string, string) {
			args := []string{"check", "-o", "json"}
			for _, f := range files {
				args = append(args, "-f", f)
			}
			cmd := exec.Command(bin, args...)
			cmd.Dir = repoRoot
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			require.NoError(t, cmd.Run(), stderr.String())
			var out struct {
				Findings []struct{ Message string }
			}
			require.NoError(t, json.Unmarshal([]byte(stdout.String()), &out), stdout.String())
			var msgs []string
			for _, f := range out.Findings {
				msgs = append(msgs, f.Message)
			}
			return msgs, stderr.String()
		}
		fromSnapshot, stderr := findings(file)
		assert.Empty(t, stderr, "reading the snapshot")
		fromManifests, _ := findings(collector, monitor, service)
		require.NotEmpty(t, fromManifests)
		assert.Equal(t, fromManifests, fromSnapshot)
	})

	t.Run("under a deny policy apply exits non-zero with our message", func(t *testing.T) {
		require.NoError(t, sb.SetPolicy(ctx, denyPolicy))
		defer func() { require.NoError(t, sb.SetPolicy(ctx, "# the catalog's default actions\n{}\n")) }()
		pol, err := policy.Parse([]byte(denyPolicy))
		require.NoError(t, err)
		// kubectl prints an Invalid refusal as the object's name and one
		// "* field: message" line per cause: each finding the engine
		// denies, its fix included.
		var msg strings.Builder
		msg.WriteString(`The OpenTelemetryCollector "otelcol" is invalid: ` + "\n")
		for _, f := range engineFindings(t, pol, validate.Update, blind, collector, collector, monitor, service) {
			if f.AtRisk {
				// No PodMonitor exists: its unset selector loses nothing
				// now, and a risk is never denied.
				require.Equal(t, rules.Warn, f.Action, f.Message)
				continue
			}
			require.Equal(t, rules.Deny, f.Action)
			field := ""
			if f.Field != nil {
				field = f.Field.String()
			}
			msg.WriteString("* " + field + ": " + strings.ReplaceAll(f.Message, "\n", "\n  ") + "\n")
		}
		require.Contains(t, msg.String(), "* spec.targetAllocator.prometheusCR.serviceMonitorSelector: TA003 OpenTelemetryCollector opentelemetry/otelcol: prometheusCR.serviceMonitorSelector is unset")
		require.Contains(t, msg.String(), "  fix: set spec.targetAllocator.prometheusCR.serviceMonitorSelector: {}")

		k.settle(true, nil, "apply", "-f", blind)
		r := k.run("apply", "-f", blind)
		assert.NotEqual(t, 0, r.Exit)
		assert.Equal(t, "", r.Stdout)
		// The risk is a warning kubectl prints before the refusal.
		warning, refusal, _ := strings.Cut(r.Stderr, "\n")
		assert.Equal(t, "Warning: TA003 OpenTelemetryCollector opentelemetry/otelcol: prometheusCR.podMonitorSelector is unset, so the TA reads no PodMonitor", warning)
		assert.Equal(t, msg.String(), refusal, "kubectl shows every denial with its field and fix")
		sel := k.run("get", "opentelemetrycollector", "otelcol", "-n", "opentelemetry", "-o", "jsonpath={.spec.targetAllocator.prometheusCR.serviceMonitorSelector}")
		assert.Equal(t, "{}", sel.Stdout, "the rejected change was not stored")
	})
}

// engineSays is the warnings kubectl should print for a change: the rule
// engine's warn findings (their first lines, as the webhook sends them) for
// the object of file as the operation, old being the object before (UPDATE,
// DELETE), in a cluster holding the objects of world.
func engineSays(t *testing.T, pol *policy.Policy, op validate.Operation, file, old string, world ...string) []string {
	t.Helper()
	out := []string{}
	for _, f := range engineFindings(t, pol, op, file, old, world...) {
		if f.Action == rules.Warn {
			s := f.Summary()
			if len(s) > 250 { // the webhook cuts warnings as the API server would
				s = s[:247] + "..."
			}
			out = append(out, s)
		}
	}
	return out
}

func engineFindings(t *testing.T, pol *policy.Policy, op validate.Operation, file, old string, world ...string) []rules.Finding {
	t.Helper()
	store := cluster.NewStore()
	for _, w := range world {
		store.Upsert(load(t, w))
	}
	req := validate.Request{Operation: op}
	if file != "" {
		req.Object = load(t, file)
	}
	if old != "" {
		req.OldObject = load(t, old)
	}
	// As the webhook asks: an apply being admitted.
	res, err := validate.Evaluate(context.Background(), req, store, validate.Options{Policy: pol, Admission: true})
	require.NoError(t, err)
	return res.Findings
}

func load(t *testing.T, file string) model.Object {
	t.Helper()
	docs, err := manifest.Load([]string{filepath.Join(repoRoot, file)}, manifest.Options{})
	require.NoError(t, err)
	require.Len(t, docs, 1, file)
	require.NotNil(t, docs[0].Object, file)
	return docs[0].Object
}
