package access

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// sarWriter answers SubjectAccessReviews: allowed in team-a only.
type sarWriter struct {
	client.Writer
	calls atomic.Int32
	err   error
	last  authorizationv1.SubjectAccessReviewSpec
}

func (w *sarWriter) Create(_ context.Context, obj client.Object, _ ...client.CreateOption) error {
	w.calls.Add(1)
	if w.err != nil {
		return w.err
	}
	sar := obj.(*authorizationv1.SubjectAccessReview)
	w.last = sar.Spec
	sar.Status.Allowed = sar.Spec.ResourceAttributes.Namespace == "team-a"
	return nil
}

func TestUserAudience(t *testing.T) {
	w := &sarWriter{}
	a := NewAudiences(w)
	now := time.Unix(0, 0)
	a.now = func() time.Time { return now }
	svc := schema.GroupResource{Resource: "services"}
	u := a.For(User{Name: "system:serviceaccount:team-a:dev", UID: "u1", Groups: []string{"g"}, Extra: map[string][]string{"k": {"v"}}})
	ctx := context.Background()
	assert.True(t, u.MaySee(ctx, "team-a", svc))
	assert.False(t, u.MaySee(ctx, "team-b", svc))
	assert.Equal(t, "list", w.last.ResourceAttributes.Verb)
	assert.Equal(t, "u1", w.last.UID)
	assert.Equal(t, authorizationv1.ExtraValue{"v"}, w.last.Extra["k"])
	assert.False(t, u.MaySee(ctx, "team-b", svc))
	assert.EqualValues(t, 2, w.calls.Load(), "answers are cached")
	now = now.Add(31 * time.Second)
	assert.False(t, u.MaySee(ctx, "team-b", svc))
	assert.EqualValues(t, 3, w.calls.Load(), "and expire")
	// Another user, same question: asked again.
	assert.True(t, a.For(User{Name: "other"}).MaySee(ctx, "team-a", svc))
	assert.EqualValues(t, 4, w.calls.Load())
}

func TestUserAudienceErrorsHide(t *testing.T) {
	w := &sarWriter{err: errors.New("boom")}
	a := NewAudiences(w)
	u := a.For(User{Name: "dev"})
	assert.False(t, u.MaySee(context.Background(), "team-a", schema.GroupResource{Resource: "services"}))
	w.err = nil
	assert.True(t, u.MaySee(context.Background(), "team-a", schema.GroupResource{Resource: "services"}), "a failure is not cached")
}

func TestAudiencesBounded(t *testing.T) {
	w := &sarWriter{}
	a := NewAudiences(w)
	a.Max = 3
	for _, ns := range []string{"a", "b", "c", "d", "e"} {
		a.For(User{Name: "dev"}).MaySee(context.Background(), ns, schema.GroupResource{Resource: "pods"})
	}
	assert.Len(t, a.cache.Keys(), 3, "the least recently used answers go")
	w.calls.Store(0)
	a.For(User{Name: "dev"}).MaySee(context.Background(), "e", schema.GroupResource{Resource: "pods"})
	assert.EqualValues(t, 0, w.calls.Load(), "the most recent answer stays")
}
