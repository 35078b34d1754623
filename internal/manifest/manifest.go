// Package manifest reads Kubernetes manifests from files, directories and
// standard input, and turns the objects ta-guard reads into model objects.
// Every error names the file, the document and the line it comes from.
package manifest

import (
	"fmt"
	"io"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/ta-guard/ta-guard/internal/input"
	"github.com/ta-guard/ta-guard/internal/model"
)

// Doc is one object read from the input.
type Doc struct {
	// Source is the file ("-" for standard input).
	Source string
	// Index is the 1-based position of the document in the file; each of
	// JSON values written back to back counts as one.
	Index int
	// Item is the 1-based position inside a kind: List, or 0.
	Item int
	// Line is the line of the file the document starts on (for a List
	// item, the List's).
	Line int
	GVK  schema.GroupVersionKind
	// Object is the normalized object, or nil when ta-guard does not read
	// the kind.
	Object model.Object
	// Warnings are problems that do not stop the check, such as fields the
	// kind does not have (a typo the rules would otherwise never see).
	Warnings []string
	// text is the document's source, its first line the file's Line (for
	// a List item, the List's): FieldLine finds a field's line in it.
	text []byte
}

// Where renders the position for messages: "a.yaml, document 2".
func (d Doc) Where() string {
	s := fmt.Sprintf("%s, document %d", d.Source, d.Index)
	if d.Item > 0 {
		s += fmt.Sprintf(", item %d", d.Item)
	}
	return s
}

// at renders the position for errors, with the line the document starts
// on: "a.yaml, document 2 (line 14), item 1". Where leaves the line out, as
// it names objects in reports, where the document is enough.
func (d Doc) at() string {
	s := fmt.Sprintf("%s, document %d (line %d)", d.Source, d.Index, d.Line)
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
	// MaxFileBytes bounds one file or stream (0: DefaultMaxFileBytes), and
	// MaxInputBytes all of them together (0: DefaultMaxInputBytes): /dev/zero
	// or a runaway generator is an error naming it, not an out-of-memory kill.
	MaxFileBytes, MaxInputBytes int64
	// OpenTimeout bounds the wait for a named pipe's writer (0: 10 s): a
	// FIFO nobody writes to would otherwise hang the run forever.
	OpenTimeout time.Duration
	// Skipped is told of each directory entry that was not read, and why
	// (a named pipe, a device, a dangling link). Nil: they are skipped
	// silently.
	Skipped func(msg string)
	// Exclude are glob patterns (path.Match) of what a directory walk
	// leaves out: a file or directory whose path below the walked
	// directory, or whose name, matches one.
	Exclude []string
}

// Defaults of Options. The largest manifests seen in practice (a rendered
// kube-prometheus with its CRDs) are a few MiB; the file bound is 16 times
// that. The input bound follows from memory: at worst, input made only of
// objects ta-guard reads, a run peaks at about 25 times its YAML (the typed
// objects and their indexes, twice over under Go's default GC), so 128 MiB
// of input stays near 3 GiB, under what a CI runner has.
const (
	DefaultMaxFileBytes  = 64 << 20
	DefaultMaxInputBytes = 128 << 20
)

func (o Options) withDefaults() Options {
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = DefaultMaxFileBytes
	}
	if o.MaxInputBytes <= 0 {
		o.MaxInputBytes = DefaultMaxInputBytes
	}
	if o.OpenTimeout <= 0 {
		o.OpenTimeout = input.DefaultOpenTimeout
	}
	return o
}

// Read decodes every document of a stream. Documents are split by
// k8s.io/apimachinery's YAML reader, the one kubectl uses, so what ta-guard
// checks is what kubectl would apply: "---" separates documents whether they
// are YAML or JSON, and a run of JSON values with no separator (what `jq -c`
// writes) is one document per value.
func Read(source string, r io.Reader, namespace string) ([]Doc, error) {
	opts := Options{}.withDefaults()
	budget := opts.MaxInputBytes
	data, err := readBounded(source, r, opts, &budget)
	if err != nil {
		return nil, err
	}
	units, err := splitStream(source, data)
	if err != nil {
		return nil, firstError(units, namespace, err)
	}
	return decodeUnits(units, namespace)
}
