package envtest

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ta-guard/ta-guard/internal/check"
	"github.com/ta-guard/ta-guard/internal/manifest"
	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/internal/policy"
	"github.com/ta-guard/ta-guard/internal/server"
	"github.com/ta-guard/ta-guard/internal/webhook"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

// liveOnly are the rules a bare API server adds to any setup: nothing runs
// there, and no TA or collector service account has permissions (TA017 has
// its own test: TestKubeletScrapeRBAC).
var liveOnly = map[string]bool{"TA008": true, "TA009": true, "TA010": true, "TA017": true, "TA106": true}

// TestRealWorldLive applies every live-checkable setup of testdata/realworld
// and every scenario of the golden corpus (the guide's steps) through the
// webhook under the enforce overlay's policy, in both orders (collectors
// first, monitors first): no working setup is denied in either, and a
// server-side dry run of every object of the final state gets exactly the
// expected findings (live-only rules aside) in either; on a broken setup,
// what the API server says (denials, dry-run warnings) is among them.
func TestRealWorldLive(t *testing.T) {
	enforce, err := os.ReadFile(filepath.Join(repoRoot, "config/webhook/overlays/enforce/policy.yaml"))
	require.NoError(t, err)
	w := startWebhook(t, webhookSetup{CRDs: []string{"monitoring"}, Policy: string(enforce), Tune: func(o *server.Options) { o.AccessCacheTTL = time.Minute }})
	ctx, k, srv, policyFile := w.ctx, w.k, w.srv, w.policyFile

	setups := append(realWorldSetups(t), goldenSetups(t, string(enforce))...)
	ran := 0
	for _, want := range setups {
		ran++
		for _, order := range []string{collectorsFirst, monitorsFirst} {
			t.Run(order+"/"+want.name, func(t *testing.T) {
				objs := setupObjects(t, want.paths, order)
				for _, ns := range namespacesOf(objs) {
					_ = k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
				}
				t.Cleanup(func() { removeAll(t, ctx, k, srv, objs, policyFile, string(enforce)) })
				for _, o := range podsOf(t, objs) {
					require.NoError(t, k.Create(ctx, o), "pod %s", o.GetName())
				}
				got := map[string]bool{}
				record := func(texts []string) {
					for _, w := range texts {
						assert.NotContains(t, w, webhook.NotChecked)
						if id := findingOf(w); id != "" && !liveOnly[strings.Fields(id)[0]] {
							got[id] = true
						}
					}
				}
				for _, o := range objs {
					_, err := k.apply(ctx, o)
					if want.working {
						require.NoError(t, err, "the enforce policy denies a working setup: %s %s", o.GetKind(), o.GetName())
					} else if err != nil {
						require.Contains(t, err.Error(), "ta-guard denied this change")
						record(strings.Split(err.Error(), "\n- ")) // what enforce refused is a finding too
					}
				}
				var watched []*unstructured.Unstructured
				for _, o := range objs {
					if reviewed(o.GetKind()) || o.GetKind() == "Namespace" {
						if k.Get(ctx, client.ObjectKeyFromObject(o), o.DeepCopy()) == nil { // not refused
							watched = append(watched, o)
						}
					}
				}
				waitForStore(t, srv, watched, -1)

				for _, o := range objs {
					if !reviewed(o.GetKind()) {
						continue
					}
					if err := k.Get(ctx, client.ObjectKeyFromObject(o), o.DeepCopy()); err != nil {
						continue // a broken setup's object the enforce policy refused
					}
					record(dryRunUpdate(t, k, o))
				}
				var gotList []string
				for id := range got {
					gotList = append(gotList, id)
				}
				wantList := want.findings
				sort.Strings(gotList)
				sort.Strings(wantList)
				if want.working {
					assert.Equal(t, wantList, gotList)
					return
				}
				// Under enforce a refused object never lands, so what depends on it
				// (a Service-side TA202 of a refused monitor) cannot show: live, the
				// findings seen are some of the expected ones, never others.
				assert.NotEmpty(t, gotList, "the setup's mistake is caught live")
				assert.Subset(t, wantList, gotList)
			})
		}
	}
	require.NotZero(t, ran, "no live-checkable setup in the corpus")
}

