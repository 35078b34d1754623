package model

import (
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	monitoringv1alpha1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ReaderFromPrometheus normalizes a Prometheus: a nil monitor selector
// selects none, a nil namespace selector means its own namespace only.
func ReaderFromPrometheus(p *monitoringv1.Prometheus) (*Reader, error) {
	return promReader(p.ObjectMeta, monitoringv1.SchemeGroupVersion.String(), "Prometheus", &p.Spec.CommonPrometheusFields)
}

// ReaderFromPrometheusAgent normalizes a PrometheusAgent (same semantics).
func ReaderFromPrometheusAgent(p *monitoringv1alpha1.PrometheusAgent) (*Reader, error) {
	return promReader(p.ObjectMeta, monitoringv1alpha1.SchemeGroupVersion.String(), "PrometheusAgent", &p.Spec.CommonPrometheusFields)
}

func promReader(om metav1.ObjectMeta, apiVersion, kind string, c *monitoringv1.CommonPrometheusFields) (*Reader, error) {
	r := &Reader{
		Meta: Meta{
			Ref:    Ref{APIVersion: apiVersion, Kind: kind, Namespace: om.Namespace, Name: om.Name},
			Labels: om.Labels,
		},
		Active: true,
	}
	monitorSel := [NumMonitorKinds]*metav1.LabelSelector{c.ServiceMonitorSelector, c.PodMonitorSelector, c.ScrapeConfigSelector, c.ProbeSelector}
	nsSel := [NumMonitorKinds]*metav1.LabelSelector{c.ServiceMonitorNamespaceSelector, c.PodMonitorNamespaceSelector, c.ScrapeConfigNamespaceSelector, c.ProbeNamespaceSelector}
	for _, k := range MonitorKinds {
		s := Scope{
			MonitorsField:   field.NewPath("spec", k.lowerCamel()+"Selector"),
			NamespacesField: field.NewPath("spec", k.lowerCamel()+"NamespaceSelector"),
		}
		if monitorSel[k] == nil {
			s.Monitors = SelectNothing("unset")
		} else {
			s.Monitors = r.selectLabels(monitorSel[k], s.MonitorsField)
		}
		if nsSel[k] == nil {
			s.OwnNamespace = om.Namespace
			s.Namespaces = SelectAll("own namespace")
		} else {
			s.Namespaces = r.selectLabels(nsSel[k], s.NamespacesField)
		}
		r.Scopes[k] = s
	}
	return r, nil
}
