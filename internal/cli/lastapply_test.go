package cli

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ta-guard/ta-guard/internal/check"
	"github.com/ta-guard/ta-guard/internal/manifest"
	"github.com/ta-guard/ta-guard/pkg/rules"
	"github.com/ta-guard/ta-guard/test/replay"
)

// TestTheLastApplyNamesTheBlindJob: whatever the order a setup is applied
// in, the apply that completes a blind job (the last of the monitor, the
// objects it selects from and the readers) tells whoever runs it about
// that monitor: over every setup of testdata/realworld, in the three
// orders, through the engine as the webhook calls it. test/envtest's
// TestTheLastApplyIsToldLive does the same through a real API server.
func TestTheLastApplyNamesTheBlindJob(t *testing.T) {
	total, told := 0, 0
	var missed []string
	for dir := range realWorldSetups(t) {
		files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		require.NoError(t, err)
		docs, err := manifest.Load(files, manifest.Options{Namespace: "default"})
		require.NoError(t, err)
		for _, order := range replay.Orders {
			ordered := order.Sort(docs)
			perApply, final, err := replay.Run(ordered, true)
			require.NoError(t, err)
			n, untold := replay.Untold(final, ordered, order, func(last int, f rules.Finding) bool {
				return slices.ContainsFunc(perApply[last], func(g rules.Finding) bool { return replay.Names(g, f) })
			})
			total, told = total+n, told+n-len(untold)
			for _, f := range untold {
				last := replay.Completing(f, ordered, order)
				missed = append(missed, fmt.Sprintf("%s (%s): %s %s %s, last apply %s %s",
					filepath.Base(dir), order.Name, f.Rule, f.Object, f.Job, ordered[last].GVK.Kind, ordered[last].Object.GetMeta().Ref.NamespacedName()))
			}
		}
	}
	sort.Strings(missed)
	t.Logf("told %d of %d blind findings", told, total)
	require.NotZero(t, total, "no blind job in the corpus")
	require.Empty(t, missed, "the last apply says nothing of these:\n%s", strings.Join(missed, "\n"))
}

// TestFindingIdentitiesAreUnique: the audit and diagnose key findings on
// their identity, so no two findings of a whole state may share one (TA015
// once per monitor kind, TA103 once per endpoint, ...): over every setup
// of testdata/realworld and the guide's.
func TestFindingIdentitiesAreUnique(t *testing.T) {
	seed := func(files ...string) []string {
		for i, f := range files {
			files[i] = filepath.Join("../../testdata/seed", f)
		}
		return files
	}
	sets := [][]string{
		seed("collector.yaml", "servicemonitor.yaml", "service-port-bleh.yaml"),
		seed("collector-sm-selector-app.yaml", "servicemonitor.yaml", "service.yaml"),
		seed("collector-selectors-omitted.yaml"),
	}
	for dir := range realWorldSetups(t) {
		sets = append(sets, []string{dir})
	}
	findings := 0
	for _, paths := range sets {
		res, err := check.Run(paths, manifest.Options{Namespace: "default"}, nil)
		require.NoError(t, err, paths)
		seen := map[rules.Identity]string{}
		for _, f := range res.Findings {
			findings++
			id := f.Identity()
			if prev, dup := seen[id]; dup {
				t.Errorf("%s: two findings share %s:\n%s\n%s", paths[0], id, prev, f.Summary())
			}
			seen[id] = f.Summary()
		}
	}
	require.NotZero(t, findings)
}
