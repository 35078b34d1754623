package validate

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ta-guard/ta-guard/internal/model"
)

// The wording of the findings about access: what a TA's or a collector's
// service account may get (TA008, TA010, TA017, TA108), the Secrets a
// monitor names (TA109), the credentials a TA serves redacted (TA110), and
// what the API server serves (TA009, TA106).

// TA108 and TA109: the Secrets of a monitor.

func (u secretUse) fields() string {
	out := make([]string, len(u.refs))
	for i, r := range u.refs {
		out[i] = r.Field.String()
	}
	return strings.Join(out, ", ")
}

// whoseTA names a TA for messages: a collector's embedded TA by its
// collector, a standalone one by itself.
func whoseTA(a *model.Allocator) string {
	if a.Standalone {
		return a.Ref.String()
	}
	return a.Ref.String() + "'s TA"
}

// secretEndpoints renders endpoint indexes: "endpoint 0", "endpoints 0, 2".
func secretEndpoints(eps []int) string {
	out := make([]string, len(eps))
	for i, e := range eps {
		out[i] = strconv.Itoa(e)
	}
	if len(eps) == 1 {
		return "endpoint " + out[0]
	}
	return "endpoints " + strings.Join(out, ", ")
}

func secretKeyList(keys []string) string {
	if len(keys) == 0 {
		return "no keys"
	}
	s := append([]string(nil), keys...)
	sort.Strings(s)
	return strings.Join(s, ", ")
}

// ta108PassText is TA108's detail when every TA may get the Secrets.
func ta108PassText(names []string) string {
	return fmt.Sprintf("every TA that reads it may get %s %s", either(len(names), "Secret", "Secrets"), strings.Join(names, ", "))
}

// ta108Text says which TAs may not get which of the monitor's Secrets
// (names, used at endpoints eps), one reason per TA and Secret, and a
// grant per TA. A TA the reader may not see stays unnamed, and so does an
// account it may not see: the grant is asked of their owners.
func ta108Text(denials []secretDenial, namespace string, names []string, eps []int) (what, fix string, reasons []string) {
	var who, fixes []string
	for _, d := range denials {
		ta, account := whoseTA(d.a), "ServiceAccount "+d.account.NamespacedName()
		if !d.taShown {
			ta = unseen(1, "TA")
		}
		if !d.saShown {
			account = "its ServiceAccount (its owners know which)"
		}
		who = append(who, ta)
		var mine []string
		for _, u := range d.uses {
			mine = append(mine, u.name)
			reasons = append(reasons, fmt.Sprintf("%s (%s) may not get Secret %s/%s: %s",
				ta, account, namespace, u.name, u.fields()))
		}
		fixes = append(fixes, fmt.Sprintf("grant %s get on secrets %s in namespace %s (a Role with resourceNames: [%s] and a RoleBinding there)",
			account, strings.Join(mine, ", "), namespace, strings.Join(mine, ", ")))
	}
	verb := "it drops"
	if len(denials) > 1 {
		verb = "they drop"
	}
	what = fmt.Sprintf("%s may not get %s %s (%s): %s the monitor",
		strings.Join(who, " and "), either(len(names), "Secret", "Secrets"), strings.Join(names, ", "), secretEndpoints(eps), verb)
	fix = strings.Join(fixes, "; ") + "; prometheusCR.secretNamespaces grants no access"
	return what, fix, reasons
}

// ta109PassText is TA109's detail when the Secrets checked have every key.
func ta109PassText(checked []string) string {
	verb := "has"
	if len(checked) > 1 {
		verb = "have"
	}
	return fmt.Sprintf("%s %s %s every key named", either(len(checked), "Secret", "Secrets"), strings.Join(checked, ", "), verb)
}

// secretProblemText says what is wrong with a Secret of the monitor in
// namespace, and how to set it right.
func secretProblemText(p secretProblem, namespace string) (what, fix string) {
	if !p.exists {
		return fmt.Sprintf("Secret %s does not exist", p.secret),
			fmt.Sprintf("create Secret %s/%s with %s %s, or correct %s", namespace, p.secret, either(len(p.keys), "key", "keys"), strings.Join(p.keys, ", "), p.ref.Field)
	}
	return fmt.Sprintf("Secret %s has no key %q", p.secret, p.key),
		fmt.Sprintf("add key %q to Secret %s/%s (it has: %s), or correct %s", p.key, namespace, p.secret, secretKeyList(p.keys), p.ref.Field)
}

