// Package manifest reads Kubernetes manifests from files, directories and
// standard input, and turns the objects ta-guard reads into model objects.
// Every error names the file and the document it comes from.
package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
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
	for _, p := range paths {
		files, err := expand(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			var r io.Reader
			if f == "-" {
				if opts.Stdin == nil {
					return nil, errors.New("-: no standard input")
				}
				r = opts.Stdin
			} else {
				fh, err := os.Open(f)
				if err != nil {
					return nil, err
				}
				r = fh
				defer fh.Close()
			}
			d, err := Read(f, r, opts.Namespace)
			if err != nil {
				return nil, err
			}
			docs = append(docs, d...)
		}
	}
	return docs, nil
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

// Read splits a stream into documents and decodes each.
func Read(source string, r io.Reader, namespace string) ([]Doc, error) {
	yr := utilyaml.NewYAMLReader(bufio.NewReader(r))
	var out []Doc
	for index := 1; ; index++ {
		raw, err := yr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s, document %d: %w", source, index, err)
		}
		docs, err := decodeDocument(source, index, raw, namespace)
		if err != nil {
			return nil, err
		}
		out = append(out, docs...)
	}
}

func decodeDocument(source string, index int, raw []byte, namespace string) ([]Doc, error) {
	where := Doc{Source: source, Index: index}
	j, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: not valid YAML: %w", where.Where(), err)
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
	return d, nil
}
