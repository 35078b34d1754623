package envtest

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/ta-guard/ta-guard/internal/diagnose"
	"github.com/ta-guard/ta-guard/test/testenv"
)

// diagnose reads each TA's /scrape_configs and /jobs through the real API
// server's service proxy: a fake TA, serving what the real one serves for
// the guide's manifests, behind a selector-less Service whose endpoints are
// the address of a network namespace the test creates.
func TestDiagnoseThroughServiceProxy(t *testing.T) {
	jobs, err := os.ReadFile(filepath.Join(repoRoot, "testdata/seed/ta-jobs.json"))
	require.NoError(t, err)
	ln := listenInNetns(t)
	ip := ln.Addr().(*net.TCPAddr).IP
	fake := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/scrape_configs":
			_, _ = w.Write([]byte(`{"otel-collector":{},"serviceMonitor/opentelemetry/sm-example/0":{},"serviceMonitor/opentelemetry/sm-example/1":{},"serviceMonitor/opentelemetry/sm-example/2":{}}`))
		case "/jobs":
			_, _ = w.Write(jobs)
		default:
			http.NotFound(w, r)
		}
	})}
	go func() { _ = fake.Serve(ln) }()
	t.Cleanup(func() { _ = fake.Close() })
	port := int32(ln.Addr().(*net.TCPAddr).Port)

	assets, err := assetsDir()
	require.NoError(t, err)
	env := &envtest.Environment{BinaryAssetsDirectory: assets} // no webhook: this is about the proxy
	cfg, err := env.Start()
	require.NoError(t, err)
	t.Cleanup(func() { _ = env.Stop() })
	k, err := newKube(cfg)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "opentelemetry"}}))
	svc := "otelcol-targetallocator"
	require.NoError(t, k.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: svc, Namespace: "opentelemetry"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: diagnose.TAServicePort, Port: 80, TargetPort: intstr.FromInt32(port)}}},
	}))
	// No scheduler, kubelet or endpoints controller runs here: the objects
	// they would write. The API server proxies only to the address of a Pod
	// an endpoint names.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "otelcol-targetallocator-0", Namespace: "opentelemetry"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "ta", Image: "ta"}}},
	}
	require.NoError(t, k.Create(ctx, pod))
	pod.Status.PodIP, pod.Status.PodIPs = ip.String(), []corev1.PodIP{{IP: ip.String()}}
	require.NoError(t, k.Status().Update(ctx, pod))
	portName, ready := diagnose.TAServicePort, true
	require.NoError(t, k.Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: svc + "-x", Namespace: "opentelemetry", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{ip.String()}, Conditions: discoveryv1.EndpointConditions{Ready: &ready},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "opentelemetry", Name: pod.Name}}},
		Ports: []discoveryv1.EndpointPort{{Name: &portName, Port: &port}},
	}))

	v := testenv.SeedStore(t, "collector.yaml", "servicemonitor.yaml", "service.yaml")
	d, err := diagnose.Run(ctx, v, diagnose.Options{})
	require.NoError(t, err)
	require.Len(t, d.Allocators, 1)

	t.Run("the guide's comparison, without a port-forward", func(t *testing.T) {
		c, err := diagnose.NewProxyTAClient(cfg, "opentelemetry", svc, diagnose.TAServicePort)
		require.NoError(t, err)
		var cmp *diagnose.Comparison
		// The API server resolves a Service's endpoints from its own cache,
		// which sees the objects above a moment after they are written.
		waitFor(t, "the API server proxies to the fake TA", func() bool {
			cmp, err = diagnose.Compare(ctx, c, d.Allocators[0], v.Allocators()[0].StaticJobs, false)
			return err == nil
		})
		var got []string
		for _, diff := range cmp.Differences {
			got = append(got, diff.Job+" "+diff.Kind)
		}
		// The guide's sample /jobs (ta-jobs.json) lists targets for jobs 1
		// and 2, which the manifests predict none for: the same differences
		// --ta-url reports for it (internal/cli TestDiagnoseTAURL).
		assert.Equal(t, []string{"serviceMonitor/opentelemetry/sm-example/1 unexpected-targets", "serviceMonitor/opentelemetry/sm-example/2 unexpected-targets"}, got, "%+v", cmp)
		assert.Contains(t, cmp.URL, "Service opentelemetry/"+svc)
	})

	t.Run("a user who may not proxy is told which permission is missing", func(t *testing.T) {
		role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "svc-reader", Namespace: "opentelemetry"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"get"}}}}
		require.NoError(t, k.Create(ctx, role))
		require.NoError(t, k.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "svc-reader", Namespace: "opentelemetry"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: role.Name},
			Subjects: []rbacv1.Subject{{Kind: "User", Name: "dev"}}}))
		asDev := rest.CopyConfig(cfg)
		asDev.Impersonate = rest.ImpersonationConfig{UserName: "dev"}
		c, err := diagnose.NewProxyTAClient(asDev, "opentelemetry", svc, diagnose.TAServicePort)
		require.NoError(t, err)
		_, err = diagnose.Compare(ctx, c, d.Allocators[0], nil, false)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "you need get on services/proxy in namespace opentelemetry")
	})
}
