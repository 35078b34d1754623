package cli

import (
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
)

func TestPolicyArgument(t *testing.T) {
	tests := []struct {
		args  []string
		file  string
		serve bool
	}{
		{args: []string{"serve", "--policy=/etc/ta-guard/policy.yaml", "--port=9443"}, file: "/etc/ta-guard/policy.yaml", serve: true},
		{args: []string{"/ta-guard", "serve", "-policy", "/p/x.yaml", "--cert-dir", "/tmp/c"}, file: "/p/x.yaml", serve: true},
		{args: []string{"serve", "--port=9443"}, serve: true},
		{args: []string{"audit"}},
	}
	for _, tt := range tests {
		file, serve := policyArgument(tt.args)
		assert.Equal(t, tt.file, file, tt.args)
		assert.Equal(t, tt.serve, serve, tt.args)
	}
}

func TestConfigMapFile(t *testing.T) {
	vols := []corev1.Volume{
		{Name: "policy", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "ta-guard-policy"}}}},
		{Name: "projected", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "rel-policy"}, Items: []corev1.KeyToPath{{Key: "enforce.yaml", Path: "policy.yaml"}}}}},
		{Name: "certs", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "x"}}},
	}
	tests := []struct {
		mount         corev1.VolumeMount
		file, cm, key string
		err           string
	}{
		{mount: corev1.VolumeMount{Name: "policy", MountPath: "/etc/ta-guard"}, file: "/etc/ta-guard/policy.yaml", cm: "ta-guard-policy", key: "policy.yaml"},
		{mount: corev1.VolumeMount{Name: "projected", MountPath: "/etc/ta-guard/"}, file: "/etc/ta-guard/policy.yaml", cm: "rel-policy", key: "enforce.yaml"},
		{mount: corev1.VolumeMount{Name: "policy", MountPath: "/etc/p.yaml", SubPath: "policy.yaml"}, file: "/etc/p.yaml", cm: "ta-guard-policy", key: "policy.yaml"},
		{mount: corev1.VolumeMount{Name: "certs", MountPath: "/etc/ta-guard"}, file: "/etc/ta-guard/policy.yaml", err: "no ConfigMap"},
		{mount: corev1.VolumeMount{Name: "policy", MountPath: "/elsewhere"}, file: "/etc/ta-guard/policy.yaml", err: "no volume is mounted there"},
	}
	for _, tt := range tests {
		cm, key, err := configMapFile(vols, []corev1.VolumeMount{tt.mount}, tt.file)
		if tt.err != "" {
			assert.ErrorContains(t, err, tt.err, tt.mount)
			continue
		}
		assert.NoError(t, err)
		assert.Equal(t, tt.cm+" "+tt.key, cm+" "+key, tt.mount)
	}
}
