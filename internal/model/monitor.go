package model

import (
	"fmt"
	"regexp"
	"sort"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Monitor is a ServiceMonitor, a PodMonitor, a ScrapeConfig or a Probe:
// an object a TA turns into scrape jobs.
type Monitor struct {
	Meta
	Kind MonitorKind
	// Selector picks Services (ServiceMonitor) or Pods (PodMonitor); it
	// selects nothing for the kinds that bring their own targets.
	Selector Selection
	// Namespaces are the namespaces it looks in.
	Namespaces NamespaceSet
	// MatchNames is namespaceSelector.matchNames as written, when it applies.
	MatchNames []string
	Endpoints  []Endpoint
	// NamespaceRefs are the namespaces a ScrapeConfig's Kubernetes service
	// discovery or a Probe's ingress selector names.
	NamespaceRefs []NamespaceRef
	// SDSelectors are a ScrapeConfig's label selectors for Services or Pods.
	SDSelectors []SDSelector
	// JobLabel is spec.jobLabel: the label of the Service (Pod) whose value
	// names the job label of its targets.
	JobLabel string
	// AttachNode is a ServiceMonitor's attachMetadata.node: discovery then
	// labels an endpoint's targets with the node its nodeName names.
	AttachNode bool
	// Nodeless are a ScrapeConfig's targets that carry no node: static
	// ones and those of service discoveries outside Kubernetes (TA107
	// under a per-node TA). Their Job is empty: the ScrapeConfig's own.
	Nodeless []NodelessTargets
}

// NamespaceSet is a set of namespaces: all of them, or the listed ones.
type NamespaceSet struct {
	All   bool
	Names []string
}

// Has reports whether ns is in the set.
func (s NamespaceSet) Has(ns string) bool {
	if s.All {
		return true
	}
	for _, n := range s.Names {
		if n == ns {
			return true
		}
	}
	return false
}

func (s NamespaceSet) String() string {
	if s.All {
		return "all namespaces"
	}
	if len(s.Names) == 1 {
		return "namespace " + s.Names[0]
	}
	return fmt.Sprintf("namespaces %v", s.Names)
}

// Endpoint is one endpoint of a monitor; each is its own TA job.
type Endpoint struct {
	// Port is a port name: of the Service (ServiceMonitor) or of a container
	// (PodMonitor).
	Port string
	// PortNumber is a PodMonitor's declared container port number.
	PortNumber *int32
	// TargetPort is matched against the Pods' declared container ports.
	TargetPort *intstr.IntOrString
	// Secrets are the Secret keys the endpoint's credentials and TLS
	// material come from (basicAuth, authorization, oauth2, tlsConfig, ...).
	Secrets []SecretRef
	// Relabelings are its relabelings when one of them can drop a target
	// (TA111), nil otherwise.
	Relabelings []Relabeling
	// Path is a ServiceMonitor endpoint's metrics path as written.
	Path string
	// TokenFile: a ServiceMonitor endpoint authenticates with a bearer
	// token file, the collector pods' own service account token in
	// practice (the kubelet's ServiceMonitors).
	TokenFile bool

	// pattern is the anchored name pattern, when the name is a regex; it
	// is compiled on use, once per distinct pattern (compiledPattern).
	pattern string
}

// PortMatch says what an endpoint matches on, after the precedence rules.
type PortMatch int

const (
	// MatchAll: no port given, every port is scraped.
	MatchAll PortMatch = iota
	// MatchServicePortName: ServiceMonitor port, a Service port name.
	MatchServicePortName
	// MatchContainerPortName: PodMonitor port, or a string targetPort.
	MatchContainerPortName
	// MatchContainerPortNumber: PodMonitor portNumber, or a numeric targetPort.
	MatchContainerPortNumber
)

// Match resolves the precedence the Prometheus Operator applies: for a
// ServiceMonitor port > targetPort; for a PodMonitor port > portNumber >
// targetPort. Zero numbers and empty strings count as unset. A string
// targetPort is always a name, even "8080".
func (e Endpoint) Match(kind MonitorKind) (PortMatch, string, int32) {
	if e.Port != "" {
		if kind == ServiceMonitor {
			return MatchServicePortName, e.Port, 0
		}
		return MatchContainerPortName, e.Port, 0
	}
	if kind == PodMonitor && e.PortNumber != nil && *e.PortNumber != 0 {
		return MatchContainerPortNumber, "", *e.PortNumber
	}
	if e.TargetPort != nil {
		if e.TargetPort.Type == intstr.String && e.TargetPort.StrVal != "" {
			return MatchContainerPortName, e.TargetPort.StrVal, 0
		}
		if e.TargetPort.Type == intstr.Int && e.TargetPort.IntVal != 0 {
			return MatchContainerPortNumber, "", e.TargetPort.IntVal
		}
	}
	return MatchAll, "", 0
}

// NameMatches reports whether a port name satisfies the endpoint's name. The
// operator puts the name into a relabeling keep rule, so it is an anchored
// regular expression: "py-.*" is legitimate. A plain name compares literally,
// so an unnamed port never matches it.
func (e Endpoint) NameMatches(kind MonitorKind, name string) bool {
	_, want, _ := e.Match(kind)
	if e.pattern != "" {
		if re := compiledPattern(e.pattern); re != nil {
			return re.MatchString(name)
		}
	}
	return want != "" && name == want
}

// IsPattern reports whether the endpoint's port name is a regex rather than a
// plain name.
func (e Endpoint) IsPattern() bool { return e.pattern != "" }

// compile keeps the endpoint's name pattern when it is a regex within the
// limits, and says why when it is not judged: a pattern past them is left
// out with the rest of the monitor's endpoints (TA302). A name that is no
// valid regex compares literally, as before.
func (e *Endpoint) compile(kind MonitorKind) string {
	m, name, _ := e.Match(kind)
	if m != MatchServicePortName && m != MatchContainerPortName {
		return ""
	}
	if regexp.QuoteMeta(name) == name {
		return ""
	}
	src := "^(?:" + name + ")$"
	switch cost, err := patternCost(src); {
	case err != nil:
		return ""
	case len(name) > MaxPatternBytes:
		return fmt.Sprintf("a port-name pattern of %d bytes (at most %d are judged)", len(name), MaxPatternBytes)
	case cost > MaxPatternInstructions:
		return fmt.Sprintf("a port-name pattern of %d regex instructions (at most %d are judged)", cost, MaxPatternInstructions)
	}
	e.pattern = src
	return ""
}

// Describe renders the endpoint's port for messages: port "prom",
// targetPort 8080, ...
func (e Endpoint) Describe(kind MonitorKind) string {
	switch m, name, num := e.Match(kind); m {
	case MatchServicePortName, MatchContainerPortName:
		if e.Port != "" {
			return fmt.Sprintf("port %q", name)
		}
		return fmt.Sprintf("targetPort %q", name)
	case MatchContainerPortNumber:
		if kind == PodMonitor && e.PortNumber != nil && *e.PortNumber != 0 && e.Port == "" {
			return fmt.Sprintf("portNumber %d", num)
		}
		return fmt.Sprintf("targetPort %d", num)
	}
	return "all ports"
}

// EndpointPath is the field of endpoint i: spec.endpoints[i] or
// spec.podMetricsEndpoints[i].
func (m *Monitor) EndpointPath(i int) *field.Path {
	if m.Kind == PodMonitor {
		return field.NewPath("spec", "podMetricsEndpoints").Index(i)
	}
	return field.NewPath("spec", "endpoints").Index(i)
}

// Job is the TA job name of endpoint i: serviceMonitor/<ns>/<name>/<i>.
func (m *Monitor) Job(i int) string {
	return fmt.Sprintf("%s/%s/%s/%d", m.Kind.lowerCamel(), m.Ref.Namespace, m.Ref.Name, i)
}

// Jobs are the TA jobs the monitor makes: one per endpoint of a
// ServiceMonitor or PodMonitor, one for a ScrapeConfig
// (scrapeConfig/<ns>/<name>) or a Probe (probe/<ns>/<name>).
func (m *Monitor) Jobs() []string {
	if !m.Kind.SelectsWorkloads() {
		return []string{fmt.Sprintf("%s/%s/%s", m.Kind.lowerCamel(), m.Ref.Namespace, m.Ref.Name)}
	}
	out := make([]string, len(m.Endpoints))
	for i := range m.Endpoints {
		out[i] = m.Job(i)
	}
	return out
}

// MonitorFromServiceMonitor normalizes a ServiceMonitor.
func MonitorFromServiceMonitor(sm *monitoringv1.ServiceMonitor) (*Monitor, error) {
	m, err := newMonitor(sm.ObjectMeta, "ServiceMonitor", ServiceMonitor, &sm.Spec.Selector, sm.Spec.NamespaceSelector)
	if err != nil {
		return nil, err
	}
	eps := sm.Spec.Endpoints
	if len(eps) > MaxEndpoints {
		m.tooMany(field.NewPath("spec", "endpoints"), MaxEndpoints)
		return m, nil
	}
	for _, ep := range eps {
		//lint:ignore SA1019 the kubelet's ServiceMonitors still use bearerTokenFile
		tokenFile := ep.BearerTokenFile != ""
		m.Endpoints = append(m.Endpoints, Endpoint{Port: ep.Port, TargetPort: ep.TargetPort, Relabelings: keepRelabelings(ep.RelabelConfigs),
			Path: ep.Path, TokenFile: tokenFile})
	}
	m.JobLabel = sm.Spec.JobLabel
	if am := sm.Spec.AttachMetadata; am != nil && am.Node != nil {
		m.AttachNode = *am.Node
	}
	if !m.compileEndpoints() {
		return m, nil
	}
	m.serviceMonitorSecrets(eps)
	return m, nil
}

// MonitorFromPodMonitor normalizes a PodMonitor.
func MonitorFromPodMonitor(pm *monitoringv1.PodMonitor) (*Monitor, error) {
	m, err := newMonitor(pm.ObjectMeta, "PodMonitor", PodMonitor, &pm.Spec.Selector, pm.Spec.NamespaceSelector)
	if err != nil {
		return nil, err
	}
	if len(pm.Spec.PodMetricsEndpoints) > MaxEndpoints {
		m.tooMany(field.NewPath("spec", "podMetricsEndpoints"), MaxEndpoints)
		return m, nil
	}
	for _, ep := range pm.Spec.PodMetricsEndpoints {
		// targetPort is deprecated upstream but still honoured by the
		// Prometheus Operator and the TA: monitors in the wild use it.
		e := Endpoint{PortNumber: ep.PortNumber, TargetPort: ep.TargetPort, Relabelings: keepRelabelings(ep.RelabelConfigs)} //lint:ignore SA1019 still served and honoured

		if ep.Port != nil {
			e.Port = *ep.Port
		}
		m.Endpoints = append(m.Endpoints, e)
	}
	if !m.compileEndpoints() {
		return m, nil
	}
	m.JobLabel = pm.Spec.JobLabel
	m.podMonitorSecrets(pm.Spec.PodMetricsEndpoints)
	return m, nil
}

func newMonitor(om metav1.ObjectMeta, kind string, k MonitorKind, sel *metav1.LabelSelector, nsSel monitoringv1.NamespaceSelector) (*Monitor, error) {
	m := &Monitor{
		Meta: Meta{
			Ref:         Ref{APIVersion: monitoringv1.SchemeGroupVersion.String(), Kind: kind, Namespace: om.Namespace, Name: om.Name},
			Labels:      om.Labels,
			Annotations: keepOwnAnnotations(om.Annotations),
		},
		Kind: k,
	}
	m.Selector = m.selectLabels(sel, field.NewPath("spec", "selector"))
	switch {
	case nsSel.Any:
		// any wins over matchNames.
		m.Namespaces = NamespaceSet{All: true}
	case len(nsSel.MatchNames) > 0:
		m.MatchNames = dedupe(nsSel.MatchNames)
		m.Namespaces = NamespaceSet{Names: m.MatchNames}
	default:
		m.Namespaces = NamespaceSet{Names: []string{om.Namespace}}
	}
	return m, nil
}

// compileEndpoints readies the endpoints' name patterns. When one is past
// the limits, no endpoint is judged: the monitor keeps none (TA302 says so),
// so that no rule reads a port as missing that a pattern ta-guard did not
// evaluate would have matched.
func (m *Monitor) compileEndpoints() bool {
	for i := range m.Endpoints {
		if why := m.Endpoints[i].compile(m.Kind); why != "" {
			port := m.EndpointPath(i).Child("port")
			if m.Endpoints[i].Port == "" {
				port = m.EndpointPath(i).Child("targetPort")
			}
			m.Defects = append(m.Defects, Defect{Field: port, Detail: why})
			m.Endpoints = nil
			return false
		}
	}
	return true
}

func dedupe(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := make([]string, 0, len(in))
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func sortStrings(s []string) { sort.Strings(s) }
