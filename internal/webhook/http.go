package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	sigsjson "sigs.k8s.io/json"
)

// MaxRequestBytes bounds the AdmissionReview ta-guard reads.
//
// An object the API server can store is at most etcd's request limit
// (--max-request-bytes, 1.5 MiB by default): a larger new object passes
// admission but is refused by etcd right after, so ta-guard's verdict on it
// changes nothing. An UPDATE carries two such objects; their JSON may be a
// little larger than what etcd holds (built-in kinds are stored as
// protobuf), and the envelope (userInfo, options) adds a few KiB. 4 MiB is
// above all of that, and well below controller-runtime's 7 MiB, which
// assumes 3 MiB objects etcd never accepts. A review above it is admitted
// unchecked (Refuse), not denied: the limit protects ta-guard's memory, it
// says nothing about the change.
const MaxRequestBytes = 4 << 20

// uidPrefixBytes is how much of a review ta-guard reads, at most, to find
// its UID when it will not read the rest: the API server writes request.uid
// within the first hundred bytes.
const uidPrefixBytes = 4 << 10

var v1Review = admissionv1.SchemeGroupVersion.WithKind("AdmissionReview")

// reviewHandler serves AdmissionReviews for a Handler. Unlike
// admission.Webhook, which reads the body into a growing buffer, decodes it
// (copying object and oldObject) and leaves the raw objects to be decoded
// once more by the rules, it reads the body once into a buffer of its
// declared size and points object and oldObject into that buffer: one copy
// of a large object is held, not three.
type reviewHandler struct {
	h     *Handler
	limit int64
}

func (rh *reviewHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		http.Error(w, fmt.Sprintf("Content-Type %q, expected application/json", r.Header.Get("Content-Type")), http.StatusUnsupportedMediaType)
		return
	}
	if r.ContentLength > rh.limit {
		rh.Refuse(w, r, http.StatusRequestEntityTooLarge, "too_large", tooLarge(r.ContentLength, rh.limit))
		return
	}
	body, err := readBody(w, r, rh.limit)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		rh.refuseWith(w, uidOf(bytes.NewReader(body)), http.StatusRequestEntityTooLarge, "too_large", tooLarge(-1, rh.limit))
		return
	case err != nil:
		// A client that stopped sending or was cut by the read timeout: it
		// is probably not listening, but say why.
		http.Error(w, "reading the AdmissionReview: "+err.Error(), http.StatusBadRequest)
		return
	case len(body) == 0:
		http.Error(w, "empty request body, expected an AdmissionReview", http.StatusBadRequest)
		return
	}
	apiVersion, req, err := decodeReview(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	resp := rh.h.Handle(withCaller(r.Context(), r), req)
	if status, msg, ok := IsErrorAnswer(resp); ok {
		writeStatus(w, status, msg)
		return
	}
	writeReview(w, apiVersion, req.UID, resp)
}

// caller is what the transport proved about who sent a review.
type caller struct {
	// verified: the connection presented a client certificate that
	// verified against --client-ca-file, which only the API server holds.
	verified bool
	// addr is the client's address, without its port.
	addr string
}

type callerKey struct{}

func withCaller(ctx context.Context, r *http.Request) context.Context {
	verified, addr := Caller(r)
	return context.WithValue(ctx, callerKey{}, caller{verified: verified, addr: addr})
}

// Caller is what the transport proved about who sent r: whether its client
// certificate verified against the CAs the server requires (only the API
// server is given one), and its address without the port. The request
// budget and the handler both key on it.
func Caller(r *http.Request) (verified bool, addr string) {
	addr = r.RemoteAddr
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	return r.TLS != nil && len(r.TLS.VerifiedChains) > 0, addr
}

// callerOf is the caller the transport recorded; a review that came
// through no transport of ours is from an unverified caller.
func callerOf(ctx context.Context) caller {
	c, _ := ctx.Value(callerKey{}).(caller)
	return c
}

// Refuse answers a review ta-guard will not read (too large, or no memory
// budget left for it). Both are what the request, or others sent at once,
// control: under an enforcing policy the answer is the status, which the
// API server handles by failurePolicy (the enforce overlay's Fail refuses
// the change; a review past 4 MiB could not be stored by etcd anyway).
// Otherwise, when its UID can be read from its first bytes, the change is
// admitted with a "not checked" warning rather than silently by Ignore.
// Without a UID there is no review to answer, and the status says why.
func (rh *reviewHandler) Refuse(w http.ResponseWriter, r *http.Request, status int, reason, why string) {
	rh.refuseWith(w, uidOf(io.LimitReader(r.Body, uidPrefixBytes)), status, reason, why)
}

func (rh *reviewHandler) refuseWith(w http.ResponseWriter, uid types.UID, status int, reason, why string) {
	if uid == "" || rh.h.policy().Enforcing() {
		rh.h.count(reason)
		writeStatus(w, status, oneLine("ta-guard could not judge this change: "+why))
		return
	}
	rh.h.Log.Info("request admitted unchecked", "reason", reason, "why", why, "uid", uid)
	writeReview(w, v1Review.GroupVersion().String(), uid, rh.h.unchecked(reason, why))
}

func tooLarge(n, limit int64) string {
	if n < 0 {
		return fmt.Sprintf("the AdmissionReview is larger than the %d bytes ta-guard reads", limit)
	}
	return fmt.Sprintf("the AdmissionReview (%d bytes) is larger than the %d bytes ta-guard reads", n, limit)
}

