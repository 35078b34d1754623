package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	sigsjson "sigs.k8s.io/json"

	"github.com/ta-guard/ta-guard/internal/cluster"
	"github.com/ta-guard/ta-guard/internal/manifest"
	"github.com/ta-guard/ta-guard/internal/metrics"
	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/internal/policy"
	"github.com/ta-guard/ta-guard/internal/webhook"
	"github.com/ta-guard/ta-guard/pkg/rules"
	"github.com/ta-guard/ta-guard/pkg/validate"
	"github.com/ta-guard/ta-guard/test/testenv"
)

// The operation byte of FuzzAdmissionObjects: its low two bits pick the
// operation, the others the handler's situation, so that one input reaches
// the denial, the offline, the failing and the not-synced paths alike.
const (
	opMask      = 0x03
	factsFail   = 0x04 // every live look-up fails
	offline     = 0x08 // no Facts at all
	notSynced   = 0x10 // Ready reports false
	denyAll     = 0x20 // the policy turns every finding into a denial
	dryRun      = 0x40
	fuzzUID     = types.UID("8f6d0c1a-fuzz")
	handleLimit = 10 * time.Second
)

var operations = [...]admissionv1.Operation{admissionv1.Create, admissionv1.Update, admissionv1.Delete, admissionv1.Connect}

