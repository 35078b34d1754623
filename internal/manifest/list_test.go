package manifest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const svcItem = `- apiVersion: v1
  kind: Service
  metadata:
    name: %s
  spec:
    ports:
    - name: http
      port: 80
`

func listOf(names ...string) string {
	var b strings.Builder
	for _, n := range names {
		b.WriteString(strings.ReplaceAll(svcItem, "%s", n))
	}
	return b.String()
}

// TestListCutReadsAsTheWholeDocument holds the cut of a List to what the
// document read whole means: where the cut is taken it must give the same
// objects, warnings and errors; where a cut would be wrong it must not be
// taken.
func TestListCutReadsAsTheWholeDocument(t *testing.T) {
	head := "apiVersion: v1\nkind: List\n"
	for _, tc := range []struct {
		name string
		in   string
		cut  bool
	}{
		{"entries at column 0", head + "items:\n" + listOf("a", "b", "c"), true},
		{"entries indented", head + "items:\n" + indent(listOf("a", "b"), "  "), true},
		{"comments and blank lines between entries", head + "items: # all of them\n" + listOf("a") + "\n# b next\n   # indented comment\n" + listOf("b"), true},
		{"keys after the items", "items:\n" + listOf("a", "b") + "apiVersion: v1\nkind: List\nmetadata: {resourceVersion: \"1\"}\n", true},
		{"kubectl get -o yaml: items first, block scalars, status", "apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata:\n" +
			"    annotations:\n      kubectl.kubernetes.io/last-applied-configuration: |\n        {\"apiVersion\":\"v1\",\n        - \"kind\":\"Service\"}\n" +
			"    name: a\n    namespace: team\n  spec:\n    ports:\n    - name: http\n      port: 80\n  status:\n    loadBalancer: {}\n" +
			listOf("b") + "kind: List\nmetadata:\n  resourceVersion: \"\"\n", true},
		{"a typed list kind", "apiVersion: v1\nkind: ServiceList\nitems:\n" + listOf("a"), true},
		{"an entry opened by a lone dash", head + "items:\n-\n  apiVersion: v1\n  kind: Service\n  metadata: {name: a}\n", true},
		{"Windows line ends", strings.ReplaceAll(head+"items:\n"+listOf("a", "b"), "\n", "\r\n"), true},
		{"an item of an unknown field", head + "items:\n" + listOf("a") + "  spce: {}\n", true},
		{"an item with no name", head + "items:\n" + listOf("a") + "- apiVersion: v1\n  kind: Service\n  metadata: {}\n", true},
		{"an item that is no object", head + "items:\n" + listOf("a") + "- just a string\n", true},
		{"a deeper item error", head + "items:\n" + listOf("a") + "- apiVersion: v1\n  kind: Service\n  metadata: {name: b}\n  spec: {ports: 80}\n", true},

		{"a comment before the first entry", head + "items:\n# the Services\n\n" + listOf("a"), true},
		{"a stray byte in a comment before the first entry: read whole", head + "items:\n#\xc2\n" + listOf("a"), false},
		{"a stray byte in the key's comment: read whole", head + "items: #\xc2\n" + listOf("a"), false},
		{"regular expressions and wildcards are no aliases", head + "items:\n- apiVersion: v1\n  kind: Service\n  metadata:\n    name: a\n    annotations: {re: '.*', host: \"*.example.com\", glob: a*b}\n", true},
		{"an alias inside one item: read whole, where the converter weighs aliasing over the whole List", head + "items:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: a, labels: &l {app: a}, annotations: *l}\n", false},
		{"an alias to an earlier item's anchor", head + "items:\n- &svc\n  apiVersion: v1\n  kind: Service\n  metadata: {name: a}\n- *svc\n", false},
		{"a quoted string holding an entry-like line", head + "items:\n- apiVersion: v1\n  kind: Service\n  metadata:\n    name: a\n    annotations:\n      note: \"one\n- two\"\n", false},
		{"a quoted string across the items key", "apiVersion: v1\nkind: List\nmetadata:\n  annotations:\n    note: \"x\nitems:\n- y\"\nitems: []\n", false},
		{"two items keys", head + "items:\n" + listOf("a") + "items:\n" + listOf("b"), false},
		{"a later empty items key, which wins", head + "items:\n" + listOf("a") + "items: []\n", false},
		{"an earlier items key, which loses", head + "items: []\nitems:\n" + listOf("a"), true},
		{"not a List", "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nitems:\n- x\n", false},
		{"flow items", head + "items: [{apiVersion: v1, kind: Service, metadata: {name: a}}]\n", false},
		{"items with no entries", head + "items:\n", false},
		{"a tab before an entry", head + "items:\n\t- apiVersion: v1\n", false},
		{"a document end marker", head + "items:\n" + listOf("a") + "...\n", false},
		{"no space before the comment: a scalar, not a key", head + "items:#x\n" + listOf("a"), false},
		{"items a mapping", head + "items:\n  a: b\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seg := segment{pos: Doc{Source: "l.yaml", Index: 1, Line: 1}, text: []byte(tc.in)}
			fast, cut, fastErr := decodeList(seg, "team")
			assert.Equal(t, tc.cut, cut, "cut")
			if !cut {
				return
			}
			whole, wholeErr := unit{seg: seg}.decodeWhole("team")
			if wholeErr != nil {
				require.Error(t, fastErr)
				assert.Equal(t, wholeErr.Error(), fastErr.Error())
				return
			}
			require.NoError(t, fastErr)
			assert.Equal(t, whole, fast)
			assert.NotEmpty(t, fast)
		})
	}
}

func indent(s, by string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = by + l
		}
	}
	return strings.Join(lines, "")
}

// FuzzListCut: for any document, a cut List reads exactly as the document
// read whole.
func FuzzListCut(f *testing.F) {
	f.Add([]byte("apiVersion: v1\nkind: List\nitems:\n" + listOf("a", "b")))
	f.Add([]byte("apiVersion: v1\nkind: List\nitems:\n- &a {apiVersion: v1, kind: Service, metadata: {name: a}}\n- *a\n"))
	f.Add([]byte("kind: List\nitems:\n- \"x\n- y\"\n"))
	f.Add([]byte("kind: List\nitems: # c\n# d\n- {apiVersion: v1, kind: Pod, metadata: {name: a}}\nitems: []\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		seg := segment{pos: Doc{Source: "-", Index: 1, Line: 1}, text: data}
		fast, cut, fastErr := decodeList(seg, "team")
		if !cut {
			return
		}
		whole, wholeErr := unit{seg: seg}.decodeWhole("team")
		if (wholeErr == nil) != (fastErr == nil) {
			t.Fatalf("whole: %v; cut: %v", wholeErr, fastErr)
		}
		if wholeErr != nil {
			if wholeErr.Error() != fastErr.Error() {
				t.Fatalf("whole: %v; cut: %v", wholeErr, fastErr)
			}
			return
		}
		assert.Equal(t, whole, fast)
	})
}
