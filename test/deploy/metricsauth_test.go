package deploy

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
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
