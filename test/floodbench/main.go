// Command floodbench is issue 26's load test: for a bounded time, hostile
// traffic of every kind a pod can send hits ta-guard's webhook port while,
// through the real API server of the local control plane, a collector the
// policy denies (TA010: its service account does not exist) is sent as a
// dry run once a second. It reports how often that collector was denied
// (it must be every time), what each kind of hostile request got, and the
// webhook's peak memory against the Deployment's limit.
//
//	make build && go run ./test/floodbench -duration 60s
//
// Every connection goes to loopback addresses; every loop is bounded in
// count and ends with the duration.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrl "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	"github.com/go-logr/logr"

	"github.com/ta-guard/ta-guard/internal/webhook"
	"github.com/ta-guard/ta-guard/test/sandbox"
	"github.com/ta-guard/ta-guard/test/testenv"
)

// The Deployment's memory limit and GOMEMLIMIT (config/webhook/base).
const (
	memoryLimit = 512 << 20
	gomemlimit  = "460MiB"
)

var (
	baseline   time.Duration
	storm      int
	unverified bool
)

// stormUser is the tenant the access-review storm runs as: a user of its
// own, allowed to write collectors in the victim's namespace, as a hostile
// tenant would be. With a client certificate ta-guard believes who sends
// what and gives each user a live-check budget of their own.
const stormUser = "tenant-storm"

// policy denies the live rule the starvation attacks aim at, and what the
// junk fields are: an enforcing policy, so nothing may be "not checked".
const policy = `rules:
  TA010: deny
  TA301: deny
  TA302: deny
`

const victim = `apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: {name: victim-%d, namespace: victim}
spec:
  mode: statefulset
  config:
    receivers: {prometheus: {config: {scrape_configs: []}}}
    exporters: {debug: {}}
    service: {pipelines: {metrics: {receivers: [prometheus], exporters: [debug]}}}
  targetAllocator:
    enabled: true
    serviceAccount: does-not-exist
    prometheusCR:
      enabled: true
      serviceMonitorSelector: {}
      podMonitorSelector: %s
`

func main() {
	duration := flag.Duration("duration", 60*time.Second, "length of the flood")
	bin := flag.String("ta-guard", "bin/ta-guard", "the ta-guard binary (make build)")
	flag.DurationVar(&baseline, "baseline", 15*time.Second, "length of the victim-alone phase before the flood")
	flag.IntVar(&storm, "storm", 200, "concurrent dry runs of the access-review storm through the API server (0: none)")
	flag.BoolVar(&unverified, "unverified", false, "give the API server no client certificate and ta-guard no --client-ca-file: every caller, the API server included, is unverified")
	flag.Parse()
	ctrl.SetLogger(logr.Discard())
	if err := run(*bin, *duration); err != nil {
		fmt.Fprintln(os.Stderr, "floodbench:", err)
		os.Exit(1)
	}
}

// tally counts outcomes by kind of request.
type tally struct {
	mu sync.Mutex
	m  map[string]map[string]int
}

func (t *tally) add(kind, outcome string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]map[string]int{}
	}
	if t.m[kind] == nil {
		t.m[kind] = map[string]int{}
	}
	t.m[kind][outcome]++
}

