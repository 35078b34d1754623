package watch

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"

	"github.com/ta-guard/ta-guard/internal/model"
)

// The informers decode no more of a monitor's endpoints than the model
// reads: one past the limit, so that the model still knows the limit was
// passed (TA302), and the rest only scanned, so that a stored monitor of
// 400,000 empty endpoints costs what 1,001 do. Decoded as the informers
// decode: the scheme's codec, a list and single objects.
func TestInformersDecodeEndpointsWithinTheLimit(t *testing.T) {
	codecs := informerCodecs(t)
	decode := func(t *testing.T, doc string) runtime.Object { t.Helper(); return decodeWith(t, codecs, doc) }
	monitor := func(kind, field string, n int, ep string) string {
		return fmt.Sprintf(`{"apiVersion":"monitoring.coreos.com/v1","kind":%q,"metadata":{"name":"m","namespace":"ns"},"spec":{"selector":{"matchLabels":{"app":"a"}},"jobLabel":"j",%q:[%s]}}`,
			kind, field, strings.TrimSuffix(strings.Repeat(ep+",", n), ","))
	}
	for _, n := range []int{0, 3, model.MaxEndpoints, model.MaxEndpoints + 1, 400_000} {
		sm := decode(t, monitor("ServiceMonitor", "endpoints", n, `{"port":"web","path":"/m"}`))
		require.IsType(t, &cappedServiceMonitor{}, sm)
		typed := uncapped(sm).(*monitoringv1.ServiceMonitor)
		assert.Len(t, typed.Spec.Endpoints, min(n, model.MaxEndpoints+1))
		assert.Equal(t, "j", typed.Spec.JobLabel, "the rest of the spec is read")
		assert.Equal(t, "a", typed.Spec.Selector.MatchLabels["app"])
		if n > 0 {
			assert.Equal(t, "/m", typed.Spec.Endpoints[0].Path)
		}
		m, err := model.FromTyped(typed)
		require.NoError(t, err)
		assert.Equal(t, n > model.MaxEndpoints, len(m.GetMeta().Defects) == 1, "n=%d", n)

		pm := decode(t, monitor("PodMonitor", "podMetricsEndpoints", n, `{"port":"web"}`))
		assert.Len(t, uncapped(pm).(*monitoringv1.PodMonitor).Spec.PodMetricsEndpoints, min(n, model.MaxEndpoints+1))
	}

	list := decode(t, `{"apiVersion":"monitoring.coreos.com/v1","kind":"ServiceMonitorList","metadata":{},"items":[`+
		monitor("ServiceMonitor", "endpoints", 5000, `{}`)+`,`+monitor("ServiceMonitor", "endpoints", 2, `{}`)+`]}`)
	items := list.(*cappedServiceMonitorList).Items
	require.Len(t, items, 2)
	assert.Len(t, items[0].Spec.Endpoints, model.MaxEndpoints+1)
	assert.Len(t, items[1].Spec.Endpoints, 2)
	assert.Len(t, list.DeepCopyObject().(*cappedServiceMonitorList).Items[0].Spec.Endpoints, model.MaxEndpoints+1)

	// What the endpoints past the limit cost: nothing per endpoint.
	doc := []byte(monitor("ServiceMonitor", "endpoints", 400_000, `{}`))
	allocs := testing.AllocsPerRun(1, func() {
		_, _, err := codecs.UniversalDeserializer().Decode(doc, nil, nil)
		require.NoError(t, err)
	})
	assert.Less(t, allocs, float64(20*model.MaxEndpoints), "allocations follow the endpoints kept, not those sent")
}

