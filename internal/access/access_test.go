package access

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
	var mu sync.Mutex // the reviewer asks its questions concurrently
	return fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).WithInterceptorFuncs(interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if sar, ok := obj.(*authorizationv1.SubjectAccessReview); ok {
				mu.Lock()
				defer mu.Unlock()
				*reviews++
				sar.Status.Allowed = allowed[sar.Spec.ResourceAttributes.Verb+" "+sar.Spec.ResourceAttributes.Resource]
				return nil
			}
			return c.Create(ctx, obj, opts...)
		},
	}).Build()
}

// Both grants and refusals are reused until the TTL passes or RBAC changes:
// a storm of requests naming an account that lacks permissions asks once,
// and the fix (a new binding, seen by the watch) is seen at the next apply.
func TestAnswersAreCachedUntilRBACChanges(t *testing.T) {
	allowed := map[string]bool{"list pods": true}
	reviews := 0
	c := fakeClient(t, allowed, &reviews)
	r := NewReviewer(c, c)
	perms := []validate.Permission{{Resource: "pods", Verb: "list"}, {Resource: "services", Verb: "list"}}

	missing, err := r.MissingPermissions(context.Background(), "obs", "ta", perms)
	require.NoError(t, err)
	assert.Equal(t, []validate.Permission{perms[1]}, missing)
	assert.Equal(t, 2, reviews)

	missing, err = r.MissingPermissions(context.Background(), "obs", "ta", perms)
	require.NoError(t, err)
	assert.Equal(t, []validate.Permission{perms[1]}, missing, "the refusal is reused")
	assert.Equal(t, 2, reviews)

	// The user grants the missing permission; the watch sees the binding.
	allowed["list services"] = true
	r.InvalidateRBAC()
	missing, err = r.MissingPermissions(context.Background(), "obs", "ta", perms)
	require.NoError(t, err)
	assert.Empty(t, missing)
	assert.Equal(t, 4, reviews)

	// A ServiceAccount change does not touch permission answers.
	r.InvalidateAccounts()
	_, err = r.MissingPermissions(context.Background(), "obs", "ta", perms)
	require.NoError(t, err)
	assert.Equal(t, 4, reviews)

	// Past the TTL, answers are asked again (a missed watch event costs no more).
	r.now = func() time.Time { return time.Now().Add(time.Minute) }
	_, err = r.MissingPermissions(context.Background(), "obs", "ta", perms)
	require.NoError(t, err)
	assert.Equal(t, 6, reviews)
}

func TestServiceAccountCreatedIsSeenWhenWatched(t *testing.T) {
	reviews := 0
	c := fakeClient(t, nil, &reviews)
	r := NewReviewer(c, c)
	ok, err := r.ServiceAccountExists(context.Background(), "obs", "ta")
	require.NoError(t, err)
	assert.False(t, ok)
	require.NoError(t, c.Create(context.Background(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "obs", Name: "ta"}}))
	ok, err = r.ServiceAccountExists(context.Background(), "obs", "ta")
	require.NoError(t, err)
	assert.False(t, ok, "until the watch reports the account, the answer is reused")
	r.InvalidateAccounts()
	ok, err = r.ServiceAccountExists(context.Background(), "obs", "ta")
	require.NoError(t, err)
	assert.True(t, ok)
}

// The TA gets each Secret by name in the monitor's namespace: the review
// asks exactly that, as the TA's service account, and the answer is reused.
func TestMayGetSecret(t *testing.T) {
	var asked []authorizationv1.SubjectAccessReviewSpec
	allowed := map[string]bool{"app/web-auth": true}
	s := runtime.NewScheme()
	require.NoError(t, authorizationv1.AddToScheme(s))
	c := fake.NewClientBuilder().WithScheme(s).WithInterceptorFuncs(interceptor.Funcs{
		Create: func(_ context.Context, _ client.WithWatch, obj client.Object, _ ...client.CreateOption) error {
			sar := obj.(*authorizationv1.SubjectAccessReview)
			asked = append(asked, sar.Spec)
			a := sar.Spec.ResourceAttributes
			sar.Status.Allowed = a.Verb == "get" && a.Resource == "secrets" && a.Group == "" && allowed[a.Namespace+"/"+a.Name]
			return nil
		},
	}).Build()
	r := NewReviewer(c, c)
	ctx := context.Background()

	ok, err := r.MayGetSecret(ctx, "obs", "ta", "app", "web-auth")
	require.NoError(t, err)
	assert.True(t, ok)
	require.Len(t, asked, 1)
	assert.Equal(t, "system:serviceaccount:obs:ta", asked[0].User)
	assert.Equal(t, []string{"system:serviceaccounts", "system:serviceaccounts:obs", "system:authenticated"}, asked[0].Groups)
	assert.Equal(t, authorizationv1.ResourceAttributes{Namespace: "app", Verb: "get", Resource: "secrets", Name: "web-auth"}, *asked[0].ResourceAttributes)

	ok, err = r.MayGetSecret(ctx, "obs", "ta", "app", "web-auth")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Len(t, asked, 1, "a grant is answered from the cache")

	for range 2 {
		ok, err = r.MayGetSecret(ctx, "obs", "ta", "app", "other")
		require.NoError(t, err)
		assert.False(t, ok)
	}
	assert.Len(t, asked, 2, "a refusal is reused too")

	// Another namespace's Secret of the same name is another question.
	ok, err = r.MayGetSecret(ctx, "obs", "ta", "team", "web-auth")
	require.NoError(t, err)
	assert.False(t, ok)
}

