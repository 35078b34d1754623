package audit

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of the audit.
type Metrics struct {
	Findings *prometheus.GaugeVec
	LastRun  prometheus.Gauge
	Duration prometheus.Gauge
	Objects  prometheus.Gauge
}

// NewMetrics creates the audit metrics; register them with Register.
func NewMetrics() *Metrics {
	return &Metrics{
		Findings: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ta_guard_audit_findings", Help: "Findings of the last audit, by rule ID and action.",
		}, []string{"rule", "action"}),
		LastRun: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ta_guard_audit_last_run_timestamp_seconds", Help: "When the last audit finished (Unix time).",
		}),
		Duration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ta_guard_audit_last_duration_seconds", Help: "How long the last audit took.",
		}),
		Objects: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ta_guard_audit_objects", Help: "Objects evaluated by the last audit.",
		}),
	}
}

// Register adds the metrics to reg.
func (m *Metrics) Register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.Findings, m.LastRun, m.Duration, m.Objects} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func (m *Metrics) observe(r *Result) {
	m.Findings.Reset()
	for _, f := range r.Findings {
		m.Findings.WithLabelValues(string(f.Rule), string(f.Action)).Inc()
	}
	m.LastRun.SetToCurrentTime()
	m.Duration.Set(r.Duration.Seconds())
	m.Objects.Set(float64(r.Objects))
}
