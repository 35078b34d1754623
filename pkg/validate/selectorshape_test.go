package validate

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ta-guard/ta-guard/pkg/rules"
)

// A v1alpha1 selector is a plain label map: matchLabels written into it (as
// a string, the only form its schema keeps) asks for a label named
// matchLabels. TA101 says the selector's shape is the mistake, and does not
// tell the monitor to carry a label called matchLabels.
func TestV1alpha1SelectorWithMatchLabelsKey(t *testing.T) {
	col := `apiVersion: opentelemetry.io/v1alpha1
kind: OpenTelemetryCollector
metadata: {name: c, namespace: obs}
spec:
  mode: statefulset
  targetAllocator: {enabled: true, prometheusCR: {enabled: true, serviceMonitorSelector: {matchLabels: "app=my-app"}}}
  config: "receivers: {prometheus: {config: {scrape_configs: []}}}\nservice: {pipelines: {metrics: {receivers: [prometheus]}}}"
`
	sm := `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: sm, namespace: obs, labels: {app: my-app}}
spec:
  selector: {matchLabels: {app: my-app}}
  endpoints: [{port: http}]
`
	fs := only(offline(t, Request{Operation: Create, Object: object(t, sm)}, store(t, col), nil), rules.TA101)
	assert.Equal(t, []string{"TA101"}, ids(fs))
	msg := messages(fs)
	assert.Contains(t, msg, "a v1alpha1 selector is a plain label map, so matchLabels: asks for a label named matchLabels, which no ServiceMonitor carries")
	assert.Contains(t, msg, "fix the shape of spec.targetAllocator.prometheusCR.serviceMonitorSelector of OpenTelemetryCollector obs/c")
	assert.NotContains(t, msg, "give the ServiceMonitor labels")
}

// TA102 for a kubelet ServiceMonitor where no Prometheus Operator created
// the kubelet's Service says that only it does.
func TestKubeletServiceMonitorWithoutItsService(t *testing.T) {
	sm := `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: kubelet, namespace: monitoring}
spec:
  namespaceSelector: {matchNames: [kube-system]}
  selector: {matchLabels: {app.kubernetes.io/name: kubelet, k8s-app: kubelet}}
  endpoints: [{port: https-metrics, scheme: https}]
`
	fs := only(offline(t, Request{Operation: Create, Object: object(t, sm)}, store(t), nil), rules.TA102)
	assert.Equal(t, []string{"TA102"}, ids(fs))
	assert.Contains(t, messages(fs), "the kubelet has no Service of its own: only the Prometheus Operator creates one")
}