func run(bin string, d time.Duration) error {
	assets, err := testenv.Assets()
	if err != nil {
		return err
	}
	bin, err = filepath.Abs(bin)
	if err != nil {
		return err
	}
	// The webhook child inherits it, as the Deployment sets it.
	os.Setenv("GOMEMLIMIT", gomemlimit)
	ctx, cancel := context.WithTimeout(context.Background(), d+4*time.Minute)
	defer cancel()
	sb, err := sandbox.Start(ctx, sandbox.Options{Root: testenv.RepoRoot(), Assets: assets, Webhook: bin, Policy: policy, Unverified: unverified,
		Progress: func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }})
	if err != nil {
		return err
	}
	defer sb.Stop()
	for _, ns := range []string{"victim", "team-b"} {
		if err := sb.CreateNamespace(ctx, ns); err != nil {
			return err
		}
	}
	if err := allowStorm(ctx, sb); err != nil {
		return err
	}
	pid := sb.WebhookPID()
	rssBefore := status(pid, "VmRSS")

	// The victim alone first: its latency without the flood is the
	// baseline of the same run.
	var calm tally
	bctx, bstop := context.WithTimeout(ctx, baseline)
	calmLat, err := victims(bctx, sb, &calm, 0, baseline)
	bstop()
	if err != nil {
		return err
	}

	var t tally
	var wg sync.WaitGroup
	fctx, stop := context.WithTimeout(ctx, d)
	defer stop()
	target, err := url.Parse(sb.WebhookURL)
	if err != nil {
		return err
	}
	// The storm's own client, unthrottled: client-go's default of 5
	// requests a second would make it no storm.
	stormCfg := rest.CopyConfig(sb.Config)
	stormCfg.QPS, stormCfg.Burst = 5000, 5000
	stormCfg.Impersonate = rest.ImpersonationConfig{UserName: stormUser}
	stormClient, err := client.New(stormCfg, client.Options{})
	if err != nil {
		return err
	}
	attackers := []struct {
		name string
		n    int
		run  func(ctx context.Context, i int) string
	}{
		{"6 MB declared", 8, func(ctx context.Context, i int) string {
			return post(ctx, target, src(i), bytes.NewReader(make([]byte, 6_000_000)), 6_000_000)
		}},
		{"6 MB chunked", 8, func(ctx context.Context, i int) string {
			return post(ctx, target, src(i), io.MultiReader(bytes.NewReader(make([]byte, 6_000_000))), -1)
		}},
		{"slow 4 MiB declared", 40, func(ctx context.Context, i int) string { return trickle(ctx, target, src(i)) }},
		{"garbage", 4, func(ctx context.Context, i int) string {
			b := make([]byte, 1+rand.IntN(64<<10))
			for j := range b {
				b[j] = byte(rand.IntN(256))
			}
			return post(ctx, target, src(i), bytes.NewReader(b), int64(len(b)))
		}},
		{"junk-field denied collector", 4, func(ctx context.Context, i int) string {
			sel := fmt.Sprintf("{matchLabels: {unused: %s}}", strings.Repeat("x", 64))
			if i%2 == 1 {
				sel = "{matchExpressions: [{key: a, operator: Bogus}]}"
			}
			body := reviewOf(fmt.Sprintf(victim, i, sel), "victim", authenticationv1.UserInfo{Username: "tenant"})
			return post(ctx, target, src(i), bytes.NewReader(body), int64(len(body)))
		}},
		{"forged identity", 4, func(ctx context.Context, i int) string {
			claim := authenticationv1.UserInfo{Username: fmt.Sprintf("admin-%d", rand.Int()), Groups: []string{"system:masters"}}
			ns := "victim"
			if i%2 == 1 {
				ns = "team-b" // the object says victim: a forgery
			}
			body := reviewOf(fmt.Sprintf(victim, i, "{}"), ns, claim)
			return post(ctx, target, src(i), bytes.NewReader(body), int64(len(body)))
		}},
		{"idle connections", 20, func(ctx context.Context, i int) string { return idle(ctx, target, src(i)) }},
		// The access-review storm, through the API server: each dry run
		// names a service account never seen, so each asks the API server
		// anew (the account, then the TA's permissions).
		{"access-review storm (API server)", storm, func(ctx context.Context, i int) string {
			obj := &unstructured.Unstructured{}
			doc := strings.Replace(fmt.Sprintf(victim, 100000+i, "{}"), "serviceAccount: does-not-exist", fmt.Sprintf("serviceAccount: sa-%d-%d", i, rand.Int()), 1)
			doc = strings.Replace(doc, "name: victim-", "name: storm-", 1)
			if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
				return "build: " + err.Error()
			}
			err := stormClient.Create(ctx, obj, client.DryRunAll)
			if ctx.Err() != nil {
				return ""
			}
			return dryRunOutcome(err)
		}},
	}
	for _, a := range attackers {
		for i := range a.n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Bounded: at most 100,000 requests per attacker, and the flood's end.
				for range 100_000 {
					if fctx.Err() != nil {
						return
					}
					if out := a.run(fctx, i); out != "" {
						t.add(a.name, out)
					}
				}
			}()
		}
	}

	// Peak memory, sampled; VmHWM at the end is the kernel's own peak.
	var peak atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-fctx.Done():
				return
			case <-tick.C:
				if v := status(pid, "VmRSS"); v > peak.Load() {
					peak.Store(v)
				}
			}
		}
	}()

	// The victim, through the API server, once a second.
	var verdicts tally
	floodLat, err := victims(fctx, sb, &verdicts, 1000, d)
	if err != nil {
		return err
	}
	stop()
	wg.Wait()
	hwm := status(pid, "VmHWM")
	select {
	case <-sb.Exited():
		return errors.New("the webhook exited during the flood")
	default:
	}

	mode := "the API server presents a client certificate (--client-ca-file)"
	if unverified {
		mode = "no client certificate: every caller unverified"
	}
	fmt.Printf("flood of %s against the webhook port (loopback), GOMEMLIMIT=%s, policy TA010/TA301/TA302 deny, %s\n\n", d, gomemlimit, mode)
	fmt.Printf("| request | answers |\n|---|---|\n")
	show := func(tt *tally) {
		kinds := make([]string, 0, len(tt.m))
		for k := range tt.m {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		for _, k := range kinds {
			var parts []string
			for o, n := range tt.m[k] {
				parts = append(parts, fmt.Sprintf("%s %d", o, n))
			}
			sort.Strings(parts)
			fmt.Printf("| %s | %s |\n", k, strings.Join(parts, ", "))
		}
	}
	show(&verdicts)
	show(&t)
	show(&calm)
	fmt.Printf("\nwebhook RSS before %d MiB, peak sampled %d MiB, VmHWM %d MiB (limit %d MiB)\n",
		rssBefore>>20, peak.Load()>>20, hwm>>20, memoryLimit>>20)
	fmt.Printf("victim answer p50 / max: alone %s / %s, under the flood %s / %s (p50 ratio %.1f)\n",
		pct(calmLat, 50), pct(calmLat, 100), pct(floodLat, 50), pct(floodLat, 100),
		float64(pct(floodLat, 50))/float64(max(pct(calmLat, 50), 1)))
	var fails []string
	if n := verdicts.m["victim under the flood"]["ADMITTED"] + calm.m["victim alone"]["ADMITTED"]; n > 0 {
		fails = append(fails, fmt.Sprintf("the denied collector was admitted %d times", n))
	}
	for o, n := range t.m["junk-field denied collector"] {
		if strings.HasPrefix(o, "ADMITTED") {
			fails = append(fails, fmt.Sprintf("a junk-field collector was admitted %d times (%s)", n, o))
		}
	}
	if n := t.m["access-review storm (API server)"]["ADMITTED"]; n > 0 {
		fails = append(fails, fmt.Sprintf("a storm collector naming a missing service account was admitted %d times", n))
	}
	for o, n := range t.m["forged identity"] {
		if strings.Contains(o, "LEAK") {
			fails = append(fails, fmt.Sprintf("a forged identity learned of team-b %d times", n))
		}
	}
	if hwm >= memoryLimit {
		fails = append(fails, fmt.Sprintf("peak memory %d MiB at or above the %d MiB limit", hwm>>20, memoryLimit>>20))
	}
	if len(fails) > 0 {
		return errors.New(strings.Join(fails, "; "))
	}
	return nil
}

