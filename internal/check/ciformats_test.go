package check

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ta-guard/ta-guard/internal/manifest"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

// The ServiceMonitor is the second document, so its findings must point at
// a line of its document, not the file's first line: the line of the field.
func TestWriteSARIFLine(t *testing.T) {
	tests := []struct {
		name, source, wantURI string
	}{
		{"relative", "deploy/app.yaml", "deploy/app.yaml"},
		{"dot slash", "./deploy/app.yaml", "deploy/app.yaml"},
		{"absolute", "/src/deploy/app.yaml", "file:///src/deploy/app.yaml"},
		{"stdin", "-", "stdin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs := read(t, tt.source, service+"---\n"+serviceMonitor)
			res, err := Evaluate(docs, nil)
			require.NoError(t, err)
			require.NotEmpty(t, res.Findings)
			var b bytes.Buffer
			require.NoError(t, res.WriteSARIF(&b, "v1.2.3"))
			var log struct {
				Runs []struct {
					Results []struct {
						RuleID    string `json:"ruleId"`
						Locations []struct {
							PhysicalLocation struct {
								ArtifactLocation struct{ URI string }    `json:"artifactLocation"`
								Region           struct{ StartLine int } `json:"region"`
							} `json:"physicalLocation"`
						} `json:"locations"`
					} `json:"results"`
				} `json:"runs"`
			}
			require.NoError(t, json.Unmarshal(b.Bytes(), &log))
			require.Len(t, log.Runs[0].Results, len(res.Findings))
			for _, r := range log.Runs[0].Results {
				loc := r.Locations[0].PhysicalLocation
				assert.Equal(t, tt.wantURI, loc.ArtifactLocation.URI)
				// service is 8 lines, then "---": the monitor starts on 10,
				// and its endpoint 1 ("- port: metrics") is its 11th line.
				assert.Equal(t, 20, loc.Region.StartLine, "%s", r.RuleID)
			}
		})
	}
}

func TestSARIFLevel(t *testing.T) {
	for a, want := range map[rules.Action]string{rules.Deny: "error", rules.Warn: "warning", rules.Audit: "note", rules.Off: "none"} {
		assert.Equal(t, want, sarifLevel(a), "%s", a)
	}
}

// No input objects at all still makes a well-formed report with zero
// tests, which CI readers accept, rather than an empty file they reject.
func TestWriteJUnitEmpty(t *testing.T) {
	res, err := Evaluate([]manifest.Doc{}, nil)
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, res.WriteJUnit(&b, rules.Deny))
	var rep struct {
		XMLName xml.Name `xml:"testsuites"`
		Tests   int      `xml:"tests,attr"`
	}
	require.NoError(t, xml.Unmarshal(b.Bytes(), &rep), b.String())
	assert.Zero(t, rep.Tests)
}
