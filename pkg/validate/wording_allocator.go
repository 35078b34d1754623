package validate

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ta-guard/ta-guard/internal/model"
)

// The wording of the allocator's findings (TA001-TA007, TA011-TA015) and
// of their passed checks.

// ta001OffOnPurposeText is TA001's detail for a TA switched off beside
// settings kept for later.
func ta001OffOnPurposeText(block *field.Path) string {
	return block.Child("enabled").String() + ": false: the TA is off on purpose"
}

// ta001SettingsText is TA001: settings for a TA that does not run.
func ta001SettingsText(block *field.Path, settings []string) (what, fix string) {
	return fmt.Sprintf("%s has settings but enabled is not true: no target allocator runs", block),
		fmt.Sprintf("it sets %s; set %s: true, or remove those settings",
			trimFields(settings, block), block.Child("enabled"))
}

// ta001NothingText is TA001's detail for a TA neither enabled nor configured.
func ta001NothingText(block *field.Path) string {
	return block.Child("enabled").String() + " is not true and nothing is configured for a TA: none runs"
}

// ta001OnText is TA001's detail for a TA that runs.
func ta001OnText(standalone bool, block *field.Path) string {
	if standalone {
		return "standalone TargetAllocator (always on)"
	}
	return block.Child("enabled").String() + ": true"
}

// ta002OnText is TA002's detail when discovery is on.
func ta002OnText() string {
	return "prometheusCR.enabled: true"
}

// ta006Text is TA006: neither prometheusCR nor a scrape config, so the TA
// refuses to start.
func ta006Text(standalone bool, cr *field.Path) (what, fix string) {
	where := "the prometheus receiver has no scrape_configs"
	fix = "set " + cr.Child("enabled").String() + ": true, or add scrape_configs to receivers.prometheus.config"
	if standalone {
		where = "spec.scrapeConfigs is empty and no attached collector's prometheus receiver has scrape_configs"
		fix = "set " + cr.Child("enabled").String() + ": true, or add spec.scrapeConfigs"
	}
	return "prometheusCR is off and there are no scrape configs: the TA refuses to start", where + "; " + fix
}

// ta007Text is TA007: both allowNamespaces and denyNamespaces.
func ta007Text(cr *field.Path) (what, fix string) {
	return "prometheusCR sets both allowNamespaces and denyNamespaces: the TA refuses to start",
		fmt.Sprintf("keep only one of %s and %s", cr.Child("allowNamespaces"), cr.Child("denyNamespaces"))
}

// ta002StaticOnlyText is TA002's detail when discovery is off and would
// read nothing.
func ta002StaticOnlyText(scrapeConfigs int) string {
	return fmt.Sprintf("off: the TA serves only its %d static scrape config(s), no ServiceMonitor or PodMonitor", scrapeConfigs)
}

// ta002Text is TA002: discovery is off although prometheusCR sets settings,
// or else although n monitors exist that it would read (example, if not
// empty, names one).
func ta002Text(settings []string, cr *field.Path, n int, example string) (what, fix string) {
	var why string
	if len(settings) > 0 {
		why = "prometheusCR sets " + trimFields(settings, cr)
	} else {
		why = fmt.Sprintf("%d monitors exist that it would read", n)
		if example != "" {
			why += " (e.g. " + example + ")"
		}
	}
	return "prometheusCR.enabled is not true, so no ServiceMonitor or PodMonitor is read",
		fmt.Sprintf("%s; set %s: true", why, cr.Child("enabled"))
}

// selectAllFix is TA003's fix for an unset selector.
func selectAllFix(sel *field.Path, k model.MonitorKind) string {
	return fmt.Sprintf("set %s: {} to read every %s, or give it matchLabels (under v1beta1 an unset selector selects nothing)", sel, k)
}

// ta003OwnTargetsText is TA003 for ScrapeConfigs and Probes: example is
// read by no reader; shown is whether the reader may see it.
func ta003OwnTargetsText(k model.MonitorKind, sel *field.Path, v1alpha1 bool, example model.Ref, shown bool) (what, fix string) {
	fix = selectAllFix(sel, k)
	if v1alpha1 {
		fix = fmt.Sprintf("v1alpha1 has no %s: move the collector to opentelemetry.io/v1beta1 and set it", shortField(sel))
	}
	which := k.String() + " " + example.NamespacedName()
	if !shown {
		which = unseen(1, k.String())
	}
	return fmt.Sprintf("%s is unset, so the TA reads no %s, and %s is read by no reader", shortField(sel), k, which), fix
}

// ta003UnsetText is TA003 for a selector of monitors that is unset.
func ta003UnsetText(sel *field.Path, k model.MonitorKind) (what, fix string) {
	return fmt.Sprintf("%s is unset, so the TA reads no %s", shortField(sel), k), selectAllFix(sel, k)
}

