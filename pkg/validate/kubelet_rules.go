package validate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

// kubeletScrape is TA017 (live): the TA hands its collectors targets of
// the kubelet's ServiceMonitors, which authenticate with the collector
// pods' own service account token (bearerTokenFile), and that account may
// not get the kubelet's nodes/metrics: the kubelet authorizes each scrape
// with a SubjectAccessReview (kubelet server auth: /metrics and below are
// the metrics subresource of nodes, /stats stats) and answers 403.
//
// A job that reaches the kubelets through the API server's proxy
// (/api/v1/nodes/NAME/proxy/...) needs nodes/proxy, which the API server
// itself checks.
//
// A risk, never denied: a kubelet run with --authorization-mode=AlwaysAllow
// asks no one. Paths that the fine-grained kubelet authorization of
// Kubernetes 1.33 maps to a subresource of their own before falling back
// to nodes/proxy (/pods, /healthz, /configz) are not judged.
func (ev *evaluation) kubeletScrape(ctx context.Context, a *model.Allocator, facts Facts) error {
	ta, collectors := ev.taAndCollectors(a)
	if ta == nil || len(collectors) == 0 {
		return nil
	}
	if !a.Standalone {
		// A collector answers for its own service account; the others
		// attached to the same TargetAllocator, for theirs.
		collectors = []*model.Allocator{a}
	}
	var monitorNeeds kubeletNeeds
	var read []*model.Monitor
	if ta.Active {
		read = ev.after.Monitors(model.ServiceMonitor, ta.Scopes[model.ServiceMonitor].Monitors.Selector())
	}
	for _, m := range read {
		if ev.expired() {
			return nil
		}
		if !selectsKubelet(m) || !ta.Reads(m, ev.after.Namespace(m.Ref.Namespace)) ||
			len(ev.after.Services(m.Namespaces, m.Selector.Selector())) == 0 {
			continue // not read, or no kubelet Service: no kubelet target
		}
		for i, ep := range m.Endpoints {
			if sub := kubeletSubresource(ep.Path); ep.TokenFile && sub != "" {
				monitorNeeds.add(sub, m.Job(i), kubeletMonitorSource(m.Ref), false)
			}
		}
	}
	var errs []error
	for _, c := range collectors {
		// Besides the monitors', the jobs of the scrape configs the TA
		// serves this collector: its own receiver's and a TargetAllocator's
		// spec.scrapeConfigs.
		needs := monitorNeeds.clone()
		var jobs []model.KubeletJob
		if c.Receiver != nil {
			jobs = append(jobs, c.Receiver.KubeletJobs...)
		}
		if ta.Standalone {
			jobs = append(jobs, ta.Own.KubeletJobs...)
		}
		for _, j := range jobs {
			sub := kubeletSubresource(j.MetricsPath)
			if j.ViaAPIServer {
				sub = "proxy"
			}
			if sub != "" {
				needs.add(sub, j.Job, kubeletConfigsSource(), j.ViaAPIServer)
			}
		}
		order := needs.order
		if len(order) == 0 {
			continue
		}
		sa := c.EffectiveCollectorServiceAccount()
		perms := make([]Permission, len(order))
		for i, sub := range order {
			perms[i] = Permission{Resource: "nodes", Subresource: sub, Verb: "get"}
		}
		missing, err := facts.MissingPermissions(ctx, c.Ref.Namespace, sa, perms)
		if err != nil {
			errs = append(errs, fmt.Errorf("access review for %s/%s: %w", c.Ref.Namespace, sa, err))
			continue
		}
		if len(missing) == 0 {
			ev.pass(rules.TA017, "", func() string { return ta017PassText(sa, order) })
			continue
		}
		var sources []string
		n, viaAPI := 0, 0
		for _, p := range missing {
			need := needs.by[p.Subresource]
			n += len(need.jobs)
			viaAPI += need.viaAPI
			for _, src := range need.sources {
				if !slices.Contains(sources, src) {
					sources = append(sources, src)
				}
			}
		}
		what, fix := ta017Text(c.Ref, sa, missing, n, viaAPI, sources)
		f := ev.add(rules.TA017, "", "", what, fix)
		f.AtRisk = true
		f.Related = rules.RelatedAs(rules.RoleAccount, model.Ref{APIVersion: "v1", Kind: "ServiceAccount", Namespace: c.Ref.Namespace, Name: sa})
	}
	return errors.Join(errs...)
}

// kubeletNeeds are the kubelet jobs of a collector by the nodes
// subresource each needs, in the order first needed.
type kubeletNeeds struct {
	order []string
	by    map[string]*kubeletNeed
}

type kubeletNeed struct {
	jobs    []string
	sources []string // where the jobs come from: a monitor, the scrape configs (kubeletMonitorSource, kubeletConfigsSource)
	viaAPI  int      // how many go through the API server's proxy
}

func (k *kubeletNeeds) add(sub, job, source string, viaAPI bool) {
	if k.by == nil {
		k.by = map[string]*kubeletNeed{}
	}
	n := k.by[sub]
	if n == nil {
		n = &kubeletNeed{}
		k.by[sub] = n
		k.order = append(k.order, sub)
	}
	n.jobs = append(n.jobs, job)
	if !slices.Contains(n.sources, source) {
		n.sources = append(n.sources, source)
	}
	if viaAPI {
		n.viaAPI++
	}
}

func (k *kubeletNeeds) clone() kubeletNeeds {
	out := kubeletNeeds{order: slices.Clone(k.order), by: make(map[string]*kubeletNeed, len(k.by))}
	for sub, n := range k.by {
		out.by[sub] = &kubeletNeed{jobs: slices.Clone(n.jobs), sources: slices.Clone(n.sources), viaAPI: n.viaAPI}
	}
	return out
}

// kubeletSubresource is the nodes subresource the kubelet checks for a
// GET of the path (kubelet server auth: proxy unless the path is one it
// subdivides), or "" when ta-guard does not judge it.
func kubeletSubresource(path string) string {
	if path == "" {
		path = "/metrics"
	}
	for _, p := range []struct{ prefix, sub string }{
		{"/metrics", "metrics"}, {"/stats", "stats"}, {"/logs", "log"}, {"/spec", "spec"}, {"/checkpoint", "checkpoint"},
		// Fine-grained (1.33+): their own subresource, then proxy.
		{"/pods", ""}, {"/healthz", ""}, {"/configz", ""},
	} {
		if path == p.prefix || strings.HasPrefix(path, p.prefix+"/") {
			return p.sub
		}
	}
	if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, "$?#") {
		return "" // not a path ta-guard can read
	}
	return "proxy"
}
