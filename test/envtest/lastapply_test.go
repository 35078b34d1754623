package envtest

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ta-guard/ta-guard/internal/manifest"
	"github.com/ta-guard/ta-guard/pkg/rules"
	"github.com/ta-guard/ta-guard/test/replay"
)

// TestTheLastApplyIsToldLive replays testdata/realworld's broken live
// setups through a real API server and the webhook, one object at a time
// as kubectl apply does, in the three orders people and tools use
// (collectors first, monitors first, Services last), each apply seen by
// the webhook's informers before the next. For every job the final state
// leaves blind, the apply that completed it (the engine's replay says
// which) must print a warning naming its monitor: whoever applies the last
// piece is told, whatever the order.
func TestTheLastApplyIsToldLive(t *testing.T) {
	w := startWebhook(t, webhookSetup{CRDs: []string{"monitoring"}})
	ctx, k, srv, policyFile := w.ctx, w.k, w.srv, w.policyFile
	const warnAll = "defaultAction: warn\n"
	setPolicy(t, srv, policyFile, warnAll)

	total, told := 0, 0
	var missed []string
	for _, s := range realWorldSetups(t) {
		if s.working {
			continue
		}
		files, err := filepath.Glob(filepath.Join(s.paths[0], "*.yaml"))
		require.NoError(t, err)
		docs, err := manifest.Load(files, manifest.Options{Namespace: "default"})
		require.NoError(t, err)
		var objs []*unstructured.Unstructured
		for _, f := range files {
			rel, err := filepath.Rel(repoRoot, f)
			require.NoError(t, err)
			objs = append(objs, objectsOf(t, rel)...)
		}
		require.Len(t, objs, len(docs), s.name)
		kinds := make([]string, len(docs))
		for i, d := range docs {
			require.Equal(t, d.GVK.Kind, objs[i].GetKind(), "%s: document %d", s.name, i)
			kinds[i] = d.GVK.Kind
		}
		for _, order := range replay.Orders {
			t.Run(order.Name+"/"+s.name, func(t *testing.T) {
				perm := order.Permutation(kinds)
				ordered := make([]manifest.Doc, len(perm))
				live := make([]*unstructured.Unstructured, len(perm))
				for i, j := range perm {
					ordered[i], live[i] = docs[j], objs[j]
				}
				_, final, err := replay.Run(ordered, true)
				require.NoError(t, err)

				for _, ns := range namespacesOf(live) {
					_ = k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
				}
				t.Cleanup(func() { removeAll(t, ctx, k, srv, live, policyFile, warnAll) })
				pods := podsOf(t, live)
				for _, p := range pods {
					require.NoError(t, k.Create(ctx, p), "pod %s", p.GetName())
				}
				waitForStore(t, srv, pods, -1)
				printed := make([][]string, len(live))
				var seen []*unstructured.Unstructured
				for i, o := range live {
					printed[i], err = k.apply(ctx, o)
					require.NoError(t, err, "%s %s", o.GetKind(), o.GetName())
					if reviewed(o.GetKind()) || o.GetKind() == "Namespace" {
						seen = append(seen, o)
						waitForStore(t, srv, seen, -1)
					}
				}

				n, untold := replay.Untold(final, ordered, order, func(last int, f rules.Finding) bool {
					return slices.ContainsFunc(printed[last], func(text string) bool {
						return strings.Contains(text, f.Object.String()) || f.Job != "" && strings.Contains(text, f.Job)
					})
				})
				total, told = total+n, told+n-len(untold)
				for _, f := range untold {
					last := replay.Completing(f, ordered, order)
					missed = append(missed, fmt.Sprintf("%s (%s): %s %s, last apply %s %s printed %q",
						s.name, order.Name, f.Rule, f.Object, live[last].GetKind(), live[last].GetName(), printed[last]))
				}
			})
		}
	}
	sort.Strings(missed)
	t.Logf("told %d of %d blind jobs", told, total)
	require.NotZero(t, total, "no blind job in the live corpus")
	require.Empty(t, missed, "kubectl printed nothing of these:\n%s", strings.Join(missed, "\n"))
}
