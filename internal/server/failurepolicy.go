package server

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// failurePolicyKeeper sets the failurePolicy of every webhook of one
// ValidatingWebhookConfiguration once this replica is ready, and keeps it
// so. The configuration is installed failing open (Ignore): an install, an
// upgrade or a half-failed install whose replicas never become ready (no
// certificate, no image, no node) then blocks nothing, and the API server
// fails closed only once a replica can answer. A replica that stops does
// not loosen it: once enforcing, ta-guard stays enforcing.
type failurePolicyKeeper struct {
	reader client.Reader
	writer client.Writer
	name   string
	want   admissionregistrationv1.FailurePolicyType
	// ready is this replica's readiness: the same checks as /readyz.
	ready []func(*http.Request) error
	// every is how often the configuration is looked at again, so that an
	// upgrade that rewrote it is followed (1 minute).
	every time.Duration
	log   logr.Logger
}

// NeedLeaderElection: every ready replica may tighten it; the update is
// the same from each.
func (*failurePolicyKeeper) NeedLeaderElection() bool { return false }

func (k *failurePolicyKeeper) Start(ctx context.Context) error {
	// Readiness is polled: the checks are functions, not events.
	err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(context.Context) (bool, error) {
		for _, r := range k.ready {
			if r(nil) != nil {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return nil // stopped before ready: nothing to keep
	}
	every := k.every
	if every <= 0 {
		every = time.Minute
	}
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		if err := k.keep(ctx); err != nil {
			k.log.Error(err, "setting the webhook configuration's failurePolicy", "configuration", k.name, "failurePolicy", k.want)
		}
	}, every)
	return nil
}

// keep sets the failurePolicy of each webhook of the configuration to want.
func (k *failurePolicyKeeper) keep(ctx context.Context) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var c admissionregistrationv1.ValidatingWebhookConfiguration
		if err := k.reader.Get(ctx, client.ObjectKey{Name: k.name}, &c); err != nil {
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("ValidatingWebhookConfiguration %s not found", k.name)
			}
			return err
		}
		changed := 0
		for i := range c.Webhooks {
			if fp := c.Webhooks[i].FailurePolicy; fp == nil || *fp != k.want {
				c.Webhooks[i].FailurePolicy = &k.want
				changed++
			}
		}
		if changed == 0 {
			return nil
		}
		if err := k.writer.Update(ctx, &c); err != nil {
			return err
		}
		k.log.Info("webhook configuration's failurePolicy set", "configuration", k.name, "failurePolicy", k.want, "webhooks", changed)
		return nil
	})
}
