package diagnose

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ta-guard/ta-guard/internal/input"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

// Comparison sets the prediction against what the running TA serves.
type Comparison struct {
	URL string `json:"url"`
	// Configured are the jobs of /scrape_configs; WithTargets those /jobs
	// lists (the TA lists only jobs that currently have targets).
	Configured  []string `json:"configured"`
	WithTargets []string `json:"withTargets"`
	// Differences, each explained from the chain.
	Differences []Difference `json:"differences"`
}

// Difference is one mismatch between prediction and TA.
type Difference struct {
	Job  string `json:"job"`
	Kind string `json:"kind"` // not-configured, no-targets, unexpected-targets, targets-differ
	Why  string `json:"why"`
	// Rule is set when the chain predicted the difference: that finding
	// explains it.
	Rule rules.ID `json:"rule,omitempty"`
	// Expected and Actual targets, for targets-differ.
	Expected []string `json:"expected,omitempty"`
	Actual   []string `json:"actual,omitempty"`
}

// TAClient reads a TA's HTTP API, directly (--ta-url) or through the API
// server's service proxy.
type TAClient struct {
	Base   *url.URL
	Client *http.Client
	// proxied is "<namespace>/<service>" when Base is the API server's
	// service proxy.
	proxied string
}

// NewTAClient checks the URL; a bad one is an error before any request.
func NewTAClient(raw string) (*TAClient, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--ta-url %q: want http(s)://host:port, e.g. http://127.0.0.1:8080 after kubectl port-forward svc/<name>-targetallocator 8080:80", raw)
	}
	return &TAClient{Base: u, Client: &http.Client{Timeout: 10 * time.Second}}, nil
}

// maxTAResponse bounds one answer of the target allocator.
const maxTAResponse = 64 << 20

func (c *TAClient) get(ctx context.Context, path string, into any) error {
	// path is already escaped (job names hold slashes, sent as %2F, which
	// the TA unescapes): join strings rather than let net/url escape again.
	base := strings.TrimRight(c.Base.String(), "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.Client.Do(req)
	if err != nil {
		return fmt.Errorf("target allocator unreachable at %s: %w", c.where(), err)
	}
	defer resp.Body.Close()
	// The targets of the largest TAs seen are a few MiB; a body past the
	// bound is said to be one, not left to fail as JSON cut short.
	body, over, err := input.ReadAtMost(resp.Body, maxTAResponse)
	if err != nil {
		return fmt.Errorf("%s: %w", req.URL, err)
	}
	if over {
		return fmt.Errorf("%s: an answer larger than %s, more than diagnose reads", req.URL, input.Bytes(maxTAResponse))
	}
	if err := proxyForbidden(c, resp.StatusCode); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d: %s", req.URL, resp.StatusCode, summary(body))
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Errorf("%s: not the JSON a target allocator serves: %v (body starts %.80q)", req.URL, err, body)
	}
	return nil
}

// summary is what an error answer says, in one line: the message of the
// API server's Status (its proxy's "error trying to reach service: dial tcp
// ...: connection refused"), or the first line of anything else, cut short.
func summary(body []byte) string {
	var st metav1.Status
	if json.Unmarshal(body, &st) == nil && st.Kind == "Status" && st.Message != "" {
		return oneLine(st.Message)
	}
	return oneLine(string(body))
}

func oneLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if s == "" {
		return "(no body)"
	}
	return s
}

func (c *TAClient) where() string {
	if c.proxied != "" {
		return "Service " + c.proxied + " (through the API server's proxy)"
	}
	return c.Base.String()
}

// jobPath is /jobs/<escaped job>/targets.
func jobPath(job string) string { return "/jobs/" + url.PathEscape(job) + "/targets" }

