// Package policy decides what happens to a finding: the action per rule, the
// namespaces left out, and the per-object skip annotation.
package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v4"

	"github.com/ta-guard/ta-guard/internal/input"
	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

// SkipAnnotation lists rule IDs (comma-separated) or "*" that an object opts
// out of.
const SkipAnnotation = "ta-guard.io/skip"

// Policy is the parsed policy file. The zero value applies the catalog's
// default actions.
type Policy struct {
	// DefaultAction, when set, replaces the catalog default of every rule
	// that Rules does not name.
	DefaultAction rules.Action
	// Rules sets the action of single rules.
	Rules map[rules.ID]rules.Action
	// ExcludeNamespaces are never checked.
	ExcludeNamespaces map[string]bool
}

// ActionFor is the action of a rule: its own entry, else the policy's
// default action, else the catalog default.
func (p *Policy) ActionFor(id rules.ID) rules.Action {
	if p != nil {
		if a, ok := p.Rules[id]; ok {
			return a
		}
		if p.DefaultAction != "" {
			return p.DefaultAction
		}
	}
	r, _ := rules.Lookup(id)
	return r.Default
}

// Enforcing reports whether the policy denies on any rule. Under such a
// policy an answer without a verdict is never an allow: the webhook answers
// with an error instead, and the API server applies failurePolicy (Fail in
// the enforce overlay).
func (p *Policy) Enforcing() bool {
	for _, r := range rules.All() {
		if p.ActionFor(r.ID) == rules.Deny {
			return true
		}
	}
	return false
}

// DeniesAny reports whether the policy denies on one of the rules.
func (p *Policy) DeniesAny(ids ...rules.ID) bool {
	for _, id := range ids {
		if p.ActionFor(id) == rules.Deny {
			return true
		}
	}
	return false
}

// Caution says, when the policy denies on rules whose finding depends on
// the order objects arrive in (rules.OrderDependent), which they are and
// why that refuses working setups: a GitOps tool or kubectl apply -f dir/
// applies a monitor before its Service as readily as after. "" when it
// denies none. Rules that never deny (rules.Repeats) are not named.
func (p *Policy) Caution() string {
	var ids []string
	for _, r := range rules.All() {
		if _, dependent := rules.OrderDependent(r.ID); dependent && !rules.Repeats(r.ID) && p.ActionFor(r.ID) == rules.Deny {
			ids = append(ids, string(r.ID))
		}
	}
	if len(ids) == 0 {
		return ""
	}
	return "the policy denies " + strings.Join(ids, ", ") + ", whose findings depend on the order objects arrive in: a working setup applied in another order can be refused; set them to warn or audit, as config/webhook/overlays/enforce/policy.yaml does (ta-guard rules lists why each depends on it)"
}

// Excluded reports whether objects in the namespace are left unchecked.
func (p *Policy) Excluded(namespace string) bool {
	return p != nil && namespace != "" && p.ExcludeNamespaces[namespace]
}

// Apply sets each finding's action, and drops those the policy turns off,
// those in excluded namespaces and those the object's skip annotation names.
func (p *Policy) Apply(obj *model.Meta, fs []rules.Finding) []rules.Finding {
	if len(fs) == 0 {
		return fs
	}
	if p.Excluded(obj.Ref.Namespace) {
		return nil
	}
	skip := Skips(obj.Annotations)
	out := make([]rules.Finding, 0, len(fs))
	for _, f := range fs {
		if skip["*"] || skip[string(f.Rule)] {
			continue
		}
		f.Action = p.ActionFor(f.Rule)
		if f.Action == rules.Off {
			continue
		}
		// A deny needs something lost now, or a TA that refuses to start:
		// a finding that is only a risk, or that repeats what another
		// object's findings say, is at most a warning, whatever the policy
		// says.
		if (f.AtRisk || rules.Repeats(f.Rule)) && f.Action == rules.Deny {
			f.Action = rules.Warn
		}
		out = append(out, f)
	}
	return out
}

// Skips parses the skip annotation: "TA101,TA106", "TA101 TA106" or "*".
func Skips(annotations map[string]string) map[string]bool {
	v, ok := annotations[SkipAnnotation]
	if !ok {
		return nil
	}
	out := map[string]bool{}
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == ';' }) {
		out[strings.ToUpper(strings.TrimSpace(f))] = true
	}
	return out
}

// MaxFileBytes bounds a policy file: the catalog's every rule with a
// paragraph of comment each is a few KiB, and a ConfigMap holds 1 MiB.
const MaxFileBytes = 1 << 20

// ReadFile reads a policy file within MaxFileBytes; a named pipe nobody
// writes to, or /dev/zero, is an error naming it rather than a hang.
func ReadFile(path string) ([]byte, error) {
	return input.ReadFile(path, MaxFileBytes, "a policy file may hold")
}

// LoadFile reads a policy file; errors name the file and line.
func LoadFile(path string) (*Policy, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	p, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s:%w", path, err)
	}
	return p, nil
}

// lineError is an error at a line of the policy file ("12: ...").
func lineError(n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("%d: %s", n.Line, fmt.Sprintf(format, args...))
}

// ErrEmpty is a policy file with no document in it: empty, only comments, or
// null. A ConfigMap cut short or emptied by mistake looks like that, and
// reading it as the defaults would end enforcement in silence; the defaults
// are asked for explicitly, with {} or apiVersion and kind alone.
var ErrEmpty = errors.New("1: the policy file holds no policy (empty, only comments, or null); write {} for the defaults")

