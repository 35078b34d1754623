package deploy

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ta-guard/ta-guard/internal/watch"
	"github.com/ta-guard/ta-guard/test/testenv"
)

// impersonatingKubeconfig is the admin kubeconfig acting as a ServiceAccount
// of ta-guard's namespace: what the pod's token gives it in a cluster.
func impersonatingKubeconfig(t *testing.T, cl *cluster, account string) string {
	t.Helper()
	kc, err := clientcmd.Load(cl.env.KubeConfig)
	require.NoError(t, err)
	imp := asServiceAccount(cl.cfg, account).Impersonate
	require.NotEmpty(t, kc.AuthInfos)
	for _, ai := range kc.AuthInfos {
		ai.Impersonate = imp.UserName
		ai.ImpersonateGroups = imp.Groups
	}
	file := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*kc, file))
	return file
}

// replica is one process of the image's binary, run as the Deployment's
// container would run it.
type replica struct {
	cmd                      *exec.Cmd
	webhook, metrics, health string // addresses on 127.0.0.1
	certs                    *secretVolume
	log                      *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startReplica runs the binary with the container's arguments and
// environment. Paths are taken inside root (the container's file system);
// ports are free ports of 127.0.0.1; the API server is reached through
// kubeconfig instead of the pod's token.
func startReplica(t *testing.T, bin string, d deployment, root, kubeconfig string, certs *secretVolume) *replica {
	t.Helper()
	r := &replica{certs: certs, log: &syncBuffer{}}
	var args []string
	for _, a := range d.container.Args {
		name, value, hasValue := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		switch name {
		case "policy", "cert-dir":
			value = filepath.Join(root, value)
		case "port":
			p := testenv.FreeLoopbackPort(t)
			value, r.webhook = strconv.Itoa(p), "127.0.0.1:"+strconv.Itoa(p)
		case "metrics-bind-address":
			value = "127.0.0.1:" + strconv.Itoa(testenv.FreeLoopbackPort(t))
			r.metrics = value
		case "health-probe-bind-address":
			value = "127.0.0.1:" + strconv.Itoa(testenv.FreeLoopbackPort(t))
			r.health = value
		}
		if hasValue {
			a = "--" + name + "=" + value
		}
		args = append(args, a)
	}
	args = append(args, "--host=127.0.0.1")
	if _, ok := d.args["leader-elect"]; ok && d.args["leader-election-namespace"] == "" {
		// In the cluster the Lease goes to the pod's namespace.
		args = append(args, "--leader-election-namespace="+d.Namespace)
	}
	require.NotEmpty(t, r.webhook, "the Deployment passes --port")
	require.NotEmpty(t, r.health, "the Deployment passes --health-probe-bind-address")
	require.NotEmpty(t, r.metrics, "the Deployment passes --metrics-bind-address")

	r.cmd = exec.Command(bin, args...)
	// KUBECONFIG rather than --kubeconfig: the binary then loads its config
	// as in the cluster (controller-runtime's GetConfig, with its client
	// rate limits).
	r.cmd.Env = []string{"HOME=" + root, "KUBECONFIG=" + kubeconfig}
	for _, e := range d.container.Env {
		require.Nil(t, e.ValueFrom, "env %s: the test passes literal values only", e.Name)
		r.cmd.Env = append(r.cmd.Env, e.Name+"="+e.Value)
	}
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	require.NoError(t, r.cmd.Start())
	t.Cleanup(func() {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = r.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = r.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("replica %s log:\n%s", r.webhook, r.log.String())
		}
	})
	return r
}

