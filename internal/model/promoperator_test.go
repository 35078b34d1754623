package model

import (
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// The kubelet Service a Prometheus Operator Deployment keeps, read from its
// arguments as the operator reads them.
func TestKubeletServiceFromOperatorArguments(t *testing.T) {
	tests := []struct {
		name          string
		command, args []string
		want          string // "ns/name ports labels" or "" for none
	}{
		{name: "kube-prometheus-stack's arguments", args: []string{"--kubelet-service=kube-system/kps-kube-prometheus-kubelet", "--kubelet-endpoints=true", "--localhost=127.0.0.1", "--web.enable-tls=true"},
			want: "kube-system/kps-kube-prometheus-kubelet https-metrics,cadvisor,http-metrics app.kubernetes.io/managed-by=prometheus-operator,app.kubernetes.io/name=kubelet,k8s-app=kubelet"},
		{name: "Go flag syntax, value apart, unknown flags with values", command: []string{"/bin/operator"}, args: []string{"-log-level", "debug", "-kubelet-service", "obs/kubelet", "-kubelet-http-metrics=false", "--labels=team=infra"},
			want: "obs/kubelet https-metrics,cadvisor app.kubernetes.io/managed-by=prometheus-operator,app.kubernetes.io/name=kubelet,k8s-app=kubelet,team=infra"},
		{name: "in the command", command: []string{"/bin/operator", "--kubelet-service=kube-system/kubelet"}, want: "kube-system/kubelet https-metrics,cadvisor,http-metrics app.kubernetes.io/managed-by=prometheus-operator,app.kubernetes.io/name=kubelet,k8s-app=kubelet"},
		{name: "no namespace: the operator refuses it", args: []string{"--kubelet-service=kubelet"}},
		{name: "no such flag", args: []string{"--prometheus-config-reloader=x"}},
		{name: "a bad value of the operator's own", args: []string{"--kubelet-service=a/b", "--kubelet-http-metrics=maybe"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := kubeletServices(&corev1.PodSpec{Containers: []corev1.Container{{Name: "sidecar", Args: []string{"--kubelet-service=ignored"}}, {Name: "operator", Command: tt.command, Args: tt.args}}})
			if tt.want == "" {
				assert.Empty(t, got)
				return
			}
			if assert.Len(t, got, 1) {
				s := got[0].(*Service)
				assert.Equal(t, tt.want, s.Ref.NamespacedName()+" "+portNames(s)+" "+labelsString(s.Labels))
				assert.Nil(t, s.Selector, "selector-less: the operator writes its endpoints")
				assert.False(t, s.PortsIncomplete)
			}
		})
	}
}

func portNames(s *Service) string {
	out := ""
	for i, p := range s.Ports {
		if i > 0 {
			out += ","
		}
		out += p.Name
	}
	return out
}

func labelsString(m map[string]string) string {
	return labels.Set(m).String()
}