// Parse reads a policy document:
//
//	defaultAction: warn          # optional: deny, warn, audit or off
//	rules:                       # optional: per rule ID
//	  TA101: deny
//	  TA106: off
//	excludeNamespaces: [kube-system]
//
// Unknown fields, unknown rule IDs and unknown actions are errors that give
// the line, so a typo never silently weakens the policy.
func Parse(data []byte) (*Policy, error) {
	p := &Policy{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, ErrEmpty
		}
		return nil, yamlError(data, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, yamlError(data, err)
	case len(extra.Content) > 0 && !(extra.Content[0].Kind == yaml.ScalarNode && extra.Content[0].Tag == "!!null"):
		return nil, lineError(&extra, "a policy file holds one YAML document")
	}
	if len(doc.Content) == 0 {
		return nil, ErrEmpty
	}
	root := doc.Content[0]
	if isNull(root) {
		return nil, ErrEmpty
	}
	if root.Kind != yaml.MappingNode {
		return nil, lineError(root, "a policy is a mapping with defaultAction, rules and excludeNamespaces")
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if seen[k.Value] {
			return nil, lineError(k, "%s is given twice", k.Value)
		}
		seen[k.Value] = true
		switch k.Value {
		case "apiVersion":
			if v.Value != "ta-guard.io/v1alpha1" {
				return nil, lineError(v, "apiVersion %q: want ta-guard.io/v1alpha1", v.Value)
			}
		case "kind":
			if v.Value != "Policy" {
				return nil, lineError(v, "kind %q: want Policy", v.Value)
			}
		case "defaultAction":
			a, err := scalarAction(v)
			if err != nil {
				return nil, err
			}
			p.DefaultAction = a
		case "rules":
			if err := p.parseRules(v); err != nil {
				return nil, err
			}
		case "excludeNamespaces":
			if isNull(v) {
				continue
			}
			if v.Kind != yaml.SequenceNode {
				return nil, lineError(v, "excludeNamespaces is a list of namespace names")
			}
			p.ExcludeNamespaces = map[string]bool{}
			for _, n := range v.Content {
				if n.Kind != yaml.ScalarNode || n.Value == "" {
					return nil, lineError(n, "excludeNamespaces: each entry is a namespace name")
				}
				p.ExcludeNamespaces[n.Value] = true
			}
		default:
			return nil, lineError(k, "unknown field %q (known: defaultAction, rules, excludeNamespaces)", k.Value)
		}
	}
	return p, nil
}

// yamlError renders a YAML error as "N: problem", N being the 1-based line
// of the file that go-yaml's LoadError marks. A structure left open is
// noticed at the end of the stream, past the final newline: that is the
// file's last line. Its reader (bad UTF-8, a control character) marks only
// an offset in the input, which is counted into a line here.
func yamlError(data []byte, err error) error {
	var le *yaml.LoadError
	if !errors.As(err, &le) {
		return fmt.Errorf("1: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	line := le.Mark.Line
	if line == 0 {
		line = lineOfOffset(data, le.Mark.Index)
	}
	return fmt.Errorf("%d: %s", max(1, min(line, lastLine(data))), le.Message)
}

// lineOfOffset is the 1-based line of the byte at off: newlines before it
// are counted in the input's encoding (UTF-8, or UTF-16 with its byte
// order mark, which go-yaml also reads).
func lineOfOffset(data []byte, off int) int {
	off = max(0, min(off, len(data)))
	var lf [2]byte
	switch {
	case bytes.HasPrefix(data, []byte{0xff, 0xfe}):
		lf = [2]byte{'\n', 0}
	case bytes.HasPrefix(data, []byte{0xfe, 0xff}):
		lf = [2]byte{0, '\n'}
	default:
		return 1 + bytes.Count(data[:off], []byte("\n"))
	}
	n := 1
	for i := 2; i+1 < off; i += 2 {
		if data[i] == lf[0] && data[i+1] == lf[1] {
			n++
		}
	}
	return n
}

// lastLine is the number of the file's last line (1 for an empty file).
func lastLine(data []byte) int {
	n := bytes.Count(data, []byte("\n"))
	if len(data) == 0 || data[len(data)-1] != '\n' {
		n++
	}
	return n
}

func isNull(v *yaml.Node) bool { return v.Kind == yaml.ScalarNode && v.Tag == "!!null" }

func (p *Policy) parseRules(v *yaml.Node) error {
	if isNull(v) {
		return nil // every entry commented out
	}
	if v.Kind != yaml.MappingNode {
		return lineError(v, "rules maps rule IDs to actions, e.g. TA101: deny")
	}
	p.Rules = map[rules.ID]rules.Action{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		id := rules.ID(strings.ToUpper(k.Value))
		if _, ok := rules.Lookup(id); !ok {
			return lineError(k, "unknown rule %q (known: %s)", k.Value, knownIDs())
		}
		if _, dup := p.Rules[id]; dup {
			return lineError(k, "rule %s is given twice", id)
		}
		a, err := scalarAction(val)
		if err != nil {
			return err
		}
		p.Rules[id] = a
	}
	return nil
}

func scalarAction(n *yaml.Node) (rules.Action, error) {
	if n.Kind != yaml.ScalarNode {
		return "", lineError(n, "an action is one of deny, warn, audit, off")
	}
	a, err := rules.ParseAction(n.Value)
	if err != nil {
		return "", lineError(n, "%v", err)
	}
	return a, nil
}

func knownIDs() string {
	var ids []string
	for _, r := range rules.All() {
		ids = append(ids, string(r.ID))
	}
	sort.Strings(ids)
	return strings.Join(ids, ", ")
}