// readBody reads the whole body into one buffer of the declared length, so
// that a multi-MiB review is not copied while a buffer grows. Without a
// declared length it stops at limit; what was read is returned with the
// error, for the UID.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	defer r.Body.Close()
	body := http.MaxBytesReader(w, r.Body, limit)
	if n := r.ContentLength; n >= 0 {
		buf := make([]byte, n)
		_, err := io.ReadFull(body, buf)
		return buf, err
	}
	return io.ReadAll(body)
}

// wireReview is an AdmissionReview as it arrives.
type wireReview struct {
	APIVersion string       `json:"apiVersion"`
	Kind       string       `json:"kind"`
	Request    *wireRequest `json:"request"`
}

// wireRequest shadows AdmissionRequest's object and oldObject (fields of the
// outer struct win over the embedded one's of the same name).
type wireRequest struct {
	admissionv1.AdmissionRequest
	Object    inBody `json:"object"`
	OldObject inBody `json:"oldObject"`
}

// inBody is a raw JSON value kept as a slice of the request body rather
// than as a copy (runtime.RawExtension copies). json.Unmarshal hands an
// Unmarshaler a slice of its input; the body is never written to after
// decoding, so keeping that slice is safe. A value that is not a slice of
// body (another decoder's buffer) is copied, which is always safe.
type inBody struct {
	body, raw []byte
}

func (b *inBody) UnmarshalJSON(in []byte) error {
	if string(in) == "null" {
		return nil
	}
	if within(b.body, in) {
		b.raw = in
	} else {
		b.raw = bytes.Clone(in)
	}
	return nil
}

// within reports whether inner is a slice of outer: a slice s[i:j] of outer
// ends its capacity at the same element as outer does.
func within(outer, inner []byte) bool {
	if cap(outer) == 0 || cap(inner) == 0 {
		return false
	}
	return &outer[:cap(outer)][cap(outer)-1] == &inner[:cap(inner)][cap(inner)-1]
}

// decodeReview decodes a v1 (or v1beta1, the same shape) AdmissionReview.
// It is case-sensitive, as the API machinery's decoder is.
func decodeReview(body []byte) (string, admission.Request, error) {
	wr := &wireRequest{Object: inBody{body: body}, OldObject: inBody{body: body}}
	rev := wireReview{Request: wr}
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(body, &rev); err != nil {
		return "", admission.Request{}, fmt.Errorf("decoding the AdmissionReview: %w", err)
	}
	apiVersion := rev.APIVersion
	switch {
	case apiVersion == "" && rev.Kind == "":
		apiVersion = v1Review.GroupVersion().String()
	case rev.Kind != "AdmissionReview" || (apiVersion != "admission.k8s.io/v1" && apiVersion != "admission.k8s.io/v1beta1"):
		return "", admission.Request{}, fmt.Errorf("%s %s is not an AdmissionReview of admission.k8s.io/v1", apiVersion, rev.Kind)
	}
	if wr.UID == "" {
		return "", admission.Request{}, errors.New("the AdmissionReview has no request.uid")
	}
	req := admission.Request{AdmissionRequest: wr.AdmissionRequest}
	req.Object.Raw, req.OldObject.Raw = wr.Object.raw, wr.OldObject.raw
	return apiVersion, req, nil
}

// writeReview answers with an AdmissionReview of the request's version, as
// admission.Webhook does: UID set, Result present with code 200 when the
// handler set none.
func writeReview(w http.ResponseWriter, apiVersion string, uid types.UID, resp admission.Response) {
	if err := resp.Complete(admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{UID: uid}}); err != nil {
		http.Error(w, "encoding the response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	out := admissionv1.AdmissionReview{Response: &resp.AdmissionResponse}
	out.APIVersion, out.Kind = apiVersion, v1Review.Kind
	w.Header().Set("Content-Type", "application/json")
	// A write error is a client gone: there is no one left to tell.
	_ = json.NewEncoder(w).Encode(out)
}

// writeStatus answers with an error status whose body is a metav1.Status:
// the API server's client shows its message in the failure ("failed
// calling webhook ...: <message>"), where a plain-text body is replaced by
// a generic phrase of the status code.
func writeStatus(w http.ResponseWriter, code int, msg string) {
	st := metav1.Status{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"},
		Status:   metav1.StatusFailure, Message: msg, Code: int32(code),
		Reason: metav1.StatusReasonServiceUnavailable,
	}
	switch code {
	case http.StatusBadRequest:
		st.Reason = metav1.StatusReasonBadRequest
	case http.StatusUnprocessableEntity:
		st.Reason = metav1.StatusReasonInvalid
	case http.StatusRequestEntityTooLarge:
		st.Reason = metav1.StatusReasonRequestEntityTooLarge
	case http.StatusInternalServerError:
		st.Reason = metav1.StatusReasonInternalError
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(st)
}

// uidOf reads request.uid from the start of a review, or "" when it is not
// among the first values read.
func uidOf(prefix io.Reader) types.UID {
	dec := json.NewDecoder(prefix)
	var uid string
	if !member(dec, "request") || !member(dec, "uid") || dec.Decode(&uid) != nil {
		return ""
	}
	return types.UID(uid)
}

// member reads an object's opening brace and its members up to the one
// named, and leaves the decoder at that member's value. It reports false
// when the next value is no object or has no such member.
func member(dec *json.Decoder, name string) bool {
	if !delim(dec, '{') {
		return false
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return false
		}
		if key == name {
			return true
		}
		if skip(dec) != nil {
			return false
		}
	}
	return false
}

func delim(dec *json.Decoder, d json.Delim) bool {
	t, err := dec.Token()
	return err == nil && t == d
}

func skip(dec *json.Decoder) error {
	var v json.RawMessage
	return dec.Decode(&v)
}
