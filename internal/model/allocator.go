package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"reflect"
	"regexp"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	otelv1alpha1 "github.com/ta-guard/ta-guard/internal/apis/opentelemetry/v1alpha1"
	otelv1beta1 "github.com/ta-guard/ta-guard/internal/apis/opentelemetry/v1beta1"
)

// Operator defaults, written into every collector by the operator's defaulting
// whether or not the TA is enabled; they are never evidence of user intent.
const (
	DefaultMode               = "deployment"
	DefaultAllocationStrategy = "consistent-hashing"
	StrategyPerNode           = "per-node"
)

// Allocator is a Target Allocator whatever its source: a collector's embedded
// TA (v1alpha1 or v1beta1) or a standalone TargetAllocator.
type Allocator struct {
	Reader

	// Standalone is a TargetAllocator object (always on, no mode, no receiver).
	Standalone bool
	// Generated names the collector the operator generates from the object
	// (a ClusterObservability's "<name>-cluster"): it stands for that
	// collector, whose settings are the operator's, not the user's.
	Generated string
	// Enabled is spec.targetAllocator.enabled (always true when Standalone).
	Enabled bool
	// DisabledOnPurpose: enabled: false is written out, so the settings
	// beside it are kept for later, not a TA someone forgot to turn on.
	DisabledOnPurpose bool
	// PrometheusCR is prometheusCR.enabled.
	PrometheusCR bool
	// Mode of the collector, defaulted as the operator does ("" if Standalone).
	Mode string
	// AllocationStrategy, defaulted as the operator does.
	AllocationStrategy string
	// ServiceAccount as written; see EffectiveServiceAccount.
	ServiceAccount string
	// CollectorServiceAccount is the collector pods' service account as
	// written; see EffectiveCollectorServiceAccount.
	CollectorServiceAccount string
	// ServesSecrets: the TA hands its collectors the credentials of their
	// scrape configs as written, over mTLS (mtls.enabled) or, allowed to,
	// over plain HTTP (allowInsecureAuthSecrets). Otherwise they receive
	// "<secret>" in their place (TA110).
	ServesSecrets bool

	// Settings are the user-set fields of the targetAllocator block (paths),
	// operator defaults left out: evidence that a TA was wanted (TA001).
	Settings []string
	// CRSettings are the user-set fields of prometheusCR (TA002).
	CRSettings []string
	// NilSelectors lists the monitor kinds whose selector is nil under
	// v1beta1 semantics: that kind is never read (TA003).
	NilSelectors []MonitorKind
	// AllowAndDeny is true when both allowNamespaces and denyNamespaces are set.
	AllowAndDeny bool
	// ScrapeConfigsAndProbes: scrapeConfigSelector or probeSelector is set,
	// so the TA also needs to read those kinds.
	ScrapeConfigsAndProbes bool
	// ScrapeClasses: prometheusCR.scrapeClasses is set; their relabelings
	// run before a monitor's own (TA111).
	ScrapeClasses bool
	// SecretNamespaces are where the TA reads Secrets monitors refer to
	// (default: its own namespace).
	SecretNamespaces []string
	// Receiver describes the collector's prometheus receiver (nil if Standalone).
	Receiver *Receiver
	// ScrapeConfigs is how many static scrape configs feed the TA: the
	// receiver's scrape_configs, or a standalone TA's spec.scrapeConfigs.
	ScrapeConfigs int
	// StaticJobs are their job_name values: TA jobs besides the monitors'.
	StaticJobs []string
	// Field is the path of the TA block in the source (spec.targetAllocator).
	Field *field.Path
	// Own are a standalone TargetAllocator's spec.scrapeConfigs' facts.
	Own ScrapeFacts
	// AttachedTo is the standalone TargetAllocator a collector is attached
	// to (label opentelemetry.io/target-allocator), in its own namespace.
	AttachedTo string
}

// AttachLabel attaches a collector to a standalone TargetAllocator of its
// namespace: the operator then hands the collector's scrape configs to that
// TA and the TA's targets to the collector's pods.
const AttachLabel = "opentelemetry.io/target-allocator"

