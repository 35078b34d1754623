package validate

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ta-guard/ta-guard/internal/model"
)

// The wording of the rules on a monitor (TA101-TA105, monitor_rules.go),
// on a Service (TA201, TA202, service_rules.go) and of TA018, a collector
// or Service applied after its monitors (lastapply_rules.go).

// readByText is TA101's detail when the monitor is read: who reads it.
func readByText(rs []*model.Reader) string {
	names := make([]string, len(rs))
	for i, r := range rs {
		names[i] = r.Ref.String()
	}
	return "read by " + strings.Join(names, ", ")
}

// notSelectedText is TA101 for a monitor that no TA reads: the closest TA
// and why it does not read the monitor.
type notSelectedText struct {
	kind model.MonitorKind
	ta   model.Ref
	// shown: the reader may see the TA. Which TA that is, the namespaces
	// it lists and the labels its selectors ask for are otherwise not
	// said: the finding says what kind of miss it is, its owners the rest.
	shown bool
	// why are the TA's reasons not to read the monitor (whyNot), the first
	// one the finding's.
	why []string
	// checked is how many TAs were weighed.
	checked int
	// field is the TA's selector of monitors of that kind.
	field *field.Path
	// shape: that selector is a v1alpha1 label map with a key that is
	// a mistake (model.Scope.MapKeyMistake).
	shape bool
	// unmet are the requirements of that selector that the monitor's
	// labels do not meet, when they may be said and it selects at all.
	unmet []string
}

// name is the TA as the finding names it.
func (t notSelectedText) name() string {
	if !t.shown {
		return "TA (" + unseen(1, t.ta.Kind) + ")"
	}
	return t.ta.String()
}

func (t notSelectedText) what() string {
	return fmt.Sprintf("read by no TA; closest %s: %s", t.name(), t.why[0])
}

func (t notSelectedText) fix() string {
	var fix []string
	if len(t.why) > 1 {
		fix = append(fix, "also: "+strings.Join(t.why[1:], "; "))
	}
	of := t.name()
	if !t.shown {
		of = "that TA"
	}
	if t.shape {
		// The selector's shape is the mistake, not the monitor's labels.
		fix = append(fix, fmt.Sprintf("fix the shape of %s of %s", t.field, of))
	} else if len(t.unmet) > 0 {
		fix = append(fix, fmt.Sprintf("give the %s labels that satisfy %s, or widen %s of %s", t.kind, strings.Join(t.unmet, ", "), t.field, of))
	} else {
		fix = append(fix, fmt.Sprintf("change %s or its namespace so that %s reads it", t.kind, of))
	}
	if t.checked > 1 {
		fix = append(fix, fmt.Sprintf("%d target allocators checked", t.checked))
	}
	fix = append(fix, `if no TA is meant to read it, annotate it ta-guard.io/skip: "TA101"`)
	return strings.Join(fix, "; ")
}

// matchNamesGoneText is TA105 for namespaceSelector.matchNames naming
// namespaces that do not exist.
func matchNamesGoneText(gone []string) (what, fix string) {
	return fmt.Sprintf("namespaceSelector.matchNames names %s, which does not exist", strings.Join(gone, ", ")),
		"create the namespace, or correct spec.namespaceSelector.matchNames"
}

// sdFindsNothingText is TA102 for a ScrapeConfig's Kubernetes service
// discovery that finds no object of the kind (Service or Pod) its role
// looks for.
func sdFindsNothingText(sd model.SDSelector, kind string) (what, fix string) {
	return fmt.Sprintf("its Kubernetes service discovery (role %s) finds no %s in %s with labels %s", sd.Role, kind, sd.Namespaces, sd.Selector),
		fmt.Sprintf("check %s and the namespaces of that kubernetesSDConfigs entry", sd.Field)
}

// namespaceRefsGoneText is TA105 for the namespaces a ScrapeConfig's
// service discovery or a Probe's ingress selector names at the field at,
// which do not exist.
func namespaceRefsGoneText(at *field.Path, gone []string) (what, fix string) {
	return fmt.Sprintf("%s names %s, which does not exist: its service discovery finds nothing there", at, strings.Join(gone, ", ")),
		"create the namespace, or correct " + at.String()
}

