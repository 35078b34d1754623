// Package access answers the questions about a TA's service account that
// only the API server can: does it exist, and what may it do.
//
// Admission sits on the API server's hot path and one collector asks about
// 28 questions, so every answer is a bounded, shared cost:
//   - an answer, granted or refused, is cached until its TTL passes or the
//     objects it depends on change (the server watches RBAC objects and
//     ServiceAccounts and calls InvalidateRBAC / InvalidateAccounts), so a
//     fix is seen at the next apply while a storm of requests naming an
//     account that lacks its permissions asks each question once;
//   - concurrent requests asking the same question share one API call, made
//     on a context of its own so that one request giving up does not spoil
//     it for the others (its answer is cached for the next request);
//   - each requester has a budget of API calls (WithRequester), so one
//     user's burst cannot use up the client's rate limit for everyone;
//   - a request waits on the API server at most Wait; then, and when its
//     budget is spent, it is answered from the last known result, noted in
//     the context (WithStaleNote) so the answer can say so.
package access

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/lru"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ta-guard/ta-guard/pkg/validate"
)

// ErrBudget is returned for a question the requester's budget does not pay
// for and no earlier answer exists.
var ErrBudget = errors.New("this requester's budget of access reviews is spent; try again in a few seconds")

// Reviewer implements the account half of validate.Facts.
type Reviewer struct {
	// Reader reads ServiceAccounts directly from the API server: ta-guard
	// keeps only their metadata's changes (to invalidate answers), not the
	// objects.
	Reader client.Reader
	// Creator creates SubjectAccessReviews.
	Creator client.Writer
	// TTL is how long an answer is reused while nothing it depends on
	// changes. The watch invalidates sooner; the TTL bounds what a missed
	// event (a watch gap) can cost.
	TTL time.Duration
	// Wait bounds how long one request waits for an answer from the API
	// server before it takes the last known one (0: as long as its context).
	Wait time.Duration
	// CallTimeout bounds one API call, which outlives the request that
	// started it so that its answer is cached.
	CallTimeout time.Duration
	// Budget and Burst are each requester's rate of API calls (0: no budget).
	Budget rate.Limit
	Burst  int
	// Parallel bounds concurrent reviews per request.
	Parallel int
	// ReadSecrets lets LookupSecret read Secrets (TA109). Off by default:
	// the API server grants a Secret's keys, and even its existence, only
	// with get on Secrets, which hands over the values too, and ta-guard is
	// installed without it (serve --check-secret-keys turns this on, the
	// secret-keys kustomize component grants the access).
	ReadSecrets bool
	now         func() time.Time

	// rbacGen and accountGen count changes to RBAC objects and to
	// ServiceAccounts: an answer computed under an older count is stale.
	rbacGen, accountGen atomic.Uint64

	mu sync.Mutex
	// answers are the last answers by question, kept past their TTL as
	// the fallback when the API server does not answer; the least
	// recently used forgotten past maxEntries.
	answers *lru.Cache
	// budgets are the requesters' limiters, the least recently used
	// forgotten past maxEntries: a flood of new requesters cannot reset
	// the budgets of those already spending theirs.
	budgets *lru.Cache
	// inflight shares one API call among concurrent requests asking the
	// same question.
	inflight singleflight.Group
}

type answer struct {
	ok  bool
	at  time.Time
	gen uint64
}

// maxEntries bounds the cache and the budgets: past it they are forgotten
// rather than grown without limit.
const maxEntries = 20000

// NewReviewer returns a reviewer with a 30 s cache, a 1.5 s wait and a budget
// of 10 API calls per second (bursts of 60: two new collectors at once) for
// each requester.
func NewReviewer(r client.Reader, w client.Writer) *Reviewer {
	return &Reviewer{Reader: r, Creator: w, TTL: 30 * time.Second, Wait: 1500 * time.Millisecond,
		CallTimeout: 10 * time.Second, Budget: 10, Burst: 60, Parallel: 8, now: time.Now,
		answers: lru.New(maxEntries), budgets: lru.New(maxEntries)}
}

// InvalidateRBAC marks every permission answer stale: a Role, ClusterRole or
// binding changed.
func (r *Reviewer) InvalidateRBAC() { r.rbacGen.Add(1) }

// InvalidateAccounts marks every account-existence answer stale.
func (r *Reviewer) InvalidateAccounts() { r.accountGen.Add(1) }

type requesterKey struct{}

