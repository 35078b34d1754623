// Package webhook is the admission handler: it decodes the old and new
// object of a request, runs the rule engine against the informers' view, and
// turns findings into a denial, warnings, or log lines and metrics. A review
// that gets no verdict is admitted with a warning when the policy does not
// enforce, and answered with an error (the API server's failurePolicy
// decides) when it does: see Handle.
package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/ta-guard/ta-guard/internal/access"
	"github.com/ta-guard/ta-guard/internal/cluster"
	"github.com/ta-guard/ta-guard/internal/metrics"
	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/internal/policy"
	"github.com/ta-guard/ta-guard/pkg/rules"
	"github.com/ta-guard/ta-guard/pkg/validate"
)

// Path is where the API server sends AdmissionReviews.
const Path = "/validate"

// NotChecked starts every warning about ta-guard's own trouble.
const NotChecked = "ta-guard: not checked: "

// Handler is the validating admission handler.
type Handler struct {
	View  cluster.View
	Facts validate.Facts
	// Policy returns the policy in force (it may be reloaded at any time).
	Policy func() *policy.Policy
	// Ready reports whether the view describes the cluster (informers synced).
	Ready   func() bool
	Metrics *metrics.Metrics
	Log     logr.Logger
	// Timeout bounds the live look-ups of one request; it must stay below
	// the webhook's timeoutSeconds.
	Timeout time.Duration
	// Audiences, when set, ask whether the requester may read the other
	// namespaces a finding would name (nil: name everything).
	Audiences *access.Audiences
}

var _ admission.Handler = (*Handler)(nil)

// Handle implements admission.Handler.
//
// What the request controls (its size, pace, field values, claimed
// identity) never ends in "allowed, not checked" under an enforcing policy:
// it gets a verdict (an invalid selector is TA301, an object past the
// limits TA302), or an error answer the API server handles by the webhook's
// failurePolicy (noVerdict). Only ta-guard's own trouble (caches not
// synced, the API server not answering a live question no deny depends on)
// admits a change unchecked, with a warning saying so.
func (h *Handler) Handle(ctx context.Context, req admission.Request) (resp admission.Response) {
	pol := h.policy()
	defer func() {
		if p := recover(); p != nil {
			h.Log.Error(fmt.Errorf("%v", p), "panic in a rule", "kind", req.Kind.Kind, "namespace", req.Namespace, "name", req.Name)
			resp = h.noVerdict(pol, "panic", http.StatusInternalServerError, "internal error")
		}
	}()
	if h.Ready != nil && !h.Ready() {
		return h.unchecked("not_synced", "ta-guard's caches have not synced yet")
	}
	r, err := decodeRequest(req)
	if err != nil {
		return h.noVerdict(pol, "decode", http.StatusUnprocessableEntity, err.Error())
	}
	if r.Object == nil && r.OldObject == nil {
		return admission.Allowed("")
	}
	if ns, ok := namespaceMismatch(req, r); !ok {
		// The API server never sends one: only a forged review does, to
		// have another namespace's objects named in the answer.
		h.count("forged")
		return errorAnswer(http.StatusBadRequest, fmt.Sprintf("the object's namespace %q is not the request's namespace %q", ns, req.Namespace))
	}
	if h.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.Timeout)
		defer cancel()
	}
	c := callerOf(ctx)
	// Live look-ups are paid from the requester's own budget, and answers
	// from the last known result are said to be so. The requester is who
	// the API server authenticated only when the API server proved to be
	// the caller; anyone else is one requester per address, whatever name
	// the body claims.
	requester := "unverified caller " + c.addr
	if c.verified {
		requester = req.UserInfo.Username
	}
	ctx = access.WithRequester(ctx, requester)
	ctx, stale := access.WithStaleNote(ctx)
	opts := validate.Options{Facts: h.Facts, Policy: pol, Admission: true}
	switch {
	case !c.verified:
		// The userInfo of the body is a claim: nothing outside the
		// request's own namespace is named to it.
		opts.Audience = validate.SameNamespace(req.Namespace)
	case h.Audiences != nil:
		// The requester reads the warnings: objects of namespaces they may
		// not list are counted, not named.
		u := req.UserInfo
		extra := map[string][]string{}
		for k, v := range u.Extra {
			extra[k] = v
		}
		opts.Audience = h.Audiences.For(access.User{Name: u.Username, UID: u.UID, Groups: u.Groups, Extra: extra})
	}
	res, evalErr := validate.Evaluate(ctx, r, h.View, opts)
	resp = h.respond(req, res.Findings)
	if n, age, why := stale.Stale(); n > 0 {
		resp = resp.WithWarnings(warning(fmt.Sprintf("ta-guard: %d access answer(s) are the last known result (%s old), not fresh from the API server: %v", n, age.Round(time.Second), why)))
	}
	if evalErr == nil {
		return resp
	}
	outOfTime := errors.Is(evalErr, validate.ErrOutOfTime)
	h.Log.Error(evalErr, "checks incomplete", "kind", req.Kind.Kind, "namespace", req.Namespace, "name", req.Name)
	if !resp.Allowed {
		// The denial stands on findings that were made: what could not be
		// checked besides adds nothing to it.
		return resp.WithWarnings(warning("ta-guard: besides, not every check ran: " + evalErr.Error()))
	}
	switch {
	case outOfTime:
		// The object's size or the cluster's made the rules outlast the
		// request: no allow under an enforcing policy.
		return h.noVerdict(pol, "deadline", http.StatusServiceUnavailable, evalErr.Error())
	case pol.DeniesAny(rules.LiveIDs()...):
		// A live rule the policy denies on could not be decided, and no
		// earlier answer exists: not an allow.
		return h.noVerdict(pol, "live_facts", http.StatusServiceUnavailable, "live checks (RBAC, service account) failed: "+evalErr.Error())
	}
	h.count("live_facts")
	return resp.WithWarnings(warning(NotChecked + "live checks (RBAC, service account) failed: " + evalErr.Error()))
}

