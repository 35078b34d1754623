package access

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// User is who made an admission request, as the API server authenticated
// them: the SubjectAccessReview asks about exactly this identity.
type User struct {
	Name   string
	UID    string
	Groups []string
	Extra  map[string][]string
}

// Audiences answers, for requesters, whether they may read a resource in a
// namespace, so that findings name objects of other namespaces only to
// those who could list them anyway. The question is list, not get: the
// findings name objects the requester did not name (near misses, the
// Services a selector matches), which is what list would tell them; get
// on one name would let a finding reveal names one cannot guess.
type Audiences struct {
	Creator client.Writer
	// TTL is how long an answer is kept; RBAC changes take that long to
	// show in the texts (never in the verdicts).
	TTL time.Duration
	// Max bounds the cache; when full, the least recently used answer
	// goes. Read when the first answer is stored.
	Max int

	group singleflight.Group
	once  sync.Once
	cache *cache.LRUExpireCache // key -> allowed, for TTL
	now   func() time.Time
}

// NewAudiences asks through w, keeping answers 30s, at most 10,000.
func NewAudiences(w client.Writer) *Audiences {
	return &Audiences{Creator: w, TTL: 30 * time.Second, Max: 10000}
}

// For is the audience of one requester.
func (a *Audiences) For(u User) *UserAudience { return &UserAudience{a: a, u: u} }

// UserAudience implements validate.Audience for one requester.
type UserAudience struct {
	a *Audiences
	u User
}

// MaySee implements validate.Audience. An error, a timeout or a cancelled
// request all answer no: a failed review must never reveal.
func (ua *UserAudience) MaySee(ctx context.Context, namespace string, gr schema.GroupResource) bool {
	ok, err := ua.a.mayList(ctx, ua.u, namespace, gr)
	return err == nil && ok
}

func (a *Audiences) clock() time.Time {
	if a.now != nil {
		return a.now()
	}
	return time.Now()
}

// clockFunc is a cache.Clock.
type clockFunc func() time.Time

func (f clockFunc) Now() time.Time { return f() }

func (a *Audiences) answers() *cache.LRUExpireCache {
	a.once.Do(func() {
		a.cache = cache.NewLRUExpireCacheWithClock(max(a.Max, 1), clockFunc(a.clock))
	})
	return a.cache
}

func (u User) key() string {
	groups := append([]string(nil), u.Groups...)
	sort.Strings(groups)
	extra := make([]string, 0, len(u.Extra))
	for k, v := range u.Extra {
		extra = append(extra, k+"="+strings.Join(v, ","))
	}
	sort.Strings(extra)
	return fmt.Sprintf("%q %q %q %q", u.Name, u.UID, groups, extra)
}

func (a *Audiences) mayList(ctx context.Context, u User, namespace string, gr schema.GroupResource) (bool, error) {
	key := u.key() + " " + namespace + " " + gr.String()
	if v, ok := a.answers().Get(key); ok {
		return v.(bool), nil
	}
	v, err, _ := a.group.Do(key, func() (any, error) {
		extra := make(map[string]authorizationv1.ExtraValue, len(u.Extra))
		for k, v := range u.Extra {
			extra[k] = v
		}
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: u.Name, UID: u.UID, Groups: u.Groups, Extra: extra,
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: namespace, Verb: "list", Group: gr.Group, Resource: gr.Resource,
			},
		}}
		// One caller's cancelled request must not fail the others that
		// share this review.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := a.Creator.Create(rctx, sar); err != nil {
			return false, err
		}
		a.answers().Add(key, sar.Status.Allowed, a.TTL)
		return sar.Status.Allowed, nil
	})
	if err != nil {
		return false, err // not cached: the next request asks again
	}
	return v.(bool), nil
}
