package check

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/ta-guard/ta-guard/pkg/rules"
)

// The SARIF 2.1.0 subset ta-guard writes. Only what code scanning UIs read
// is modelled; everything optional that we have no value for is omitted
// rather than written empty, as the schema rejects some empty forms.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Version        string      `json:"version,omitempty"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID                   string       `json:"id"`
	Name                 string       `json:"name"`
	ShortDescription     sarifMessage `json:"shortDescription"`
	Help                 sarifHelp    `json:"help"`
	HelpURI              string       `json:"helpUri"`
	DefaultConfiguration struct {
		Level string `json:"level"`
	} `json:"defaultConfiguration"`
	Properties map[string]any `json:"properties,omitempty"`
}

type sarifMessage struct {
	Text string `json:"text"`
}

// sarifHelp is a rule's help, shown with each alert: text for any viewer,
// markdown for those that render it (GitHub code scanning).
type sarifHelp struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown"`
}

type sarifResult struct {
	RuleID     string          `json:"ruleId"`
	RuleIndex  int             `json:"ruleIndex"`
	Level      string          `json:"level"`
	Message    sarifMessage    `json:"message"`
	Locations  []sarifLocation `json:"locations"`
	Properties sarifProperties `json:"properties"`
}

type sarifLocation struct {
	PhysicalLocation *sarifPhysical `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation struct {
		URI string `json:"uri"`
	} `json:"artifactLocation"`
	Region *sarifRegion `json:"region,omitempty"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

type sarifLogical struct {
	Name               string `json:"name"`
	FullyQualifiedName string `json:"fullyQualifiedName,omitempty"`
	Kind               string `json:"kind"`
}

type sarifProperties struct {
	Job    string `json:"job,omitempty"`
	Object string `json:"object"`
	AtRisk bool   `json:"atRisk"`
}

const (
	sarifSchema = "https://json.schemastore.org/sarif-2.1.0.json"
	projectURI  = "https://github.com/ta-guard/ta-guard"
	// rulesURI is the rule reference: the README's table, one row a rule.
	rulesURI = projectURI + "#rules"
)

// sarifLevel maps an action onto SARIF's levels; "off" exists in both, so
// a rule a policy turned off still reads as such in the catalog.
func sarifLevel(a rules.Action) string {
	switch a {
	case rules.Deny:
		return "error"
	case rules.Warn:
		return "warning"
	case rules.Audit:
		return "note"
	}
	return "none"
}

// artifactURI turns a path as the user gave it into a SARIF URI. Relative
// paths stay relative so that code scanning resolves them against the
// checkout; standard input has no file, so it gets a name a reader
// recognises instead of "-".
func artifactURI(file string) string {
	if file == "-" {
		return "stdin"
	}
	slashed := filepath.ToSlash(file)
	if filepath.IsAbs(file) {
		if !strings.HasPrefix(slashed, "/") {
			slashed = "/" + slashed // a Windows drive letter
		}
		return "file://" + slashed
	}
	return strings.TrimPrefix(slashed, "./")
}

// WriteSARIF writes the findings as one SARIF 2.1.0 run, with the whole
// catalog as the driver's rules so that a viewer can describe any rule a
// later run raises. version is the ta-guard build's.
func (r *Result) WriteSARIF(w io.Writer, version string) error {
	catalog := rules.All()
	index := make(map[rules.ID]int, len(catalog))
	driver := sarifDriver{Name: "ta-guard", InformationURI: projectURI, Version: version, Rules: make([]sarifRule, len(catalog))}
	for i, rule := range catalog {
		index[rule.ID] = i
		sr := sarifRule{ID: string(rule.ID), Name: rule.Name, ShortDescription: sarifMessage{Text: rule.Summary}, Help: ruleHelp(rule), HelpURI: rulesURI}
		sr.DefaultConfiguration.Level = sarifLevel(rule.Default)
		if rule.Live {
			// Says why a live rule never shows up in an offline run.
			sr.Properties = map[string]any{"live": true}
		}
		driver.Rules[i] = sr
	}
	results := make([]sarifResult, 0, len(r.Findings))
	for _, f := range r.Findings {
		results = append(results, r.sarifResult(f, index))
	}
	log := sarifLog{Schema: sarifSchema, Version: "2.1.0", Runs: []sarifRun{{Tool: sarifTool{Driver: driver}, Results: results}}}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(log)
}

func (r *Result) sarifResult(f rules.Finding, index map[rules.ID]int) sarifResult {
	obj := f.Object.String()
	logical := sarifLogical{Name: obj, Kind: "resource"}
	if f.Field != nil {
		logical.FullyQualifiedName = obj + " " + f.Field.String()
	}
	loc := sarifLocation{LogicalLocations: []sarifLogical{logical}}
	if pos, ok := r.positions[f.Object.Key()]; ok {
		phys := &sarifPhysical{}
		phys.ArtifactLocation.URI = artifactURI(pos.File)
		if line := pos.LineOf(f.Field); line > 0 {
			phys.Region = &sarifRegion{StartLine: line}
		}
		loc.PhysicalLocation = phys
	}
	ri, ok := index[f.Rule]
	if !ok {
		ri = -1 // SARIF's "not in the rules array"
	}
	return sarifResult{
		RuleID:     string(f.Rule),
		RuleIndex:  ri,
		Level:      sarifLevel(f.Action),
		Message:    sarifMessage{Text: ciText(f)},
		Locations:  []sarifLocation{loc},
		Properties: sarifProperties{Job: f.Job, Object: obj, AtRisk: f.AtRisk},
	}
}

// ciText is one line for a CI annotation: the viewer already shows the rule
// and the file, so it names the object and says what is wrong and how to
// fix it, as the text output does.
func ciText(f rules.Finding) string {
	s := f.Object.String()
	if f.Subject != "" {
		s += " " + f.Subject
	}
	s += ": " + f.What
	if f.Fix != "" {
		s += " Fix: " + f.Fix
	}
	return s
}

// ruleHelp says what a rule is about, what it does by default, where it
// runs and how one object opts out of it.
func ruleHelp(r rules.Rule) sarifHelp {
	where := "checked offline (ta-guard check) and live (webhook, audit, diagnose)"
	if r.Live {
		where = "checked live only (webhook, audit, diagnose, check --kubeconfig): it needs the API server"
	}
	skip := fmt.Sprintf(`ta-guard.io/skip: "%s"`, r.ID)
	text := fmt.Sprintf("%s %s: %s. Default action: %s; %s. To leave one object out, annotate it %s. Rule reference: %s",
		r.ID, r.Name, r.Summary, r.Default, where, skip, rulesURI)
	md := fmt.Sprintf("**%s %s**: %s.\n\nDefault action: `%s`; %s.\n\nTo leave one object out, annotate it `%s`.\n\n[Rule reference](%s)",
		r.ID, r.Name, r.Summary, r.Default, where, skip, rulesURI)
	return sarifHelp{Text: text, Markdown: md}
}
