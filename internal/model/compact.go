package model

import (
	"encoding/json"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The compact form the informers cache of a collector configuration:
// only what the rules read of it.

// keepPlaceholders empties what of the scrape config placeholders would not
// read, given kept placeholders before it; it returns how many are kept
// now. The job name and the scrape config's place in the list stay.
func (sc *scrapeConfig) keepPlaceholders(kept int) int {
	had := kept
	sc.visit(nil, func(_ *field.Path, v *string, _ bool) {
		if kept < maxPlaceholders && HasPlaceholder(*v) {
			kept++
		} else {
			*v = ""
		}
	})
	if kept == had {
		// The static targets stay, emptied, and the discoveries whose
		// targets carry no node, by their role alone (nodeless).
		var keep []kubernetesSDConfig
		for _, sd := range sc.KubernetesSDConfigs {
			if r := strings.ToLower(sd.Role); nodelessRoles[r] || r == "node" {
				keep = append(keep, kubernetesSDConfig{Role: sd.Role})
			}
		}
		sc.KubernetesSDConfigs = keep
	}
	return kept
}

// compact empties what of the scrape config ScrapeFacts would not read,
// given kept placeholders before it, and masks its credentials (a tenant's
// credential is no business of the cache: what is read is whether it is
// set); it returns how many placeholders are kept now.
func (sc *scrapeConfig) compact(kept int) int {
	route, _ := sc.route()
	kept = sc.keepPlaceholders(kept)
	// Of the kubelet's fields, only a kubelet job's stay: it reads the
	// same from them alone (scheme, path, the token file, and of a job
	// through the API server the relabelings that send it there).
	if route == kubeletViaAPIServer {
		rcs := sc.RelabelConfigs[:0]
		for _, rc := range sc.RelabelConfigs {
			if rc.TargetLabel == "__address__" || rc.TargetLabel == "__metrics_path__" {
				rcs = append(rcs, rc)
			}
		}
		sc.RelabelConfigs = rcs
	} else {
		sc.RelabelConfigs = nil
	}
	if route == notKubelet {
		sc.Scheme, sc.MetricsPath, sc.BearerTokenFile = "", "", ""
		if sc.Authorization != nil {
			sc.Authorization.CredentialsFile = ""
		}
	}
	sc.credentials(func(_ []string, v *string) {
		if *v != "" {
			*v = "x"
		}
	})
	return kept
}

// CompactCollectorConfig returns the part of a collector configuration (JSON)
// that parseCollectorConfig reads, which reads the same from it: the
// prometheus receiver's job names, scrape config count and TA endpoint, the
// names of its lookalikes and the metrics pipelines' receivers. A cache
// holds that instead of a configuration of up to 1.5 MiB. A configuration
// the parser rejects is returned as it is, so that its error still shows.
func CompactCollectorConfig(raw []byte) []byte {
	var cfg collectorConfig
	if len(raw) == 0 || json.Unmarshal(raw, &cfg) != nil {
		return raw
	}
	type pipeline struct {
		Receivers []string `json:"receivers"`
	}
	var out struct {
		Receivers map[string]any `json:"receivers,omitempty"`
		Service   struct {
			Pipelines map[string]pipeline `json:"pipelines,omitempty"`
		} `json:"service"`
	}
	for name, body := range cfg.Receivers {
		switch {
		case name == "prometheus":
			var pr prometheusReceiver
			if len(body) > 0 && string(body) != "null" && json.Unmarshal(body, &pr) != nil {
				return raw
			}
			kept := 0
			for i := range pr.Config.ScrapeConfigs {
				kept = pr.Config.ScrapeConfigs[i].compact(kept)
			}
			if out.Receivers == nil {
				out.Receivers = map[string]any{}
			}
			out.Receivers[name] = pr
		case strings.HasPrefix(name, "prometheus/"):
			if out.Receivers == nil {
				out.Receivers = map[string]any{}
			}
			out.Receivers[name] = nil
		}
	}
	for name, p := range cfg.Service.Pipelines {
		if name == "metrics" || strings.HasPrefix(name, "metrics/") {
			if out.Service.Pipelines == nil {
				out.Service.Pipelines = map[string]pipeline{}
			}
			out.Service.Pipelines[name] = pipeline{Receivers: p.Receivers}
		}
	}
	b, err := json.Marshal(out)
	if err != nil || len(b) >= len(raw) {
		return raw
	}
	return b
}

// CompactScrapeConfigs compacts a standalone TargetAllocator's
// spec.scrapeConfigs in place to what is read of them: their job names and
// what ScrapeFacts reads (placeholders up to the limit over all of them),
// credentials masked. A scrape config the parser rejects stays as it is.
func CompactScrapeConfigs(raws [][]byte) {
	kept := 0
	for i, raw := range raws {
		var sc scrapeConfig
		if json.Unmarshal(raw, &sc) != nil {
			continue
		}
		kept = sc.compact(kept)
		if b, err := json.Marshal(sc); err == nil && len(b) < len(raw) {
			raws[i] = b
		}
	}
}
