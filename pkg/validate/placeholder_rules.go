package validate

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

// collectorPlaceholders is TA016 for a collector whose prometheus receiver's
// scrape_configs go to a TA (its own, or the TargetAllocator it is attached
// to): the collector expands ${env:X} in its own configuration, but these
// scrape configs are the TA's, which uses them as written. A node selector
// on ${env:OTEL_K8S_NODE_NAME} then selects the node named so, none, and a
// static target "${env:HOST}:9100" is handed out as that text.
//
// A TargetAllocator's own spec.scrapeConfigs are served as written too:
// nothing expands them.
func (ev *evaluation) collectorPlaceholders(a *model.Allocator) {
	facts := a.Served()
	if facts == nil && a.Attached() && a.Receiver != nil {
		facts = &a.Receiver.ScrapeFacts // served by the TargetAllocator it names
	}
	if facts == nil {
		return
	}
	why := "the collector expands ${env:...} in its own configuration, but the TA serves these scrape configs as written"
	if a.Standalone {
		why = "nothing expands a TargetAllocator's scrapeConfigs: the TA serves them as written"
	}
	for _, p := range facts.Placeholders {
		f := ev.add(rules.TA016, p.Job, "job "+p.Job,
			fmt.Sprintf("%s is %q, a placeholder the TA does not expand: %s", shortField(p.Path), p.Value, why),
			placeholderFix(p))
		f.Field = p.Path
	}
}

func placeholderFix(p model.Placeholder) string {
	if p.Selector {
		return "drop the selector, and for a node's own targets let the TA place them per node (allocationStrategy: per-node on a daemonset), or move the job to a receiver the TA does not read (prometheus/<name>)"
	}
	return "write the value itself, or move the job to a receiver the TA does not read (prometheus/<name>), which the collector serves with its own expansion"
}

// monitorPlaceholders is TA016 for a monitor naming a namespace with a
// placeholder: nothing expands the fields of a ServiceMonitor or PodMonitor,
// and no namespace can be called $(NAMESPACE).
func (ev *evaluation) monitorPlaceholders(m *model.Monitor) {
	for i, n := range m.MatchNames {
		if !model.HasPlaceholder(n) {
			continue
		}
		f := ev.add(rules.TA016, "", "",
			fmt.Sprintf("namespaceSelector.matchNames[%d] is %q, a placeholder nothing expands in a %s: it names no namespace that can exist", i, n, m.Kind),
			"name the namespace itself (a Helm or Kustomize template renders it before the monitor is applied), or drop namespaceSelector to look in the monitor's own namespace")
		f.Field = field.NewPath("spec", "namespaceSelector", "matchNames").Index(i)
	}
}
