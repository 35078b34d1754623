package envtest

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/ta-guard/ta-guard/internal/server"
	"github.com/ta-guard/ta-guard/internal/webhook"
	"github.com/ta-guard/ta-guard/test/testenv"
)

// outageLoad is what the admission clients saw, by phase.
type outageLoad struct {
	mu sync.Mutex
	// answers counts the answers per phase and kind of answer.
	answers map[string]map[string]int
	errs    []string
	slowest time.Duration
}

func (l *outageLoad) record(phase string, resp error, kind string, took time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if took > l.slowest {
		l.slowest = took
	}
	if resp != nil {
		l.errs = append(l.errs, fmt.Sprintf("%s: %v (after %s)", phase, resp, took.Round(time.Millisecond)))
		return
	}
	if l.answers[phase] == nil {
		l.answers[phase] = map[string]int{}
	}
	l.answers[phase][kind]++
}

// count is how many answers of phase there were (of kind, when given).
func (l *outageLoad) count(phase, kind string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for k, c := range l.answers[phase] {
		if kind == "" || k == kind {
			n += c
		}
	}
	return n
}

// TestAPIServerOutage stops the real kube-apiserver under a steady stream of
// admission requests and starts it again (etcd stays up; port and
// certificates are kept, as a restarted control plane node keeps them).
// Every request must get an answer within the webhook's timeoutSeconds,
// checked from the cache or admitted "not checked", none an error; /readyz
// must stay 200 and say that it answers from the cache; afterwards the
// informers follow the cluster again.
func TestAPIServerOutage(t *testing.T) {
	healthPort := testenv.FreeLoopbackPort(t)
	lw := startWebhook(t, webhookSetup{
		CRDs: []string{"monitoring"},
		// The suite posts reviews itself, without the API server's
		// client certificate.
		Unverified: true,
		Env: func(env *envtest.Environment) {
			// A directory of ours: Stop keeps what Start generated in it,
			// so the restarted server has the same certificates.
			env.ControlPlane.GetAPIServer().CertDir = t.TempDir()
			// kube-apiserver drains its watches for longer than a test
			// should wait: after 2 s it is killed, as a crashed node is.
			env.ControlPlaneStopTimeout = 2 * time.Second
		},
		Tune: func(o *server.Options) {
			o.HealthAddr = fmt.Sprintf("127.0.0.1:%d", healthPort)
			o.AccessCacheTTL = 30 * time.Second // as deployed
			o.AccessBudget, o.AccessBurst = 0, 0
		},
	})
	ctx, k := lw.ctx, lw.k
	timeout := time.Duration(*validatingWebhook().Webhooks[0].TimeoutSeconds) * time.Second
	readyz := func() (int, string) {
		c := &http.Client{Timeout: 2 * time.Second}
		resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", healthPort))
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	require.NoError(t, k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "opentelemetry"}}))
	for _, f := range []string{"testdata/seed/collector-sm-selector-app.yaml", "testdata/seed/service.yaml"} {
		for _, o := range objectsOf(t, f) {
			_, err := k.apply(ctx, o)
			require.NoError(t, err, f)
		}
	}
	collector := objectsOf(t, "testdata/seed/collector-sm-selector-app.yaml")[0]
	waitForStore(t, lw.srv, []*unstructured.Unstructured{collector}, -1)
	// The monitor lacks app=my-app: from the cache, the answer is TA101.
	monitor := objectsOf(t, "testdata/seed/servicemonitor.yaml")[0]
	waitFor(t, "/readyz ok", func() bool { c, b := readyz(); return c == 200 && b == "ok\n" })
	require.Contains(t, strings.Join(reviewAt(t, fmt.Sprintf("%s:%d", lw.host, lw.port), monitor).Warnings, "\n"), "TA101 ServiceMonitor opentelemetry/sm-example")

	load := &outageLoad{answers: map[string]map[string]int{}}
	var phaseMu sync.Mutex
	phase := "before"
	setPhase := func(p string) { phaseMu.Lock(); phase = p; phaseMu.Unlock() }
	getPhase := func() string { phaseMu.Lock(); defer phaseMu.Unlock(); return phase }

	stop := make(chan struct{})
	var wg sync.WaitGroup
	addr := fmt.Sprintf("%s:%d", lw.host, lw.port)
	// Monitors are answered from the informers alone; collectors also ask
	// the API server about their service account's permissions: the same
	// account (its answer cached) or a new one each time (asked anew, so
	// during the outage admitted "not checked").
	for i, obj := range []*unstructured.Unstructured{monitor, collector, monitor, collector} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := reviewClient(timeout)
			// A steady pace, not a flood: the phases are told apart by
			// the answers they got.
			pace := time.NewTicker(20 * time.Millisecond)
			defer pace.Stop()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				case <-pace.C:
				}
				if i == 3 {
					obj = obj.DeepCopy()
					require.NoError(t, unstructured.SetNestedField(obj.Object, fmt.Sprintf("new-account-%d", n), "spec", "targetAllocator", "serviceAccount"))
				}
				p := getPhase()
				start := time.Now()
				resp, err := postReview(c, addr, obj)
				took := time.Since(start)
				if err == nil && !resp.Allowed {
					err = fmt.Errorf("denied: %v", resp.Result)
				}
				kind := obj.GetKind() + " checked"
				if err == nil && strings.Contains(strings.Join(resp.Warnings, "\n"), webhook.NotChecked) {
					kind = obj.GetKind() + " not checked"
				}
				load.record(p, err, kind, took)
			}
		}()
	}

	waitFor(t, "answers of both kinds before the outage", func() bool {
		return load.count("before", "ServiceMonitor checked") >= 10 && load.count("before", "OpenTelemetryCollector checked") >= 10
	})
	apiServer := lw.env.ControlPlane.GetAPIServer()
	setPhase("outage")
	stopAt := time.Now()
	if err := apiServer.Stop(); err != nil {
		require.Contains(t, err.Error(), "timeout waiting for process kube-apiserver to stop", "then it was killed")
	}
	t.Logf("kube-apiserver stopped in %s", time.Since(stopAt).Round(time.Millisecond))

	waitFor(t, "/readyz saying it answers from the cache", func() bool {
		c, b := readyz()
		return c == 200 && strings.Contains(b, "answering from the cache")
	})
	code, body := readyz()
	t.Logf("/readyz during the outage: %d %s", code, strings.TrimSpace(body))
	assert.Contains(t, body, "the API server is unreachable since")
	// Keep it down for a sustained stream of answers, long enough for the
	// informers' watches to fail and retry under it.
	waitFor(t, "answers of every kind during the outage", func() bool {
		return load.count("outage", "") >= 200 &&
			load.count("outage", "ServiceMonitor checked") >= 20 &&
			load.count("outage", "OpenTelemetryCollector not checked") >= 5
	})
	code, body = readyz()
	assert.Equal(t, http.StatusOK, code, "readiness stays while the cache is usable: %s", body)
	select {
	case err := <-lw.stopped:
		t.Fatalf("ta-guard stopped during the outage: %v", err)
	default:
	}

	require.NoError(t, apiServer.Start(), "restarting kube-apiserver")
	restarted := time.Now()
	setPhase("after")
	t.Logf("API server down for %s", time.Since(stopAt).Round(time.Second))
	waitFor(t, "/readyz back to ok", func() bool { c, b := readyz(); return c == 200 && b == "ok\n" })
	waitFor(t, "answers after the outage", func() bool {
		return load.count("after", "ServiceMonitor checked") >= 10 && load.count("after", "OpenTelemetryCollector checked") >= 10
	})
	close(stop)
	wg.Wait()

	load.mu.Lock()
	t.Logf("answers by phase: %v; slowest %s", load.answers, load.slowest.Round(time.Millisecond))
	assert.Empty(t, load.errs, "every request is answered, none an error")
	assert.Less(t, load.slowest, timeout, "every answer within timeoutSeconds")
	outage := 0
	for _, n := range load.answers["outage"] {
		outage += n
	}
	assert.Greater(t, outage, 20, "requests were sent during the outage")
	assert.Positive(t, load.answers["outage"]["ServiceMonitor checked"], "monitors are still checked from the cache")
	assert.Positive(t, load.answers["outage"]["OpenTelemetryCollector not checked"], "a permission never asked before cannot be answered")
	load.mu.Unlock()

	select {
	case err := <-lw.stopped:
		t.Fatalf("ta-guard stopped: %v", err)
	default:
	}
	// Through the restarted API server: the webhook is called and answers
	// from a cache that follows the cluster again.
	k2, err := newKube(lw.cfg)
	require.NoError(t, err)
	var warns []string
	waitFor(t, "a dry run through the restarted API server", func() bool {
		k2.warn.take()
		m := monitor.DeepCopy()
		if err := k2.Create(ctx, m, client.DryRunAll); err != nil {
			t.Logf("dry run: %v", err)
			return false
		}
		warns = k2.warn.take()
		return true
	})
	assert.Contains(t, strings.Join(warns, "\n"), "TA101 ServiceMonitor opentelemetry/sm-example")
	labelled := objectsOf(t, "testdata/seed/servicemonitor-labelled-app.yaml")[0]
	labelled.SetName("made-after-the-outage")
	_, err = k2.apply(ctx, labelled)
	require.NoError(t, err)
	// The informers' watches come back on their own backoff (up to 30 s
	// in client-go), not on ours.
	waitWithin(t, 90*time.Second, "the informers to see a ServiceMonitor made after the outage", func() bool { return lw.srv.Store.Has(refOf(labelled)) })
	t.Logf("informers followed the cluster again %s after the restart", time.Since(restarted).Round(time.Millisecond))
}
