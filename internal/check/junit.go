package check

import (
	"encoding/xml"
	"io"
	"strings"

	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

// The JUnit XML shape Jenkins, GitLab and most CI test reports accept.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Classname string         `xml:"classname,attr"`
	Name      string         `xml:"name,attr"`
	File      string         `xml:"file,attr,omitempty"`
	Failures  []junitFailure `xml:"failure"`
	SystemOut string         `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:",chardata"`
}

// junitUnplaced names the suite of objects no input file placed (findings
// about an object the input does not contain); normally it stays empty.
const junitUnplaced = "ta-guard check"

// WriteJUnit writes one test suite per input file and one test case per
// checked object, so that a CI test report counts objects: an object
// passes when none of its findings reaches failOn. Each finding at or
// above failOn is a <failure>; those below go to the case's <system-out>,
// not <skipped>, because the object was checked, and a skipped test would
// read as if it had not been. failures counts failing objects (test cases),
// as JUnit readers expect, not findings.
func (r *Result) WriteJUnit(w io.Writer, failOn rules.Action) error {
	type entry struct {
		suite string
		tc    junitCase
	}
	var order []string
	byKey := map[string]*entry{}
	add := func(ref model.Ref) *entry {
		key := ref.Key()
		if e, ok := byKey[key]; ok {
			return e
		}
		e := &entry{suite: junitUnplaced, tc: junitCase{Classname: ref.Kind, Name: ref.NamespacedName()}}
		if pos, ok := r.positions[key]; ok {
			e.suite = artifactURI(pos.File)
			e.tc.File = e.suite
		}
		byKey[key] = e
		order = append(order, key)
		return e
	}
	for _, ref := range r.subjects {
		add(ref)
	}
	below := map[string][]string{}
	for _, f := range r.Findings {
		e := add(f.Object)
		if f.Action.Fails(failOn) {
			e.tc.Failures = append(e.tc.Failures, junitFailure{Message: f.Summary(), Type: string(f.Rule), Body: message(f)})
		} else {
			key := f.Object.Key()
			below[key] = append(below[key], string(f.Action)+" "+message(f))
		}
	}
	out := junitSuites{Name: junitUnplaced}
	suiteAt := map[string]int{}
	for _, key := range order {
		e := byKey[key]
		if lines := below[key]; len(lines) > 0 {
			e.tc.SystemOut = strings.Join(lines, "\n") + "\n"
		}
		i, ok := suiteAt[e.suite]
		if !ok {
			i = len(out.Suites)
			suiteAt[e.suite] = i
			out.Suites = append(out.Suites, junitSuite{Name: e.suite})
		}
		s := &out.Suites[i]
		s.Cases = append(s.Cases, e.tc)
		s.Tests++
		out.Tests++
		if len(e.tc.Failures) > 0 {
			s.Failures++
			out.Failures++
		}
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// message is the finding's message with its fix; findings built without
// Render have none, so it is rendered from the fields then.
func message(f rules.Finding) string {
	if f.Message == "" {
		f.Render()
	}
	return f.Message
}