// matchesNothingText is TA102 for a monitor that matches no object of the
// kind, with its near misses. kubelet: it selects the kubelet's Service,
// which only a Prometheus Operator creates; offline: whether one runs is
// not known.
func matchesNothingText(m *model.Monitor, kind string, hints []string, kubelet, offline bool) (what, fix string) {
	what = fmt.Sprintf("no %s in %s matches selector %s", kind, m.Namespaces, m.Selector)
	fix = "check spec.selector and spec.namespaceSelector"
	if len(hints) > 0 {
		fix = "near misses: " + strings.Join(hints, "; ")
	}
	if kubelet {
		none := "and none runs here"
		if offline {
			none = "and the input holds no Prometheus Operator Deployment with that flag (if one runs elsewhere, add its manifest to the input)"
		}
		fix = "the kubelet has no Service of its own: only the Prometheus Operator creates one (its --kubelet-service=<namespace>/<name> flag, kube-prometheus-stack's kube-system/<release>-kube-prometheus-kubelet), " + none + "; scrape the kubelet with the collector's kubeletstats receiver or a kubernetes_sd_configs role: node job instead; " + fix
	}
	return what, fix
}

// nearMissElsewhereText is a near miss of TA102: an object the selector
// matches, in a namespace the monitor does not look in.
func nearMissElsewhereText(kind string, r model.Ref) string {
	return fmt.Sprintf("%s %s matches the selector but is in namespace %s", kind, r.NamespacedName(), r.Namespace)
}

// nearMissesElsewhereUnseenText counts the near misses in other
// namespaces that the reader may not see.
func nearMissesElsewhereUnseenText(kind string, n int) string {
	return unseen(n, kind) + " outside spec.namespaceSelector " + either(n, "matches", "match") + " the selector"
}

// nearMissLacksText is a near miss of TA102: an object in the monitor's
// namespaces that lacks one requirement of the selector.
func nearMissLacksText(kind string, r model.Ref, unmet string) string {
	return fmt.Sprintf("%s %s lacks %s", kind, r.NamespacedName(), unmet)
}

// nearMissesUnseenText counts the near misses in the monitor's namespaces
// that the reader may not see.
func nearMissesUnseenText(kind string, n int) string {
	return unseen(n, kind) + " " + either(n, "misses", "miss") + " the selector by one requirement"
}

// numericPortText is TA104: a ServiceMonitor endpoint's port is a number.
func numericPortText(name string) (what, fix string) {
	return fmt.Sprintf("port %q is a number, but port takes the name of a Service port", name),
		fmt.Sprintf("use the Service port's name, or targetPort: %s to match a container port number", name)
}

// noServicePortText is TA103 for a ServiceMonitor endpoint's port name
// that no matched Service has: the ports of the Services.
func noServicePortText(ev *evaluation, name string, svcs []*model.Service) (what, fix string) {
	return fmt.Sprintf("no matched Service has a port named %q; %s", name,
			listShown(ev, svcs, maxHints, serviceRef, "Service", " (its ports not shown)", func(s *model.Service) string { return s.Ref.Name + " has: " + s.PortList() })),
		fmt.Sprintf("name a Service port %q, or set the endpoint's port to an existing port name", name)
}

// noTargetPortText is TA103 for a ServiceMonitor endpoint's targetPort
// that no Pod behind the matched Services declares: the ports of their
// Pods, which behind finds (only for the Services the text names).
func noTargetPortText(ev *evaluation, mode model.PortMatch, name string, num int32, svcs []*model.Service, behind func(*model.Service) []*model.Pod) (what, fix string) {
	return fmt.Sprintf("no Pod behind the matched Services declares %s; %s", containerPortText(mode, name, num),
			listShown(ev, svcs, maxHints, serviceRef, "Service", " (its pods' ports not shown)", func(s *model.Service) string {
				return s.Ref.Name + "'s pods declare: " + podPorts(behind(s))
			})),
		"declare the port in the Pods' containers, or change the endpoint's targetPort"
}

