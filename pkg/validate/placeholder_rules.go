package validate

import (
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
	for _, p := range facts.Placeholders {
		what, fix := placeholderText(p, a.Standalone)
		f := ev.add(rules.TA016, p.Job, jobSubject(p.Job), what, fix)
		f.Field = p.Path
	}
}

// monitorPlaceholders is TA016 for a monitor naming a namespace with a
// placeholder: nothing expands the fields of a ServiceMonitor or PodMonitor,
// and no namespace can be called $(NAMESPACE).
func (ev *evaluation) monitorPlaceholders(m *model.Monitor) {
	for i, n := range m.MatchNames {
		if !model.HasPlaceholder(n) {
			continue
		}
		what, fix := namespacePlaceholderText(i, n, m.Kind)
		f := ev.add(rules.TA016, "", "", what, fix)
		f.Field = field.NewPath("spec", "namespaceSelector", "matchNames").Index(i)
	}
}
