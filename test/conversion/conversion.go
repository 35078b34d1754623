// Package conversion is a CRD conversion webhook for OpenTelemetryCollector
// v1alpha1 <-> v1beta1, for the local control planes ta-guard's sandbox and
// test suites start. On a cluster the OpenTelemetry Operator converts; its
// CRD's conversion is a webhook of the operator's. The test CRDs here
// (config/crd/opentelemetry) have none, and with strategy None a stored
// v1alpha1 collector only has its apiVersion rewritten: its map selectors
// and string config are then pruned by the v1beta1 schema, and ta-guard,
// reading the stored object, sees another collector than a cluster holds.
//
// Only what changes shape between the versions is converted, the way the
// operator's conversion does it (apis/v1alpha1/convert.go): spec.config (a
// YAML string in v1alpha1, an object in v1beta1), the prometheusCR monitor
// selectors (label maps in v1alpha1, where an empty map selects every
// monitor; label selectors in v1beta1, always set by the conversion, so an
// unset v1alpha1 selector becomes {} and keeps selecting everything), the
// DaemonSet update strategy's field name, and v1alpha1's top-level
// min/maxReplicas, which move into the autoscaler. Every other field keeps
// its name and shape in both versions.
package conversion

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

const (
	V1alpha1 = "opentelemetry.io/v1alpha1"
	V1beta1  = "opentelemetry.io/v1beta1"
)

// CRD is the one CustomResourceDefinition this webhook converts.
const CRD = "opentelemetrycollectors.opentelemetry.io"

var selectors = []string{"serviceMonitorSelector", "podMonitorSelector"}

// Convert rewrites a collector in place into apiVersion to.
func Convert(obj map[string]any, to string) error {
	u := &unstructured.Unstructured{Object: obj}
	from := u.GetAPIVersion()
	if from == to {
		return nil
	}
	if u.GetKind() != "OpenTelemetryCollector" {
		return fmt.Errorf("%s is not an OpenTelemetryCollector", u.GetKind())
	}
	var err error
	switch {
	case from == V1alpha1 && to == V1beta1:
		err = toV1beta1(obj)
	case from == V1beta1 && to == V1alpha1:
		err = toV1alpha1(obj)
	default:
		return fmt.Errorf("cannot convert %s to %s", from, to)
	}
	if err != nil {
		return fmt.Errorf("%s/%s: %w", u.GetNamespace(), u.GetName(), err)
	}
	u.SetAPIVersion(to)
	return nil
}

func toV1beta1(obj map[string]any) error {
	spec, _, _ := unstructured.NestedMap(obj, "spec")
	if spec == nil {
		spec = map[string]any{}
	}
	if s, ok := spec["config"].(string); ok {
		cfg := map[string]any{}
		if err := yaml.Unmarshal([]byte(s), &cfg); err != nil {
			return fmt.Errorf("spec.config is not a YAML mapping: %w", err)
		}
		spec["config"] = cfg
	}
	ta, _ := spec["targetAllocator"].(map[string]any)
	if ta == nil {
		ta = map[string]any{}
	}
	cr, _ := ta["prometheusCR"].(map[string]any)
	if cr == nil {
		cr = map[string]any{}
	}
	for _, f := range selectors {
		sel := map[string]any{}
		if m, ok := cr[f].(map[string]any); ok && len(m) > 0 {
			sel["matchLabels"] = m
		}
		cr[f] = sel
	}
	ta["prometheusCR"] = cr
	spec["targetAllocator"] = ta
	if v, ok := spec["updateStrategy"]; ok {
		spec["daemonSetUpdateStrategy"] = v
		delete(spec, "updateStrategy")
	}
	for _, f := range []string{"minReplicas", "maxReplicas"} {
		v, ok := spec[f]
		if !ok {
			continue
		}
		as, _ := spec["autoscaler"].(map[string]any)
		if as == nil {
			as = map[string]any{}
		}
		if _, set := as[f]; !set {
			as[f] = v
		}
		spec["autoscaler"] = as
		delete(spec, f)
	}
	return unstructured.SetNestedMap(obj, spec, "spec")
}

func toV1alpha1(obj map[string]any) error {
	spec, _, _ := unstructured.NestedMap(obj, "spec")
	if spec == nil {
		return nil
	}
	if cfg, ok := spec["config"].(map[string]any); ok {
		b, err := yaml.Marshal(cfg)
		if err != nil {
			return fmt.Errorf("spec.config: %w", err)
		}
		spec["config"] = string(b)
	}
	if ta, ok := spec["targetAllocator"].(map[string]any); ok {
		if cr, ok := ta["prometheusCR"].(map[string]any); ok {
			for _, f := range selectors {
				sel, ok := cr[f].(map[string]any)
				if !ok {
					delete(cr, f)
					continue
				}
				// v1alpha1 has labels only: matchExpressions cannot be kept.
				if m, ok := sel["matchLabels"].(map[string]any); ok && len(m) > 0 {
					cr[f] = m
				} else {
					delete(cr, f)
				}
			}
		}
	}
	if v, ok := spec["daemonSetUpdateStrategy"]; ok {
		spec["updateStrategy"] = v
		delete(spec, "daemonSetUpdateStrategy")
	}
	return unstructured.SetNestedMap(obj, spec, "spec")
}

// Handler serves apiextensions.k8s.io/v1 ConversionReviews.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var review apiextensionsv1.ConversionReview
		if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
			http.Error(w, "not a ConversionReview", http.StatusBadRequest)
			return
		}
		resp := &apiextensionsv1.ConversionResponse{UID: review.Request.UID, Result: metav1.Status{Status: metav1.StatusSuccess}}
		for _, raw := range review.Request.Objects {
			obj := map[string]any{}
			err := json.Unmarshal(raw.Raw, &obj)
			if err == nil {
				err = Convert(obj, review.Request.DesiredAPIVersion)
			}
			var out []byte
			if err == nil {
				out, err = json.Marshal(obj)
			}
			if err != nil {
				resp.ConvertedObjects = nil
				resp.Result = metav1.Status{Status: metav1.StatusFailure, Message: err.Error()}
				break
			}
			resp.ConvertedObjects = append(resp.ConvertedObjects, runtime.RawExtension{Raw: out})
		}
		review.Response, review.Request = resp, nil
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(&review)
	})
}
