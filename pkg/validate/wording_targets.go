package validate

import (
	"fmt"
	"strings"

	"github.com/ta-guard/ta-guard/internal/model"
)

// The wording of the findings about scrape targets: placeholders (TA016),
// the per-node strategy (TA107), relabelings (TA111) and the parts of an
// object not read as written (TA301, TA302).

// placeholderText is TA016 for a scrape config's placeholder; standalone:
// the scrape configs are a TargetAllocator's own.
func placeholderText(p model.Placeholder, standalone bool) (what, fix string) {
	why := "the collector expands ${env:...} in its own configuration, but the TA serves these scrape configs as written"
	if standalone {
		why = "nothing expands a TargetAllocator's scrapeConfigs: the TA serves them as written"
	}
	return fmt.Sprintf("%s is %q, a placeholder the TA does not expand: %s", shortField(p.Path), p.Value, why), placeholderFix(p)
}

// namespacePlaceholderText is TA016 for a monitor's matchNames[i].
func namespacePlaceholderText(i int, name string, kind model.MonitorKind) (what, fix string) {
	return fmt.Sprintf("namespaceSelector.matchNames[%d] is %q, a placeholder nothing expands in a %s: it names no namespace that can exist", i, name, kind),
		"name the namespace itself (a Helm or Kustomize template renders it before the monitor is applied), or drop namespaceSelector to look in the monitor's own namespace"
}

// defectText is TA301 (invalid) or TA302 (not judged) for a part of an
// object not read as written.
func defectText(d model.Defect) (what, fix string) {
	path := d.Field.String()
	if d.Invalid {
		return path + " is " + d.Detail + ": nothing is read through it",
			"write a valid label selector: label values of at most 63 characters; operators In, NotIn, Exists, DoesNotExist"
	}
	return "ta-guard does not judge " + path + " (" + d.Detail + "): the rules that read it were not applied",
		"split the object into smaller ones, or simplify the pattern"
}

// perNodeLostText is TA107's what for a ServiceMonitor endpoint.
func (ev *evaluation) perNodeLostText(tas []*model.Allocator, lost []placement) string {
	return fmt.Sprintf("per-node TA %s drops %s on %s: they run on no node",
		ev.allocatorNames(tas), targetCount(lost), listShown(ev, lost, maxHints, placementRef, "Service", "", placement.String))
}

// perNodePlacedText is TA107's passed check.
func (ev *evaluation) perNodePlacedText(tas []*model.Allocator) string {
	return "per-node TA " + ev.allocatorNames(tas) + ": no target of the matched Services is known to run on no node"
}

// perNodeNodelessText is TA107's what for a ScrapeConfig.
func (ev *evaluation) perNodeNodelessText(tas []*model.Allocator, nodeless []model.NodelessTargets) string {
	what := make([]string, len(nodeless))
	for i, n := range nodeless {
		what[i] = n.String()
	}
	return fmt.Sprintf("per-node TA %s drops %s: %s", ev.allocatorNames(tas), strings.Join(what, " and "), nodelessWhy(nodeless[0]))
}

// perNodeStaticText is TA107 for a collector's static targets.
func perNodeStaticText(st model.NodelessTargets) (what, fix string) {
	return fmt.Sprintf("the per-node TA drops %s: %s", st, nodelessWhy(st)),
		strings.Join([]string{
			"move the job to a receiver the TA does not read (prometheus/<name>), so that each collector scrapes it itself (its own telemetry at 0.0.0.0:8888, say)",
			"or run the operator with --feature-gates=operator.targetallocator.fallbackstrategy, which hands such targets to consistent-hashing (ta-guard cannot see the operator's flags: if it is on, annotate the collector ta-guard.io/skip: \"TA107\")",
		}, "; ")
}

// alsoReadText is TA107's passed check when another reader takes the
// targets that have no node.
func alsoReadText(other model.Ref) string {
	return fmt.Sprintf("also read by %s, which allocates targets that have no node", other)
}

// relabelKeepsText is TA111's passed check for endpoint i.
func relabelKeepsText(i int) string {
	return fmt.Sprintf("endpoint %d: its relabelings keep a target of the matched objects, or read labels ta-guard cannot know", i)
}