// allowStorm lets stormUser write collectors in the victim's namespace
// (dry runs included) and nothing else.
func allowStorm(ctx context.Context, sb *sandbox.Sandbox) error {
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "collector-writer", Namespace: "victim"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"opentelemetry.io"}, Resources: []string{"opentelemetrycollectors"}, Verbs: []string{"create"}}},
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "collector-writer", Namespace: "victim"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: stormUser}},
	}
	for _, o := range []client.Object{role, binding} {
		if err := sb.Client.Create(ctx, o); err != nil {
			return fmt.Errorf("storm RBAC: %w", err)
		}
	}
	return nil
}

// victims sends the denied collector through the API server once a second
// until ctx ends (at most d/1s+1 times) and returns the answer times.
func victims(ctx context.Context, sb *sandbox.Sandbox, out *tally, first int, d time.Duration) ([]time.Duration, error) {
	kind := "victim under the flood"
	if first == 0 {
		kind = "victim alone"
	}
	var lat []time.Duration
	for i := 0; ctx.Err() == nil && i < int(d/time.Second)+1; i++ {
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(fmt.Sprintf(victim, first+i, "{}")), &obj.Object); err != nil {
			return nil, err
		}
		start := time.Now()
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		err := sb.Client.Create(rctx, obj, client.DryRunAll)
		rcancel()
		lat = append(lat, time.Since(start))
		out.add(kind, dryRunOutcome(err))
		select {
		case <-ctx.Done():
		case <-time.After(time.Second - time.Since(start)%time.Second):
		}
	}
	return lat, nil
}

