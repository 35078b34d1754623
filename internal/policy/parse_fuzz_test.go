package policy_test

import (
	"bytes"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v4"

	"github.com/ta-guard/ta-guard/internal/policy"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

// parseLimit is far above what a policy file takes (microseconds), and
// below what a person waits for a reload.
const parseLimit = 5 * time.Second

var lineFirst = regexp.MustCompile(`^([0-9]+): .`)

// FuzzParse feeds Parse arbitrary policy files. A policy is written by hand
// and reloaded while the webhook runs, so Parse must never panic, every
// refusal must point at a line of the file (that is how LoadFile's errors
// read), and whatever it accepts must say only what the file can say: known
// rules, real actions, and the same policy again once written back out.
func FuzzParse(f *testing.F) {
	f.Add([]byte("defaultAction: warn\nrules:\n  TA101: deny\nexcludeNamespaces: [kube-system]\n"))
	f.Add([]byte("rules:\n  ta106: OFF\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Go's fuzzer has no per-input time limit: a hang would stall the
		// worker until -fuzztime ran out, and the input would be lost.
		var (
			p    *policy.Policy
			err  error
			done = make(chan struct{})
		)
		go func() {
			defer close(done)
			p, err = policy.Parse(data)
		}()
		select {
		case <-done:
		case <-time.After(parseLimit):
			t.Fatalf("Parse of %d bytes still running after %s", len(data), parseLimit)
		}
		if err != nil {
			m := lineFirst.FindStringSubmatch(err.Error())
			if m == nil {
				t.Fatalf("error names no line: %q", err)
			}
			n, _ := strconv.Atoi(m[1])
			if n < 1 || n > lastLine(data) {
				t.Fatalf("error names line %d of a %d-line file: %q", n, lastLine(data), err)
			}
			return
		}
		if p == nil {
			t.Fatal("no error and no policy")
		}
		checkActions(t, p)
		back, err := policy.Parse(render(t, p))
		if err != nil {
			t.Fatalf("the policy written back out does not parse: %v\n%s", err, render(t, p))
		}
		if !reflect.DeepEqual(p, back) {
			t.Fatalf("written back out and read again, the policy changed:\n%#v\n%#v", p, back)
		}
	})
}

func checkActions(t *testing.T, p *policy.Policy) {
	t.Helper()
	valid := func(a rules.Action) bool {
		got, err := rules.ParseAction(string(a))
		return err == nil && got == a
	}
	if p.DefaultAction != "" && !valid(p.DefaultAction) {
		t.Fatalf("defaultAction %q is no action", p.DefaultAction)
	}
	for id, a := range p.Rules {
		if _, ok := rules.Lookup(id); !ok {
			t.Fatalf("accepted unknown rule %q", id)
		}
		if !valid(a) {
			t.Fatalf("rule %s: %q is no action", id, a)
		}
	}
	for ns := range p.ExcludeNamespaces {
		if ns == "" {
			t.Fatal("an empty namespace name is excluded")
		}
	}
	for _, r := range rules.All() {
		if !valid(p.ActionFor(r.ID)) {
			t.Fatalf("ActionFor(%s) = %q", r.ID, p.ActionFor(r.ID))
		}
	}
}

// render writes a policy in the documented format, each field present
// exactly when Parse would have set it.
func render(t *testing.T, p *policy.Policy) []byte {
	t.Helper()
	doc := map[string]any{}
	if p.DefaultAction != "" {
		doc["defaultAction"] = string(p.DefaultAction)
	}
	if p.Rules != nil {
		rs := map[string]string{}
		for id, a := range p.Rules {
			rs[string(id)] = string(a)
		}
		doc["rules"] = rs
	}
	if p.ExcludeNamespaces != nil {
		ns := []string{}
		for n := range p.ExcludeNamespaces {
			ns = append(ns, n)
		}
		sort.Strings(ns)
		doc["excludeNamespaces"] = ns
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatalf("marshal %#v: %v", doc, err)
	}
	return out
}

// lastLine is the number of the file's last line as YAML counts lines,
// which is also how editors show a file: CR, LF, CRLF, NEL, LS and PS each
// end a line, a final line break opens no new one, and an empty file has one.
func lastLine(data []byte) int {
	n, open := 0, false
	for i := 0; i < len(data); i++ {
		switch {
		case data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n':
			i++
			n, open = n+1, false
		case data[i] == '\r' || data[i] == '\n':
			n, open = n+1, false
		case bytes.HasPrefix(data[i:], []byte("\u0085")):
			i++
			n, open = n+1, false
		case bytes.HasPrefix(data[i:], []byte("\u2028")) || bytes.HasPrefix(data[i:], []byte("\u2029")):
			i += 2
			n, open = n+1, false
		default:
			open = true
		}
	}
	if open || n == 0 {
		n++
	}
	return n
}
