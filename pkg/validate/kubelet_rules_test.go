package validate

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

// accountFacts grants permissions per account: "<ns>/<account> <permission>".
type accountFacts struct {
	fakeFacts
	grants map[string]bool
	asked  *[]string
}

func (f accountFacts) MissingPermissions(_ context.Context, ns, account string, perms []Permission) ([]Permission, error) {
	var out []Permission
	for _, p := range perms {
		*f.asked = append(*f.asked, ns+"/"+account+" "+p.String())
		if !f.grants[ns+"/"+account+" "+p.String()] {
			out = append(out, p)
		}
	}
	return out, nil
}

// TA017: the collector's own service account scrapes the kubelet targets
// its TA hands out, and the kubelet asks whether it may get nodes/metrics.
func TestCollectorMayScrapeTheKubelet(t *testing.T) {
	kubeletSM := func(tokenFile bool, path string) string {
		auth := ""
		if tokenFile {
			auth = "    bearerTokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token\n"
		}
		return "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: kubelet, namespace: obs}\nspec:\n  namespaceSelector: {matchNames: [kube-system]}\n  selector: {matchLabels: {k8s-app: kubelet}}\n  endpoints:\n  - port: https-metrics\n    scheme: https\n    path: " + path + "\n" + auth
	}
	coll := func(sa string) string {
		spec := "  mode: statefulset\n"
		if sa != "" {
			spec += "  serviceAccount: " + sa + "\n"
		}
		return collector(spec + "  targetAllocator: {enabled: true, prometheusCR: {enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}}\n" + goodConfig)
	}
	const metrics = "get nodes/metrics"
	const kubeletSvc = "apiVersion: v1\nkind: Service\nmetadata: {name: kubelet, namespace: kube-system, labels: {k8s-app: kubelet}}\nspec: {clusterIP: None, ports: [{name: https-metrics, port: 10250}]}\n"
	tests := []struct {
		name     string
		obj      string
		world    []string
		grants   []string
		want     []string
		contains string
		asked    []string
	}{
		{name: "the default account may not", obj: coll(""), world: []string{kubeletSvc, kubeletSM(true, "/metrics/cadvisor")}, want: []string{"TA017"},
			contains: "collector obs/c scrapes the kubelet (1 job of ServiceMonitor obs/kubelet) as service account c-collector, which may not get nodes/metrics: the kubelet answers 403",
			asked:    []string{"obs/c-collector " + metrics}},
		{name: "granted", obj: coll(""), world: []string{kubeletSvc, kubeletSM(true, "/metrics")}, grants: []string{"obs/c-collector " + metrics}, want: []string{}},
		{name: "its own account, granted", obj: coll("agent"), world: []string{kubeletSvc, kubeletSM(true, "")}, grants: []string{"obs/agent " + metrics}, want: []string{},
			asked: []string{"obs/agent " + metrics}},
		{name: "no token file: not the collector's account", obj: coll(""), world: []string{kubeletSvc, kubeletSM(false, "/metrics")}, want: []string{}, asked: []string{}},
		{name: "a path ta-guard does not judge", obj: coll(""), world: []string{kubeletSvc, kubeletSM(true, "/pods")}, want: []string{}, asked: []string{}},
		{name: "no kubelet monitor", obj: coll(""), world: []string{kubeletSvc}, want: []string{}, asked: []string{}},
		{name: "no kubelet Service: no kubelet target", obj: coll(""), world: []string{kubeletSM(true, "/metrics")}, want: []string{}, asked: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			grants := map[string]bool{}
			for _, g := range tt.grants {
				grants[g] = true
			}
			var asked []string
			f := accountFacts{fakeFacts: fakeFacts{served: map[model.MonitorKind]bool{model.ServiceMonitor: true, model.PodMonitor: true}}, grants: grants, asked: &asked}
			res, err := Evaluate(context.Background(), Request{Operation: Create, Object: object(t, tt.obj)}, store(t, tt.world...), Options{Facts: f})
			require.NoError(t, err)
			fs := only(res.Findings, rules.TA017)
			assert.Equal(t, tt.want, ids(fs), messages(fs))
			for _, f := range fs {
				assert.True(t, f.AtRisk, "a kubelet may authorize no one: a risk")
			}
			if tt.contains != "" {
				assert.Contains(t, messages(fs), tt.contains)
			}
			if tt.asked != nil {
				var kubelet []string
				for _, a := range asked {
					if strings.Contains(a, "nodes/") {
						kubelet = append(kubelet, a)
					}
				}
				assert.Equal(t, tt.asked, append([]string{}, kubelet...))
			}
		})
	}
}

