package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ta-guard/ta-guard/test/testenv"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/yaml"

	"github.com/ta-guard/ta-guard/internal/cluster"
	"github.com/ta-guard/ta-guard/internal/metrics"
	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/internal/policy"
	"github.com/ta-guard/ta-guard/pkg/rules"
	"github.com/ta-guard/ta-guard/pkg/validate"
)

func seed(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../testdata/seed/" + name)
	require.NoError(t, err)
	return string(b)
}

func request(t *testing.T, op admissionv1.Operation, kind metav1.GroupVersionKind, newYAML, oldYAML string) admission.Request {
	t.Helper()
	raw := func(y string) runtime.RawExtension {
		if y == "" {
			return runtime.RawExtension{}
		}
		j, err := yaml.YAMLToJSON([]byte(y))
		require.NoError(t, err)
		return runtime.RawExtension{Raw: j}
	}
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: "1", Operation: op, Kind: kind, Namespace: "opentelemetry", Name: "x",
		Object: raw(newYAML), OldObject: raw(oldYAML),
	}}
}

var (
	collectorKind = metav1.GroupVersionKind{Group: "opentelemetry.io", Version: "v1beta1", Kind: "OpenTelemetryCollector"}
	serviceKind   = metav1.GroupVersionKind{Version: "v1", Kind: "Service"}
)

func newHandler(t *testing.T, view cluster.View, pol *policy.Policy) (*Handler, *metrics.Metrics) {
	m := metrics.New()
	return &Handler{View: view, Policy: func() *policy.Policy { return pol }, Ready: func() bool { return true }, Metrics: m, Log: logr.Discard()}, m
}

func TestHandlerActions(t *testing.T) {
	view := testenv.SeedStore(t, "collector.yaml", "servicemonitor.yaml", "service.yaml")
	del := request(t, admissionv1.Delete, serviceKind, "", seed(t, "service.yaml"))
	tests := []struct {
		name        string
		pol         *policy.Policy
		req         admission.Request
		allowed     bool
		warnings    []string
		deniedWith  string
		auditCount  float64
		findingRule string
	}{
		{
			name: "warn: admitted with one warning per finding", req: del, allowed: true,
			warnings: []string{"TA201 Service opentelemetry/py-prometheus-app: job serviceMonitor/opentelemetry/sm-example/0 loses its last target Service: the Service is deleted"},
		},
		{
			name: "deny: rejected with the finding and its fix", req: del,
			pol:        &policy.Policy{Rules: map[rules.ID]rules.Action{rules.TA201: rules.Deny}},
			deniedWith: "- TA201 Service opentelemetry/py-prometheus-app: job serviceMonitor/opentelemetry/sm-example/0 loses its last target Service: the Service is deleted\n  fix: keep the label",
		},
		{
			name: "audit: admitted silently, counted", req: del, allowed: true,
			pol:        &policy.Policy{DefaultAction: rules.Audit},
			auditCount: 1,
		},
		{
			name: "a kind ta-guard does not read", req: request(t, admissionv1.Create, metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, "metadata: {name: x}", ""),
			allowed: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, m := newHandler(t, view, tt.pol)
			resp := h.Handle(context.Background(), tt.req)
			assert.Equal(t, tt.deniedWith == "", resp.Allowed)
			if tt.deniedWith != "" {
				assert.Contains(t, resp.Result.Message, tt.deniedWith)
				// A DELETE has no field to mend: Forbidden, with the causes.
				assert.Equal(t, metav1.StatusReasonForbidden, resp.Result.Reason)
				require.NotNil(t, resp.Result.Details)
				assert.Len(t, resp.Result.Details.Causes, 1)
			}
			assert.Equal(t, tt.warnings, []string(resp.Warnings))
			assert.Equal(t, tt.auditCount, testutil.ToFloat64(m.Findings.WithLabelValues("TA201", "audit", "Service")))
		})
	}
}

