package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

func TestParseValid(t *testing.T) {
	tests := []struct {
		name        string
		in          string
		wantDefault rules.Action
		wantRules   map[rules.ID]rules.Action
		wantExclude map[string]bool
	}{
		// The defaults are asked for with a document that says so; an
		// empty file is an error (TestParseEmptyIsAnError).
		{name: "explicit empty mapping", in: "{}\n"},
		{name: "apiVersion and kind alone", in: "apiVersion: ta-guard.io/v1alpha1\nkind: Policy\n"},
		{
			name: "full policy with apiVersion and kind",
			in: `apiVersion: ta-guard.io/v1alpha1
kind: Policy
defaultAction: audit
rules:
  TA101: deny
  TA106: off
excludeNamespaces: [kube-system, monitoring]
`,
			wantDefault: rules.Audit,
			wantRules:   map[rules.ID]rules.Action{rules.TA101: rules.Deny, rules.TA106: rules.Off},
			wantExclude: map[string]bool{"kube-system": true, "monitoring": true},
		},
		{
			// apiVersion and kind are optional: a bare policy is the common case.
			name:        "without apiVersion and kind",
			in:          "defaultAction: warn\n",
			wantDefault: rules.Warn,
		},
		{
			// Rule IDs and actions are normalized, so "ta103: Deny" is TA103 deny
			// and not a silently ignored entry.
			name:      "lowercase rule id and capitalized action",
			in:        "rules:\n  ta103: Deny\n",
			wantRules: map[rules.ID]rules.Action{rules.TA103: rules.Deny},
		},
		{
			// "off" is a YAML 1.1 boolean; it must still read as the action.
			name:        "off as default action",
			in:          "defaultAction: off\n",
			wantDefault: rules.Off,
		},
		{
			name:        "block-style exclude list",
			in:          "excludeNamespaces:\n  - kube-system\n",
			wantExclude: map[string]bool{"kube-system": true},
		},
		{name: "empty rules mapping", in: "rules: {}\n", wantRules: map[rules.ID]rules.Action{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.in))
			require.NoError(t, err)
			require.NotNil(t, p)
			assert.Equal(t, tt.wantDefault, p.DefaultAction)
			if tt.wantRules == nil {
				assert.Empty(t, p.Rules)
			} else {
				assert.Equal(t, tt.wantRules, p.Rules)
			}
			if tt.wantExclude == nil {
				assert.Empty(t, p.ExcludeNamespaces)
			} else {
				assert.Equal(t, tt.wantExclude, p.ExcludeNamespaces)
			}
		})
	}
}

// A ConfigMap emptied or cut short by mistake must not end enforcement in
// silence: no document is an error, whatever the whitespace and comments.
func TestParseEmptyIsAnError(t *testing.T) {
	for name, in := range map[string]string{
		"empty file":           "",
		"blank lines":          "\n\n  \n",
		"comments only":        "# nothing set yet\n",
		"document marker only": "---\n",
		"explicit null":        "~\n",
		"null word":            "null\n",
		"null after comments":  "# policy\n---\nnull\n",
	} {
		t.Run(name, func(t *testing.T) {
			p, err := Parse([]byte(in))
			require.ErrorIs(t, err, ErrEmpty)
			assert.Nil(t, p)
		})
	}
}

