package validate

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ta-guard/ta-guard/internal/cluster"
	"github.com/ta-guard/ta-guard/internal/manifest"
	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/internal/policy"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

// objects decodes YAML documents into model objects.
func objects(t testing.TB, docs ...string) []model.Object {
	t.Helper()
	var out []model.Object
	for i, d := range docs {
		parsed, err := manifest.Read(fmt.Sprintf("doc%d", i), strings.NewReader(d), "default")
		require.NoError(t, err)
		for _, p := range parsed {
			require.NotNil(t, p.Object, "doc %d: unsupported kind %s", i, p.GVK)
			out = append(out, p.Object)
		}
	}
	return out
}

func object(t testing.TB, doc string) model.Object {
	t.Helper()
	objs := objects(t, doc)
	require.Len(t, objs, 1)
	return objs[0]
}

func store(t testing.TB, docs ...string) *cluster.Store {
	t.Helper()
	s := cluster.NewStore()
	for _, o := range objects(t, docs...) {
		s.Upsert(o)
	}
	return s
}

// change describes one request against a world.
type change struct {
	op       Operation
	old, new string // YAML; empty when absent
	world    []string
	pol      *policy.Policy
}

// run evaluates the change. The world holds the old object (as a live
// cluster does before the change), never the new one.
func (c change) run(t testing.TB) []rules.Finding {
	t.Helper()
	s := store(t, c.world...)
	req := Request{Operation: c.op}
	if c.old != "" {
		req.OldObject = object(t, c.old)
		s.Upsert(req.OldObject)
	}
	if c.new != "" {
		req.Object = object(t, c.new)
	}
	if req.Operation == "" {
		req.Operation = Create
	}
	return offline(t, req, s, c.pol)
}

// offline runs the engine without facts, as check does.
func offline(t testing.TB, req Request, v cluster.View, pol *policy.Policy) []rules.Finding {
	t.Helper()
	res, err := Evaluate(context.Background(), req, v, Options{Policy: pol})
	if err != nil {
		t.Fatalf("offline evaluation failed: %v", err)
	}
	return res.Findings
}

// ids renders findings as "TA103 serviceMonitor/ns/name/1" (job when set),
// sorted, for compact expectations.
func ids(fs []rules.Finding) []string {
	out := []string{}
	for _, f := range fs {
		s := string(f.Rule)
		if f.Job != "" {
			s += " " + f.Job
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func messages(fs []rules.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.Message)
		b.WriteByte('\n')
	}
	return b.String()
}
