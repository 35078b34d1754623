package cli

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ta-guard/ta-guard/internal/manifest"
	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

// sarifSchemaFile is the OASIS SARIF 2.1.0 schema (errata01, id
// https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json).
// There is no network in the build sandbox, so it was taken byte for byte
// from the Go module github.com/owenrumney/go-sarif/v3@v3.3.1
// (pkg/report/v210/sarif/schema.go, the raw string it embeds), fetched from
// the module proxy. sha256 c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e.
const sarifSchemaFile = "testdata/sarif/sarif-schema-2.1.0.json"

func compileSARIFSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(sarifSchemaFile)
	require.NoError(t, err)
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	// Formats too: a relative artifact URI or "stdin" must still be a
	// valid uri-reference.
	c.AssertFormat()
	abs, err := filepath.Abs(sarifSchemaFile)
	require.NoError(t, err)
	require.NoError(t, c.AddResource(abs, doc))
	sch, err := c.Compile(abs)
	require.NoError(t, err)
	return sch
}

func validateSARIF(t *testing.T, sch *jsonschema.Schema, out string) {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	require.NoError(t, err)
	require.NoError(t, sch.Validate(inst), "SARIF output does not validate:\n%s", out)
}

// The parts of a SARIF log the tests look at.
type sarifOut struct {
	Runs []struct {
		Tool struct {
			Driver struct {
				Name    string `json:"name"`
				Version string `json:"version"`
				Rules   []struct {
					ID                   string `json:"id"`
					DefaultConfiguration struct {
						Level string `json:"level"`
					} `json:"defaultConfiguration"`
					Help struct {
						Text     string `json:"text"`
						Markdown string `json:"markdown"`
					} `json:"help"`
					HelpURI string `json:"helpUri"`
				} `json:"rules"`
			} `json:"driver"`
		} `json:"tool"`
		Results []struct {
			RuleID    string `json:"ruleId"`
			RuleIndex int    `json:"ruleIndex"`
			Level     string `json:"level"`
			Message   struct {
				Text string `json:"text"`
			} `json:"message"`
			Locations []struct {
				PhysicalLocation struct {
					ArtifactLocation struct {
						URI string `json:"uri"`
					} `json:"artifactLocation"`
					Region struct {
						StartLine int `json:"startLine"`
					} `json:"region"`
				} `json:"physicalLocation"`
				LogicalLocations []struct {
					Name               string `json:"name"`
					FullyQualifiedName string `json:"fullyQualifiedName"`
				} `json:"logicalLocations"`
			} `json:"locations"`
			Properties struct {
				Job    string `json:"job"`
				Object string `json:"object"`
			} `json:"properties"`
		} `json:"results"`
	} `json:"runs"`
}

// positions reads where each object starts, with the manifest loader
// alone, so that the expected file and line do not come from the code
// under test.
func positions(t *testing.T, files []string) (map[string]manifest.Doc, int) {
	t.Helper()
	docs, err := manifest.Load(files, manifest.Options{Namespace: "default"})
	require.NoError(t, err)
	out := map[string]manifest.Doc{}
	checked := 0
	for _, d := range docs {
		if d.Object == nil {
			continue
		}
		out[d.Object.GetMeta().Ref.Key()] = d
		switch d.Object.(type) {
		case *model.Allocator, *model.Monitor, *model.Service:
			checked++
		}
	}
	return out, checked
}

