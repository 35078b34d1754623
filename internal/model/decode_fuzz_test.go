package model_test

import (
	"errors"
	"fmt"
	"testing"
	"unicode/utf8"

	"github.com/ta-guard/ta-guard/internal/model"
)

// FuzzDecode feeds Decode and UnknownFields arbitrary bytes as any kind of
// the registry. Both read what admission requests and manifests carry, so
// they must never panic, and whatever they accept must be an object the
// store can file: the model type its bucket promises, named after its kind.
//
// The first argument selects the kind by its position in model.Kinds() (an
// unsupported one past the end), so the fuzzer mutates the object while the
// kind stays one ta-guard reads.
func FuzzDecode(f *testing.F) {
	kinds := model.Kinds()
	f.Add(byte(1), []byte(`{"metadata":{"name":"web","namespace":"shop"},"spec":{"selector":{"app":"web"},"ports":[{"name":"http","port":80,"targetPort":"http"}]}}`))
	f.Add(byte(7), []byte(`{"metadata":{"name":"web"},"spec":{"selector":{"matchLabels":{"app":"web"}},"endpoints":[{"port":"http"}]}}`))
	f.Add(byte(4), []byte(`{"metadata":{"name":"c"},"spec":{"targetAllocator":{"enabled":true,"prometheusCR":{"enabled":true,"serviceMonitorSelector":{"team":"a"}}}}}`))
	f.Add(byte(len(kinds)), []byte(`{"metadata":{"name":"cm"}}`))
	f.Fuzz(func(t *testing.T, kind byte, raw []byte) {
		var k model.Kind
		if int(kind) < len(kinds) {
			k = kinds[kind]
		} else {
			k.GVK = kinds[0].GVK.GroupVersion().WithKind("ConfigMap")
		}
		obj, err := model.Decode(k.GVK, raw)
		// The manifest reader's decoder, on the same input: it must agree
		// with Decode on what is an error.
		mobj, _, merr := model.DecodeManifest(k.GVK, raw, "default")
		if (err == nil) != (merr == nil) || (mobj == nil) != (obj == nil) {
			t.Fatalf("%s: Decode err = %v, DecodeManifest err = %v", k.GVK, err, merr)
		}
		if k.New == nil {
			if !errors.Is(err, model.ErrUnsupported) {
				t.Fatalf("unsupported %s: err = %v, want ErrUnsupported", k.GVK, err)
			}
			return
		}
		if err != nil {
			if obj != nil {
				t.Fatalf("%s: an error (%v) and an object %#v", k.GVK, err, obj)
			}
			if err.Error() == "" {
				t.Fatalf("%s: an error with no message", k.GVK)
			}
			// The message becomes an admission warning, which the API
			// server relays as text.
			if !utf8.ValidString(err.Error()) {
				t.Fatalf("%s: error message is not UTF-8: %q", k.GVK, err.Error())
			}
			return
		}
		if obj == nil || obj.GetMeta() == nil {
			t.Fatalf("%s: accepted, but no object", k.GVK)
		}
		if got := obj.GetMeta().Ref.Kind; got != k.GVK.Kind {
			t.Fatalf("%s: normalized object is a %q", k.GVK, got)
		}
		if got := bucketOf(obj); got != k.Bucket {
			t.Fatalf("%s: normalized to %T (bucket %s), registry says bucket %s", k.GVK, obj, got, k.Bucket)
		}
	})
}

// bucketOf is the bucket the store files an object in, by its model type;
// the store relies on the registry's bucket to cast, so the two must agree.
func bucketOf(o model.Object) model.Bucket {
	switch o.(type) {
	case *model.Namespace:
		return model.NamespaceBucket
	case *model.Service:
		return model.ServiceBucket
	case *model.Pod:
		return model.PodBucket
	case *model.Monitor:
		return model.MonitorBucket
	case *model.EndpointSlice:
		return model.EndpointSliceBucket
	case *model.Reader:
		return model.ReaderBucket
	case *model.Allocator:
		return model.AllocatorBucket
	}
	panic(fmt.Sprintf("no bucket for %T", o))
}
