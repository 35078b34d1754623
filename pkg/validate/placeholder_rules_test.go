package validate

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ta-guard/ta-guard/pkg/rules"
)

// TA016: placeholders the TA never expands, in the scrape configs it serves
// (the collector's receiver, when a TA takes them) and in a monitor's
// namespaceSelector.matchNames.
func TestPlaceholdersNotExpanded(t *testing.T) {
	receiver := func(ta, scrape string) string { return "  mode: daemonset\n" + ta + receiverConfig(scrape) }
	const perNodeTA = "  targetAllocator: {enabled: true, allocationStrategy: per-node, prometheusCR: {enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}}\n"
	nodeSelector := `          - job_name: kubelet
            kubernetes_sd_configs:
              - role: node
                selectors:
                  - role: node
                    field: metadata.name=${env:OTEL_K8S_NODE_NAME}
`
	staticTarget := `          - job_name: node-exporter
            static_configs:
              - targets: ["${env:OTEL_K8S_NODE_IP}:9100", "10.0.0.1:9100"]
            relabel_configs:
              - {source_labels: [__address__], regex: "(.*):.*", replacement: "${1}:9100", target_label: __address__}
`
	tests := []struct {
		name     string
		obj      string
		want     []string
		contains []string
	}{
		{
			name: "a node selector on the collector's env, with a TA", obj: collector(receiver(perNodeTA, nodeSelector)),
			want: []string{"TA016 kubelet"},
			contains: []string{
				`TA016 OpenTelemetryCollector obs/c job kubelet: config.receivers.prometheus.config.scrape_configs[0].kubernetes_sd_configs[0].selectors[0].field is "metadata.name=${env:OTEL_K8S_NODE_NAME}", a placeholder the TA does not expand`,
				"allocationStrategy: per-node",
			},
		},
		{
			// relabel_configs' ${1} is Prometheus's own group reference.
			name: "a static target on the collector's env; relabel's ${1} is no placeholder", obj: collector(receiver(perNodeTA, staticTarget)),
			want: []string{"TA016 node-exporter"}, contains: []string{`obs/c job node-exporter: config.receivers.prometheus.config.scrape_configs[0].static_configs[0].targets[0] is "${env:OTEL_K8S_NODE_IP}:9100"`},
		},
		{name: "without a TA the collector expands them itself", obj: collector(receiver("", nodeSelector+staticTarget)), want: []string{}},
		{name: "the escaped $${x} is a literal $", obj: collector(receiver(perNodeTA, strings.Replace(nodeSelector, "${env:", "$${env:", 1))), want: []string{}},
		{
			name: "a monitor's matchNames with $(NAMESPACE)",
			obj: `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: app, namespace: apps}
spec:
  namespaceSelector: {matchNames: [$(NAMESPACE), apps]}
  selector: {matchLabels: {app: a}}
  endpoints: [{port: http}]
`,
			want:     []string{"TA016"},
			contains: []string{`TA016 ServiceMonitor apps/app: namespaceSelector.matchNames[0] is "$(NAMESPACE)", a placeholder nothing expands in a ServiceMonitor`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := only(offline(t, Request{Operation: Create, Object: object(t, tt.obj)}, store(t), nil), rules.TA016)
			assert.Equal(t, tt.want, ids(fs), messages(fs))
			for _, c := range tt.contains {
				assert.Contains(t, messages(fs), c)
			}
		})
	}
}
