package validate

import (
	"strings"

	prommodel "github.com/prometheus/common/model"
	promlabels "github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/prometheus/prometheus/util/strutil"

	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

// TA111: an endpoint's relabelings drop every target of its job. The TA
// turns each endpoint into a job whose relabel_configs are the Prometheus
// Operator's (select by the monitor's selector and port, name the
// namespace, service, job and endpoint labels), then the endpoint's own
// relabelings (pkg/prometheus/promcfg.go: generateServiceMonitorConfig,
// generatePodMonitorConfig); a target a keep or drop rule removes is
// never handed out.
//
// ta-guard builds, for each Service (Pod) the monitor matches, the labels
// its targets share that it knows for certain: namespace and name, the
// object's own labels, and what the operator derives from them. It runs
// the relabelings with Prometheus's own model/relabel one at a time, and
// stops, saying nothing, at the first that reads a label it cannot know
// (a pod's or node's, an annotation, an address) or rewrites label names
// wholesale (labelmap, labeldrop, labelkeep). Only when every matched
// object is certainly dropped is the job blind.

// maxRelabelCandidates bounds the objects judged per endpoint: past it the
// check passes unjudged (cost follows the matches, up to here).
const maxRelabelCandidates = 200

// relabelTarget is what ta-guard knows of the targets one object gives.
type relabelTarget struct {
	ref      model.Ref
	lb       *promlabels.Builder
	known    map[string]bool
	unknown  map[string]bool // colliding sanitized names: their value depends on map order
	families []string        // prefixes whose every name is known (absent: empty)
}

func (t *relabelTarget) isKnown(name string) bool {
	if t.unknown[name] {
		return false
	}
	if t.known[name] {
		return true
	}
	for _, f := range t.families {
		if strings.HasPrefix(name, f) {
			return true
		}
	}
	return false
}

func (t *relabelTarget) set(name, value string) {
	t.lb.Set(name, value)
	t.known[name] = true
}

// objectLabels sets prefix_<sanitized key> and prefixpresent_<sanitized
// key> for the object's labels, as Kubernetes discovery does.
func (t *relabelTarget) objectLabels(prefix string, l map[string]string) {
	seen := map[string]string{}
	for k, v := range l {
		n := strutil.SanitizeLabelName(k)
		if prev, dup := seen[n]; dup && prev != v {
			t.unknown[prefix+"label_"+n], t.unknown[prefix+"labelpresent_"+n] = true, true
			continue
		}
		seen[n] = v
		t.set(prefix+"label_"+n, v)
		t.set(prefix+"labelpresent_"+n, "true")
	}
	for n := range t.unknown {
		t.lb.Del(n)
	}
	t.families = append(t.families, prefix+"label_", prefix+"labelpresent_")
}

func newRelabelTarget(ref model.Ref, job string) *relabelTarget {
	t := &relabelTarget{ref: ref, lb: promlabels.NewBuilder(promlabels.EmptyLabels()), known: map[string]bool{}, unknown: map[string]bool{}}
	t.set("__meta_kubernetes_namespace", ref.Namespace)
	t.set("namespace", ref.Namespace)
	t.set("__tmp_prometheus_job_name", job)
	return t
}

// serviceTarget: the labels every target behind the Service shares.
func serviceTarget(m *model.Monitor, i int, s *model.Service) *relabelTarget {
	t := newRelabelTarget(s.Ref, m.Job(i))
	t.objectLabels("__meta_kubernetes_service_", s.Labels)
	t.set("__meta_kubernetes_service_name", s.Ref.Name)
	t.set("service", s.Ref.Name)
	job := s.Ref.Name
	if v := s.Labels[m.JobLabel]; m.JobLabel != "" && v != "" {
		job = v
	}
	t.set("job", job)
	endpointLabel(t, m.Endpoints[i])
	return t
}

// podTarget: the labels every target of the Pod (or of the Pods of a
// workload's template) shares.
func podTarget(m *model.Monitor, i int, p *model.Pod) *relabelTarget {
	t := newRelabelTarget(p.Ref, m.Job(i))
	t.objectLabels("__meta_kubernetes_pod_", p.Labels)
	if p.Ref.Kind == "Pod" {
		t.set("__meta_kubernetes_pod_name", p.Ref.Name)
		t.set("pod", p.Ref.Name)
	}
	job := m.Ref.Namespace + "/" + m.Ref.Name
	if v := p.Labels[m.JobLabel]; m.JobLabel != "" && v != "" {
		job = v
	}
	t.set("job", job)
	endpointLabel(t, m.Endpoints[i])
	return t
}

func endpointLabel(t *relabelTarget, ep model.Endpoint) {
	switch {
	case ep.Port != "":
		t.set("endpoint", ep.Port)
	case ep.TargetPort != nil && ep.TargetPort.String() != "":
		t.set("endpoint", ep.TargetPort.String())
	}
}

// relabelConfigs turns the endpoint's relabelings into Prometheus's, with
// the Prometheus Operator's and Prometheus's defaults; false when one is
// not valid (the TA rejects the job then: another matter).
func relabelConfigs(rls []model.Relabeling) ([]*relabel.Config, bool) {
	out := make([]*relabel.Config, len(rls))
	for i, r := range rls {
		c := relabel.DefaultRelabelConfig
		if r.Separator != nil {
			c.Separator = *r.Separator
		}
		if r.Replacement != nil {
			c.Replacement = *r.Replacement
		}
		if r.Regex != "" {
			re, err := relabel.NewRegexp(r.Regex)
			if err != nil {
				return nil, false
			}
			c.Regex = re
		}
		if r.Action != "" {
			c.Action = relabel.Action(strings.ToLower(r.Action))
		}
		if r.Modulus < 0 {
			return nil, false
		}
		c.Modulus = uint64(r.Modulus)
		c.TargetLabel = r.TargetLabel
		for _, l := range r.SourceLabels {
			c.SourceLabels = append(c.SourceLabels, prommodel.LabelName(l))
		}
		if c.Validate(prommodel.UTF8Validation) != nil {
			return nil, false
		}
		out[i] = &c
	}
	return out, true
}

// dropper runs the relabelings over the target: the index of the one that
// drops it, or -1 when it is kept or ta-guard cannot tell.
func dropper(cfgs []*relabel.Config, t *relabelTarget) int {
	for i, c := range cfgs {
		switch c.Action {
		case relabel.LabelMap, relabel.LabelDrop, relabel.LabelKeep:
			return -1
		}
		for _, l := range c.SourceLabels {
			if !t.isKnown(string(l)) {
				return -1
			}
		}
		if (c.Action == relabel.KeepEqual || c.Action == relabel.DropEqual) && !t.isKnown(c.TargetLabel) {
			return -1
		}
		if !relabel.ProcessBuilder(t.lb, c) {
			return i
		}
		if c.TargetLabel != "" && !strings.Contains(c.TargetLabel, "$") {
			t.known[c.TargetLabel] = true
			delete(t.unknown, c.TargetLabel)
		}
	}
	return -1
}

// relabelDrops is TA111 for the endpoints of a monitor a TA reads, over the
// Services (ServiceMonitor) or Pods (PodMonitor) it matches.
func (ev *evaluation) relabelDrops(m *model.Monitor, svcs []*model.Service, pods []*model.Pod) {
	has := false
	for _, ep := range m.Endpoints {
		has = has || len(ep.Relabelings) > 0
	}
	if !has {
		return
	}
	tas, _ := ev.allocatorsReading(m)
	if len(tas) == 0 {
		return
	}
	for _, a := range tas {
		if a.ScrapeClasses {
			// A scrape class's relabelings run before the endpoint's:
			// what they make of the labels is not modelled.
			return
		}
	}
	n := len(svcs) + len(pods)
	if n == 0 || n > maxRelabelCandidates {
		return
	}
	for i, ep := range m.Endpoints {
		if len(ep.Relabelings) == 0 || ev.expired() {
			continue
		}
		cfgs, ok := relabelConfigs(ep.Relabelings)
		if !ok {
			continue
		}
		var targets []*relabelTarget
		for _, s := range svcs {
			if ep.Port != "" && !s.PortsIncomplete && !s.HasPortFor(ep) {
				continue // no target of it: TA103's, not ours
			}
			targets = append(targets, serviceTarget(m, i, s))
		}
		for _, p := range pods {
			targets = append(targets, podTarget(m, i, p))
		}
		if len(targets) == 0 {
			continue
		}
		by := map[int][]model.Ref{}
		var order []int
		all := true
		for _, t := range targets {
			d := dropper(cfgs, t)
			if d < 0 {
				all = false
				break
			}
			if _, ok := by[d]; !ok {
				order = append(order, d)
			}
			by[d] = append(by[d], t.ref)
		}
		if !all {
			ev.pass(rules.TA111, "", func() string { return relabelKeepsText(i) })
			continue
		}
		var related []model.Ref
		for _, d := range order {
			related = append(related, by[d]...)
		}
		what, fix := relabelDropsText(ep.Relabelings, order, by)
		f := ev.addEndpoint(rules.TA111, m, i, what, fix)
		f.Field = m.EndpointPath(i).Child("relabelings").Index(order[0])
		f.Related = ev.related(rules.RoleTarget, related)
	}
}
