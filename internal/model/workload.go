package model

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Service is what the rules read of a Service.
type Service struct {
	Meta
	// Selector picks the Pods behind the Service; nil for a selector-less
	// Service (its endpoints are managed by hand).
	Selector map[string]string
	Ports    []ServicePort
	// PortsIncomplete: Ports lists only some of the ports (a Service the
	// operator generates from a collector configuration ta-guard does not
	// model); a port name not among them is unknown, not missing.
	PortsIncomplete bool
}

// ServicePort is one port of a Service.
type ServicePort struct {
	Name string
	Port int32
}

// HasPortFor reports whether a port of the Service satisfies a
// ServiceMonitor endpoint's port name.
func (s *Service) HasPortFor(e Endpoint) bool {
	for _, p := range s.Ports {
		if e.NameMatches(ServiceMonitor, p.Name) {
			return true
		}
	}
	return false
}

// PortList renders the ports for messages: "prom, <unnamed 8080>".
func (s *Service) PortList() string {
	if len(s.Ports) == 0 {
		return "(no ports)"
	}
	parts := make([]string, len(s.Ports))
	for i, p := range s.Ports {
		if p.Name == "" {
			parts[i] = fmt.Sprintf("<unnamed %d>", p.Port)
		} else {
			parts[i] = p.Name
		}
	}
	return strings.Join(parts, ", ")
}

// ServiceFromCore normalizes a Service.
func ServiceFromCore(s *corev1.Service) *Service {
	out := &Service{
		Meta: Meta{
			Ref:         Ref{APIVersion: "v1", Kind: "Service", Namespace: s.Namespace, Name: s.Name},
			Labels:      s.Labels,
			Annotations: keepOwnAnnotations(s.Annotations),
		},
	}
	if len(s.Spec.Selector) > 0 {
		out.Selector = s.Spec.Selector
	}
	ports := s.Spec.Ports
	if len(ports) > MaxPorts {
		ports = ports[:MaxPorts]
		out.PortsIncomplete = true
		out.tooMany(field.NewPath("spec", "ports"), MaxPorts)
	}
	for _, p := range ports {
		out.Ports = append(out.Ports, ServicePort{Name: p.Name, Port: p.Port})
	}
	return out
}

// Pod is what the rules read of a Pod: labels, phase and declared container
// ports. Offline it may stand for a workload's pod template; Ref then names
// the workload (Kind Deployment, ...).
type Pod struct {
	Meta
	Phase corev1.PodPhase
	Ports []ContainerPort
	// IP is the pod IP, when known (live).
	IP string
	// PortsIncomplete: Ports lists only some of the declared ports (an
	// operator-generated collector Pod, whose receiver ports ta-guard does
	// not derive).
	PortsIncomplete bool
	// Scheduled: the Pod has a node (spec.nodeName). The TA hands targets
	// only to scheduled collector Pods.
	Scheduled bool
	// Started: its node's kubelet has taken the Pod (status.startTime). The
	// TA stops handing targets to a Pod that is not Running 30 s after it
	// started, and never to one not started.
	Started bool
	// Readiness is the Pod's Ready condition, when it reports one.
	Readiness Readiness
	// OTelOperator is set when the Pod runs the OpenTelemetry Operator.
	OTelOperator *OTelOperator
	// Implies are objects a controller the workload runs keeps in the
	// cluster without a manifest (the Prometheus Operator's kubelet
	// Service): check adds them to the world, as it adds what the
	// OpenTelemetry Operator generates. Manifests only.
	Implies []Object
}

// Readiness is a Pod's Ready condition: unknown when it reports none (a
// manifest, a Pod no kubelet has seen).
type Readiness uint8

const (
	ReadinessUnknown Readiness = iota
	Ready
	NotReady
)

// ContainerPort is a declared container port.
type ContainerPort struct {
	Name   string
	Number int32
}

// Terminated pods produce no targets.
func (p *Pod) Terminated() bool {
	return p.Phase == corev1.PodFailed || p.Phase == corev1.PodSucceeded
}

// HasPortFor reports whether a container declares a port that satisfies the
// endpoint: by name (PodMonitor port, string targetPort) or by number.
func (p *Pod) HasPortFor(kind MonitorKind, e Endpoint) bool {
	m, _, num := e.Match(kind)
	for _, cp := range p.Ports {
		switch m {
		case MatchAll:
			return true
		case MatchContainerPortNumber:
			if cp.Number == num {
				return true
			}
		default:
			if e.NameMatches(kind, cp.Name) {
				return true
			}
		}
	}
	return false
}

