package diagnose

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// WriteJSON writes the diagnosis as JSON.
func (d *Diagnosis) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(d)
}

// WriteText writes the chain as an indented tree of ✓ and ✗, with the
// reason and the fix under every ✗. Color is for terminals only.
func (d *Diagnosis) WriteText(w io.Writer, color bool) error {
	p := &printer{color: color}
	if len(d.Allocators) == 0 {
		p.line(0, "no OpenTelemetryCollector with a target allocator, and no TargetAllocator, found")
	}
	for i, a := range d.Allocators {
		if i > 0 {
			p.b.WriteByte('\n')
		}
		p.allocator(a)
	}
	if len(d.Other) > 0 {
		p.b.WriteByte('\n')
		p.line(0, p.bold("Other findings"))
		for _, f := range d.Other {
			name := f.Object.String()
			if f.Subject != "" {
				name += " " + f.Subject
			}
			p.step(1, Step{Name: name, Detail: f.What, Rule: f.Rule, Action: f.Action, Fix: f.Fix})
		}
	}
	p.b.WriteByte('\n')
	if len(d.Unchecked) > 0 {
		p.line(0, p.bold("Not checked"))
		for _, u := range d.Unchecked {
			p.line(1, "– "+u)
		}
		p.b.WriteByte('\n')
	}
	if d.Policy != "" {
		p.line(0, "policy: "+d.Policy)
	}
	switch {
	case d.Blind:
		p.line(0, p.red("verdict: BLIND")+" - something meant for a target allocator is not scraped (see the ✗ above)")
	case d.AtRisk:
		p.line(0, p.red("verdict: AT RISK")+" - nothing is blind yet, but the next monitor of some kind will be (see the ✗ above)")
	case len(d.Unchecked) > 0:
		p.line(0, p.green("verdict: OK")+" - nothing blind in what could be checked (see Not checked above)")
	default:
		p.line(0, p.green("verdict: OK")+" - every target allocator sees every monitor meant for it")
	}
	_, err := io.WriteString(w, p.b.String())
	return err
}

type printer struct {
	b     strings.Builder
	color bool
}

func (p *printer) paint(code, s string) string {
	if !p.color {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func (p *printer) red(s string) string   { return p.paint("31", s) }
func (p *printer) green(s string) string { return p.paint("32", s) }
func (p *printer) bold(s string) string  { return p.paint("1", s) }

func (p *printer) line(depth int, s string) {
	p.b.WriteString(strings.Repeat("  ", depth))
	p.b.WriteString(s)
	p.b.WriteByte('\n')
}

func (p *printer) mark(ok bool) string {
	if ok {
		return p.green("✓")
	}
	return p.red("✗")
}

func (p *printer) step(depth int, s Step) {
	mark := p.mark(s.OK)
	if s.Off {
		mark = "–"
	}
	text := fmt.Sprintf("%s %s: %s", mark, s.Name, s.Detail)
	if !s.OK && s.Rule != "" {
		text += " [" + string(s.Rule) + "]"
	}
	p.line(depth, text)
	if !s.OK && s.Fix != "" {
		p.line(depth+2, "fix: "+s.Fix)
	}
}

func (p *printer) allocator(a *Allocator) {
	p.line(0, p.bold(a.Object.String()))
	for _, s := range a.Steps {
		p.step(1, s)
	}
	for _, s := range a.Access {
		p.step(1, s)
	}
	for _, k := range a.Kinds {
		p.line(1, p.bold(k.Kind+"s"))
		p.step(2, k.Selector)
		p.step(2, k.Namespaces)
		if len(k.Monitors) == 0 && k.Selector.OK {
			p.line(2, "(no "+k.Kind+" is read)")
		}
		for _, m := range k.Monitors {
			p.monitor(m)
		}
		if len(k.NearMisses) > 0 {
			p.line(2, p.red("✗")+" near misses: "+k.Kind+"s no reader reads [TA101]")
			for _, nm := range k.NearMisses {
				if nm.Object.Name == "" {
					p.line(3, strings.Join(nm.Reasons, "; "))
					continue
				}
				p.line(3, nm.Object.String()+": "+strings.Join(nm.Reasons, "; "))
			}
		}
	}
	if a.TA != nil {
		p.comparison(a.TA)
	}
}

func (p *printer) monitor(m Monitor) {
	sel := "selects nothing"
	switch {
	case len(m.Selects) > 0:
		sel = "selects " + strings.Join(abbreviate(m.Selects, 5), ", ")
	case len(m.Endpoints) > 0 && m.Endpoints[0].Own:
		sel = "static targets or its own service discovery"
	}
	p.line(2, fmt.Sprintf("%s (%s)", m.Object, sel))
	for _, s := range m.Problems {
		p.step(3, s)
	}
	for _, e := range m.Endpoints {
		where := ""
		switch {
		case len(e.Found) > 0:
			where = " on " + strings.Join(abbreviate(e.Found, 3), ", ")
		case len(e.Unknown) > 0:
			where = " (not checked: the Pods of " + strings.Join(abbreviate(e.Unknown, 3), ", ") + " are not in the input)"
		}
		mark := p.mark(e.OK)
		if e.Off {
			p.line(3, fmt.Sprintf("– job %s: %s: %s [%s]", e.Job, e.Port, e.Reason, e.Rule))
			continue
		}
		if e.Own {
			where = "its own targets"
		} else if e.OK && len(e.Found) == 0 && len(e.Unknown) == 0 {
			// Nothing is selected: the monitor-level finding (TA102) says
			// why, when the input shows it.
			mark, where = "–", " (nothing selected)"
		}
		text := fmt.Sprintf("%s job %s: %s%s", mark, e.Job, e.Port, where)
		if !e.OK {
			text += ": " + e.Reason
			if e.Rule != "" {
				text += " [" + string(e.Rule) + "]"
			}
		}
		p.line(3, text)
		if !e.OK && e.Fix != "" {
			p.line(5, "fix: "+e.Fix)
		}
		if len(e.Targets) > 0 {
			p.line(5, "targets: "+strings.Join(abbreviate(e.Targets, 6), ", "))
		}
	}
}

func (p *printer) comparison(c *Comparison) {
	ok := len(c.Differences) == 0
	p.line(1, fmt.Sprintf("%s running TA at %s: %d jobs configured, %d with targets", p.mark(ok), c.URL, len(c.Configured), len(c.WithTargets)))
	for _, d := range c.Differences {
		p.line(2, fmt.Sprintf("%s %s: %s", d.Job, d.Kind, d.Why))
		if d.Kind == "targets-differ" {
			p.line(4, "expected: "+strings.Join(d.Expected, ", "))
			p.line(4, "actual:   "+strings.Join(d.Actual, ", "))
		}
	}
}

func abbreviate(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(append([]string{}, s[:n]...), fmt.Sprintf("and %d more", len(s)-n))
}