func TestCheckSARIF(t *testing.T) {
	inRepoRoot(t)
	sch := compileSARIFSchema(t)
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "", checkArgs(sc.files, "-o", "sarif")...)
			require.Equal(t, 0, code, "stderr: %s", stderr)
			assert.Empty(t, stderr, "sarif mode writes nothing to stderr")
			validateSARIF(t, sch, stdout)

			var log sarifOut
			require.NoError(t, json.Unmarshal([]byte(stdout), &log))
			require.Len(t, log.Runs, 1)
			run := log.Runs[0]
			assert.Equal(t, "ta-guard", run.Tool.Driver.Name)
			assert.Equal(t, Version(), run.Tool.Driver.Version)
			// Every rule carries help a viewer shows with its alerts: what
			// it is about, its default, and how one object opts out.
			require.Len(t, run.Tool.Driver.Rules, len(rules.All()))
			for i, r := range rules.All() {
				sr := run.Tool.Driver.Rules[i]
				for _, help := range []string{sr.Help.Text, sr.Help.Markdown} {
					assert.Contains(t, help, r.Summary, r.ID)
					assert.Contains(t, help, string(r.Default), r.ID)
					assert.Contains(t, help, `ta-guard.io/skip: "`+string(r.ID)+`"`, r.ID)
				}
				assert.Equal(t, "https://github.com/ta-guard/ta-guard#rules", sr.HelpURI)
			}
			require.Len(t, run.Results, len(sc.want), "one result per finding")
			docs, _ := positions(t, sc.files)
			got := make([]key, 0, len(run.Results))
			for _, r := range run.Results {
				assert.Equal(t, "warning", r.Level, "%s is warn by default", r.RuleID)
				require.Less(t, r.RuleIndex, len(run.Tool.Driver.Rules))
				assert.Equal(t, r.RuleID, run.Tool.Driver.Rules[r.RuleIndex].ID, "ruleIndex points at the rule")
				require.Len(t, r.Locations, 1)
				loc := r.Locations[0]
				require.Len(t, loc.LogicalLocations, 1)
				obj := loc.LogicalLocations[0].Name
				assert.Equal(t, obj, r.Properties.Object)
				kind, nsName, ok := strings.Cut(obj, " ")
				require.True(t, ok, "logical location %q is Kind ns/name", obj)
				namespace, name, _ := strings.Cut(nsName, "/")
				d, ok := docs[kind+"/"+namespace+"/"+name]
				require.True(t, ok, "%s is an input object", obj)
				assert.Equal(t, d.Source, loc.PhysicalLocation.ArtifactLocation.URI)
				assertFieldLine(t, d.Source, d.Line, loc.PhysicalLocation.Region.StartLine,
					strings.TrimPrefix(loc.LogicalLocations[0].FullyQualifiedName, obj+" "))
				assert.Contains(t, r.Message.Text, obj)
				got = append(got, key{r.RuleID, kind, namespace, name, r.Properties.Job})
			}
			assert.ElementsMatch(t, sc.want, got)
		})
	}
}

func TestCheckSARIFLevels(t *testing.T) {
	inRepoRoot(t)
	sch := compileSARIFSchema(t)
	bleh := []string{seed + "collector.yaml", seed + "servicemonitor.yaml", seed + "service-port-bleh.yaml"}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		// wantLevels counts results by level.
		wantLevels map[string]int
	}{
		{name: "catalog defaults", args: checkArgs(bleh, "-o", "sarif"), wantCode: 0, wantLevels: map[string]int{"warning": 4}},
		{
			// The policy, not the catalog, sets a result's level; the exit
			// code follows --fail-on as in text mode.
			name:       "policy makes TA103 deny",
			args:       checkArgs(bleh, "-o", "sarif", "--policy", "testdata/check/policy-ta103-deny.yaml"),
			wantCode:   1,
			wantLevels: map[string]int{"error": 3, "warning": 1},
		},
		{name: "fail-on warn", args: checkArgs(bleh, "-o", "sarif", "--fail-on", "warn"), wantCode: 1, wantLevels: map[string]int{"warning": 4}},
		{name: "no findings", args: checkArgs([]string{"testdata/check/clean"}, "-o", "sarif"), wantCode: 0, wantLevels: map[string]int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "", tt.args...)
			require.Equal(t, tt.wantCode, code, "stderr: %s", stderr)
			validateSARIF(t, sch, stdout)
			var log sarifOut
			require.NoError(t, json.Unmarshal([]byte(stdout), &log))
			require.Len(t, log.Runs, 1)
			levels := map[string]int{}
			for _, r := range log.Runs[0].Results {
				levels[r.Level]++
			}
			assert.Equal(t, tt.wantLevels, levels)
			// An empty run is a list, not null: code scanning then closes
			// the alerts of an earlier run.
			assert.Contains(t, stdout, `"results": [`)
		})
	}
}