// A review that gets no verdict is admitted with a warning, one line, under
// a policy that does not enforce; under one that does, what the request
// controls (its fields, a panic it provokes) is an error answer the API
// server handles by failurePolicy, never an allow. Only ta-guard's own
// trouble (caches not synced) admits unchecked in both.
func TestHandlerAnswersWithoutVerdict(t *testing.T) {
	view := testenv.SeedStore(t, "collector.yaml", "servicemonitor.yaml")
	enforce := &policy.Policy{DefaultAction: rules.Deny}
	tests := []struct {
		name   string
		setup  func(h *Handler)
		req    admission.Request
		reason string
		warn   string
		// enforced is the status under the enforcing policy; 0: admitted
		// unchecked there too.
		enforced int32
	}{
		{
			name:   "caches not synced",
			setup:  func(h *Handler) { h.Ready = func() bool { return false } },
			req:    request(t, admissionv1.Create, collectorKind, seed(t, "collector-selectors-omitted.yaml"), ""),
			reason: "not_synced", warn: NotChecked + "ta-guard's caches have not synced yet",
		},
		{
			name:   "an object of the wrong shape names the field",
			req:    request(t, admissionv1.Create, serviceKind, "metadata: {name: x, namespace: opentelemetry}\nspec: {ports: [{port: abc}]}", ""),
			reason: "decode", warn: "port", enforced: 422,
		},
		{
			name:   "a panic in a rule",
			setup:  func(h *Handler) { h.View = panicView{h.View} },
			req:    request(t, admissionv1.Create, serviceKind, seed(t, "service-port-bleh.yaml"), ""),
			reason: "panic", warn: NotChecked + "internal error", enforced: 500,
		},
	}
	for _, tt := range tests {
		for _, pol := range []*policy.Policy{nil, enforce} {
			t.Run(fmt.Sprintf("%s enforcing=%v", tt.name, pol.Enforcing()), func(t *testing.T) {
				h, m := newHandler(t, view, pol)
				if tt.setup != nil {
					tt.setup(h)
				}
				resp := h.Handle(context.Background(), tt.req)
				assert.Equal(t, 1.0, testutil.ToFloat64(m.Unchecked.WithLabelValues(tt.reason)))
				if pol.Enforcing() && tt.enforced != 0 {
					status, msg, ok := IsErrorAnswer(resp)
					require.True(t, ok, "an error answer, not a review: %+v", resp)
					assert.Equal(t, int(tt.enforced), status)
					assert.Contains(t, msg, "ta-guard could not judge this change")
					assert.NotContains(t, msg, "\n")
					return
				}
				assert.True(t, resp.Allowed)
				require.Len(t, resp.Warnings, 1)
				assert.Contains(t, resp.Warnings[0], tt.warn)
				assert.NotContains(t, resp.Warnings[0], "\n")
			})
		}
	}
}

// A field no selector can be made of is a finding (TA301), never a reason
// not to judge the rest: the collector stays denied for what the policy
// denies, and the invalid selector is denied too under defaultAction deny.
func TestInvalidSelectorIsAVerdict(t *testing.T) {
	view := testenv.SeedStore(t, "servicemonitor.yaml")
	doc := strings.Replace(seed(t, "collector-selectors-omitted.yaml"), "prometheusCR:\n", "prometheusCR:\n      podMonitorSelector: {matchExpressions: [{key: a, operator: Bogus}]}\n", 1)
	require.Contains(t, doc, "Bogus")
	for _, tt := range []struct {
		pol     *policy.Policy
		allowed bool
	}{{nil, true}, {&policy.Policy{DefaultAction: rules.Deny}, false}} {
		h, m := newHandler(t, view, tt.pol)
		resp := h.Handle(context.Background(), request(t, admissionv1.Create, collectorKind, doc, ""))
		assert.Equal(t, tt.allowed, resp.Allowed)
		text := strings.Join(resp.Warnings, "|")
		if resp.Result != nil {
			text += resp.Result.Message
		}
		assert.Contains(t, text, "TA301")
		assert.Contains(t, text, "spec.targetAllocator.prometheusCR.podMonitorSelector")
		assert.Equal(t, 0.0, testutil.ToFloat64(m.Unchecked.WithLabelValues("decode")))
		if !tt.allowed {
			// Refused as the API server refuses an invalid object: the
			// field each denial is about, for clients to show.
			assert.Equal(t, int32(http.StatusUnprocessableEntity), resp.Result.Code)
			assert.Equal(t, metav1.StatusReasonInvalid, resp.Result.Reason)
			require.NotNil(t, resp.Result.Details)
			assert.Equal(t, "OpenTelemetryCollector", resp.Result.Details.Kind)
			assert.Equal(t, "opentelemetry.io", resp.Result.Details.Group)
			var fields []string
			for _, c := range resp.Result.Details.Causes {
				assert.Equal(t, metav1.CauseTypeFieldValueInvalid, c.Type)
				assert.True(t, strings.HasPrefix(c.Message, "TA"), c.Message)
				assert.Contains(t, c.Message, "\n  fix: ", "kubectl shows the causes, not the message: each carries its fix")
				fields = append(fields, c.Field)
			}
			assert.Contains(t, fields, "spec.targetAllocator.prometheusCR.podMonitorSelector")
		}
	}
}

