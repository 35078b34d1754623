package deploy

import (
	"net"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/internal/policy"
	"github.com/ta-guard/ta-guard/internal/webhook"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

// typed converts a rendered object into its Go type.
func typed[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, out, true),
		"%s %s: a field the Go type does not know", u.GetKind(), u.GetName())
	return out
}

// deployment is the rendered Deployment, its container and its arguments.
type deployment struct {
	*appsv1.Deployment
	container corev1.Container
	args      map[string]string // --name=value
}

func renderedDeployment(t *testing.T, objs []*unstructured.Unstructured) deployment {
	t.Helper()
	d := typed[appsv1.Deployment](t, one(t, objs, "Deployment", ""))
	require.Len(t, d.Spec.Template.Spec.Containers, 1)
	c := d.Spec.Template.Spec.Containers[0]
	require.NotEmpty(t, c.Args)
	require.Equal(t, "serve", c.Args[0], "the container runs `ta-guard serve`")
	args := map[string]string{}
	for _, a := range c.Args[1:] {
		require.True(t, strings.HasPrefix(a, "--"), "argument %q: write --name=value", a)
		name, value, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !ok {
			value = "true"
		}
		args[name] = value
	}
	return deployment{Deployment: d, container: c, args: args}
}

func (d deployment) containerPort(t *testing.T, name string) int32 {
	t.Helper()
	for _, p := range d.container.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("container has no port named %q", name)
	return 0
}

// portOfAddress is the port of a bind address such as ":8080".
func portOfAddress(t *testing.T, addr string) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	require.NoError(t, err, addr)
	n, err := strconv.Atoi(p)
	require.NoError(t, err, addr)
	return int32(n)
}

// volumeMountedAt finds the volume whose mount holds the file or directory.
func (d deployment) volumeMountedAt(t *testing.T, file string) (corev1.Volume, string) {
	t.Helper()
	for _, m := range d.container.VolumeMounts {
		if file == m.MountPath || strings.HasPrefix(file, m.MountPath+"/") {
			for _, v := range d.Spec.Template.Spec.Volumes {
				if v.Name == m.Name {
					assert.True(t, m.ReadOnly, "volume %s is mounted read-only", v.Name)
					return v, strings.TrimPrefix(strings.TrimPrefix(file, m.MountPath), "/")
				}
			}
		}
	}
	t.Fatalf("nothing is mounted at %s", file)
	return corev1.Volume{}, ""
}

