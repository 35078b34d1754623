package model

import (
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// What the rules read of a collector's configuration: its prometheus
// receiver, and the facts of the scrape configs a TA serves.

// Receiver is what the rules need of the collector configuration.
type Receiver struct {
	// Present: a receiver named exactly "prometheus".
	Present bool
	// InMetricsPipeline: it is listed in service.pipelines.metrics or metrics/<x>.
	InMetricsPipeline bool
	// Lookalikes are receivers such as prometheus/foo, which the TA ignores.
	Lookalikes []string
	// TAEndpoint is receivers.prometheus.target_allocator.endpoint as
	// written: the operator sets it itself only when the collector's own TA
	// is enabled.
	TAEndpoint string
	// ScrapeFacts are what the rules read of its scrape_configs.
	ScrapeFacts
	jobs []string
}

// ScrapeFacts are what the rules read of the scrape configs a TA serves
// (a collector's receiver's, or a TargetAllocator's spec.scrapeConfigs).
type ScrapeFacts struct {
	// Placeholders are the strings that hold a placeholder (TA016).
	Placeholders []Placeholder
	// Nodeless are the targets that carry no node, job by job: the
	// per-node strategy needs one (TA107).
	Nodeless []NodelessTargets
	// Credentials are the inline credentials (up to maxPlaceholders),
	// which a TA serves as "<secret>" without mTLS (TA110).
	Credentials []Credential
	// KubeletJobs are the jobs that scrape the kubelets with the collector
	// pods' own token (TA017), up to maxPlaceholders.
	KubeletJobs []KubeletJob
}

// KubeletJob is a scrape config that scrapes every node's kubelet, found by
// Kubernetes discovery's node role, over HTTPS with the pod's service
// account token: where the role finds it (its address not rewritten), and
// the kubelet asks the API server whether that account may get the path's
// nodes subresource; or through the API server's proxy
// (kubernetes.default.svc, /api/v1/nodes/NAME/proxy/...), which asks for
// nodes/proxy itself.
type KubeletJob struct {
	Job string
	// MetricsPath as written ("" is /metrics); of a proxied job, the path
	// its relabelings set.
	MetricsPath string
	// ViaAPIServer: through the API server's proxy.
	ViaAPIServer bool
	Path         *field.Path
}

// saTokenFile is where a pod's service account token is mounted.
const saTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"

// How a scrape config reaches the kubelets (kubeletRoute).
type kubeletRoute uint8

const (
	notKubelet kubeletRoute = iota
	kubeletDirect
	kubeletViaAPIServer
)

// Past this many relabelings of the address, path or scheme, a job's
// route is not judged (and the cache keeps none of them).
const maxRouteRelabelings = 8

// apiServerHosts are the in-cluster names of the API server a pod reaches
// it by.
var apiServerHosts = map[string]bool{"kubernetes": true, "kubernetes.default": true, "kubernetes.default.svc": true, "kubernetes.default.svc.cluster.local": true}

// route reports how the scrape config reaches the kubelets with the
// collector pod's own token, and the path it asks for: where discovery's
// node role finds them, or through the API server's proxy as the classic
// cadvisor job does (the address replaced by kubernetes.default.svc:443,
// the path by /api/v1/nodes/${1}/proxy/metrics/cadvisor). Any other
// rewrite of the address, path or scheme: not judged.
func (sc *scrapeConfig) route() (kubeletRoute, string) {
	node := false
	for _, sd := range sc.KubernetesSDConfigs {
		node = node || strings.EqualFold(sd.Role, "node")
	}
	token := sc.BearerTokenFile == saTokenFile || sc.Authorization != nil && sc.Authorization.CredentialsFile == saTokenFile
	if !node || !token || !strings.EqualFold(sc.Scheme, "https") {
		return notKubelet, ""
	}
	var address, path string
	n := 0
	for _, rc := range sc.RelabelConfigs {
		switch rc.TargetLabel {
		case "__address__", "__metrics_path__", "__scheme__":
		default:
			continue
		}
		if n++; n > maxRouteRelabelings || rc.TargetLabel == "__scheme__" || rc.Action != "" && !strings.EqualFold(rc.Action, "replace") {
			return notKubelet, ""
		}
		if rc.TargetLabel == "__address__" {
			address = rc.Replacement
		} else {
			path = rc.Replacement
		}
	}
	if n == 0 {
		return kubeletDirect, sc.MetricsPath
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		host, port = address, "443"
	}
	if !apiServerHosts[host] || port != "443" || !proxyPath.MatchString(path) {
		return notKubelet, ""
	}
	return kubeletViaAPIServer, path
}

// proxyPath is the API server's proxy to a node's kubelet, the node's name
// written or taken from discovery (${1}, $1).
var proxyPath = regexp.MustCompile(`^/api/v1/nodes/[^/]{1,253}/proxy(/[^$]{0,200})?$`)

// add reads one scrape config, at path.
func (f *ScrapeFacts) add(sc *scrapeConfig, path *field.Path) {
	if r, p := sc.route(); r != notKubelet && len(f.KubeletJobs) < maxPlaceholders {
		f.KubeletJobs = append(f.KubeletJobs, KubeletJob{Job: sc.JobName, MetricsPath: p, ViaAPIServer: r == kubeletViaAPIServer, Path: path})
	}
	f.Placeholders = sc.placeholders(path, f.Placeholders)
	f.Nodeless = append(f.Nodeless, sc.nodeless(path)...)
	sc.credentials(func(name []string, v *string) {
		// An empty value stays empty: prometheus/common redacts only a
		// set one.
		if *v != "" && len(f.Credentials) < maxPlaceholders {
			f.Credentials = append(f.Credentials, Credential{Job: sc.JobName, Path: path.Child(name[0], name[1:]...)})
		}
	})
}

// collectorConfig is the slice of the collector configuration the rules read.
type collectorConfig struct {
	Receivers map[string]json.RawMessage `json:"receivers"`
	Service   struct {
		Pipelines map[string]struct {
			Receivers []string `json:"receivers"`
		} `json:"pipelines"`
	} `json:"service"`
}

type prometheusReceiver struct {
	Config struct {
		ScrapeConfigs []scrapeConfig `json:"scrape_configs"`
	} `json:"config"`
	TargetAllocator struct {
		Endpoint string `json:"endpoint"`
	} `json:"target_allocator"`
}

// scrapeConfig is what the rules read of one scrape config: its job name,
// and the strings a placeholder in which the TA would use as written (the
// collector expands ${env:X} in its own configuration, but with a TA these
// scrape configs are the TA's).
type scrapeConfig struct {
	JobName       string `json:"job_name"`
	StaticConfigs []struct {
		Targets []string `json:"targets,omitempty"`
	} `json:"static_configs,omitempty"`
	KubernetesSDConfigs []kubernetesSDConfig `json:"kubernetes_sd_configs,omitempty"`
	// The credentials Prometheus keeps as Secrets, which the TA redacts.
	// Compaction keeps only whether each is set.
	BasicAuth *struct {
		Password string `json:"password,omitempty"`
	} `json:"basic_auth,omitempty"`
	Authorization *struct {
		Credentials     string `json:"credentials,omitempty"`
		CredentialsFile string `json:"credentials_file,omitempty"`
	} `json:"authorization,omitempty"`
	BearerToken string `json:"bearer_token,omitempty"`
	// What a job of the kubelet reads (KubeletJobs): the scheme, path and
	// token file, and whether a relabeling rewrites where it scrapes.
	Scheme          string `json:"scheme,omitempty"`
	MetricsPath     string `json:"metrics_path,omitempty"`
	BearerTokenFile string `json:"bearer_token_file,omitempty"`
	RelabelConfigs  []struct {
		TargetLabel string `json:"target_label,omitempty"`
		Action      string `json:"action,omitempty"`
		Replacement string `json:"replacement,omitempty"`
	} `json:"relabel_configs,omitempty"`
	OAuth2 *struct {
		ClientSecret string `json:"client_secret,omitempty"`
	} `json:"oauth2,omitempty"`
	// otherSD are the keys of its service discoveries other than
	// Kubernetes' (dns_sd_configs, file_sd_configs, ...) that list one.
	otherSD []string
}

type kubernetesSDConfig struct {
	Role      string `json:"role,omitempty"`
	APIServer string `json:"api_server,omitempty"`
	Selectors []struct {
		Field string `json:"field,omitempty"`
		Label string `json:"label,omitempty"`
	} `json:"selectors,omitempty"`
	Namespaces *struct {
		Names []string `json:"names,omitempty"`
	} `json:"namespaces,omitempty"`
}

// UnmarshalJSON reads the scrape config's fields and, besides, which other
// service discoveries it uses: Prometheus has some thirty, each a
// <name>_sd_configs key, and none of them labels a target with a node.
func (sc *scrapeConfig) UnmarshalJSON(b []byte) error {
	type plain scrapeConfig
	if err := json.Unmarshal(b, (*plain)(sc)); err != nil {
		return err
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err != nil {
		return err
	}
	sc.otherSD = nil
	for k, v := range keys {
		var list []json.RawMessage
		if strings.HasSuffix(k, "_sd_configs") && k != "kubernetes_sd_configs" && json.Unmarshal(v, &list) == nil && len(list) > 0 {
			sc.otherSD = append(sc.otherSD, k)
		}
	}
	sortStrings(sc.otherSD)
	return nil
}

// MarshalJSON writes what UnmarshalJSON reads the same from: the other
// service discoveries as one empty entry each.
func (sc scrapeConfig) MarshalJSON() ([]byte, error) {
	type plain scrapeConfig
	b, err := json.Marshal(plain(sc))
	if err != nil || len(sc.otherSD) == 0 {
		return b, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for _, k := range sc.otherSD {
		m[k] = json.RawMessage(`[{}]`)
	}
	return json.Marshal(m)
}

// NodelessTargets are targets of one scrape config that carry no node:
// static targets, or those of a service discovery that names none (DNS,
// Consul, files, HTTP, the clouds; Kubernetes' service and ingress roles).
// The per-node strategy places a target on the node its discovery labels
// name and leaves the others to no collector (TA107).
type NodelessTargets struct {
	Job string
	// Static counts static targets; Discovery names the service discovery
	// as the manifest does otherwise.
	Static    int
	Discovery string
	// Path is where they are configured.
	Path *field.Path
}

func (n NodelessTargets) String() string {
	switch {
	case n.Discovery != "":
		return "the targets of its " + n.Discovery
	case n.Static == 1:
		return "its 1 static target"
	default:
		return fmt.Sprintf("its %d static targets", n.Static)
	}
}

// Credential is an inline credential of a scrape config: a field whose
// value Prometheus holds as a Secret (prometheus/common config.Secret),
// which marshals as "<secret>" unless told otherwise.
type Credential struct {
	Job  string
	Path *field.Path
}

// credentials calls f on each credential field of the scrape config.
func (sc *scrapeConfig) credentials(f func(name []string, v *string)) {
	if sc.BasicAuth != nil {
		f([]string{"basic_auth", "password"}, &sc.BasicAuth.Password)
	}
	if sc.Authorization != nil {
		f([]string{"authorization", "credentials"}, &sc.Authorization.Credentials)
	}
	f([]string{"bearer_token"}, &sc.BearerToken)
	if sc.OAuth2 != nil {
		f([]string{"oauth2", "client_secret"}, &sc.OAuth2.ClientSecret)
	}
}

// nodelessRoles are Kubernetes service discovery roles whose targets have
// no node label (Prometheus discovery/kubernetes: service.go, ingress.go).
var nodelessRoles = map[string]bool{"service": true, "ingress": true}

// nodeless lists the scrape config's targets that carry no node.
func (sc *scrapeConfig) nodeless(path *field.Path) []NodelessTargets {
	var out []NodelessTargets
	n := 0
	for _, st := range sc.StaticConfigs {
		n += len(st.Targets)
	}
	if n > 0 {
		out = append(out, NodelessTargets{Job: sc.JobName, Static: n, Path: path.Child("static_configs")})
	}
	for _, sd := range sc.KubernetesSDConfigs {
		// The path stops at the list: the cache keeps only these entries
		// of it (keepPlaceholders), so an index would not survive.
		if nodelessRoles[strings.ToLower(sd.Role)] {
			out = append(out, NodelessTargets{Job: sc.JobName, Discovery: "kubernetes_sd_configs (role " + sd.Role + ")", Path: path.Child("kubernetes_sd_configs")})
		}
	}
	for _, k := range sc.otherSD {
		out = append(out, NodelessTargets{Job: sc.JobName, Discovery: k, Path: path.Child(k)})
	}
	return out
}

// Placeholder is a string of a scrape config, or a monitor, holding a
// placeholder that nothing expands on its way to the TA.
type Placeholder struct {
	// Job is the scrape config's job_name ("" for a monitor).
	Job string
	// Path is where the string is in the object.
	Path  *field.Path
	Value string
	// Selector: the string is a Kubernetes service discovery selector.
	Selector bool
}

// HasPlaceholder reports whether s holds a placeholder a configuration
// loader would expand but the TA does not: ${...} (not the escaped $${),
// or Kubernetes' $(VAR).
func HasPlaceholder(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		if s[i] != '$' {
			continue
		}
		if s[i+1] == '$' {
			i++ // $$ is an escaped $
			continue
		}
		if (s[i+1] == '{' || s[i+1] == '(') && strings.IndexByte(s[i+2:], closing(s[i+1])) >= 0 {
			return true
		}
	}
	return false
}

func closing(open byte) byte {
	if open == '{' {
		return '}'
	}
	return ')'
}

// maxPlaceholders bounds the placeholders a collector's model keeps: one is
// enough to know the TA is fed text nothing expands, a few say where.
const maxPlaceholders = 20

// visit calls f on each string of the scrape config at path that a
// placeholder in would reach the TA as written, in document order.
func (sc *scrapeConfig) visit(path *field.Path, f func(p *field.Path, v *string, selector bool)) {
	for i := range sc.StaticConfigs {
		for j := range sc.StaticConfigs[i].Targets {
			f(path.Child("static_configs").Index(i).Child("targets").Index(j), &sc.StaticConfigs[i].Targets[j], false)
		}
	}
	for i := range sc.KubernetesSDConfigs {
		sd := &sc.KubernetesSDConfigs[i]
		sdPath := path.Child("kubernetes_sd_configs").Index(i)
		f(sdPath.Child("api_server"), &sd.APIServer, false)
		for j := range sd.Selectors {
			f(sdPath.Child("selectors").Index(j).Child("field"), &sd.Selectors[j].Field, true)
			f(sdPath.Child("selectors").Index(j).Child("label"), &sd.Selectors[j].Label, true)
		}
		if sd.Namespaces != nil {
			for j := range sd.Namespaces.Names {
				f(sdPath.Child("namespaces", "names").Index(j), &sd.Namespaces.Names[j], false)
			}
		}
	}
}

// placeholders appends to out those strings of the scrape config at path
// that hold one, up to maxPlaceholders in all.
func (sc *scrapeConfig) placeholders(path *field.Path, out []Placeholder) []Placeholder {
	sc.visit(path, func(p *field.Path, v *string, selector bool) {
		if len(out) < maxPlaceholders && HasPlaceholder(*v) {
			out = append(out, Placeholder{Job: sc.JobName, Path: p, Value: *v, Selector: selector})
		}
	})
	return out
}

// scrapeConfigsPath is where a collector's receiver keeps its scrape configs.
var scrapeConfigsPath = field.NewPath("spec", "config", "receivers", "prometheus", "config", "scrape_configs")

// parseCollectorConfig finds the receiver named exactly "prometheus" (the
// only one the operator wires to the TA), whether a metrics pipeline uses it,
// and how many scrape_configs it holds.
func parseCollectorConfig(raw []byte) (*Receiver, int, error) {
	r := &Receiver{}
	if len(raw) == 0 {
		return r, 0, nil
	}
	r.jobs = nil
	var cfg collectorConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, 0, describeJSONError(err)
	}
	n := 0
	for name, body := range cfg.Receivers {
		if name != "prometheus" {
			if strings.HasPrefix(name, "prometheus/") {
				r.Lookalikes = append(r.Lookalikes, name)
			}
			continue
		}
		r.Present = true
		var pr prometheusReceiver
		if len(body) > 0 && string(body) != "null" {
			if err := json.Unmarshal(body, &pr); err != nil {
				return nil, 0, fmt.Errorf("receivers.prometheus: %w", describeJSONError(err))
			}
		}
		n = len(pr.Config.ScrapeConfigs)
		r.TAEndpoint = strings.TrimSpace(pr.TargetAllocator.Endpoint)
		for i := range pr.Config.ScrapeConfigs {
			sc := &pr.Config.ScrapeConfigs[i]
			if sc.JobName != "" {
				r.jobs = append(r.jobs, sc.JobName)
			}
			r.add(sc, scrapeConfigsPath.Index(i))
		}
	}
	for name, p := range cfg.Service.Pipelines {
		if name != "metrics" && !strings.HasPrefix(name, "metrics/") {
			continue
		}
		for _, rcv := range p.Receivers {
			if rcv == "prometheus" {
				r.InMetricsPipeline = true
			}
		}
	}
	sortStrings(r.Lookalikes)
	return r, n, nil
}
