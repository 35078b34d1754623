package cluster

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/ta-guard/ta-guard/internal/model"
)

// randomLabels draws from a small vocabulary so that selectors hit and miss.
func randomLabels(r *rand.Rand) map[string]string {
	keys := []string{"app", "team", "tier"}
	vals := []string{"a", "b", "c"}
	l := map[string]string{}
	for _, k := range keys {
		if r.Intn(3) > 0 {
			l[k] = vals[r.Intn(len(vals))]
		}
	}
	return l
}

func randomSelector(r *rand.Rand) *metav1.LabelSelector {
	keys := []string{"app", "team", "tier"}
	vals := []string{"a", "b", "c"}
	ls := &metav1.LabelSelector{}
	for _, k := range keys {
		switch r.Intn(7) {
		case 0:
			ls.MatchLabels = map[string]string{k: vals[r.Intn(3)]}
		case 1:
			ls.MatchExpressions = append(ls.MatchExpressions, metav1.LabelSelectorRequirement{Key: k, Operator: metav1.LabelSelectorOpIn, Values: []string{vals[r.Intn(3)], vals[r.Intn(3)]}})
		case 2:
			ls.MatchExpressions = append(ls.MatchExpressions, metav1.LabelSelectorRequirement{Key: k, Operator: metav1.LabelSelectorOpNotIn, Values: []string{vals[r.Intn(3)]}})
		case 3:
			ls.MatchExpressions = append(ls.MatchExpressions, metav1.LabelSelectorRequirement{Key: k, Operator: metav1.LabelSelectorOpExists})
		case 4:
			ls.MatchExpressions = append(ls.MatchExpressions, metav1.LabelSelectorRequirement{Key: k, Operator: metav1.LabelSelectorOpDoesNotExist})
		}
	}
	return ls
}

func names(objs []model.Object) []string {
	out := []string{}
	for _, o := range objs {
		out = append(out, o.GetMeta().Ref.Key())
	}
	return out
}

func asObjects[T model.Object](in []T) []model.Object {
	out := make([]model.Object, len(in))
	for i, o := range in {
		out[i] = o
	}
	return out
}

// The index must return exactly what a full scan returns, in the same order,
// through inserts, replacements and deletes.
func TestIndexAgreesWithFullScan(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	nss := []string{"n1", "n2", "n3"}
	s := NewStore()
	services := map[string]*model.Service{}
	monitors := map[string]*model.Monitor{}
	for step := 0; step < 3000; step++ {
		switch op := r.Intn(10); {
		case op < 4:
			svc := &model.Service{Meta: model.Meta{
				Ref:    model.Ref{Kind: "Service", Namespace: nss[r.Intn(3)], Name: fmt.Sprintf("s%d", r.Intn(40))},
				Labels: randomLabels(r),
			}}
			s.Upsert(svc)
			services[svc.Ref.Key()] = svc
		case op < 7:
			sel, err := model.SelectLabels(randomSelector(r))
			require.NoError(t, err)
			m := &model.Monitor{
				Meta:     model.Meta{Ref: model.Ref{Kind: "ServiceMonitor", Namespace: nss[r.Intn(3)], Name: fmt.Sprintf("m%d", r.Intn(30))}, Labels: randomLabels(r)},
				Kind:     model.ServiceMonitor,
				Selector: sel,
			}
			switch r.Intn(3) {
			case 0:
				m.Namespaces = model.NamespaceSet{All: true}
			case 1:
				m.Namespaces = model.NamespaceSet{Names: []string{nss[r.Intn(3)], nss[r.Intn(3)]}}
			default:
				m.Namespaces = model.NamespaceSet{Names: []string{m.Ref.Namespace}}
			}
			s.Upsert(m)
			monitors[m.Ref.Key()] = m
		case op < 8:
			for k, svc := range services {
				s.Delete(svc.Ref)
				delete(services, k)
				break
			}
		default:
			for k, m := range monitors {
				s.Delete(m.Ref)
				delete(monitors, k)
				break
			}
		}
		if step%50 != 0 {
			continue
		}
		// Forward: services by namespace set and selector.
		sel, err := model.SelectLabels(randomSelector(r))
		require.NoError(t, err)
		scope := model.NamespaceSet{Names: []string{nss[r.Intn(3)]}}
		if r.Intn(2) == 0 {
			scope = model.NamespaceSet{All: true}
		}
		var want []*model.Service
		for _, svc := range services {
			if scope.Has(svc.Ref.Namespace) && sel.Matches(svc.Labels) {
				want = append(want, svc)
			}
		}
		sortObjects(want)
		assert.Equal(t, names(asObjects(want)), names(asObjects(s.Services(scope, sel.Selector()))), "step %d services %s in %v", step, sel, scope)

		// Bounded near-miss look-up: the first three outside a namespace.
		excl := model.NamespaceSet{Names: []string{nss[r.Intn(3)]}}
		var wantOut []*model.Service
		for _, svc := range services {
			if !excl.Has(svc.Ref.Namespace) && sel.Matches(svc.Labels) {
				wantOut = append(wantOut, svc)
			}
		}
		sortObjects(wantOut)
		if len(wantOut) > 3 {
			wantOut = wantOut[:3]
		}
		assert.Equal(t, names(asObjects(wantOut)), names(asObjects(s.ServicesOutside(excl, sel.Selector(), 3))), "step %d services outside %v", step, excl)

		// Inverse: monitors selecting a service.
		l := randomLabels(r)
		ns := nss[r.Intn(3)]
		var wantM []*model.Monitor
		for _, m := range monitors {
			if m.Namespaces.Has(ns) && m.Selector.Matches(l) {
				wantM = append(wantM, m)
			}
		}
		sortObjects(wantM)
		assert.Equal(t, names(asObjects(wantM)), names(asObjects(s.MonitorsSelecting(model.ServiceMonitor, ns, l))), "step %d monitors selecting %v in %s", step, l, ns)

		// Monitors by their own labels.
		var wantL []*model.Monitor
		for _, m := range monitors {
			if sel.Matches(m.Labels) {
				wantL = append(wantL, m)
			}
		}
		sortObjects(wantL)
		assert.Equal(t, names(asObjects(wantL)), names(asObjects(s.Monitors(model.ServiceMonitor, sel.Selector()))))
	}
	assert.Equal(t, len(services), s.Counts()["services"])
}