// TA017 for the kubelet jobs of the scrape configs a TA serves: a node-role
// job over HTTPS with the pod's own token, its address not rewritten.
func TestCollectorKubeletJobs(t *testing.T) {
	job := func(extra string) string {
		return "            - {job_name: kubelet, scheme: https, bearer_token_file: /var/run/secrets/kubernetes.io/serviceaccount/token, tls_config: {insecure_skip_verify: true}, kubernetes_sd_configs: [{role: node}]" + extra + "}\n"
	}
	coll := func(jobs string) string {
		return collector("  mode: daemonset\n  targetAllocator: {enabled: true, allocationStrategy: per-node}\n" + receiverConfig(jobs))
	}
	const proxied = "{target_label: __address__, replacement: 'kubernetes.default.svc:443'}, {source_labels: [__meta_kubernetes_node_name], regex: (.+), target_label: __metrics_path__, replacement: '/api/v1/nodes/${1}/proxy/metrics/cadvisor'}"
	tests := []struct {
		name     string
		obj      string
		grants   []string
		want     []string
		asked    []string
		contains string
	}{
		{name: "the kubelet's /metrics", obj: coll(job("")), want: []string{"TA017"}, asked: []string{"obs/c-collector get nodes/metrics"}},
		{name: "cAdvisor", obj: coll(job(", metrics_path: /metrics/cadvisor")), want: []string{"TA017"}, asked: []string{"obs/c-collector get nodes/metrics"}},
		{name: "through the API server's proxy: not the kubelet's question", obj: coll(job(", relabel_configs: [{target_label: __address__, replacement: kubernetes.default.svc:443}]")), want: []string{}, asked: []string{}},
		{name: "through the API server's proxy, as the classic cadvisor job", obj: coll(job(", metrics_path: /metrics, relabel_configs: [{action: labelmap, regex: __meta_kubernetes_node_label_(.+)}, " + proxied + "]")),
			want: []string{"TA017"}, asked: []string{"obs/c-collector get nodes/proxy"}, contains: "which may not get nodes/proxy: the API server's proxy answers 403"},
		{name: "through the proxy, granted", obj: coll(job(", relabel_configs: [" + proxied + "]")), grants: []string{"obs/c-collector get nodes/proxy"}, want: []string{}, asked: []string{"obs/c-collector get nodes/proxy"}},
		{name: "both ways", obj: coll(job("") + strings.Replace(job(", relabel_configs: ["+proxied+"]"), "job_name: kubelet", "job_name: cadvisor", 1)),
			want: []string{"TA017"}, asked: []string{"obs/c-collector get nodes/metrics", "obs/c-collector get nodes/proxy"}, contains: "the kubelet and the API server's proxy answer 403"},
		{name: "the proxy of another server", obj: coll(job(", relabel_configs: [{target_label: __address__, replacement: 'apiserver.example:6443'}, {target_label: __metrics_path__, replacement: /api/v1/nodes/$1/proxy/metrics}]")), want: []string{}, asked: []string{}},
		{name: "the scheme rewritten", obj: coll(job(", relabel_configs: [" + proxied + ", {target_label: __scheme__, replacement: http}]")), want: []string{}, asked: []string{}},
		{name: "the kubelet's logs", obj: coll(job(", metrics_path: /logs/")), want: []string{"TA017"}, asked: []string{"obs/c-collector get nodes/log"}},
		{name: "another kubelet path: its proxy subresource", obj: coll(job(", metrics_path: /debug/flags/v")), want: []string{"TA017"}, asked: []string{"obs/c-collector get nodes/proxy"}},
		{name: "another token: not the pod's account", obj: coll("            - {job_name: kubelet, scheme: https, bearer_token_file: /etc/token, kubernetes_sd_configs: [{role: node}]}\n"), want: []string{}, asked: []string{}},
		{name: "the pods, not the kubelet", obj: coll("            - {job_name: pods, scheme: https, bearer_token_file: /var/run/secrets/kubernetes.io/serviceaccount/token, kubernetes_sd_configs: [{role: pod}]}\n"), want: []string{}, asked: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var asked []string
			grants := map[string]bool{}
			for _, g := range tt.grants {
				grants[g] = true
			}
			f := accountFacts{fakeFacts: fakeFacts{served: map[model.MonitorKind]bool{model.ServiceMonitor: true, model.PodMonitor: true}}, grants: grants, asked: &asked}
			res, err := Evaluate(context.Background(), Request{Operation: Create, Object: object(t, tt.obj)}, store(t), Options{Facts: f})
			require.NoError(t, err)
			fs := only(res.Findings, rules.TA017)
			assert.Equal(t, tt.want, ids(fs), messages(fs))
			if tt.contains != "" {
				assert.Contains(t, messages(fs), tt.contains)
			}
			var kubelet []string
			for _, a := range asked {
				if strings.Contains(a, "nodes/") {
					kubelet = append(kubelet, a)
				}
			}
			assert.Equal(t, tt.asked, append([]string{}, kubelet...))
		})
	}
}
