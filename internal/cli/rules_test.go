package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/ta-guard/ta-guard/pkg/rules"
)

// `webhook rules` lists the whole catalog, one rule a line, live ones marked.
func TestRulesCommand(t *testing.T) {
	code, out, _ := runCLI(t, "", "rules")
	assert.Equal(t, 0, code)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	assert.Len(t, lines, len(rules.All()))
	for i, r := range rules.All() {
		assert.True(t, strings.HasPrefix(lines[i], string(r.ID)+"  "+r.Name), lines[i])
		assert.Equal(t, r.Live, strings.HasSuffix(lines[i], "(live)"), lines[i])
	}
}

func TestVersionAndUsage(t *testing.T) {
	code, out, _ := runCLI(t, "", "version")
	assert.Equal(t, 0, code)
	assert.Equal(t, "dev\n", out)
	code, _, stderr := runCLI(t, "")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "ta-guard diagnose")
	code, _, stderr = runCLI(t, "", "frobnicate")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, `unknown command "frobnicate"`)
}

// `rules -o json|yaml` gives the catalog as data, every field of each rule.
func TestRulesAsData(t *testing.T) {
	for _, format := range []string{"json", "yaml"} {
		t.Run(format, func(t *testing.T) {
			code, out, stderr := runCLI(t, "", "rules", "-o", format)
			require.Equal(t, 0, code, stderr)
			b := []byte(out)
			if format == "yaml" {
				var err error
				b, err = yaml.YAMLToJSON(b)
				require.NoError(t, err)
			}
			var got struct {
				Rules []map[string]any `json:"rules"`
			}
			dec := json.NewDecoder(bytes.NewReader(b))
			require.NoError(t, dec.Decode(&got))
			require.Len(t, got.Rules, len(rules.All()))
			for i, r := range rules.All() {
				assert.Equal(t, map[string]any{
					"id": string(r.ID), "name": r.Name, "defaultAction": string(r.Default), "live": r.Live, "summary": r.Summary,
				}, got.Rules[i])
			}
		})
	}
	code, _, stderr := runCLI(t, "", "rules", "-o", "xml")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "table, json or yaml")
}
