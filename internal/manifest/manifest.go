// Package manifest reads Kubernetes manifests from files, directories and
// standard input, and turns the objects ta-guard reads into model objects.
// Every error names the file, the document and the line it comes from.
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
	pathpkg "path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	yamlv3 "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/ta-guard/ta-guard/internal/input"
	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/internal/parallel"
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

// Load reads every path: a file, a directory (walked recursively for .yaml,
// .yml and .json, in lexical order) or "-" for standard input.
func Load(paths []string, opts Options) ([]Doc, error) {
	opts = opts.withDefaults()
	budget := opts.MaxInputBytes
	// Files are read one after another (the budget is spent in input
	// order), split on every core, and all their documents decoded
	// together: a directory of small files keeps both cores as busy as one
	// large file.
	type file struct {
		name string
		data []byte
	}
	var files []file
	seen := map[string]bool{}
	// walked are the files a directory walk found, rather than named.
	walked := map[string]bool{}
	var readErr error
read:
	for _, p := range paths {
		names, fromDir, err := expand(p, opts.Skipped, opts.Exclude)
		if err != nil {
			readErr = err
			break
		}
		if fromDir {
			for _, n := range names {
				walked[n] = true
			}
		}
		for _, f := range names {
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
			data, err := readFile(f, opts, &budget)
			if err != nil {
				readErr = err
				break read
			}
			files = append(files, file{f, data})
		}
	}
	type fileUnits struct {
		units []unit
		err   error
	}
	splits := parallel.Map(len(files), func(i int) fileUnits {
		us, err := splitStream(files[i].name, files[i].data)
		return fileUnits{us, err}
	})
	// The first problem in input order is the one reported, as a reading
	// one file after another would find it.
	var units []unit
	for _, sp := range splits {
		units = append(units, sp.units...)
		if sp.err != nil {
			return nil, firstError(units, opts.Namespace, sp.err)
		}
	}
	if readErr != nil {
		return nil, firstError(units, opts.Namespace, readErr)
	}
	for {
		docs, err := decodeUnits(units, opts.Namespace)
		var mk *missingKindError
		if err == nil || !errors.As(err, &mk) || !walked[mk.source] || !noManifest(units, mk.source, opts.Namespace) {
			return docs, err
		}
		// Each pass drops one file: at most as many passes as files.
		units = slices.DeleteFunc(units, func(u unit) bool { return u.seg.pos.Source == mk.source })
		if opts.Skipped != nil {
			opts.Skipped(fmt.Sprintf("%s: skipped: no document in it has apiVersion and kind, so it is no manifest", mk.source))
		}
	}
}

// noManifest reports whether every document of the file lacks apiVersion
// or kind.
func noManifest(units []unit, source, namespace string) bool {
	for _, u := range units {
		if u.seg.pos.Source != source {
			continue
		}
		var mk *missingKindError
		if _, err := u.decode(namespace); !errors.As(err, &mk) {
			return false
		}
	}
	return true
}

// firstError is err, unless a document read before it fails to decode: that
// one comes first in the input, and is what reading one by one would say.
func firstError(before []unit, namespace string, err error) error {
	if _, derr := decodeUnits(before, namespace); derr != nil {
		return derr
	}
	return err
}

func readFile(f string, opts Options, budget *int64) ([]byte, error) {
	var r io.Reader = opts.Stdin
	if f == "-" {
		if r == nil {
			return nil, errors.New("-: no standard input")
		}
	} else {
		fh, err := input.Open(f, opts.OpenTimeout)
		if err != nil {
			return nil, err
		}
		defer fh.Close()
		r = fh
	}
	return readBounded(f, r, opts, budget)
}

// readBounded reads a whole file or stream, within the file bound and what
// is left of the input's.
func readBounded(f string, r io.Reader, opts Options, budget *int64) ([]byte, error) {
	limit := min(opts.MaxFileBytes, *budget)
	data, over, err := input.ReadAtMost(r, limit)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f, err)
	}
	if over {
		if limit == opts.MaxFileBytes {
			return nil, fmt.Errorf("%s: larger than %s, the most a file may hold (--max-file-bytes)", f, input.Bytes(opts.MaxFileBytes))
		}
		return nil, fmt.Errorf("%s: the input reaches %s in total here, the most a run reads (--max-input-bytes)", f, input.Bytes(opts.MaxInputBytes))
	}
	*budget -= int64(len(data))
	return data, nil
}