// fuzzKinds are the kinds a selector byte picks: the registry in its order,
// then one kind ta-guard does not read.
func fuzzKinds() []metav1.GroupVersionKind {
	var out []metav1.GroupVersionKind
	for _, k := range model.Kinds() {
		out = append(out, metav1.GroupVersionKind{Group: k.GVK.Group, Version: k.GVK.Version, Kind: k.GVK.Kind})
	}
	return append(out, metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"})
}

// fuzzView is a small cluster in which most requests find something to
// check: a collector with a TA reading monitors, a ServiceMonitor and the
// Service it selects, a standalone TA, a ScrapeConfig and a Probe.
func fuzzView(f *testing.F) cluster.View {
	root := testenv.RepoRoot()
	docs, err := manifest.Load([]string{
		filepath.Join(root, "testdata", "seed", "collector.yaml"),
		filepath.Join(root, "testdata", "seed", "servicemonitor.yaml"),
		filepath.Join(root, "testdata", "seed", "service.yaml"),
		filepath.Join(root, "testdata", "realworld", "a14-scrapeconfig-probe-selected"),
		filepath.Join(root, "testdata", "realworld", "b09-standalone-targetallocator"),
	}, manifest.Options{})
	if err != nil {
		f.Fatal(err)
	}
	s := cluster.NewStore()
	for _, d := range docs {
		if d.Object != nil {
			s.Upsert(d.Object)
		}
	}
	return s
}

// fuzzFacts answers live questions from a hash of the question, so that
// both answers of each come up, or fails them all.
type fuzzFacts struct{ fail bool }

var errFacts = errors.New("fuzz: the API server is unavailable")

func yes(parts ...string) bool {
	h := fnv.New32a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum32()%2 == 0
}

func (f fuzzFacts) MonitorKindServed(k model.MonitorKind) bool {
	return !f.fail || k != model.MonitorKinds[0]
}

func (f fuzzFacts) ServiceAccountExists(_ context.Context, ns, name string) (bool, error) {
	if f.fail {
		return false, errFacts
	}
	return yes(ns, name), nil
}

func (f fuzzFacts) MissingPermissions(_ context.Context, ns, account string, perms []validate.Permission) ([]validate.Permission, error) {
	if f.fail {
		return nil, errFacts
	}
	var out []validate.Permission
	for _, p := range perms {
		if yes(ns, account, p.String()) {
			out = append(out, p)
		}
	}
	return out, nil
}

func (f fuzzFacts) MayGetSecret(_ context.Context, ns, account, secretNS, secret string) (bool, error) {
	if f.fail {
		return false, errFacts
	}
	return yes(ns, account, secretNS, secret), nil
}

func (f fuzzFacts) LookupSecret(_ context.Context, ns, name string) (validate.SecretInfo, error) {
	if f.fail {
		return validate.SecretInfo{}, errFacts
	}
	return validate.SecretInfo{Checked: true, Exists: yes(ns, name), Keys: []string{"user", "pass", "token"}}, nil
}

// fuzzServers builds the handler in every situation the operation byte can
// pick, once: building them per input would measure the builder.
func fuzzServers(f *testing.F) map[byte]http.Handler {
	view := fuzzView(f)
	m := metrics.New()
	denyPolicy := &policy.Policy{DefaultAction: rules.Deny}
	out := map[byte]http.Handler{}
	for _, sit := range []byte{0, factsFail, offline, notSynced, denyAll, factsFail | denyAll, offline | denyAll} {
		h := &webhook.Handler{
			View:    view,
			Facts:   fuzzFacts{fail: sit&factsFail != 0},
			Policy:  func() *policy.Policy { return nil },
			Ready:   func() bool { return sit&notSynced == 0 },
			Metrics: m,
			Log:     logr.Discard(),
			Timeout: 2 * time.Second,
		}
		if sit&offline != 0 {
			h.Facts = nil
		}
		if sit&denyAll != 0 {
			h.Policy = func() *policy.Policy { return denyPolicy }
		}
		out[sit] = h.Server()
	}
	return out
}

func situation(op byte) byte {
	switch s := op & (factsFail | offline | notSynced | denyAll); {
	case s&notSynced != 0:
		return notSynced
	case s&offline != 0:
		return s & (offline | denyAll)
	default:
		return s & (factsFail | denyAll)
	}
}

// FuzzAdmissionObjects sends the API server's AdmissionReview for arbitrary
// objects of every kind and every operation, the envelope always well
// formed: object and oldObject are the fuzzer's bytes, embedded as they are
// when they are JSON and as a JSON string when not. The webhook sits in the
// path of every change to these kinds, so whatever the objects hold it must
// answer the review, and never refuse a change for its own trouble.
func FuzzAdmissionObjects(f *testing.F) {
	kinds := fuzzKinds()
	servers := fuzzServers(f)
	svc := []byte(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"py-prometheus-app","namespace":"opentelemetry","labels":{"app":"my-app"}},"spec":{"selector":{"app":"my-app"},"ports":[{"name":"prom","port":8080}]}}`)
	f.Add(byte(1), byte(2), []byte(nil), svc) // DELETE of the Service the ServiceMonitor selects
	f.Add(byte(1), byte(1|denyAll), []byte(`{"metadata":{"name":"py-prometheus-app","namespace":"opentelemetry"},"spec":{}}`), svc)
	// Found by the fuzzer: a denial made while the live look-ups failed
	// was answered as both denied and "not checked".
	collector := []byte(`{"metadata":{"name":"otelcol","namespace":"opentelemetry"},"spec":{"mode":"statefulset","targetAllocator":{"enabled":true,"serviceAccount":"ta","prometheusCR":{"enabled":true}}}}`)
	for i, k := range kinds {
		if k.Kind == "OpenTelemetryCollector" && k.Version == "v1beta1" {
			f.Add(byte(i), byte(0|factsFail|denyAll), collector, []byte(nil))
		}
	}
	f.Fuzz(func(t *testing.T, kind, op byte, object, oldObject []byte) {
		gvk := kinds[int(kind)%len(kinds)]
		// The API server puts the object's namespace in the request; a
		// review where they differ is a forgery, refused (checked below).
		ns := "opentelemetry"
		var meta struct {
			Metadata struct {
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if json.Unmarshal(object, &meta) == nil && meta.Metadata.Namespace != "" {
			ns = meta.Metadata.Namespace
		}
		req := admissionv1.AdmissionRequest{
			UID:       fuzzUID,
			Kind:      gvk,
			Resource:  metav1.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: model.ResourceOf(gvk.Group, gvk.Kind)},
			Namespace: ns,
			Name:      "x",
			Operation: operations[op&opMask],
			Object:    runtime.RawExtension{Raw: embed(object)},
			OldObject: runtime.RawExtension{Raw: embed(oldObject)},
		}
		if op&dryRun != 0 {
			dry := true
			req.DryRun = &dry
		}
		body, err := json.Marshal(admissionv1.AdmissionReview{
			TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
			Request:  &req,
		})
		if err != nil {
			t.Fatalf("building the review: %v", err)
		}
		sit := situation(op)
		code, resp := serve(t, servers[sit], body)
		if code != http.StatusOK {
			checkErrorAnswer(t, code, resp, sit&denyAll != 0)
			return
		}
		checkResponse(t, resp, fuzzUID, true, sit&denyAll != 0, object, oldObject)
	})
}

// checkErrorAnswer holds the rules of an answer that is no review: the API
// server then applies failurePolicy. A forged namespace is refused in every
// mode; anything else only under an enforcing policy, where a review
// without a verdict must not be an allow. Either way it says why, on one
// line.
func checkErrorAnswer(t *testing.T, code int, resp []byte, enforcing bool) {
	t.Helper()
	msg := strings.TrimSuffix(string(resp), "\n")
	forged := code == http.StatusBadRequest && strings.Contains(msg, "is not the request's namespace")
	if !forged && !enforcing {
		t.Fatalf("HTTP %d for a well-formed review under a policy that does not enforce:\n%s", code, resp)
	}
	if msg == "" || strings.ContainsAny(msg, "\n\r") {
		t.Fatalf("HTTP %d without a one-line reason: %q", code, resp)
	}
}

// FuzzAdmissionBody sends arbitrary request bodies. Whatever arrives, the
// handler must not panic; a body that is a well-formed AdmissionReview
// must get one back, for its UID.
func FuzzAdmissionBody(f *testing.F) {
	srv := fuzzServers(f)[0]
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","kind":{"version":"v1","kind":"Service"},"operation":"CREATE","namespace":"opentelemetry","name":"a","object":{"metadata":{"name":"a","namespace":"opentelemetry"},"spec":{"selector":{"app":"my-app"}}}}}`))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		code, resp := serve(t, srv, body)
		uid, ok := wellFormed(body)
		if !ok {
			if code == http.StatusOK {
				// Whatever the handler made of it, a review it answers
				// must still obey the response's rules.
				checkResponse(t, resp, "", false, false, body)
			}
			return
		}
		if code != http.StatusOK {
			checkErrorAnswer(t, code, resp, false)
			return
		}
		checkResponse(t, resp, uid, true, false, body)
	})
}