// ta003LostText ends TA003's what with the monitor lost now.
func ta003LostText(k model.MonitorKind, lost model.Ref) string {
	return fmt.Sprintf(": %s %s is read by no TA", k, lost.NamespacedName())
}

// ta003AllText is TA003's detail for a selector that selects every monitor.
func ta003AllText(sel model.Selection, k model.MonitorKind) string {
	return fmt.Sprintf("%s: every %s", sel, k)
}

// ta003MatchText is TA003's detail for a selector of labels.
func ta003MatchText(sel model.Selection, k model.MonitorKind) string {
	return fmt.Sprintf("%ss whose labels match %s", k, sel)
}

// scopeText says, for diagnose, which namespaces the TA looks in for a
// kind.
func scopeText(s *model.Scope) string {
	var scope []string
	switch {
	case s.OwnNamespace != "":
		scope = append(scope, "only its own namespace "+s.OwnNamespace)
	case s.Namespaces.All():
		scope = append(scope, "all namespaces")
	default:
		scope = append(scope, "namespaces whose labels match "+s.Namespaces.String())
	}
	if s.Allow != nil {
		scope = append(scope, "allowNamespaces: "+model.SetList(s.Allow))
	}
	if s.Deny != nil {
		scope = append(scope, "denyNamespaces: "+model.SetList(s.Deny))
	}
	return strings.Join(scope, "; ")
}

// ta004ModeText is TA004 for a mode that runs no TA.
func ta004ModeText(mode string) (what, fix string) {
	return fmt.Sprintf("mode %s does not support a target allocator", mode),
		"set spec.mode: statefulset (or daemonset with allocationStrategy: per-node)"
}

// ta004DaemonsetText is TA004 for a daemonset without per-node.
func ta004DaemonsetText(strategy string) (what, fix string) {
	return fmt.Sprintf("mode daemonset needs allocationStrategy per-node, not %s", strategy),
		"set spec.targetAllocator.allocationStrategy: per-node, or spec.mode: statefulset"
}

// ta004PerNodeText is TA004 for per-node outside a daemonset.
func ta004PerNodeText(mode string) (what, fix string) {
	return fmt.Sprintf("allocationStrategy per-node works only with mode daemonset, not %s", mode),
		"set spec.mode: daemonset, or another allocationStrategy"
}

// ta004PassText is TA004's detail.
func ta004PassText(mode, strategy string) string {
	return fmt.Sprintf("mode %s, allocationStrategy %s", mode, strategy)
}

// ta005MissingText is TA005 for a collector without a receiver named
// prometheus (r, if not nil, may name look-alikes).
func ta005MissingText(r *model.Receiver) (what, fix string) {
	fix = "add receivers.prometheus (config.scrape_configs: [] is enough) and list it in a metrics pipeline"
	if r != nil && len(r.Lookalikes) > 0 {
		fix = fmt.Sprintf("the TA feeds only the receiver named prometheus, %s does not count; %s", strings.Join(r.Lookalikes, ", "), fix)
	}
	return `no receiver named exactly "prometheus" in spec.config: the TA feeds only that one`, fix
}

// ta005NoPipelineText is TA005 for a prometheus receiver in no metrics
// pipeline.
func ta005NoPipelineText() (what, fix string) {
	return "the prometheus receiver is in no metrics pipeline: allocated targets go nowhere",
		"add prometheus to service.pipelines.metrics.receivers"
}

// ta005PassText is TA005's detail.
func ta005PassText() string {
	return "receivers.prometheus is in a metrics pipeline"
}

// ta011Text is TA011: n monitors (list) the old allocator read that no
// allocator reads after the change, or after its deletion. why, if not
// empty, says why the new state misses first, the first the reader may see.
func ta011Text(deleted bool, n int, list string, first model.Ref, why []string) (what, fix string) {
	if deleted {
		return fmt.Sprintf("deleting it leaves %d monitor(s) read by no TA: %s", n, list),
			"point another target allocator at them before deleting this one"
	}
	what = fmt.Sprintf("after this change no TA reads %d monitor(s) it read before: %s", n, list)
	fix = "keep the selectors matching them, or point another target allocator at them"
	if len(why) > 0 {
		fix = fmt.Sprintf("%s: %s; %s", first, strings.Join(why, "; "), fix)
	}
	return what, fix
}

// ta015PassText is TA015's detail.
func ta015PassText() string {
	return "no unread monitor in its namespaces is closest to this TA"
}

