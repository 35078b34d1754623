package cli

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ta-guard/ta-guard/internal/policy"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

// testWorld is a set of manifests the repository tests with, and the policy
// to read them under ("" for the catalog's defaults).
type testWorld struct {
	name   string
	args   []string
	policy string
}

// allTestWorlds gathers every world of the repository: the guide's seed
// scenarios, the golden diagnose scenarios, the demo's files, the clean
// directory, and the real-world corpus, each under the default actions and
// under the enforce and audit policies.
func allTestWorlds(t *testing.T) []testWorld {
	t.Helper()
	var worlds []testWorld
	for _, sc := range scenarios {
		var args []string
		for _, f := range sc.files {
			args = append(args, "-f", f)
		}
		worlds = append(worlds, testWorld{name: sc.name, args: args})
	}
	seeds, err := filepath.Glob("testdata/seed/*.yaml")
	require.NoError(t, err)
	for _, f := range seeds {
		worlds = append(worlds, testWorld{name: "seed file " + filepath.Base(f), args: []string{"-f", f}})
	}
	worlds = append(worlds,
		testWorld{name: "diagnose-fixed", args: []string{"-f", "testdata/seed/collector.yaml", "-f", "testdata/seed/servicemonitor-labelled-app.yaml", "-f", "testdata/diagnose/fixed.yaml"}},
		testWorld{name: "clean directory", args: []string{"-f", "testdata/check/clean"}},
	)
	// The demo applies its files one by one.
	demo, err := filepath.Glob("testdata/demo/*.yaml")
	require.NoError(t, err)
	for _, f := range demo {
		worlds = append(worlds, testWorld{name: "demo " + filepath.Base(f), args: []string{"-f", f}})
	}
	dirs, err := filepath.Glob("testdata/realworld/*")
	require.NoError(t, err)
	for _, d := range dirs {
		if files, _ := filepath.Glob(filepath.Join(d, "*.yaml")); len(files) > 0 {
			worlds = append(worlds, testWorld{name: filepath.Base(d), args: []string{"-f", d}})
		}
	}
	require.GreaterOrEqual(t, len(worlds), 35, "the worlds of the repository")
	n := len(worlds)
	for _, pol := range []string{"config/webhook/overlays/enforce/policy.yaml", "config/webhook/overlays/audit/policy.yaml"} {
		for _, w := range worlds[:n] {
			worlds = append(worlds, testWorld{name: w.name + " under " + filepath.Base(filepath.Dir(pol)), args: w.args, policy: pol})
		}
	}
	return worlds
}

// diagnosis is the part of `diagnose -o json` that holds ✗ lines.
type diagnosis struct {
	Allocators []struct {
		Object jsonRef    `json:"object"`
		Steps  []jsonStep `json:"steps"`
		Access []jsonStep `json:"access"`
		Kinds  []struct {
			Selector   jsonStep `json:"selector"`
			Namespaces jsonStep `json:"namespaces"`
			Monitors   []struct {
				Object    jsonRef    `json:"object"`
				Problems  []jsonStep `json:"problems"`
				Endpoints []struct {
					Job  string `json:"job"`
					OK   bool   `json:"ok"`
					Rule string `json:"rule"`
				} `json:"endpoints"`
			} `json:"monitors"`
			NearMisses []struct {
				Object jsonRef `json:"object"`
			} `json:"nearMisses"`
		} `json:"kinds"`
	} `json:"allocators"`
	Other []finding `json:"other"`
	Blind bool      `json:"blind"`
}

type jsonRef struct {
	Kind, Namespace, Name string
}

type jsonStep struct {
	OK   bool   `json:"ok"`
	Rule string `json:"rule"`
}

