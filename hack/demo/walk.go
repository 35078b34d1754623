package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ta-guard/ta-guard/test/sandbox"
)

// The beginnings of the warnings the walk expects. kubectl prints each
// after "Warning: "; the rest of the line is the rule's detail.
const (
	collector = "OpenTelemetryCollector opentelemetry/otelcol: "
	monitor   = "ServiceMonitor opentelemetry/sm-example"
	service   = "Service opentelemetry/py-prometheus-app: "

	ta003SM   = "TA003 " + collector + "prometheusCR.serviceMonitorSelector is unset, so the TA reads no ServiceMonitor"
	ta003PM   = "TA003 " + collector + "prometheusCR.podMonitorSelector is unset, so the TA reads no PodMonitor"
	ta008     = "TA008 " + collector + "service account opentelemetry-targetallocator-sa lacks "
	ta010     = "TA010 " + collector + "serviceAccount opentelemetry-targetallocator-sa does not exist in namespace opentelemetry"
	ta101     = "TA101 " + monitor + ": read by no TA; closest " + collector + "does not match serviceMonitorSelector (needs app=my-app)"
	ta103ep1  = "TA103 " + monitor + ` endpoint 1 (job serviceMonitor/opentelemetry/sm-example/1): no matched Service has a port named "py-client-port"`
	ta103ep2  = "TA103 " + monitor + ` endpoint 2 (job serviceMonitor/opentelemetry/sm-example/2): no matched Service has a port named "py-server-port"`
	ta201bleh = "TA201 " + service + "job serviceMonitor/opentelemetry/sm-example/0 loses its last target Service: port prom (8080) renamed to bleh"
	ta201del  = "TA201 " + service + "job serviceMonitor/opentelemetry/sm-example/0 loses its last target Service: the Service is deleted"
	ta202bleh = "TA202 " + service + monitor + " selects it but finds no port on it; it has: bleh"
	// What the apply that completes the monitor's jobs is told of them.
	ta018svc = "TA018 " + service + "1 monitor that select it find no target: " + monitor + ` (TA103: no matched Service has a port named "py-client-port"`

	denied = `admission webhook "` + sandbox.WebhookName + `" denied the request: ta-guard denied this change:`
)

// want is what one kubectl command must print.
type want struct {
	// exit is the status: 0, or 1 for a rejection.
	exit int
	// warnings are the beginnings of kubectl's "Warning: " lines, all of
	// them, in order.
	warnings []string
	// output are further texts the output must contain.
	output []string
	// settle bounds the wait for ta-guard's view (15 s when 0).
	settle time.Duration
}