func TestLookupSecret(t *testing.T) {
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "web-auth"},
		Data: map[string][]byte{"user": []byte("u"), "pass": []byte("p")}}
	gets := 0
	s := runtime.NewScheme()
	require.NoError(t, corev1.AddToScheme(s))
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(secret).WithInterceptorFuncs(interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			gets++
			switch key.Namespace {
			case "locked":
				return apierrors.NewForbidden(corev1.Resource("secrets"), key.Name, errors.New("no"))
			case "down":
				return errors.New("connection refused")
			}
			return c.Get(ctx, key, obj, opts...)
		},
	}).Build()
	r := NewReviewer(c, c)
	ctx := context.Background()

	info, err := r.LookupSecret(ctx, "app", "web-auth")
	require.NoError(t, err)
	assert.Equal(t, validate.SecretInfo{}, info, "off by default")
	assert.Zero(t, gets, "off, no Secret is read at all")

	r.ReadSecrets = true
	info, err = r.LookupSecret(ctx, "app", "web-auth")
	require.NoError(t, err)
	assert.Equal(t, validate.SecretInfo{Checked: true, Exists: true, Keys: []string{"pass", "user"}}, info)

	info, err = r.LookupSecret(ctx, "app", "missing")
	require.NoError(t, err)
	assert.Equal(t, validate.SecretInfo{Checked: true}, info)

	info, err = r.LookupSecret(ctx, "locked", "web-auth")
	require.NoError(t, err)
	assert.Equal(t, validate.SecretInfo{}, info, "where ta-guard may not read, unknown")

	_, err = r.LookupSecret(ctx, "down", "web-auth")
	require.Error(t, err)

	// Nothing is cached: a Secret created now is seen now.
	require.NoError(t, c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "missing"}}))
	info, err = r.LookupSecret(ctx, "app", "missing")
	require.NoError(t, err)
	assert.True(t, info.Exists)
}

// countingReviews answers SubjectAccessReviews slowly enough for concurrent
// requests to overlap, denying every one, and counts them; fail makes the
// review of that resource fail.
type countingReviews struct {
	client.Writer
	n    atomic.Int64
	fail string
}

func (c *countingReviews) Create(_ context.Context, obj client.Object, _ ...client.CreateOption) error {
	sar := obj.(*authorizationv1.SubjectAccessReview)
	c.n.Add(1)
	time.Sleep(20 * time.Millisecond)
	if sar.Spec.ResourceAttributes.Resource == c.fail {
		return errors.New("the API server is overloaded")
	}
	sar.Status.Allowed = false
	return nil
}

// A storm of requests naming one account that lacks its permissions asks the
// API server each question once at a time, not once per request, and a
// review that fails spoils only its own question.
func TestConcurrentRequestsShareReviews(t *testing.T) {
	perms := []validate.Permission{{Resource: "pods", Verb: "list"}, {Resource: "services", Verb: "list"}, {Resource: "nodes", Verb: "list"}}
	tests := []struct {
		name    string
		fail    string
		wantErr bool
	}{
		{name: "every review answers"},
		{name: "one review fails", fail: "nodes", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &countingReviews{fail: tt.fail}
			r := NewReviewer(nil, w)
			var wg sync.WaitGroup
			var failed atomic.Int64
			const requests = 50
			for range requests {
				wg.Add(1)
				go func() {
					defer wg.Done()
					missing, err := r.MissingPermissions(context.Background(), "obs", "ta", perms)
					if err != nil {
						failed.Add(1)
						assert.Contains(t, err.Error(), "list nodes")
						return
					}
					assert.Len(t, missing, len(perms))
				}()
			}
			wg.Wait()
			// Each question is asked once; only the failed one again.
			assert.LessOrEqual(t, w.n.Load(), int64(2*len(perms)), "reviews sent for %d requests × %d permissions", requests, len(perms))
			assert.Equal(t, tt.wantErr, failed.Load() > 0)
		})
	}
}

