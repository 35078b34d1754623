package server

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// The configuration fails open until a replica is ready: a replica that
// never becomes ready leaves Ignore as installed, and a ready one sets
// the failurePolicy it was given on every webhook, and sets it again when
// an upgrade has rewritten it.
func TestFailurePolicyIsSetOnlyOnceReady(t *testing.T) {
	ignore := admissionregistrationv1.Ignore
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "ta-guard"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{
			{Name: "validate.ta-guard.io", FailurePolicy: &ignore},
			{Name: "other.ta-guard.io"},
		},
	}
	c := fake.NewClientBuilder().WithObjects(vwc).Build()
	failurePolicies := func() []admissionregistrationv1.FailurePolicyType {
		var got admissionregistrationv1.ValidatingWebhookConfiguration
		require.NoError(t, c.Get(context.Background(), client.ObjectKey{Name: "ta-guard"}, &got))
		var out []admissionregistrationv1.FailurePolicyType
		for _, w := range got.Webhooks {
			if w.FailurePolicy == nil {
				out = append(out, "")
			} else {
				out = append(out, *w.FailurePolicy)
			}
		}
		return out
	}
	var ready atomic.Bool
	checked := make(chan struct{}, 1000)
	k := &failurePolicyKeeper{
		reader: c, writer: c, name: "ta-guard", want: admissionregistrationv1.Fail,
		ready: []func(*http.Request) error{func(*http.Request) error {
			select {
			case checked <- struct{}{}:
			default:
			}
			if ready.Load() {
				return nil
			}
			return errors.New("informers not synced")
		}},
		every: 50 * time.Millisecond,
		log:   logr.Discard(),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	// Not ready, looked at three times: nothing changes.
	for range 3 {
		select {
		case <-checked:
		case <-time.After(10 * time.Second):
			t.Fatal("readiness was not checked")
		}
	}
	assert.Equal(t, []admissionregistrationv1.FailurePolicyType{admissionregistrationv1.Ignore, ""}, failurePolicies())

	ready.Store(true)
	require.Eventually(t, func() bool {
		fp := failurePolicies()
		return fp[0] == admissionregistrationv1.Fail && fp[1] == admissionregistrationv1.Fail
	}, 10*time.Second, 20*time.Millisecond, "a ready replica sets Fail on every webhook")

	// An upgrade writes the configuration back with Ignore: it is set again.
	var got admissionregistrationv1.ValidatingWebhookConfiguration
	require.NoError(t, c.Get(context.Background(), client.ObjectKey{Name: "ta-guard"}, &got))
	got.Webhooks[0].FailurePolicy = &ignore
	require.NoError(t, c.Update(context.Background(), &got))
	require.Eventually(t, func() bool { return failurePolicies()[0] == admissionregistrationv1.Fail },
		10*time.Second, 20*time.Millisecond)
}
