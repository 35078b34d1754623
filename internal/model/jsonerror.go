package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// describeJSONError names the field of a type error ("service.pipelines:
// expected an object, got array"), in the words of the manifest rather than
// of Go types.
func describeJSONError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		want := jsonKind(te.Type)
		got := te.Value
		switch got {
		case "array":
			got = "a list"
		case "object":
			got = "an object"
		case "string":
			got = "a string"
		case "bool":
			got = "true or false"
			if want == "a string" {
				// What YAML 1.1, as kubectl reads it, makes of no, off, yes, on.
				got += " (unquoted yes, no, on and off are booleans in YAML: quote the value)"
			}
		default:
			if strings.HasPrefix(got, "number") {
				got = "a number"
			}
		}
		field := jsonPath(te.Field)
		if field == "" {
			return fmt.Errorf("expected %s, got %s", want, got)
		}
		return fmt.Errorf("%s: expected %s, got %s", field, want, got)
	}
	return err
}

// jsonPath is a decoding error's field path as the API server would name
// it: encoding/json includes the Go names of embedded structs
// (spec.CommonPrometheusFields.serviceMonitorSelector), which are no
// fields of the object.
func jsonPath(field string) string {
	if field == "" {
		return ""
	}
	embedded := embeddedNames()
	parts := strings.Split(field, ".")
	out := parts[:0]
	for _, p := range parts {
		if !embedded[p] {
			out = append(out, p)
		}
	}
	return strings.Join(out, ".")
}

// embeddedNames are the Go names of the structs the decoded kinds embed
// without a JSON name of their own. Set in init: the kinds' decoders report
// errors through it.
var embeddedNames func() map[string]bool

func init() { embeddedNames = sync.OnceValue(findEmbeddedNames) }

func findEmbeddedNames() map[string]bool {
	names := map[string]bool{}
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Anonymous && name == "" {
				names[f.Name] = true
			}
			walk(f.Type)
		}
	}
	for _, k := range byGVK {
		walk(reflect.TypeOf(k.New()))
	}
	return names
}

func jsonKind(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "an object" // json.RawMessage
		}
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	}
	return t.String()
}