func TestCheckSARIFStdin(t *testing.T) {
	inRepoRoot(t)
	b, err := os.ReadFile(seed + "collector-selectors-omitted.yaml")
	require.NoError(t, err)
	code, stdout, stderr := runCLI(t, string(b), "check", "-f", "-", "-o", "sarif")
	require.Equal(t, 0, code, "stderr: %s", stderr)
	validateSARIF(t, compileSARIFSchema(t), stdout)
	var log sarifOut
	require.NoError(t, json.Unmarshal([]byte(stdout), &log))
	require.NotEmpty(t, log.Runs[0].Results, "a collector whose selectors are left out")
	for _, r := range log.Runs[0].Results {
		loc := r.Locations[0]
		assert.Equal(t, "stdin", loc.PhysicalLocation.ArtifactLocation.URI)
		assertFieldLine(t, seed+"collector-selectors-omitted.yaml", 1, loc.PhysicalLocation.Region.StartLine,
			strings.TrimPrefix(loc.LogicalLocations[0].FullyQualifiedName, loc.LogicalLocations[0].Name+" "))
	}
}

// assertFieldLine holds a result's line to the file: a finding without a
// field points at its document's first line; one with a field at a line
// of the document that writes a step of that field's path (the field
// itself, or the deepest part of its path the document writes): a key of
// the path, or a list element.
func assertFieldLine(t *testing.T, file string, docLine, line int, path string) {
	t.Helper()
	if path == "" {
		assert.Equal(t, docLine, line, "%s: a finding without a field", file)
		return
	}
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	lines := strings.Split(string(b), "\n")
	require.GreaterOrEqual(t, line, docLine, "%s: %s", file, path)
	require.LessOrEqual(t, line, len(lines), "%s: %s", file, path)
	text := strings.TrimSpace(lines[line-1])
	for _, step := range strings.FieldsFunc(path, func(r rune) bool { return r == '.' || r == '[' || r == ']' }) {
		if strings.HasPrefix(text, step+":") || strings.HasPrefix(text, "- "+step+":") {
			return
		}
	}
	if strings.Contains(path, "[") && strings.HasPrefix(text, "- ") {
		return
	}
	t.Errorf("%s line %d (%q) writes no step of %s", file, line, text, path)
}