// slowReviews answers after delay, granting everything, unless the
// review's context ends first. With gate set, a review says so on started
// and answers only once gate is closed.
type slowReviews struct {
	client.Writer
	n       atomic.Int64
	delay   atomic.Int64 // nanoseconds
	gate    chan struct{}
	started chan struct{}
}

func (c *slowReviews) Create(ctx context.Context, obj client.Object, _ ...client.CreateOption) error {
	c.n.Add(1)
	if c.gate != nil {
		c.started <- struct{}{}
		select {
		case <-c.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	} else {
		select {
		case <-time.After(time.Duration(c.delay.Load())):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	obj.(*authorizationv1.SubjectAccessReview).Status.Allowed = true
	return nil
}

// One requester's burst spends its own budget, not another's; past it the
// requester gets the last known answer, or ErrBudget when there is none.
func TestBudgetPerRequester(t *testing.T) {
	w := &slowReviews{}
	r := NewReviewer(nil, w)
	r.Budget, r.Burst = 0.001, 3
	perm := func(i int) []validate.Permission {
		return []validate.Permission{{Resource: fmt.Sprintf("r%d", i), Verb: "list"}}
	}
	mallory := WithRequester(context.Background(), "mallory")
	for i := range 3 {
		_, err := r.MissingPermissions(mallory, "obs", "ta", perm(i))
		require.NoError(t, err)
	}
	_, err := r.MissingPermissions(mallory, "obs", "ta", perm(3))
	require.ErrorIs(t, err, ErrBudget)

	// Answers already known still serve her, marked as stale once expired.
	r.InvalidateRBAC()
	ctx, note := WithStaleNote(mallory)
	missing, err := r.MissingPermissions(ctx, "obs", "ta", perm(0))
	require.NoError(t, err)
	assert.Empty(t, missing)
	n, _, why := note.Stale()
	assert.Equal(t, 1, n)
	assert.ErrorIs(t, why, ErrBudget)

	// Alice has a budget of her own.
	alice := WithRequester(context.Background(), "alice")
	_, err = r.MissingPermissions(alice, "obs", "ta", perm(4))
	require.NoError(t, err)
	// The audit (no requester) has no budget.
	for i := range 10 {
		_, err = r.MissingPermissions(context.Background(), "obs", "ta", perm(10+i))
		require.NoError(t, err)
	}
}

// A slow API server makes a request wait at most Wait: then it is answered
// from the last known result, noted as stale, and the call it started goes
// on to refresh the cache for the next request.
func TestSlowAPIServerAnswersFromLastKnown(t *testing.T) {
	w := &slowReviews{}
	r := NewReviewer(nil, w)
	r.Wait = 50 * time.Millisecond
	perms := []validate.Permission{{Resource: "pods", Verb: "list"}}
	ctx := context.Background()
	_, err := r.MissingPermissions(ctx, "obs", "ta", perms)
	require.NoError(t, err)

	w.delay.Store(int64(300 * time.Millisecond))
	r.InvalidateRBAC()
	sctx, note := WithStaleNote(ctx)
	start := time.Now()
	missing, err := r.MissingPermissions(sctx, "obs", "ta", perms)
	require.NoError(t, err)
	assert.Empty(t, missing)
	assert.Less(t, time.Since(start), 250*time.Millisecond, "the request did not wait for the API server")
	n, _, why := note.Stale()
	assert.Equal(t, 1, n)
	assert.ErrorIs(t, why, context.DeadlineExceeded)

	// The refresh completes in the background and serves the next request fresh.
	require.Eventually(t, func() bool {
		a, ok := r.lookup(sarKey("system:serviceaccount:obs:ta", authorizationv1.ResourceAttributes{Verb: "list", Resource: "pods"}))
		return ok && a.gen == r.rbacGen.Load()
	}, 2*time.Second, 10*time.Millisecond)
	sctx, note = WithStaleNote(ctx)
	_, err = r.MissingPermissions(sctx, "obs", "ta", perms)
	require.NoError(t, err)
	n, _, _ = note.Stale()
	assert.Zero(t, n)

	// With nothing known, a slow API server is an error (not checked), in time.
	_, err = r.MissingPermissions(ctx, "obs", "other", perms)
	require.Error(t, err)
}

// A request that gives up does not spoil the shared call of the others.
func TestCancelledRequestDoesNotCancelSharedCall(t *testing.T) {
	w := &slowReviews{gate: make(chan struct{}), started: make(chan struct{}, 1)}
	r := NewReviewer(nil, w)
	r.Wait = 0
	perms := []validate.Permission{{Resource: "pods", Verb: "list"}}
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() {
		_, err := r.MissingPermissions(ctx, "obs", "ta", perms)
		gaveUp <- err
	}()
	<-w.started // the first request's review is on its way
	done := make(chan error, 1)
	go func() {
		_, err := r.MissingPermissions(context.Background(), "obs", "ta", perms)
		done <- err
	}()
	cancel()
	require.Error(t, <-gaveUp)
	// Had the give-up ended the shared call, the second request would
	// have its error, or ask again (a second review).
	close(w.gate)
	require.NoError(t, <-done)
	assert.EqualValues(t, 1, w.n.Load())
}

// A requester who spent the budget cannot have it back by making others
// appear: new requesters push out the least recently used ones, never the
// active one, and the cache of budgets stays bounded.
func TestBudgetIsNotResetByNewRequesters(t *testing.T) {
	r := NewReviewer(nil, &slowReviews{})
	r.Budget, r.Burst = 0.001, 1
	// A deadline makes the limiter answer at once when no token comes
	// in time, as the webhook's requests have.
	mallory, cancel := context.WithTimeout(WithRequester(context.Background(), "mallory"), time.Minute)
	defer cancel()
	require.True(t, r.spend(mallory))
	for i := range maxEntries + 10 {
		if i%1000 == 0 {
			// mallory keeps asking: she stays among the recently used.
			assert.False(t, r.spend(mallory), "after %d other requesters", i)
		}
		short, cancel := context.WithTimeout(WithRequester(context.Background(), fmt.Sprintf("u%d", i)), time.Millisecond)
		r.spend(short)
		cancel()
	}
	assert.LessOrEqual(t, r.budgets.Len(), maxEntries)
}

// A subresource is asked as such, and its answer is not the resource's:
// the kubelet asks for get nodes/metrics (TA017), the TA's own RBAC for get
// nodes.
func TestSubresourcesAreAskedApart(t *testing.T) {
	var asked []authorizationv1.ResourceAttributes
	s := runtime.NewScheme()
	require.NoError(t, authorizationv1.AddToScheme(s))
	c := fake.NewClientBuilder().WithScheme(s).WithInterceptorFuncs(interceptor.Funcs{
		Create: func(_ context.Context, _ client.WithWatch, obj client.Object, _ ...client.CreateOption) error {
			sar := obj.(*authorizationv1.SubjectAccessReview)
			asked = append(asked, *sar.Spec.ResourceAttributes)
			sar.Status.Allowed = sar.Spec.ResourceAttributes.Subresource == ""
			return nil
		},
	}).Build()
	r := NewReviewer(c, c)
	nodes := validate.Permission{Resource: "nodes", Verb: "get"}
	metrics := validate.Permission{Resource: "nodes", Subresource: "metrics", Verb: "get"}
	missing, err := r.MissingPermissions(context.Background(), "obs", "c-collector", []validate.Permission{nodes})
	require.NoError(t, err)
	assert.Empty(t, missing)
	missing, err = r.MissingPermissions(context.Background(), "obs", "c-collector", []validate.Permission{metrics})
	require.NoError(t, err)
	assert.Equal(t, []validate.Permission{metrics}, missing, "not the cached answer for nodes")
	require.Len(t, asked, 2)
	assert.Equal(t, authorizationv1.ResourceAttributes{Verb: "get", Resource: "nodes", Subresource: "metrics"}, asked[1])
	assert.Equal(t, "get nodes/metrics", metrics.String())
}

// Past maxEntries the least recently used answers are forgotten, one at a
// time: a flood of new questions cannot wipe the answers in use.
func TestAnswersForgetTheLeastRecentlyUsed(t *testing.T) {
	r := NewReviewer(nil, nil)
	r.store("in use", true, 0)
	for i := range maxEntries {
		if i%1000 == 0 {
			_, ok := r.lookup("in use") // asked all along
			require.True(t, ok)
		}
		r.store(fmt.Sprintf("flood %d", i), false, 0)
	}
	_, ok := r.lookup("in use")
	assert.True(t, ok, "an answer in use survives the flood")
	_, ok = r.lookup("flood 0")
	assert.False(t, ok, "the least recently used is forgotten")
	_, ok = r.lookup(fmt.Sprintf("flood %d", maxEntries-1))
	assert.True(t, ok)
}