// expand lists the files a path names, and whether a directory walk found
// them.
func expand(p string, skipped func(string), exclude []string) ([]string, bool, error) {
	if p == "-" {
		return []string{"-"}, false, nil
	}
	st, err := os.Stat(p)
	if err != nil {
		return nil, false, err
	}
	if !st.IsDir() {
		return []string{p}, false, nil
	}
	var out []string
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != p && excluded(p, path, exclude) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
		default:
			return nil
		}
		// Only regular files, a link to one included: a named pipe in the
		// tree would hang the run, a device could be endless.
		mode := d.Type()
		if mode&fs.ModeSymlink != 0 {
			target, err := os.Stat(path)
			if err != nil {
				if skipped != nil {
					skipped(fmt.Sprintf("%s: skipped: a symbolic link to nothing readable (%v)", path, err))
				}
				return nil
			}
			mode = target.Mode()
		}
		if !mode.IsRegular() {
			if skipped != nil {
				skipped(fmt.Sprintf("%s: skipped: %s, not a regular file", path, input.FileType(mode)))
			}
			return nil
		}
		out = append(out, path)
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	sort.Strings(out)
	if len(out) == 0 {
		return nil, false, fmt.Errorf("%s: no .yaml, .yml or .json files in the directory", p)
	}
	return out, true, nil
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

// splitStream cuts a stream into its documents, placed in the file. It is
// sequential and cheap (document and line numbers depend on what came
// before); decoding, nearly all of the cost, runs on every core afterwards.
// On error it returns the documents before the one that failed.
func splitStream(source string, data []byte) ([]unit, error) {
	s := newStream(source, data)
	var units []unit
	for {
		seg, err := s.next()
		if errors.Is(err, io.EOF) {
			return units, nil
		}
		if err != nil {
			return units, err
		}
		us, values := split(seg)
		// Every JSON value after the first takes a document number, so the
		// documents after it move on as well.
		s.extra += values - 1
		units = append(units, us...)
	}
}

// unit is one document to decode: YAML, or one value of a run of JSON
// values, already placed in the file.
type unit struct {
	seg  segment
	json bool
	// jsonErr is why a document that looked like JSON is read as YAML: if
	// YAML refuses it too, JSON's complaint is the one its author can use.
	jsonErr error
}

// split cuts a segment into the documents it holds, and says how many
// document numbers it takes, at least 1.
func split(seg segment) ([]unit, int) {
	trimmed := bytes.TrimSpace(seg.text)
	if len(trimmed) == 0 {
		return nil, 1
	}
	if trimmed[0] == '{' || trimmed[0] == '[' {
		vals, err := jsonValues(seg)
		if err == nil {
			us := make([]unit, len(vals))
			for i, v := range vals {
				us[i] = unit{seg: v, json: true}
			}
			return us, len(vals)
		}
		// A YAML flow mapping also starts with "{", and JSON followed by a
		// comment is YAML too: kubectl accepts both, so YAML gets its turn.
		return []unit{{seg: seg, jsonErr: err}}, 1
	}
	return []unit{{seg: seg}}, 1
}

func (u unit) decode(namespace string) ([]Doc, error) {
	if u.json {
		return decodeDocument(u.seg.pos, u.seg.text, namespace)
	}
	if docs, ok, err := decodeList(u.seg, namespace); ok {
		return docs, err
	}
	return u.decodeWhole(namespace)
}

// decodeWhole converts a YAML document to JSON in one piece.
func (u unit) decodeWhole(namespace string) ([]Doc, error) {
	j, err := yamlDocument(u.seg)
	if err != nil {
		if u.jsonErr != nil {
			return nil, u.jsonErr
		}
		return nil, err
	}
	return decodeDocument(u.seg.pos, j, namespace)
}

// decodeUnits decodes the documents on all cores and returns their objects
// in input order, or the first error in input order.
func decodeUnits(units []unit, namespace string) ([]Doc, error) {
	type result struct {
		docs []Doc
		err  error
	}
	results := parallel.Map(len(units), func(i int) result {
		docs, err := units[i].decode(namespace)
		return result{docs, err}
	})
	n := 0
	for _, r := range results {
		if r.err != nil {
			return nil, r.err
		}
		n += len(r.docs)
	}
	out := make([]Doc, 0, n)
	for _, r := range results {
		out = append(out, r.docs...)
	}
	return out, nil
}