// relabelDropsText is TA111: the rules (by index, in order) that drop
// every target, and the targets each drops.
func relabelDropsText(rs []model.Relabeling, order []int, by map[int][]model.Ref) (what, fix string) {
	parts := make([]string, len(order))
	for j, d := range order {
		parts[j] = fmt.Sprintf("relabelings[%d] (%s) drops %s", d, describeRelabeling(rs[d]), refList(by[d]))
	}
	return fmt.Sprintf("its relabelings drop every target of the job: %s", strings.Join(parts, "; ")),
		"correct the rule's regex or source_labels to what the matched objects carry (Kubernetes discovery names a Service label app.kubernetes.io/name __meta_kubernetes_service_label_app_kubernetes_io_name, a Pod's __meta_kubernetes_pod_label_...), or drop the rule"
}

func (p placement) String() string {
	s := p.svc.Ref.NamespacedName()
	if isAPIServer(p.svc) {
		s += " (the API server)"
	}
	return s
}

// targetCount renders how many targets are lost: "its 1 target", "2 of its
// 5 targets", or "its targets" when the API server's count is unknown.
func targetCount(lost []placement) string {
	unplaced, total := 0, 0
	for _, p := range lost {
		if p.unplaced < 0 {
			return "its targets"
		}
		unplaced += p.unplaced
		total += p.total
	}
	noun := "targets"
	if total == 1 {
		noun = "target"
	}
	if unplaced == total {
		return fmt.Sprintf("its %d %s", total, noun)
	}
	return fmt.Sprintf("%d of its %d %s", unplaced, total, noun)
}

func (ev *evaluation) allocatorNames(tas []*model.Allocator) string {
	return listShown(ev, tas, maxHints, allocatorRef, tas[0].Ref.Kind, "", func(a *model.Allocator) string { return a.Ref.NamespacedName() })
}

// perNodeFix names the two ways out: the operator's fallback strategy, or a
// second, consistent-hashing TA for the targets that have no node.
func (ev *evaluation) perNodeFix(tas []*model.Allocator, m *model.Monitor) string {
	sel := tas[0].Scopes[m.Kind].MonitorsField
	keepOut := "keep it out of the per-node TAs' " + model.FieldLeaf(sel)
	if len(tas) == 1 && ev.shows(tas[0].Ref) {
		keepOut = fmt.Sprintf("keep it out of %s of %s", sel, tas[0].Ref.NamespacedName())
	}
	return strings.Join([]string{
		"read it with a second collector (mode statefulset) whose TA has allocationStrategy: consistent-hashing, and " + keepOut,
		"or run the operator with --feature-gates=operator.targetallocator.fallbackstrategy, which hands such targets to consistent-hashing (ta-guard cannot see the operator's flags: if it is on, annotate the " + m.Kind.String() + " ta-guard.io/skip: \"TA107\")",
		"the TA logs them as \"Could not assign targets\" and counts them in opentelemetry_allocator_targets_unassigned",
	}, "; ")
}

// nodelessWhy says why the per-node strategy places such targets nowhere.
func nodelessWhy(n model.NodelessTargets) string {
	if n.Discovery != "" {
		return "their discovery names no node to place them on"
	}
	return "a static target runs on no node"
}

func describeRelabeling(r model.Relabeling) string {
	action := strings.ToLower(r.Action)
	if action == "" {
		action = "replace"
	}
	regex := r.Regex
	if regex == "" {
		regex = "(.*)"
	}
	s := "action " + action
	if len(r.SourceLabels) > 0 {
		s += " on " + strings.Join(r.SourceLabels, ",")
	}
	if action == "keepequal" || action == "dropequal" {
		return s + " = " + r.TargetLabel
	}
	return s + fmt.Sprintf(", regex %q", regex)
}

func placeholderFix(p model.Placeholder) string {
	if p.Selector {
		return "drop the selector, and for a node's own targets let the TA place them per node (allocationStrategy: per-node on a daemonset), or move the job to a receiver the TA does not read (prometheus/<name>)"
	}
	return "write the value itself, or move the job to a receiver the TA does not read (prometheus/<name>), which the collector serves with its own expansion"
}