// A forged review whose object sits in another namespace than the request
// says is refused whatever the policy: the API server never sends one.
func TestObjectNamespaceMustBeTheRequests(t *testing.T) {
	h, m := newHandler(t, testenv.SeedStore(t, "collector.yaml", "servicemonitor.yaml", "service.yaml"), nil)
	req := request(t, admissionv1.Create, serviceKind, strings.Replace(seed(t, "service-port-bleh.yaml"), "namespace: opentelemetry", "namespace: team-b", 1), "")
	require.Equal(t, "opentelemetry", req.Namespace)
	status, msg, ok := IsErrorAnswer(h.Handle(context.Background(), req))
	require.True(t, ok)
	assert.Equal(t, 400, status)
	assert.Contains(t, msg, `"team-b"`)
	assert.Equal(t, 1.0, testutil.ToFloat64(m.Unchecked.WithLabelValues("forged")))
}

// Every warning reaches kubectl: the API server drops one with a control
// character, so none has any, whatever the finding or the error says.
func TestWarningsAreOneLine(t *testing.T) {
	for _, in := range []string{"a\nb", "tab\there", "cr\r\nlf", "nul\x00", "bell\a", "ls\u2028ps\u2029", "bad\xffutf8", strings.Repeat("é\n", 300)} {
		w := warning(in)
		for _, r := range w {
			assert.False(t, r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029', "%q in %q", r, w)
		}
		assert.True(t, utf8.ValidString(w))
		assert.LessOrEqual(t, utf8.RuneCountInString(w), 250)
	}
}

// panicView stands for a bug in a rule.
type panicView struct{ cluster.View }

func (panicView) MonitorsSelecting(model.MonitorKind, string, map[string]string) []*model.Monitor {
	panic("boom")
}

// Warnings longer than the API server keeps are cut with a mark.
func TestTruncate(t *testing.T) {
	s := truncate(strings.Repeat("x", 400))
	assert.Len(t, s, 250)
	assert.True(t, strings.HasSuffix(s, "..."))
	assert.Equal(t, "short", truncate("short"))
}

// A change with 20,000 findings (a monitor with 20,000 endpoints) answers
// within what the API server relays: a few warnings, then one line counting
// the rest and saying where they all are; a denial lists the first reasons
// likewise. Every warning is valid UTF-8, cut on a rune boundary.
func TestWarningChannelIsBounded(t *testing.T) {
	h, _ := newHandler(t, cluster.NewStore(), nil)
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{Namespace: "team-a", Operation: admissionv1.Create}}
	finding := func(i int, a rules.Action) rules.Finding {
		return rules.Finding{Rule: "TA103", Action: a, Object: model.Ref{Kind: "ServiceMonitor", Namespace: "team-a", Name: "m"},
			Message: fmt.Sprintf("TA103 ServiceMonitor team-a/m endpoint %d: port «métriques-%d» — ", i, i) + strings.Repeat("é", 300)}
	}
	tests := []struct {
		name      string
		findings  int
		action    rules.Action
		wantLines int // at most
	}{
		{"20,000 warnings", 20000, rules.Warn, 16},
		{"3 warnings pass whole", 3, rules.Warn, 3},
		{"20,000 denials", 20000, rules.Deny, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fs []rules.Finding
			for i := range tt.findings {
				fs = append(fs, finding(i, tt.action))
			}
			resp := h.respond(req, fs)
			total := 0
			for _, w := range resp.Warnings {
				assert.True(t, utf8.ValidString(w), "valid UTF-8: %q", w)
				assert.LessOrEqual(t, utf8.RuneCountInString(w), 256)
				total += utf8.RuneCountInString(w)
			}
			assert.LessOrEqual(t, total, 4096-512, "room left for the handler's own notes")
			assert.LessOrEqual(t, len(resp.Warnings), tt.wantLines)
			if tt.findings > 100 && tt.action == rules.Warn {
				last := resp.Warnings[len(resp.Warnings)-1]
				assert.Regexp(t, `^ta-guard: and \d+ more warning\(s\): ta-guard diagnose and the audit's PolicyReport in namespace team-a list them all$`, last)
			}
			if tt.action == rules.Deny {
				require.NotNil(t, resp.Result)
				assert.False(t, resp.Allowed)
				assert.Less(t, len(resp.Result.Message), 64<<10)
				assert.Contains(t, resp.Result.Message, fmt.Sprintf("- and %d more: ta-guard diagnose", tt.findings-maxDenyReasons))
			}
			if tt.findings == 3 {
				assert.Len(t, resp.Warnings, 3)
			}
		})
	}
}

