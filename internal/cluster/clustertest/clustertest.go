// Package clustertest checks the kinds of the model's registry end to end:
// a sample object of each, and whether a view's look-ups return it. Tests
// of the store and of views layered on it share it, so that a kind added to
// the registry is checked everywhere at once.
package clustertest

import (
	"encoding/json"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/ta-guard/ta-guard/internal/cluster"
	"github.com/ta-guard/ta-guard/internal/model"
)

// Namespace is where samples live.
const Namespace = "sample"

// Sample decodes a small object of the kind, named "sample", that the
// look-ups of its bucket must return: readers read every monitor, and an
// EndpointSlice belongs to a Service.
func Sample(k model.Kind) (model.Object, error) {
	meta := map[string]any{"name": "sample", "labels": map[string]string{"app": "sample"}}
	if k.Bucket != model.NamespaceBucket {
		meta["namespace"] = Namespace
	}
	obj := map[string]any{"apiVersion": k.GVK.GroupVersion().String(), "kind": k.GVK.Kind, "metadata": meta}
	switch k.Bucket {
	case model.EndpointSliceBucket:
		meta["labels"] = map[string]string{"kubernetes.io/service-name": "sample"}
		obj["addressType"] = "IPv4"
	case model.ReaderBucket:
		everything := map[string]any{}
		obj["spec"] = map[string]any{
			"serviceMonitorSelector": everything, "serviceMonitorNamespaceSelector": everything,
			"podMonitorSelector": everything, "podMonitorNamespaceSelector": everything,
		}
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	return model.Decode(k.GVK, raw)
}

// Found returns what the view holds under obj's key, as the look-ups that
// serve obj's bucket return it, or nil.
func Found(v cluster.View, obj model.Object) model.Object {
	ref := obj.GetMeta().Ref
	everywhere := model.NamespaceSet{All: true}
	var got []model.Object
	switch model.BucketOf(ref.Kind) {
	case model.NamespaceBucket:
		if ns := v.Namespace(ref.Name); ns != nil {
			got = append(got, ns)
		}
	case model.ServiceBucket:
		got = objects(v.Services(everywhere, labels.Everything()))
	case model.PodBucket:
		got = objects(v.Pods(everywhere, labels.Everything()))
	case model.MonitorBucket:
		if k, ok := model.MonitorKindOf(ref.Kind); ok {
			got = objects(v.Monitors(k, labels.Everything()))
		}
	case model.EndpointSliceBucket:
		if s, ok := obj.(*model.EndpointSlice); ok {
			got = objects(v.EndpointSlices(ref.Namespace, s.Service))
		}
	case model.ReaderBucket:
		// Readers are found through the monitors they read.
		for _, k := range model.MonitorKinds {
			probe := &model.Monitor{Meta: model.Meta{Ref: model.Ref{Kind: k.String(), Namespace: ref.Namespace, Name: "probe"}}, Kind: k}
			got = append(got, objects(v.ReadersOf(probe))...)
		}
	case model.AllocatorBucket:
		got = objects(v.Allocators())
	}
	for _, o := range got {
		if o.GetMeta().Ref.Key() == ref.Key() {
			return o
		}
	}
	return nil
}

func objects[T model.Object](in []T) []model.Object {
	out := make([]model.Object, len(in))
	for i, o := range in {
		out[i] = o
	}
	return out
}