func TestParseErrorsNameTheLine(t *testing.T) {
	tests := []struct {
		name string
		in   string
		// wantLine is the 1-based line the error must start with ("3: ...").
		wantLine string
		// wantText are fragments the message must carry so the user knows
		// what to fix.
		wantText []string
	}{
		{
			name:     "unknown top-level field",
			in:       "defaultAction: warn\n\nexcludeNamespace: [a]\n",
			wantLine: "3",
			wantText: []string{`unknown field "excludeNamespace"`, "excludeNamespaces"},
		},
		{
			name:     "unknown rule id",
			in:       "rules:\n  TA101: deny\n  TA999: deny\n",
			wantLine: "3",
			wantText: []string{`unknown rule "TA999"`, "TA101"},
		},
		{
			name:     "unknown action on a rule",
			in:       "rules:\n  TA101: deny\n  TA102: block\n",
			wantLine: "3",
			wantText: []string{`unknown action "block"`, "deny, warn, audit or off"},
		},
		{
			name:     "unknown default action",
			in:       "# header\ndefaultAction: error\n",
			wantLine: "2",
			wantText: []string{`unknown action "error"`},
		},
		{
			// YAML 1.1 booleans other than off are not actions.
			name:     "boolean-looking action",
			in:       "rules:\n  TA101: no\n",
			wantLine: "2",
			wantText: []string{`unknown action "no"`},
		},
		{
			name:     "action that is not a scalar",
			in:       "defaultAction: [warn]\n",
			wantLine: "1",
			wantText: []string{"deny, warn, audit, off"},
		},
		{
			// The same rule in two spellings is still the same rule: the
			// second one would silently win otherwise.
			name:     "duplicate rule",
			in:       "rules:\n  TA101: deny\n  ta101: off\n",
			wantLine: "3",
			wantText: []string{"TA101 is given twice"},
		},
		{
			name:     "duplicate top-level field",
			in:       "defaultAction: warn\ndefaultAction: deny\n",
			wantLine: "2",
			wantText: []string{"defaultAction is given twice"},
		},
		{
			name:     "rules is a list",
			in:       "defaultAction: warn\nrules:\n  - TA101\n",
			wantLine: "3",
			wantText: []string{"rules maps rule IDs to actions"},
		},
		{
			name:     "excludeNamespaces is a string",
			in:       "excludeNamespaces: kube-system\n",
			wantLine: "1",
			wantText: []string{"excludeNamespaces is a list"},
		},
		{
			name:     "excludeNamespaces entry is not a name",
			in:       "excludeNamespaces:\n  - kube-system\n  - {name: x}\n",
			wantLine: "3",
			wantText: []string{"each entry is a namespace name"},
		},
		{
			// The line of the second document's "---" marker, where it starts.
			name:     "two documents",
			in:       "defaultAction: warn\n---\ndefaultAction: deny\n",
			wantLine: "2",
			wantText: []string{"one YAML document"},
		},
		{
			name:     "invalid YAML",
			in:       "defaultAction: warn\nrules:\n  TA101: deny\n  TA102 deny\n",
			wantLine: "4",
			wantText: []string{"could not find expected ':'"},
		},
		{
			name:     "policy is not a mapping",
			in:       "- TA101\n",
			wantLine: "1",
			wantText: []string{"a policy is a mapping"},
		},
		{
			name:     "wrong apiVersion",
			in:       "apiVersion: v1\n",
			wantLine: "1",
			wantText: []string{`apiVersion "v1"`, "ta-guard.io/v1alpha1"},
		},
		{
			name:     "wrong kind",
			in:       "apiVersion: ta-guard.io/v1alpha1\nkind: Config\n",
			wantLine: "2",
			wantText: []string{`kind "Config"`, "Policy"},
		},
		{
			// Lines count from the top of the file, not of the document; the
			// parser notices the open "[" at the end of the stream, past the
			// last line.
			name:     "invalid YAML in a second document",
			in:       "defaultAction: warn\n---\nrules: [\n",
			wantLine: "3",
			wantText: []string{"did not find expected node content"},
		},
		// Errors of go-yaml's parser (a structure left open or broken) and
		// of its scanner (a bad token) must each land on the line the user
		// has to look at.
		{
			// The line where the "{" was opened: the end of the stream, where
			// go-yaml notices, is past the file's last line.
			name:     "unclosed flow mapping",
			in:       "defaultAction: warn\nrules: {TA101: deny\n",
			wantLine: "2",
			wantText: []string{"did not find expected ',' or '}'"},
		},
		{
			name:     "unclosed flow sequence",
			in:       "defaultAction: warn\nexcludeNamespaces: [a, b\n",
			wantLine: "2",
			wantText: []string{"did not find expected ',' or ']'"},
		},
		{
			// The end of the stream, past the final newline, is still the
			// file's last line.
			name:     "unclosed flow mapping on the only line",
			in:       "rules: {TA101: deny\n",
			wantLine: "1",
			wantText: []string{"did not find expected ',' or '}'"},
		},
		{
			name:     "list item in the top-level mapping",
			in:       "defaultAction: warn\n- TA101\n",
			wantLine: "2",
			wantText: []string{"did not find expected key"},
		},
		{
			// The entry that breaks the list, not where the list starts.
			name:     "mapping entry among list items",
			in:       "excludeNamespaces:\n  - a\n  b: c\n",
			wantLine: "3",
			wantText: []string{"did not find expected '-' indicator"},
		},
		{
			name:     "undefined tag handle",
			in:       "defaultAction: warn\nrules: !foo!bar {}\n",
			wantLine: "2",
			wantText: []string{"found undefined tag handle"},
		},
		{
			name:     "directive inside a document",
			in:       "defaultAction: warn\n%YAML 1.1\n",
			wantLine: "2",
			wantText: []string{"did not find expected <document end> before directive"},
		},
		{
			name:     "incompatible YAML version",
			in:       "# policy\n%YAML 2.0\n---\ndefaultAction: warn\n",
			wantLine: "2",
			wantText: []string{"found incompatible YAML document"},
		},
		{
			// A scanner error on the first line.
			name:     "mapping value on the first line",
			in:       "defaultAction: warn: deny\n",
			wantLine: "1",
			wantText: []string{"mapping values are not allowed"},
		},
		{
			name:     "unterminated quoted action",
			in:       "defaultAction: warn\nrules:\n  TA101: 'deny\n",
			wantLine: "3",
			wantText: []string{"found unexpected end of stream"},
		},
		// go-yaml's reader marks only an offset.
		{
			name:     "invalid UTF-8",
			in:       "defaultAction: warn\nexcludeNamespaces: [\xff]\n",
			wantLine: "2",
			wantText: []string{"invalid leading UTF-8 octet"},
		},
		{
			// Offsets are counted in bytes, lines in characters.
			name:     "control character after multi-byte characters",
			in:       "# ééé\nrules:\n  TA101: de\x01ny\n",
			wantLine: "3",
			wantText: []string{"control characters are not allowed"},
		},
		{
			// UTF-16 with its byte order mark: "a: b\nc: \x01\n".
			name:     "control character in UTF-16",
			in:       "\xff\xfea\x00:\x00 \x00b\x00\n\x00c\x00:\x00 \x00\x01\x00\n\x00",
			wantLine: "2",
			wantText: []string{"control characters are not allowed"},
		},
		{
			name:     "control character",
			in:       "defaultAction: warn\nrules:\n  TA101: de\x01ny\n",
			wantLine: "3",
			wantText: []string{"control characters are not allowed"},
		},
		{
			// The comment's "*ns" is not the alias.
			name:     "unknown alias",
			in:       "# reuse *ns below\nx: &other [a]\nexcludeNamespaces: *ns\n",
			wantLine: "3",
			wantText: []string{"unknown anchor 'ns' referenced"},
		},
		// Parse's own errors point at the node.
		{
			name:     "rule action that is not a scalar",
			in:       "rules:\n  TA101: deny\n  TA102: [deny]\n",
			wantLine: "3",
			wantText: []string{"deny, warn, audit, off"},
		},
		{
			name:     "empty namespace name",
			in:       "excludeNamespaces:\n  - a\n  - ''\n",
			wantLine: "3",
			wantText: []string{"each entry is a namespace name"},
		},
		{
			name:     "unknown field of a flow-style policy",
			in:       "{defaultAction: warn,\n rule: {}}\n",
			wantLine: "2",
			wantText: []string{`unknown field "rule"`},
		},
		{
			name:     "tab on the first line",
			in:       "\tdefaultAction: warn\n",
			wantLine: "1",
			wantText: []string{"cannot start any token"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.in))
			require.Error(t, err)
			assert.Nil(t, p)
			assert.True(t, strings.HasPrefix(err.Error(), tt.wantLine+": "),
				"error %q should start with line %s", err, tt.wantLine)
			for _, w := range tt.wantText {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestActionForPrecedence(t *testing.T) {
	tests := []struct {
		name string
		pol  *Policy
		id   rules.ID
		want rules.Action
	}{
		// Without a policy the catalog decides; TA106 is the one rule whose
		// catalog default is audit, so it tells the catalog apart from a
		// blanket "warn".
		{name: "nil policy, warn rule", pol: nil, id: rules.TA101, want: rules.Warn},
		{name: "nil policy, TA106 is audit", pol: nil, id: rules.TA106, want: rules.Audit},
		{name: "empty policy keeps catalog", pol: &Policy{}, id: rules.TA106, want: rules.Audit},
		{
			name: "defaultAction beats catalog",
			pol:  &Policy{DefaultAction: rules.Deny},
			id:   rules.TA106, want: rules.Deny,
		},
		{
			name: "rule beats defaultAction",
			pol:  &Policy{DefaultAction: rules.Deny, Rules: map[rules.ID]rules.Action{rules.TA101: rules.Off}},
			id:   rules.TA101, want: rules.Off,
		},
		{
			name: "defaultAction applies to rules not named",
			pol:  &Policy{DefaultAction: rules.Deny, Rules: map[rules.ID]rules.Action{rules.TA101: rules.Off}},
			id:   rules.TA102, want: rules.Deny,
		},
		{
			name: "rule beats catalog without defaultAction",
			pol:  &Policy{Rules: map[rules.ID]rules.Action{rules.TA106: rules.Warn}},
			id:   rules.TA106, want: rules.Warn,
		},
		{
			name: "other rules keep catalog without defaultAction",
			pol:  &Policy{Rules: map[rules.ID]rules.Action{rules.TA101: rules.Deny}},
			id:   rules.TA106, want: rules.Audit,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.pol.ActionFor(tt.id))
		})
	}
}

func TestApply(t *testing.T) {
	// findings builds findings for the object with a placeholder action, so
	// that Apply must set every action itself.
	findings := func(ref model.Ref, ids ...rules.ID) []rules.Finding {
		var out []rules.Finding
		for _, id := range ids {
			f := rules.New(id, ref, "", "", "something is wrong", "")
			f.Action = "unset"
			out = append(out, f)
		}
		return out
	}
	type got struct {
		Rule   rules.ID
		Action rules.Action
	}
	tests := []struct {
		name        string
		pol         *Policy
		namespace   string
		annotations map[string]string
		in          []rules.ID
		want        []got
	}{
		{
			// Which action wins is ActionFor's (TestActionForPrecedence); here
			// both differ from the catalog, so Apply must have asked the policy.
			name: "policy actions are set",
			pol:  &Policy{DefaultAction: rules.Deny, Rules: map[rules.ID]rules.Action{rules.TA106: rules.Warn}}, namespace: "app",
			in:   []rules.ID{rules.TA101, rules.TA106},
			want: []got{{rules.TA101, rules.Deny}, {rules.TA106, rules.Warn}},
		},
		{
			name: "off drops the finding",
			pol:  &Policy{Rules: map[rules.ID]rules.Action{rules.TA101: rules.Off}}, namespace: "app",
			in:   []rules.ID{rules.TA101, rules.TA103},
			want: []got{{rules.TA103, rules.Warn}},
		},
		{
			name: "defaultAction off keeps only named rules",
			pol:  &Policy{DefaultAction: rules.Off, Rules: map[rules.ID]rules.Action{rules.TA103: rules.Deny}}, namespace: "app",
			in:   []rules.ID{rules.TA101, rules.TA103},
			want: []got{{rules.TA103, rules.Deny}},
		},
		{
			name: "excluded namespace drops everything",
			pol:  &Policy{ExcludeNamespaces: map[string]bool{"kube-system": true}}, namespace: "kube-system",
			in:   []rules.ID{rules.TA101, rules.TA103},
			want: nil,
		},
		{
			name: "other namespaces are not excluded",
			pol:  &Policy{ExcludeNamespaces: map[string]bool{"kube-system": true}}, namespace: "app",
			in:   []rules.ID{rules.TA101},
			want: []got{{rules.TA101, rules.Warn}},
		},
		{
			name: "skip with commas", namespace: "app",
			annotations: map[string]string{SkipAnnotation: "TA101,TA106"},
			in:          []rules.ID{rules.TA101, rules.TA103, rules.TA106},
			want:        []got{{rules.TA103, rules.Warn}},
		},
		{
			name: "skip with spaces", namespace: "app",
			annotations: map[string]string{SkipAnnotation: "TA101 TA106"},
			in:          []rules.ID{rules.TA101, rules.TA103, rules.TA106},
			want:        []got{{rules.TA103, rules.Warn}},
		},
		{
			name: "skip with comma and space", namespace: "app",
			annotations: map[string]string{SkipAnnotation: "TA101, TA106"},
			in:          []rules.ID{rules.TA101, rules.TA103, rules.TA106},
			want:        []got{{rules.TA103, rules.Warn}},
		},
		{
			name: "skip with semicolons", namespace: "app",
			annotations: map[string]string{SkipAnnotation: "TA101;TA106"},
			in:          []rules.ID{rules.TA101, rules.TA103, rules.TA106},
			want:        []got{{rules.TA103, rules.Warn}},
		},
		{
			name: "skip with lowercase ids", namespace: "app",
			annotations: map[string]string{SkipAnnotation: "ta101,ta106"},
			in:          []rules.ID{rules.TA101, rules.TA103, rules.TA106},
			want:        []got{{rules.TA103, rules.Warn}},
		},
		{
			name: "skip everything", namespace: "app",
			annotations: map[string]string{SkipAnnotation: "*"},
			in:          []rules.ID{rules.TA101, rules.TA103, rules.TA106},
			want:        nil,
		},
		{
			// Only the exact annotation key opts out.
			name: "other annotation keys do not skip", namespace: "app",
			annotations: map[string]string{"ta-guard.io/skip-rules": "TA101", "example.com/skip": "*"},
			in:          []rules.ID{rules.TA101},
			want:        []got{{rules.TA101, rules.Warn}},
		},
		{
			name: "empty skip value skips nothing", namespace: "app",
			annotations: map[string]string{SkipAnnotation: ""},
			in:          []rules.ID{rules.TA101},
			want:        []got{{rules.TA101, rules.Warn}},
		},
		{
			// The skip annotation is checked before the policy's action, so a
			// skipped rule stays dropped even when the policy would deny it.
			name: "skip beats a deny policy", namespace: "app",
			pol:         &Policy{DefaultAction: rules.Deny},
			annotations: map[string]string{SkipAnnotation: "TA101"},
			in:          []rules.ID{rules.TA101, rules.TA103},
			want:        []got{{rules.TA103, rules.Deny}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref := model.Ref{APIVersion: "monitoring.coreos.com/v1", Kind: "ServiceMonitor", Namespace: tt.namespace, Name: "sm"}
			obj := &model.Meta{Ref: ref, Annotations: tt.annotations}
			out := tt.pol.Apply(obj, findings(ref, tt.in...))
			var gotList []got
			for _, f := range out {
				gotList = append(gotList, got{f.Rule, f.Action})
			}
			assert.Equal(t, tt.want, gotList)
		})
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()

	good := filepath.Join(dir, "good.yaml")
	require.NoError(t, os.WriteFile(good, []byte("rules:\n  TA103: deny\n"), 0o600))
	p, err := LoadFile(good)
	require.NoError(t, err)
	assert.Equal(t, rules.Deny, p.ActionFor(rules.TA103))

	// A CI log shows only the message: it must say which file and which line.
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("defaultAction: warn\nrules:\n  TA103: denied\n"), 0o600))
	_, err = LoadFile(bad)
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), bad+":3: "), "error %q should start with %s:3: ", err, bad)
	assert.Contains(t, err.Error(), `unknown action "denied"`)

	missing := filepath.Join(dir, "missing.yaml")
	_, err = LoadFile(missing)
	require.Error(t, err)
	assert.Contains(t, err.Error(), missing)
}

