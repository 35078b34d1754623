package model

import (
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
)

// Limits of the relabelings kept for TA111, far above what monitors carry
// (kube-prometheus-stack's: a handful). Past them the endpoint's
// relabelings are left out and TA111 says nothing of it: no TA302, which an
// enforcing policy denies, for what only this one rule would have read.
const (
	// MaxRelabelings is the most relabelings of one endpoint judged.
	MaxRelabelings = 256
	// MaxRelabelRegexBytes is the longest relabeling regex judged.
	MaxRelabelRegexBytes = 4096
)

// Relabeling is one of an endpoint's relabelings, as written (Prometheus
// Operator defaults left to the evaluator, which applies Prometheus's).
type Relabeling struct {
	SourceLabels []string
	Separator    *string
	TargetLabel  string
	Regex        string
	Modulus      int64
	Replacement  *string
	Action       string
}

// droppingActions are the actions by which a relabeling drops a target.
var droppingActions = map[string]bool{"keep": true, "drop": true, "keepequal": true, "dropequal": true}

// keepRelabelings returns the endpoint's relabelings when one of them can
// drop a target (TA111 has nothing to judge otherwise), within the limits.
func keepRelabelings(rcs []monitoringv1.RelabelConfig) []Relabeling {
	drops := false
	for _, rc := range rcs {
		drops = drops || droppingActions[strings.ToLower(rc.Action)]
	}
	if !drops {
		return nil
	}
	if len(rcs) > MaxRelabelings {
		return nil
	}
	out := make([]Relabeling, len(rcs))
	for i, rc := range rcs {
		if len(rc.Regex) > MaxRelabelRegexBytes {
			return nil
		}
		src := make([]string, len(rc.SourceLabels))
		for j, l := range rc.SourceLabels {
			src[j] = string(l)
		}
		out[i] = Relabeling{SourceLabels: src, Separator: rc.Separator, TargetLabel: rc.TargetLabel, Regex: rc.Regex, Modulus: rc.Modulus, Replacement: rc.Replacement, Action: rc.Action}
	}
	return out
}
