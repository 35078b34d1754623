// Package policy decides what happens to a finding: the action per rule, the
// namespaces left out, and the per-object skip annotation.
package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/ta-guard/ta-guard/pkg/model"
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

// LoadFile reads a policy file; errors name the file and line.
func LoadFile(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
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
			return p, nil // an empty file is the default policy
		}
		return nil, yamlError(err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, yamlError(err)
	case len(extra.Content) > 0 && !(extra.Content[0].Kind == yaml.ScalarNode && extra.Content[0].Tag == "!!null"):
		return nil, lineError(&extra, "a policy file holds one YAML document")
	}
	if len(doc.Content) == 0 {
		return p, nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return p, nil
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

// yamlError renders a YAML syntax error as "N: problem", or "1: problem"
// when the parser names no line (it then failed at the start).
func yamlError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if strings.HasPrefix(msg, "line ") {
		return errors.New(strings.TrimPrefix(msg, "line "))
	}
	return fmt.Errorf("1: %s", msg)
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