// failingFacts is an API server that answers no live question: down, or
// the requester's budget spent with no earlier answer to fall back on.
type failingFacts struct{}

var errNoAnswer = errors.New("this requester's budget of access reviews is spent")

func (failingFacts) MonitorKindServed(model.MonitorKind) bool { return true }
func (failingFacts) ServiceAccountExists(context.Context, string, string) (bool, error) {
	return false, errNoAnswer
}
func (failingFacts) MissingPermissions(context.Context, string, string, []validate.Permission) ([]validate.Permission, error) {
	return nil, errNoAnswer
}
func (failingFacts) MayGetSecret(context.Context, string, string, string, string) (bool, error) {
	return false, errNoAnswer
}
func (failingFacts) LookupSecret(context.Context, string, string) (validate.SecretInfo, error) {
	return validate.SecretInfo{}, errNoAnswer
}

// A live rule the policy denies on, left undecided (no answer in time, no
// last known one), is no allow: the answer is an error status, which the
// API server handles by failurePolicy. A policy that denies on no live rule
// admits with a one-line "not checked" warning, and a denial found anyway
// stays a denial.
func TestLiveChecksCannotBeStarvedIntoAnAllow(t *testing.T) {
	view := testenv.SeedStore(t, "servicemonitor.yaml", "service.yaml")
	req := request(t, admissionv1.Create, collectorKind, seed(t, "collector.yaml"), "")
	tests := []struct {
		name    string
		pol     *policy.Policy
		status  int  // error answer expected
		allowed bool // otherwise
	}{
		{"TA010 deny: an error answer", &policy.Policy{Rules: map[rules.ID]rules.Action{rules.TA010: rules.Deny}}, 503, false},
		{"TA008 deny: an error answer", &policy.Policy{Rules: map[rules.ID]rules.Action{rules.TA008: rules.Deny}}, 503, false},
		{"no live rule denied: admitted, said so", &policy.Policy{Rules: map[rules.ID]rules.Action{rules.TA003: rules.Deny}}, 0, true},
		{"a denial found anyway stands", &policy.Policy{Rules: map[rules.ID]rules.Action{rules.TA010: rules.Deny, rules.TA003: rules.Deny}}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := newHandler(t, view, tt.pol)
			h.Facts = failingFacts{}
			r := req
			if !tt.allowed && tt.status == 0 {
				r = request(t, admissionv1.Create, collectorKind, seed(t, "collector-selectors-omitted.yaml"), "")
			}
			resp := h.Handle(context.Background(), r)
			if !tt.allowed && tt.status == 0 {
				require.False(t, resp.Allowed)
				assert.Contains(t, resp.Result.Message, "TA003")
				require.NotEmpty(t, resp.Warnings)
				assert.Contains(t, resp.Warnings[len(resp.Warnings)-1], "not every check ran")
				assert.False(t, strings.HasPrefix(resp.Warnings[len(resp.Warnings)-1], NotChecked), "a denial is no \"not checked\"")
				return
			}
			if tt.status != 0 {
				status, msg, ok := IsErrorAnswer(resp)
				require.True(t, ok, "%+v", resp)
				assert.Equal(t, tt.status, status)
				assert.Contains(t, msg, errNoAnswer.Error())
				return
			}
			require.True(t, resp.Allowed, "%+v", resp.Result)
			require.NotEmpty(t, resp.Warnings)
			last := resp.Warnings[len(resp.Warnings)-1]
			assert.True(t, strings.HasPrefix(last, NotChecked), last)
			assert.NotContains(t, last, "\n")
		})
	}
}

// A request whose deadline passes while the rules run is no allow under an
// enforcing policy (what the request holds decides how long they take).
func TestDeadlineIsNoAllowUnderEnforcement(t *testing.T) {
	view := testenv.SeedStore(t, "collector.yaml", "service.yaml")
	req := request(t, admissionv1.Create, metav1.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "ServiceMonitor"}, seed(t, "servicemonitor.yaml"), "")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h, m := newHandler(t, view, &policy.Policy{DefaultAction: rules.Deny})
	status, msg, ok := IsErrorAnswer(h.Handle(ctx, req))
	require.True(t, ok)
	assert.Equal(t, 503, status)
	assert.Contains(t, msg, "deadline")
	assert.Equal(t, 1.0, testutil.ToFloat64(m.Unchecked.WithLabelValues("deadline")))

	h, _ = newHandler(t, view, nil)
	resp := h.Handle(ctx, req)
	assert.True(t, resp.Allowed)
	require.NotEmpty(t, resp.Warnings)
	assert.True(t, strings.HasPrefix(resp.Warnings[len(resp.Warnings)-1], NotChecked))
}
