// Package metrics holds ta-guard's own Prometheus metrics; they are served
// with controller-runtime's (webhook latency, requests) on the metrics
// endpoint.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metrics are the collectors the webhook updates.
type Metrics struct {
	// Findings counts findings by rule, action and kind of object.
	Findings *prometheus.CounterVec
	// Unchecked counts requests admitted without a (full) check, by reason:
	// not_synced, decode, panic, live_facts.
	Unchecked *prometheus.CounterVec
	// SkippedObjects counts cluster objects left out of checks because they
	// could not be normalized (e.g. an invalid selector), by kind.
	SkippedObjects *prometheus.CounterVec
}

// New creates the metrics; Register adds them to a registry.
func New() *Metrics {
	return &Metrics{
		Findings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ta_guard_findings_total",
			Help: "Findings at admission, by rule ID, action and kind of the object.",
		}, []string{"rule", "action", "kind"}),
		Unchecked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ta_guard_unchecked_requests_total",
			Help: "Requests admitted without a full check because of a failure inside ta-guard, by reason.",
		}, []string{"reason"}),
		SkippedObjects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ta_guard_skipped_objects_total",
			Help: "Cluster objects left out of checks because they could not be read, by kind.",
		}, []string{"kind"}),
	}
}

// Register adds the metrics, and a sync-state gauge fed by state, to reg
// (controller-runtime's registry when nil).
func (m *Metrics) Register(reg prometheus.Registerer, state func() map[string]bool) error {
	if reg == nil {
		reg = crmetrics.Registry
	}
	cs := []prometheus.Collector{m.Findings, m.Unchecked, m.SkippedObjects}
	if state != nil {
		cs = append(cs, &syncCollector{state: state, desc: prometheus.NewDesc(
			"ta_guard_informer_synced", "1 when the informer of the kind has synced, 0 while it has not or the kind is not served.",
			[]string{"kind"}, nil)})
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

type syncCollector struct {
	state func() map[string]bool
	desc  *prometheus.Desc
}

func (c *syncCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *syncCollector) Collect(ch chan<- prometheus.Metric) {
	for kind, ok := range c.state() {
		v := 0.0
		if ok {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, kind)
	}
}
