package manifest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWrongTypesAreErrors: a field of the wrong type is an error naming its
// path as the API server would, never replaced by a default (issue 16:
// namespace: [x] and namespace: no passed as the -n namespace, name: 5 said
// "has no metadata.name", an embedded Go struct's name showed in a path).
func TestWrongTypesAreErrors(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"namespace as a list", "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  namespace: [x]\n",
			"f, document 1 (line 1): Service a: metadata.namespace: expected a string, got a list"},
		{"namespace: no, a YAML 1.1 boolean", "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  namespace: no\n",
			"f, document 1 (line 1): Service a: metadata.namespace: expected a string, got true or false (unquoted yes, no, on and off are booleans in YAML: quote the value)"},
		{"name as a number", "apiVersion: v1\nkind: Service\nmetadata:\n  name: 5\n",
			"f, document 1 (line 1): Service: metadata.name: expected a string, got a number"},
		{"name: off, of a kind ta-guard does not read", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: off\n",
			"f, document 1 (line 1): ConfigMap: metadata.name: expected a string, got true or false (unquoted yes, no, on and off are booleans in YAML: quote the value)"},
		{"metadata as a list", "apiVersion: v1\nkind: Service\nmetadata: [a]\n",
			"f, document 1 (line 1): Service: metadata: expected an object, got a list"},
		{"kind as a number", "apiVersion: v1\nkind: 5\nmetadata: {name: a}\n",
			"f, document 1 (line 1): kind: expected a string, got a number"},
		{"a Prometheus field: its JSON path, not the Go struct's", "apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata: {name: p}\nspec:\n  serviceMonitorSelector: 5\n",
			"f, document 1 (line 1): Prometheus p: spec.serviceMonitorSelector: expected an object, got a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read("f", strings.NewReader(tt.doc), "default")
			require.Error(t, err)
			assert.Equal(t, tt.want, err.Error())
		})
	}
}
