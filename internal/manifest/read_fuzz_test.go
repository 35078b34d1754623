package manifest_test

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ta-guard/ta-guard/internal/manifest"
	"github.com/ta-guard/ta-guard/internal/model"
)

// readLimit is far above what a manifest of a few kilobytes takes to read.
const readLimit = 5 * time.Second

var errorAt = regexp.MustCompile(`^-, document ([0-9]+) \(line ([0-9]+)\)(, item [0-9]+)?: .`)

// FuzzRead feeds arbitrary bytes to the reader of `ta-guard check`, as
// standard input. Manifests come from anywhere (helm output, jq, hand
// edits), so reading must never panic or hang, every error must say where
// in the input it is (the package's promise: file, document and line), and
// every object read must carry a position inside the input and, when
// ta-guard reads its kind, a model object in a namespace.
func FuzzRead(f *testing.F) {
	f.Add([]byte("apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{name: http, port: 80}]\n"))
	f.Add([]byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"}}` + "\n" + `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"b"}}`))
	f.Add([]byte("apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: a, namespace: x}\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: b}\nkind: List\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Go's fuzzer has no per-input time limit: a hang would stall the
		// worker until -fuzztime ran out, and the input would be lost.
		var (
			docs []manifest.Doc
			err  error
			done = make(chan struct{})
		)
		go func() {
			defer close(done)
			docs, err = manifest.Load([]string{"-"}, manifest.Options{Stdin: bytes.NewReader(data)})
		}()
		select {
		case <-done:
		case <-time.After(readLimit):
			t.Fatalf("reading %d bytes still running after %s", len(data), readLimit)
		}
		lines := lineCount(data)
		if err != nil {
			m := errorAt.FindStringSubmatch(err.Error())
			if m == nil {
				t.Fatalf("error does not say where: %q", err)
			}
			if doc, _ := strconv.Atoi(m[1]); doc < 1 {
				t.Fatalf("error in document %d: %q", doc, err)
			}
			if line, _ := strconv.Atoi(m[2]); line < 1 || line > lines {
				t.Fatalf("error at line %d of %d: %q", line, lines, err)
			}
			return
		}
		index := 0
		for _, d := range docs {
			if d.Source != "-" || d.Index < 1 || d.Item < 0 || d.Line < 1 || d.Line > lines {
				t.Fatalf("%s (line %d): a position outside the %d-line input", d.Where(), d.Line, lines)
			}
			if d.Index < index {
				t.Fatalf("%s comes after document %d", d.Where(), index)
			}
			index = d.Index
			if (d.Object != nil) != model.Supported(d.GVK) {
				t.Fatalf("%s: %s read, object %v", d.Where(), d.GVK, d.Object)
			}
			if d.Object != nil && d.GVK.Kind != "Namespace" && d.Object.GetMeta().Ref.Namespace == "" {
				t.Fatalf("%s: %s with no namespace", d.Where(), d.GVK)
			}
			for _, w := range d.Warnings {
				if !strings.HasPrefix(w, d.Where()+": ") {
					t.Fatalf("%s: warning does not say where: %q", d.Where(), w)
				}
			}
		}
	})
}

// lineCount is how many lines the input has, counting the one a final
// newline opens: a document may start there (an empty "---" at the end).
func lineCount(data []byte) int { return bytes.Count(data, []byte("\n")) + 1 }
