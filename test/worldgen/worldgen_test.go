package worldgen

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ta-guard/ta-guard/internal/cluster"
	"github.com/ta-guard/ta-guard/internal/manifest"
	"github.com/ta-guard/ta-guard/internal/model"
)

func TestScalesAreTheIssueNumbers(t *testing.T) {
	assert.Equal(t, Totals{Namespaces: 500, Services: 10000, Pods: 50000, ServiceMonitors: 2000, PodMonitors: 500, Collectors: 50}, Full.Totals())
	assert.Equal(t, Totals{Namespaces: 50, Services: 1000, Pods: 5000, ServiceMonitors: 200, PodMonitors: 50, Collectors: 5}, Tenth.Totals())
	assert.Equal(t, Full.Collectors, Full.Teams())
	assert.Equal(t, Tenth.Collectors, Tenth.Teams())
}

// A small world keeps the normal test run fast; the benchmarks build the big
// ones.
var small = Scale{
	Name: "small", Namespaces: 20, NamespacesPerTeam: 10, ServicesPerNamespace: 20, PodsPerService: 5,
	ServiceMonitorsPerNamespace: 4, PodMonitorsPerNamespace: 1, Collectors: 2, NamespaceScopedCollectors: 1, Seed: 7,
}

func TestGenerate(t *testing.T) {
	st := Generate(small)
	tot := small.Totals()
	assert.Equal(t, map[string]int{
		"namespaces":      tot.Namespaces,
		"services":        tot.Services,
		"pods":            tot.Pods,
		"serviceMonitors": tot.ServiceMonitors,
		"podMonitors":     tot.PodMonitors,
		"scrapeConfigs":   0, // the generated world has none: their cost is measured apart
		"probes":          0,
		"readers":         tot.Collectors,
	}, st.Counts())

	// Every Service has its Pods, and they declare the ports it targets.
	o := small.NamespaceObjects(3)
	for _, svc := range o.Services {
		m := Normalize(svc).(*model.Service)
		assert.NotEmpty(t, m.Ports, svc.Name)
		assert.LessOrEqual(t, len(m.Ports), 3, svc.Name)
	}

	// Almost every monitor is read by a collector; the 1% without a team
	// label by none.
	unread := 0
	for _, k := range model.MonitorKinds {
		for _, m := range st.Monitors(k, model.SelectAll("").Selector()) {
			if len(st.ReadersOf(m)) == 0 {
				unread++
				assert.Empty(t, m.Labels["team"], m.Ref.String())
			}
		}
	}
	assert.Less(t, unread, (tot.ServiceMonitors+tot.PodMonitors)/20)
}

func TestDeterministic(t *testing.T) {
	a, b := small.NamespaceObjects(5), small.NamespaceObjects(5)
	assert.Equal(t, a, b)
	assert.NotEqual(t, a.Services[0].Name+a.Services[1].Name, small.NamespaceObjects(6).Services[0].Name+small.NamespaceObjects(6).Services[1].Name)
	assert.Equal(t, small.Collector(1), small.Collector(1))
	// The picked namespace is the same in both benchmark worlds.
	assert.Equal(t, Tenth.NamespaceObjects(PickFrom), Full.NamespaceObjects(PickFrom))
	assert.Equal(t, Tenth.Collector(2), Full.Collector(2))
}

func TestPicks(t *testing.T) {
	st := Generate(small)
	p, err := small.Picks(st)
	require.NoError(t, err)
	assert.Equal(t, p.Namespace, p.Service.Namespace)
	assert.Equal(t, p.Service.Name, p.Monitor.Spec.Selector.MatchLabels["app"])
	assert.Equal(t, p.Team, p.Collector.Labels["team"])
	assert.NotEqual(t, p.Team, p.OtherTeam)

	// The collector reads the picked monitor.
	readers := st.ReadersOf(Normalize(p.Monitor).(*model.Monitor))
	require.Len(t, readers, 1)
	assert.Equal(t, p.Collector.Name, readers[0].Ref.Name)

	p2, err := small.Picks(st)
	require.NoError(t, err)
	assert.Equal(t, p, p2)
}

// TestWriteManifests: the manifests read back as the world's objects (Pods
// left out), every one decoded and none with a warning.
func TestWriteManifests(t *testing.T) {
	dir := t.TempDir()
	n, err := WriteManifests(dir, small)
	require.NoError(t, err)
	tot := small.Totals()
	require.Equal(t, tot.Namespaces+tot.Services+tot.ServiceMonitors+tot.PodMonitors+tot.Collectors, n)

	docs, err := manifest.Load([]string{dir}, manifest.Options{})
	require.NoError(t, err)
	require.Len(t, docs, n)
	st := cluster.NewStore()
	for _, d := range docs {
		require.NotNil(t, d.Object, d.Where())
		assert.Empty(t, d.Warnings, d.Where())
		st.Upsert(d.Object)
	}
	want := Generate(small).Counts()
	want["pods"] = 0
	assert.Equal(t, want, st.Counts())
}
