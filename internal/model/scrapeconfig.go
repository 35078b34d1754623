package model

import (
	"reflect"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	monitoringv1alpha1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// NamespaceRef is a namespace a monitor names, and the field naming it.
type NamespaceRef struct {
	Name  string
	Field *field.Path
}

// SDSelector is a label selector of a ScrapeConfig's Kubernetes service
// discovery for Services or Pods: what its targets come from.
type SDSelector struct {
	// Role is "service" or "pod".
	Role       string
	Namespaces NamespaceSet
	Selector   labels.Selector
	Field      *field.Path
}

// MonitorFromScrapeConfig normalizes a ScrapeConfig. It selects no Service
// or Pod of its own: its targets come from its static configs or its own
// service discovery, so only the namespaces its Kubernetes service
// discovery names are checked.
func MonitorFromScrapeConfig(sc *monitoringv1alpha1.ScrapeConfig) (*Monitor, error) {
	m := ownTargetsMonitor(sc.ObjectMeta, monitoringv1alpha1.SchemeGroupVersion.String(), ScrapeConfig)
	m.Nodeless = scrapeConfigNodeless(&sc.Spec)
	for i, sd := range sc.Spec.KubernetesSDConfigs {
		at := field.NewPath("spec", "kubernetesSDConfigs").Index(i)
		// Without names (and without ownNamespace) Prometheus discovers in
		// every namespace; ownNamespace is the reader's, unknown here.
		nss := NamespaceSet{All: true}
		if sd.Namespaces != nil {
			for _, n := range dedupe(sd.Namespaces.Names) {
				m.NamespaceRefs = append(m.NamespaceRefs, NamespaceRef{Name: n, Field: at.Child("namespaces", "names")})
			}
			if len(sd.Namespaces.Names) > 0 {
				nss = NamespaceSet{Names: dedupe(sd.Namespaces.Names)}
			}
			if sd.Namespaces.IncludeOwnNamespace != nil && *sd.Namespaces.IncludeOwnNamespace {
				continue
			}
		}
		role := strings.ToLower(string(sd.Role))
		if role != "service" && role != "pod" {
			continue
		}
		for j, sel := range sd.Selectors {
			if strings.ToLower(string(sel.Role)) != role || sel.Label == nil || *sel.Label == "" {
				continue
			}
			parsed, err := labels.Parse(*sel.Label)
			if err != nil {
				// Prometheus refuses the whole discovery config.
				m.invalid(at.Child("selectors").Index(j).Child("label"), "not a valid label selector: "+err.Error())
				continue
			}
			m.SDSelectors = append(m.SDSelectors, SDSelector{Role: role, Namespaces: nss, Selector: parsed, Field: at.Child("selectors").Index(j).Child("label")})
		}
	}
	return m, nil
}

// scrapeConfigNodeless lists a ScrapeConfig's targets that carry no node:
// its static targets, those of its Kubernetes discoveries with the Service
// or Ingress role, and those of every other discovery (the spec's
// <name>SDConfigs lists, read by reflection so that one the Prometheus
// Operator adds is not missed).
func scrapeConfigNodeless(spec *monitoringv1alpha1.ScrapeConfigSpec) []NodelessTargets {
	var out []NodelessTargets
	n := 0
	for _, st := range spec.StaticConfigs {
		n += len(st.Targets)
	}
	if n > 0 {
		out = append(out, NodelessTargets{Static: n, Path: field.NewPath("spec", "staticConfigs")})
	}
	for i, sd := range spec.KubernetesSDConfigs {
		if nodelessRoles[strings.ToLower(string(sd.Role))] {
			out = append(out, NodelessTargets{Discovery: "kubernetesSDConfigs (role " + string(sd.Role) + ")", Path: field.NewPath("spec", "kubernetesSDConfigs").Index(i)})
		}
	}
	v := reflect.ValueOf(spec).Elem()
	for i := 0; i < v.NumField(); i++ {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
		if strings.HasSuffix(name, "SDConfigs") && name != "kubernetesSDConfigs" && v.Field(i).Kind() == reflect.Slice && v.Field(i).Len() > 0 {
			out = append(out, NodelessTargets{Discovery: name, Path: field.NewPath("spec", name)})
		}
	}
	return out
}

// MonitorFromProbe normalizes a Probe: its targets are static, or the
// Ingresses its ingress selector picks in the namespaces it names.
func MonitorFromProbe(p *monitoringv1.Probe) (*Monitor, error) {
	m := ownTargetsMonitor(p.ObjectMeta, monitoringv1.SchemeGroupVersion.String(), Probe)
	if in := p.Spec.Targets.Ingress; in != nil {
		m.selectLabels(&in.Selector, field.NewPath("spec", "targets", "ingress", "selector"))
		if !in.NamespaceSelector.Any {
			for _, n := range dedupe(in.NamespaceSelector.MatchNames) {
				m.NamespaceRefs = append(m.NamespaceRefs, NamespaceRef{
					Name:  n,
					Field: field.NewPath("spec", "targets", "ingress", "namespaceSelector", "matchNames"),
				})
			}
		}
	}
	return m, nil
}

func ownTargetsMonitor(om metav1.ObjectMeta, apiVersion string, k MonitorKind) *Monitor {
	return &Monitor{
		Meta: Meta{
			Ref:         Ref{APIVersion: apiVersion, Kind: k.String(), Namespace: om.Namespace, Name: om.Name},
			Labels:      om.Labels,
			Annotations: keepOwnAnnotations(om.Annotations),
		},
		Kind:     k,
		Selector: SelectNothing("its own targets"),
		// Nothing of the cluster is selected by labels: no Service change
		// can cut it off.
		Namespaces: NamespaceSet{},
	}
}