// check compares a run with the expectation; full adds the output texts
// (a dry run while settling says "(server dry run)" where the command
// itself does not).
func (w want) check(r sandbox.Result, full bool) error {
	if r.Err != nil {
		return r.Err
	}
	var diffs []string
	if (w.exit == 0) != (r.Exit == 0) {
		diffs = append(diffs, fmt.Sprintf("exit status %d, want %s", r.Exit, map[bool]string{true: "0", false: "non-zero"}[w.exit == 0]))
	}
	got := r.Warnings()
	ok := len(got) == len(w.warnings)
	for i := 0; ok && i < len(got); i++ {
		ok = strings.HasPrefix(got[i], w.warnings[i])
	}
	if !ok {
		diffs = append(diffs, fmt.Sprintf("warnings:\n%s\nwant lines beginning:\n%s", lines(got), lines(w.warnings)))
	}
	if full {
		for _, o := range w.output {
			if !strings.Contains(r.Text(), o) {
				diffs = append(diffs, fmt.Sprintf("no %q in the output", o))
			}
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("%s", strings.Join(diffs, "\n"))
	}
	return nil
}

func lines(ls []string) string {
	if len(ls) == 0 {
		return "  (none)"
	}
	return "  Warning: " + strings.Join(ls, "\n  Warning: ")
}

type walk struct {
	ctx     context.Context
	sb      *sandbox.Sandbox
	dir     string
	out     *printer
	checked int
}

// kubectl settles (see sandbox.Settle), runs the command for real, prints
// it and exactly what kubectl printed, and checks that against w.
func (k *walk) kubectl(w want, args ...string) error {
	if err := k.ctx.Err(); err != nil {
		return err
	}
	settle := w.settle
	if settle == 0 {
		settle = 15 * time.Second
	}
	k.sb.Settle(k.ctx, k.dir, args, func(r sandbox.Result) bool { return w.check(r, false) == nil }, settle)
	k.out.command(args)
	r := k.sb.RunCombined(k.ctx, k.dir, args...)
	k.out.output(r.Output)
	if r.Exit != 0 {
		k.out.say("kubectl exited with status %d", r.Exit)
	}
	if err := k.ctx.Err(); err != nil {
		return err
	}
	if err := w.check(r, true); err != nil {
		return fmt.Errorf("kubectl %s:\n%w", shellJoin(args), err)
	}
	k.checked++
	return nil
}

func (k *walk) policy(content string) error {
	return k.sb.SetPolicy(k.ctx, content)
}

// run is the guide, step by step. Each step applies the guide's files and
// shows ta-guard's answer, then the fix and its clean apply.
func (k *walk) run() error {
	steps := []struct {
		title string
		do    func() error
	}{
		{"The guide's namespace", k.namespace},
		{"Step 1 of the guide: is everything deployed? The TA's service account", k.serviceAccount},
		{"Steps 3 and 5: prometheusCR on, the selectors left out", k.selectorsOmitted},
		{"Step 4: a ServiceMonitor selector", k.selectorApp},
		{"Step 6: labels, namespaces and ports", k.ports},
		{"The whole cluster, as ta-guard's audit sees it", k.audit},
		{"Step 2, done by the program: ta-guard diagnose", k.diagnose},
		{"Step 2 against a running TA, through the API server", k.compareTA},
	}
	for _, s := range steps {
		k.out.heading(s.title)
		if err := s.do(); err != nil {
			return err
		}
	}
	return nil
}

func (k *walk) namespace() error {
	return k.kubectl(want{output: []string{"namespace/opentelemetry created"}}, "create", "namespace", "opentelemetry")
}

func (k *walk) serviceAccount() error {
	k.out.say(`collector.yaml, the guide's collector, runs its Target Allocator as the service
account opentelemetry-targetallocator-sa, which nothing has created. A server-side
dry run asks the API server, and with it ta-guard, without storing anything:`)
	if err := k.kubectl(want{warnings: []string{ta008, ta010}, output: []string{"otelcol created (server dry run)"}},
		"apply", "--dry-run=server", "-f", "testdata/seed/collector.yaml"); err != nil {
		return err
	}
	k.out.say(`The TA pod could not start, and could list no ServiceMonitor if it did.
Fix: create the account and grant what the TA reads (testdata/demo/ta-rbac.yaml):`)
	if err := k.kubectl(want{output: []string{"serviceaccount/opentelemetry-targetallocator-sa created", "rolebinding.rbac.authorization.k8s.io/opentelemetry-targetallocator created"}},
		"apply", "-f", "testdata/demo/ta-rbac.yaml"); err != nil {
		return err
	}
	k.out.say(`The guide's collector, now clean, and the Service of its app:`)
	return k.kubectl(want{output: []string{"otelcol created", "service/py-prometheus-app created"}},
		"apply", "-f", "testdata/seed/collector.yaml", "-f", "testdata/seed/service.yaml")
}

func (k *walk) selectorsOmitted() error {
	k.out.say(`The guide's minimal collector turns the TA and prometheusCR on and leaves
serviceMonitorSelector and podMonitorSelector out (testdata/demo/: the guide's
form plus the spec.config the CRD requires). Under v1beta1 that selects nothing:`)
	if err := k.kubectl(want{warnings: []string{ta003SM, ta003PM}, output: []string{"otelcol configured"}},
		"apply", "-f", "testdata/demo/collector-selectors-omitted.yaml"); err != nil {
		return err
	}
	k.out.say(`The default policy warns and lets the change through.
Fix: {} selects every monitor, as collector.yaml writes it:`)
	if err := k.kubectl(want{output: []string{"otelcol configured"}}, "apply", "-f", "testdata/seed/collector.yaml"); err != nil {
		return err
	}
	k.out.say("A platform team can refuse mistakes instead: make the webhook's policy file\n(--policy, re-read within 2 s) say:\n  %s", strings.TrimSpace(denyPolicy))
	if err := k.policy(denyPolicy); err != nil {
		return err
	}
	k.out.say(`ta-guard denies only what loses something now. No ServiceMonitor or PodMonitor
exists yet, so the omitted selectors are a risk, not a loss: still warnings.`)
	if err := k.kubectl(want{warnings: []string{ta003SM, ta003PM}, output: []string{"otelcol configured (server dry run)"}},
		"apply", "--dry-run=server", "-f", "testdata/demo/collector-selectors-omitted.yaml"); err != nil {
		return err
	}
	k.out.say("The policy is back to the catalog's defaults (warn) until step 6, which shows a refusal.")
	return k.policy(demoPolicy)
}

func (k *walk) selectorApp() error {
	k.out.say(`With serviceMonitorSelector matchLabels app: my-app the TA reads only ServiceMonitors
labelled so (testdata/demo/collector-sm-selector-app.yaml, the guide's snippet plus
spec.config; the snippet has no podMonitorSelector, and TA003 says what that costs):`)
	if err := k.kubectl(want{warnings: []string{ta003PM}, output: []string{"otelcol configured"}},
		"apply", "-f", "testdata/demo/collector-sm-selector-app.yaml"); err != nil {
		return err
	}
	k.out.say(`The guide's ServiceMonitor carries no app label:`)
	if err := k.kubectl(want{warnings: []string{ta101, ta103ep1, ta103ep2}, output: []string{"servicemonitor.monitoring.coreos.com/sm-example created"}},
		"apply", "-f", "testdata/seed/servicemonitor.yaml"); err != nil {
		return err
	}
	k.out.say(`Fix: label it app: my-app (servicemonitor-labelled-app.yaml). TA101 is gone; the two
TA103 are the guide's own example, step 6:`)
	if err := k.kubectl(want{warnings: []string{ta103ep1, ta103ep2}, output: []string{"sm-example configured"}},
		"apply", "-f", "testdata/seed/servicemonitor-labelled-app.yaml"); err != nil {
		return err
	}
	k.out.say(`Back to collector.yaml, which reads every monitor:`)
	return k.kubectl(want{output: []string{"otelcol configured"}}, "apply", "-f", "testdata/seed/collector.yaml")
}

func (k *walk) ports() error {
	k.out.say(`The guide's working example, as the guide applies it:`)
	if err := k.kubectl(want{warnings: []string{ta103ep1, ta103ep2}, output: []string{"otelcol unchanged", "sm-example configured", "service/py-prometheus-app unchanged"}},
		"apply", "-f", "testdata/seed/collector.yaml", "-f", "testdata/seed/servicemonitor.yaml", "-f", "testdata/seed/service.yaml"); err != nil {
		return err
	}
	k.out.say(`Its ServiceMonitor asks for the ports prom, py-client-port and py-server-port; its
Service has only prom. The TA configures three jobs, and only
serviceMonitor/opentelemetry/sm-example/0 will ever have a target.

The guide's counter-example names the port bleh. A dry run first:`)
	if err := k.kubectl(want{warnings: []string{ta201bleh, ta202bleh}, output: []string{"service/py-prometheus-app configured (server dry run)"}},
		"apply", "--dry-run=server", "-f", "testdata/seed/service-port-bleh.yaml"); err != nil {
		return err
	}
	if err := k.kubectl(want{output: []string{"prom"}},
		"get", "service", "py-prometheus-app", "-n", "opentelemetry", "-o", "jsonpath={.spec.ports[*].name}"); err != nil {
		return err
	}
	k.out.say("The dry run changed nothing. Under the deny policy the rename is refused, since\njob .../0 would lose its last target now:\n  %s", strings.TrimSpace(denyPolicy))
	if err := k.policy(denyPolicy); err != nil {
		return err
	}
	if err := k.kubectl(want{exit: 1, output: []string{denied, "- " + ta201bleh, "- " + ta202bleh}},
		"apply", "-f", "testdata/seed/service-port-bleh.yaml"); err != nil {
		return err
	}
	if err := k.policy(demoPolicy); err != nil {
		return err
	}
	k.out.say(`Nothing changed. Back to the catalog's defaults (warn), for real:`)
	if err := k.kubectl(want{warnings: []string{ta201bleh, ta202bleh}, output: []string{"service/py-prometheus-app configured"}},
		"apply", "-f", "testdata/seed/service-port-bleh.yaml"); err != nil {
		return err
	}
	k.out.say(`Fix: the port's name back:`)
	if err := k.kubectl(want{output: []string{"service/py-prometheus-app configured"}}, "apply", "-f", "testdata/seed/service.yaml"); err != nil {
		return err
	}
	k.out.say(`Deleting the Service leaves job .../0 without a target too:`)
	if err := k.kubectl(want{warnings: []string{ta201del}, output: []string{`service "py-prometheus-app" deleted`}},
		"delete", "-f", "testdata/seed/service.yaml"); err != nil {
		return err
	}
	k.out.say(`Fix: bring it back. Whoever creates it is told what its monitor's other jobs
still lack (TA018):`)
	if err := k.kubectl(want{warnings: []string{ta018svc}, output: []string{"service/py-prometheus-app created"}}, "apply", "-f", "testdata/seed/service.yaml"); err != nil {
		return err
	}
	k.out.say(`And the guide's two endpoints without a port: keep the one the Service serves
(testdata/demo/servicemonitor-prom-only.yaml), or give the Service those ports:`)
	return k.kubectl(want{output: []string{"sm-example configured"}}, "apply", "-f", "testdata/demo/servicemonitor-prom-only.yaml")
}

// audit shows the PolicyReport the audit wrote: TA106 is an audit rule, so
// kubectl never printed it.
func (k *walk) audit() error {
	k.out.say(`Besides answering kubectl, ta-guard audits the whole cluster (every 10 minutes,
and soon after changes) and writes one PolicyReport per namespace. TA106 (no
endpoints) is an audit rule: kubectl never showed it, the report does. The
guide's app is not deployed yet, so its Service has no endpoints:`)
	results := []string{"get", "policyreport", "ta-guard", "-n", "opentelemetry", "-o",
		`jsonpath={range .results[*]}{.rule} {.result} {.resources[0].kind}/{.resources[0].name}: {.policy}{"\n"}{end}`}
	// The audit runs a second after the last change: wait for the report
	// of the cluster as it is now (only TA106 left).
	final := "TA106 warn ServiceMonitor/sm-example: no-endpoints\n"
	k.await(results, func(out string) bool { return out == final })
	if err := k.kubectl(want{output: []string{"opentelemetry", "ta-guard"}},
		"get", "policyreports", "-A"); err != nil {
		return err
	}
	if err := k.kubectl(want{output: []string{final}}, results...); err != nil {
		return err
	}
	k.out.say(`Deploy the app: the scheduler puts its Pod on a kwok node, kwok reports it
Running with an IP, and the EndpointSlice controller writes the Service's endpoints:`)
	return k.kubectl(want{output: []string{"deployment.apps/py-prometheus-app created"}},
		"apply", "-f", "testdata/demo/app.yaml")
}

// appTarget is the target the controllers made for the app: its Pod's IP
// (kwok's pick) and the Service's port, once the Pod runs.
func (k *walk) appTarget() string {
	args := []string{"get", "pods", "-n", "opentelemetry", "-l", "app.kubernetes.io/name=py-prometheus-app",
		"-o", `jsonpath={range .items[?(@.status.phase=="Running")]}{.status.podIP}{end}`}
	ip := ""
	k.await(args, func(out string) bool { ip = strings.TrimSpace(out); return ip != "" && !strings.Contains(ip, " ") })
	return ip + ":8080"
}

// diagnose runs the guide's troubleshooting as one command against the
// sandbox, and shows the report gone once nothing is blind.
func (k *walk) diagnose() error {
	k.out.say(`Instead of port-forwarding the TA and curling /jobs, ask ta-guard for the chain
the guide walks, with the targets the TA should get:`)
	target := k.appTarget()
	// --no-ta-proxy: no TA runs yet (the next step brings one).
	r := k.runDiagnose([]string{"--no-ta-proxy"}, func(out string) bool { return strings.Contains(out, "targets: "+target) })
	if r.Exit != 0 || !strings.Contains(r.Output, "targets: "+target) || !strings.Contains(r.Output, "verdict: OK") {
		return fmt.Errorf("diagnose exited %d; want 0 with the target %s (the app Pod's) and verdict OK", r.Exit, target)
	}
	k.out.say(`Nothing is blind any more, so the audit has removed the namespace's report:`)
	reports := []string{"get", "policyreports", "-A"}
	k.await(reports, func(out string) bool { return strings.Contains(out, "No resources found") })
	return k.kubectl(want{output: []string{"No resources found"}}, reports...)
}

// runDiagnose runs diagnose against the sandbox until its output satisfies
// ok (the watch and the controllers follow changes within seconds), for
// at most 15 s, and shows the last run.
func (k *walk) runDiagnose(extra []string, ok func(string) bool) sandbox.Result {
	args := append([]string{"diagnose", "--kubeconfig", k.sb.Kubeconfig, "--no-color"}, extra...)
	var r sandbox.Result
	_ = wait.PollUntilContextTimeout(k.ctx, 200*time.Millisecond, 15*time.Second, true, func(ctx context.Context) (bool, error) {
		r = k.sb.RunBinary(ctx, k.sb.Webhook(), args...)
		return r.Exit == 0 && ok(r.Output), nil
	})
	k.out.commandLine("bin/ta-guard diagnose --kubeconfig $KUBECONFIG --no-color " + strings.Join(extra, " "))
	k.out.output(r.Output)
	k.checked++
	return r
}

// taPort is where the stand-in TA listens, as the real one does.
const taPort = 8080

// compareTA runs a stand-in TA on a Pod of this cluster and has diagnose
// read it the way the guide's step 2 does, without a port-forward: through
// the API server's service proxy, with the user's own credentials.
func (k *walk) compareTA() error {
	if !k.sb.PodNetworkRouted() {
		k.out.say(`This machine gives the sandbox no network namespace for Pod IPs (it needs
CAP_NET_ADMIN), so no Pod's address can be answered on without leaving this
host: the comparison with a running TA is left out.`)
		return nil
	}
	k.out.say(`No operator runs here, so no Target Allocator either. A stand-in takes its place:
the Deployment and the Service the operator would make (testdata/demo/ta-stand-in.yaml).
kwok runs its Pod; the demo answers the TA's HTTP API on that Pod's IP.`)
	ln, err := k.sb.ListenPods(taPort)
	if err != nil {
		return fmt.Errorf("listening on the Pod network: %w", err)
	}
	ta := &taStandIn{}
	srv := &http.Server{Handler: ta, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	if err := k.kubectl(want{output: []string{"deployment.apps/otelcol-targetallocator created", "service/otelcol-targetallocator created"}},
		"apply", "-f", "testdata/demo/ta-stand-in.yaml"); err != nil {
		return err
	}
	// The API server proxies to a ready endpoint only.
	k.await([]string{"get", "endpointslices", "-n", "opentelemetry", "-l", "kubernetes.io/service-name=otelcol-targetallocator",
		"-o", `jsonpath={range .items[*].endpoints[?(@.conditions.ready==true)]}{.addresses[0]}{end}`},
		func(out string) bool { return strings.TrimSpace(out) != "" })
	target := k.appTarget()

	guide, err := guideAnswer(k.dir)
	if err != nil {
		return err
	}
	ta.set(guide)
	k.out.say(`First it answers what the guide's TA answered (testdata/seed/ta-jobs.json, each job
with the guide's target 10.244.0.11:8080): a TA of another cluster, or one that has
not caught up. diagnose reads /scrape_configs and /jobs through the API server's
proxy and explains each difference from its prediction:`)
	stale := []string{
		"running TA at Service opentelemetry/otelcol-targetallocator (through the API server's proxy)",
		"serviceMonitor/opentelemetry/sm-example/0 targets-differ",
		"expected: " + target, "actual:   " + guideTarget,
		"podMonitor/opentelemetry/pm-example/0 not-predicted",
		"serviceMonitor/opentelemetry/sm-example/1 not-predicted",
	}
	r := k.runDiagnose(nil, func(out string) bool { return containsAll(out, stale) })
	if !containsAll(r.Output, stale) {
		return fmt.Errorf("diagnose against the stand-in with the guide's answer: want %q in its output", stale)
	}

	// What the TA serves for this cluster, as the real one (v0.158) does
	// for the guide's manifests: every job configured, /jobs only those
	// with targets; the ServiceMonitor's one endpoint left finds the app.
	ta.set(taState{collector: "otelcol-collector-0", jobs: map[string][]string{
		"otel-collector": {"0.0.0.0:8888"},
		"serviceMonitor/opentelemetry/sm-example/0": {target},
	}})
	k.out.say(`Then what a TA that has read this cluster answers: the app's Pod as the one
target of serviceMonitor/opentelemetry/sm-example/0. Prediction and TA agree:`)
	agree := "✓ running TA at Service opentelemetry/otelcol-targetallocator (through the API server's proxy): 2 jobs configured, 2 with targets"
	r = k.runDiagnose(nil, func(out string) bool { return strings.Contains(out, agree) })
	if r.Exit != 0 || !strings.Contains(r.Output, agree) || !strings.Contains(r.Output, "verdict: OK") {
		return fmt.Errorf("diagnose exited %d; want 0, verdict OK and %q", r.Exit, agree)
	}
	return nil
}

// guideTarget is the target the guide's sample output shows.
const guideTarget = "10.244.0.11:8080"

// guideAnswer is the guide's TA: the jobs of its sample /jobs, each with
// the guide's target.
func guideAnswer(root string) (taState, error) {
	b, err := os.ReadFile(filepath.Join(root, "testdata", "seed", "ta-jobs.json"))
	if err != nil {
		return taState{}, err
	}
	var jobs map[string]json.RawMessage
	if err := json.Unmarshal(b, &jobs); err != nil {
		return taState{}, fmt.Errorf("ta-jobs.json: %w", err)
	}
	st := taState{collector: "otelcol-collector-0", jobs: map[string][]string{}}
	for j := range jobs {
		st.jobs[j] = []string{guideTarget}
	}
	return st, nil
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// await repeats a read-only kubectl command until its output (stdout and
// stderr) satisfies ok, for at most 15 s: the audit follows changes by a
// second or so. The command is then run and checked for real by kubectl().
func (k *walk) await(args []string, ok func(string) bool) {
	_ = wait.PollUntilContextTimeout(k.ctx, 200*time.Millisecond, 15*time.Second, true, func(ctx context.Context) (bool, error) {
		r := k.sb.RunCombined(ctx, k.dir, args...)
		return r.Err == nil && ok(r.Output), nil
	})
}
