package model

import (
	"io"
	"strings"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// The Prometheus Operator keeps a Service of the kubelets when it runs with
// --kubelet-service=NAMESPACE/NAME (pkg/kubelet: syncService): selector-less,
// its endpoints the nodes, labelled k8s-app and app.kubernetes.io/name
// "kubelet" and managed-by prometheus-operator, plus the --labels it is
// given, with ports https-metrics (10250), cadvisor (4194) and, unless
// --kubelet-http-metrics=false, http-metrics (10255). A manifest set that
// holds its Deployment (kube-prometheus-stack's) describes that Service
// too, though no document of it exists: kube-prometheus-stack's kubelet
// ServiceMonitor selects it.
const (
	kubeletAppLabel      = "kubelet"
	managedByPromOp      = "prometheus-operator"
	kubeletHTTPSPort     = 10250
	kubeletCAdvisorPort  = 4194
	kubeletHTTPPort      = 10255
	kubeletServiceFlag   = "kubelet-service"
	kubeletHTTPFlag      = "kubelet-http-metrics"
	operatorLabelsFlag   = "labels"
	appNameLabel         = "app.kubernetes.io/name"
	managedByLabel       = "app.kubernetes.io/managed-by"
	kubeletK8sAppLabel   = "k8s-app"
	maxOperatorArguments = 200
)

// kubeletServices returns the kubelet Service a container of the pod spec
// keeps, if one runs the Prometheus Operator with --kubelet-service. The
// arguments are read with pflag, every other flag of the operator allowed
// and ignored; the operator reads them with Go's flag package, so a single
// dash is as good as two.
func kubeletServices(spec *corev1.PodSpec) []Object {
	var out []Object
	for _, c := range spec.Containers {
		args := append(append([]string(nil), c.Command...), c.Args...)
		if len(args) > maxOperatorArguments {
			args = args[:maxOperatorArguments]
		}
		hasFlag := false
		for i, a := range args {
			if strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && len(a) > 2 {
				args[i] = "-" + a
			}
			hasFlag = hasFlag || strings.HasPrefix(args[i], "--"+kubeletServiceFlag)
		}
		if !hasFlag {
			continue
		}
		fs := pflag.NewFlagSet("prometheus-operator", pflag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.ParseErrorsAllowlist.UnknownFlags = true
		object := fs.String(kubeletServiceFlag, "", "")
		http := fs.Bool(kubeletHTTPFlag, true, "")
		common := fs.String(operatorLabelsFlag, "", "")
		if fs.Parse(args) != nil {
			continue // not what the operator would start with either
		}
		ns, name, ok := strings.Cut(*object, "/")
		if !ok || ns == "" || name == "" {
			continue // the operator refuses to start
		}
		l := map[string]string{}
		if *common != "" {
			m, err := labels.ConvertSelectorToLabelsMap(*common)
			if err != nil {
				continue
			}
			for k, v := range m {
				l[k] = v
			}
		}
		l[kubeletK8sAppLabel], l[appNameLabel], l[managedByLabel] = kubeletAppLabel, kubeletAppLabel, managedByPromOp
		ports := []ServicePort{{Name: "https-metrics", Port: kubeletHTTPSPort}, {Name: "cadvisor", Port: kubeletCAdvisorPort}}
		if *http {
			ports = append(ports, ServicePort{Name: "http-metrics", Port: kubeletHTTPPort})
		}
		out = append(out, &Service{
			Meta:  Meta{Ref: Ref{APIVersion: "v1", Kind: "Service", Namespace: ns, Name: name}, Labels: l},
			Ports: ports,
		})
	}
	return out
}