// The JUnit report, as a CI test report reader parses it.
type junitOut struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Suites   []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Cases    []struct {
			Classname string `xml:"classname,attr"`
			Name      string `xml:"name,attr"`
			Failures  []struct {
				Message string `xml:"message,attr"`
				Type    string `xml:"type,attr"`
				Body    string `xml:",chardata"`
			} `xml:"failure"`
			SystemOut string `xml:"system-out"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// belowLine starts a finding in <system-out>: its action, then its message.
var belowLine = regexp.MustCompile(`(?m)^(audit|warn) TA\d{3} `)

func TestCheckJUnit(t *testing.T) {
	inRepoRoot(t)
	for _, sc := range scenarios {
		for _, failOn := range []string{"deny", "warn"} {
			t.Run(sc.name+"/fail-on-"+failOn, func(t *testing.T) {
				code, stdout, stderr := runCLI(t, "", checkArgs(sc.files, "-o", "junit", "--fail-on", failOn)...)
				assert.Empty(t, stderr)
				var rep junitOut
				require.NoError(t, xml.Unmarshal([]byte(stdout), &rep), "stdout: %s", stdout)

				docs, checked := positions(t, sc.files)
				failingObjects := map[string]bool{}
				for _, k := range sc.want {
					failingObjects[k.Kind+"/"+k.Namespace+"/"+k.Name] = true
				}
				wantFailures := 0
				wantCode := 0
				if failOn == "warn" && len(sc.want) > 0 {
					// Every finding of these scenarios is warn.
					wantFailures, wantCode = len(failingObjects), 1
				}
				assert.Equal(t, wantCode, code)
				assert.Equal(t, checked, rep.Tests, "one test case per checked object")
				assert.Equal(t, wantFailures, rep.Failures, "failures counts failing objects")

				tests, failures, failureElems, outLines := 0, 0, 0, 0
				for _, s := range rep.Suites {
					sf := 0
					for _, c := range s.Cases {
						k := c.Classname + "/" + c.Name
						d, ok := docs[k]
						require.True(t, ok, "test case %s %s is an input object", c.Classname, c.Name)
						assert.Equal(t, d.Source, s.Name, "the suite is the object's file")
						for _, f := range c.Failures {
							assert.True(t, strings.HasPrefix(f.Message, f.Type+" "+c.Classname+" "+c.Name), "failure message %q", f.Message)
							assert.Contains(t, f.Body, "\nfix: ", "the body carries the fix")
						}
						if len(c.Failures) > 0 {
							sf++
						}
						failureElems += len(c.Failures)
						outLines += len(belowLine.FindAllString(c.SystemOut, -1))
					}
					assert.Equal(t, len(s.Cases), s.Tests, "suite %s", s.Name)
					assert.Equal(t, sf, s.Failures, "suite %s", s.Name)
					tests += s.Tests
					failures += sf
				}
				assert.Equal(t, rep.Tests, tests)
				assert.Equal(t, rep.Failures, failures)
				if failOn == "warn" {
					assert.Equal(t, len(sc.want), failureElems, "one <failure> per finding at or above --fail-on")
					assert.Zero(t, outLines)
				} else {
					assert.Zero(t, failureElems)
					assert.Equal(t, len(sc.want), outLines, "findings below --fail-on are reported in system-out")
				}
			})
		}
	}
}

func TestCheckCIFormatsGolden(t *testing.T) {
	inRepoRoot(t)
	files := []string{seed + "collector.yaml", seed + "servicemonitor.yaml", seed + "service-port-bleh.yaml"}
	tests := []struct {
		name string
		args []string
	}{
		{name: "seed-port-bleh.sarif", args: checkArgs(files, "-o", "sarif")},
		{name: "seed-port-bleh.junit.xml", args: checkArgs(files, "-o", "junit", "--fail-on", "warn")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stdout, _ := runCLI(t, "", tt.args...)
			golden(t, tt.name, stdout)
		})
	}
}

func TestCheckBadOutputFormat(t *testing.T) {
	inRepoRoot(t)
	code, _, stderr := runCLI(t, "", "check", "-f", seed+"service.yaml", "-o", "xml")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "sarif or junit")
}

// The schema really constrains the log: a level SARIF does not have (our
// action name instead of its level) must fail, or the tests above prove
// nothing.
func TestSARIFSchemaRejects(t *testing.T) {
	inRepoRoot(t)
	sch := compileSARIFSchema(t)
	_, stdout, _ := runCLI(t, "", checkArgs([]string{seed + "collector-selectors-omitted.yaml"}, "-o", "sarif")...)
	validateSARIF(t, sch, stdout)
	tests := []struct{ name, from, to string }{ // from: a regular expression
		{"action as level", `"level": "warning"`, `"level": "warn"`},
		{"wrong version", `"version": "2\.1\.0"`, `"version": "2.0.0"`},
		{"line 0", `"startLine": \d+`, `"startLine": 0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from := regexp.MustCompile(tt.from)
			require.Regexp(t, from, stdout)
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(from.ReplaceAllLiteralString(stdout, tt.to)))
			require.NoError(t, err)
			assert.Error(t, sch.Validate(inst))
		})
	}
}
