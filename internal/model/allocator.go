package model

import (
	"encoding/json"
	"fmt"
	"strings"

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
