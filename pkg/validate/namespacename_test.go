package validate

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// The API server labels every namespace kubernetes.io/metadata.name=<name>:
// a namespace selector on that label alone is decided offline even for a
// namespace the input names without a Namespace document. A selector on
// other labels stays unknown there (no finding).
func TestNamespaceNameLabelIsKnownOffline(t *testing.T) {
	collectorWith := func(nsSel string) string {
		return collector("  mode: statefulset\n  targetAllocator:\n    enabled: true\n    prometheusCR: {enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}, serviceMonitorNamespaceSelector: " + nsSel + "}\n" + goodConfig)
	}
	monitorIn := func(ns string) string {
		return strings.ReplaceAll(`apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: sm, namespace: NS}
spec:
  selector: {matchLabels: {app: a}}
  endpoints: [{port: http}]
`, "NS", ns)
	}
	notSandbox := "{matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [sandbox]}]}"
	tests := []struct {
		name, nsSel, ns string
		want            bool // TA101: read by no TA
	}{
		{"NotIn by name, the namespace left out", notSandbox, "sandbox", true},
		{"NotIn by name, another namespace", notSandbox, "team-a", false},
		{"In by name, the namespace named", "{matchExpressions: [{key: kubernetes.io/metadata.name, operator: In, values: [team-a]}]}", "team-a", false},
		{"matchLabels by name, another namespace", "{matchLabels: {kubernetes.io/metadata.name: team-a}}", "team-b", true},
		{"another label: unknown without the Namespace", "{matchLabels: {team: a}}", "team-b", false},
		{"the name and another label: unknown", "{matchLabels: {kubernetes.io/metadata.name: team-b, team: a}}", "team-b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := Request{Operation: Create, Object: object(t, monitorIn(tt.ns))}
			fs := offline(t, req, store(t, collectorWith(tt.nsSel)), nil)
			assert.Equal(t, tt.want, strings.Contains(strings.Join(ids(fs), " "), "TA101"), "%v", messages(fs))
			if tt.want {
				assert.Contains(t, messages(fs), "namespace "+tt.ns+" does not match serviceMonitorNamespaceSelector")
				assert.Contains(t, messages(fs), "(kubernetes.io/metadata.name is the namespace's name)")
			}
		})
	}
}
