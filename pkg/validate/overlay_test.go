package validate

import (
	"fmt"
	"math/rand"
	"testing"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ta-guard/ta-guard/internal/cluster"
	"github.com/ta-guard/ta-guard/internal/cluster/clustertest"
	"github.com/ta-guard/ta-guard/internal/model"
)

// The overlay places a changed object of any registered kind where the
// store would file it, and takes a deleted one out, by kind alone. Only
// Namespaces and EndpointSlices pass through: they are never the subject of
// a request, only read around one.
func TestOverlayPlacesEveryKind(t *testing.T) {
	passThrough := map[model.Bucket]bool{model.NamespaceBucket: true, model.EndpointSliceBucket: true}
	for _, k := range model.Kinds() {
		t.Run(k.GVK.String(), func(t *testing.T) {
			obj, err := clustertest.Sample(k)
			require.NoError(t, err)
			ref := obj.GetMeta().Ref
			if passThrough[k.Bucket] {
				assert.Nil(t, clustertest.Found(newOverlay(cluster.NewStore(), ref, obj), obj))
				return
			}
			assert.Same(t, obj, clustertest.Found(newOverlay(cluster.NewStore(), ref, obj), obj), "placed into an empty view")

			s := cluster.NewStore()
			s.Upsert(obj)
			require.NotNil(t, clustertest.Found(s, obj))
			gone := model.Ref{Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name}
			assert.Nil(t, clustertest.Found(newOverlay(s, gone, nil), obj), "taken out of a view that holds it")
		})
	}
}

// The store keeps its unread monitors as monitors, readers and namespaces
// come and go; the overlay answers for the changed object. Both must agree
// with asking every monitor for its readers.
func TestUnreadMonitorsAgreeWithReadersOf(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	nss := []string{"a", "b", "c"}
	teams := []string{"t1", "t2", "t3"}
	pick := func(l []string) string { return l[r.Intn(len(l))] }
	monitor := func() string {
		kind := pick([]string{"ServiceMonitor", "PodMonitor"})
		return fmt.Sprintf("apiVersion: monitoring.coreos.com/v1\nkind: %s\nmetadata: {name: m%d, namespace: %s, labels: {team: %s}}\nspec: {selector: {}}\n",
			kind, r.Intn(12), pick(nss), pick(teams))
	}
	collector := func() string {
		sel := "{}"
		if r.Intn(3) > 0 {
			sel = "{matchLabels: {team: " + pick(teams) + "}}"
		}
		nsSel := ""
		if r.Intn(3) == 0 {
			nsSel = ", serviceMonitorNamespaceSelector: {matchLabels: {watched: \"yes\"}}"
		}
		return fmt.Sprintf(`apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: {name: c%d, namespace: %s}
spec:
  mode: statefulset
  targetAllocator:
    enabled: %v
    prometheusCR: {enabled: true, serviceMonitorSelector: %s, podMonitorSelector: %s%s}
  config:
    receivers: {prometheus: {config: {scrape_configs: []}}}
    service: {pipelines: {metrics: {receivers: [prometheus], exporters: [debug]}}}
`, r.Intn(4), pick(nss), r.Intn(5) > 0, sel, sel, nsSel)
	}
	namespace := func() string {
		labels := "{}"
		if r.Intn(2) == 0 {
			labels = "{watched: \"yes\"}"
		}
		return fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata: {name: %s, labels: %s}\n", pick(nss), labels)
	}
	want := func(v cluster.View, k model.MonitorKind) []string {
		out := []string{}
		for _, m := range v.Monitors(k, labels.Everything()) {
			if len(v.ReadersOf(m)) == 0 {
				out = append(out, m.Ref.Key())
			}
		}
		return out
	}
	keys := func(ms []*model.Monitor) []string {
		out := []string{}
		for _, m := range ms {
			out = append(out, m.Ref.Key())
		}
		return out
	}
	s := cluster.NewStore()
	var placed []model.Object
	for step := 0; step < 600; step++ {
		var o model.Object
		switch n := r.Intn(10); {
		case n < 4:
			o = object(t, monitor())
		case n < 7:
			o = object(t, collector())
		case n < 8:
			o = object(t, namespace())
		}
		if o == nil && len(placed) > 0 {
			i := r.Intn(len(placed))
			s.Delete(placed[i].GetMeta().Ref)
			placed = append(placed[:i], placed[i+1:]...)
		} else if o != nil {
			s.Upsert(o)
			placed = append(placed, o)
		}
		// A change not yet in the store, put in place or taken out.
		next := object(t, pick([]string{collector(), monitor()}))
		views := map[string]cluster.View{"store": s, "overlay put": newOverlay(s, next.GetMeta().Ref, next), "overlay taken out": newOverlay(s, next.GetMeta().Ref, nil)}
		for name, v := range views {
			for _, k := range []model.MonitorKind{model.ServiceMonitor, model.PodMonitor} {
				require.Equal(t, want(v, k), keys(v.UnreadMonitors(k)), "step %d, %s, %s", step, name, k)
			}
		}
	}
}