// segment is one document as the YAML reader returned it, with where it
// starts in the file.
type segment struct {
	pos  Doc // Source, Index and Line only
	text []byte
}

// stream walks the file's lines alongside the YAML reader, which hands out
// document texts with nothing of where they come from. A text runs up to
// the next separator, which the reader drops; a separator with no text
// before it (at the start, or right after another one) is kept as the
// first line of the next text instead. Lines starting with "---" are
// exactly those the reader takes for separators (or refuses), so walking
// the same lines keeps the document and line numbers a person reading the
// file sees, including for the empty document between "---" and "---".
type stream struct {
	source string
	data   []byte
	reader *utilyaml.YAMLReader
	// off is the offset in data of the first line the reader has not yet
	// handed out; line is that line's number.
	off, line int
	// seps counts the separators before off.
	seps int
	// lead is 1 when the stretch before the first separator holds something,
	// even only a comment: it is then document 1. An empty stretch is not a
	// document, since a leading "---" only opens the first one.
	lead int
	// extra counts document numbers taken by JSON values after the first in
	// one segment.
	extra int
}

func newStream(source string, data []byte) *stream {
	s := &stream{
		source: source,
		data:   data,
		reader: utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data))),
		line:   1,
	}
	for off := 0; off < len(data); {
		l, next := lineAt(data, off)
		if isSeparator(l) {
			break
		}
		if len(bytes.TrimSpace(l)) > 0 {
			s.lead = 1
			break
		}
		off = next
	}
	return s
}

// lineAt returns the line starting at off, and the offset of the next one.
func lineAt(data []byte, off int) (line []byte, next int) {
	if i := bytes.IndexByte(data[off:], '\n'); i >= 0 {
		return data[off : off+i+1], off + i + 1
	}
	return data[off:], len(data)
}

func isSeparator(line []byte) bool { return bytes.HasPrefix(line, []byte("---")) }

func (s *stream) skipLine() {
	_, s.off = lineAt(s.data, s.off)
	s.line++
}

func (s *stream) next() (segment, error) {
	text, err := s.reader.Read()
	if err != nil && !errors.Is(err, io.EOF) {
		return segment{}, s.separatorError(err)
	}
	if len(text) == 0 {
		return segment{}, io.EOF
	}
	if isSeparator(text) {
		// A separator the reader kept: it opens a document all the same, and
		// off the text a JSON document starts with "{" again.
		_, rest := lineAt(text, 0)
		text = text[rest:]
		s.seps++
		s.skipLine()
	}
	seg := segment{pos: Doc{Source: s.source, Index: s.seps + s.lead + s.extra, Line: s.line, text: text}, text: text}
	// The reader ends every line it returns with one newline, CRLF or not,
	// so its newlines are the file's lines.
	for range bytes.Count(text, []byte("\n")) {
		s.skipLine()
	}
	if s.off < len(s.data) {
		// The separator that ended the document, if it did not end at the
		// end of the input.
		if l, _ := lineAt(s.data, s.off); isSeparator(l) {
			s.seps++
			s.skipLine()
		}
	}
	return seg, nil
}

// separatorError places the reader's refusal of a separator line. The
// reader only refuses "---" followed by something other than a comment
// (kubectl does not accept content on the separator line either), and does
// not say where: the first such line from off on is the one, and it opens
// the document the error is about.
func (s *stream) separatorError(err error) error {
	seps, line := s.seps, s.line
	for off := s.off; off < len(s.data); line++ {
		l, next := lineAt(s.data, off)
		if isSeparator(l) {
			seps++
			if rest := bytes.TrimSpace(l[3:]); len(rest) > 0 && rest[0] != '#' {
				break
			}
		}
		off = next
	}
	at := Doc{Source: s.source, Index: seps + s.lead + s.extra, Line: line}
	return fmt.Errorf("%s: not valid YAML: %w", at.at(), err)
}

