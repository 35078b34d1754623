package manifest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A typo in a field name would otherwise vanish in silence; it is warned
// about, naming the file, the document and the field.
func TestUnknownFieldsAreWarned(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{
			name: "typos in a ServiceMonitor",
			doc: `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: sm, namespace: apps}
spec:
  selector: {matchLabels: {app: web}}
  namespaceSelecter: {any: true}
  endpoints: [{port: http, intervall: 30s}]
`,
			want: []string{
				`f.yaml, document 1: ServiceMonitor sm: unknown field "spec.endpoints[0].intervall" (ignored: a typo?)`,
				`f.yaml, document 1: ServiceMonitor sm: unknown field "spec.namespaceSelecter" (ignored: a typo?)`,
			},
		},
		{
			name: "a clean Service",
			doc:  "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {selector: {app: a}, ports: [{name: http, port: 80}]}\n",
		},
		{
			// Our collector types model only what the rules read: every
			// other field of the operator's API is legitimate.
			name: "a collector's fields beyond what ta-guard reads",
			doc:  "apiVersion: opentelemetry.io/v1beta1\nkind: OpenTelemetryCollector\nmetadata: {name: c}\nspec: {replicas: 2, image: x, targetAllocator: {enabled: true, replicas: 1}}\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := Read("f.yaml", strings.NewReader(tt.doc), "default")
			require.NoError(t, err)
			require.Len(t, docs, 1)
			var got []string
			got = append(got, docs[0].Warnings...)
			assert.ElementsMatch(t, tt.want, got)
		})
	}
}
