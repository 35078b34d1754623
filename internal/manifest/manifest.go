// Package manifest reads Kubernetes manifests from files, directories and
// standard input, and turns the objects ta-guard reads into model objects.
// Every error names the file and the document it comes from.
package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/ta-guard/ta-guard/pkg/model"
)

// Doc is one object read from the input.
type Doc struct {
	// Source is the file ("-" for standard input).
	Source string
	// Index is the 1-based position of the YAML document in the file.
	Index int
	// Item is the 1-based position inside a kind: List, or 0.
	Item int
	GVK  schema.GroupVersionKind
	// Object is the normalized object, or nil when ta-guard does not read
	// the kind.
	Object model.Object
	// Warnings are problems that do not stop the check, such as fields the
	// kind does not have (a typo the rules would otherwise never see).
	Warnings []string
}

// Where renders the position for messages: "a.yaml, document 2".
func (d Doc) Where() string {
	s := fmt.Sprintf("%s, document %d", d.Source, d.Index)
	if d.Item > 0 {
		s += fmt.Sprintf(", item %d", d.Item)
	}
	return s
}

// Options control how manifests are read.
type Options struct {
	// Namespace is given to namespaced objects that name none, as kubectl
	// does with the context's namespace.
	Namespace string
	// Stdin is read for the path "-".
	Stdin io.Reader
}

// Load reads every path: a file, a directory (walked recursively for .yaml,
// .yml and .json, in lexical order) or "-" for standard input.
func Load(paths []string, opts Options) ([]Doc, error) {
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	var docs []Doc
	seen := map[string]bool{}
	for _, p := range paths {
		files, err := expand(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			// A file named twice (or by a directory and by itself) is read
			// once: it is the same input, not a duplicate definition.
			id := f
			if abs, err := filepath.Abs(f); err == nil && f != "-" {
				id = abs
			}
			if seen[id] {
				continue
			}
			seen[id] = true
			d, err := readFile(f, opts)
			if err != nil {
				return nil, err
			}
			docs = append(docs, d...)
		}
	}
	return docs, nil
}

func readFile(f string, opts Options) ([]Doc, error) {
	if f == "-" {
		if opts.Stdin == nil {
			return nil, errors.New("-: no standard input")
		}
		return Read(f, opts.Stdin, opts.Namespace)
	}
	fh, err := os.Open(f)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return Read(f, fh, opts.Namespace)
}

func expand(p string) ([]string, error) {
	if p == "-" {
		return []string{"-"}, nil
	}
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	var out []string
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(out)
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no .yaml, .yml or .json files in the directory", p)
	}
	return out, nil
}

// Read splits a stream into documents and decodes each. A stream that
// starts with { or [ is JSON: one or more JSON values, each a document.
func Read(source string, r io.Reader, namespace string) ([]Doc, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if t := bytes.TrimSpace(data); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		return readJSON(source, data, namespace)
	}
	var out []Doc
	for _, seg := range splitYAML(data) {
		docs, err := decodeDocument(source, seg.index, seg.line, seg.text, namespace)
		if err != nil {
			return nil, err
		}
		out = append(out, docs...)
	}
	return out, nil
}

func readJSON(source string, data []byte, namespace string) ([]Doc, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var out []Doc
	for index := 1; ; index++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("%s, document %d: not valid JSON: %w", source, index, err)
		}
		docs, err := decodeDocument(source, index, 1, raw, namespace)
		if err != nil {
			return nil, err
		}
		out = append(out, docs...)
	}
}

type segment struct {
	index, line int
	text        []byte
}

