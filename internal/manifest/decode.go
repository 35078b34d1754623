package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"k8s.io/apimachinery/pkg/runtime/schema"
	sigsjson "sigs.k8s.io/json"

	"github.com/ta-guard/ta-guard/internal/model"
)

// Decoding one document, or the items of a List, into the objects ta-guard
// reads.

// header is what every document is read for, whatever its kind. Values are
// kept raw so that a field of the wrong type reads as missing, as it did
// when documents were decoded into maps.
type header struct {
	APIVersion json.RawMessage `json:"apiVersion"`
	Kind       json.RawMessage `json:"kind"`
	Metadata   json.RawMessage `json:"metadata"`
	Items      json.RawMessage `json:"items"`
}

type metaHeader struct {
	Name json.RawMessage `json:"name"`
}

// stringOf is a raw JSON value as a string, "" when it is not one.
func stringOf(raw json.RawMessage) string {
	var v string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &v) != nil {
		return ""
	}
	return v
}

// notString names the type of a value that is present and not a string
// ("" when absent, null or a string).
func notString(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return ""
	}
	switch raw[0] {
	case '"':
		return ""
	case '{':
		return "an object"
	case '[':
		return "a list"
	case 't', 'f':
		return "true or false (unquoted yes, no, on and off are booleans in YAML: quote the value)"
	}
	return "a number"
}

// isObject tells a JSON object from the other values without decoding it.
// maxDepth is how deep encoding/json (and so the API server, and the YAML
// parser kubectl uses) lets a document nest.
const maxDepth = 10000

// tooDeep says what a JSON decoder's depth limit means: the decoder calls it
// a syntax error at an "invalid character", which the document does not have.
func tooDeep(err error) error {
	if syntax, _ := sigsjson.SyntaxErrorOffset(err); syntax && strings.HasSuffix(err.Error(), "exceeded max depth") {
		return fmt.Errorf("nested more than %d levels deep, more than the API server decodes", maxDepth)
	}
	return err
}

func isObject(j []byte) bool { return len(j) > 0 && j[0] == '{' }

// decodeDocument decodes one document, already JSON, into the objects it
// holds: none for an empty one, every item of a List. The header is read
// first (field names case-sensitive, as the API server reads them); only
// kinds ta-guard reads are decoded further, into their typed form, once.
func decodeDocument(pos Doc, j []byte, namespace string) ([]Doc, error) {
	j = bytes.TrimSpace(j)
	if len(j) == 0 || bytes.Equal(j, []byte("null")) {
		return nil, nil // empty document or comments only
	}
	if !isObject(j) {
		var v any
		if err := json.Unmarshal(j, &v); err != nil {
			return nil, fmt.Errorf("%s: %w", pos.at(), tooDeep(err))
		}
		return nil, fmt.Errorf("%s: a document must be an object with apiVersion and kind, not %s", pos.at(), describe(v))
	}
	var h header
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(j, &h); err != nil {
		return nil, fmt.Errorf("%s: %w", pos.at(), tooDeep(err))
	}
	kind := stringOf(h.Kind)
	shownKind := shown(kind)
	hasItems := len(h.Items) > 0 && !bytes.Equal(h.Items, []byte("null"))
	if kind == "List" || strings.HasSuffix(kind, "List") && hasItems {
		var items []json.RawMessage
		if !hasItems || h.Items[0] != '[' || json.Unmarshal(h.Items, &items) != nil {
			return nil, fmt.Errorf("%s: %s.items must be a list", pos.at(), shownKind)
		}
		out, _, err := decodeItems(pos, len(items), func(i int) (json.RawMessage, bool) { return items[i], true }, namespace)
		return out, err
	}
	d, err := decodeObject(pos, h, j, namespace)
	if err != nil {
		return nil, err
	}
	return []Doc{d}, nil
}

func decodeItem(d Doc, it json.RawMessage, namespace string) (Doc, error) {
	it = bytes.TrimSpace(it)
	if !isObject(it) {
		var v any
		_ = json.Unmarshal(it, &v)
		return d, fmt.Errorf("%s: a list item must be an object, not %s", d.at(), describe(v))
	}
	var h header
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(it, &h); err != nil {
		return d, fmt.Errorf("%s: %w", d.at(), err)
	}
	return decodeObject(d, h, it, namespace)
}

// shown returns s as it is when it is one plain word, and quoted otherwise,
// so that a kind or name holding line breaks or spaces cannot split or
// disguise the one-line message that names it.
func shown(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// describe names what a document holds instead of an object, so that the
// author sees which mistake it is (a stray "- " makes a list).
func describe(v any) string {
	switch v := v.(type) {
	case []any:
		return "a list"
	case string:
		return fmt.Sprintf("the string %q", v)
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// missingKindError is a document without apiVersion or kind: of a file a
// directory walk found, a file of nothing else is no manifest (a Helm
// values file, a TA's /jobs saved beside the manifests) and is skipped.
type missingKindError struct{ source, at string }

func (e *missingKindError) Error() string { return e.at + ": missing apiVersion or kind" }

func decodeObject(d Doc, h header, j []byte, namespace string) (Doc, error) {
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"apiVersion", h.APIVersion}, {"kind", h.Kind}} {
		if t := notString(f.raw); t != "" {
			return d, fmt.Errorf("%s: %s: expected a string, got %s", d.at(), f.name, t)
		}
	}
	apiVersion, kind := stringOf(h.APIVersion), stringOf(h.Kind)
	if apiVersion == "" || kind == "" {
		return d, &missingKindError{source: d.Source, at: d.at()}
	}
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return d, fmt.Errorf("%s: apiVersion %q: %w", d.at(), apiVersion, err)
	}
	d.GVK = gv.WithKind(kind)
	// Kind and name come from the input and are shown in one-line messages.
	kind = shown(kind)
	var meta metaHeader
	if m := bytes.TrimSpace(h.Metadata); isObject(m) {
		_ = sigsjson.UnmarshalCaseSensitivePreserveInts(m, &meta)
	} else if t := notString(m); t != "" {
		return d, fmt.Errorf("%s: %s: metadata: expected an object, got %s", d.at(), kind, t)
	}
	if t := notString(meta.Name); t != "" {
		return d, fmt.Errorf("%s: %s: metadata.name: expected a string, got %s", d.at(), kind, t)
	}
	name := stringOf(meta.Name)
	if name == "" {
		return d, fmt.Errorf("%s: %s has no metadata.name", d.at(), kind)
	}
	if !model.Supported(d.GVK) {
		return d, nil
	}
	name = shown(name)
	o, unknown, err := model.DecodeManifest(d.GVK, j, namespace)
	if err != nil {
		return d, fmt.Errorf("%s: %s %s: %w", d.at(), kind, name, err)
	}
	d.Object = o
	for _, u := range unknown {
		d.Warnings = append(d.Warnings, fmt.Sprintf("%s: %s %s: %s (ignored: a typo?)", d.Where(), kind, name, u))
	}
	return d, nil
}
