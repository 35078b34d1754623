package model

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// What every cluster holds and what the OpenTelemetry Operator creates for
// each collector. Offline, the input does not carry these objects, yet real
// monitors select them (the API server's ServiceMonitor, the collector's own
// metrics through <name>-collector-monitoring): without them ta-guard would
// report a blind spot that does not exist.

// Labels the operator puts on what it generates (internal/manifests of the
// operator: manifestutils.Labels and SelectorLabels).
const (
	labelManagedBy = "app.kubernetes.io/managed-by"
	LabelInstance  = "app.kubernetes.io/instance"
	labelPartOf    = "app.kubernetes.io/part-of"
	LabelComponent = "app.kubernetes.io/component"
	labelName      = "app.kubernetes.io/name"
	// The operator's name for itself in app.kubernetes.io/managed-by.
	OperatorName = "opentelemetry-operator"

	ComponentCollector = "opentelemetry-collector"
	ComponentTA        = "opentelemetry-targetallocator"
	serviceTypeLabel   = "operator.opentelemetry.io/collector-service-type"
	headlessLabel      = "operator.opentelemetry.io/collector-headless-service"
	monitoringLabel    = "operator.opentelemetry.io/collector-monitoring-service"
	// DefaultMetricsPort is the collector's own telemetry port.
	DefaultMetricsPort = 8888
)

// BuiltinNamespaces exist in every cluster.
var BuiltinNamespaces = []string{"default", "kube-node-lease", "kube-public", "kube-system"}

// Builtins are the objects every cluster has: its four namespaces and the
// API server's Service default/kubernetes (selector-less: its endpoints are
// the API servers).
func Builtins() []Object {
	var out []Object
	for _, n := range BuiltinNamespaces {
		out = append(out, NamespaceFromCore(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}))
	}
	out = append(out, &Service{
		Meta: Meta{
			Ref:    Ref{APIVersion: "v1", Kind: "Service", Namespace: "default", Name: "kubernetes"},
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"},
		},
		Ports: []ServicePort{{Name: "https", Port: 443}},
	})
	return out
}

// Generated returns the Services and Pods the operator creates for a
// collector or a standalone TargetAllocator, with the labels and ports it
// sets. The collector's receiver ports are derived by the operator from its
// configuration, which ta-guard does not model: those objects say their
// ports are incomplete, so a port missing from them is unknown, not absent.
// A sidecar collector gets no Service of its own.
func Generated(a *Allocator) []Object {
	ns := a.Ref.Namespace
	var out []Object
	if !a.Standalone && a.Mode != "sidecar" {
		base := a.Ref.Name + "-collector"
		selector := selectorLabels(a, ComponentCollector)
		svc := func(name, typ string, extra map[string]string, ports []ServicePort, incomplete bool) *Service {
			// The headless Service is a copy of the base one, name label included.
			l := generatedLabels(a, ComponentCollector, strings.TrimSuffix(name, "-headless"))
			l[serviceTypeLabel] = typ
			for k, v := range extra {
				l[k] = v
			}
			return &Service{
				Meta:     Meta{Ref: Ref{APIVersion: "v1", Kind: "Service", Namespace: ns, Name: name}, Labels: l},
				Selector: selector, Ports: ports, PortsIncomplete: incomplete,
			}
		}
		out = append(out,
			svc(base, "base", nil, nil, true),
			svc(base+"-headless", "headless", map[string]string{headlessLabel: "Exists"}, nil, true),
			svc(base+"-monitoring", "monitoring", map[string]string{monitoringLabel: "Exists"},
				[]ServicePort{{Name: "monitoring", Port: DefaultMetricsPort}}, false),
		)
		workload := map[string]string{"daemonset": "DaemonSet", "statefulset": "StatefulSet"}[a.Mode]
		if workload == "" {
			workload = "Deployment"
		}
		out = append(out, &Pod{
			Meta:            Meta{Ref: Ref{APIVersion: "apps/v1", Kind: workload, Namespace: ns, Name: base}, Labels: generatedLabels(a, ComponentCollector, base)},
			Ports:           []ContainerPort{{Name: "metrics", Number: DefaultMetricsPort}},
			PortsIncomplete: true,
		})
	}
	if a.Standalone || a.Enabled {
		name := TAServiceName(a)
		sel := selectorLabels(a, ComponentTA)
		sel[labelName] = name
		if n, ok := a.Labels[labelName]; ok && a.Standalone {
			sel[labelName] = n
		}
		out = append(out,
			&Service{
				Meta:     Meta{Ref: Ref{APIVersion: "v1", Kind: "Service", Namespace: ns, Name: name}, Labels: generatedLabels(a, ComponentTA, name)},
				Selector: sel,
				Ports:    []ServicePort{{Name: "targetallocation", Port: 80}},
			},
			&Pod{
				Meta:  Meta{Ref: Ref{APIVersion: "apps/v1", Kind: "Deployment", Namespace: ns, Name: name}, Labels: generatedLabels(a, ComponentTA, name)},
				Ports: []ContainerPort{{Name: "http", Number: 8080}},
			})
	}
	return out
}

// TAServiceName is the Service (and Deployment) the operator creates for a
// TA: <name>-targetallocator, a collector's embedded TA taking the
// collector's name.
func TAServiceName(a *Allocator) string { return a.Ref.Name + "-targetallocator" }

func selectorLabels(a *Allocator, component string) map[string]string {
	return OperatorSelector(a.Ref, component)
}

// OperatorSelector is the labels the operator selects the pods of one
// component (ComponentCollector, ComponentTA) of the object ref names by:
// a collector's pods, or a TargetAllocator's.
func OperatorSelector(ref Ref, component string) map[string]string {
	return map[string]string{
		labelManagedBy: OperatorName,
		LabelInstance:  InstanceLabel(ref.Namespace, ref.Name),
		labelPartOf:    "opentelemetry",
		LabelComponent: component,
	}
}

// generatedLabels: the owner's own labels, then the selector labels, then
// app.kubernetes.io/name unless the owner sets it. The version label, taken
// from the image tag, is left out: the image is defaulted by the operator.
func generatedLabels(a *Allocator, component, name string) map[string]string {
	l := make(map[string]string, len(a.Labels)+6)
	for k, v := range a.Labels {
		l[k] = v
	}
	for k, v := range selectorLabels(a, component) {
		l[k] = v
	}
	if _, ok := l[labelName]; !ok {
		l[labelName] = name
	}
	return l
}

// InstanceLabel is "<namespace>.<name>" cut to 63 characters as the operator
// cuts it: the namespace gives way first, then the name, and what is left
// loses any non-alphanumeric characters at either end. Cutting only the tail
// would name other pods than the operator's once the two exceed 63.
func InstanceLabel(namespace, name string) string {
	const maxLen = 63
	excess := len(namespace) + 1 + len(name) - maxLen
	parts := []string{namespace, name}
	for i := range parts {
		if excess <= 0 {
			break
		}
		cut := min(excess, len(parts[i]))
		parts[i] = parts[i][:len(parts[i])-cut]
		excess -= cut
	}
	s := parts[0] + "." + parts[1]
	if len(s) > maxLen {
		s = s[:maxLen]
	}
	return strings.TrimFunc(s, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
	})
}