// Attached reports whether a collector feeds a standalone TargetAllocator
// rather than running an embedded one (an enabled embedded TA wins).
func (a *Allocator) Attached() bool { return !a.Standalone && !a.Enabled && a.AttachedTo != "" }

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

// Served are the facts of the scrape configs the allocator's own TA
// serves: a standalone TargetAllocator's spec.scrapeConfigs, or the
// receiver's of a collector whose embedded TA is enabled; nil otherwise (an
// attached collector's are served by the TargetAllocator it names).
func (a *Allocator) Served() *ScrapeFacts {
	switch {
	case a.Standalone:
		return &a.Own
	case a.Enabled && a.Receiver != nil:
		return &a.Receiver.ScrapeFacts
	}
	return nil
}

// EffectiveServiceAccount is the service account the TA pod runs as: the
// operator creates <collector>-targetallocator when none is set.
func (a *Allocator) EffectiveServiceAccount() string {
	if a.ServiceAccount != "" {
		return a.ServiceAccount
	}
	return a.Ref.Name + "-targetallocator"
}

// EffectiveCollectorServiceAccount is the service account the collector's
// pods run as, and scrape with: the operator creates <name>-collector when
// none is set (naming.ServiceAccount).
func (a *Allocator) EffectiveCollectorServiceAccount() string {
	if a.CollectorServiceAccount != "" {
		return a.CollectorServiceAccount
	}
	return generatedName(a.Ref.Name, "-collector")
}

// enabled reads targetAllocator.enabled: whether it is true, and whether
// it is written out false.
func enabled(b *bool) (on, offOnPurpose bool) {
	return b != nil && *b, b != nil && !*b
}

// servesSecrets is the operator's test (manifestutils.IsTAMTLSEnabled, and
// the TA server's allowInsecureAuthSecrets): without either the TA serves
// every Prometheus Secret of a scrape config as "<secret>".
func servesSecrets(mtls *otelv1beta1.TargetAllocatorMTLS, insecure bool) bool {
	return mtls != nil && mtls.Enabled || insecure
}

// AllocatorFromV1beta1 normalizes a v1beta1 collector.
func AllocatorFromV1beta1(c *otelv1beta1.OpenTelemetryCollector) (*Allocator, error) {
	ta := &c.Spec.TargetAllocator
	a := newAllocator(c.ObjectMeta, "opentelemetry.io/v1beta1", "OpenTelemetryCollector")
	a.Field = field.NewPath("spec", "targetAllocator")
	a.Enabled, a.DisabledOnPurpose = enabled(ta.Enabled)
	a.Mode = orDefault(c.Spec.Mode, DefaultMode)
	a.CollectorServiceAccount = c.Spec.ServiceAccount
	a.AllocationStrategy = orDefault(ta.AllocationStrategy, DefaultAllocationStrategy)
	a.ServiceAccount = ta.ServiceAccount
	a.ServesSecrets = servesSecrets(ta.Mtls, ta.AllowInsecureAuthSecrets)
	a.Settings = embeddedSettings(a.Field, ta.ServiceAccount, ta.Image, ta.AllocationStrategy)
	if err := a.setPrometheusCR(&ta.PrometheusCR, a.Field.Child("prometheusCR")); err != nil {
		return nil, err
	}
	if ta.PrometheusCR.Enabled {
		a.Settings = append([]string{a.Field.Child("prometheusCR", "enabled").String()}, a.Settings...)
	}
	a.Settings = append(a.Settings, a.CRSettings...)
	rcv, n, err := parseCollectorConfig(c.Spec.Config.Raw)
	if err != nil {
		return nil, fmt.Errorf("spec.config: %w", err)
	}
	a.Receiver, a.ScrapeConfigs, a.StaticJobs = rcv, n, rcv.jobs
	a.Active = a.Enabled && a.PrometheusCR
	return a, nil
}

