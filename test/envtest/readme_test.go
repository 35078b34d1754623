package envtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The README's "Verify the install" dry run, read from the README and sent
// through a real API server to the webhook: it prints the warnings the
// README says it prints.
func TestREADMEVerifyTheInstall(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(readme), "\n### Verify the install\n")
	require.True(t, ok, "README has the section")
	_, doc, ok := strings.Cut(section, "kubectl apply --dry-run=server -f -\n")
	require.True(t, ok, "the section's dry run")
	doc, _, ok = strings.Cut(doc, "\nEOF\n")
	require.True(t, ok, "the dry run's manifest ends")

	lw := startWebhook(t, webhookSetup{})
	ctx, k := lw.ctx, lw.k
	k.warn.take()
	require.NoError(t, k.Create(ctx, objectsFromYAML(t, doc)[0], client.DryRunAll), "a dry run: warned, not refused")
	warnings := strings.Join(k.warn.take(), "\n")
	assert.Contains(t, warnings, "TA003 OpenTelemetryCollector default/ta-guard-smoke: prometheusCR.serviceMonitorSelector is unset, so the TA reads no ServiceMonitor")
	assert.Contains(t, warnings, "prometheusCR.podMonitorSelector is unset, so the TA reads no PodMonitor")
}
