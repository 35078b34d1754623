package deploy

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The RBAC table of docs/install.md says what the chart grants ta-guard's
// ServiceAccount, resource by resource and verb by verb: every grant of
// the chart is in the table, and the table names nothing the chart does
// not grant (the secret-keys component and the metrics reader's
// non-resource URL, which the chart does not bind to ta-guard, aside).
func TestRBACTableIsTheChartsGrants(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot, "docs", "install.md"))
	require.NoError(t, err)
	const header = "| what | permission | used by |"
	_, table, ok := strings.Cut(string(readme), header)
	require.True(t, ok, "docs/install.md has the RBAC table")
	documented := map[string]bool{}
	for _, line := range strings.Split(table, "\n")[2:] {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		require.Len(t, cells, 3, "row %q", line)
		what, perm := strings.TrimSpace(cells[0]), strings.TrimSpace(cells[1])
		if strings.HasPrefix(what, "`") || what == "secrets" {
			continue // a non-resource URL, or the secret-keys component
		}
		verbs, _, _ := strings.Cut(perm, " (")
		verbs, _, _ = strings.Cut(verbs, ":")
		resources, _, _ := strings.Cut(what, " (")
		for _, r := range strings.Split(resources, ",") {
			for _, v := range strings.Split(verbs, ",") {
				documented[strings.TrimSpace(v)+" "+strings.TrimSpace(r)] = true
			}
		}
	}
	require.NotEmpty(t, documented)

	granted := map[string]bool{}
	for _, g := range grantsOf(t, helmTemplate(t), serviceAccount) {
		// "list /namespaces cluster-wide", "get coordination.k8s.io/leases in ta-guard"
		fields := strings.Fields(g)
		require.GreaterOrEqual(t, len(fields), 2, g)
		_, resource, _ := strings.Cut(fields[1], "/")
		granted[fields[0]+" "+resource] = true
	}
	assert.Equal(t, keys(granted), keys(documented), "docs/install.md's RBAC table against the chart's grants (verb resource)")
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