// ta109Text says the first problem and counts the others; each has its
// reason.
func ta109Text(problems []secretProblem, namespace string) (what, fix string, reasons []string) {
	var first string
	reasons = make([]string, len(problems))
	for i, q := range problems {
		w, f := secretProblemText(q, namespace)
		if i == 0 {
			first, fix = w, f
		}
		reasons[i] = w + ": " + q.use.fields()
	}
	p := problems[0]
	what = fmt.Sprintf("%s (%s): every TA that reads it drops the monitor", first, secretEndpoints(p.eps))
	if len(problems) > 1 {
		what = fmt.Sprintf("%s (%s), and %d more: every TA that reads it drops the monitor", first, secretEndpoints(p.eps), len(problems)-1)
		fix = "create the Secrets and keys listed, or correct the references"
	}
	return what, fix, reasons
}

// TA110: the credentials a TA serves redacted.

// credentialsFix says how to let the credentials through.
const credentialsFix = "set mtls.enabled: true in the TA's spec (spec.targetAllocator.mtls of a collector, spec.mtls of a TargetAllocator; with cert-manager, or useCertManager: false and your own certificates), or allowInsecureAuthSecrets: true where a service mesh already encrypts the TA's traffic, or use the *_file forms (password_file, credentials_file), which name a file on the collector pod and are not redacted"

// gateUnknown completes credentialsFix where no operator is in view.
const gateUnknown = "; no OpenTelemetry Operator Pod or workload labelled " + model.OperatorNameLabel + "=" + model.OperatorName +
	" is in view, so whether yours runs before v0.153 with --feature-gates=" + "operator.targetallocator.mtls (which served them) is unknown: if it does, annotate ta-guard.io/skip: \"TA110\""

// ta110Fix is TA110's fix, and where no operator is in view
// (operatorSeen false), that ta-guard could not tell its feature gate.
func ta110Fix(operatorSeen bool) string {
	if !operatorSeen {
		return credentialsFix + gateUnknown
	}
	return credentialsFix
}

// ta110PassText is TA110's detail when every TA serves the credentials.
func ta110PassText() string {
	return "every TA concerned serves credentials to its collectors (mtls or allowInsecureAuthSecrets)"
}

// ta110GatedText is TA110's detail when the operator Pod may run its TAs
// with mTLS by feature gate.
func ta110GatedText(operator model.Ref) string {
	return operator.String() + " runs the OpenTelemetry Operator before v0.153 with operator.targetallocator.mtls on, or may: its TAs serve credentials over mTLS"
}

// ta110MonitorText says that the TAs serve the fields of a monitor's
// endpoint redacted.
func ta110MonitorText(ev *evaluation, tas []*model.Allocator, fields []*field.Path) string {
	short := make([]string, len(fields))
	for i, p := range fields {
		short[i] = shortField(p)
	}
	return fmt.Sprintf("TA %s serves %s to its collectors as \"<secret>\": it runs without mTLS, so every scrape of the job sends that text as the credential",
		ev.allocatorNames(tas), strings.Join(short, ", "))
}

// ta110ServedText is the subject and what of TA110 for a credential at
// path of the job, in the scrape configs a TA serves.
func ta110ServedText(job string, path *field.Path) (subject, what string) {
	return jobSubject(job),
		fmt.Sprintf("%s reaches the collector as \"<secret>\": the TA serves these scrape configs without mTLS, so every scrape of the job sends that text as the credential", shortField(path))
}

// TA017: what a collector's service account may get of the kubelet.

// kubeletMonitorSource names a ServiceMonitor as the source of kubelet jobs.
func kubeletMonitorSource(m model.Ref) string {
	return "ServiceMonitor " + m.NamespacedName()
}

// kubeletConfigsSource names the scrape configs a TA serves a collector
// as the source of kubelet jobs.
func kubeletConfigsSource() string {
	return "its scrape configs"
}

// ta017PassText is TA017's detail when the account may get every nodes
// subresource needed.
func ta017PassText(sa string, subresources []string) string {
	return "service account " + sa + " may get nodes/" + strings.Join(subresources, ", nodes/")
}

