package model

import (
	"reflect"
	"testing"

	otelv1alpha1 "github.com/ta-guard/ta-guard/internal/apis/opentelemetry/v1alpha1"
	otelv1beta1 "github.com/ta-guard/ta-guard/internal/apis/opentelemetry/v1beta1"
)

// FuzzCompactConfig: the caches hold a collector's configuration compacted
// to what the model reads (internal/watch), and the configuration is the
// tenant's to write. Whatever it holds, the compact form must read exactly
// as the whole does, errors included, and never be larger.
func FuzzCompactConfig(f *testing.F) {
	f.Add([]byte(`{"receivers":{"prometheus":{"config":{"scrape_configs":[{"job_name":"a","static_configs":[{"targets":["x:1"]}]},{}]},"target_allocator":{"endpoint":" http://ta:80 "}},"prometheus/x":{},"otlp":{}},"service":{"pipelines":{"metrics":{"receivers":["prometheus"]},"traces":{"receivers":["otlp"]}}}}`))
	f.Add([]byte(`{"receivers":{"prometheus":null},"service":{"pipelines":{"metrics/a":{"receivers":null}}}}`))
	f.Add([]byte(`{"receivers":{"prometheus":{"config":"x"}}}`))
	f.Add([]byte(`{"Receivers":{"PROMETHEUS":{}},"receivers":{"prometheus":{"Config":{"Scrape_Configs":[{"Job_Name":"b"}]}}}}`))
	f.Add([]byte(`{"receivers":{"prometheus":{"config":{"scrape_configs":[{"job_name":"a"}]}}},"receivers":{}}`))
	f.Add([]byte(`{"receivers":{"prometheus":{"config":{"scrape_configs":[{"job_name":"k","static_configs":[{"targets":["${env:HOST}:9100","$${x}"]}],"kubernetes_sd_configs":[{"role":"pod","selectors":[{"role":"pod","field":"spec.nodeName=${env:OTEL_K8S_NODE_NAME}"}],"namespaces":{"names":["$(NS)"]}}]}]}}}}`))
	f.Add([]byte(`{"receivers":{"prometheus":{"config":{"scrape_configs":[{"job_name":"d","dns_sd_configs":[{"names":["a.example"]}],"file_sd_configs":[],"kubernetes_sd_configs":[{"role":"service"},{"role":"node","api_server":"${env:X}"}]}]}}}}`))
	f.Add([]byte(`{"receivers":{"prometheus":{"config":{"scrape_configs":[{"job_name":"kubelet","scheme":"https","metrics_path":"/metrics/cadvisor","bearer_token_file":"/var/run/secrets/kubernetes.io/serviceaccount/token","kubernetes_sd_configs":[{"role":"node"}]},{"job_name":"proxied","scheme":"https","authorization":{"credentials_file":"/var/run/secrets/kubernetes.io/serviceaccount/token"},"kubernetes_sd_configs":[{"role":"node"}],"relabel_configs":[{"target_label":"__address__","replacement":"kubernetes.default.svc:443"}]}]}}}}`))
	f.Add([]byte(`{"receivers":{"prometheus":{"config":{"scrape_configs":[{"job_name":"cadvisor","scheme":"https","bearer_token_file":"/var/run/secrets/kubernetes.io/serviceaccount/token","kubernetes_sd_configs":[{"role":"node"}],"relabel_configs":[{"action":"labelmap","regex":"__meta_kubernetes_node_label_(.+)"},{"target_label":"__address__","replacement":"kubernetes.default.svc:443"},{"source_labels":["__meta_kubernetes_node_name"],"regex":"(.+)","target_label":"__metrics_path__","replacement":"/api/v1/nodes/${1}/proxy/metrics/cadvisor"}]}]}}}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		compact := CompactCollectorConfig(raw)
		if len(compact) > len(raw) {
			t.Fatalf("compact form of %d bytes from %d", len(compact), len(raw))
		}
		wantR, wantN, wantErr := parseCollectorConfig(raw)
		gotR, gotN, gotErr := parseCollectorConfig(compact)
		if (wantErr == nil) != (gotErr == nil) || wantErr != nil && wantErr.Error() != gotErr.Error() {
			t.Fatalf("error %v, compacted %v", wantErr, gotErr)
		}
		if wantN != gotN || !reflect.DeepEqual(wantR, gotR) {
			t.Fatalf("read %d %+v, compacted %d %+v (from %s)", wantN, wantR, gotN, gotR, compact)
		}
		// The same bytes as a standalone TargetAllocator's scrape config,
		// twice (the placeholder limit spans them): the compact forms read
		// as the whole.
		raws := [][]byte{raw, raw}
		wantTA := taFromScrapeConfigs(raws)
		compacted := [][]byte{append([]byte(nil), raw...), append([]byte(nil), raw...)}
		CompactScrapeConfigs(compacted)
		for i := range raws {
			if len(compacted[i]) > len(raws[i]) {
				t.Fatalf("compact scrape config of %d bytes from %d", len(compacted[i]), len(raws[i]))
			}
		}
		if got := taFromScrapeConfigs(compacted); !reflect.DeepEqual(wantTA, got) {
			t.Fatalf("scrape configs read %+v, compacted %+v (from %s)", wantTA, got, compacted[0])
		}
	})
}

// taFromScrapeConfigs is what the model reads of a TargetAllocator with
// these spec.scrapeConfigs.
func taFromScrapeConfigs(raws [][]byte) *Allocator {
	t := &otelv1alpha1.TargetAllocator{}
	t.Name, t.Namespace = "t", "ns"
	for _, r := range raws {
		t.Spec.ScrapeConfigs = append(t.Spec.ScrapeConfigs, otelv1beta1.AnyConfig{Raw: r})
	}
	a, err := AllocatorFromTargetAllocator(t)
	if err != nil {
		return nil
	}
	return a
}
