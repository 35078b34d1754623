package cli

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ta-guard/ta-guard/pkg/rules"
)

// `webhook rules` lists the whole catalog, one rule a line, live ones marked.
func TestRulesCommand(t *testing.T) {
	code, out, _ := runCLI(t, "", "rules")
	assert.Equal(t, 0, code)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	assert.Len(t, lines, len(rules.All()))
	for i, r := range rules.All() {
		assert.True(t, strings.HasPrefix(lines[i], string(r.ID)+"  "+r.Name), lines[i])
		assert.Equal(t, r.Live, strings.HasSuffix(lines[i], "(live)"), lines[i])
	}
}

func TestVersionAndUsage(t *testing.T) {
	code, out, _ := runCLI(t, "", "version")
	assert.Equal(t, 0, code)
	assert.Equal(t, "dev\n", out)
	code, _, stderr := runCLI(t, "")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "ta-guard diagnose")
	code, _, stderr = runCLI(t, "", "frobnicate")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, `unknown command "frobnicate"`)
}
