package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The README's diagnose sample is what the binary prints for the command
// the sample shows, run on the seed's manifests of those names.
func TestREADMEDiagnoseSample(t *testing.T) {
	inRepoRoot(t)
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	const prompt = "$ ta-guard diagnose "
	_, rest, ok := strings.Cut(string(readme), "\n"+prompt)
	require.True(t, ok, "README has a diagnose sample")
	command, rest, _ := strings.Cut(rest, "\n")
	sample, _, ok := strings.Cut(rest, "```")
	require.True(t, ok, "the sample ends its block")
	args := []string{"diagnose", "--no-color"}
	fields := strings.Fields(command)
	for i := 0; i < len(fields); i++ {
		if fields[i] == "-f" && i+1 < len(fields) {
			i++
			args = append(args, "-f", filepath.Join("testdata", "seed", fields[i]))
			continue
		}
		args = append(args, fields[i])
	}
	_, stdout, stderr := runCLI(t, "", args...)
	assert.Empty(t, stderr)
	assert.Equal(t, stdout, sample, "README's sample of %s%s", prompt, command)
}
