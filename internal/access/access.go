// Package access answers the questions about a TA's service account that
// only the API server can: does it exist, and what may it do. Positive
// answers are cached briefly, so a burst of edits to one collector asks
// once; negative ones are not, so a user who has just fixed the account or
// its RBAC sees the warning go away at the next apply. Concurrent requests
// asking the same question share one API call.
package access

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ta-guard/ta-guard/pkg/validate"
)

// Reviewer implements the account half of validate.Facts.
type Reviewer struct {
	// Reader reads ServiceAccounts directly from the API server: ta-guard
	// keeps no informer (and needs no list/watch) for them.
	Reader client.Reader
	// Creator creates SubjectAccessReviews.
	Creator client.Writer
	// TTL is how long an answer is reused.
	TTL time.Duration
	// Parallel bounds concurrent reviews per question.
	Parallel int
	// ReadSecrets lets LookupSecret read Secrets (TA109). Off by default:
	// the API server grants a Secret's keys, and even its existence, only
	// with get on Secrets, which hands over the values too, and ta-guard is
	// installed without it (serve --check-secret-keys turns this on, the
	// secret-keys kustomize component grants the access).
	ReadSecrets bool
	now         func() time.Time

	mu      sync.Mutex
	answers map[string]answer
	// inflight shares one API call among concurrent requests asking the
	// same question: a burst of dry runs naming one account sends each
	// review once, not once per request.
	inflight singleflight.Group
}

type answer struct {
	ok bool
	at time.Time
}

// NewReviewer returns a reviewer with a 30 s cache.
func NewReviewer(r client.Reader, w client.Writer) *Reviewer {
	return &Reviewer{Reader: r, Creator: w, TTL: 30 * time.Second, Parallel: 8, now: time.Now, answers: map[string]answer{}}
}

func (r *Reviewer) cached(key string) (bool, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.answers[key]
	if !ok || r.now().Sub(a.at) > r.TTL {
		return false, false
	}
	return a.ok, true
}

func (r *Reviewer) remember(key string, ok bool) {
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.answers) > 10000 {
		// Bounded: forget everything rather than grow without limit.
		r.answers = map[string]answer{}
	}
	r.answers[key] = answer{ok: ok, at: r.now()}
}

// ServiceAccountExists implements validate.Facts.
func (r *Reviewer) ServiceAccountExists(ctx context.Context, namespace, name string) (bool, error) {
	key := "sa/" + namespace + "/" + name
	if ok, hit := r.cached(key); hit {
		return ok, nil
	}
	v, err, _ := r.inflight.Do(key, func() (any, error) {
		err := r.Reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &corev1.ServiceAccount{})
		switch {
		case err == nil:
			r.remember(key, true)
			return true, nil
		case apierrors.IsNotFound(err):
			r.remember(key, false)
			return false, nil
		}
		return false, err
	})
	return v.(bool), err
}

// MissingPermissions implements validate.Facts with one SubjectAccessReview
// per permission, as the service account (system:serviceaccount:ns:name).
func (r *Reviewer) MissingPermissions(ctx context.Context, namespace, account string, perms []validate.Permission) ([]validate.Permission, error) {
	user, groups := serviceAccountUser(namespace, account)
	allowed := make([]bool, len(perms))
	errs := make([]error, len(perms))
	sem := make(chan struct{}, max(r.Parallel, 1))
	var wg sync.WaitGroup
	for i, p := range perms {
		key := "sar/" + user + "/" + p.String()
		if ok, hit := r.cached(key); hit {
			allowed[i] = ok
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			// A failing review does not cancel the others: what they learn
			// is cached and serves the next request.
			v, err, _ := r.inflight.Do(key, func() (any, error) {
				sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
					User:   user,
					Groups: groups,
					ResourceAttributes: &authorizationv1.ResourceAttributes{
						Namespace: p.Namespace, Verb: p.Verb, Group: p.Group, Resource: p.Resource,
					},
				}}
				if err := r.Creator.Create(ctx, sar); err != nil {
					return false, fmt.Errorf("%s: %w", p, err)
				}
				r.remember(key, sar.Status.Allowed)
				return sar.Status.Allowed, nil
			})
			allowed[i], errs[i] = v.(bool), err
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
	user, groups := serviceAccountUser(namespace, account)
	key := "sar/" + user + "/get secrets/" + secretNamespace + "/" + secret
	if ok, hit := r.cached(key); hit {
		return ok, nil
	}
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   user,
		Groups: groups,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: secretNamespace, Verb: "get", Resource: "secrets", Name: secret,
		},
	}}
	v, err, _ := r.inflight.Do(key, func() (any, error) {
		if err := r.Creator.Create(ctx, sar); err != nil {
			return false, fmt.Errorf("get secrets/%s in %s: %w", secret, secretNamespace, err)
		}
		r.remember(key, sar.Status.Allowed)
		return sar.Status.Allowed, nil
	})
	return v.(bool), err
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
