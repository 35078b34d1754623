package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/ta-guard/ta-guard/internal/parallel"
)

// Splitting a file into its documents, each with the line it starts on:
// YAML documents between separators, JSON values written back to back.

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
