package watch

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ta-guard/ta-guard/internal/cluster"
	"github.com/ta-guard/ta-guard/internal/model"
)

// Snapshot lists every kind the watcher would watch, once, into a new store:
// for one-shot commands (diagnose) that need the cluster but no informers.
// Kinds the API server does not serve are skipped and reported as such.
func Snapshot(ctx context.Context, c client.Reader, mapper meta.RESTMapper, scheme *runtime.Scheme) (*cluster.Store, map[string]bool, error) {
	store := cluster.NewStore()
	served := map[string]bool{}
	for _, k := range Kinds() {
		for _, obj := range k.Alternatives {
			gvk, err := gvkOf(scheme, obj)
			if err != nil {
				return nil, nil, err
			}
			if _, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
				if meta.IsNoMatchError(err) {
					continue
				}
				return nil, nil, err
			}
			list, err := scheme.New(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
			if err != nil {
				return nil, nil, err
			}
			ol, ok := list.(client.ObjectList)
			if !ok {
				return nil, nil, fmt.Errorf("%s: not a list type", gvk)
			}
			if err := c.List(ctx, ol); err != nil {
				return nil, nil, fmt.Errorf("listing %s: %w", model.ResourceOf(gvk.Group, gvk.Kind), err)
			}
			items, err := meta.ExtractList(ol)
			if err != nil {
				return nil, nil, err
			}
			for _, it := range items {
				stripped, _ := Strip(it)
				m, err := model.FromTyped(uncapped(stripped.(runtime.Object)))
				if err != nil {
					o := it.(client.Object)
					return nil, nil, fmt.Errorf("%s %s/%s: %w", k.Name, o.GetNamespace(), o.GetName(), err)
				}
				store.Upsert(m)
			}
			served[k.Name] = true
			break
		}
	}
	return store, served, nil
}
