package deploy

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ta-guard/ta-guard/internal/policy"
	"github.com/ta-guard/ta-guard/pkg/rules"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// helm is the helm binary hack/helm.sh builds from the Go module proxy.
func helm(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(repoRoot, "hack", "helm.sh")).Output()
	require.NoError(t, err, "hack/helm.sh builds helm")
	cmd := exec.Command(strings.TrimSpace(string(out)), args...)
	cmd.Dir = repoRoot
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "helm %s: %s", strings.Join(args, " "), b)
	return string(b)
}

func helmTemplate(t *testing.T, set ...string) []*unstructured.Unstructured {
	t.Helper()
	args := []string{"template", "ta-guard", "charts/ta-guard", "--namespace", namespace}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	return parseYAML(t, helm(t, args...))
}

// helmLabels are Helm's standard labels, which the chart adds to what the
// kustomize manifests carry.
var helmLabels = []string{"helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/version"}

// withoutHelmLabels is the chart's objects as the kustomize manifests have
// them: without Helm's standard labels.
func withoutHelmLabels(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	for _, o := range objs {
		l := o.GetLabels()
		for _, k := range helmLabels {
			delete(l, k)
		}
		o.SetLabels(l)
	}
	return objs
}

func byKey(objs []*unstructured.Unstructured) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, o := range objs {
		out[o.GetKind()+" "+o.GetNamespace()+"/"+o.GetName()] = o.Object
	}
	return out
}

