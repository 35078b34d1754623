package conversion

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

func collector(t *testing.T, doc string) map[string]any {
	t.Helper()
	obj := map[string]any{}
	require.NoError(t, yaml.Unmarshal([]byte(doc), &obj))
	return obj
}

func TestConvert(t *testing.T) {
	tests := []struct {
		name   string
		in, to string
		want   string // the converted object, as YAML
		err    string
	}{
		{
			name: "v1alpha1 map selectors become matchLabels; config a mapping",
			in: `apiVersion: opentelemetry.io/v1alpha1
kind: OpenTelemetryCollector
metadata: {name: c, namespace: obs}
spec:
  mode: daemonset
  updateStrategy: {type: OnDelete}
  config: "receivers: {prometheus: {}}\n"
  targetAllocator: {enabled: true, prometheusCR: {enabled: true, serviceMonitorSelector: {team: a}}}
`, to: V1beta1,
			want: `apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: {name: c, namespace: obs}
spec:
  mode: daemonset
  daemonSetUpdateStrategy: {type: OnDelete}
  config: {receivers: {prometheus: {}}}
  targetAllocator:
    enabled: true
    # unset in v1alpha1 (every PodMonitor): {} keeps it so in v1beta1
    prometheusCR: {enabled: true, serviceMonitorSelector: {matchLabels: {team: a}}, podMonitorSelector: {}}
`,
		},
		{
			name: "min and maxReplicas move into the autoscaler",
			in: `apiVersion: opentelemetry.io/v1alpha1
kind: OpenTelemetryCollector
metadata: {name: c}
spec: {minReplicas: 1, maxReplicas: 3, autoscaler: {maxReplicas: 5}}
`, to: V1beta1,
			want: `apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: {name: c}
spec:
  autoscaler: {minReplicas: 1, maxReplicas: 5}
  targetAllocator: {prometheusCR: {serviceMonitorSelector: {}, podMonitorSelector: {}}}
`,
		},
		{
			name: "v1beta1 back: labels kept, expressions cannot be, config a string",
			in: `apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: {name: c}
spec:
  config: {receivers: {otlp: {}}}
  targetAllocator:
    prometheusCR:
      serviceMonitorSelector: {matchLabels: {team: a}}
      podMonitorSelector: {matchExpressions: [{key: team, operator: Exists}]}
`, to: V1alpha1,
			want: `apiVersion: opentelemetry.io/v1alpha1
kind: OpenTelemetryCollector
metadata: {name: c}
spec:
  config: "receivers:\n  otlp: {}\n"
  targetAllocator: {prometheusCR: {serviceMonitorSelector: {team: a}}}
`,
		},
		{
			name: "a config that is no mapping fails the conversion",
			in:   "apiVersion: opentelemetry.io/v1alpha1\nkind: OpenTelemetryCollector\nmetadata: {name: c, namespace: obs}\nspec: {config: '[1, 2'}\n",
			to:   V1beta1, err: "obs/c: spec.config is not a YAML mapping",
		},
		{
			name: "other kinds are refused",
			in:   "apiVersion: opentelemetry.io/v1alpha1\nkind: TargetAllocator\nmetadata: {name: t}\n",
			to:   V1beta1, err: "TargetAllocator is not an OpenTelemetryCollector",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := collector(t, tt.in)
			err := Convert(obj, tt.to)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, collector(t, tt.want), obj)
		})
	}
}

// What the API server stores and hands back: v1alpha1 in, v1beta1 stored,
// v1alpha1 out, with the selectors ta-guard reads unchanged.
func TestRoundTripKeepsSelectors(t *testing.T) {
	in := `apiVersion: opentelemetry.io/v1alpha1
kind: OpenTelemetryCollector
metadata: {name: c}
spec:
  config: "receivers:\n  prometheus: {}\n"
  targetAllocator: {enabled: true, prometheusCR: {enabled: true, serviceMonitorSelector: {team: a}, podMonitorSelector: {team: b}}}
`
	obj := collector(t, in)
	require.NoError(t, Convert(obj, V1beta1))
	require.NoError(t, Convert(obj, V1alpha1))
	assert.Equal(t, collector(t, in), obj)
}

func TestHandler(t *testing.T) {
	objs := []runtime.RawExtension{
		{Raw: []byte(`{"apiVersion":"opentelemetry.io/v1alpha1","kind":"OpenTelemetryCollector","metadata":{"name":"a"},"spec":{"targetAllocator":{"prometheusCR":{"serviceMonitorSelector":{"team":"a"}}}}}`)},
	}
	post := func(objs []runtime.RawExtension) *apiextensionsv1.ConversionResponse {
		body, err := json.Marshal(apiextensionsv1.ConversionReview{Request: &apiextensionsv1.ConversionRequest{UID: "u1", DesiredAPIVersion: V1beta1, Objects: objs}})
		require.NoError(t, err)
		rec := httptest.NewRecorder()
		Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/convert", bytes.NewReader(body)))
		require.Equal(t, 200, rec.Code)
		var review apiextensionsv1.ConversionReview
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &review))
		require.NotNil(t, review.Response)
		assert.Equal(t, "u1", string(review.Response.UID))
		return review.Response
	}
	resp := post(objs)
	require.Equal(t, "Success", resp.Result.Status)
	require.Len(t, resp.ConvertedObjects, 1)
	assert.Contains(t, string(resp.ConvertedObjects[0].Raw), `"serviceMonitorSelector":{"matchLabels":{"team":"a"}}`)

	resp = post(append(objs, runtime.RawExtension{Raw: []byte(`{"apiVersion":"opentelemetry.io/v1alpha1","kind":"OpenTelemetryCollector","metadata":{"name":"b"},"spec":{"config":"[1"}}`)}))
	assert.Equal(t, "Failure", resp.Result.Status)
	assert.Contains(t, resp.Result.Message, "/b: spec.config")
	assert.Empty(t, resp.ConvertedObjects, "all or nothing")
}