// embed keeps the envelope JSON whatever the fuzzer wrote: JSON goes in as
// it is, anything else as a string, which the handler must refuse to
// decode (a wrong type) without refusing the change.
func embed(raw []byte) []byte {
	if len(raw) == 0 {
		return nil
	}
	if json.Valid(raw) {
		return raw
	}
	s, _ := json.Marshal(string(raw))
	return s
}

// wellFormed reports whether the body is an admission.k8s.io/v1
// AdmissionReview with a request and a UID, read as the API machinery
// reads JSON (case-sensitive keys).
func wellFormed(body []byte) (types.UID, bool) {
	var r admissionv1.AdmissionReview
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(body, &r); err != nil {
		return "", false
	}
	if r.APIVersion != "admission.k8s.io/v1" || r.Kind != "AdmissionReview" || r.Request == nil || r.Request.UID == "" {
		return "", false
	}
	return r.Request.UID, true
}

func serve(t *testing.T, h http.Handler, body []byte) (int, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		req := httptest.NewRequest(http.MethodPost, webhook.Path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(rec, req)
	}()
	select {
	case <-done:
	case <-time.After(handleLimit):
		// The API server gives up after timeoutSeconds (at most 30s) and
		// applies the failure policy: a hang is a refusal or a hole.
		t.Fatalf("no answer after %s to %d bytes", handleLimit, len(body))
	}
	return rec.Code, rec.Body.Bytes()
}

// checkResponse holds the rules of every answer: an AdmissionReview with a
// response for the request's UID (when must), warnings the API server can
// relay as they are, and no refusal that says ta-guard did not check.
// inputs are what the request carried, to tell a replacement character the
// request brought from one ta-guard made by cutting a character in two.
func checkResponse(t *testing.T, resp []byte, uid types.UID, must, enforcing bool, inputs ...[]byte) {
	t.Helper()
	var out admissionv1.AdmissionReview
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(resp, &out); err != nil || out.Response == nil {
		if must {
			t.Fatalf("not an AdmissionReview response (%v):\n%s", err, resp)
		}
		return
	}
	r := out.Response
	if must {
		if out.APIVersion != "admission.k8s.io/v1" || out.Kind != "AdmissionReview" {
			t.Fatalf("answered with %s %s", out.APIVersion, out.Kind)
		}
		if r.UID != uid {
			t.Fatalf("answered UID %q, asked %q", r.UID, uid)
		}
	}
	replacementIn := false
	for _, in := range inputs {
		replacementIn = replacementIn || !utf8.Valid(in) || bytes.Contains(in, []byte("\uFFFD")) || bytes.Contains(in, []byte(`\u`))
	}
	for _, w := range r.Warnings {
		if !utf8.ValidString(w) {
			t.Fatalf("warning is not UTF-8: %q", w)
		}
		// encoding/json writes invalid UTF-8 as U+FFFD: on the wire, a
		// warning cut inside a character shows up as one.
		if !replacementIn && strings.ContainsRune(w, utf8.RuneError) {
			t.Fatalf("warning has a character cut in two: %q", w)
		}
		if strings.HasPrefix(w, webhook.NotChecked) && !r.Allowed {
			t.Fatalf("refused a change it did not check: %q, result %+v", w, r.Result)
		}
		// The only unchecked allow under an enforcing policy is for
		// ta-guard's own trouble, which this situation never has.
		if strings.HasPrefix(w, webhook.NotChecked) && enforcing {
			t.Fatalf("admitted unchecked under an enforcing policy: %q", w)
		}
		// The API server drops a warning with a control character.
		if strings.ContainsFunc(w, unicode.IsControl) {
			t.Fatalf("warning with a control character: %q", w)
		}
	}
	if !r.Allowed && (r.Result == nil || r.Result.Message == "") && must {
		t.Fatalf("refused with no reason: %s", resp)
	}
}