func (r *replica) get(url string) (int, string, error) {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestReplicas runs the image's binary (TestDockerfile's build) as the
// Deployment's two replicas: the container's own arguments, environment,
// mounted policy and serving certificate, and only the rendered
// ServiceAccount's permissions. Both become ready, sync every informer,
// answer admission requests with the live rules, run the audit (reports and
// Events written with the audit's grants), and serve a certificate replaced
// the way the kubelet replaces a renewed Secret, without a restart.
func TestReplicas(t *testing.T) {
	cl := apiServer(t)
	admin, err := client.New(cl.cfg, client.Options{})
	require.NoError(t, err)
	installRBAC(t, cl, admin)
	bin := imageBinary(t)
	objs := render(t, "overlays/warn")
	d := renderedDeployment(t, objs)
	policyMap := typed[corev1.ConfigMap](t, one(t, objs, "ConfigMap", "ta-guard-policy"))
	ctx := context.Background()

	// Something for the audit to report: a ServiceMonitor no TA reads.
	require.NoError(t, client.IgnoreAlreadyExists(admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "opentelemetry"}})))
	sm := &unstructured.Unstructured{}
	data, err := os.ReadFile(filepath.Join(repoRoot, "testdata", "seed", "servicemonitor.yaml"))
	require.NoError(t, err)
	j, err := yaml.YAMLToJSON(data)
	require.NoError(t, err)
	require.NoError(t, sm.UnmarshalJSON(j))
	require.NoError(t, client.IgnoreAlreadyExists(admin.Create(ctx, sm)))

	kubeconfig := impersonatingKubeconfig(t, cl, serviceAccount)
	ca := newCA(t)
	var replicas []*replica
	for i := 0; i < int(*d.Spec.Replicas); i++ {
		root := t.TempDir()
		policyFile := filepath.Join(root, d.args["policy"])
		require.NoError(t, os.MkdirAll(filepath.Dir(policyFile), 0o755))
		require.NoError(t, os.WriteFile(policyFile, []byte(policyMap.Data[filepath.Base(policyFile)]), 0o644))
		crt, key := ca.issue(t, int64(10+i))
		certs := newSecretVolumeAt(t, filepath.Join(root, d.args["cert-dir"]), crt, key)
		replicas = append(replicas, startReplica(t, bin, d, root, kubeconfig, certs))
	}

	t.Run("every replica becomes ready: informers synced, webhook serving", func(t *testing.T) {
		for _, r := range replicas {
			waitUntil(t, 30*time.Second, "replica "+r.webhook+" /readyz", func() bool {
				if r.cmd.ProcessState != nil {
					t.Fatalf("replica exited: %s\n%s", r.cmd.ProcessState, r.log.String())
				}
				code, _, err := r.get("http://" + r.health + "/readyz")
				return err == nil && code == http.StatusOK
			})
			code, _, err := r.get("http://" + r.health + "/healthz")
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, code)
		}
	})

	reader := serviceAccountToken(t, cl, admin, "metrics-reader", metricsReaderRole)
	t.Run("the metrics answer only a token the API server authorizes for /metrics", func(t *testing.T) {
		// The binding is new and the API server's authorizer learns of it
		// through a watch; ta-guard keeps a denial for 30 s.
		stranger := serviceAccountToken(t, cl, admin, "not-a-metrics-reader", "")
		for _, r := range replicas {
			for _, tt := range []struct {
				name, token string
				want        int
			}{
				{"no token", "", http.StatusUnauthorized},
				// controller-runtime's filter answers a token the TokenReview
				// rejects with 500 ("Authentication failed"), not 401.
				{"a token the API server does not know", "not-a-token", http.StatusInternalServerError},
				{"a ServiceAccount not bound to " + metricsReaderRole, stranger, http.StatusForbidden},
				{"a ServiceAccount bound to " + metricsReaderRole, reader, http.StatusOK},
			} {
				t.Run(tt.name, func(t *testing.T) {
					var code int
					var body string
					waitUntil(t, 40*time.Second, "HTTP "+strconv.Itoa(tt.want), func() bool {
						var err error
						code, body, err = scrape(ca, r.metrics, tt.token)
						return err == nil && code == tt.want
					})
					if tt.want == http.StatusOK {
						assert.Contains(t, body, "\nta_guard_informer_synced{")
						assert.Contains(t, body, "\ncontroller_runtime_webhook_requests_total")
					} else {
						assert.NotContains(t, body, "ta_guard_", "nothing of the metrics leaks with HTTP %d", code)
					}
				})
			}
			// Go's TLS server answers plain HTTP with 400 and nothing else.
			code, body, err := r.get("http://" + r.metrics + "/metrics")
			require.NoError(t, err)
			assert.Equal(t, http.StatusBadRequest, code, "no plain HTTP on the metrics port")
			assert.NotContains(t, body, "ta_guard_")
		}
	})

	t.Run("every informer is reported synced in the metrics", func(t *testing.T) {
		for _, r := range replicas {
			code, body, err := scrape(ca, r.metrics, reader)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, code)
			got, want := map[string]string{}, map[string]string{}
			for _, line := range strings.Split(body, "\n") {
				if rest, ok := strings.CutPrefix(line, "ta_guard_informer_synced{kind="); ok {
					kind, value, _ := strings.Cut(rest, "} ")
					got[strings.Trim(kind, `"`)] = value
				}
			}
			for _, k := range watch.Kinds() {
				want[k.Name] = "1"
			}
			assert.Equal(t, want, got, "replica %s: ta_guard_informer_synced", r.webhook)
		}
	})

	hc := admissionClient(ca)
	t.Run("every replica answers, with the live rules", func(t *testing.T) {
		for _, r := range replicas {
			resp, err := review(hc, r.webhook, blindCollector(t))
			require.NoError(t, err)
			requireLiveAnswer(t, resp)
		}
	})

	t.Run("the audit writes its report and its Event", func(t *testing.T) {
		waitUntil(t, 15*time.Second, "a PolicyReport in namespace opentelemetry", func() bool {
			list := &unstructured.UnstructuredList{}
			list.SetAPIVersion("wgpolicyk8s.io/v1alpha2")
			list.SetKind("PolicyReportList")
			return admin.List(ctx, list, client.InNamespace("opentelemetry")) == nil && len(list.Items) > 0
		})
		waitUntil(t, 15*time.Second, "an Event on ServiceMonitor sm-example", func() bool {
			var evs eventsv1.EventList
			if err := admin.List(ctx, &evs, client.InNamespace("opentelemetry")); err != nil {
				return false
			}
			for _, e := range evs.Items {
				if e.Regarding.Kind == "ServiceMonitor" && e.Regarding.Name == "sm-example" {
					return true
				}
			}
			return false
		})
		for _, r := range replicas {
			assert.NotContains(t, r.log.String(), "forbidden", "replica %s met a permission it lacks", r.webhook)
		}
	})

	t.Run("a renewed certificate is served without a restart", func(t *testing.T) {
		r := replicas[0]
		serial, err := servedSerial(ca, r.webhook)
		require.NoError(t, err)
		require.Equal(t, int64(10), serial)
		crt, key := ca.issue(t, 99)
		r.certs.update(t, crt, key)
		// File events reload it at once; controller-runtime's certificate
		// watcher also polls every 10 s.
		waitUntil(t, 12*time.Second, "the new certificate served", func() bool {
			s, err := servedSerial(ca, r.webhook)
			return err == nil && s == 99
		})
		require.Nil(t, r.cmd.ProcessState, "the replica is the one started before the renewal")
		resp, err := review(hc, r.webhook, blindCollector(t))
		require.NoError(t, err)
		requireLiveAnswer(t, resp)
	})
}

// newSecretVolumeAt is newSecretVolume in a given directory (the mount point).
func newSecretVolumeAt(t *testing.T, dir string, certPEM, keyPEM []byte) *secretVolume {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	v := &secretVolume{dir: dir}
	v.update(t, certPEM, keyPEM)
	for _, f := range []string{"tls.crt", "tls.key"} {
		require.NoError(t, os.Symlink(filepath.Join("..data", f), filepath.Join(v.dir, f)))
	}
	return v
}