// unreadText is TA015: n monitors of a kind (list) read by no TA, for
// which this TA is the closest.
type unreadText struct {
	kind model.MonitorKind
	n    int
	list string
	// inNamespaces: none of them is kept out by its namespace. Monitors
	// kept out by their namespace are no longer "in its namespaces": the
	// count says so only when none is.
	inNamespaces bool
	// field is the TA's selector of that kind.
	field *field.Path
	// nsMiss is the first monitor the reader may see kept out by its
	// namespace, and why the TA misses it; else first is the first one the
	// reader may see, and unmet what its labels lack.
	nsMiss *model.Monitor
	why    []string
	first  *model.Monitor
	unmet  []string
}

func (t unreadText) what() string {
	where := " in its namespaces"
	if !t.inNamespaces {
		where = ""
	}
	count := fmt.Sprintf("1 %s%s is", t.kind, where)
	if t.n > 1 {
		count = fmt.Sprintf("%d %ss%s are", t.n, t.kind, where)
	}
	return fmt.Sprintf("%s read by no TA, and this is the closest: %s", count, t.list)
}

func (t unreadText) fix() string {
	them := "them"
	if t.n == 1 {
		them = "it"
	}
	fix := fmt.Sprintf("give %s labels that satisfy %s, or widen it", them, t.field)
	switch {
	case t.nsMiss != nil:
		fix = fmt.Sprintf("%s: %s; widen the TA's namespace selection, or keep the monitor where the TA reads", t.nsMiss.Ref, strings.Join(t.why, "; "))
	case t.first != nil:
		fix = fmt.Sprintf("%s needs %s; %s", t.first.Ref, strings.Join(t.unmet, ", "), fix)
	}
	return fix + `; a monitor no TA is meant to read can be annotated ta-guard.io/skip: "TA101"`
}

// listMonitors names the first few monitors the reader may see, then a
// count; those of namespaces the reader may not read are counted, not
// named (kind names them in the count). shown are the ones it may see.
func (ev *evaluation) listMonitors(ms []*model.Monitor, kind string) (shown []*model.Monitor, list string) {
	for _, m := range ms {
		if ev.shows(m.Ref) {
			shown = append(shown, m)
		}
	}
	names := make([]string, 0, 5)
	for i, m := range shown {
		if i == 3 {
			names = append(names, fmt.Sprintf("and %d more", len(shown)-3))
			break
		}
		names = append(names, m.Ref.String())
	}
	if hidden := len(ms) - len(shown); hidden > 0 {
		names = append(names, unseen(hidden, kind))
	}
	return shown, strings.Join(names, ", ")
}

// ta012MissingText is TA012: a collector attached to a TargetAllocator of
// its namespace ns that does not exist.
func ta012MissingText(ns, attachedTo string) (what, fix string) {
	return fmt.Sprintf("attached to TargetAllocator %s, which does not exist in its namespace: it gets no targets", attachedTo),
		fmt.Sprintf("create TargetAllocator %s/%s, or correct the label %s", ns, attachedTo, model.AttachLabel)
}

// ta012ExistsText is TA012's detail for an attached collector.
func ta012ExistsText(attachedTo string) string {
	return "TargetAllocator " + attachedTo + " exists"
}

// ta012EndpointExistsText is TA012's detail for a TA endpoint set by hand.
func ta012EndpointExistsText(ns, name string) string {
	return "target_allocator.endpoint names Service " + ns + "/" + name + ", which exists"
}

// ta012EndpointText is TA012 for a TA endpoint set by hand that names a
// Service that does not exist.
func ta012EndpointText(endpoint, ns, name string) (what, fix string) {
	return fmt.Sprintf("receivers.prometheus.target_allocator.endpoint %s names Service %s/%s, which does not exist: the receiver gets no targets", endpoint, ns, name),
		fmt.Sprintf("point it at the TA's Service (<name>-targetallocator of a TargetAllocator, in %s), or attach the collector with the label %s instead", ns, model.AttachLabel)
}

// ta013PassText is TA013's detail: the names of the attached collectors.
func ta013PassText(attached []*model.Allocator) string {
	names := make([]string, len(attached))
	for i, c := range attached {
		names[i] = c.Ref.Name
	}
	return strings.Join(names, ", ")
}

// ta013Text is TA013: a standalone TargetAllocator without collectors.
func ta013Text(ta *model.Allocator) (what, fix string) {
	return "no collector is attached to it: its targets go nowhere", attachFix(ta)
}

// attachFix says how a collector comes to a TargetAllocator: by the label,
// or, for a TA named as a ClusterObservability's, through the cluster
// collector the operator generates for it.
func attachFix(ta *model.Allocator) string {
	fix := fmt.Sprintf("label the collectors of namespace %s that should scrape with %s: %s", ta.Ref.Namespace, model.AttachLabel, ta.Ref.Name)
	if co, ok := strings.CutSuffix(ta.Ref.Name, "-targetallocator"); ok && co != "" {
		fix += fmt.Sprintf(", or create ClusterObservability %s in it: the operator generates its cluster collector attached to this TA", co)
	}
	return fix
}

