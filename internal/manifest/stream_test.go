package manifest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// placed lists each doc's position, the line it starts on and its kind:
// the line is what a person opens the file at.
func placed(docs []Doc) []string {
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = fmt.Sprintf("%s (line %d) %s", d.Where(), d.Line, d.GVK.Kind)
	}
	return out
}

func jsonService(name string) string {
	return `{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "` + name + `"}}` + "\n"
}

func TestReadStreams(t *testing.T) {
	prettyJSON := "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"ConfigMap\",\n  \"metadata\": {\"name\": \"p\"}\n}\n"
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{
			// kubectl applies this; ta-guard refused it as "not valid JSON".
			name: "JSON documents separated by ---",
			in:   jsonService("a") + "---\n" + jsonService("b") + "--- # third\n" + jsonService("c"),
			want: []string{"f, document 1 (line 1) Service", "f, document 2 (line 3) Service", "f, document 3 (line 5) Service"},
		},
		{
			name: "indented JSON documents after a leading separator",
			in:   "---\n" + prettyJSON + "---\n" + prettyJSON,
			want: []string{"f, document 1 (line 2) ConfigMap", "f, document 2 (line 8) ConfigMap"},
		},
		{
			name: "JSON and YAML mixed",
			in: svcA + "---\n" + jsonService("j") + "---\n" +
				// YAML that starts like JSON: a flow mapping.
				"{apiVersion: v1, kind: ConfigMap, metadata: {name: flow}}\n---\n" +
				`{"apiVersion": "v1", "kind": "List", "items": [` + strings.TrimSpace(jsonService("in-list")) + "]}\n",
			want: []string{
				"f, document 1 (line 1) Service",
				"f, document 2 (line 11) Service",
				"f, document 3 (line 13) ConfigMap",
				"f, document 4, item 1 (line 15) Service",
			},
		},
		{
			// Each value is a document, so the ones after move on.
			name: "JSON values back to back, then YAML",
			in:   jsonService("a") + "\n" + jsonService("b") + "---\n" + svcA,
			want: []string{"f, document 1 (line 1) Service", "f, document 2 (line 3) Service", "f, document 3 (line 5) Service"},
		},
		{
			name: "JSON followed by a comment",
			in:   jsonService("a") + "# generated\n---\n" + svcA,
			want: []string{"f, document 1 (line 1) Service", "f, document 2 (line 4) Service"},
		},
		{
			name: "a document that is only a comment is skipped",
			in:   svcA + "---\n# nothing here yet\n#   nor here\n---\n" + jsonService("b"),
			want: []string{"f, document 1 (line 1) Service", "f, document 3 (line 14) Service"},
		},
		{
			name: "only comments",
			in:   "# a file kept for later\n",
			want: []string{},
		},
		{
			name: "empty input",
			in:   "",
			want: []string{},
		},
		{
			name: "CRLF line endings",
			in:   strings.ReplaceAll("# header\r\n---\r\n"+svcA+"--- # next\r\n"+jsonService("b"), "\n", "\r\n"),
			want: []string{"f, document 2 (line 3) Service", "f, document 3 (line 13) Service"},
		},
		{
			// One line longer than any buffer the reader starts with.
			name: "a long line",
			in:   `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"k": "` + strings.Repeat("x", 200_000) + `"}}` + "\n---\n" + svcA,
			want: []string{"f, document 1 (line 1) ConfigMap", "f, document 2 (line 3) Service"},
		},
		{
			// "---" inside a block scalar is indented: it is text, not a
			// separator.
			name: "separator-like text in a block scalar",
			in:   "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  notes: |\n    ---\n    not a separator\n---\n" + svcA,
			want: []string{"f, document 1 (line 1) ConfigMap", "f, document 2 (line 9) Service"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := Read("f", strings.NewReader(tt.in), "default")
			require.NoError(t, err)
			assert.Equal(t, tt.want, placed(docs))
		})
	}
}

