package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ta-guard/ta-guard/internal/model"
)

const svcA = `apiVersion: v1
kind: Service
metadata:
  name: a
  namespace: app
spec:
  ports:
    - name: prom
      port: 8080
`

// where lists each doc's position and kind, the part of a Doc that messages
// and duplicate detection rely on.
func where(docs []Doc) []string {
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d.Where() + " " + d.GVK.Kind
	}
	return out
}

func TestReadDocumentIndexes(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{
			// A leading "---" opens the first document; it is not a document
			// of its own.
			name: "leading separator",
			in:   "---\n" + svcA,
			want: []string{"f.yaml, document 1 Service"},
		},
		{
			// Comment-only and blank documents yield nothing but still count,
			// so "document N" is what a reader counting separators finds.
			name: "comment-only and blank documents count",
			in: "# header comment\n---\n" + svcA +
				"---\n\n---\n# only a comment\n---\n" +
				"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
			want: []string{"f.yaml, document 2 Service", "f.yaml, document 5 ConfigMap"},
		},
		{
			name: "separator with a trailing comment",
			in:   svcA + "--- # second\n" + strings.Replace(svcA, "name: a", "name: b", 1),
			want: []string{"f.yaml, document 1 Service", "f.yaml, document 2 Service"},
		},
		{
			name: "trailing separator",
			in:   svcA + "---\n",
			want: []string{"f.yaml, document 1 Service"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := Read("f.yaml", strings.NewReader(tt.in), "default")
			require.NoError(t, err)
			assert.Equal(t, tt.want, where(docs))
		})
	}
}

func TestReadList(t *testing.T) {
	in := svcA + `---
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Service
    metadata:
      name: b
  - apiVersion: v1
    kind: ConfigMap
    metadata:
      name: c
      namespace: other
`
	docs, err := Read("list.yaml", strings.NewReader(in), "fallback")
	require.NoError(t, err)
	assert.Equal(t, []string{
		"list.yaml, document 1 Service",
		"list.yaml, document 2, item 1 Service",
		"list.yaml, document 2, item 2 ConfigMap",
	}, where(docs))
	// Items are objects like any other: the default namespace applies.
	require.NotNil(t, docs[1].Object)
	assert.Equal(t, model.Ref{APIVersion: "v1", Kind: "Service", Namespace: "fallback", Name: "b"}, docs[1].Object.GetMeta().Ref)
	assert.Nil(t, docs[2].Object, "ConfigMap is not read")
}

func TestLoadJSONFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "svc.json")
	require.NoError(t, os.WriteFile(path, []byte(`{
  "apiVersion": "v1",
  "kind": "List",
  "items": [
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "j", "namespace": "app", "labels": {"app": "x"}},
     "spec": {"ports": [{"name": "prom", "port": 9090}]}}
  ]
}`), 0o600))
	docs, err := Load([]string{path}, Options{})
	require.NoError(t, err)
	require.Len(t, docs, 1)
	assert.Equal(t, path+", document 1, item 1", docs[0].Where())
	svc, ok := docs[0].Object.(*model.Service)
	require.True(t, ok, "got %T", docs[0].Object)
	assert.Equal(t, map[string]string{"app": "x"}, svc.Labels)
	assert.Equal(t, []model.ServicePort{{Name: "prom", Port: 9090}}, svc.Ports)
}

func TestLoadJSONStream(t *testing.T) {
	// Two JSON objects back to back (what `jq -c` writes) are two objects;
	// dropping the second would hide it from every rule.

	in := `{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "j"}}
{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "k"}}
`
	docs, err := Read("s.json", strings.NewReader(in), "default")
	require.NoError(t, err)
	assert.Len(t, docs, 2)
}

func TestReadEmptyDocumentBetweenSeparators(t *testing.T) {
	// "---\n---" holds an empty document just like "---\n\n---" does; both
	// must give the same numbering.

	_, err := Read("f.yaml", strings.NewReader(svcA+"---\n---\nkind: Service\n"), "default")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "f.yaml, document 3 (line 12):")
}