// TestOverlaysRender renders every overlay with kubectl kustomize and checks
// that its objects agree with each other and with the binary: names, ports,
// paths, certificates, selectors and the policy each mode promises.
func TestOverlaysRender(t *testing.T) {
	for _, overlay := range overlays {
		t.Run(overlay, func(t *testing.T) {
			objs := render(t, "overlays/"+overlay)
			for _, o := range objs {
				if o.GetKind() != "Namespace" && o.GetNamespace() != "" {
					assert.Equal(t, namespace, o.GetNamespace(), "%s %s", o.GetKind(), o.GetName())
				}
				assert.NotEqual(t, "Secret", o.GetKind(), "no Secret is shipped: cert-manager writes them")
			}
			d := renderedDeployment(t, objs)
			svc := typed[corev1.Service](t, one(t, objs, "Service", ""))
			vwc := typed[admissionregistrationv1.ValidatingWebhookConfiguration](t, one(t, objs, "ValidatingWebhookConfiguration", ""))
			podLabels := labels.Set(d.Spec.Template.Labels)

			t.Run("image: a versioned tag, pulled if not present", func(t *testing.T) {
				repo, tag, ok := strings.Cut(d.container.Image, ":")
				require.True(t, ok, "image %q has a tag", d.container.Image)
				assert.Equal(t, "ghcr.io/ta-guard/ta-guard", repo)
				assert.Regexp(t, `^v?\d+\.\d+\.\d+$`, tag, "a version, not latest: with IfNotPresent a node keeps the first latest it pulled")
				assert.Equal(t, corev1.PullIfNotPresent, d.container.ImagePullPolicy)
			})

			t.Run("webhook configuration", func(t *testing.T) {
				require.Len(t, vwc.Webhooks, 1)
				w := vwc.Webhooks[0]
				assert.Equal(t, []string{"v1"}, w.AdmissionReviewVersions)
				assert.Equal(t, admissionregistrationv1.SideEffectClassNone, *w.SideEffects)
				assert.Equal(t, int32(5), *w.TimeoutSeconds)
				// Installed failing open whatever the mode: a ready replica
				// sets the mode's failurePolicy on this configuration, so an
				// install that never becomes ready blocks nothing.
				assert.Equal(t, admissionregistrationv1.Ignore, *w.FailurePolicy)
				assert.Contains(t, d.container.Args, "--webhook-configuration="+vwc.Name)
				if overlay == "enforce" {
					assert.Contains(t, d.container.Args, "--failure-policy=Fail")
				} else {
					for _, a := range d.container.Args {
						assert.NotContains(t, a, "--failure-policy", "only enforce fails closed")
					}
				}

				var got []string
				for _, r := range w.Rules {
					ops := make([]string, 0, len(r.Operations))
					for _, op := range r.Operations {
						ops = append(ops, string(op))
					}
					sort.Strings(ops)
					assert.Equal(t, []string{"CREATE", "DELETE", "UPDATE"}, ops)
					for _, g := range r.APIGroups {
						for _, v := range r.APIVersions {
							for _, res := range r.Resources {
								assert.NotContains(t, res, "/", "main resources only")
								got = append(got, g+"/"+v+"/"+res)
							}
						}
					}
				}
				// Exactly the kinds the registry says the webhook reviews.
				var want []string
				for _, k := range model.Kinds() {
					if k.Reviewed {
						want = append(want, k.GVK.Group+"/"+k.GVK.Version+"/"+k.Resource)
					}
				}
				assert.ElementsMatch(t, want, got)
				for _, k := range got {
					assert.NotContains(t, k, "*")
				}

				// The API server calls the Service, on the container's webhook port, at the handler's path.
				ref := w.ClientConfig.Service
				require.NotNil(t, ref)
				assert.Equal(t, svc.Name, ref.Name)
				assert.Equal(t, svc.Namespace, ref.Namespace)
				assert.Equal(t, webhook.Path, *ref.Path)
				port := int32(443)
				if ref.Port != nil {
					port = *ref.Port
				}
				var target intstr.IntOrString
				for _, p := range svc.Spec.Ports {
					if p.Port == port {
						target = p.TargetPort
					}
				}
				assert.Equal(t, intstr.FromString("webhook"), target, "Service port %d targets the container's webhook port", port)
				assert.Equal(t, d.containerPort(t, "webhook"), portOfAddress(t, ":"+d.args["port"]))

				// ta-guard's own namespace is never sent; the others are.
				sel, err := metav1.LabelSelectorAsSelector(w.NamespaceSelector)
				require.NoError(t, err)
				nsLabels := func(ns string) labels.Set { return labels.Set{corev1.LabelMetadataName: ns} }
				assert.False(t, sel.Matches(nsLabels(d.Namespace)), "the webhook leaves out %s", d.Namespace)
				assert.True(t, sel.Matches(nsLabels("opentelemetry")))
				assert.Equal(t, overlay != "enforce", sel.Matches(nsLabels("kube-system")), "kube-system is left out when failing closed only")
			})

			t.Run("certificates", func(t *testing.T) {
				certs := ofKind(objs, "Certificate")
				issuers := ofKind(objs, "Issuer")
				require.Len(t, certs, 2)
				require.Len(t, issuers, 2)
				secret, _ := d.volumeMountedAt(t, d.args["cert-dir"])
				require.NotNil(t, secret.Secret, "the cert dir is a Secret volume")
				var serving *unstructured.Unstructured
				for _, c := range certs {
					if name, _, _ := unstructured.NestedString(c.Object, "spec", "secretName"); name == secret.Secret.SecretName {
						serving = c
					}
				}
				require.NotNil(t, serving, "a Certificate writes Secret %s", secret.Secret.SecretName)
				keys := map[string]bool{}
				for _, it := range secret.Secret.Items {
					keys[it.Key] = it.Key == it.Path
				}
				assert.Equal(t, map[string]bool{"tls.crt": true, "tls.key": true}, keys, "the cert dir holds tls.crt and tls.key")

				assert.Equal(t, serving.GetNamespace()+"/"+serving.GetName(), vwc.Annotations["cert-manager.io/inject-ca-from"])
				dns, _, _ := unstructured.NestedStringSlice(serving.Object, "spec", "dnsNames")
				assert.Contains(t, dns, svc.Name+"."+svc.Namespace+".svc", "the name the API server dials")
				assert.Contains(t, dns, svc.Name+"."+svc.Namespace+".svc.cluster.local")

				// serving <- CA Issuer <- CA Certificate <- self-signed Issuer.
				issuerOf := func(c *unstructured.Unstructured) *unstructured.Unstructured {
					kind, _, _ := unstructured.NestedString(c.Object, "spec", "issuerRef", "kind")
					name, _, _ := unstructured.NestedString(c.Object, "spec", "issuerRef", "name")
					assert.Equal(t, "Issuer", kind)
					return one(t, issuers, "Issuer", name)
				}
				caIssuer := issuerOf(serving)
				caSecret, found, _ := unstructured.NestedString(caIssuer.Object, "spec", "ca", "secretName")
				require.True(t, found, "the serving certificate's issuer is a CA issuer")
				var ca *unstructured.Unstructured
				for _, c := range certs {
					if name, _, _ := unstructured.NestedString(c.Object, "spec", "secretName"); name == caSecret {
						ca = c
					}
				}
				require.NotNil(t, ca, "a Certificate writes the CA Secret %s", caSecret)
				isCA, _, _ := unstructured.NestedBool(ca.Object, "spec", "isCA")
				assert.True(t, isCA)
				rotation, _, _ := unstructured.NestedString(ca.Object, "spec", "privateKey", "rotationPolicy")
				assert.Equal(t, "Never", rotation, "a renewed CA keeps its key, so both bundles verify both certificates")
				_, selfSigned, _ := unstructured.NestedMap(issuerOf(ca).Object, "spec", "selfSigned")
				assert.True(t, selfSigned, "the CA is bootstrapped by a self-signed Issuer")
			})

			t.Run("deployment", func(t *testing.T) {
				spec := d.Spec.Template.Spec
				assert.Equal(t, int32(2), *d.Spec.Replicas)
				sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
				require.NoError(t, err)
				assert.True(t, sel.Matches(podLabels))
				assert.Equal(t, intstr.FromInt32(0), *d.Spec.Strategy.RollingUpdate.MaxUnavailable, "a rollout never goes below two replicas")

				require.NotNil(t, spec.Affinity)
				require.NotNil(t, spec.Affinity.PodAntiAffinity)
				anti := spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution
				require.Len(t, anti, 1)
				assert.Equal(t, corev1.LabelHostname, anti[0].PodAffinityTerm.TopologyKey)
				antiSel, err := metav1.LabelSelectorAsSelector(anti[0].PodAffinityTerm.LabelSelector)
				require.NoError(t, err)
				assert.True(t, antiSel.Matches(podLabels), "the replicas repel each other")

				assert.Equal(t, serviceAccount, spec.ServiceAccountName)
				assert.True(t, *spec.AutomountServiceAccountToken, "ta-guard needs its token")
				sa := typed[corev1.ServiceAccount](t, one(t, objs, "ServiceAccount", serviceAccount))
				assert.False(t, *sa.AutomountServiceAccountToken, "only the pod that needs the token mounts it")

				psc := spec.SecurityContext
				require.NotNil(t, psc)
				assert.True(t, *psc.RunAsNonRoot)
				assert.NotZero(t, *psc.RunAsUser)
				assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, psc.SeccompProfile.Type)
				csc := d.container.SecurityContext
				require.NotNil(t, csc)
				assert.True(t, *csc.ReadOnlyRootFilesystem)
				assert.False(t, *csc.AllowPrivilegeEscalation)
				assert.Equal(t, []corev1.Capability{"ALL"}, csc.Capabilities.Drop)
				assert.Empty(t, csc.Capabilities.Add)

				health := d.containerPort(t, "health")
				assert.Equal(t, health, portOfAddress(t, d.args["health-probe-bind-address"]))
				assert.Equal(t, d.containerPort(t, "metrics"), portOfAddress(t, d.args["metrics-bind-address"]))
				_, plain := d.args["metrics-secure"]
				assert.False(t, plain, "metrics stay HTTPS with authentication (the flag's default)")
				for probe, p := range map[string]*corev1.Probe{"/readyz": d.container.ReadinessProbe, "/healthz": d.container.LivenessProbe} {
					require.NotNil(t, p, probe)
					require.NotNil(t, p.HTTPGet, probe)
					assert.Equal(t, probe, p.HTTPGet.Path)
					assert.Equal(t, intstr.FromString("health"), p.HTTPGet.Port)
				}

				res := d.container.Resources
				for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
					req, lim := res.Requests[r], res.Limits[r]
					assert.False(t, req.IsZero(), "requests.%s", r)
					assert.False(t, lim.IsZero(), "limits.%s", r)
					assert.LessOrEqual(t, req.Cmp(lim), 0, "requests.%s <= limits.%s", r, r)
				}
				var gomemlimit string
				for _, e := range d.container.Env {
					if e.Name == "GOMEMLIMIT" {
						gomemlimit = e.Value
					}
				}
				limit := res.Limits[corev1.ResourceMemory]
				soft, err := resource.ParseQuantity(strings.TrimSuffix(gomemlimit, "B"))
				require.NoError(t, err, "GOMEMLIMIT %q", gomemlimit)
				assert.Less(t, soft.Value(), limit.Value(), "GOMEMLIMIT stays under limits.memory")
				assert.Greater(t, soft.Value(), limit.Value()*8/10, "GOMEMLIMIT is close to limits.memory")

				timeout, err := time.ParseDuration(d.args["request-timeout"])
				require.NoError(t, err)
				assert.Less(t, timeout, time.Duration(*vwc.Webhooks[0].TimeoutSeconds)*time.Second, "ta-guard answers before the API server gives up")
			})

			t.Run("policy", func(t *testing.T) {
				file := d.args["policy"]
				v, key := d.volumeMountedAt(t, path.Dir(file))
				require.NotNil(t, v.ConfigMap, "the policy is a ConfigMap volume")
				if key == "" {
					key = path.Base(file)
				}
				cm := typed[corev1.ConfigMap](t, one(t, objs, "ConfigMap", v.ConfigMap.Name))
				data, ok := cm.Data[key]
				require.True(t, ok, "ConfigMap %s has key %s", cm.Name, key)
				p, err := policy.Parse([]byte(data))
				require.NoError(t, err)
				switch overlay {
				case "audit":
					assert.Equal(t, rules.Audit, p.DefaultAction)
					assert.Empty(t, p.Rules)
				case "warn":
					assert.Equal(t, rules.Action(""), p.DefaultAction, "catalog defaults")
					assert.Empty(t, p.Rules)
				case "enforce":
					assert.Equal(t, rules.Deny, p.DefaultAction)
					for _, id := range []rules.ID{rules.TA003, rules.TA104, rules.TA201, rules.TA011} {
						assert.Equal(t, rules.Deny, p.ActionFor(id), "%s", id)
					}
					// What another object arriving later can make untrue is only warned about.
					for _, id := range []rules.ID{rules.TA012, rules.TA013, rules.TA101, rules.TA102, rules.TA103, rules.TA202} {
						assert.Equal(t, rules.Warn, p.ActionFor(id), "%s", id)
					}
					for _, r := range rules.All() {
						assert.NotEqual(t, rules.Off, p.ActionFor(r.ID), "%s", r.ID)
					}
				}
			})

			t.Run("service, disruption budget and network policy select the pods", func(t *testing.T) {
				assert.True(t, labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels))
				assert.Equal(t, corev1.ServiceTypeClusterIP, svc.Spec.Type)

				pdb := typed[policyv1.PodDisruptionBudget](t, one(t, objs, "PodDisruptionBudget", ""))
				sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
				require.NoError(t, err)
				assert.True(t, sel.Matches(podLabels))
				assert.Equal(t, intstr.FromInt32(1), *pdb.Spec.MaxUnavailable)

				np := typed[networkingv1.NetworkPolicy](t, one(t, objs, "NetworkPolicy", ""))
				sel, err = metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
				require.NoError(t, err)
				assert.True(t, sel.Matches(podLabels))
				assert.Equal(t, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}, np.Spec.PolicyTypes)
				var ports []int32
				for _, r := range np.Spec.Ingress {
					for _, p := range r.Ports {
						require.NotNil(t, p.Port)
						ports = append(ports, p.Port.IntVal)
					}
					require.NotEmpty(t, r.Ports, "every rule names its port")
				}
				sort.Slice(ports, func(i, j int) bool { return ports[i] < ports[j] })
				assert.Equal(t, []int32{d.containerPort(t, "metrics"), d.containerPort(t, "webhook")}, ports, "only the webhook and metrics ports are admitted")
			})

			t.Run("roles hold exactly the permissions ta-guard uses", func(t *testing.T) {
				assert.Equal(t, expectedGrants(), grantsOf(t, objs, serviceAccount))
			})
		})
	}
}