// splitYAML cuts a stream at "---" lines. Every document between two
// separators counts, empty or not, so "document N" is what a person counting
// separators finds; only an empty stretch before the first separator is not
// a document.
func splitYAML(data []byte) []segment {
	var segs []segment
	var cur []byte
	curLine, lineNo := 1, 0
	flush := func(first bool) {
		if !first || len(bytes.TrimSpace(cur)) > 0 {
			segs = append(segs, segment{index: len(segs) + 1, line: curLine, text: cur})
		}
		cur = nil
	}
	first := true
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		lineNo++
		trimmed := bytes.TrimRight(line, "\r\n")
		if bytes.HasPrefix(trimmed, []byte("---")) && (len(trimmed) == 3 || trimmed[3] == ' ' || trimmed[3] == '\t') {
			flush(first)
			first = false
			curLine = lineNo + 1
			if rest := bytes.TrimSpace(trimmed[3:]); len(rest) > 0 && rest[0] != '#' {
				cur = append(cur, rest...)
				cur = append(cur, '\n')
				curLine = lineNo
			}
			continue
		}
		cur = append(cur, line...)
	}
	if len(bytes.TrimSpace(cur)) > 0 || (first && len(cur) > 0) {
		flush(first)
	}
	return segs
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// fileLine turns a YAML error's line, counted from the document's start,
// into a line of the file.
func fileLine(err error, start int) string {
	return yamlLine.ReplaceAllStringFunc(err.Error(), func(m string) string {
		n, convErr := strconv.Atoi(strings.TrimPrefix(m, "line "))
		if convErr != nil {
			return m
		}
		return fmt.Sprintf("line %d", n+start-1)
	})
}

func decodeDocument(source string, index, line int, raw []byte, namespace string) ([]Doc, error) {
	where := Doc{Source: source, Index: index}
	j, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: not valid YAML: %s", where.Where(), fileLine(err, line))
	}
	j = bytes.TrimSpace(j)
	if len(j) == 0 || bytes.Equal(j, []byte("null")) {
		return nil, nil // empty document or comments only
	}
	var obj map[string]any
	if err := json.Unmarshal(j, &obj); err != nil {
		return nil, fmt.Errorf("%s: a document must be an object with apiVersion and kind", where.Where())
	}
	if kind, _ := obj["kind"].(string); kind == "List" || strings.HasSuffix(kind, "List") && obj["items"] != nil {
		items, ok := obj["items"].([]any)
		if !ok {
			return nil, fmt.Errorf("%s: %s.items must be a list", where.Where(), kind)
		}
		var out []Doc
		for i, it := range items {
			d := Doc{Source: source, Index: index, Item: i + 1}
			m, ok := it.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: a list item must be an object", d.Where())
			}
			dd, err := decodeObject(d, m, namespace)
			if err != nil {
				return nil, err
			}
			out = append(out, dd)
		}
		return out, nil
	}
	d, err := decodeObject(where, obj, namespace)
	if err != nil {
		return nil, err
	}
	return []Doc{d}, nil
}

func decodeObject(d Doc, obj map[string]any, namespace string) (Doc, error) {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	if apiVersion == "" || kind == "" {
		return d, fmt.Errorf("%s: missing apiVersion or kind", d.Where())
	}
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return d, fmt.Errorf("%s: apiVersion %q: %w", d.Where(), apiVersion, err)
	}
	d.GVK = gv.WithKind(kind)
	meta, _ := obj["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	if name == "" {
		return d, fmt.Errorf("%s: %s has no metadata.name", d.Where(), kind)
	}
	if !model.Supported(d.GVK) {
		return d, nil
	}
	if ns, _ := meta["namespace"].(string); ns == "" && kind != "Namespace" {
		meta["namespace"] = namespace
	}
	j, err := json.Marshal(obj)
	if err != nil {
		return d, fmt.Errorf("%s: %w", d.Where(), err)
	}
	o, err := model.Decode(d.GVK, j)
	if err != nil {
		return d, fmt.Errorf("%s: %s %s: %w", d.Where(), kind, name, err)
	}
	d.Object = o
	for _, u := range model.UnknownFields(d.GVK, j) {
		d.Warnings = append(d.Warnings, fmt.Sprintf("%s: %s %s: %s (ignored: a typo?)", d.Where(), kind, name, u))
	}
	return d, nil
}