// WithRequester names who a request's questions are asked for: each
// requester spends its own budget. The audit asks without one.
func WithRequester(ctx context.Context, user string) context.Context {
	return context.WithValue(ctx, requesterKey{}, user)
}

// StaleNote records that some answers of a request came from the last
// known result rather than from the API server.
type StaleNote struct {
	mu     sync.Mutex
	n      int
	oldest time.Duration
	why    error
}

type staleKey struct{}

// WithStaleNote returns a context whose answers note when they are stale.
func WithStaleNote(ctx context.Context) (context.Context, *StaleNote) {
	n := &StaleNote{}
	return context.WithValue(ctx, staleKey{}, n), n
}

// Stale reports how many answers were stale, the oldest one's age and why.
func (n *StaleNote) Stale() (int, time.Duration, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.n, n.oldest, n.why
}

func noteStale(ctx context.Context, age time.Duration, why error) {
	n, _ := ctx.Value(staleKey{}).(*StaleNote)
	if n == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.n++
	n.oldest = max(n.oldest, age)
	if n.why == nil {
		n.why = why
	}
}

// spend takes one API call from the requester's budget, waiting for it as
// long as ctx allows: a legitimate burst is smoothed, a storm is refused at
// once when its wait would outlast the request (rate.Limiter knows ahead).
func (r *Reviewer) spend(ctx context.Context) bool {
	user, _ := ctx.Value(requesterKey{}).(string)
	if user == "" || r.Budget <= 0 {
		return true
	}
	r.mu.Lock()
	if r.budgets == nil {
		r.budgets = lru.New(maxEntries)
	}
	var l *rate.Limiter
	if v, ok := r.budgets.Get(user); ok {
		l = v.(*rate.Limiter)
	} else {
		l = rate.NewLimiter(r.Budget, max(r.Burst, 1))
		r.budgets.Add(user, l)
	}
	r.mu.Unlock()
	return l.Wait(ctx) == nil
}

func (r *Reviewer) lookup(key string) (answer, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.answers == nil {
		return answer{}, false
	}
	v, ok := r.answers.Get(key)
	if !ok {
		return answer{}, false
	}
	return v.(answer), true
}

func (r *Reviewer) store(key string, ok bool, gen uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.answers == nil {
		r.answers = lru.New(maxEntries)
	}
	r.answers.Add(key, answer{ok: ok, at: r.now(), gen: gen})
}

func (r *Reviewer) fresh(a answer, known bool, gen *atomic.Uint64) bool {
	return known && a.gen == gen.Load() && r.now().Sub(a.at) <= r.TTL
}

// answer returns the cached answer to key while it is fresh, and otherwise
// asks, within the requester's budget and the reviewer's Wait, falling back
// to the last known answer.
func (r *Reviewer) answer(ctx context.Context, key string, gen *atomic.Uint64, ask func(context.Context) (bool, error)) (bool, error) {
	last, known := r.lookup(key)
	if r.fresh(last, known, gen) {
		return last.ok, nil
	}
	fallback := func(why error) (bool, error) {
		if known {
			noteStale(ctx, r.now().Sub(last.at), why)
			return last.ok, nil
		}
		return false, why
	}
	wait := ctx
	if r.Wait > 0 {
		var cancel context.CancelFunc
		wait, cancel = context.WithTimeout(ctx, r.Wait)
		defer cancel()
	}
	if !r.spend(wait) {
		return fallback(ErrBudget)
	}
	ch := r.inflight.DoChan(key, func() (any, error) {
		// The call is shared and its answer cached: it must not end when
		// the request that started it gives up.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.CallTimeout)
		defer cancel()
		g := gen.Load() // before asking: a change during the call makes the answer stale
		ok, err := ask(cctx)
		if err == nil {
			r.store(key, ok, g)
		}
		return ok, err
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return fallback(res.Err)
		}
		return res.Val.(bool), nil
	case <-wait.Done():
		return fallback(fmt.Errorf("the API server did not answer within %s: %w", r.Wait, wait.Err()))
	}
}

// ServiceAccountExists implements validate.Facts.
func (r *Reviewer) ServiceAccountExists(ctx context.Context, namespace, name string) (bool, error) {
	return r.answer(ctx, "sa/"+namespace+"/"+name, &r.accountGen, func(ctx context.Context) (bool, error) {
		err := r.Reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &corev1.ServiceAccount{})
		switch {
		case err == nil:
			return true, nil
		case apierrors.IsNotFound(err):
			return false, nil
		}
		return false, err
	})
}