// The chart renders, for each mode, exactly the objects the kustomize overlay
// of that mode renders: one set of objects, two ways to install them.
func TestHelmChart(t *testing.T) {
	t.Run("helm lint", func(t *testing.T) {
		out := helm(t, "lint", "charts/ta-guard")
		assert.Contains(t, out, "1 chart(s) linted, 0 chart(s) failed")
	})
	for _, mode := range overlays {
		t.Run("mode "+mode+" renders what overlays/"+mode+" renders", func(t *testing.T) {
			assert.Equal(t, byKey(render(t, "overlays/"+mode)), byKey(withoutHelmLabels(helmTemplate(t, "mode="+mode, "createNamespace=true"))))
		})
	}
	t.Run("monitoring.enabled renders what components/monitoring adds", func(t *testing.T) {
		assert.Equal(t, byKey(renderWithComponents(t, "overlays/warn", "components/monitoring")), byKey(withoutHelmLabels(helmTemplate(t, "monitoring.enabled=true", "createNamespace=true"))))
	})
	t.Run("Helm's standard labels on every object", func(t *testing.T) {
		for _, set := range [][]string{{"monitoring.enabled=true", "createNamespace=true"}, {"certManager.enabled=false", "selfSignedBy=helm"}} {
			for _, o := range helmTemplate(t, set...) {
				if o.GetKind() == "CustomResourceDefinition" {
					continue
				}
				l := o.GetLabels()
				assert.Equal(t, "Helm", l["app.kubernetes.io/managed-by"], "%s %s", o.GetKind(), o.GetName())
				assert.Regexp(t, `^ta-guard-[0-9]+\.[0-9]+\.[0-9]+`, l["helm.sh/chart"], "%s %s", o.GetKind(), o.GetName())
				assert.NotEmpty(t, l["app.kubernetes.io/version"], "%s %s", o.GetKind(), o.GetName())
			}
		}
	})
	t.Run("webhook: timeout (ta-guard's own bound 2 s below it), failure policy, object selector", func(t *testing.T) {
		objs := helmTemplate(t, "mode=enforce", "webhook.timeoutSeconds=10", "webhook.failurePolicy=Ignore", "webhook.objectSelector.matchLabels.team=obs")
		wh := one(t, objs, "ValidatingWebhookConfiguration", "ta-guard").Object["webhooks"].([]any)[0].(map[string]any)
		assert.EqualValues(t, 10, wh["timeoutSeconds"])
		assert.Equal(t, map[string]any{"matchLabels": map[string]any{"team": "obs"}}, wh["objectSelector"])
		assert.Equal(t, "Ignore", wh["failurePolicy"], "installed failing open, as always")
		d := renderedDeployment(t, objs)
		assert.Equal(t, "8s", d.args["request-timeout"])
		assert.Equal(t, "Ignore", d.args["failure-policy"], "the value, over enforce's Fail")
		assert.Equal(t, "Fail", renderedDeployment(t, helmTemplate(t, "mode=enforce")).args["failure-policy"], "enforce's own")
		_, set := renderedDeployment(t, helmTemplate(t, "mode=warn")).args["failure-policy"]
		assert.False(t, set, "warn sets none")
	})
	t.Run("cert-manager: an issuer of your own, the serving certificate's lifetime", func(t *testing.T) {
		objs := helmTemplate(t, "certManager.issuerRef.kind=ClusterIssuer", "certManager.issuerRef.name=internal-ca",
			"certManager.issuerRef.group=cert-manager.io", "certManager.duration=720h", "certManager.renewBefore=240h")
		for _, o := range objs {
			assert.NotEqual(t, "Issuer", o.GetKind(), "no issuer of the chart's own")
			assert.NotEqual(t, "ta-guard-ca", o.GetName(), "no CA of the chart's own")
		}
		spec := one(t, objs, "Certificate", "ta-guard-serving-cert").Object["spec"].(map[string]any)
		assert.Equal(t, map[string]any{"kind": "ClusterIssuer", "name": "internal-ca", "group": "cert-manager.io"}, spec["issuerRef"])
		assert.Equal(t, "720h", spec["duration"])
		assert.Equal(t, "240h", spec["renewBefore"])
	})
	t.Run("rules: actions over the mode's policy, as the webhook reads them", func(t *testing.T) {
		cm := one(t, helmTemplate(t, "mode=enforce", "rules.TA201=warn", "rules.TA106=off", "rules.TA101=deny"), "ConfigMap", "ta-guard-policy")
		p, err := policy.Parse([]byte(cm.Object["data"].(map[string]any)["policy.yaml"].(string)))
		require.NoError(t, err)
		for id, want := range map[rules.ID]rules.Action{
			rules.TA201: rules.Warn, rules.TA106: rules.Off, rules.TA101: rules.Deny, // the values
			rules.TA102: rules.Warn, rules.TA003: rules.Deny, // the enforce policy's own
		} {
			assert.Equal(t, want, p.ActionFor(id), id)
		}
	})
	t.Run("the schema's rules are the catalog's", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(repoRoot, "charts/ta-guard/values.schema.json"))
		require.NoError(t, err)
		var schema struct {
			Properties struct {
				Rules struct {
					Properties map[string]any `json:"properties"`
				} `json:"rules"`
			} `json:"properties"`
		}
		require.NoError(t, json.Unmarshal(b, &schema))
		var want, got []string
		for _, r := range rules.All() {
			want = append(want, string(r.ID))
		}
		for id := range schema.Properties.Rules.Properties {
			got = append(got, id)
		}
		assert.ElementsMatch(t, want, got)
	})
	t.Run("the chart's README documents every value, and no other", func(t *testing.T) {
		readme, err := os.ReadFile(filepath.Join(repoRoot, "charts/ta-guard/README.md"))
		require.NoError(t, err)
		values, err := os.ReadFile(filepath.Join(repoRoot, "charts/ta-guard/values.yaml"))
		require.NoError(t, err)
		var top map[string]any
		require.NoError(t, yaml.Unmarshal(values, &top))
		var want, got []string
		for k := range top {
			want = append(want, k)
		}
		for _, line := range strings.Split(string(readme), "\n") {
			if k, ok := strings.CutPrefix(line, "| `"); ok {
				k, _, _ = strings.Cut(k, "`")
				got = append(got, k)
			}
		}
		assert.ElementsMatch(t, want, got)
	})
	t.Run("helm lint --strict", func(t *testing.T) {
		out := helm(t, "lint", "--strict", "charts/ta-guard")
		assert.Contains(t, out, "1 chart(s) linted, 0 chart(s) failed")
	})
	// values.schema.json: a typo or a wrong type fails the install instead
	// of being dropped or rendered into a broken object.
	for _, tt := range []struct{ set, want string }{
		{"mode=strict", "value must be one of 'audit', 'warn', 'enforce'"},
		{"replica=5", "additional properties 'replica' not allowed"},
		{"replicas=two", "at '/replicas': got string, want integer"},
		{"image.tgg=v1", "additional properties 'tgg' not allowed"},
		{"certManager.enabled=yes please", "at '/certManager/enabled': got string, want boolean"},
		{"extraArgs={audit-interval=10m}", "at '/extraArgs/0'"},
		{"excludeNamespaces={Team_X}", "at '/excludeNamespaces/0'"},
		{"rules.TA999=deny", "additional properties 'TA999' not allowed"},
		{"webhook.timeoutSeconds=60", "at '/webhook/timeoutSeconds'"},
		{"webhook.failurePolicy=fail", "at '/webhook/failurePolicy'"},
		{"certManager.issuerRef.kind=ClusterIssuer", "at '/certManager/issuerRef'"},
		{"certManager.duration=90d", "at '/certManager/duration'"},
		{"rules.TA101=block", "at '/rules/TA101': value must be one of 'deny', 'warn', 'audit', 'off'"},
	} {
		t.Run("refused: "+tt.set, func(t *testing.T) {
			out, err := exec.Command(mustHelmPath(t), "template", "x", filepath.Join(repoRoot, "charts/ta-guard"), "--set", tt.set).CombinedOutput()
			require.Error(t, err, "%s", out)
			assert.Contains(t, string(out), tt.want)
		})
	}
	t.Run("values: scheduling, the pod, extra arguments and environment, the disruption budget", func(t *testing.T) {
		objs := parseYAML(t, helm(t, "template", "ta-guard", "charts/ta-guard", "--namespace", namespace,
			"--set", "nodeSelector.pool=infra", "--set-json", `tolerations=[{"key":"infra","operator":"Exists","effect":"NoSchedule"}]`,
			"--set-json", `affinity={"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"pool","operator":"In","values":["infra"]}]}]}}}`,
			"--set", "priorityClassName=system-cluster-critical", "--set-json", `imagePullSecrets=[{"name":"registry"}]`,
			"--set", "podAnnotations.team=obs", "--set", "podLabels.team=obs", "--set", "podLabels.app\\.kubernetes\\.io/name=other",
			"--set", "extraArgs={--audit-interval=10m}", "--set-json", `extraEnv=[{"name":"HTTPS_PROXY","value":"http://proxy:3128"}]`,
			"--set", "podDisruptionBudget.maxUnavailable=0"))
		d := renderedDeployment(t, objs)
		spec := d.Spec.Template.Spec
		assert.Equal(t, map[string]string{"pool": "infra"}, spec.NodeSelector)
		assert.Equal(t, []corev1.Toleration{{Key: "infra", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}, spec.Tolerations)
		require.NotNil(t, spec.Affinity.NodeAffinity, "affinity replaces the default")
		assert.Nil(t, spec.Affinity.PodAntiAffinity)
		assert.Equal(t, "system-cluster-critical", spec.PriorityClassName)
		assert.Equal(t, []corev1.LocalObjectReference{{Name: "registry"}}, spec.ImagePullSecrets)
		assert.Equal(t, "obs", d.Spec.Template.Annotations["team"])
		assert.Equal(t, "webhook", d.Spec.Template.Annotations["kubectl.kubernetes.io/default-container"])
		assert.Equal(t, "obs", d.Spec.Template.Labels["team"])
		assert.Equal(t, "ta-guard", d.Spec.Template.Labels["app.kubernetes.io/name"], "the selector's labels are the chart's")
		assert.Equal(t, "--audit-interval=10m", d.container.Args[len(d.container.Args)-1])
		assert.Contains(t, d.container.Env, corev1.EnvVar{Name: "HTTPS_PROXY", Value: "http://proxy:3128"})
		assert.Contains(t, d.container.Env, corev1.EnvVar{Name: "GOMEMLIMIT", Value: "460MiB"}, "beside the chart's own")
		pdb := one(t, objs, "PodDisruptionBudget", "ta-guard")
		assert.EqualValues(t, 0, pdb.Object["spec"].(map[string]any)["maxUnavailable"])
	})
	t.Run("values: policy, excluded namespaces, replicas, image, resources", func(t *testing.T) {
		objs := helmTemplate(t, "policy=defaultAction: deny", "excludeNamespaces={team-x,team-y}", "replicas=3",
			"image.repository=registry.example.com/ta-guard", "image.tag=v1.2.3", "resources.limits.memory=1Gi", "goMemLimit=900MiB")
		cm := one(t, objs, "ConfigMap", "ta-guard-policy")
		assert.Equal(t, "defaultAction: deny\n", cm.Object["data"].(map[string]any)["policy.yaml"])
		vwc := one(t, objs, "ValidatingWebhookConfiguration", "ta-guard")
		wh := vwc.Object["webhooks"].([]any)[0].(map[string]any)
		values := wh["namespaceSelector"].(map[string]any)["matchExpressions"].([]any)[0].(map[string]any)["values"]
		assert.Equal(t, []any{"ta-guard", "team-x", "team-y"}, values)
		d := renderedDeployment(t, objs)
		assert.Equal(t, int32(3), *d.Spec.Replicas)
		assert.Equal(t, "registry.example.com/ta-guard:v1.2.3", d.container.Image)
		assert.Equal(t, "1Gi", d.container.Resources.Limits.Memory().String())
		assert.Contains(t, d.container.Env, corev1.EnvVar{Name: "GOMEMLIMIT", Value: "900MiB"})
	})
	t.Run("without cert-manager, ta-guard's own: an empty Secret, no caBundle, the rotator's arguments and grants", func(t *testing.T) {
		const ns = "guard-system"
		objs := parseYAML(t, helm(t, "template", "ta-guard", "charts/ta-guard", "--namespace", ns, "--set", "certManager.enabled=false"))
		for _, o := range objs {
			assert.NotContains(t, []string{"Certificate", "Issuer"}, o.GetKind())
		}
		secret := one(t, objs, "Secret", "ta-guard-webhook-tls")
		assert.Nil(t, secret.Object["data"], "issued by the replicas, and so kept by upgrades")
		vwc := one(t, objs, "ValidatingWebhookConfiguration", "ta-guard")
		assert.Empty(t, vwc.GetAnnotations())
		cc := vwc.Object["webhooks"].([]any)[0].(map[string]any)["clientConfig"].(map[string]any)
		assert.NotContains(t, cc, "caBundle", "injected by the replicas, and so kept by upgrades")
		d := renderedDeployment(t, objs)
		assert.Contains(t, d.container.Args, "--cert-secret="+ns+"/ta-guard-webhook-tls")
		assert.Contains(t, d.container.Args, "--cert-dns-names=ta-guard."+ns+".svc,ta-guard."+ns+".svc.cluster.local")
		assert.Contains(t, d.container.Args, "--webhook-configuration=ta-guard")
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Secret != nil {
				require.NotNil(t, v.Secret.Optional)
				assert.True(t, *v.Secret.Optional, "mounted before the first certificate is issued")
			}
		}
		role := typed[rbacv1.Role](t, one(t, objs, "Role", "ta-guard-certs"))
		assert.Equal(t, []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"ta-guard-webhook-tls"}, Verbs: []string{"update"}},
		}, role.Rules, "the rotator's informer of its namespace's Secrets; writes to its own only")
		assert.Equal(t, ns, role.Namespace)
		binding := typed[rbacv1.RoleBinding](t, one(t, objs, "RoleBinding", "ta-guard-certs"))
		assert.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: "ta-guard", Namespace: ns}}, binding.Subjects)
		cr := typed[rbacv1.ClusterRole](t, one(t, objs, "ClusterRole", "ta-guard"))
		assert.Contains(t, cr.Rules, rbacv1.PolicyRule{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: []string{"validatingwebhookconfigurations"}, Verbs: []string{"list", "watch"}})
		for _, o := range helmTemplate(t) {
			assert.NotEqual(t, "ta-guard-certs", o.GetName(), "with cert-manager, no grant on Secrets")
		}
	})
	t.Run("without cert-manager, by helm: a generated CA signs the serving certificate the webhook trusts", func(t *testing.T) {
		objs := helmTemplate(t, "certManager.enabled=false", "selfSignedBy=helm")
		for _, o := range objs {
			assert.NotContains(t, []string{"Certificate", "Issuer"}, o.GetKind())
		}
		secret := one(t, objs, "Secret", "ta-guard-webhook-tls")
		data := secret.Object["data"].(map[string]any)
		ca, crt := decodePEM(t, data["ca.crt"].(string)), decodePEM(t, data["tls.crt"].(string))
		pool := x509.NewCertPool()
		pool.AddCert(ca)
		_, err := crt.Verify(x509.VerifyOptions{DNSName: "ta-guard.ta-guard.svc", Roots: pool})
		require.NoError(t, err)
		vwc := one(t, objs, "ValidatingWebhookConfiguration", "ta-guard")
		assert.Empty(t, vwc.GetAnnotations())
		cc := vwc.Object["webhooks"].([]any)[0].(map[string]any)["clientConfig"].(map[string]any)
		assert.Equal(t, data["ca.crt"], cc["caBundle"])
	})
	t.Run("the release's namespace and name are honoured", func(t *testing.T) {
		const ns, release, full = "guard-system", "shop", "shop-ta-guard"
		objs := parseYAML(t, helm(t, "template", release, "charts/ta-guard", "--namespace", ns,
			"--set", "mode=enforce", "--set", "certManager.enabled=false", "--set", "selfSignedBy=helm", "--set", "monitoring.enabled=true", "--set", "createNamespace=true"))
		// What keeps its name: the monitoring objects Prometheus and Grafana
		// find by label, and what lives outside the release's namespace.
		kept := map[string]bool{"ConfigMap ta-guard-dashboard": true, "PrometheusRule ta-guard": true, "ServiceMonitor ta-guard": true}
		for _, o := range objs {
			switch o.GetKind() {
			case "Namespace":
				assert.Equal(t, ns, o.GetName())
			case "CustomResourceDefinition":
			case "ClusterRole", "ClusterRoleBinding", "ValidatingWebhookConfiguration":
				assert.True(t, strings.HasPrefix(o.GetName(), full), "%s %s is named for the release", o.GetKind(), o.GetName())
			default:
				if o.GetNamespace() != "monitoring" { // the Prometheus side of components/monitoring
					assert.Equal(t, ns, o.GetNamespace(), "%s %s", o.GetKind(), o.GetName())
					if !kept[o.GetKind()+" "+o.GetName()] {
						assert.True(t, strings.HasPrefix(o.GetName(), full), "%s %s is named for the release", o.GetKind(), o.GetName())
					}
				}
			}
			if o.GetLabels()["app.kubernetes.io/name"] == "ta-guard" && o.GetKind() != "Namespace" {
				assert.Equal(t, release, o.GetLabels()["app.kubernetes.io/instance"], "%s %s", o.GetKind(), o.GetName())
			}
			for _, sub := range nestedSlice(o.Object, "subjects") {
				if sub["kind"] == "ServiceAccount" && sub["namespace"] == ns {
					// ta-guard's own, or the one that scrapes its metrics.
					assert.Contains(t, []any{full, full + "-metrics-scraper"}, sub["name"], "%s %s binds a ServiceAccount of the release", o.GetKind(), o.GetName())
				}
			}
		}
		vwc := one(t, objs, "ValidatingWebhookConfiguration", full)
		wh := vwc.Object["webhooks"].([]any)[0].(map[string]any)
		svcRef := wh["clientConfig"].(map[string]any)["service"].(map[string]any)
		assert.Equal(t, ns, svcRef["namespace"])
		assert.Equal(t, full, svcRef["name"])
		values := wh["namespaceSelector"].(map[string]any)["matchExpressions"].([]any)[0].(map[string]any)["values"]
		assert.Equal(t, []any{ns, "kube-system"}, values, "its own namespace is left out")
		d := renderedDeployment(t, objs)
		assert.Contains(t, d.container.Args, "--webhook-configuration="+full, "the configuration it tightens is the release's")
		assert.Equal(t, full, d.Spec.Template.Spec.ServiceAccountName)
		svc := typed[corev1.Service](t, one(t, objs, "Service", full))
		assert.Equal(t, release, svc.Spec.Selector["app.kubernetes.io/instance"], "the Service selects this release's Pods only")
		for k, v := range svc.Spec.Selector {
			assert.Equal(t, v, d.Spec.Template.Labels[k], "the Service selects the Deployment's Pods")
			assert.Equal(t, v, d.Spec.Selector.MatchLabels[k])
		}
		cr := typed[rbacv1.ClusterRole](t, one(t, objs, "ClusterRole", full))
		assert.Contains(t, cr.Rules, rbacv1.PolicyRule{APIGroups: []string{"admissionregistration.k8s.io"}, ResourceNames: []string{full},
			Resources: []string{"validatingwebhookconfigurations"}, Verbs: []string{"get", "update"}})
		data := one(t, objs, "Secret", full+"-webhook-tls").Object["data"].(map[string]any)
		ca, crt := decodePEM(t, data["ca.crt"].(string)), decodePEM(t, data["tls.crt"].(string))
		pool := x509.NewCertPool()
		pool.AddCert(ca)
		_, err := crt.Verify(x509.VerifyOptions{DNSName: full + "." + ns + ".svc", Roots: pool})
		require.NoError(t, err, "the certificate names the release's Service in the release's namespace")
		sm := one(t, objs, "ServiceMonitor", "ta-guard")
		ep := nestedSlice(sm.Object["spec"].(map[string]any), "endpoints")[0]
		assert.Equal(t, full+"."+ns+".svc", ep["tlsConfig"].(map[string]any)["serverName"])
		assert.Equal(t, "app.kubernetes.io/name", sm.Object["spec"].(map[string]any)["jobLabel"], "the job stays ta-guard, as the dashboard and alerts select")
		creds := ep["authorization"].(map[string]any)["credentials"].(map[string]any)
		token := one(t, objs, "Secret", creds["name"].(string))
		assert.Equal(t, full+"-metrics-scraper", token.GetAnnotations()["kubernetes.io/service-account.name"], "the release's scraper's token")
		one(t, objs, "ServiceAccount", full+"-metrics-scraper")
	})
	t.Run("monitoring: the labels Prometheus selects by, its ServiceAccount's discovery", func(t *testing.T) {
		objs := helmTemplate(t, "monitoring.enabled=true", "monitoring.labels.release=kps",
			"monitoring.prometheusServiceAccount.name=kps-kube-prometheus-prometheus", "monitoring.prometheusServiceAccount.namespace=observability")
		for _, kind := range []string{"ServiceMonitor", "PrometheusRule"} {
			assert.Equal(t, "kps", one(t, objs, kind, "ta-guard").GetLabels()["release"], kind)
		}
		rb := typed[rbacv1.RoleBinding](t, one(t, objs, "RoleBinding", "ta-guard-prometheus-discovery"))
		assert.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: "kps-kube-prometheus-prometheus", Namespace: "observability"}}, rb.Subjects)
	})
	t.Run("the PolicyReport CRD on request, the one the tests install", func(t *testing.T) {
		want, err := os.ReadFile(filepath.Join(repoRoot, "config/crd/policyreport/wgpolicyk8s.io_policyreports.yaml"))
		require.NoError(t, err)
		crd := one(t, helmTemplate(t, "policyReportCRD.install=true"), "CustomResourceDefinition", "policyreports.wgpolicyk8s.io")
		assert.Equal(t, byKey(parseYAML(t, string(want))), byKey([]*unstructured.Unstructured{crd}))
		_, err = os.Stat(filepath.Join(repoRoot, "charts/ta-guard/files/wgpolicyk8s.io_policyreports.yaml"))
		require.NoError(t, err)
	})
}