func TestLoadDirectory(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(dir, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	}
	svc := func(name string) string { return strings.Replace(svcA, "name: a", "name: "+name, 1) }
	// Written out of order so that only sorting gives the expected order.
	write("b.yaml", svc("b"))
	write("sub/deeper/d.json", `{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "d"}}`)
	write("a.yml", svc("a"))
	write("sub/c.yaml", svc("c"))
	// Not manifests: must be ignored, even if they would not parse.
	write("README.md", "# not: [yaml")
	write("notes.txt", "{{{")
	write("sub/kustomization.yaml.bak", "{{{")

	docs, err := Load([]string{dir}, Options{})
	require.NoError(t, err)
	var got []string
	for _, d := range docs {
		rel, err := filepath.Rel(dir, d.Source)
		require.NoError(t, err)
		got = append(got, filepath.ToSlash(rel)+" "+d.Object.GetMeta().Ref.Name)
	}
	assert.Equal(t, []string{"a.yml a", "b.yaml b", "sub/c.yaml c", "sub/deeper/d.json d"}, got)

	empty := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(empty, "x.txt"), nil, 0o600))
	_, err = Load([]string{empty}, Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), empty)
}

func TestLoadStdin(t *testing.T) {
	docs, err := Load([]string{"-"}, Options{Stdin: strings.NewReader("---\n" + svcA)})
	require.NoError(t, err)
	require.Len(t, docs, 1)
	assert.Equal(t, "-, document 1", docs[0].Where())
	assert.Equal(t, "a", docs[0].Object.GetMeta().Ref.Name)

	_, err = Load([]string{"-"}, Options{})
	require.Error(t, err, "no stdin given must be an error, not an empty input")
}

func TestLoadMissingFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := Load([]string{missing}, Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), missing)
}

