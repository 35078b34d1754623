package watch

import (
	"bytes"
	"encoding/json"
	"errors"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	sigsjson "sigs.k8s.io/json"

	"github.com/ta-guard/ta-guard/internal/model"
)

// The informers decode ServiceMonitors and PodMonitors into these types,
// which keep at most model.MaxEndpoints+1 endpoints and skip the rest
// without decoding them: a monitor of 400,000 empty endpoints fits etcd's
// 1.5 MiB and would otherwise cost some 250 MB each time a watch event or
// a list carried it, before any transform could cut it (issue 26). One past
// the limit is kept so that the model still reports it (TA302).
type cappedServiceMonitor struct{ monitoringv1.ServiceMonitor }

type cappedPodMonitor struct{ monitoringv1.PodMonitor }

type cappedServiceMonitorList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []cappedServiceMonitor `json:"items"`
}

type cappedPodMonitorList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []cappedPodMonitor `json:"items"`
}

func (c *cappedServiceMonitor) UnmarshalJSON(b []byte) error {
	// Fields of the outer struct win over the embedded one's of the same
	// JSON name: spec, then its endpoints, are decoded here.
	var shadow struct {
		monitoringv1.ServiceMonitor
		Spec struct {
			monitoringv1.ServiceMonitorSpec
			Endpoints capped[monitoringv1.Endpoint] `json:"endpoints,omitempty"`
		} `json:"spec"`
	}
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(b, &shadow); err != nil {
		return err
	}
	c.ServiceMonitor = shadow.ServiceMonitor
	c.Spec = shadow.Spec.ServiceMonitorSpec
	c.Spec.Endpoints = shadow.Spec.Endpoints
	return nil
}

func (c *cappedPodMonitor) UnmarshalJSON(b []byte) error {
	var shadow struct {
		monitoringv1.PodMonitor
		Spec struct {
			monitoringv1.PodMonitorSpec
			PodMetricsEndpoints capped[monitoringv1.PodMetricsEndpoint] `json:"podMetricsEndpoints,omitempty"`
		} `json:"spec"`
	}
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(b, &shadow); err != nil {
		return err
	}
	c.PodMonitor = shadow.PodMonitor
	c.Spec = shadow.Spec.PodMonitorSpec
	c.Spec.PodMetricsEndpoints = shadow.Spec.PodMetricsEndpoints
	return nil
}

// capped is a JSON array of which the first model.MaxEndpoints+1 elements
// are decoded and the others only scanned.
type capped[T any] []T

func (c *capped[T]) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*c = nil
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		return errors.New("expected an array")
	}
	out := capped[T]{}
	for dec.More() {
		if len(out) > model.MaxEndpoints {
			var skip model.Skipped
			if err := dec.Decode(&skip); err != nil {
				return err
			}
			continue
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		var v T
		// Case-sensitive like the API server, as the rest of the object.
		if err := sigsjson.UnmarshalCaseSensitivePreserveInts(raw, &v); err != nil {
			return err
		}
		out = append(out, v)
	}
	*c = out
	return nil
}

func (c *cappedServiceMonitor) DeepCopyObject() runtime.Object {
	return &cappedServiceMonitor{*c.ServiceMonitor.DeepCopy()}
}

func (c *cappedPodMonitor) DeepCopyObject() runtime.Object {
	return &cappedPodMonitor{*c.PodMonitor.DeepCopy()}
}

func (l *cappedServiceMonitorList) DeepCopyObject() runtime.Object {
	out := &cappedServiceMonitorList{TypeMeta: l.TypeMeta}
	l.ListMeta.DeepCopyInto(&out.ListMeta)
	for i := range l.Items {
		out.Items = append(out.Items, cappedServiceMonitor{*l.Items[i].ServiceMonitor.DeepCopy()})
	}
	return out
}

func (l *cappedPodMonitorList) DeepCopyObject() runtime.Object {
	out := &cappedPodMonitorList{TypeMeta: l.TypeMeta}
	l.ListMeta.DeepCopyInto(&out.ListMeta)
	for i := range l.Items {
		out.Items = append(out.Items, cappedPodMonitor{*l.Items[i].PodMonitor.DeepCopy()})
	}
	return out
}

// uncapped is the monitoring type an informer's object stands for, which
// the model reads.
func uncapped(obj runtime.Object) runtime.Object {
	switch o := obj.(type) {
	case *cappedServiceMonitor:
		return &o.ServiceMonitor
	case *cappedPodMonitor:
		return &o.PodMonitor
	}
	return obj
}

// addMonitoringV1 registers the monitoring.coreos.com/v1 kinds ta-guard
// watches, ServiceMonitor and PodMonitor as their capped types.
func addMonitoringV1(s *runtime.Scheme) error {
	gv := monitoringv1.SchemeGroupVersion
	s.AddKnownTypes(gv, &monitoringv1.Prometheus{}, &monitoringv1.PrometheusList{}, &monitoringv1.Probe{}, &monitoringv1.ProbeList{})
	s.AddKnownTypeWithName(gv.WithKind("ServiceMonitor"), &cappedServiceMonitor{})
	s.AddKnownTypeWithName(gv.WithKind("ServiceMonitorList"), &cappedServiceMonitorList{})
	s.AddKnownTypeWithName(gv.WithKind("PodMonitor"), &cappedPodMonitor{})
	s.AddKnownTypeWithName(gv.WithKind("PodMonitorList"), &cappedPodMonitorList{})
	metav1.AddToGroupVersion(s, gv)
	return nil
}
