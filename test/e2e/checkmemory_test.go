package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCheckMemoryFollowsTheInput runs `ta-guard check` on 30,000 Services,
// once as one `kind: List` (what `kubectl get -o yaml` writes) and once as
// as many documents, and bounds the process's peak RSS by the input's
// size (64 MiB and 40 times the YAML; the documents peak at 150-190 MB).
// Converted whole, the List alone peaked at twice the documents
// (362 MB against 156 MB for 5.9 MB of YAML); read item by item it costs
// what its items cost.
func TestCheckMemoryFollowsTheInput(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and checks 11 MB of manifests")
	}
	bin := buildWebhook(t)
	dir := t.TempDir()
	const n = 30000
	var list, docs strings.Builder
	list.WriteString("apiVersion: v1\nkind: List\nitems:\n")
	for i := range n {
		svc := fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-%d\n  namespace: ns-%d\n  labels:\n    app: a%d\n"+
			"spec:\n  selector:\n    app: a%d\n  ports:\n  - name: http\n    port: 80\n", i, i%100, i, i)
		docs.WriteString("---\n" + svc)
		list.WriteString("- " + strings.ReplaceAll(strings.TrimSuffix(svc, "\n"), "\n", "\n  ") + "\n")
	}
	peak := map[string]int64{}
	for name, text := range map[string]string{"list": list.String(), "documents": docs.String()} {
		f := filepath.Join(dir, name+".yaml")
		require.NoError(t, os.WriteFile(f, []byte(text), 0o600))
		cmd := exec.Command(bin, "check", "-f", f)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		require.True(t, ok, "no rusage on this platform")
		peak[name] = ru.Maxrss << 10 // kB on Linux
		// The binary's own footprint, and then a bounded multiple of what
		// it reads: the typed objects and their label indexes.
		bound := int64(64<<20) + 40*int64(len(text))
		t.Logf("%s: %.1f MB of YAML, peak RSS %d MB (bound %d MB)", name, float64(len(text))/1e6, peak[name]>>20, bound>>20)
		assert.LessOrEqual(t, peak[name], bound, "%s: peak RSS", name)
	}
	assert.LessOrEqual(t, float64(peak["list"]), 1.4*float64(peak["documents"]),
		"the List costs what its items cost as documents")
}
