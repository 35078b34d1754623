package server

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ta-guard/ta-guard/internal/policy"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

// A policy ConfigMap emptied or cut short must not end enforcement: on a
// reload the policy in force stays, and a fresh start stops with the file
// named instead of running with the defaults.
func TestEmptyPolicyKeepsTheLastGoodOne(t *testing.T) {
	file := filepath.Join(t.TempDir(), "policy.yaml")
	s := &Server{opts: Options{PolicyFile: file}}
	for name, empty := range map[string]string{"empty": "", "comments only": "# cut\n", "null": "null\n"} {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(file, []byte(empty), 0o600))
			fresh := &Server{opts: Options{PolicyFile: file}}
			err := fresh.loadPolicy()
			require.ErrorIs(t, err, policy.ErrEmpty)
			assert.Contains(t, err.Error(), file)
			assert.Nil(t, fresh.policy.Load(), "a fresh start has no policy to run with")

			require.NoError(t, os.WriteFile(file, []byte("defaultAction: deny\n"), 0o600))
			require.NoError(t, s.loadPolicy())
			require.NoError(t, os.WriteFile(file, []byte(empty), 0o600))
			require.Error(t, s.loadPolicy())
			assert.Equal(t, rules.Deny, s.policy.Load().ActionFor(rules.TA101), "the last good policy stays in force")
		})
	}
}