// ta017Text says that collector's service account sa lacks permissions
// its kubelet jobs (jobs of them, viaAPI of those through the API
// server's proxy, from sources) need, and who answers 403.
func ta017Text(collector model.Ref, sa string, missing []Permission, jobs, viaAPI int, sources []string) (what, fix string) {
	lacks := make([]string, 0, len(missing))
	for _, p := range missing {
		lacks = append(lacks, p.String())
	}
	answers := "the kubelet answers 403"
	switch viaAPI {
	case 0:
	case jobs:
		answers = "the API server's proxy answers 403"
	default:
		answers = "the kubelet and the API server's proxy answer 403"
	}
	what = fmt.Sprintf("collector %s scrapes the kubelet (%s of %s) as service account %s, which may not %s: %s",
		collector.NamespacedName(), plural(jobs, "job"), listOf(sources, maxHints), sa, strings.Join(lacks, ", "), answers)
	fix = fmt.Sprintf("bind ServiceAccount %s/%s to a ClusterRole granting get on %s (kube-prometheus-stack's Prometheus ClusterRole has it); if your kubelets run with --authorization-mode=AlwaysAllow, annotate ta-guard.io/skip: \"TA017\"",
		collector.Namespace, sa, strings.Join(lacks, ", "))
	return what, fix
}

// TA008, TA009, TA010 and TA106: what the API server says of a TA and its
// monitors.

// groupPermissions renders permissions one line per resource and scope:
// "servicemonitors.monitoring.coreos.com (get, list, watch)".
func groupPermissions(ps []Permission) []string {
	var order []string
	verbs := map[string][]string{}
	for _, p := range ps {
		k := Permission{Group: p.Group, Resource: p.Resource, Namespace: p.Namespace}
		key := strings.TrimPrefix(k.String(), " ")
		if _, ok := verbs[key]; !ok {
			order = append(order, key)
		}
		verbs[key] = append(verbs[key], p.Verb)
	}
	out := make([]string, len(order))
	for i, k := range order {
		out[i] = fmt.Sprintf("%s (%s)", k, strings.Join(verbs[k], ", "))
	}
	return out
}

// ta008Text says that the TA's service account sa of namespace lacks the
// permissions missing; its reasons are the permissions grouped.
func ta008Text(namespace, sa string, missing []Permission) (what, fix string, reasons []string) {
	grouped := groupPermissions(missing)
	what = fmt.Sprintf("service account %s lacks %d permission(s) the TA needs, e.g. %s", sa, len(missing), missing[0])
	fix = fmt.Sprintf("bind ServiceAccount %s/%s to roles granting: %s", namespace, sa, strings.Join(grouped, "; "))
	return what, fix, grouped
}

// ta008PassText is TA008's detail when the account holds every permission.
func ta008PassText(sa string) string {
	return "service account " + sa + " holds every permission the TA needs"
}

// ta009Text says that the API server serves none of the monitor kinds.
func ta009Text(kinds []string) (what, fix string) {
	return fmt.Sprintf("prometheusCR is on but the API server serves no %s: the TA skips them silently", strings.Join(kinds, " / ")),
		"install the Prometheus Operator CRDs (monitoring.coreos.com)"
}

// ta009PassText is TA009's detail when the monitor kinds are served.
func ta009PassText() string {
	return "ServiceMonitor and PodMonitor are served"
}

// ta010Text says that the TA's service account sa, set at path, does not
// exist in namespace.
func ta010Text(namespace, sa string, path *field.Path) (what, fix string) {
	return fmt.Sprintf("serviceAccount %s does not exist in namespace %s: the TA pod cannot start", sa, namespace),
		fmt.Sprintf("create ServiceAccount %s/%s with the TA's permissions, or fix %s", namespace, sa, path)
}

// ta010PassText is TA010's detail when the account exists.
func ta010PassText(sa string) string {
	return "ServiceAccount " + sa + " exists"
}

// ta106ServicesText says that the Services the monitor matches have no
// endpoints, naming those the reader may see.
func ta106ServicesText(ev *evaluation, svcs []*model.Service) (what, fix string) {
	return fmt.Sprintf("the matched Services have no endpoints (%s): its jobs exist but stay empty",
			listShown(ev, svcs, maxHints, serviceRef, "Service", "", func(s *model.Service) string { return s.Ref.NamespacedName() })),
		"check that the Services' selectors match running Pods"
}

// ta106PodsText says that all n Pods the monitor matches have ended.
func ta106PodsText(n int) (what, fix string) {
	return fmt.Sprintf("all %d matched Pods are Failed or Succeeded: its jobs exist but stay empty", n),
		"check the workload behind the Pods"
}