func (h *Handler) policy() *policy.Policy {
	if h.Policy == nil {
		return nil
	}
	return h.Policy()
}

// namespaceMismatch reports the object's namespace when it is set and
// differs from the request's (ok false).
func namespaceMismatch(req admission.Request, r validate.Request) (string, bool) {
	for _, o := range []model.Object{r.Object, r.OldObject} {
		if o == nil {
			continue
		}
		if ns := o.GetMeta().Ref.Namespace; ns != "" && ns != req.Namespace {
			return ns, false
		}
	}
	return "", true
}

// respond maps findings by action: deny rejects with every deny finding and
// its fix, warn becomes one warning each, audit is logged and counted.
func (h *Handler) respond(req admission.Request, fs []rules.Finding) admission.Response {
	var denies []rules.Finding
	var warnings []string
	for _, f := range fs {
		if h.Metrics != nil {
			h.Metrics.Findings.WithLabelValues(string(f.Rule), string(f.Action), f.Object.Kind).Inc()
		}
		switch f.Action {
		case rules.Deny:
			denies = append(denies, f)
		case rules.Warn:
			warnings = append(warnings, warning(f.Summary()))
		}
		if f.Action == rules.Audit || f.Action == rules.Deny {
			h.Log.Info("finding", "rule", f.Rule, "ruleName", f.Name, "action", f.Action,
				"kind", f.Object.Kind, "namespace", f.Object.Namespace, "name", f.Object.Name,
				"job", f.Job, "operation", req.Operation, "dryRun", req.DryRun != nil && *req.DryRun,
				"message", f.Summary())
		}
	}
	warnings = capWarnings(warnings, req.Namespace)
	if len(denies) == 0 {
		return admission.Allowed("").WithWarnings(warnings...)
	}
	var b strings.Builder
	var causes []metav1.StatusCause
	b.WriteString("ta-guard denied this change:")
	for i, f := range denies {
		if i == maxDenyReasons {
			more := fmt.Sprintf("and %d more: %s", len(denies)-i, wholeList(req.Namespace))
			b.WriteString("\n- " + more)
			causes = append(causes, metav1.StatusCause{Type: metav1.CauseTypeFieldValueInvalid, Message: more})
			break
		}
		text := strings.ReplaceAll(f.Message, "\n", "\n  ")
		b.WriteString("\n- ")
		b.WriteString(text)
		// kubectl prints an Invalid refusal as its causes, one "* field:
		// message" each, and not the message: each cause is the whole
		// finding, its fix included.
		c := metav1.StatusCause{Type: metav1.CauseTypeFieldValueInvalid, Message: text}
		if f.Field != nil {
			c.Field = f.Field.String()
		}
		causes = append(causes, c)
	}
	return denied(req, b.String(), causes).WithWarnings(warnings...)
}

// denied refuses the change as the API server refuses an invalid object
// (apierrors.NewInvalid: 422, reason Invalid, one cause per field), so
// that clients can tell which fields to mend; a DELETE, which has no field
// to mend, is Forbidden with the same causes. The API server passes the
// reason, code and details through to the client.
func denied(req admission.Request, msg string, causes []metav1.StatusCause) admission.Response {
	resp := admission.Denied(msg)
	if req.Operation != admissionv1.Delete {
		resp.Result.Code = http.StatusUnprocessableEntity
		resp.Result.Reason = metav1.StatusReasonInvalid
	}
	resp.Result.Details = &metav1.StatusDetails{Name: req.Name, Group: req.Kind.Group, Kind: req.Kind.Kind, Causes: causes}
	return resp
}

// The API server relays warnings of at most 4096 runes in all (past that it
// cuts each to 256 runes, then drops the rest) and kubectl prints every one:
// a monitor with 20,000 endpoints made a 3.5 MB response and 20,001 lines.
// Findings get a share that leaves room for the handler's own notes (stale
// access answers, not checked), and the rest is counted in one line saying
// where the whole list is.
const (
	findingWarningRunes = 3000
	maxDenyReasons      = 20
)

