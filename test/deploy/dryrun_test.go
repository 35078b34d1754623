package deploy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ensureNamespace applies ta-guard's namespace as the manifests declare it
// (labels included: Pod Security admission reads them), with kubectl apply
// as an install would. A dry run creates nothing, so objects in a namespace
// that does not exist yet would be refused.
func ensureNamespace(t *testing.T, cl *cluster) {
	t.Helper()
	ns := one(t, render(t, "base"), "Namespace", namespace)
	j, err := ns.MarshalJSON()
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "namespace.json")
	require.NoError(t, os.WriteFile(file, j, 0o600))
	kubectl(t, cl.kubeconfig, "apply", "-f", file)
}

// TestServerDryRun applies every overlay with `kubectl apply -k` as a
// cluster admin would (client-side apply, and server-side apply), in a
// server-side dry run: every object passes the API server's validation
// (strict field validation, the CEL of the webhook's matchConditions, the
// cert-manager kinds against their CRDs) with no warning, and a pod of the
// Deployment passes the restricted Pod Security Standard the namespace
// enforces.
func TestServerDryRun(t *testing.T) {
	cl := apiServer(t)
	c, err := client.New(cl.cfg, client.Options{})
	require.NoError(t, err)
	ensureNamespace(t, cl)

	for _, overlay := range overlays {
		t.Run(overlay, func(t *testing.T) {
			dir := filepath.Join("config", "webhook", "overlays", overlay)
			for _, mode := range [][]string{
				{"--dry-run=server"}, // kubectl apply -k, as the README says
				{"--server-side", "--dry-run=server", "--field-manager=ta-guard-deploy-test"},
			} {
				stdout, stderr := kubectl(t, cl.kubeconfig, append([]string{"apply", "-k", dir}, mode...)...)
				assert.NotContains(t, stderr, "Warning", "the API server warns about nothing")
				for _, o := range render(t, "overlays/"+overlay) {
					// e.g. "deployment.apps/ta-guard created (server dry run)"
					assert.Regexp(t, fmt.Sprintf(`(?m)^%s/%s (created|configured|unchanged|serverside-applied) \(server dry run\)$`,
						regexp.QuoteMeta(resourceOf(o.GetKind(), o.GroupVersionKind().Group)), regexp.QuoteMeta(o.GetName())), stdout, "%v", mode)
				}
			}

			d := renderedDeployment(t, render(t, "overlays/"+overlay))
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: d.Namespace, GenerateName: "ta-guard-", Labels: d.Spec.Template.Labels},
				Spec:       d.Spec.Template.Spec,
			}
			err := c.Create(context.Background(), pod, client.DryRunAll)
			require.NoError(t, err, "a pod of the Deployment passes Pod Security admission (restricted)")
		})
	}
}

// resourceOf is how kubectl names a kind in its output.
func resourceOf(kind, group string) string {
	if group == "" {
		return strings.ToLower(kind)
	}
	return strings.ToLower(kind) + "." + group
}