// grant is one permission: verb on group/resource, cluster-wide ("") or in
// a namespace.
type grant struct{ Namespace, Group, Resource, Verb, Name string }

func (g grant) String() string {
	where := "cluster-wide"
	if g.Namespace != "" {
		where = "in " + g.Namespace
	}
	res := g.Group + "/" + g.Resource
	if g.Name != "" {
		res += " named " + g.Name
	}
	return g.Verb + " " + res + " " + where
}

// informerResources are the group/resource of every kind of the model's
// registry that internal/watch watches (TestRBAC holds the registry's
// resource names to the API server's RESTMapper).
var informerResources = func() []string {
	var out []string
	for _, k := range model.Kinds() {
		if r := k.GVK.Group + "/" + k.Resource; k.Watched && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}()

// expectedGrants is everything ta-guard's code does with the API server, and
// so everything its roles may grant.
func expectedGrants() []string {
	var gs []grant
	add := func(ns, gr string, verbs ...string) {
		group, res, _ := strings.Cut(gr, "/")
		res, name, _ := strings.Cut(res, "#")
		for _, v := range verbs {
			gs = append(gs, grant{ns, group, res, v, name})
		}
	}
	for _, r := range informerResources {
		add("", r, "list", "watch") // internal/watch: informers
	}
	add("", "/serviceaccounts", "get", "list", "watch") // internal/access: TA010; metadata watch invalidates answers
	for _, r := range []string{"roles", "rolebindings", "clusterroles", "clusterrolebindings"} {
		add("", "rbac.authorization.k8s.io/"+r, "list", "watch") // internal/server: RBAC changes invalidate TA008 answers
	}
	add("", "authorization.k8s.io/subjectaccessreviews", "create") // internal/access: TA008; the metrics endpoint
	add("", "authentication.k8s.io/tokenreviews", "create")        // the metrics endpoint: who scrapes
	// internal/audit: reports, events, and the leader election Lease.
	add("", "wgpolicyk8s.io/policyreports", "create", "list", "watch")
	add("", "wgpolicyk8s.io/policyreports#ta-guard", "get", "update", "patch", "delete") // its own reports only
	add("", "openreports.io/reports", "create", "list", "watch")                         // the same as OpenReports
	add("", "openreports.io/reports#ta-guard", "get", "update", "patch", "delete")
	add("", "/events", "create", "patch")
	add("", "events.k8s.io/events", "create", "patch")
	add(namespace, "coordination.k8s.io/leases", "get", "create", "update")
	// internal/server: failurePolicyKeeper sets its own configuration's failurePolicy once ready.
	add("", "admissionregistration.k8s.io/validatingwebhookconfigurations#ta-guard", "get", "update")
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = g.String()
	}
	sort.Strings(out)
	return out
}

