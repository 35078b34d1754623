package deploy

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ta-guard/ta-guard/internal/metrics"
	"github.com/ta-guard/ta-guard/internal/server"
	"github.com/ta-guard/ta-guard/test/testenv"
)

// metricsReaderRole is the ClusterRole the manifests ship for scrapers.
const metricsReaderRole = "ta-guard-metrics-reader"

// serviceAccountToken creates a ServiceAccount of ta-guard's namespace,
// binds it to the ClusterRole role unless role is empty, and returns a real
// token of it (TokenRequest): ta-guard has the API server review it, so an
// impersonated identity would not do.
func serviceAccountToken(t *testing.T, cl *cluster, admin client.Client, account, role string) string {
	t.Helper()
	ctx := context.Background()
	applyRendered(t, admin, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: account, Namespace: namespace}})
	if role != "" {
		applyRendered(t, admin, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: account},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: account, Namespace: namespace}},
		})
	}
	cs, err := kubernetes.NewForConfig(cl.cfg)
	require.NoError(t, err)
	tr, err := cs.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, account, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)},
	}, metav1.CreateOptions{})
	require.NoError(t, err, "TokenRequest for %s", account)
	require.NotEmpty(t, tr.Status.Token)
	return tr.Status.Token
}

// scrape GETs /metrics as the ServiceMonitor does: HTTPS verified against
// the CA under the Service's DNS name, with the token as bearer ("" sends
// none).
func scrape(ca *testCA, addr, token string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, "https://"+addr+"/metrics", nil)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := admissionClient(ca)
	c.Timeout = 5 * time.Second
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestMetricsServing runs the webhook in-process as ServiceAccounts of the
// rendered role, and of copies without one review grant, with the metrics
// server on: each review grant is what a scrape needs (without it the
// filter cannot ask the API server and refuses every scrape), and
// InsecureMetrics (--metrics-secure=false) serves plain HTTP to anyone.
func TestMetricsServing(t *testing.T) {
	cl := apiServer(t)
	admin, err := client.New(cl.cfg, client.Options{})
	require.NoError(t, err)
	installRBAC(t, cl, admin)
	reader := serviceAccountToken(t, cl, admin, "metrics-reader", metricsReaderRole)
	role := typed[rbacv1.ClusterRole](t, one(t, render(t, "base"), "ClusterRole", serviceAccount))
	ca := newCA(t)
	crt, key := ca.issue(t, 1)
	certs := newSecretVolume(t, crt, key)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	for _, tt := range []struct {
		name     string
		without  string // group/resource left out of the role
		insecure bool
		want     int
	}{
		{name: "as rendered: a reader's token is served", want: http.StatusOK},
		{name: "without tokenreviews: no scrape is authenticated", without: "authentication.k8s.io/tokenreviews", want: http.StatusInternalServerError},
		{name: "without subjectaccessreviews: no scrape is authorized", without: "authorization.k8s.io/subjectaccessreviews", want: http.StatusInternalServerError},
		{name: "insecure: plain HTTP, no token asked", insecure: true, want: http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			account := serviceAccount
			if tt.without != "" {
				_, res, _ := strings.Cut(tt.without, "/")
				account = "ta-guard-metrics-without-" + res
				objs := withoutResource(role, account, tt.without)
				require.Equal(t, countResources(role.Rules)-1, countResources(objs[1].(*rbacv1.ClusterRole).Rules), "%s is left out", tt.without)
				applyRendered(t, admin, objs...)
			}
			addr := "127.0.0.1:" + strconv.Itoa(testenv.FreeLoopbackPort(t))
			srv, err := server.New(server.Options{
				Config: asServiceAccount(cl.cfg, account),
				Host:   "127.0.0.1", Port: testenv.FreeLoopbackPort(t), CertDir: certs.dir,
				MetricsAddr: addr, InsecureMetrics: tt.insecure, HealthAddr: "0", Metrics: metrics.New(),
				Log: logr.Discard(),
			})
			require.NoError(t, err)
			sctx, stop := context.WithCancel(ctx)
			t.Cleanup(stop)
			go func() { _ = srv.Start(sctx) }()

			var code int
			var body string
			waitUntil(t, 40*time.Second, "HTTP "+strconv.Itoa(tt.want), func() bool {
				var err error
				if tt.insecure {
					code, body, err = (&replica{}).get("http://" + addr + "/metrics")
				} else {
					code, body, err = scrape(ca, addr, reader)
				}
				return err == nil && code == tt.want
			})
			if tt.want == http.StatusOK {
				assert.Contains(t, body, "controller_runtime_")
			} else {
				assert.NotContains(t, body, "controller_runtime_")
			}
		})
	}
}
