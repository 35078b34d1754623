package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	sigsjson "sigs.k8s.io/json"
)

// ErrUnsupported is returned for kinds the rules do not read.
var ErrUnsupported = errors.New("kind not read by ta-guard")

// Supported reports whether ta-guard reads objects of this kind.
func Supported(gvk schema.GroupVersionKind) bool {
	_, ok := byGVK[gvk]
	return ok
}

// Decode turns an object's JSON, as a manifest or an admission request
// carries it, into its normalized form. Unknown fields are ignored so that
// any operator version decodes; a field of the wrong type is an error naming
// the field. Kinds the rules do not read return ErrUnsupported.
func Decode(gvk schema.GroupVersionKind, raw []byte) (Object, error) {
	k := byGVK[gvk]
	if k == nil {
		return nil, fmt.Errorf("%s: %w", gvk, ErrUnsupported)
	}
	if o, ok, err := decodeOversized(gvk, raw); ok {
		return o, err
	}
	typed := k.New()
	// Case-sensitive like the API server: "Port" is not "port".
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(raw, typed); err != nil {
		return nil, describeJSONError(err)
	}
	return k.Normalize(typed)
}

// DecodeManifest is Decode for objects read from manifests, in one pass over
// the JSON: it also lists the fields the kind does not have, typos such as
// namespaceSelecter that would otherwise be dropped in silence (the API
// server's strict field validation rejects them), and gives an object that
// names no namespace the namespace given (kubectl's context namespace),
// unless it is a Namespace. Our own opentelemetry.io types model only what
// the rules read, so of those only the label selectors of prometheusCR are
// checked, where a stray field changes the meaning most.
func DecodeManifest(gvk schema.GroupVersionKind, raw []byte, namespace string) (Object, []string, error) {
	k := byGVK[gvk]
	if k == nil {
		return nil, nil, fmt.Errorf("%s: %w", gvk, ErrUnsupported)
	}
	if o, ok, err := decodeOversized(gvk, raw); ok {
		if o != nil && o.GetMeta().Ref.Namespace == "" {
			o.GetMeta().Ref.Namespace = namespace
		}
		return o, nil, err
	}
	typed := k.New()
	var unknown []string
	if k.Sparse {
		// Our own types hold only what the rules read: every other field
		// would be "unknown". The one check that matters has its own pass
		// over a small object (collectors are few).
		if err := sigsjson.UnmarshalCaseSensitivePreserveInts(raw, typed); err != nil {
			return nil, nil, describeJSONError(err)
		}
		unknown = selectorShapes(k.PrometheusCR, raw)
	} else {
		strict, err := sigsjson.UnmarshalStrict(raw, typed, sigsjson.DisallowUnknownFields)
		if err != nil {
			return nil, nil, describeJSONError(err)
		}
		for _, e := range strict {
			unknown = append(unknown, e.Error())
		}
	}
	if typed.GetNamespace() == "" && gvk.Kind != "Namespace" {
		typed.SetNamespace(namespace)
	}
	o, err := k.Normalize(typed)
	return o, unknown, err
}

// FromTyped normalizes an API object. A typed object's Go type picks the
// entry, since informers' objects carry no apiVersion and kind; an
// unstructured one (a dynamic informer's) is decoded by its own.
func FromTyped(obj runtime.Object) (Object, error) {
	if u, ok := obj.(runtime.Unstructured); ok {
		raw, err := json.Marshal(u.UnstructuredContent())
		if err != nil {
			return nil, err
		}
		return Decode(obj.GetObjectKind().GroupVersionKind(), raw)
	}
	k := byType[reflect.TypeOf(obj)]
	if k == nil {
		return nil, fmt.Errorf("%T: %w", obj, ErrUnsupported)
	}
	return k.Normalize(obj)
}

// selectorShapes finds prometheusCR selectors written in the v1alpha1 shape
// under a kind whose selectors are label selectors (a v1beta1 collector, a
// TargetAllocator): serviceMonitorSelector: {team: payments}. The API server
// prunes team and stores {}, which selects every monitor.
func selectorShapes(path []string, raw []byte) []string {
	if len(path) == 0 {
		return nil
	}
	var obj map[string]any
	if json.Unmarshal(raw, &obj) != nil {
		return nil
	}
	cur := obj
	for _, p := range path {
		next, ok := cur[p].(map[string]any)
		if !ok {
			return nil
		}
		cur = next
	}
	field := strings.Join(path, ".")
	var out []string
	for _, name := range sortedKeys(cur) {
		sel, ok := cur[name].(map[string]any)
		if !ok || !strings.HasSuffix(name, "Selector") {
			continue
		}
		var stray []string
		for _, k := range sortedKeys(sel) {
			if k != "matchLabels" && k != "matchExpressions" {
				stray = append(stray, k)
			}
		}
		if len(stray) == 0 {
			continue
		}
		pairs := make([]string, len(stray))
		for i, k := range stray {
			pairs[i] = fmt.Sprintf("%s: %v", k, sel[k])
		}
		out = append(out, fmt.Sprintf("unknown field %q: %s.%s is a label selector, and the API server prunes %s, leaving {} (every %s); write matchLabels: {%s}",
			field+"."+name+"."+stray[0], field, name, strings.Join(stray, ", "), strings.TrimSuffix(name, "Selector"), strings.Join(pairs, ", ")))
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sortStrings(out)
	return out
}