// grantsOf expands every rule of the roles bound to the account. Wildcards,
// Non-resource URLs fail the test: ta-guard needs none; a rule with
// resourceNames grants each name apart.
func grantsOf(t *testing.T, objs []*unstructured.Unstructured, account string) []string {
	t.Helper()
	bound := func(subjects []rbacv1.Subject) bool {
		for _, s := range subjects {
			if s.Kind == rbacv1.ServiceAccountKind && s.Name == account && s.Namespace == namespace {
				return true
			}
			assert.Failf(t, "foreign subject", "a binding names %+v", s)
		}
		return false
	}
	roleRules := map[string][]rbacv1.PolicyRule{}
	for _, o := range ofKind(objs, "ClusterRole", "Role") {
		switch o.GetKind() {
		case "ClusterRole":
			roleRules["ClusterRole/"+o.GetName()] = typed[rbacv1.ClusterRole](t, o).Rules
		case "Role":
			roleRules["Role/"+o.GetNamespace()+"/"+o.GetName()] = typed[rbacv1.Role](t, o).Rules
		}
	}
	set := map[string]bool{}
	expand := func(ns string, rs []rbacv1.PolicyRule) {
		for _, r := range rs {
			assert.Empty(t, r.NonResourceURLs)
			names := r.ResourceNames
			if len(names) == 0 {
				names = []string{""}
			}
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					for _, v := range r.Verbs {
						for _, n := range names {
							assert.NotContains(t, g+res+v, "*", "no wildcards")
							assert.NotEqual(t, "secrets", res, "no Secrets")
							set[grant{ns, g, res, v, n}.String()] = true
						}
					}
				}
			}
		}
	}
	for _, o := range ofKind(objs, "ClusterRoleBinding", "RoleBinding") {
		switch o.GetKind() {
		case "ClusterRoleBinding":
			b := typed[rbacv1.ClusterRoleBinding](t, o)
			require.Equal(t, "ClusterRole", b.RoleRef.Kind)
			if bound(b.Subjects) {
				rs, ok := roleRules["ClusterRole/"+b.RoleRef.Name]
				require.True(t, ok, "ClusterRoleBinding %s binds a ClusterRole that is not shipped", b.Name)
				expand("", rs)
			}
		case "RoleBinding":
			b := typed[rbacv1.RoleBinding](t, o)
			require.Equal(t, "Role", b.RoleRef.Kind, "RoleBinding %s", b.Name)
			if bound(b.Subjects) {
				rs, ok := roleRules["Role/"+b.Namespace+"/"+b.RoleRef.Name]
				require.True(t, ok, "RoleBinding %s binds a Role that is not shipped", b.Name)
				expand(b.Namespace, rs)
			}
		}
	}
	out := make([]string, 0, len(set))
	for g := range set {
		out = append(out, g)
	}
	sort.Strings(out)
	return out
}
