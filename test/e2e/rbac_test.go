package e2e

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/pkg/validate"
)

// TestTARBACGrantsWhatTA008Requires keeps testdata/demo/ta-rbac.yaml, which
// the demo and this package apply, equal to what the engine requires of the
// guide's TA service account: no permission missing (TA008 would fire), none
// extra.
func TestTARBACGrantsWhatTA008Requires(t *testing.T) {
	a, ok := load(t, collector).(*model.Allocator)
	require.True(t, ok)
	var want []string
	for _, p := range validate.RequiredPermissions(a) {
		want = append(want, p.String())
	}

	data, err := os.ReadFile(filepath.Join(repoRoot, taRBAC))
	require.NoError(t, err)
	type doc struct {
		Kind     string `json:"kind"`
		Metadata struct{ Name, Namespace string }
		Rules    []rbacv1.PolicyRule `json:"rules"`
		RoleRef  rbacv1.RoleRef      `json:"roleRef"`
		Subjects []rbacv1.Subject    `json:"subjects"`
	}
	roles := map[string]doc{} // by kind/name
	var bindings []doc
	sa := false
	for _, part := range strings.Split(string(data), "\n---\n") {
		var d doc
		require.NoError(t, yaml.Unmarshal([]byte(part), &d))
		switch d.Kind {
		case "ServiceAccount":
			sa = d.Metadata.Name == a.ServiceAccount && d.Metadata.Namespace == a.Ref.Namespace
		case "ClusterRole", "Role":
			roles[d.Kind+"/"+d.Metadata.Name] = d
		case "ClusterRoleBinding", "RoleBinding":
			bindings = append(bindings, d)
		}
	}
	require.True(t, sa, "the file creates ServiceAccount %s/%s", a.Ref.Namespace, a.ServiceAccount)

	var got []string
	for _, b := range bindings {
		bound := false
		for _, s := range b.Subjects {
			bound = bound || (s.Kind == "ServiceAccount" && s.Name == a.ServiceAccount && s.Namespace == a.Ref.Namespace)
		}
		require.True(t, bound, "%s %s binds the TA's account", b.Kind, b.Metadata.Name)
		role, ok := roles[b.RoleRef.Kind+"/"+b.RoleRef.Name]
		require.True(t, ok, "%s %s refers to a role of the file", b.Kind, b.Metadata.Name)
		ns := "" // a ClusterRoleBinding grants everywhere
		if b.Kind == "RoleBinding" {
			ns = b.Metadata.Namespace
		}
		for _, r := range role.Rules {
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					for _, v := range r.Verbs {
						got = append(got, validate.Permission{Group: g, Resource: res, Verb: v, Namespace: ns}.String())
					}
				}
			}
		}
	}
	sort.Strings(want)
	sort.Strings(got)
	assert.Equal(t, want, got)
}