// noContainerPortText is TA103 for a PodMonitor endpoint's port that no
// matched Pod declares; numericName: it asks for a container port name
// made of digits, which no name is.
func noContainerPortText(ev *evaluation, mode model.PortMatch, name string, num int32, pods []*model.Pod, numericName bool) (what, fix string) {
	fix = "declare the port in the Pods' containers, or change the endpoint"
	if numericName {
		fix = fmt.Sprintf("container port names contain a letter: use portNumber: %s", name)
	}
	return fmt.Sprintf("no matched Pod declares %s; %s", containerPortText(mode, name, num),
		listShown(ev, distinctPorts(pods), maxHints, podRef, "Pod", " (its ports not shown)", func(p *model.Pod) string { return p.Ref.Name + " declares: " + p.PortList() })), fix
}

func containerPortText(mode model.PortMatch, name string, num int32) string {
	if mode == model.MatchContainerPortNumber {
		return fmt.Sprintf("container port %d", num)
	}
	return fmt.Sprintf("a container port named %q", name)
}

// distinctPorts keeps one Pod per distinct port list: replicas of a workload
// would otherwise repeat the same line.
func distinctPorts(pods []*model.Pod) []*model.Pod {
	seen := map[string]bool{}
	var out []*model.Pod
	for _, p := range pods {
		k := p.PortList()
		if !seen[k] {
			seen[k] = true
			out = append(out, p)
		}
	}
	return out
}

// podPorts renders the declared ports of a Service's Pods.
func podPorts(pods []*model.Pod) string {
	if len(pods) == 0 {
		return "(no pods)"
	}
	set := map[string]bool{}
	for _, p := range pods {
		set[p.PortList()] = true
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, " | ")
}

// portMismatchText is TA202: the ServiceMonitor m selects the Service s
// but finds no port on it; shown: the reader may see m.
func portMismatchText(m *model.Monitor, s *model.Service, shown bool) (what, fix string) {
	who := m.Ref.String()
	if shown {
		fix = fmt.Sprintf("the ServiceMonitor's endpoints ask for %s; %s, or change the endpoints", endpointPorts(m), portAdvice(m))
	} else {
		// The ports it asks for are its spec, in a namespace the user
		// may not read: the owner of that namespace knows them.
		who = unseen(1, m.Ref.Kind)
		fix = fmt.Sprintf("ask the owners of that ServiceMonitor which port it scrapes; %s, or have them change its endpoints", portAdvice(m))
	}
	return fmt.Sprintf("%s selects it but finds no port on it; it has: %s", who, s.PortList()), fix
}

// orphanedText is TA201: endpoint i (ep) of the ServiceMonitor m found a
// port on the Service old and finds none once it is cur (nil: deleted);
// shown: the reader may see m.
func orphanedText(m *model.Monitor, i int, ep model.Endpoint, old, cur *model.Service, shown bool) (what, fix string) {
	// The webhook never shows a job, only the message. What changed is
	// the user's own Service, so it is said either way.
	job, which := jobSubject(m.Job(i)), "the ServiceMonitor "+m.Ref.NamespacedName()
	if !shown {
		job, which = fmt.Sprintf("job %d of %s", i, unseen(1, m.Ref.Kind)), "that ServiceMonitor"
	}
	return fmt.Sprintf("%s loses its last target Service: %s", job, whatChanged(m, ep, old, cur)),
		"keep the label or port " + which + " depends on, or update the ServiceMonitor first"
}

