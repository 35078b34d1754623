package validate

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

// diagnose's trace of a PodMonitor says of each Pod what the rules say
// (onPod): a Pod whose ports are known only in part is unknown, not
// missing, and a Pod without ports gives an endpoint that names none no
// target. Where the rules stay silent on purpose, the trace cannot
// contradict them.
func TestPodMonitorTraceAgreesWithTheRules(t *testing.T) {
	var many strings.Builder
	for i := range model.MaxPorts + 1 {
		fmt.Fprintf(&many, "{name: p%d, containerPort: %d}, ", i, 10000+i)
	}
	pod := func(name, ports string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name + ", namespace: app, labels: {app: web}}\nspec: {containers: [{name: c, ports: [" + ports + "]}]}\nstatus: {podIP: 10.0.0.1, phase: Running}\n"
	}
	pm := func(endpoint string) string {
		return "apiVersion: monitoring.coreos.com/v1\nkind: PodMonitor\nmetadata: {name: pm, namespace: app}\nspec:\n  selector: {matchLabels: {app: web}}\n  podMetricsEndpoints: [" + endpoint + "]\n"
	}
	for _, tt := range []struct {
		name, pod, endpoint string
		found, unknown      int
	}{
		{"ports known in part, none named so", pod("big", many.String()), "{port: metrics}", 0, 1},
		{"a Pod without ports, an endpoint naming none", pod("bare", ""), "{path: /metrics}", 0, 0},
		{"the port named", pod("web", "{name: metrics, containerPort: 9090}"), "{port: metrics}", 1, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := store(t, tt.pod)
			m := object(t, pm(tt.endpoint)).(*model.Monitor)
			tr := Trace(st, m)
			require.Len(t, tr.Endpoints, 1)
			assert.Len(t, tr.Endpoints[0].Found, tt.found)
			assert.Len(t, tr.Endpoints[0].Unknown, tt.unknown)
			// The rules are silent on each: nothing for the trace to
			// contradict.
			assert.Empty(t, only(offline(t, Request{Operation: Create, Object: m}, st, nil), rules.TA103))
		})
	}
}