// AllocatorFromV1alpha1 normalizes a v1alpha1 collector, whose selectors are
// maps where nil or empty means every monitor.
func AllocatorFromV1alpha1(c *otelv1alpha1.OpenTelemetryCollector) (*Allocator, error) {
	ta := &c.Spec.TargetAllocator
	a := newAllocator(c.ObjectMeta, "opentelemetry.io/v1alpha1", "OpenTelemetryCollector")
	a.Field = field.NewPath("spec", "targetAllocator")
	a.Enabled, a.DisabledOnPurpose = enabled(ta.Enabled)
	a.PrometheusCR = ta.PrometheusCR.Enabled
	a.ScrapeClasses = len(ta.PrometheusCR.ScrapeClasses) > 0
	a.Mode = orDefault(c.Spec.Mode, DefaultMode)
	a.CollectorServiceAccount = c.Spec.ServiceAccount
	a.AllocationStrategy = orDefault(ta.AllocationStrategy, DefaultAllocationStrategy)
	a.ServiceAccount = ta.ServiceAccount
	a.Settings = embeddedSettings(a.Field, ta.ServiceAccount, ta.Image, ta.AllocationStrategy)
	cr := a.Field.Child("prometheusCR")
	selectors := [NumMonitorKinds]map[string]string{ta.PrometheusCR.ServiceMonitorSelector, ta.PrometheusCR.PodMonitorSelector}
	for _, k := range MonitorKinds {
		mf := cr.Child(k.lowerCamel() + "Selector")
		if !k.SelectsWorkloads() {
			// v1alpha1 has no scrapeConfigSelector or probeSelector: the
			// operator converts to v1beta1 with them nil, which reads none.
			a.Scopes[k] = Scope{
				Monitors: SelectNothing("not in v1alpha1"), MonitorsField: mf,
				Namespaces: SelectAll("all"), NamespacesField: cr.Child(k.lowerCamel() + "NamespaceSelector"),
			}
			continue
		}
		sel := SelectMap(selectors[k])
		if len(selectors[k]) == 0 {
			sel.Text = "unset (v1alpha1: all)"
		} else {
			a.CRSettings = append(a.CRSettings, mf.String())
		}
		a.Scopes[k] = Scope{
			Monitors: sel, MonitorsField: mf,
			Namespaces: SelectAll("all"), NamespacesField: cr.Child(k.lowerCamel() + "NamespaceSelector"),
		}
		for _, key := range []string{"matchLabels", "matchExpressions"} {
			if _, ok := selectors[k][key]; ok {
				a.Scopes[k].MapKeyMistake = key
			}
		}
	}
	if ta.PrometheusCR.Enabled {
		a.Settings = append([]string{cr.Child("enabled").String()}, a.Settings...)
	}
	a.Settings = append(a.Settings, a.CRSettings...)
	var raw []byte
	if strings.TrimSpace(c.Spec.Config) != "" {
		j, err := yaml.YAMLToJSON([]byte(c.Spec.Config))
		if err != nil {
			return nil, fmt.Errorf("spec.config: not valid YAML: %w", err)
		}
		raw = j
	}
	rcv, n, err := parseCollectorConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("spec.config: %w", err)
	}
	a.Receiver, a.ScrapeConfigs, a.StaticJobs = rcv, n, rcv.jobs
	a.Active = a.Enabled && a.PrometheusCR
	return a, nil
}

// AllocatorFromTargetAllocator normalizes a standalone TargetAllocator.
func AllocatorFromTargetAllocator(t *otelv1alpha1.TargetAllocator) (*Allocator, error) {
	a := newAllocator(t.ObjectMeta, "opentelemetry.io/v1alpha1", "TargetAllocator")
	a.Field = field.NewPath("spec")
	a.Standalone = true
	a.Enabled = true
	a.AllocationStrategy = orDefault(t.Spec.AllocationStrategy, DefaultAllocationStrategy)
	a.ServiceAccount = t.Spec.ServiceAccount
	a.ServesSecrets = servesSecrets(t.Spec.Mtls, t.Spec.AllowInsecureAuthSecrets)
	if err := a.setPrometheusCR(&t.Spec.PrometheusCR, a.Field.Child("prometheusCR")); err != nil {
		return nil, err
	}
	a.ScrapeConfigs = len(t.Spec.ScrapeConfigs)
	for i, raw := range t.Spec.ScrapeConfigs {
		var sc scrapeConfig
		if json.Unmarshal(raw.Raw, &sc) != nil {
			continue // the operator's webhook refuses it
		}
		if sc.JobName != "" {
			a.StaticJobs = append(a.StaticJobs, sc.JobName)
		}
		a.Own.add(&sc, field.NewPath("spec", "scrapeConfigs").Index(i))
	}
	a.Active = a.PrometheusCR
	return a, nil
}

