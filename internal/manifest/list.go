package manifest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"

	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/ta-guard/ta-guard/internal/parallel"
)

// A YAML List is converted item by item. sigs.k8s.io/yaml turns a document
// into a tree of interface values before writing JSON, about 50 bytes of
// heap per byte of YAML: a 20 MB `kind: List` of 100k Services (what
// `kubectl get -o yaml` writes) peaked above 1 GB where the same Services
// as separate documents took 440 MB. Cut into its entries, a List costs
// what its items cost one by one, and they convert on every core.
//
// Where to cut is read off the lines, but the cut is only a proposal: the
// same converter reads every piece, and anything it does not confirm falls
// back to converting the document whole, so what a List means is always
// what kubectl reads. A cut in the wrong place (inside a multi-line quoted
// string or a flow collection) leaves a piece the converter refuses, or a
// shell whose items are not the placeholder put there. Documents that may
// hold aliases are not cut at all.

// placeholder stands for the items in the shell. Where the shell's items
// come out as anything else, another "items" key won over the one cut. It
// is drawn at random, so that no document can hold it.
var placeholder, placeholderJSON = func() (string, []byte) {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	p := "ta-guard-items-" + hex.EncodeToString(b)
	return p, []byte(`["` + p + `"]`)
}()

// listEntries is a List document cut into its shell, the document with its
// items replaced by the placeholder, and the text of each entry of its
// items, each a one-entry block sequence on its own.
type listEntries struct {
	shell   []byte
	entries [][]byte
}

// cutList proposes the cut of a block-mapping document whose top-level
// "items:" holds a block sequence, or says there is none to propose.
func cutList(text []byte) (listEntries, bool) {
	if mayHoldMore(text) {
		return listEntries{}, false // directives, "...", or a root that is not a block mapping
	}
	if mayHoldAlias(text) {
		// The converter refuses a document whose aliases expand too far,
		// by a ratio that depends on the whole document's size: its items
		// one by one could pass where the List would not.
		return listEntries{}, false
	}
	itemsAt, off := -1, 0
	var itemsLine []byte
	for off < len(text) && itemsAt < 0 {
		l, next := lineAt(text, off)
		if isItemsKey(l) {
			itemsAt, itemsLine = off, l
		}
		off = next
	}
	if itemsAt < 0 {
		return listEntries{}, false
	}
	// Every byte of the document goes to the shell or to an entry, so the
	// converter sees all of it (a stray byte in a comment is an error
	// whole, and must stay one): the key keeps its comment, and what comes
	// before the first entry goes with it.
	shell := append(append([]byte(nil), text[:itemsAt]...), "items: [\""+placeholder+"\"]"...)
	shell = append(shell, itemsLine[len("items:"):]...)
	if !bytes.HasSuffix(shell, []byte("\n")) {
		shell = append(shell, '\n')
	}
	var entries [][]byte
	indent, start := -1, off
	end := len(text)
	for off < len(text) {
		l, next := lineAt(text, off)
		ind, content := indentOf(l)
		switch {
		case len(content) == 0 || content[0] == '#':
			// Blank lines and comments belong to the entry they are in.
		case ind < 0:
			return listEntries{}, false // a tab in the indentation
		case indent < 0 && !isEntry(content):
			return listEntries{}, false // items is not a block sequence
		case indent < 0:
			indent = ind
		case ind == indent && isEntry(content):
			entries = append(entries, text[start:off])
			start = off
		case ind <= indent:
			end = off // the next top-level key: the sequence is over
		}
		if end < len(text) {
			break
		}
		off = next
	}
	if indent < 0 {
		return listEntries{}, false // no entry
	}
	entries = append(entries, text[start:end])
	shell = append(shell, text[end:]...)
	return listEntries{shell: shell, entries: entries}, true
}