// phaseText is a pod's phase in TA014's lists.
func phaseText(phase corev1.PodPhase) string {
	if phase == "" {
		return "no phase"
	}
	return string(phase)
}

// notReadyPodText names a collector pod Running but not Ready.
func notReadyPodText(name string) string {
	return name + " (Running, not Ready)"
}

// notStartedPodText names a collector pod scheduled and never started.
func notStartedPodText(name string, phase corev1.PodPhase) string {
	return name + " (" + phaseText(phase) + ", not started on its node)"
}

// startingPodText names a collector pod started and not Running.
func startingPodText(name string, phase corev1.PodPhase) string {
	return name + " (" + phaseText(phase) + ")"
}

// maxNamed bounds the pods a TA014 message names.
const maxNamed = 5

func namedPods(s []string) string {
	return listEach(s, maxNamed, func(s string) string { return s })
}

// ta014NotRunningText is TA014's what when no collector pod in ns runs:
// idle and starting are the pods that do not.
func ta014NotRunningText(a, ta *model.Allocator, ns string, idle, starting []string) string {
	return fmt.Sprintf("%s runs but no collector pod in %s runs to scrape what it hands out: %s",
		whoRuns(a, ta), ns, namedPods(append(idle, starting...)))
}

// ta014IdleText is TA014's what for the idle pods among the of pods in ns
// that get targets.
func ta014IdleText(a, ta *model.Allocator, ns string, idle []string, of int) string {
	return fmt.Sprintf("%s hands targets to %d of %d collector pod(s) in %s that cannot scrape them: %s",
		whoRuns(a, ta), len(idle), of, ns, namedPods(idle))
}

// ta014IdleFix is TA014's fix for collector pods that get targets and do
// not scrape them.
func ta014IdleFix(ta *model.Allocator, collectors []*model.Allocator) string {
	return collectorPodsFix(ta, collectors, "tells why they are not Running and Ready")
}

// ta014PassText is TA014's detail.
func ta014PassText(running int, ns string, collectors []*model.Allocator) string {
	return fmt.Sprintf("%d collector pod(s) in %s match %s and run", running, ns, shortSelector(collectors))
}

func whoRuns(a, ta *model.Allocator) string {
	if a != ta {
		return "TargetAllocator " + ta.Ref.Name
	}
	return "the TA"
}

// ta014NoPodsText is TA014 when the TA sees no collector pod: unscheduled
// match but are not scheduled.
func ta014NoPodsText(a, ta *model.Allocator, collectors []*model.Allocator, unscheduled int) (what, fix string) {
	ns := ta.Ref.Namespace
	what = fmt.Sprintf("%s runs but sees no collector pod in %s matching %s", whoRuns(a, ta), ns, shortSelector(collectors))
	if unscheduled > 0 {
		what += fmt.Sprintf(": %d match but none is scheduled to a node (Pending), and the TA counts only scheduled pods", unscheduled)
	}
	return what, collectorPodsFix(ta, collectors, "tells why there are none")
}

// collectorPodsFix are the ways to look at the collectors' pods; why ends
// the describe hint.
func collectorPodsFix(ta *model.Allocator, collectors []*model.Allocator, why string) string {
	ns := ta.Ref.Namespace
	var fix []string
	for _, c := range collectors {
		if c.Mode == "sidecar" {
			// Injected sidecars carry only sidecar.opentelemetry.io/injected.
			fix = append(fix, fmt.Sprintf("collector %s has mode sidecar, whose pods no TA can see: use mode statefulset or daemonset", c.Ref.Name))
			continue
		}
		w := collectorWorkload(c)
		sel := labels.SelectorFromSet(model.OperatorSelector(c.Ref, model.ComponentCollector)).String()
		fix = append(fix, fmt.Sprintf("kubectl get pods -n %s -l %s lists what the TA sees; kubectl describe %s %s -n %s %s",
			ns, sel, strings.ToLower(w.Kind), w.Name, ns, why))
	}
	if ta.Standalone {
		fix = append(fix, fmt.Sprintf("the TA hands targets only to the collector of %s labelled %s: %s", ns, model.AttachLabel, ta.Ref.Name))
	}
	return strings.Join(fix, "; ")
}

// shortSelector names the collectors' pods by the two labels that tell them
// apart, short enough for a warning: the full selector is in the fix.
func shortSelector(collectors []*model.Allocator) string {
	inst := make([]string, len(collectors))
	for i, c := range collectors {
		inst[i] = model.InstanceLabel(c.Ref.Namespace, c.Ref.Name)
	}
	instance := model.LabelInstance + "=" + inst[0]
	if len(inst) > 1 {
		instance = model.LabelInstance + " in (" + strings.Join(inst, ",") + ")"
	}
	return instance + "," + model.LabelComponent + "=" + model.ComponentCollector
}