// AllocatorFromClusterObservability stands for the cluster collector the
// operator generates from a ClusterObservability (internal/manifests/
// clusterobservability): a statefulset "<name>-cluster" in its namespace,
// labelled opentelemetry.io/target-allocator: "<name>-targetallocator", with
// a prometheus receiver in a metrics pipeline and no embedded TA. The
// TargetAllocator of that name, which the user creates, hands it its
// targets. (Its other collector, the "<name>-agent" daemonset, runs no TA
// and reads no monitor.) Live, the generated collector itself is in the
// cluster: the kind is read from manifests only.
func AllocatorFromClusterObservability(co *otelv1alpha1.ClusterObservability) (*Allocator, error) {
	a := newAllocator(co.ObjectMeta, "opentelemetry.io/v1alpha1", "ClusterObservability")
	a.Field = field.NewPath("spec")
	a.Generated = generatedName(co.Name, "-cluster")
	a.Mode = "statefulset"
	a.AllocationStrategy = DefaultAllocationStrategy
	a.AttachedTo = generatedName(co.Name, "-targetallocator")
	a.Receiver = &Receiver{Present: true, InMetricsPipeline: true}
	return a, nil
}

// generatedName is the operator's naming.Truncate("%s"+suffix, 63, name):
// the name gives way, not the suffix, and the result is trimmed of what is
// not a letter or digit at either end.
func generatedName(name, suffix string) string {
	if excess := len(name) + len(suffix) - 63; excess > 0 {
		name = name[:max(len(name)-excess, 0)]
	}
	return strings.TrimFunc(name+suffix, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
	})
}

func newAllocator(om metav1.ObjectMeta, apiVersion, kind string) *Allocator {
	a := &Allocator{}
	if kind == "OpenTelemetryCollector" {
		a.AttachedTo = om.Labels[AttachLabel]
	}
	a.Meta = Meta{
		Ref:         Ref{APIVersion: apiVersion, Kind: kind, Namespace: om.Namespace, Name: om.Name},
		Labels:      om.Labels,
		Annotations: keepOwnAnnotations(om.Annotations),
	}
	a.Allocator = true
	a.owner = a
	return a
}