// capWarnings keeps the first warnings that fit the share, and then one
// line with the count of the others.
func capWarnings(ws []string, namespace string) []string {
	total := 0
	for i, w := range ws {
		n := utf8.RuneCountInString(w)
		if total+n > findingWarningRunes {
			out := append(ws[:i:i], warning(fmt.Sprintf("ta-guard: and %d more warning(s): %s", len(ws)-i, wholeList(namespace))))
			return out
		}
		total += n
	}
	return ws
}

// wholeList says where every finding of a change can be read.
func wholeList(namespace string) string {
	if namespace == "" {
		return "ta-guard diagnose and the audit's ClusterPolicyReport list them all"
	}
	return "ta-guard diagnose and the audit's PolicyReport in namespace " + namespace + " list them all"
}

// unchecked admits a change ta-guard could not check because of its own
// trouble, and says so.
func (h *Handler) unchecked(reason, why string) admission.Response {
	h.count(reason)
	return admission.Allowed("").WithWarnings(warning(NotChecked + why))
}

// noVerdict answers a review that got no verdict. Under an enforcing policy
// that is an error answer: the API server applies the webhook's
// failurePolicy (Fail in the enforce overlay, which refuses the change with
// this message). Otherwise the change is admitted, with a warning.
func (h *Handler) noVerdict(pol *policy.Policy, reason string, status int32, why string) admission.Response {
	if pol.Enforcing() {
		h.count(reason)
		return errorAnswer(status, "ta-guard could not judge this change: "+why)
	}
	return h.unchecked(reason, why)
}

// errorAnswer is an answer the transport sends as an HTTP error status
// (IsErrorAnswer), not as a review: the API server treats it as a failed
// call. admission.Errored's form is kept so that any other transport still
// refuses rather than admits.
func errorAnswer(status int32, msg string) admission.Response {
	return admission.Errored(status, errors.New(oneLine(msg)))
}

// IsErrorAnswer reports whether resp is an errorAnswer: not allowed, with
// an error status and no reason (a denial has one: Invalid, or Forbidden).
func IsErrorAnswer(resp admission.Response) (int, string, bool) {
	if resp.Allowed || resp.Result == nil || resp.Result.Code < 400 || resp.Result.Reason != "" {
		return 0, "", false
	}
	return int(resp.Result.Code), resp.Result.Message, true
}

func (h *Handler) count(reason string) {
	if h.Metrics != nil {
		h.Metrics.Unchecked.WithLabelValues(reason).Inc()
	}
}

// warning makes s a warning the API server relays: it drops a warning that
// holds a control character (a newline included) without a word, and cuts
// one past 256 characters. So every warning is one line of printable text,
// cut by ta-guard where the end is marked.
func warning(s string) string { return truncate(oneLine(s)) }

// oneLine replaces line breaks and other control characters by spaces, and
// invalid UTF-8 by U+FFFD.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

// The API server cuts a warning at 256 characters; cut it ourselves so the
// end is marked.
func truncate(s string) string {
	const max = 250 // runes, as the API server counts
	if len(s) <= max || utf8.RuneCountInString(s) <= max {
		return s
	}
	// Cut on a rune boundary: a cut inside one is what kubectl shows as �.
	n := 0
	for i := range s {
		if n == max-3 {
			return s[:i] + "..."
		}
		n++
	}
	return s
}

// decodeRequest turns an AdmissionRequest into an engine request. Kinds
// ta-guard does not read give an empty request.
func decodeRequest(req admission.Request) (validate.Request, error) {
	gvk := schema.GroupVersionKind{Group: req.Kind.Group, Version: req.Kind.Version, Kind: req.Kind.Kind}
	out := validate.Request{Operation: validate.Operation(req.Operation)}
	if !model.Supported(gvk) {
		return out, nil
	}
	decode := func(raw []byte, which string) (model.Object, error) {
		if len(raw) == 0 {
			return nil, nil
		}
		o, err := model.Decode(gvk, raw)
		if err != nil {
			return nil, fmt.Errorf("%s %s/%s (%s object): %w", req.Kind.Kind, req.Namespace, req.Name, which, err)
		}
		return o, nil
	}
	var err error
	if req.Operation != admissionv1.Delete {
		if out.Object, err = decode(req.Object.Raw, "new"); err != nil {
			return out, err
		}
	}
	if req.Operation != admissionv1.Create {
		if out.OldObject, err = decode(req.OldObject.Raw, "old"); err != nil {
			return out, err
		}
	}
	return out, nil
}

// Server wraps the handler for http.ServeMux (the webhook server registers
// it at Path). It reads at most MaxRequestBytes of a review, and holds one
// copy of its objects (see reviewHandler).
func (h *Handler) Server() http.Handler {
	return &reviewHandler{h: h, limit: MaxRequestBytes}
}
