package validate

// The guide's objects, and variations used across the tests.
const (
	collectorAll = `
apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: {name: otelcol, namespace: opentelemetry}
spec:
  mode: statefulset
  targetAllocator:
    enabled: true
    prometheusCR: {enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}
  config:
    receivers: {prometheus: {config: {scrape_configs: []}}}
    service: {pipelines: {metrics: {receivers: [prometheus], exporters: [debug]}}}
`
	collectorApp = `
apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: {name: otelcol, namespace: opentelemetry}
spec:
  mode: statefulset
  targetAllocator:
    enabled: true
    prometheusCR:
      enabled: true
      serviceMonitorSelector: {matchLabels: {app: my-app}}
      podMonitorSelector: {}
  config:
    receivers: {prometheus: {config: {scrape_configs: []}}}
    service: {pipelines: {metrics: {receivers: [prometheus], exporters: [debug]}}}
`
	serviceProm = `
apiVersion: v1
kind: Service
metadata:
  name: py-prometheus-app
  namespace: opentelemetry
  labels: {app: my-app, app.kubernetes.io/name: py-prometheus-app}
spec:
  selector: {app: my-app}
  ports: [{name: prom, port: 8080}]
`
	serviceBleh = `
apiVersion: v1
kind: Service
metadata:
  name: py-prometheus-app
  namespace: opentelemetry
  labels: {app: my-app, app.kubernetes.io/name: py-prometheus-app}
spec:
  selector: {app: my-app}
  ports: [{name: bleh, port: 8080}]
`
	smExample = `
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: sm-example
  namespace: opentelemetry
  labels: {app.kubernetes.io/name: py-prometheus-app, release: prometheus}
spec:
  selector: {matchLabels: {app: my-app}}
  namespaceSelector: {matchNames: [opentelemetry]}
  endpoints:
  - port: prom
  - port: py-client-port
  - port: py-server-port
`
	smOneEndpoint = `
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: sm, namespace: opentelemetry, labels: {app: my-app}}
spec:
  selector: {matchLabels: {app: my-app}}
  endpoints: [{port: prom}]
`
	podsApp = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: py-app, namespace: opentelemetry}
spec:
  selector: {matchLabels: {app: my-app}}
  template:
    metadata: {labels: {app: my-app}}
    spec:
      containers:
      - name: app
        image: app
        ports: [{name: http-metrics, containerPort: 9090}, {containerPort: 8080}]
`
)

// receiverConfig is a collector's spec.config: a prometheus receiver with
// the scrape configs given (list items indented for it), in a metrics
// pipeline.
func receiverConfig(scrapeConfigs string) string {
	return `  config:
    receivers:
      prometheus:
        config:
          scrape_configs:
` + scrapeConfigs + `    exporters: {debug: {}}
    service: {pipelines: {metrics: {receivers: [prometheus], exporters: [debug]}}}
`
}