// setPrometheusCR applies the v1beta1 semantics shared by v1beta1 collectors
// and TargetAllocators: a nil monitor selector selects nothing, a nil or {}
// namespace selector selects every namespace.
func (a *Allocator) setPrometheusCR(cr *otelv1beta1.PrometheusCR, path *field.Path) error {
	a.PrometheusCR = cr.Enabled
	allow, deny := toSet(cr.AllowNamespaces), toSet(cr.DenyNamespaces)
	a.AllowAndDeny = allow != nil && deny != nil
	if allow != nil {
		a.CRSettings = append(a.CRSettings, path.Child("allowNamespaces").String())
	}
	if deny != nil {
		a.CRSettings = append(a.CRSettings, path.Child("denyNamespaces").String())
	}
	monitorSel := [NumMonitorKinds]*metav1.LabelSelector{cr.ServiceMonitorSelector, cr.PodMonitorSelector, cr.ScrapeConfigSelector, cr.ProbeSelector}
	nsSel := [NumMonitorKinds]*metav1.LabelSelector{cr.ServiceMonitorNamespaceSelector, cr.PodMonitorNamespaceSelector, cr.ScrapeConfigNamespaceSelector, cr.ProbeNamespaceSelector}
	for _, k := range MonitorKinds {
		mf := path.Child(k.lowerCamel() + "Selector")
		nf := path.Child(k.lowerCamel() + "NamespaceSelector")
		s := Scope{MonitorsField: mf, NamespacesField: nf, Allow: allow, Deny: deny}
		if monitorSel[k] == nil {
			s.Monitors = SelectNothing("unset")
			a.NilSelectors = append(a.NilSelectors, k)
		} else {
			sel := a.selectLabels(monitorSel[k], mf)
			s.Monitors = sel
			if !sel.All() {
				// {} is what the operator's conversion writes for every
				// v1alpha1 collector, TA or not: only a restriction is
				// a setting someone forgot to enable.
				a.CRSettings = append(a.CRSettings, mf.String())
			}
		}
		sel := a.selectLabels(nsSel[k], nf)
		if !sel.All() {
			// {} is the CRD default; only a real restriction is a setting.
			a.CRSettings = append(a.CRSettings, nf.String())
		}
		s.Namespaces = sel
		a.Scopes[k] = s
	}
	a.ScrapeConfigsAndProbes = cr.ScrapeConfigSelector != nil || cr.ProbeSelector != nil
	a.SecretNamespaces = cr.SecretNamespaces
	a.ScrapeClasses = len(cr.ScrapeClasses) > 0
	return nil
}

// embeddedSettings lists the fields of an embedded TA block that only a user
// sets: the operator defaults allocationStrategy, filterStrategy, intervals
// and namespace selectors into every collector, so those prove nothing.
func embeddedSettings(path *field.Path, serviceAccount, image, strategy string) []string {
	var out []string
	if serviceAccount != "" {
		out = append(out, path.Child("serviceAccount").String())
	}
	if image != "" {
		out = append(out, path.Child("image").String())
	}
	if strategy != "" && strategy != DefaultAllocationStrategy {
		out = append(out, path.Child("allocationStrategy").String())
	}
	return out
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
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

// describeJSONError names the field of a type error ("service.pipelines:
// expected an object, got array"), in the words of the manifest rather than
// of Go types.
func describeJSONError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		want := jsonKind(te.Type)
		got := te.Value
		switch got {
		case "array":
			got = "a list"
		case "object":
			got = "an object"
		case "string":
			got = "a string"
		case "bool":
			got = "true or false"
			if want == "a string" {
				// What YAML 1.1, as kubectl reads it, makes of no, off, yes, on.
				got += " (unquoted yes, no, on and off are booleans in YAML: quote the value)"
			}
		default:
			if strings.HasPrefix(got, "number") {
				got = "a number"
			}
		}
		field := jsonPath(te.Field)
		if field == "" {
			return fmt.Errorf("expected %s, got %s", want, got)
		}
		return fmt.Errorf("%s: expected %s, got %s", field, want, got)
	}
	return err
}

// jsonPath is a decoding error's field path as the API server would name
// it: encoding/json includes the Go names of embedded structs
// (spec.CommonPrometheusFields.serviceMonitorSelector), which are no
// fields of the object.
func jsonPath(field string) string {
	if field == "" {
		return ""
	}
	embedded := embeddedNames()
	parts := strings.Split(field, ".")
	out := parts[:0]
	for _, p := range parts {
		if !embedded[p] {
			out = append(out, p)
		}
	}
	return strings.Join(out, ".")
}

// embeddedNames are the Go names of the structs the decoded kinds embed
// without a JSON name of their own. Set in init: the kinds' decoders report
// errors through it.
var embeddedNames func() map[string]bool

func init() { embeddedNames = sync.OnceValue(findEmbeddedNames) }

func findEmbeddedNames() map[string]bool {
	names := map[string]bool{}
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Anonymous && name == "" {
				names[f.Name] = true
			}
			walk(f.Type)
		}
	}
	for _, k := range byGVK {
		walk(reflect.TypeOf(k.New()))
	}
	return names
}

func jsonKind(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "an object" // json.RawMessage
		}
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	}
	return t.String()
}