// liveSetup is a set of manifests and what the final state must give.
type liveSetup struct {
	name    string
	paths   []string // files or directories
	working bool     // nothing the enforce policy denies
	// findings are "TA103 ServiceMonitor ns/name", sorted, without the
	// rules a bare API server adds (liveOnly).
	findings []string
}

// realWorldSetups are testdata/realworld's live-checkable setups, with the
// findings their expect.yaml.golden lists.
func realWorldSetups(t *testing.T) []liveSetup {
	dirs, err := filepath.Glob(filepath.Join(repoRoot, "testdata/realworld/*"))
	require.NoError(t, err)
	var out []liveSetup
	for _, dir := range dirs {
		var want struct {
			Working  bool `json:"working"`
			Live     bool `json:"live"`
			Findings []struct {
				Rule   string `json:"rule"`
				Object string `json:"object"`
			} `json:"findings"`
		}
		raw, err := os.ReadFile(filepath.Join(dir, "expect.yaml.golden"))
		require.NoError(t, err)
		require.NoError(t, yaml.Unmarshal(raw, &want))
		if !want.Live {
			continue
		}
		s := liveSetup{name: filepath.Base(dir), paths: []string{dir}, working: want.Working}
		seen := map[string]bool{}
		for _, f := range want.Findings {
			if id := f.Rule + " " + f.Object; !seen[id] {
				seen[id] = true
				s.findings = append(s.findings, id)
			}
		}
		sort.Strings(s.findings)
		out = append(out, s)
	}
	return out
}

// goldenSetups are the golden corpus's scenarios (internal/cli's, the
// guide's steps), with the findings the offline check gives their files
// under the enforce policy: the same engine, so live and offline must agree
// whatever order the objects arrived in.
func goldenSetups(t *testing.T, enforce string) []liveSetup {
	pol, err := policy.Parse([]byte(enforce))
	require.NoError(t, err)
	seed := filepath.Join(repoRoot, "testdata/seed")
	sets := map[string][]string{
		"seed-working":           {"collector.yaml", "servicemonitor.yaml", "service.yaml"},
		"seed-port-bleh":         {"collector.yaml", "servicemonitor.yaml", "service-port-bleh.yaml"},
		"seed-selectors-omitted": {"collector-selectors-omitted.yaml"},
		"seed-sm-selector-app":   {"collector-sm-selector-app.yaml", "servicemonitor.yaml", "service.yaml"},
		"seed-sm-labelled-app":   {"collector-sm-selector-app.yaml", "servicemonitor-labelled-app.yaml", "service.yaml"},
	}
	var out []liveSetup
	for name, files := range sets {
		s := liveSetup{name: name, working: true, findings: []string{}}
		for _, f := range files {
			s.paths = append(s.paths, filepath.Join(seed, f))
		}
		res, err := check.Run(s.paths, manifest.Options{}, pol)
		require.NoError(t, err, name)
		for _, f := range res.Findings {
			if liveOnly[string(f.Rule)] {
				continue
			}
			s.findings = append(s.findings, string(f.Rule)+" "+f.Object.String())
			if f.Action == rules.Deny {
				s.working = false
			}
		}
		sort.Strings(s.findings)
		s.findings = slices.Compact(s.findings)
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// The orders a setup is applied in. collectorsFirst is a careful person's:
// namespaces, then workloads and Services, then collectors and
// TargetAllocators, then monitors. monitorsFirst is what a GitOps tool, or
// kubectl apply -f dir/ in alphabetical order, may do: namespaces, monitors,
// workloads and Services, collectors last. The answer at admission differs
// (TA101 on the monitors, or TA015 on the collector); under the enforce
// policy neither order may deny a working setup, and the final state must
// give the same findings.
const (
	collectorsFirst = "collectors-first"
	monitorsFirst   = "monitors-first"
)

// setupObjects reads a setup's manifests (files, or directories of them)
// in the order given.
func setupObjects(t *testing.T, paths []string, order string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, p := range paths {
		files := []string{p}
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			files, err = filepath.Glob(filepath.Join(p, "*.yaml"))
			require.NoError(t, err)
		}
		for _, f := range files {
			rel, err := filepath.Rel(repoRoot, f)
			require.NoError(t, err)
			out = append(out, objectsOf(t, rel)...)
		}
	}
	rank := func(kind string) int {
		switch kind {
		case "Namespace":
			return 0
		case "OpenTelemetryCollector", "TargetAllocator", "Prometheus", "PrometheusAgent":
			return 2
		case "ServiceMonitor", "PodMonitor":
			return 3
		}
		return 1
	}
	if order == monitorsFirst {
		careful := rank
		rank = func(kind string) int {
			switch r := careful(kind); r {
			case 0:
				return 0
			case 3:
				return 1
			case 1:
				return 2
			default:
				return 3
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i].GetKind()) < rank(out[j].GetKind()) })
	return out
}