// The overlay answers every look-up as a store that holds the change would:
// the same objects in the same order (cluster.In, Outside, Selects and
// Less are the one definition of both).
func TestOverlayAnswersAsTheStoreWould(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	nss := []string{"a", "b", "c"}
	apps := []string{"blue", "green"}
	pick := func(l []string) string { return l[r.Intn(len(l))] }
	service := func() string {
		return fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata: {name: s%d, namespace: %s, labels: {app: %s}}\nspec: {ports: [{name: http, port: 80}]}\n",
			r.Intn(8), pick(nss), pick(apps))
	}
	pod := func() string {
		return fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata: {name: p%d, namespace: %s, labels: {app: %s}}\nspec: {containers: [{name: c, ports: [{name: http, containerPort: 80}]}]}\n",
			r.Intn(8), pick(nss), pick(apps))
	}
	monitor := func() string {
		return fmt.Sprintf("apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: m%d, namespace: %s, labels: {team: %s}}\nspec: {selector: {matchLabels: {app: %s}}, namespaceSelector: {matchNames: [%s]}, endpoints: [{port: http}]}\n",
			r.Intn(8), pick(nss), pick(apps), pick(apps), pick(nss))
	}
	sets := []model.NamespaceSet{{All: true}, {Names: []string{"a"}}, {Names: []string{"b", "c"}}}
	sels := []labels.Selector{labels.Everything(), labels.SelectorFromSet(labels.Set{"app": "blue"}), labels.SelectorFromSet(labels.Set{"team": "green"})}
	refs := func(objs any) []string {
		var out []string
		switch os := objs.(type) {
		case []*model.Service:
			for _, o := range os {
				out = append(out, o.Ref.Key())
			}
		case []*model.Pod:
			for _, o := range os {
				out = append(out, o.Ref.Key())
			}
		case []*model.Monitor:
			for _, o := range os {
				out = append(out, o.Ref.Key())
			}
		}
		return out
	}
	answers := func(v cluster.View) []string {
		var out []string
		for i, ns := range sets {
			for j, sel := range sels {
				out = append(out, fmt.Sprint(i, j, "svc", refs(v.Services(ns, sel))), fmt.Sprint(i, j, "pod", refs(v.Pods(ns, sel))))
				for _, limit := range []int{1, 2, 50} {
					out = append(out, fmt.Sprint(i, j, limit, "svc outside", refs(v.ServicesOutside(ns, sel, limit))),
						fmt.Sprint(i, j, limit, "pod outside", refs(v.PodsOutside(ns, sel, limit))))
				}
			}
		}
		for j, sel := range sels {
			out = append(out, fmt.Sprint(j, "monitors", refs(v.Monitors(model.ServiceMonitor, sel))))
		}
		for _, ns := range nss {
			for _, app := range apps {
				out = append(out, fmt.Sprint(ns, app, "selecting", refs(v.MonitorsSelecting(model.ServiceMonitor, ns, map[string]string{"app": app}))))
			}
		}
		return out
	}
	base := cluster.NewStore()
	for step := 0; step < 300; step++ {
		o := object(t, pick([]string{service(), pod(), monitor()}))
		ref := o.GetMeta().Ref
		with := cluster.NewStore()
		without := cluster.NewStore()
		for _, m := range base.Monitors(model.ServiceMonitor, labels.Everything()) {
			with.Upsert(m)
			without.Upsert(m)
		}
		for _, s := range base.Services(model.NamespaceSet{All: true}, labels.Everything()) {
			with.Upsert(s)
			without.Upsert(s)
		}
		for _, p := range base.Pods(model.NamespaceSet{All: true}, labels.Everything()) {
			with.Upsert(p)
			without.Upsert(p)
		}
		with.Upsert(o)
		without.Delete(ref)
		require.Equal(t, answers(with), answers(newOverlay(base, ref, o)), "step %d: %s put in place", step, ref)
		require.Equal(t, answers(without), answers(newOverlay(base, ref, nil)), "step %d: %s taken out", step, ref)
		base.Upsert(o)
	}
}