func TestDefaultNamespace(t *testing.T) {
	in := `apiVersion: v1
kind: Service
metadata: {name: no-ns}
---
apiVersion: v1
kind: Service
metadata: {name: with-ns, namespace: explicit}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: sm}
spec:
  selector: {}
---
apiVersion: v1
kind: Namespace
metadata: {name: explicit}
`
	tests := []struct {
		name      string
		namespace string
		want      []string
	}{
		// Namespace is cluster-scoped: it must never get a namespace.
		{name: "given namespace", namespace: "team", want: []string{"team/no-ns", "explicit/with-ns", "team/sm", "explicit"}},
		// Like kubectl without a context namespace.
		{name: "empty means default", namespace: "", want: []string{"default/no-ns", "explicit/with-ns", "default/sm", "explicit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := Load([]string{"-"}, Options{Namespace: tt.namespace, Stdin: strings.NewReader(in)})
			require.NoError(t, err)
			var got []string
			for _, d := range docs {
				require.NotNil(t, d.Object)
				got = append(got, d.Object.GetMeta().Ref.NamespacedName())
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestUnsupportedKindIsKept(t *testing.T) {
	// A ConfigMap is not read, but it is not an error either: real manifest
	// directories are full of kinds ta-guard does not care about. It is
	// still validated for apiVersion, kind and name.
	in := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {a: b}\n"
	docs, err := Read("cm.yaml", strings.NewReader(in), "default")
	require.NoError(t, err)
	require.Len(t, docs, 1)
	assert.Nil(t, docs[0].Object)
	assert.Equal(t, "ConfigMap", docs[0].GVK.Kind)
	assert.Equal(t, "v1", docs[0].GVK.Version)
	assert.Equal(t, 1, docs[0].Index)
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		// want are fragments of the error; every error must name the file,
		// the document and the line it starts on, given here first.
		want []string
	}{
		{
			name: "missing apiVersion",
			in:   svcA + "---\nkind: Service\nmetadata: {name: b}\n",
			want: []string{"bad.yaml, document 2 (line 11):", "apiVersion"},
		},
		{
			name: "missing kind",
			in:   svcA + "---\n# c\n---\napiVersion: v1\nmetadata: {name: b}\n",
			want: []string{"bad.yaml, document 3 (line 13):", "kind"},
		},
		{
			name: "missing metadata.name",
			in:   "apiVersion: v1\nkind: Service\nmetadata:\n  namespace: app\n",
			want: []string{"bad.yaml, document 1 (line 1):", "metadata.name"},
		},
		{
			name: "missing name in a list item",
			in:   "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: a}\n- apiVersion: v1\n  kind: Service\n  metadata: {}\n",
			want: []string{"bad.yaml, document 1 (line 1), item 2:", "metadata.name"},
		},
		{
			name: "invalid YAML",
			in:   svcA + "---\napiVersion: v1\nkind: Service\n  metadata: x\n",
			want: []string{"bad.yaml, document 2 (line 11):", "not valid YAML", "line 13:"},
		},
		{
			name: "document is not an object",
			in:   "- apiVersion: v1\n",
			want: []string{"bad.yaml, document 1 (line 1):", "apiVersion and kind"},
		},
		{
			name: "service port of the wrong type",
			in:   strings.Replace(svcA, "port: 8080", `port: "abc"`, 1),
			want: []string{"bad.yaml, document 1 (line 1):", "Service a", "spec.ports.port", "expected a number, got a string"},
		},
		{
			name: "servicemonitor endpoints is a mapping",
			in: `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: sm, namespace: app}
spec:
  selector: {}
  endpoints: {}
`,
			want: []string{"bad.yaml, document 1 (line 1):", "ServiceMonitor sm", "spec.endpoints"},
		},
		{
			name: "v1alpha1 collector config is not YAML",
			in: `apiVersion: opentelemetry.io/v1alpha1
kind: OpenTelemetryCollector
metadata: {name: otel, namespace: app}
spec:
  mode: statefulset
  config: |
    receivers: [
`,
			want: []string{"bad.yaml, document 1 (line 1):", "OpenTelemetryCollector otel", "spec.config", "not valid YAML"},
		},
		{
			name: "label value of the wrong type",
			in:   "apiVersion: v1\nkind: Service\nmetadata: {name: a, labels: {port: 80}}\n",
			want: []string{"bad.yaml, document 1 (line 1):", "metadata.labels"},
		},
		{
			// The YAML parser allows 10,000 levels, the JSON decoder fewer
			// once the document's own levels count: its "invalid
			// character" is not what is wrong.
			name: "nested 10,000 levels deep",
			in:   "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n  x: " + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + "\n",
			want: []string{"bad.yaml, document 1 (line 1):", "nested more than 10000 levels deep"},
		},
		{
			name: "JSON nested 10,000 levels deep",
			in:   `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"x": ` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + "}}\n",
			want: []string{"bad.yaml, document 1 (line 1):", "not valid JSON", "nested more than 10000 levels deep"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { requireReadError(t, "bad.yaml", tt.in, tt.want) })
	}
}

func TestWorkloadsBecomePods(t *testing.T) {
	// The same pod template in every workload kind; CronJob nests it one
	// level deeper (jobTemplate.spec.template).
	template := `
      metadata:
        labels: {app: web, tier: front}
      spec:
        initContainers:
          - name: init
            image: busybox
        containers:
          - name: web
            image: nginx
            ports:
              - {name: http, containerPort: 8080}
              - {containerPort: 9090}
          - name: sidecar
            image: envoy
            ports:
              - {name: admin, containerPort: 15000}`
	wrap := func(apiVersion, kind, specPrefix string) string {
		// The workload's own labels differ from the template's: the Pod must
		// carry the template's.
		return "apiVersion: " + apiVersion + "\nkind: " + kind +
			"\nmetadata:\n  name: w\n  namespace: shop\n  labels: {owner: ops}\nspec:\n" + specPrefix +
			"  selector:\n    matchLabels: {app: web}\n  template:" + template + "\n"
	}
	tests := []struct {
		apiVersion, kind, doc string
	}{
		{"apps/v1", "Deployment", wrap("apps/v1", "Deployment", "")},
		{"apps/v1", "StatefulSet", wrap("apps/v1", "StatefulSet", "  serviceName: w\n")},
		{"apps/v1", "DaemonSet", wrap("apps/v1", "DaemonSet", "")},
		{"apps/v1", "ReplicaSet", wrap("apps/v1", "ReplicaSet", "")},
		{"batch/v1", "Job", wrap("batch/v1", "Job", "")},
		{"batch/v1", "CronJob", "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: w\n  namespace: shop\n  labels: {owner: ops}\nspec:\n  schedule: '* * * * *'\n  jobTemplate:\n    spec:\n      template:" +
			strings.ReplaceAll(template, "\n      ", "\n          ") + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			docs, err := Read("w.yaml", strings.NewReader(tt.doc), "default")
			require.NoError(t, err)
			require.Len(t, docs, 1)
			pod, ok := docs[0].Object.(*model.Pod)
			require.True(t, ok, "want *model.Pod, got %T", docs[0].Object)
			assert.Equal(t, model.Ref{APIVersion: tt.apiVersion, Kind: tt.kind, Namespace: "shop", Name: "w"}, pod.Ref)
			assert.Equal(t, map[string]string{"app": "web", "tier": "front"}, pod.Labels)
			assert.Equal(t, []model.ContainerPort{{Name: "http", Number: 8080}, {Number: 9090}, {Name: "admin", Number: 15000}}, pod.Ports)
		})
	}

	t.Run("default namespace", func(t *testing.T) {
		doc := strings.Replace(wrap("apps/v1", "Deployment", ""), "  namespace: shop\n", "", 1)
		docs, err := Read("w.yaml", strings.NewReader(doc), "fallback")
		require.NoError(t, err)
		require.Len(t, docs, 1)
		assert.Equal(t, "fallback", docs[0].Object.GetMeta().Ref.Namespace)
	})
}

// A file a directory walk finds in which no document has apiVersion and
// kind (a Helm values file, a TA's /jobs saved beside the manifests) is no
// manifest: skipped with a note. Named on its own, or beside manifests in
// the same file, it is still an error.
func TestLoadDirectorySkipsFilesThatAreNoManifests(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, content string) string {
		p := filepath.Join(dir, rel)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	write("a.yaml", svcA)
	jobs := write("jobs.json", `{"serviceMonitor/ns/sm/0": {"_link": "/jobs/serviceMonitor%2Fns%2Fsm%2F0/targets"}}`)
	write("values.yaml", "replicas: 2\n---\nimage: {tag: v1}\n")
	var notes []string
	docs, err := Load([]string{dir}, Options{Skipped: func(m string) { notes = append(notes, m) }})
	require.NoError(t, err)
	require.Len(t, docs, 1)
	assert.Equal(t, "a", docs[0].Object.GetMeta().Ref.Name)
	assert.Equal(t, []string{
		jobs + ": skipped: no document in it has apiVersion and kind, so it is no manifest",
		filepath.Join(dir, "values.yaml") + ": skipped: no document in it has apiVersion and kind, so it is no manifest",
	}, notes)

	_, err = Load([]string{jobs}, Options{})
	require.Error(t, err, "named on its own")
	assert.Contains(t, err.Error(), "missing apiVersion or kind")

	mixed := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(mixed, "m.yaml"), []byte(svcA+"---\nreplicas: 2\n"), 0o600))
	_, err = Load([]string{mixed}, Options{})
	require.Error(t, err, "a manifest with a document that is none")
	assert.Contains(t, err.Error(), "document 2")
}

// Exclude leaves out files and whole directories of a walk, by their path
// below the walked directory or by their name; what is named on its own is
// read whatever the patterns say.
func TestLoadDirectoryExclude(t *testing.T) {
	dir := t.TempDir()
	write := func(rel string) string {
		p := filepath.Join(dir, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(strings.Replace(svcA, "name: a", "name: "+strings.NewReplacer("/", "-", ".yaml", "").Replace(rel), 1)), 0o600))
		return p
	}
	write("keep.yaml")
	write("old.bak.yaml")
	write("testdata/x.yaml")
	direct := write("charts/app/values-prod.yaml")
	write("charts/app/templates/svc.yaml")
	names := func(docs []Doc) []string {
		var out []string
		for _, d := range docs {
			out = append(out, d.Object.GetMeta().Ref.Name)
		}
		return out
	}
	docs, err := Load([]string{dir}, Options{Exclude: []string{"*.bak.yaml", "testdata", "charts/*/values*.yaml"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"charts-app-templates-svc", "keep"}, names(docs))
	docs, err = Load([]string{direct}, Options{Exclude: []string{"charts/*/values*.yaml", "values-prod.yaml"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"charts-app-values-prod"}, names(docs))
}