// A policy that denies rules whose findings depend on arrival order is
// loaded with a caution naming them; the enforce policies the project
// ships deny none of them.
func TestCautionOnOrderDependentDenials(t *testing.T) {
	for _, tt := range []struct {
		name, policy string
		names        []string // rule IDs the caution names; nil: no caution
	}{
		{name: "deny everything", policy: "defaultAction: deny\n", names: []string{"TA002", "TA102", "TA202"}},
		{name: "one rule", policy: "rules:\n  TA103: deny\n", names: []string{"TA103"}},
		{name: "TA018 never denies", policy: "rules:\n  TA018: deny\n"},
		{name: "not order-dependent", policy: "rules:\n  TA001: deny\n  TA004: deny\n"},
		{name: "warn", policy: "defaultAction: warn\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.policy))
			require.NoError(t, err)
			c := p.Caution()
			if tt.names == nil {
				assert.Empty(t, c)
				return
			}
			for _, id := range tt.names {
				assert.Contains(t, c, id)
			}
			assert.NotContains(t, c, "TA001", "TA001 does not depend on the order")
			assert.NotContains(t, c, "TA018")
		})
	}
	for _, shipped := range []string{"../../config/webhook/overlays/enforce/policy.yaml", "../../charts/ta-guard/files/policy-enforce.yaml"} {
		p, err := LoadFile(shipped)
		require.NoError(t, err, shipped)
		assert.Empty(t, p.Caution(), shipped)
		assert.True(t, p.Enforcing(), shipped)
	}
}
