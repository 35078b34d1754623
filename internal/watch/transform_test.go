package watch

import (
	"testing"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ta-guard/ta-guard/internal/model"
)

// What the caches keep must be exactly what the rules read: the model built
// from the stripped object equals the one built from the full object.
func TestPodStrippedToWhatRulesRead(t *testing.T) {
	full := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "p", Namespace: "n", Labels: map[string]string{"app": "a"},
			Annotations:     map[string]string{"big": string(make([]byte, 4096)), "ta-guard.io/skip": "*"},
			ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
			OwnerReferences: []metav1.OwnerReference{{Name: "rs"}},
		},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{
				{Name: "app", Image: "img", Env: []corev1.EnvVar{{Name: "A", Value: "b"}}, Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}},
				{Name: "sidecar", Image: "img2"},
			},
			InitContainers: []corev1.Container{{Name: "init", Ports: []corev1.ContainerPort{{ContainerPort: 9000}}}},
			Volumes:        []corev1.Volume{{Name: "v"}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1", Conditions: []corev1.PodCondition{{Type: corev1.PodReady}}},
	}
	before := model.PodFromCore(full.DeepCopy())
	out, err := stripPod(full)
	require.NoError(t, err)
	p := out.(*corev1.Pod)
	assert.Empty(t, p.Annotations)
	assert.Empty(t, p.ManagedFields)
	assert.Empty(t, p.Spec.Volumes)
	assert.Len(t, p.Spec.Containers, 1, "containers without ports are dropped")
	assert.Empty(t, p.Spec.Containers[0].Env)
	assert.Empty(t, p.Status.Conditions)
	after := model.PodFromCore(p)
	assert.Equal(t, before.Ports, after.Ports)
	assert.Equal(t, before.Labels, after.Labels)
	assert.Equal(t, before.Phase, after.Phase)
	assert.Equal(t, before.IP, after.IP)
}

// An OpenTelemetry Operator Pod keeps what TA110 reads of it: whether its
// mTLS gate may be on, the same from the stripped Pod as from the full one.
func TestOperatorPodKeepsItsGate(t *testing.T) {
	const image = "ghcr.io/open-telemetry/opentelemetry-operator/opentelemetry-operator:0.150.0"
	for _, tt := range []struct {
		name string
		c    corev1.Container
		want *model.OTelOperator
	}{
		{"gate on", corev1.Container{Image: image, Args: []string{"--feature-gates=operator.targetallocator.mtls"}, Ports: []corev1.ContainerPort{{Name: "https", ContainerPort: 8443}}}, &model.OTelOperator{MTLSGate: true}},
		{"gate from the environment", corev1.Container{Image: image, Env: []corev1.EnvVar{{Name: "FEATURE_GATES", Value: "+operator.targetallocator.mtls"}}}, &model.OTelOperator{MTLSGate: true}},
		{"gate off", corev1.Container{Image: image, Args: []string{"--zap-log-level=info"}}, &model.OTelOperator{}},
		{"v0.153: no gate", corev1.Container{Image: "ghcr.io/open-telemetry/opentelemetry-operator/opentelemetry-operator:0.153.0", Args: []string{"--feature-gates=operator.targetallocator.mtls"}}, &model.OTelOperator{}},
		{"not the operator", corev1.Container{Image: "ghcr.io/open-telemetry/opentelemetry-operator/target-allocator:0.150.0", Args: []string{"--feature-gates=operator.targetallocator.mtls"}}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.c.Name = "manager"
			full := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "op", Namespace: "otel"}, Spec: corev1.PodSpec{Containers: []corev1.Container{tt.c}}}
			before := model.PodFromCore(full.DeepCopy())
			assert.Equal(t, tt.want, before.OTelOperator)
			out, err := stripPod(full)
			require.NoError(t, err)
			after := model.PodFromCore(out.(*corev1.Pod))
			assert.Equal(t, before.OTelOperator, after.OTelOperator)
			assert.Equal(t, before.Ports, after.Ports)
			for _, c := range out.(*corev1.Pod).Spec.Containers {
				assert.Empty(t, c.Env, "the cache keeps no variables")
			}
		})
	}
}

func TestServiceKeepsOwnAnnotationsOnly(t *testing.T) {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{
		Name: "s", Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{}", "ta-guard.io/skip": "TA202"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "x"}},
	}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "prom", Port: 80}}}}
	out, err := stripService(s)
	require.NoError(t, err)
	got := out.(*corev1.Service)
	assert.Equal(t, map[string]string{"ta-guard.io/skip": "TA202"}, got.Annotations)
	assert.Empty(t, got.ManagedFields)
	assert.Equal(t, "prom", got.Spec.Ports[0].Name)
}

// Readiness fails until the watcher has started and every informer synced.
func TestReadyCheckBeforeStart(t *testing.T) {
	w := New(nil, nil, nil, nil, logr.Discard())
	assert.False(t, w.Synced())
	assert.ErrorContains(t, w.ReadyCheck(nil), "informers not started")
}