func TestImplicitNamespaces(t *testing.T) {
	s := NewStore()
	svc := &model.Service{Meta: model.Meta{Ref: model.Ref{Kind: "Service", Namespace: "apps", Name: "a"}}}
	assert.Nil(t, s.Namespace("apps"))
	s.Upsert(svc)
	s.Upsert(svc) // a replacement must not count twice
	require.NotNil(t, s.Namespace("apps"))
	assert.Empty(t, s.Namespace("apps").Labels, "offline, an undeclared namespace has no labels")
	s.Delete(svc.Ref)
	assert.Nil(t, s.Namespace("apps"), "the last object left, so the namespace is gone")

	s.Upsert(&model.Namespace{Meta: model.Meta{Ref: model.Ref{Kind: "Namespace", Name: "apps"}, Labels: map[string]string{"team": "a"}}})
	assert.Equal(t, "a", s.Namespace("apps").Labels["team"])
}

func TestReadersOf(t *testing.T) {
	s := NewStore()
	mk := func(name string, active bool, sel *metav1.LabelSelector) *model.Allocator {
		a := &model.Allocator{}
		a.Ref = model.Ref{Kind: "OpenTelemetryCollector", Namespace: "obs", Name: name}
		a.Allocator, a.Active = true, active
		for _, k := range model.MonitorKinds {
			ms := model.SelectNothing("unset")
			if sel != nil {
				var err error
				ms, err = model.SelectLabels(sel)
				require.NoError(t, err)
			}
			a.Scopes[k] = model.Scope{Monitors: ms, Namespaces: model.SelectAll("{}")}
		}
		return a
	}
	s.Upsert(mk("all", true, &metav1.LabelSelector{}))
	s.Upsert(mk("team-a", true, &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}}))
	s.Upsert(mk("off", false, &metav1.LabelSelector{}))
	s.Upsert(mk("nil", true, nil))
	m := &model.Monitor{Meta: model.Meta{Ref: model.Ref{Kind: "ServiceMonitor", Namespace: "x", Name: "m"}, Labels: map[string]string{"team": "a"}}, Kind: model.ServiceMonitor}
	var got []string
	for _, r := range s.ReadersOf(m) {
		got = append(got, r.Ref.Name)
	}
	assert.Equal(t, []string{"all", "team-a"}, got)

	s.Delete(model.Ref{Kind: "OpenTelemetryCollector", Namespace: "obs", Name: "all"})
	got = nil
	for _, r := range s.ReadersOf(m) {
		got = append(got, r.Ref.Name)
	}
	assert.Equal(t, []string{"team-a"}, got)
	assert.Len(t, s.Allocators(), 3)
	_ = labels.Everything()
}

// UpsertAll must leave the store exactly as Upsert of each object in order
// would, including replacements within the batch and of objects already in
// the store, and objects of a kind's wrong type.
func TestUpsertAllIsUpsertInOrder(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	nss := []string{"n1", "n2", "n3"}
	random := func() model.Object {
		ns := nss[r.Intn(3)]
		meta := func(kind string, n int) model.Meta {
			return model.Meta{Ref: model.Ref{Kind: kind, Namespace: ns, Name: fmt.Sprintf("o%d", r.Intn(n))}, Labels: randomLabels(r)}
		}
		switch r.Intn(6) {
		case 0, 1:
			return &model.Service{Meta: meta("Service", 30)}
		case 2:
			return &model.Pod{Meta: meta("Pod", 30)}
		case 3:
			sel, err := model.SelectLabels(randomSelector(r))
			require.NoError(t, err)
			return &model.Monitor{Meta: meta("ServiceMonitor", 20), Kind: model.ServiceMonitor, Selector: sel,
				Namespaces: model.NamespaceSet{Names: []string{nss[r.Intn(3)]}}}
		case 4:
			m := meta("Namespace", 3)
			m.Ref.Name, m.Ref.Namespace = ns, ""
			return &model.Namespace{Meta: m, LabelsKnown: true}
		default:
			return &model.Pod{Meta: meta("Service", 30)} // a Service of the wrong type: left out
		}
	}
	for round := 0; round < 50; round++ {
		one, all := NewStore(), NewStore()
		for range r.Intn(40) {
			o := random()
			one.Upsert(o)
			all.Upsert(o)
		}
		batch := make([]model.Object, r.Intn(200))
		for i := range batch {
			batch[i] = random()
		}
		for _, o := range batch {
			one.Upsert(o)
		}
		all.UpsertAll(batch)
		require.Equal(t, one, all, "round %d", round)
	}
}
