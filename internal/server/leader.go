package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// elected runs a runnable (the audit) only while this replica holds the
// Lease, and campaigns again when it loses it. controller-runtime's own
// leader election ends the whole process when the Lease is lost, and an API
// server outage longer than the renew deadline loses it: every replica
// would then restart at once, and under the enforce overlay
// (failurePolicy Fail) the cluster's changes would be refused until they
// are back. The webhook answers on every replica, leader or not, so only
// the audit depends on the Lease.
type elected struct {
	run      manager.Runnable
	lock     resourcelock.Interface
	lease    time.Duration
	renew    time.Duration
	retry    time.Duration
	log      logr.Logger
	onChange func(leading bool)
}

func newElected(cfg *rest.Config, namespace, id string, run manager.Runnable, log logr.Logger) (*elected, error) {
	if namespace == "" {
		b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
		if err != nil {
			return nil, errors.New("leader election: give --leader-election-namespace (not running in a pod)")
		}
		namespace = strings.TrimSpace(string(b))
	}
	host, _ := os.Hostname()
	cs, err := kubernetes.NewForConfig(rest.AddUserAgent(rest.CopyConfig(cfg), "leader-election"))
	if err != nil {
		return nil, fmt.Errorf("leader election: %w", err)
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, namespace, id, cs.CoreV1(), cs.CoordinationV1(),
		resourcelock.ResourceLockConfig{Identity: host + "_" + uuid.NewString()})
	if err != nil {
		return nil, fmt.Errorf("leader election: %w", err)
	}
	return &elected{run: run, lock: lock, lease: 15 * time.Second, renew: 10 * time.Second, retry: 2 * time.Second, log: log}, nil
}

// NeedLeaderElection is false: the manager starts it on every replica and
// it elects by itself.
func (e *elected) NeedLeaderElection() bool { return false }

func (e *elected) Start(ctx context.Context) error {
	for ctx.Err() == nil {
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock: e.lock, LeaseDuration: e.lease, RenewDeadline: e.renew, RetryPeriod: e.retry,
			// A clean shutdown (rolling update) hands the Lease over at once.
			ReleaseOnCancel: true,
			Name:            "ta-guard-audit",
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) {
					e.log.Info("leading: the audit runs on this replica")
					e.notify(true)
					if err := e.run.Start(ctx); err != nil {
						e.log.Error(err, "audit stopped")
					}
				},
				OnStoppedLeading: func() {
					e.log.Info("not leading: the audit stops here; the webhook goes on answering")
					e.notify(false)
				},
			},
		})
		if err != nil {
			return err
		}
		le.Run(ctx) // returns when the Lease is lost or ctx ends
	}
	return nil
}

func (e *elected) notify(leading bool) {
	if e.onChange != nil {
		e.onChange(leading)
	}
}