// What the caches keep of Services, Pods and collectors is what the model
// reads of them, and no more: the model built from the stripped object is
// the one built from the whole object, and a Service or Pod of 30,000 ports
// or a collector configuration of a megabyte is held at the size of what is
// read (issue 26).
func TestCachesKeepWhatTheModelReads(t *testing.T) {
	codecs := informerCodecs(t)
	decode := func(t *testing.T, doc string) runtime.Object { t.Helper(); return decodeWith(t, codecs, doc) }
	ports := func(n int, f string) string {
		items := make([]string, n)
		for i := range items {
			items[i] = fmt.Sprintf(f, i, 1024+i%60000)
		}
		return strings.Join(items, ",")
	}
	// A collector configuration as the kube-stack chart and the operator's
	// e2e tests write them: exporters, processors, a prometheus receiver
	// with kubernetes service discovery and relabelings, a lookalike, and
	// pipelines of every signal.
	scrapeJobs := func(n int) string {
		jobs := make([]string, n)
		for i := range jobs {
			jobs[i] = fmt.Sprintf(`{"job_name":"job-%d","scrape_interval":"30s","kubernetes_sd_configs":[{"role":"pod","selectors":[{"role":"pod","field":"spec.nodeName=${env:OTEL_K8S_NODE_NAME}"}]}],"relabel_configs":[{"source_labels":["__meta_kubernetes_pod_label_app"],"regex":"app-%d","action":"keep"}]}`, i, i)
		}
		return strings.Join(jobs, ",")
	}
	relabelings := func(n int) string {
		items := make([]string, n)
		for i := range items {
			items[i] = fmt.Sprintf(`{"action":"keep","sourceLabels":["__meta_kubernetes_service_label_app"],"regex":"app-%d"}`, i)
		}
		return strings.Join(items, ",")
	}
	config := func(receiver string) string {
		return `{"receivers":{` + receiver + `"prometheus/self":{"config":{"scrape_configs":[{"job_name":"self","static_configs":[{"targets":["0.0.0.0:8888"]}]}]}},"otlp":{"protocols":{"grpc":{"endpoint":"0.0.0.0:4317"}}}},` +
			`"processors":{"batch":{},"k8sattributes":{"extract":{"metadata":["k8s.pod.name","k8s.namespace.name"]}}},` +
			`"exporters":{"otlphttp":{"endpoint":"https://otlp.example:4318","headers":{"x-team":"observability"}},"debug":{}},` +
			`"service":{"telemetry":{"metrics":{"level":"detailed"}},"pipelines":{"metrics":{"receivers":["prometheus","otlp"],"processors":["batch"],"exporters":["otlphttp"]},"metrics/self":{"receivers":["prometheus/self"],"exporters":["debug"]},"traces":{"receivers":["otlp"],"exporters":["otlphttp"]}}}}`
	}
	collector := func(cfg string) string {
		return `{"apiVersion":"opentelemetry.io/v1beta1","kind":"OpenTelemetryCollector","metadata":{"name":"c","namespace":"ns"},"spec":{"mode":"statefulset","config":` + cfg +
			`,"targetAllocator":{"enabled":true,"prometheusCR":{"enabled":true,"serviceMonitorSelector":{}}}}}`
	}
	collectorV1alpha1 := func(cfg string) string {
		b, err := json.Marshal(cfg)
		require.NoError(t, err)
		return `{"apiVersion":"opentelemetry.io/v1alpha1","kind":"OpenTelemetryCollector","metadata":{"name":"c","namespace":"ns"},"spec":{"mode":"statefulset","config":` + string(b) +
			`,"targetAllocator":{"enabled":true,"prometheusCR":{"enabled":true}}}}`
	}
	tests := []struct {
		name string
		doc  string
		// kept is the most bytes of JSON the stripped object may take.
		kept int
	}{
		{"a Service of 30,000 ports", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"s","namespace":"ns","labels":{"app":"a"}},"spec":{"selector":{"app":"a"},"externalIPs":["192.0.2.1"],"ports":[` + ports(30_000, `{"name":"p%d","port":%d,"targetPort":"http","protocol":"TCP"}`) + `]}}`, 50_000},
		{"a Service of a few ports", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"s","namespace":"ns"},"spec":{"selector":{"app":"a"},"ports":[{"name":"http","port":80,"targetPort":8080},{"port":9090}]}}`, 1_000},
		{"a Pod of 30,000 ports", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"ns","labels":{"app":"a"}},"spec":{"initContainers":[{"name":"i","image":"x","ports":[` + ports(600, `{"name":"i%d","containerPort":%d}`) + `]}],"containers":[{"name":"c","image":"x","ports":[` + ports(30_000, `{"name":"c%d","containerPort":%d}`) + `]}]},"status":{"phase":"Running","podIP":"10.0.0.1"}}`, 40_000},
		{"a scheduled Pod, Running but not Ready", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"ns","labels":{"app":"a"}},"spec":{"nodeName":"kwok-node-0","containers":[{"name":"c","image":"x"}]},"status":{"phase":"Running","podIP":"10.0.0.1","startTime":"2026-12-01T00:00:00Z","conditions":[{"type":"Initialized","status":"True"},{"type":"Ready","status":"False","reason":"ContainersNotReady","message":"containers with unready status: [c]"},{"type":"ContainersReady","status":"False"},{"type":"PodScheduled","status":"True"}]}}`, 400},
		{"a Ready Pod", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"ns"},"spec":{"nodeName":"kwok-node-0","containers":[{"name":"c","image":"x"}]},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}`, 400},
		{"an unscheduled Pod", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"ns"},"spec":{"containers":[{"name":"c","image":"x"}]},"status":{"phase":"Pending","conditions":[{"type":"PodScheduled","status":"False","reason":"Unschedulable"}]}}`, 400},
		{"a collector of 8,000 scrape jobs", collector(config(`"prometheus":{"config":{"scrape_configs":[` + scrapeJobs(8000) + `]},"target_allocator":{"endpoint":"http://c-targetallocator:80","interval":"30s","collector_id":"${POD_NAME}"}},`)), 200_000},
		{"a collector with a null prometheus receiver", collector(config(`"prometheus":null,`)), 1_000},
		{"a collector without a prometheus receiver", collector(config(``)), 1_000},
		{"a collector whose receiver the model rejects", collector(config(`"prometheus":{"config":"not an object"},`)), 2_000},
		{"a v1alpha1 collector", collectorV1alpha1("receivers:\n  prometheus:\n    config:\n      scrape_configs:\n      - job_name: a\n        static_configs: [{targets: ['x:1']}]\n  prometheus/other: {}\nexporters: {debug: {}}\nservice:\n  pipelines:\n    metrics/x: {receivers: [prometheus], exporters: [debug]}\n"), 1_000},
		{"a ServiceMonitor of 300 relabelings and metric relabelings", `{"apiVersion":"monitoring.coreos.com/v1","kind":"ServiceMonitor","metadata":{"name":"m","namespace":"ns"},"spec":{"selector":{},"endpoints":[{"port":"web","relabelings":[` + relabelings(300) + `],"metricRelabelings":[` + relabelings(300) + `]},{"port":"web","relabelings":[` + relabelings(3) + `],"metricRelabelings":[` + relabelings(300) + `]}]}}`, 30_000},
		{"a PodMonitor with metric relabelings", `{"apiVersion":"monitoring.coreos.com/v1","kind":"PodMonitor","metadata":{"name":"m","namespace":"ns"},"spec":{"selector":{},"podMetricsEndpoints":[{"port":"web","relabelings":[` + relabelings(2) + `],"metricRelabelings":[` + relabelings(300) + `]}]}}`, 1_000},
		{"a standalone TargetAllocator", `{"apiVersion":"opentelemetry.io/v1alpha1","kind":"TargetAllocator","metadata":{"name":"t","namespace":"ns"},"spec":{"prometheusCR":{"enabled":true},"scrapeConfigs":[` + scrapeJobs(50) + `,{"static_configs":[]}]}}`, 4_000}, // its job names and its first 20 placeholders
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			whole := decode(t, tt.doc)
			want, wantErr := model.FromTyped(uncapped(whole.DeepCopyObject()))
			stripped, err := Strip(whole)
			require.NoError(t, err)
			got, gotErr := model.FromTyped(uncapped(stripped.(runtime.Object)))
			if wantErr != nil {
				require.Error(t, gotErr)
				assert.Equal(t, wantErr.Error(), gotErr.Error(), "the error still shows")
			} else {
				require.NoError(t, gotErr)
				assert.Equal(t, want, got)
			}
			b, err := json.Marshal(stripped)
			require.NoError(t, err)
			assert.LessOrEqual(t, len(b), tt.kept, "of %d bytes", len(tt.doc))
		})
	}
}

// decodeWith decodes one object with codecs, which must take it.
func decodeWith(t *testing.T, codecs serializer.CodecFactory, doc string) runtime.Object {
	t.Helper()
	obj, _, err := codecs.UniversalDeserializer().Decode([]byte(doc), nil, nil)
	require.NoError(t, err)
	return obj
}

// informerCodecs decode as the informers do: with the scheme of NewScheme.
func informerCodecs(t *testing.T) serializer.CodecFactory {
	t.Helper()
	scheme, err := NewScheme()
	require.NoError(t, err)
	return serializer.NewCodecFactory(scheme)
}