func TestReadErrorPositions(t *testing.T) {
	// Two documents, then the one with the problem.
	twoYAML := svcA + "---\n" + strings.Replace(svcA, "name: a", "name: b", 1) + "---\n" // document 3 starts on line 21
	twoJSON := jsonService("a") + "---\n" + jsonService("b") + "---\n"                   // document 3 starts on line 5
	tests := []struct {
		name string
		in   string
		// want[0] starts the error; the rest are in it.
		want []string
	}{
		{
			name: "document 3 has no kind",
			in:   twoYAML + "apiVersion: v1\nmetadata: {name: c}\n",
			want: []string{"f.yaml, document 3 (line 21): ", "missing apiVersion or kind"},
		},
		{
			// The parser's line is counted from the file's start, not the
			// document's.
			name: "document 3 is not valid YAML",
			in:   twoYAML + "apiVersion: v1\nkind: Service\nmetadata:\n  name: c\n   bad: indent\n",
			want: []string{"f.yaml, document 3 (line 21): ", "not valid YAML", "line 25: "},
		},
		{
			name: "document 3 is not valid JSON",
			in:   twoJSON + "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Service\"\n  \"metadata\": {}\n}\n",
			want: []string{"f.yaml, document 3 (line 5): ", "not valid JSON", "line 8: "},
		},
		{
			name: "value 3 of a JSON run is cut short",
			in:   jsonService("a") + jsonService("b") + `{"apiVersion": "v1", "kind": "Service",` + "\n",
			want: []string{"f.yaml, document 3 (line 3): ", "not valid JSON", "line 3: "},
		},
		{
			name: "document 3 is a string",
			in:   twoYAML + "just words\n",
			want: []string{"f.yaml, document 3 (line 21): ", "must be an object", `not the string "just words"`},
		},
		{
			name: "document 3 is a number",
			in:   twoJSON + "42\n",
			want: []string{"f.yaml, document 3 (line 5): ", "must be an object", "not a number"},
		},
		{
			name: "a YAML list at the top",
			in:   "# c\n---\n- apiVersion: v1\n  kind: Service\n",
			want: []string{"f.yaml, document 2 (line 3): ", "must be an object", "not a list"},
		},
		{
			name: "a JSON array at the top",
			in:   `[` + strings.TrimSpace(jsonService("a")) + "]\n",
			want: []string{"f.yaml, document 1 (line 1): ", "must be an object", "not a list"},
		},
		{
			name: "a list item that is not an object",
			in:   twoYAML + "apiVersion: v1\nkind: List\nitems:\n  - x\n",
			want: []string{"f.yaml, document 3 (line 21), item 1: ", "list item must be an object", `not the string "x"`},
		},
		{
			// kubectl refuses it too; it opens document 3.
			name: "content after the separator",
			in:   svcA + "---\n" + svcA + "--- apiVersion: v1\nkind: Service\n",
			want: []string{"f.yaml, document 3 (line 20): ", "not valid YAML", "separator"},
		},
		{
			// The YAML converter would keep the first and lose the second.
			name: "two documents with no separator between them",
			in:   twoYAML + "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n...\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\n",
			want: []string{"f.yaml, document 3 (line 21): ", "more than one document"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { requireReadError(t, "f.yaml", tt.in, tt.want) })
	}
}

// Files keep their own numbering, and an error names the file it is in,
// however many came before.
func TestLoadErrorNamesFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "a.json")
	bad := filepath.Join(dir, "b.yaml")
	require.NoError(t, os.WriteFile(good, []byte(jsonService("a")+"---\n"+jsonService("b")), 0o600))
	require.NoError(t, os.WriteFile(bad, []byte(svcA+"---\n"+jsonService("c")+"---\nkind: Service\n"), 0o600))

	docs, err := Load([]string{good}, Options{})
	require.NoError(t, err)
	assert.Equal(t, []string{good + ", document 1 (line 1) Service", good + ", document 2 (line 3) Service"}, placed(docs))

	_, err = Load([]string{dir}, Options{})
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), bad+", document 3 (line 13): "), "got %q", err)

	docs, err = Load([]string{"-"}, Options{Stdin: strings.NewReader(jsonService("a") + "---\n" + svcA)})
	require.NoError(t, err)
	assert.Equal(t, []string{"-, document 1 (line 1) Service", "-, document 2 (line 3) Service"}, placed(docs))
}

// requireReadError reads in as file and wants an error that starts with
// want[0] (the position) and contains the rest.
func requireReadError(t *testing.T, file, in string, want []string) {
	t.Helper()
	docs, err := Read(file, strings.NewReader(in), "default")
	require.Error(t, err)
	assert.Nil(t, docs)
	assert.True(t, strings.HasPrefix(err.Error(), want[0]), "error %q should start with %q", err, want[0])
	for _, w := range want[1:] {
		assert.Contains(t, err.Error(), w)
	}
}

// TestReadInParallelKeepsInputOrder: documents are decoded on every core,
// yet the objects come back in input order with their numbers, and of
// several bad documents the first one is reported, whatever finished first.
func TestReadInParallelKeepsInputOrder(t *testing.T) {
	var in strings.Builder
	var want []string
	line := 1
	for i := range 300 {
		if i == 100 {
			// Three JSON values in one document take three numbers.
			in.WriteString("---\n" + jsonService("j1") + jsonService("j2") + jsonService("j3"))
			for k := range 3 {
				want = append(want, fmt.Sprintf("f, document %d (line %d) Service", len(want)+1, line+1+k))
			}
			line += 4
			continue
		}
		fmt.Fprintf(&in, "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: s%d\n", i)
		want = append(want, fmt.Sprintf("f, document %d (line %d) Service", len(want)+1, line+1))
		line += 5
	}
	docs, err := Read("f", strings.NewReader(in.String()), "default")
	require.NoError(t, err)
	assert.Equal(t, want, placed(docs))

	bad := strings.Replace(in.String(), "name: s250\n", "name: [s250\n", 1)
	bad = strings.Replace(bad, "name: s200\n", "name: s200\n  labels: 5\n", 1)
	_, err = Read("f", strings.NewReader(bad), "default")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "f, document 203 (line ")
	assert.Contains(t, err.Error(), "metadata.labels")
}