// PortList renders the declared ports: "http/8080, 9090".
func (p *Pod) PortList() string {
	if len(p.Ports) == 0 {
		return "(no declared ports)"
	}
	parts := make([]string, len(p.Ports))
	for i, cp := range p.Ports {
		if cp.Name == "" {
			parts[i] = fmt.Sprint(cp.Number)
		} else {
			parts[i] = fmt.Sprintf("%s/%d", cp.Name, cp.Number)
		}
	}
	return strings.Join(parts, ", ")
}

// PodFromCore normalizes a Pod.
func PodFromCore(p *corev1.Pod) *Pod {
	out := PodFromTemplate(Ref{APIVersion: "v1", Kind: "Pod", Namespace: p.Namespace, Name: p.Name}, p.ObjectMeta, &p.Spec)
	out.Phase = p.Status.Phase
	out.IP = p.Status.PodIP
	out.Scheduled = p.Spec.NodeName != ""
	out.Started = p.Status.StartTime != nil
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			switch c.Status {
			case corev1.ConditionTrue:
				out.Readiness = Ready
			case corev1.ConditionFalse:
				out.Readiness = NotReady
			}
		}
	}
	return out
}

// PodFromTemplate makes a Pod from a workload's pod template (offline).
func PodFromTemplate(ref Ref, om metav1.ObjectMeta, spec *corev1.PodSpec) *Pod {
	out := &Pod{Meta: Meta{Ref: ref, Labels: om.Labels}, OTelOperator: OTelOperatorOf(spec)}
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for _, c := range cs {
			for _, cp := range c.Ports {
				if len(out.Ports) == MaxPorts {
					out.PortsIncomplete = true
					out.tooMany(podSpecPath(ref.Kind).Child("containers").Key("*").Child("ports"), MaxPorts)
					return out
				}
				out.Ports = append(out.Ports, ContainerPort{Name: cp.Name, Number: cp.ContainerPort})
			}
		}
	}
	return out
}

// podSpecPath is where the pod spec is in an object of the kind: a Pod's
// own spec, a CronJob's job template's, a workload's template's.
func podSpecPath(kind string) *field.Path {
	switch kind {
	case "Pod":
		return field.NewPath("spec")
	case "CronJob":
		return field.NewPath("spec", "jobTemplate", "spec", "template", "spec")
	}
	return field.NewPath("spec", "template", "spec")
}

// NamespaceFromCore normalizes a Namespace. The API server labels every
// namespace with kubernetes.io/metadata.name, so a manifest's namespace gets
// it too.
func NamespaceFromCore(n *corev1.Namespace) *Namespace {
	l := make(map[string]string, len(n.Labels)+1)
	for k, v := range n.Labels {
		l[k] = v
	}
	l[corev1.LabelMetadataName] = n.Name
	return &Namespace{Meta: Meta{Ref: Ref{APIVersion: "v1", Kind: "Namespace", Name: n.Name}, Labels: l}, LabelsKnown: true}
}

// EndpointSlice is what TA106, TA107 and diagnose read: which Service it
// belongs to, its ports and its addresses (readiness does not filter TA
// targets), and where each endpoint runs.
type EndpointSlice struct {
	Meta
	// Service is the kubernetes.io/service-name label.
	Service   string
	Ports     []ServicePort
	Addresses []string
	// Endpoints are the same addresses endpoint by endpoint, with what
	// service discovery learns of their node: a per-node TA places a target
	// by it (TA107).
	Endpoints []SliceEndpoint
}

// SliceEndpoint is one endpoint of an EndpointSlice.
type SliceEndpoint struct {
	Addresses []string
	// NodeName is endpoints[].nodeName.
	NodeName string
	// TargetKind and TargetName are endpoints[].targetRef's kind and name
	// (a Pod for the Services the EndpointSlice controller manages); empty
	// without a targetRef, as on hand-made slices and the API server's.
	TargetKind, TargetName string
}

// EndpointSliceFromDiscovery normalizes an EndpointSlice.
func EndpointSliceFromDiscovery(s *discoveryv1.EndpointSlice) *EndpointSlice {
	out := &EndpointSlice{
		Meta:    Meta{Ref: Ref{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice", Namespace: s.Namespace, Name: s.Name}},
		Service: s.Labels[discoveryv1.LabelServiceName],
	}
	for _, p := range s.Ports {
		sp := ServicePort{}
		if p.Name != nil {
			sp.Name = *p.Name
		}
		if p.Port != nil {
			sp.Port = *p.Port
		}
		out.Ports = append(out.Ports, sp)
	}
	for _, ep := range s.Endpoints {
		out.Addresses = append(out.Addresses, ep.Addresses...)
		se := SliceEndpoint{Addresses: ep.Addresses}
		if ep.NodeName != nil {
			se.NodeName = *ep.NodeName
		}
		if ep.TargetRef != nil {
			se.TargetKind, se.TargetName = ep.TargetRef.Kind, ep.TargetRef.Name
		}
		out.Endpoints = append(out.Endpoints, se)
	}
	return out
}