// dryRunOutcome names what the API server answered a dry run of a
// collector TA010 denies.
func dryRunOutcome(err error) string {
	switch {
	case err == nil:
		return "ADMITTED"
	case strings.Contains(err.Error(), "TA010"):
		return "denied (TA010)"
	case strings.Contains(err.Error(), "could not judge"):
		return "refused by failurePolicy (ta-guard had no verdict)"
	case strings.Contains(err.Error(), "failed calling webhook"):
		// Why the API server's call failed, in a word: the transport's
		// texts vary by Go version, so only their usual words are matched.
		why := "other"
		switch e := err.Error(); {
		case strings.Contains(e, "deadline exceeded"), strings.Contains(e, "timeout"):
			why = "call timed out"
		case strings.Contains(e, "connection refused"), strings.Contains(e, "reset"), strings.Contains(e, "EOF"):
			why = "connection failed"
		}
		return "refused by failurePolicy (" + why + ")"
	}
	return "error: " + firstLine(err.Error())
}

func pct(l []time.Duration, p int) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), l...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, len(s)*p/100)].Round(time.Millisecond)
}

// src is the loopback address attacker i sends from: many addresses, as
// many pods would.
func src(i int) net.IP { return net.IPv4(127, 0, 1, byte(1+i%200)) }

func transport(from net.IP) *http.Transport {
	return &http.Transport{
		DialContext:       (&net.Dialer{LocalAddr: &net.TCPAddr{IP: from}, Timeout: 5 * time.Second}).DialContext,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the sandbox's self-signed certificate
		DisableKeepAlives: true,
	}
}

// post sends one body and names the outcome: the status, and for a review
// whether it was allowed.
func post(ctx context.Context, target *url.URL, from net.IP, body io.Reader, length int64) string {
	c := &http.Client{Timeout: 30 * time.Second, Transport: transport(from)}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), body)
	if err != nil {
		return "build: " + err.Error()
	}
	req.ContentLength = length
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ""
		}
		return "connection error"
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "HTTP " + strconv.Itoa(resp.StatusCode)
	}
	var rev admissionv1.AdmissionReview
	if json.Unmarshal(out, &rev) != nil || rev.Response == nil {
		return "HTTP 200, no review"
	}
	if strings.Contains(string(out), "team-b") && !strings.Contains(string(out), "request's namespace") {
		return "LEAK"
	}
	if rev.Response.Allowed {
		for _, w := range rev.Response.Warnings {
			if strings.HasPrefix(w, webhook.NotChecked) {
				return "ADMITTED not checked"
			}
		}
		return "ADMITTED"
	}
	return "denied"
}

// dialTLS opens a TLS connection to the webhook from the address.
func dialTLS(target *url.URL, from net.IP) (*tls.Conn, error) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: from}, Timeout: 5 * time.Second}
	return tls.DialWithDialer(d, "tcp", target.Host, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the sandbox's certificate
}

// trickle declares a 4 MiB body and sends two bytes a second until the
// server cuts it.
func trickle(ctx context.Context, target *url.URL, from net.IP) string {
	c, err := dialTLS(target, from)
	if err != nil {
		return "refused at connect"
	}
	defer c.Close()
	if _, err := fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", target.Path, target.Host, webhook.MaxRequestBytes); err != nil {
		return "cut"
	}
	for range 60 {
		select {
		case <-ctx.Done():
			return ""
		case <-time.After(time.Second):
		}
		if _, err := c.Write([]byte("  ")); err != nil {
			return "cut"
		}
	}
	return "held 60 s"
}

// idle opens a TLS connection and leaves it idle until it is closed.
func idle(ctx context.Context, target *url.URL, from net.IP) string {
	c, err := dialTLS(target, from)
	if err != nil {
		return "refused at connect"
	}
	defer c.Close()
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = c.Read(make([]byte, 1))
	}()
	select {
	case <-ctx.Done():
		return ""
	case <-done:
		return fmt.Sprintf("closed by the server within %ds", int(time.Since(start).Round(10*time.Second).Seconds()))
	}
}

// reviewOf is a CREATE review of the YAML object, in namespace ns, from
// the claimed user.
func reviewOf(doc, ns string, user authenticationv1.UserInfo) []byte {
	j, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		panic(err)
	}
	b, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       "flood",
			Kind:      metav1.GroupVersionKind{Group: "opentelemetry.io", Version: "v1beta1", Kind: "OpenTelemetryCollector"},
			Operation: admissionv1.Create, Namespace: ns, Name: "victim", UserInfo: user,
			Object: runtime.RawExtension{Raw: j},
		},
	})
	if err != nil {
		panic(err)
	}
	return b
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	if len(s) > 120 {
		return s[:120]
	}
	return s
}

// status reads a /proc/<pid>/status field in bytes.
func status(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
