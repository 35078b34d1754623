package manifest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestFieldLine(t *testing.T) {
	const monitor = `# leading comment
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: sm
  namespace: shop
  labels:
    app.kubernetes.io/name: shop
spec:
  selector: &sel
    matchLabels: {app: shop}
  endpoints:
    - port: http
    - port: metrics
      path: /m
`
	const list = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: a, namespace: shop}
- apiVersion: v1
  kind: Service
  metadata:
    name: b
    namespace: shop
  spec:
    ports: [{name: http, port: 80}]
`
	const json = `{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "j", "namespace": "shop"},
 "spec": {
   "ports": [{"name": "http", "port": 80}]}}
`
	ep := field.NewPath("spec", "endpoints")
	tests := []struct {
		name  string
		input string
		doc   int // which Doc of the input
		path  *field.Path
		want  int
	}{
		{"no field: the document's line", "---\n" + monitor, 0, nil, 2},
		{"a key", monitor, 0, field.NewPath("metadata", "labels"), 7},
		{"a key that holds dots", monitor, 0, field.NewPath("metadata", "labels").Key("app.kubernetes.io/name"), 8},
		{"a list element", monitor, 0, ep.Index(1), 14},
		{"a field of a list element", monitor, 0, ep.Index(1).Child("path"), 15},
		{"not written: the deepest part that is", monitor, 0, ep.Index(0).Child("scheme"), 13},
		{"an index past the list", monitor, 0, ep.Index(5).Child("port"), 12},
		{"in the second document", monitor + "---\n" + monitor, 1, ep.Index(0), 16 + 13},
		{"a List item", list, 1, field.NewPath("spec", "ports").Index(0), 13},
		{"JSON", json, 0, field.NewPath("spec", "ports").Index(0), 3},
		{"nothing written: the document starts with its comment", monitor, 0, field.NewPath("status"), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := Read("in.yaml", strings.NewReader(tt.input), "")
			require.NoError(t, err)
			require.Greater(t, len(docs), tt.doc)
			assert.Equal(t, tt.want, docs[tt.doc].FieldLine(tt.path))
		})
	}
}