// mayHoldAlias tells whether the text may hold an alias ("*name" where a
// value starts). A "*" inside a string (".*", "*.example.com") is not one;
// where it cannot be told apart ("a *b" in a plain scalar), it counts as
// one, which only costs the cut.
func mayHoldAlias(text []byte) bool {
	for i := 0; ; i++ {
		j := bytes.IndexByte(text[i:], '*')
		if j < 0 {
			return false
		}
		i += j
		before := byte('\n')
		if i > 0 {
			before = text[i-1]
		}
		if strings.IndexByte(" \t\n[{,", before) >= 0 && i+1 < len(text) && strings.IndexByte(" \t\r\n]},", text[i+1]) < 0 {
			return true
		}
	}
}

// isItemsKey tells the line of the top-level key "items" with nothing after
// it but a comment.
func isItemsKey(l []byte) bool {
	rest, ok := bytes.CutPrefix(l, []byte("items:"))
	if !ok {
		return false
	}
	trimmed := bytes.TrimSpace(rest)
	if len(trimmed) == 0 {
		return true
	}
	// A comment starts after white space: "items:#x" is one plain scalar.
	return trimmed[0] == '#' && len(trimmed) < len(rest) && (rest[0] == ' ' || rest[0] == '\t')
}

// indentOf returns a line's indentation in spaces and its content, trimmed;
// the indentation is -1 when it holds a tab, which YAML forbids there.
func indentOf(l []byte) (int, []byte) {
	trimmed := bytes.TrimLeft(l, " ")
	content := bytes.TrimSpace(trimmed)
	if len(trimmed) > 0 && trimmed[0] == '\t' && len(content) > 0 {
		return -1, content
	}
	return len(l) - len(trimmed), content
}

// isEntry tells a block sequence entry: "-" followed by a space or nothing.
func isEntry(content []byte) bool {
	return bytes.Equal(content, []byte("-")) || bytes.HasPrefix(content, []byte("- "))
}

// decodeList decodes a YAML List item by item, or says it cannot be cut, in
// which case the caller converts the document whole.
func decodeList(seg segment, namespace string) ([]Doc, bool, error) {
	l, ok := cutList(seg.text)
	if !ok {
		return nil, false, nil
	}
	shell, err := yaml.YAMLToJSON(l.shell)
	if err != nil {
		return nil, false, nil
	}
	var h header
	if sigsjson.UnmarshalCaseSensitivePreserveInts(shell, &h) != nil || !bytes.Equal(bytes.TrimSpace(h.Items), placeholderJSON) {
		// A later "items" key wins over the one cut (the converter keeps
		// the last of duplicate keys), or the cut was wrong.
		return nil, false, nil
	}
	if kind := stringOf(h.Kind); !strings.HasSuffix(kind, "List") {
		return nil, false, nil // not a List: the document is decoded as the object it is
	}
	return decodeItems(seg.pos, len(l.entries), func(i int) (json.RawMessage, bool) {
		j, err := yaml.YAMLToJSON(l.entries[i])
		var one []json.RawMessage
		if err != nil || json.Unmarshal(j, &one) != nil || len(one) != 1 {
			return nil, false
		}
		return one[0], true
	}, namespace)
}

// decodeItems decodes a List's n items on every core, item(i) giving the
// JSON of the i-th. It reports false when item did for any of them, and
// otherwise the items' objects in order or the first error in order.
func decodeItems(pos Doc, n int, item func(i int) (json.RawMessage, bool), namespace string) ([]Doc, bool, error) {
	type result struct {
		ok  bool
		doc Doc
		err error
	}
	results := parallel.Map(n, func(i int) result {
		it, ok := item(i)
		if !ok {
			return result{}
		}
		d := pos
		d.Item = i + 1
		doc, err := decodeItem(d, it, namespace)
		return result{ok: true, doc: doc, err: err}
	})
	for _, r := range results {
		if !r.ok {
			return nil, false, nil
		}
	}
	out := make([]Doc, 0, len(results))
	for _, r := range results {
		if r.err != nil {
			return nil, true, r.err
		}
		out = append(out, r.doc)
	}
	return out, true, nil
}