// podsOf stands in for the controllers a bare API server lacks: one Pod
// per workload, from its pod template, as a ReplicaSet or DaemonSet would
// create it.
func podsOf(t *testing.T, objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		path := []string{"spec", "template"}
		switch o.GetKind() {
		case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job":
		case "CronJob":
			path = []string{"spec", "jobTemplate", "spec", "template"}
		default:
			continue
		}
		tmpl, found, err := unstructured.NestedMap(o.Object, path...)
		require.NoError(t, err)
		if !found {
			continue
		}
		pod := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Pod"}}
		if spec, ok := tmpl["spec"].(map[string]any); ok {
			pod.Object["spec"] = spec
		}
		if md, ok := tmpl["metadata"].(map[string]any); ok {
			if l, ok := md["labels"].(map[string]any); ok {
				labels := map[string]string{}
				for k, v := range l {
					labels[k], _ = v.(string)
				}
				pod.SetLabels(labels)
			}
		}
		pod.SetNamespace(o.GetNamespace())
		pod.SetName(strings.ToLower(o.GetName()) + "-0")
		out = append(out, pod)
	}
	return out
}

func namespacesOf(objs []*unstructured.Unstructured) []string {
	set := map[string]bool{}
	for _, o := range objs {
		if ns := o.GetNamespace(); ns != "" {
			set[ns] = true
		}
	}
	var out []string
	for ns := range set {
		out = append(out, ns)
	}
	sort.Strings(out)
	return out
}

func reviewed(kind string) bool { return model.ReviewedKind(kind) }

// findingOf reads "TA103 ServiceMonitor ns/name ..." (a warning, or a line
// of a denial) as "TA103 ServiceMonitor ns/name".
func findingOf(text string) string {
	f := strings.Fields(text)
	if len(f) < 3 || !strings.HasPrefix(f[0], "TA") {
		return ""
	}
	return f[0] + " " + f[1] + " " + strings.TrimSuffix(f[2], ":")
}

// removeAll deletes a setup under a policy that turns every rule off (a
// deletion the enforce policy would deny is no concern of the next setup),
// waits until the webhook's view has forgotten it, and puts the enforce
// policy back in force.
func removeAll(t *testing.T, ctx context.Context, k *kube, srv *server.Server, objs []*unstructured.Unstructured, policyFile, restore string) {
	setPolicy(t, srv, policyFile, "defaultAction: off\n")
	for _, p := range podsOf(t, objs) {
		_, err := k.remove(ctx, p)
		require.NoError(t, err)
	}
	for i := len(objs) - 1; i >= 0; i-- {
		if objs[i].GetKind() == "Namespace" {
			continue
		}
		_, err := k.remove(ctx, objs[i])
		require.NoError(t, err)
	}
	waitForStoreToForget(t, srv, objs)
	setPolicy(t, srv, policyFile, restore)
}
