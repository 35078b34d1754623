package model

import (
	"encoding/json"
	"reflect"
	"testing"
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
		var want, got jobName
		if json.Unmarshal(raw, &want) == nil && (json.Unmarshal(CompactScrapeConfig(raw), &got) != nil || want != got) {
			t.Fatalf("scrape config %+v, compacted %+v", want, got)
		}
	})
}