// whatChanged names the change that cut the endpoint off.
func whatChanged(m *model.Monitor, ep model.Endpoint, old, cur *model.Service) string {
	if cur == nil {
		return "the Service is deleted"
	}
	if unmet := m.Selector.Unmet(cur.Labels); len(unmet) > 0 {
		return fmt.Sprintf("its labels no longer match the selector (missing %s)", strings.Join(unmet, ", "))
	}
	mode, name, _ := ep.Match(model.ServiceMonitor)
	if mode == model.MatchServicePortName {
		for _, op := range old.Ports {
			if !ep.NameMatches(model.ServiceMonitor, op.Name) {
				continue
			}
			for _, np := range cur.Ports {
				if np.Port == op.Port {
					return fmt.Sprintf("port %s (%d) renamed to %s", displayName(op.Name), op.Port, displayName(np.Name))
				}
			}
			return fmt.Sprintf("port %s (%d) removed", displayName(op.Name), op.Port)
		}
		return fmt.Sprintf("no port named %q any more", name)
	}
	if mode == model.MatchAll {
		return "the Service has no ports any more"
	}
	return "the Pods behind the Service no longer declare " + ep.Describe(model.ServiceMonitor) + " (Service selector changed)"
}

// portAdvice says where the missing port belongs: on the Service for port
// names, on the Pods for targetPorts.
func portAdvice(m *model.Monitor) string {
	names, targets := false, false
	for _, ep := range m.Endpoints {
		switch mode, _, _ := ep.Match(model.ServiceMonitor); mode {
		case model.MatchServicePortName:
			names = true
		case model.MatchContainerPortName, model.MatchContainerPortNumber:
			targets = true
		}
	}
	switch {
	case names && targets:
		return "name a Service port accordingly, or declare the targetPort in its Pods"
	case targets:
		return "declare the targetPort in the Pods behind the Service"
	}
	return "name a Service port accordingly"
}

// endpointPorts renders the ports a ServiceMonitor's endpoints ask for.
func endpointPorts(m *model.Monitor) string {
	parts := make([]string, len(m.Endpoints))
	for i, ep := range m.Endpoints {
		_, name, _ := ep.Match(model.ServiceMonitor)
		if name != "" {
			parts[i] = name
		} else {
			parts[i] = ep.Describe(model.ServiceMonitor)
		}
	}
	return strings.Join(parts, ", ")
}

// allReadHaveTargetsText is TA018's detail when every monitor the applied
// collector or TA now reads has targets.
func allReadHaveTargetsText() string {
	return "every monitor it now reads has targets, as far as ta-guard can see"
}

// blindText is TA018: the monitors with a blind job (blind), those of them
// the finding names (shown: the first few the reader may see), whether
// more were left unjudged (left), and whose apply it is (scope).
//
// kubectl shows the first line of a finding, cut at 256 characters: the
// monitors are named first, and why each is blind follows only for one
// alone (for several, Reasons hold it, and each monitor's own finding).
func blindText(blind, shown []blindMonitor, left bool, scope blindScope) (what, fix string, reasons []string) {
	var parts []string
	for _, b := range shown {
		parts = append(parts, fmt.Sprintf("%s %s (%s)", b.m.Kind, b.m.Ref.NamespacedName(), b.rule))
		reasons = append(reasons, fmt.Sprintf("%s %s: %s %s", b.m.Kind, b.m.Ref.NamespacedName(), b.rule, b.why))
	}
	list := strings.Join(parts, ", ")
	if len(parts) == 1 && len(blind) == 1 {
		b := blind[0]
		list = fmt.Sprintf("%s %s (%s: %s)", b.m.Kind, b.m.Ref.NamespacedName(), b.rule, b.why)
	}
	which, orFix := "it now reads", "or keep it out of this TA's selectors"
	if scope == selectingCreated {
		which, orFix = "that select it", "or keep this Service out of their selectors"
	}
	what = fmt.Sprintf("%s %s find no target: %s", plural(len(blind), "monitor"), which, list)
	if len(parts) < len(blind) {
		what += fmt.Sprintf(" and %d more", len(blind)-len(parts))
	}
	if left {
		what += " (more were not judged here: see their own findings)"
	}
	return what, "fix each monitor as its own finding says (kubectl apply --dry-run=server -f on the monitor shows it), " + orFix, reasons
}
