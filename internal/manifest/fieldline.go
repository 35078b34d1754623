package manifest

import (
	"strconv"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// FieldLine is the line of the file that holds the field p of the
// document's object: the line of its key, or of its list element. Where
// the path leads through something the document does not write (a default,
// a field of the normalized form only), it is the line of the deepest part
// it does write; with nothing to go on, the document's first line.
//
// yaml.v3's nodes carry the lines; a JSON document is YAML to it too. The
// text is parsed again only here, for the few findings a CI report places.
func (d Doc) FieldLine(p *field.Path) int {
	if p == nil || len(d.text) == 0 {
		return d.Line
	}
	var doc yamlv3.Node
	if yamlv3.Unmarshal(d.text, &doc) != nil || len(doc.Content) == 0 {
		return d.Line
	}
	steps := pathSteps(p.String())
	if d.Item > 0 {
		steps = append([]string{"items", "[" + strconv.Itoa(d.Item-1) + "]"}, steps...)
	}
	n, line := doc.Content[0], 0
	for _, s := range steps {
		next, at := childNode(n, s)
		if next == nil {
			break
		}
		n, line = next, at
	}
	if line == 0 {
		return d.Line
	}
	return d.Line + line - 1
}

// pathSteps splits field.Path's string form into its steps: "spec",
// "endpoints", "[0]", "port". A key in brackets may hold dots
// (metadata.labels[app.kubernetes.io/name]).
func pathSteps(s string) []string {
	var out []string
	for len(s) > 0 {
		switch s[0] {
		case '.':
			s = s[1:]
		case '[':
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return append(out, s)
			}
			out = append(out, s[:end+1])
			s = s[end+1:]
		default:
			end := strings.IndexAny(s, ".[")
			if end < 0 {
				end = len(s)
			}
			out = append(out, s[:end])
			s = s[end:]
		}
	}
	return out
}

// childNode is the node one step below n, and the line the step is written
// on; nil when the document does not write it.
func childNode(n *yamlv3.Node, step string) (*yamlv3.Node, int) {
	for n.Kind == yamlv3.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	key := step
	if strings.HasPrefix(step, "[") && strings.HasSuffix(step, "]") {
		key = step[1 : len(step)-1]
		if n.Kind == yamlv3.SequenceNode {
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(n.Content) {
				return nil, 0
			}
			return n.Content[i], n.Content[i].Line
		}
	}
	if n.Kind != yamlv3.MappingNode {
		return nil, 0
	}
	// The last of duplicate keys wins, as the reader that made the object
	// keeps it.
	var found *yamlv3.Node
	line := 0
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			found, line = n.Content[i+1], n.Content[i].Line
		}
	}
	return found, line
}
