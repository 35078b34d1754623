package audit

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ta-guard/ta-guard/test/testenv"
	"github.com/ta-guard/ta-guard/test/worldgen"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/events"

	"github.com/ta-guard/ta-guard/internal/policy"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

func drain(r *events.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-r.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// A new finding gets one Event; the same finding at the next audit none; a
// finding that goes and comes back within the interval none either.
func TestEventsForNewFindingsOnlyAndRateLimited(t *testing.T) {
	store := testenv.SeedStore(t, "collector.yaml", "servicemonitor.yaml", "service-port-bleh.yaml")
	rec := events.NewFakeRecorder(100)
	a := &Auditor{View: store, Events: rec, Log: logr.Discard(), EventInterval: time.Hour}
	ctx := context.Background()

	first0, err := a.Run(ctx)
	require.NoError(t, err)
	seenAt := map[rules.Identity]time.Time{}
	for _, f := range first0.Findings {
		seenAt[f.Identity()] = a.firstSeen[f.Identity()]
	}
	first := drain(rec)
	require.Len(t, first, 4, "TA103 x3 and TA202")
	assert.True(t, strings.HasPrefix(first[0], "Warning "), first[0])
	assert.Contains(t, strings.Join(first, "\n"), "service-port-mismatch")

	_, err = a.Run(ctx)
	require.NoError(t, err)
	assert.Empty(t, drain(rec), "nothing new")

	// The Service is fixed, then broken again: a flapping object.
	fixed := testenv.SeedStore(t, "service.yaml").Subjects()[0]
	store.Upsert(fixed)
	res, err := a.Run(ctx)
	require.NoError(t, err)
	// Endpoints 1 and 2 still miss their ports, and now say so differently
	// ("has: prom"): the same findings, so no Event and the first-seen
	// time of the first audit.
	assert.Empty(t, drain(rec), "a finding whose wording changes is not new")
	require.Len(t, res.Findings, 2)
	assert.Contains(t, res.Findings[0].Message, "py-prometheus-app has: prom")
	for _, f := range res.Findings {
		assert.Equal(t, seenAt[f.Identity()], a.firstSeen[f.Identity()], "%s keeps the time it was first seen", f.Summary())
	}
	broken := testenv.SeedStore(t, "service-port-bleh.yaml").Subjects()[0]
	store.Upsert(broken)
	_, err = a.Run(ctx)
	require.NoError(t, err)
	assert.Empty(t, drain(rec), "the same findings again within the interval: no Event")
}

func TestReportsPerNamespace(t *testing.T) {
	store := testenv.SeedStore(t, "collector.yaml", "servicemonitor.yaml", "service-port-bleh.yaml")
	pol := &policy.Policy{Rules: map[rules.ID]rules.Action{rules.TA202: rules.Deny, rules.TA103: rules.Audit}}
	a := &Auditor{View: store, Policy: func() *policy.Policy { return pol }, Log: logr.Discard()}
	res, err := a.Run(context.Background())
	require.NoError(t, err)
	require.Len(t, res.Reports, 1)
	r := res.Reports["opentelemetry"]
	require.NotNil(t, r)
	assert.Equal(t, Summary{Fail: 1, Warn: 3}, r.Summary, "deny is a failure; warn and audit are warnings")
	var got []string
	for _, x := range r.Results {
		got = append(got, x.Rule+" "+x.Result+" "+x.Severity+" "+x.Resources[0].Kind+"/"+x.Resources[0].Name+" "+x.Props["job"])
	}
	assert.Equal(t, []string{
		"TA202 fail high Service/py-prometheus-app ",
		"TA103 warn low ServiceMonitor/sm-example serviceMonitor/opentelemetry/sm-example/0",
		"TA103 warn low ServiceMonitor/sm-example serviceMonitor/opentelemetry/sm-example/1",
		"TA103 warn low ServiceMonitor/sm-example serviceMonitor/opentelemetry/sm-example/2",
	}, got)
	for _, x := range r.Results {
		assert.Equal(t, Source, x.Source)
		assert.NotZero(t, x.Timestamp.Seconds)
	}
	u, err := r.object(ReportGVK)
	require.NoError(t, err)
	assert.Equal(t, ReportGVK, u.GroupVersionKind())
	assert.Equal(t, map[string]string{ManagedByLabel: Source}, u.GetLabels())
	assert.NotContains(t, u.Object, "source", "a PolicyReport has no source of its own")

	// The OpenReports Report: the same results and summary, and its source.
	o, err := r.object(OpenReportGVK)
	require.NoError(t, err)
	assert.Equal(t, OpenReportGVK, o.GroupVersionKind())
	assert.Equal(t, Source, o.Object["source"])
	assert.Equal(t, u.Object["results"], o.Object["results"])
	assert.Equal(t, u.Object["summary"], o.Object["summary"])
	assert.Equal(t, u.GetName(), o.GetName())
	assert.Equal(t, u.GetLabels(), o.GetLabels())
}

// --report-api: auto prefers OpenReports and falls back; both writes to
// each served; the named one alone otherwise.
func TestReportAPIs(t *testing.T) {
	tests := []struct {
		flag  string
		kinds []schema.GroupVersionKind
		first bool
	}{
		{"auto", []schema.GroupVersionKind{OpenReportGVK, ReportGVK}, true},
		{"both", []schema.GroupVersionKind{OpenReportGVK, ReportGVK}, false},
		{"openreports", []schema.GroupVersionKind{OpenReportGVK}, true},
		{"wgpolicyk8s", []schema.GroupVersionKind{ReportGVK}, true},
	}
	for _, tt := range tests {
		r, err := ParseReportAPIs(tt.flag)
		require.NoError(t, err)
		kinds, first := r.candidates()
		assert.Equal(t, tt.kinds, kinds, tt.flag)
		assert.Equal(t, tt.first, first, tt.flag)
	}
	_, err := ParseReportAPIs("policyreport")
	assert.ErrorContains(t, err, "auto, both, openreports or wgpolicyk8s")
	var unset ReportAPIs
	kinds, first := unset.candidates()
	assert.Equal(t, []schema.GroupVersionKind{OpenReportGVK, ReportGVK}, kinds, "unset is auto")
	assert.True(t, first)
}

// Policy off and the skip annotation keep findings out of the reports too.
func TestReportsFollowThePolicy(t *testing.T) {
	store := testenv.SeedStore(t, "collector.yaml", "servicemonitor.yaml", "service-port-bleh.yaml")
	off := &policy.Policy{DefaultAction: rules.Off}
	a := &Auditor{View: store, Policy: func() *policy.Policy { return off }, Log: logr.Discard()}
	res, err := a.Run(context.Background())
	require.NoError(t, err)
	assert.Empty(t, res.Findings)
	assert.Empty(t, res.Reports)
}

// The audit keys first-seen times and Events on identities: over a
// generated cluster (50 namespaces, a thousand Services, monitors right
// and wrong), no two findings share one.
func TestIdentitiesAreUniqueOverAGeneratedCluster(t *testing.T) {
	a := &Auditor{View: worldgen.Generate(worldgen.Tenth), Log: logr.Discard()}
	res, err := a.Run(context.Background())
	require.NoError(t, err)
	require.NotEmpty(t, res.Findings)
	seen := map[rules.Identity]string{}
	for _, f := range res.Findings {
		if prev, dup := seen[f.Identity()]; dup {
			t.Fatalf("two findings share %s:\n%s\n%s", f.Identity(), prev, f.Summary())
		}
		seen[f.Identity()] = f.Summary()
	}
	t.Logf("%d findings, all distinct", len(res.Findings))
}
