package access

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/ta-guard/ta-guard/pkg/validate"
)

// A fake API server that grants what allowed says and counts the reviews.
func fakeClient(t *testing.T, allowed map[string]bool, reviews *int, objs ...client.Object) client.Client {
	s := runtime.NewScheme()
	require.NoError(t, corev1.AddToScheme(s))
	require.NoError(t, authorizationv1.AddToScheme(s))
	return fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).WithInterceptorFuncs(interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if sar, ok := obj.(*authorizationv1.SubjectAccessReview); ok {
				*reviews++
				sar.Status.Allowed = allowed[sar.Spec.ResourceAttributes.Verb+" "+sar.Spec.ResourceAttributes.Resource]
				return nil
			}
			return c.Create(ctx, obj, opts...)
		},
	}).Build()
}

func TestOnlyGrantsAreCached(t *testing.T) {
	allowed := map[string]bool{"list pods": true}
	reviews := 0
	c := fakeClient(t, allowed, &reviews)
	r := NewReviewer(c, c)
	perms := []validate.Permission{{Resource: "pods", Verb: "list"}, {Resource: "services", Verb: "list"}}

	missing, err := r.MissingPermissions(context.Background(), "obs", "ta", perms)
	require.NoError(t, err)
	assert.Equal(t, []validate.Permission{perms[1]}, missing)
	assert.Equal(t, 2, reviews)

	// The user grants the missing permission: the next question sees it at
	// once, while the granted one is answered from the cache.
	allowed["list services"] = true
	missing, err = r.MissingPermissions(context.Background(), "obs", "ta", perms)
	require.NoError(t, err)
	assert.Empty(t, missing)
	assert.Equal(t, 3, reviews)

	// Past the TTL, granted answers are asked again.
	r.now = func() time.Time { return time.Now().Add(time.Minute) }
	_, err = r.MissingPermissions(context.Background(), "obs", "ta", perms)
	require.NoError(t, err)
	assert.Equal(t, 5, reviews)
}

func TestServiceAccountCreatedIsSeenAtOnce(t *testing.T) {
	reviews := 0
	c := fakeClient(t, nil, &reviews)
	r := NewReviewer(c, c)
	ok, err := r.ServiceAccountExists(context.Background(), "obs", "ta")
	require.NoError(t, err)
	assert.False(t, ok)
	require.NoError(t, c.Create(context.Background(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "obs", Name: "ta"}}))
	ok, err = r.ServiceAccountExists(context.Background(), "obs", "ta")
	require.NoError(t, err)
	assert.True(t, ok)
}
