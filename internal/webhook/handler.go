// Package webhook is the admission handler: it decodes the old and new
// object of a request, runs the rule engine against the informers' view, and
// turns findings into a denial, warnings, or log lines and metrics. Whatever
// fails inside ta-guard, the request is admitted with a warning saying it was
// not checked: ta-guard never blocks a change because of its own trouble.
package webhook

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/ta-guard/ta-guard/internal/access"
	"github.com/ta-guard/ta-guard/internal/metrics"
	"github.com/ta-guard/ta-guard/pkg/cluster"
	"github.com/ta-guard/ta-guard/pkg/model"
	"github.com/ta-guard/ta-guard/pkg/policy"
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
func (h *Handler) Handle(ctx context.Context, req admission.Request) (resp admission.Response) {
	defer func() {
		if p := recover(); p != nil {
			h.Log.Error(fmt.Errorf("%v", p), "panic in a rule; request admitted unchecked", "kind", req.Kind.Kind, "namespace", req.Namespace, "name", req.Name)
			resp = h.unchecked("panic", "internal error")
		}
	}()
	if h.Ready != nil && !h.Ready() {
		return h.unchecked("not_synced", "ta-guard's caches have not synced yet")
	}
	r, err := decodeRequest(req)
	if err != nil {
		return h.unchecked("decode", err.Error())
	}
	if r.Object == nil && r.OldObject == nil {
		return admission.Allowed("")
	}
	if h.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.Timeout)
		defer cancel()
	}
	// Live look-ups are paid from the requester's own budget, and answers
	// from the last known result are said to be so.
	ctx = access.WithRequester(ctx, req.UserInfo.Username)
	ctx, stale := access.WithStaleNote(ctx)
	var pol *policy.Policy
	if h.Policy != nil {
		pol = h.Policy()
	}
	opts := validate.Options{Facts: h.Facts, Policy: pol}
	if h.Audiences != nil {
		// The requester reads the warnings: objects of namespaces they may
		// not list are counted, not named.
		u := req.UserInfo
		extra := map[string][]string{}
		for k, v := range u.Extra {
			extra[k] = v
		}
		opts.Audience = h.Audiences.For(access.User{Name: u.Username, UID: u.UID, Groups: u.Groups, Extra: extra})
	}
	res, liveErr := validate.Evaluate(ctx, r, h.View, opts)
	resp = h.respond(req, res.Findings)
	if liveErr != nil {
		h.Log.Error(liveErr, "live checks incomplete", "kind", req.Kind.Kind, "namespace", req.Namespace, "name", req.Name)
		h.count("live_facts")
		resp = resp.WithWarnings(truncate(NotChecked + "live checks (RBAC, service account) failed: " + liveErr.Error()))
	}
	if n, age, why := stale.Stale(); n > 0 {
		resp = resp.WithWarnings(truncate(fmt.Sprintf("ta-guard: %d access answer(s) are the last known result (%s old), not fresh from the API server: %v", n, age.Round(time.Second), why)))
	}
	return resp
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
			warnings = append(warnings, truncate(f.Summary()))
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
	b.WriteString("ta-guard denied this change:")
	for i, f := range denies {
		if i == maxDenyReasons {
			fmt.Fprintf(&b, "\n- and %d more: %s", len(denies)-i, wholeList(req.Namespace))
			break
		}
		b.WriteString("\n- ")
		b.WriteString(strings.ReplaceAll(f.Message, "\n", "\n  "))
	}
	return admission.Denied(b.String()).WithWarnings(warnings...)
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
			out := append(ws[:i:i], truncate(fmt.Sprintf("ta-guard: and %d more warning(s): %s", len(ws)-i, wholeList(namespace))))
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

func (h *Handler) unchecked(reason, why string) admission.Response {
	h.count(reason)
	return admission.Allowed("").WithWarnings(truncate(NotChecked + why))
}

func (h *Handler) count(reason string) {
	if h.Metrics != nil {
		h.Metrics.Unchecked.WithLabelValues(reason).Inc()
	}
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