// review asks one SubjectAccessReview as the account.
func (r *Reviewer) review(ctx context.Context, namespace, account string, attrs authorizationv1.ResourceAttributes) (bool, error) {
	user, groups := serviceAccountUser(namespace, account)
	return r.answer(ctx, sarKey(user, attrs), &r.rbacGen, func(ctx context.Context) (bool, error) {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: user, Groups: groups, ResourceAttributes: &attrs,
		}}
		if err := r.Creator.Create(ctx, sar); err != nil {
			return false, err
		}
		return sar.Status.Allowed, nil
	})
}

func sarKey(user string, attrs authorizationv1.ResourceAttributes) string {
	// The subresource is part of the question: get nodes and get
	// nodes/metrics are answered apart.
	return fmt.Sprintf("sar/%s/%s %s.%s/%s/%s in %q", user, attrs.Verb, attrs.Resource, attrs.Group, attrs.Subresource, attrs.Name, attrs.Namespace)
}

func permissionAttrs(p validate.Permission) authorizationv1.ResourceAttributes {
	return authorizationv1.ResourceAttributes{Namespace: p.Namespace, Verb: p.Verb, Group: p.Group, Resource: p.Resource, Subresource: p.Subresource}
}

// MissingPermissions implements validate.Facts with one SubjectAccessReview
// per permission, as the service account (system:serviceaccount:ns:name).
func (r *Reviewer) MissingPermissions(ctx context.Context, namespace, account string, perms []validate.Permission) ([]validate.Permission, error) {
	allowed := make([]bool, len(perms))
	errs := make([]error, len(perms))
	sem := make(chan struct{}, max(r.Parallel, 1))
	var wg sync.WaitGroup
	user, _ := serviceAccountUser(namespace, account)
	for i, p := range perms {
		// The usual case on the admission path: every answer cached, no
		// goroutine needed.
		if a, known := r.lookup(sarKey(user, permissionAttrs(p))); r.fresh(a, known, &r.rbacGen) {
			allowed[i] = a.ok
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			ok, err := r.review(ctx, namespace, account, permissionAttrs(p))
			if err != nil {
				err = fmt.Errorf("%s: %w", p, err)
			}
			allowed[i], errs[i] = ok, err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var missing []validate.Permission
	for i, p := range perms {
		if !allowed[i] {
			missing = append(missing, p)
		}
	}
	return missing, nil
}

// serviceAccountUser is who the API server takes a pod running as the
// account to be: its user name and the groups every service account is in.
func serviceAccountUser(namespace, account string) (string, []string) {
	return fmt.Sprintf("system:serviceaccount:%s:%s", namespace, account),
		[]string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"}
}

// MayGetSecret implements validate.Facts with one SubjectAccessReview for
// get on that one Secret: a Role may grant it by resourceNames, so a review
// of get on Secrets in general would say no where the TA's request succeeds.
func (r *Reviewer) MayGetSecret(ctx context.Context, namespace, account, secretNamespace, secret string) (bool, error) {
	ok, err := r.review(ctx, namespace, account, authorizationv1.ResourceAttributes{
		Namespace: secretNamespace, Verb: "get", Resource: "secrets", Name: secret,
	})
	if err != nil {
		return false, fmt.Errorf("get secrets/%s in %s: %w", secret, secretNamespace, err)
	}
	return ok, nil
}

// LookupSecret implements validate.Facts. It reads the Secret straight from
// the API server, keeps only the names of its keys and drops the values at
// once; nothing is cached, so a Secret just created or fixed is seen at the
// next request. A namespace whose Secrets ta-guard may not read (the grant
// narrowed to some namespaces) is left unchecked rather than reported.
func (r *Reviewer) LookupSecret(ctx context.Context, namespace, name string) (validate.SecretInfo, error) {
	if !r.ReadSecrets {
		return validate.SecretInfo{}, nil
	}
	var s corev1.Secret
	err := r.Reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &s)
	switch {
	case err == nil:
		keys := make([]string, 0, len(s.Data))
		for k := range s.Data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return validate.SecretInfo{Checked: true, Exists: true, Keys: keys}, nil
	case apierrors.IsNotFound(err):
		return validate.SecretInfo{Checked: true}, nil
	case apierrors.IsForbidden(err):
		return validate.SecretInfo{}, nil
	}
	return validate.SecretInfo{}, err
}
