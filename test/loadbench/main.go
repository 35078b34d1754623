// Command loadbench measures the admission webhook under load: AdmissionReview
// requests over HTTPS to the real handler, whose view holds the generated
// 10,000-Service / 50,000-Pod world, and in the same run the same load
// against a no-op handler on the same server (the baseline). It reports
// latency percentiles, throughput and the process's memory.
//
//	go run ./test/loadbench -rate 200 -duration 20s
//
// The server runs in a child process (the same binary with -server), so the
// memory reported is the webhook's alone.
package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/ta-guard/ta-guard/internal/cluster"
	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/internal/policy"
	"github.com/ta-guard/ta-guard/internal/watch"
	"github.com/ta-guard/ta-guard/internal/webhook"
	"github.com/ta-guard/ta-guard/test/worldgen"
)

func main() {
	rate := flag.Int("rate", 200, "requests per second (open loop)")
	duration := flag.Duration("duration", 20*time.Second, "length of each measured phase")
	rounds := flag.Int("rounds", 2, "alternating baseline / ta-guard phases of each kind")
	capacity := flag.Duration("capacity", 5*time.Second, "length of the closed-loop capacity phase (0 skips)")
	workers := flag.Int("workers", 8, "concurrent clients in the capacity phase")
	serverMode := flag.Bool("server", false, "internal: run as the server process")
	flag.Parse()
	if *serverMode {
		runServer()
		return
	}

	// The server runs in its own process, so its memory is measured alone.
	cmd := exec.Command(os.Args[0], "-server")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		panic(err)
	}
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var hello serverHello
	if err := json.NewDecoder(out).Decode(&hello); err != nil {
		panic(fmt.Errorf("server did not start: %w", err))
	}
	fmt.Printf("world: %s built in %s; server RSS %s with the world cached (%d objects held as the informers would)\n",
		hello.Counts, hello.Built, mib(hello.RSSWorld), hello.Cached)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(hello.CertPEM))
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256, ForceAttemptHTTP2: false,
	}}
	addr := hello.Addr
	var bodies [][]byte
	for _, b := range hello.Bodies {
		bodies = append(bodies, []byte(b))
	}

	var results = map[string][]time.Duration{}
	var sent = map[string]int{}
	var failed = map[string]int{}
	for r := 0; r < *rounds; r++ {
		for _, path := range []string{"/noop", webhook.Path} {
			lat, n, errs := openLoop(client, "https://"+addr+path, bodies, *rate, *duration)
			results[path] = append(results[path], lat...)
			sent[path] += n
			failed[path] += errs
		}
	}
	fmt.Printf("\nopen loop: %d req/s for %s x %d rounds, requests: ServiceMonitor CREATE, Service UPDATE (selected), Service UPDATE (unselected)\n\n", *rate, *duration, *rounds)
	fmt.Println("| handler | requests | errors | achieved req/s | p50 | p90 | p99 | max |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	total := duration.Seconds() * float64(*rounds)
	for _, path := range []string{"/noop", webhook.Path} {
		l := results[path]
		sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
		fmt.Printf("| %s | %d | %d | %.1f | %s | %s | %s | %s |\n", name(path), sent[path], failed[path],
			float64(len(l))/total, pct(l, 50), pct(l, 90), pct(l, 99), pct(l, 100))
	}
	b, g := results["/noop"], results[webhook.Path]
	fmt.Printf("\np99 ratio ta-guard / baseline: %.2f; p50 ratio: %.2f\n", ratio(g, b, 99), ratio(g, b, 50))
	fmt.Printf("server RSS after the open-loop phases: %s (peak %s)\n",
		mib(procStatus(cmd.Process.Pid, "VmRSS")), mib(procStatus(cmd.Process.Pid, "VmHWM")))

	if *capacity > 0 {
		fmt.Printf("\nclosed loop: %d clients for %s\n\n| handler | req/s |\n|---|---|\n", *workers, *capacity)
		for _, path := range []string{"/noop", webhook.Path} {
			fmt.Printf("| %s | %.0f |\n", name(path), closedLoop(client, "https://"+addr+path, bodies, *workers, *capacity))
		}
		fmt.Printf("server RSS after the capacity phase: %s (peak %s)\n",
			mib(procStatus(cmd.Process.Pid, "VmRSS")), mib(procStatus(cmd.Process.Pid, "VmHWM")))
	}
}

// serverHello is what the server process tells the load generator.
type serverHello struct {
	Addr     string
	CertPEM  string
	Bodies   []string
	Counts   string
	Built    string
	RSSWorld int
	Cached   int
}

// runServer builds the world, serves until killed, and says where.
func runServer() {
	crlog.SetLogger(logr.Discard())
	start := time.Now()
	store, cached := buildWorld(worldgen.Full)
	built := time.Since(start).Round(time.Millisecond)
	runtime.GC()
	debug.FreeOSMemory()
	hello := serverHello{Counts: fmt.Sprint(store.Counts()), Built: built.String(), RSSWorld: procStatus(os.Getpid(), "VmRSS"), Cached: len(cached)}
	for _, b := range requests(store) {
		hello.Bodies = append(hello.Bodies, string(b))
	}
	addr, certPEM := serve(store)
	hello.Addr, hello.CertPEM = addr, certPEM
	if err := json.NewEncoder(os.Stdout).Encode(hello); err != nil {
		panic(err)
	}
	runtime.KeepAlive(cached)
	select {}
}

func name(path string) string {
	if path == "/noop" {
		return "baseline (no-op)"
	}
	return "ta-guard"
}