// yamlDocument converts a document to JSON with sigs.k8s.io/yaml, as
// kubectl does, so that values mean what they mean to kubectl (yes is
// true). That converter reads the first document of its input and drops
// the rest without a word: after "...", or after a flow mapping, a second
// one would vanish from every rule. A second parser, able to go on past the
// first document, tells whether anything follows it.
func yamlDocument(seg segment) ([]byte, error) {
	j, err := yaml.YAMLToJSON(seg.text)
	if err != nil {
		return nil, fmt.Errorf("%s: not valid YAML: %s", seg.pos.at(), yamlProblem(err, seg.pos.Line))
	}
	if !mayHoldMore(seg.text) {
		return j, nil
	}
	dec := yamlv3.NewDecoder(bytes.NewReader(seg.text))
	var node yamlv3.Node
	if dec.Decode(&node) != nil {
		// What sigs.k8s.io/yaml accepted, kubectl accepts: no second opinion.
		return j, nil
	}
	second := dec.Decode(&node)
	if errors.Is(second, io.EOF) {
		return j, nil
	}
	at := node.Line // where the second document starts, when it parses
	if second != nil {
		// Where the parser, looking for the next "---", found more instead.
		at, _, _ = yamlLine(second)
	}
	return nil, fmt.Errorf("%s: not valid YAML: line %d: more than one document, with no \"---\" between them",
		seg.pos.at(), seg.pos.Line+max(at, 1)-1)
}

// mayHoldMore tells whether a document's text could hold a second document
// that sigs.k8s.io/yaml would drop: one after a document end marker
// ("..."), or a directive, or after a root node that is not a block mapping
// (a flow collection, a quoted or tagged scalar). A block mapping can be
// followed by nothing but its own keys, so the manifests people write skip
// the second parse, which cost as much as the first.
func mayHoldMore(text []byte) bool {
	first := true
	for off := 0; off < len(text); {
		l, next := lineAt(text, off)
		off = next
		if bytes.HasPrefix(l, []byte("...")) || bytes.HasPrefix(l, []byte("%")) {
			return true
		}
		if !first {
			continue
		}
		t := bytes.TrimLeft(l, " \t")
		if len(bytes.TrimSpace(t)) == 0 || t[0] == '#' {
			continue
		}
		first = false
		if strings.IndexByte("{[!&*|>'\"@`-?:", t[0]) >= 0 {
			return true
		}
	}
	return false
}

// jsonValues splits a run of JSON values, each a document of its own with
// the line it starts on.
func jsonValues(seg segment) ([]segment, error) {
	dec := json.NewDecoder(bytes.NewReader(seg.text))
	newline := []byte("\n")
	var out []segment
	// Lines are counted from the previous value on, not from the start, so
	// that a long `jq -c` stream is not counted over and over.
	counted, line := 0, seg.pos.Line
	lineOf := func(off int) int {
		line += bytes.Count(seg.text[counted:off], newline)
		counted = off
		return line
	}
	for {
		off := int(dec.InputOffset())
		rest := seg.text[off:]
		pos := seg.pos
		pos.Index += len(out)
		pos.Line = lineOf(off + len(rest) - len(bytes.TrimLeft(rest, " \t\r\n")))
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			// A value cut short fails at its last character.
			at := len(bytes.TrimRight(seg.text, " \t\r\n"))
			var syn *json.SyntaxError
			if errors.As(err, &syn) {
				at = min(max(int(syn.Offset), counted), len(seg.text))
			}
			return nil, fmt.Errorf("%s: not valid JSON: line %d: %w", pos.at(), lineOf(at), tooDeep(err))
		}
		pos.text = raw
		out = append(out, segment{pos: pos, text: raw})
	}
}

// yamlProblem renders a YAML parser error with the line of the file, start
// being the line the document starts on.
func yamlProblem(err error, start int) string {
	if rel, rest, ok := yamlLine(err); ok {
		return fmt.Sprintf("line %d: %s", start+rel-1, rest)
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// yamlLine reads the line out of a parser error ("yaml: line 3: ..."). The
// parsers count from the start of the document they are given, not of the
// file, and give the line in the message only.
func yamlLine(err error) (line int, rest string, ok bool) {
	msg, found := strings.CutPrefix(err.Error(), "yaml: line ")
	if !found {
		return 0, "", false
	}
	num, rest, found := strings.Cut(msg, ": ")
	n, convErr := strconv.Atoi(num)
	if !found || convErr != nil {
		return 0, "", false
	}
	return n, rest, true
}

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

// excluded reports whether an entry of a walk of root matches a pattern,
// by its slash path below root or by its name.
func excluded(root, path string, patterns []string) bool {
	rel, err := filepath.Rel(root, path)
	if err != nil {
		return false
	}
	rel = filepath.ToSlash(rel)
	for _, pat := range patterns {
		if ok, _ := pathpkg.Match(pat, rel); ok {
			return true
		}
		if ok, _ := pathpkg.Match(pat, filepath.Base(path)); ok {
			return true
		}
	}
	return false
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
