package server

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/ta-guard/ta-guard/internal/access"
)

// rbacKinds are the objects a SubjectAccessReview's answer depends on.
var rbacKinds = []string{"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}

// watchAccessChanges keeps the reviewer's cached answers honest: any change
// to an RBAC object or a ServiceAccount marks the answers that depend on it
// stale, so a user who has just fixed a binding sees it at the next apply
// while the cache still absorbs storms. Only metadata is watched: ta-guard
// needs to know that something changed, not what the rules say (the API
// server's authorizer decides that). Without the permission to watch them
// (an older RBAC), the informers retry and the answers expire with the TTL.
func watchAccessChanges(c cache.Cache, r *access.Reviewer, log logr.Logger) everyReplica {
	return func(ctx context.Context) error {
		watch := func(apiVersion, kind string, invalidate func()) error {
			obj := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}}
			inf, err := c.GetInformer(ctx, obj, cache.BlockUntilSynced(false))
			if err != nil {
				return fmt.Errorf("watching %s: %w", kind, err)
			}
			// Every event, the initial list's included: an answer given
			// before the informer synced was asked without its knowledge.
			_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
				AddFunc:    func(any) { invalidate() },
				UpdateFunc: func(old, cur any) { invalidate() },
				DeleteFunc: func(any) { invalidate() },
			})
			return err
		}
		for _, k := range rbacKinds {
			if err := watch("rbac.authorization.k8s.io/v1", k, r.InvalidateRBAC); err != nil {
				log.Error(err, "access answers will expire with their TTL only")
			}
		}
		if err := watch("v1", "ServiceAccount", r.InvalidateAccounts); err != nil {
			log.Error(err, "service account answers will expire with their TTL only")
		}
		<-ctx.Done()
		return nil
	}
}