// targets reads the targets of a job across collectors. The TA answers a
// map of collector to {targets: [{targets: [...]}]}.
func (c *TAClient) targets(ctx context.Context, job string) ([]string, error) {
	var byCollector map[string]struct {
		Targets []struct {
			Targets []string `json:"targets"`
		} `json:"targets"`
	}
	if err := c.get(ctx, jobPath(job), &byCollector); err != nil {
		return nil, err
	}
	var out []string
	for _, col := range byCollector {
		for _, g := range col.Targets {
			out = append(out, g.Targets...)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Compare fetches /scrape_configs and /jobs and sets them against the
// allocator's predicted jobs, explaining each difference from the chain.
func Compare(ctx context.Context, c *TAClient, ad *Allocator, staticJobs []string, live bool) (*Comparison, error) {
	var configs map[string]json.RawMessage
	if err := c.get(ctx, "/scrape_configs", &configs); err != nil {
		return nil, err
	}
	var jobs map[string]struct {
		Link string `json:"_link"`
	}
	if err := c.get(ctx, "/jobs", &jobs); err != nil {
		return nil, err
	}
	cmp := &Comparison{URL: c.where(), Configured: keys(configs), WithTargets: keys(jobs), Differences: []Difference{}}
	type prediction struct {
		ep     *Endpoint
		static bool
	}
	predicted := map[string]prediction{}
	for _, j := range staticJobs {
		predicted[j] = prediction{static: true}
	}
	for _, k := range ad.Kinds {
		for mi := range k.Monitors {
			for ei := range k.Monitors[mi].Endpoints {
				e := &k.Monitors[mi].Endpoints[ei]
				predicted[e.Job] = prediction{ep: e}
			}
		}
	}
	var names []string
	for j := range predicted {
		names = append(names, j)
	}
	sort.Strings(names)
	for _, job := range names {
		p := predicted[job]
		_, configured := configs[job]
		_, hasTargets := jobs[job]
		switch {
		case !configured:
			cmp.Differences = append(cmp.Differences, Difference{Job: job, Kind: "not-configured",
				Why: "predicted but the TA has no such job: it has not read the monitor yet, or cannot (see the chain: prometheusCR, selectors, TA008 permissions, TA009 CRDs)"})
		case !hasTargets && p.ep != nil && p.ep.OK && (!live || len(p.ep.Targets) > 0):
			cmp.Differences = append(cmp.Differences, Difference{Job: job, Kind: "no-targets",
				Why: "ta-guard predicts targets but the TA lists none: it may not have refreshed yet; check its logs and TA008"})
		case hasTargets && p.ep != nil && !p.ep.OK:
			cmp.Differences = append(cmp.Differences, Difference{Job: job, Kind: "unexpected-targets",
				Why: "the TA has targets ta-guard predicted none for (" + string(p.ep.Rule) + "): the cluster changed, or objects are missing from the input"})
		case hasTargets && p.ep != nil && live && len(p.ep.Targets) > 0:
			actual, err := c.targets(ctx, job)
			if err != nil {
				return nil, err
			}
			if strings.Join(actual, ",") != strings.Join(p.ep.Targets, ",") {
				cmp.Differences = append(cmp.Differences, Difference{Job: job, Kind: "targets-differ",
					Why: "the TA's targets differ from the EndpointSlices / Pod IPs ta-guard sees", Expected: p.ep.Targets, Actual: actual})
			}
		}
		if !hasTargets && configured && p.ep != nil && !p.ep.OK {
			// Expected blind: already a ✗ in the chain; say so here too.
			cmp.Differences = append(cmp.Differences, Difference{Job: job, Kind: "no-targets", Rule: p.ep.Rule,
				Why: fmt.Sprintf("as predicted: %s (%s)", p.ep.Reason, p.ep.Rule)})
		}
	}
	for _, job := range cmp.Configured {
		if _, ok := predicted[job]; !ok && isMonitorJob(job) {
			cmp.Differences = append(cmp.Differences, Difference{Job: job, Kind: "not-predicted",
				Why: "the TA has a job ta-guard does not predict: a monitor outside the input, or read through another path"})
		}
	}
	return cmp, nil
}

func isMonitorJob(job string) bool {
	for _, p := range []string{"serviceMonitor/", "podMonitor/", "scrapeConfig/", "probe/"} {
		if strings.HasPrefix(job, p) {
			return true
		}
	}
	return false
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
