package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/ta-guard/ta-guard/test/testenv"
)

// serviceReview is an UPDATE of a Service whose annotation holds pad bytes.
func serviceReview(t testing.TB, pad int) []byte {
	svc := fmt.Sprintf(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"py-prometheus-app","namespace":"opentelemetry","annotations":{"big":%q}},"spec":{"selector":{"app":"x"},"ports":[{"name":"prom","port":8080}]}}`, strings.Repeat("x", pad))
	b, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: "uid-1", Kind: serviceKind, Operation: admissionv1.Update, Namespace: "opentelemetry", Name: "py-prometheus-app",
			Object: runtime.RawExtension{Raw: []byte(svc)}, OldObject: runtime.RawExtension{Raw: []byte(svc)},
		},
	})
	require.NoError(t, err)
	return b
}

func post(h http.Handler, body io.Reader, n int64) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, Path, body)
	r.Header.Set("Content-Type", "application/json")
	r.ContentLength = n
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestReviewResponseSameAsControllerRuntime(t *testing.T) {
	view := testenv.SeedStore(t, "collector.yaml", "servicemonitor.yaml", "service.yaml")
	h, _ := newHandler(t, view, nil)
	body := serviceReview(t, 10)
	ours := post(h.Server(), bytes.NewReader(body), int64(len(body)))
	theirs := post(&admission.Webhook{Handler: h}, bytes.NewReader(body), int64(len(body)))
	require.Equal(t, http.StatusOK, ours.Code)
	assert.JSONEq(t, theirs.Body.String(), ours.Body.String())
	assert.Contains(t, ours.Body.String(), `"uid":"uid-1"`)
}

// neverEnds is a body that would take forever to send.
type neverEnds struct{ read int }

func (n *neverEnds) Read(p []byte) (int, error) {
	prefix := `{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"uid-big","kind":`
	if n.read == 0 {
		n.read = copy(p, prefix)
		return n.read, nil
	}
	for i := range p {
		p[i] = ' '
	}
	n.read += len(p)
	return len(p), nil
}

func TestOversizedReviewRefusedWithoutReading(t *testing.T) {
	h, m := newHandler(t, nil, nil)
	body := &neverEnds{}
	start := time.Now()
	w := post(h.Server(), body, 6<<20)
	assert.Less(t, time.Since(start), time.Second)
	assert.LessOrEqual(t, body.read, uidPrefixBytes+64<<10, "read only the start, for the UID")
	var rev admissionv1.AdmissionReview
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &rev), w.Body.String())
	assert.Equal(t, "uid-big", string(rev.Response.UID))
	assert.True(t, rev.Response.Allowed)
	assert.Contains(t, rev.Response.Warnings[0], NotChecked+"the AdmissionReview (6291456 bytes) is larger")
	assert.Equal(t, 1.0, testutil.ToFloat64(m.Unchecked.WithLabelValues("too_large")))

	// Unknown length: cut at the limit.
	w = post(h.Server(), io.LimitReader(&neverEnds{}, MaxRequestBytes+10), -1)
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &rev), w.Body.String())
	assert.True(t, rev.Response.Allowed)
	assert.Equal(t, "uid-big", string(rev.Response.UID))
}

func TestMalformedReviewAnsweredClearly(t *testing.T) {
	h, _ := newHandler(t, nil, nil)
	for name, body := range map[string]string{
		"not JSON":       `{"kind":"AdmissionReview",`,
		"wrong type":     `{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":7}}`,
		"no request":     `{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1"}`,
		"another kind":   `{"kind":"Pod","apiVersion":"v1","request":{"uid":"x"}}`,
		"empty":          ``,
		"null object":    `{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"x","object":null}}`,
		"garbage object": `{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"x","kind":{"version":"v1","kind":"Service"},"operation":"CREATE","object":[1,2]}}`,
	} {
		t.Run(name, func(t *testing.T) {
			w := post(h.Server(), strings.NewReader(body), int64(len(body)))
			switch name {
			case "null object", "garbage object":
				require.Equal(t, http.StatusOK, w.Code, w.Body.String())
				assert.Contains(t, w.Body.String(), `"uid":"x"`)
			default:
				assert.Equal(t, http.StatusBadRequest, w.Code)
				assert.NotEmpty(t, strings.TrimSpace(w.Body.String()))
			}
		})
	}
}

// BenchmarkReview compares the allocations of one review with
// controller-runtime's admission.Webhook and with ours.
func BenchmarkReview(b *testing.B) {
	view := testenv.SeedStore(b, "collector.yaml", "servicemonitor.yaml", "service.yaml")
	h, _ := newHandler(nil, view, nil)
	for _, size := range []int{1 << 20, 3 << 20} {
		body := serviceReview(b, size/2) // object and oldObject
		for name, srv := range map[string]http.Handler{"admission.Webhook": &admission.Webhook{Handler: h}, "reviewHandler": h.Server()} {
			b.Run(fmt.Sprintf("%dMiB/%s", size>>20, name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if w := post(srv, bytes.NewReader(body), int64(len(body))); w.Code != http.StatusOK {
						b.Fatal(w.Body.String())
					}
				}
			})
		}
	}
}

// uidOf finds request.uid among the first members, whatever comes before
// it, and nothing where the review has none.
func TestUIDOf(t *testing.T) {
	for in, want := range map[string]string{
		`{"request":{"uid":"a"}}`: "a",
		`{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"kind":{"uid":"no"},"uid":"b"}}`: "b",
		`{"response":{"uid":"no"},"request":{"uid":"c"}}`:                                                         "c",
		`{"request":{"name":"x"}}`:     "",
		`{"request":["uid","x"]}`:      "",
		`{"uid":"top-level"}`:          "",
		`{"request":{"uid":7}}`:        "",
		`{"request":{"uid":"cut-sho`:   "",
		`[{"request":{"uid":"list"}}]`: "",
	} {
		assert.Equal(t, types.UID(want), uidOf(strings.NewReader(in)), in)
	}
}