// The chart's objects pass the real API server's validation in a server-side
// dry run, with cert-manager's kinds and without them.
func TestHelmChartServerDryRun(t *testing.T) {
	cl := apiServer(t)
	ensureNamespace(t, cl)
	for _, set := range [][]string{{"mode=enforce"}, {"mode=audit", "certManager.enabled=false", "createNamespace=false"}, {"mode=warn", "certManager.enabled=false", "selfSignedBy=helm"}} {
		t.Run(strings.Join(set, " "), func(t *testing.T) {
			args := []string{"template", "ta-guard", "charts/ta-guard", "--namespace", namespace}
			for _, s := range set {
				args = append(args, "--set", s)
			}
			file := filepath.Join(t.TempDir(), "chart.yaml")
			require.NoError(t, os.WriteFile(file, []byte(helm(t, args...)), 0o600))
			stdout, stderr := kubectl(t, cl.kubeconfig, "apply", "--server-side", "--dry-run=server", "--field-manager=ta-guard-helm-test", "-f", file)
			assert.NotContains(t, stderr, "Warning")
			assert.Contains(t, stdout, "validatingwebhookconfiguration.admissionregistration.k8s.io/ta-guard serverside-applied (server dry run)")
			assert.Contains(t, stdout, "deployment.apps/ta-guard serverside-applied (server dry run)")
		})
	}
	// helm install prints the chart's NOTES: the mode, and how to see the
	// install working, with this release's names.
	for _, mode := range overlays {
		t.Run("NOTES of mode "+mode, func(t *testing.T) {
			out := helm(t, "install", "guard", "charts/ta-guard", "--namespace", namespace, "--dry-run=server",
				"--kubeconfig", cl.kubeconfig, "--set", "mode="+mode, "--set", "certManager.enabled=false")
			_, notes, ok := strings.Cut(out, "\nNOTES:\n")
			require.True(t, ok, "helm install prints NOTES:\n%s", out)
			assert.Contains(t, notes, "installed in namespace "+namespace+", mode "+mode)
			assert.Contains(t, notes, "kubectl -n "+namespace+" rollout status deployment/guard-ta-guard --timeout=3m")
		})
	}
}

func mustHelmPath(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(repoRoot, "hack", "helm.sh")).Output()
	require.NoError(t, err)
	return strings.TrimSpace(string(out))
}

func decodePEM(t *testing.T, b64 string) *x509.Certificate {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(b64)
	require.NoError(t, err)
	block, _ := pem.Decode(raw)
	require.NotNil(t, block)
	c, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return c
}

// nestedSlice is the list of objects at key of obj, if any.
func nestedSlice(obj map[string]any, key string) []map[string]any {
	items, _ := obj[key].([]any)
	var out []map[string]any
	for _, it := range items {
		if m, ok := it.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}