// failedLines lists each ✗ line of a diagnosis as "rule kind ns/name job"
// (job only for endpoint lines, which are one job each).
func failedLines(d diagnosis) []string {
	var out []string
	line := func(rule string, o jsonRef, job string) {
		out = append(out, strings.TrimSpace(fmt.Sprintf("%s %s %s/%s %s", rule, o.Kind, o.Namespace, o.Name, job)))
	}
	for _, a := range d.Allocators {
		for _, s := range append(append([]jsonStep{}, a.Steps...), a.Access...) {
			if !s.OK {
				line(s.Rule, a.Object, "")
			}
		}
		for _, k := range a.Kinds {
			for _, s := range []jsonStep{k.Selector, k.Namespaces} {
				if !s.OK {
					line(s.Rule, a.Object, "")
				}
			}
			for _, nm := range k.NearMisses {
				if nm.Object.Name != "" {
					line("TA101", nm.Object, "")
				}
			}
			for _, m := range k.Monitors {
				for _, p := range m.Problems {
					if !p.OK {
						line(p.Rule, m.Object, "")
					}
				}
				for _, e := range m.Endpoints {
					if !e.OK {
						line(e.Rule, m.Object, e.Job)
					}
				}
			}
		}
	}
	for _, f := range d.Other {
		line(f.Rule, jsonRef{f.Object.Kind, f.Object.Namespace, f.Object.Name}, f.Job)
	}
	return out
}

// The one-truth property: on every world of the repository, diagnose says
// blind exactly when check --fail-on audit fails, and every ✗ line of
// diagnose is a finding of check. diagnose decides nothing of its own.
func TestDiagnoseIsAProjectionOfCheck(t *testing.T) {
	inRepoRoot(t)
	for _, w := range allTestWorlds(t) {
		t.Run(w.name, func(t *testing.T) {
			var pol []string
			if w.policy != "" {
				pol = []string{"--policy", w.policy}
			}
			checkArgs := append(append([]string{"check", "-o", "json", "--fail-on", "audit"}, w.args...), pol...)
			checkCode, checkOut, checkErr := runCLI(t, "", checkArgs...)
			require.Contains(t, []int{0, 1}, checkCode, checkErr)
			diagArgs := append(append([]string{"diagnose", "-o", "json"}, w.args...), pol...)
			diagCode, diagOut, diagErr := runCLI(t, "", diagArgs...)
			require.Contains(t, []int{0, 1}, diagCode, diagErr)

			assert.Equal(t, checkCode == 1, diagCode == 1, "diagnose fails exactly when check --fail-on audit does")

			found := map[string]bool{}
			for _, f := range decodeOutput(t, checkOut).Findings {
				found[strings.TrimSpace(fmt.Sprintf("%s %s %s/%s %s", f.Rule, f.Object.Kind, f.Object.Namespace, f.Object.Name, f.Job))] = true
				found[fmt.Sprintf("%s %s %s/%s", f.Rule, f.Object.Kind, f.Object.Namespace, f.Object.Name)] = true
			}
			var d diagnosis
			require.NoError(t, json.Unmarshal([]byte(diagOut), &d), diagOut)
			assert.Equal(t, diagCode == 1, d.Blind || strings.Contains(diagOut, `"atRisk": true`), "the exit status is the verdict")
			lines := failedLines(d)
			sort.Strings(lines)
			for _, l := range lines {
				assert.True(t, found[l], "diagnose shows ✗ %q, which check does not report", l)
			}
			if checkCode == 1 {
				assert.NotEmpty(t, lines, "check fails, so diagnose shows the ✗ that says why")
			}
		})
	}
}

// An enforcing policy denies only what is wrong whatever order objects are
// applied in: every rule an object applied later can make untrue is at most
// a warning there, in the kustomize overlay and in the chart alike.
func TestEnforceNeverDeniesOnArrivalOrder(t *testing.T) {
	inRepoRoot(t)
	for _, f := range []string{"config/webhook/overlays/enforce/policy.yaml", "charts/ta-guard/files/policy-enforce.yaml"} {
		pol, err := policy.LoadFile(f)
		require.NoError(t, err, f)
		n := 0
		for _, r := range rules.All() {
			why, dependent := rules.OrderDependent(r.ID)
			if !dependent {
				continue
			}
			n++
			assert.NotEqual(t, rules.Deny, pol.ActionFor(r.ID), "%s: %s denies, but %s", f, r.ID, why)
		}
		assert.Equal(t, rules.Deny, pol.ActionFor(rules.TA003), "%s: what is wrong in any order is denied", f)
		assert.GreaterOrEqual(t, n, 15, "the order-dependent rules")
	}
}