// buildWorld fills the store as the informers would, and keeps what the
// informers' caches would hold (the stripped typed objects), so that the
// memory measured is the webhook's.
func buildWorld(s worldgen.Scale) (*cluster.Store, []any) {
	store := cluster.NewStore()
	var cached []any
	for i := 0; i < s.Namespaces; i++ {
		for _, o := range s.NamespaceObjects(i).All() {
			store.Upsert(worldgen.Normalize(o))
			c, err := watch.Strip(o)
			if err != nil {
				panic(err)
			}
			cached = append(cached, c)
		}
	}
	for c := 0; c < s.Collectors; c++ {
		col := s.Collector(c)
		store.Upsert(worldgen.Normalize(col))
		cached = append(cached, col)
	}
	return store, cached
}

// requests builds the AdmissionReview bodies the load cycles through.
func requests(store *cluster.Store) [][]byte {
	p, err := worldgen.Full.Picks(store)
	if err != nil {
		panic(err)
	}
	newSM := p.Monitor.DeepCopy()
	newSM.Name = "new-monitor"
	newSM.Spec.Selector = metav1.LabelSelector{MatchLabels: p.Unmonitored.Spec.Selector}
	relabelled := p.Service.DeepCopy()
	relabelled.Labels = map[string]string{}
	for k, v := range p.Service.Labels {
		relabelled.Labels[k] = v
	}
	relabelled.Labels["release"] = "canary"
	other := p.Unmonitored.DeepCopy()
	other.Labels["release"] = "canary"
	return [][]byte{
		review(admissionv1.Create, schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "ServiceMonitor"}, newSM, nil),
		review(admissionv1.Update, schema.GroupVersionKind{Version: "v1", Kind: "Service"}, relabelled, p.Service),
		review(admissionv1.Update, schema.GroupVersionKind{Version: "v1", Kind: "Service"}, other, p.Unmonitored),
	}
}

func review(op admissionv1.Operation, gvk schema.GroupVersionKind, obj, old any) []byte {
	raw := func(o any) []byte {
		if o == nil {
			return nil
		}
		b, err := json.Marshal(o)
		if err != nil {
			panic(err)
		}
		return b
	}
	ar := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: "bench", Operation: op,
			Kind:     metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind},
			Resource: metav1.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: model.ResourceOf(gvk.Group, gvk.Kind)},
		},
	}
	ar.Request.Object.Raw = raw(obj)
	ar.Request.OldObject.Raw = raw(old)
	b, err := json.Marshal(ar)
	if err != nil {
		panic(err)
	}
	return b
}

// serve starts the HTTPS server with both handlers on one listener, as the
// webhook serves: TLS 1.2 minimum, HTTP/1.1.
func serve(store *cluster.Store) (string, string) {
	cert, certPEM := selfSigned()
	mux := http.NewServeMux()
	h := &webhook.Handler{View: store, Policy: func() *policy.Policy { return nil }, Ready: func() bool { return true }, Log: logr.Discard()}
	mux.Handle(webhook.Path, h.Server())
	mux.Handle("/noop", &admission.Webhook{Handler: admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
		return admission.Allowed("")
	})})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	return ln.Addr().String(), certPEM
}

func selfSigned() (tls.Certificate, string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "loadbench"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, string(pemBytes)
}

// openLoop sends at a fixed rate regardless of responses, and times each
// request from when it was due, so a stall shows up in the percentiles
// instead of slowing the load (no coordinated omission).
func openLoop(c *http.Client, url string, bodies [][]byte, rate int, d time.Duration) ([]time.Duration, int, int) {
	interval := time.Second / time.Duration(rate)
	n := int(d / interval)
	lat := make([]time.Duration, 0, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := 0
	begin := time.Now()
	for i := 0; i < n; i++ {
		due := begin.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(due))
		wg.Add(1)
		go func(body []byte) {
			defer wg.Done()
			err := post(c, url, body)
			el := time.Since(due)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs++
				return
			}
			lat = append(lat, el)
		}(bodies[i%len(bodies)])
	}
	wg.Wait()
	return lat, n, errs
}

func closedLoop(c *http.Client, url string, bodies [][]byte, workers int, d time.Duration) float64 {
	var mu sync.Mutex
	done := 0
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; time.Now().Before(deadline); i++ {
				if post(c, url, bodies[i%len(bodies)]) == nil {
					mu.Lock()
					done++
					mu.Unlock()
				}
			}
		}(w)
	}
	wg.Wait()
	return float64(done) / d.Seconds()
}

func post(c *http.Client, url string, body []byte) error {
	resp, err := c.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	var ar admissionv1.AdmissionReview
	if err := json.Unmarshal(b, &ar); err != nil || ar.Response == nil || !ar.Response.Allowed {
		return fmt.Errorf("unexpected response: %s", b)
	}
	return nil
}

func pct(l []time.Duration, p int) string {
	if len(l) == 0 {
		return "-"
	}
	i := (len(l)*p + 99) / 100
	if i > 0 {
		i--
	}
	return fmt.Sprintf("%.2f ms", float64(l[i].Microseconds())/1000)
}

func ratio(a, b []time.Duration, p int) float64 {
	sort.Slice(a, func(i, j int) bool { return a[i] < a[j] })
	sort.Slice(b, func(i, j int) bool { return b[i] < b[j] })
	at := a[(len(a)*p+99)/100-1]
	bt := b[(len(b)*p+99)/100-1]
	return float64(at) / float64(bt)
}

// procStatus reads a size from /proc/<pid>/status, in kB.
func procStatus(pid int, field string) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, field+":") {
			var kb int
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, field+":")), "%d", &kb)
			return kb
		}
	}
	return 0
}

func mib(kb int) string { return fmt.Sprintf("%.0f MiB", float64(kb)/1024) }
