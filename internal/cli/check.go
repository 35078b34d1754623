package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/ta-guard/ta-guard/internal/check"
	"github.com/ta-guard/ta-guard/internal/manifest"
	"github.com/ta-guard/ta-guard/internal/policy"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

// pathList is a repeatable -f flag.
type pathList []string

func (p *pathList) String() string     { return strings.Join(*p, ",") }
func (p *pathList) Set(v string) error { *p = append(*p, v); return nil }

// runCheck exits 0 when no finding reaches --fail-on, 1 when one does, 2 on
// bad input or usage.
func runCheck(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fsFlags := flag.NewFlagSet("check", flag.ContinueOnError)
	fsFlags.SetOutput(stderr)
	var paths pathList
	fsFlags.Var(&paths, "f", "manifest file, directory (recursive: .yaml, .yml, .json) or - for stdin; repeatable")
	output := fsFlags.String("o", "text", "output format: text, json, sarif (SARIF 2.1.0, for code scanning) or junit (JUnit XML, for CI test reports)")
	policyFile := fsFlags.String("policy", "", "policy file (defaultAction, rules, excludeNamespaces)")
	failOn := fsFlags.String("fail-on", "deny", "exit 1 when a finding has this action or a stronger one: deny, warn or audit")
	namespace := fsFlags.String("n", "default", "namespace of objects that name none")
	kubeconfig := fsFlags.String("kubeconfig", "", "check the manifests as changes to this live cluster (read-only: it lists the objects ta-guard reads, writes nothing)")
	useCluster := fsFlags.Bool("cluster", false, "like --kubeconfig, with $KUBECONFIG or the in-cluster config")
	checkSecretKeys := fsFlags.Bool("check-secret-keys", false, "with --kubeconfig: read the Secrets monitors name to check they exist with their keys (TA109)")
	kubeContext := kubectlFlags(fsFlags, useCluster)
	limits := inputLimitFlags(fsFlags)
	fsFlags.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s check -f PATH [-f PATH ...] [-o text|json|sarif|junit] [--policy FILE] [--fail-on deny|warn|audit]\n", invokedAs)
		fsFlags.PrintDefaults()
	}
	if code, ok := parsed(fsFlags, args); !ok {
		return code
	}
	if fsFlags.NArg() > 0 {
		fmt.Fprintf(stderr, "check: unexpected argument %q (manifests are given with -f)\n", fsFlags.Arg(0))
		return 2
	}
	if len(paths) == 0 {
		fmt.Fprintln(stderr, "check: no input: give -f PATH (a file, a directory or -)")
		return 2
	}
	switch *output {
	case "text", "json", "sarif", "junit":
	default:
		fmt.Fprintf(stderr, "check: -o %q: want text or json, or a CI format: sarif or junit\n", *output)
		return 2
	}
	threshold, err := rules.ParseAction(*failOn)
	if err != nil || threshold == rules.Off {
		fmt.Fprintf(stderr, "check: --fail-on %q: want deny, warn or audit\n", *failOn)
		return 2
	}
	var pol *policy.Policy
	if *policyFile != "" {
		if pol, err = policy.LoadFile(*policyFile); err != nil {
			fmt.Fprintf(stderr, "check: policy %v\n", err)
			return 2
		}
		if c := pol.Caution(); c != "" {
			fmt.Fprintf(stderr, "check: caution: %s\n", c)
		}
	}
	readOpts, err := limits.options(manifest.Options{Namespace: *namespace, Stdin: stdin}, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "check: %v\n", err)
		return 2
	}
	var res *check.Result
	live := *kubeconfig != "" || *useCluster
	if *checkSecretKeys && !live {
		fmt.Fprintln(stderr, "check: --check-secret-keys needs --kubeconfig or --cluster")
		return 2
	}
	if live {
		res, err = checkAgainstCluster(paths, readOpts, *kubeconfig, *kubeContext, pol, *checkSecretKeys)
	} else {
		res, err = check.Run(paths, readOpts, pol)
	}
	if err != nil {
		fmt.Fprintf(stderr, "check: %v\n", err)
		return 2
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	if len(res.Undescribed) > 0 && *output == "text" {
		fmt.Fprintf(stderr, "note: monitors look in namespaces the input does not describe (%s): checks that need their contents were skipped there\n",
			strings.ReplaceAll(strings.Join(res.Undescribed, ", "), "*", "all others"))
	}
	// The machine formats keep stderr quiet, as json does: a CI step
	// redirects stdout to a file and shows stderr as noise.
	switch *output {
	case "json":
		err = res.WriteJSON(stdout)
	case "sarif":
		err = res.WriteSARIF(stdout, Version())
	case "junit":
		err = res.WriteJUnit(stdout, threshold)
	default:
		err = res.WriteText(stdout)
		if !live {
			fmt.Fprintf(stderr, "note: live-only rules not evaluated offline: %s (they need the API server: --kubeconfig)\n", joinIDs(rules.LiveIDs()))
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "check: %v\n", err)
		return 2
	}
	if res.Failed(threshold) {
		return 1
	}
	return 0
}

func joinIDs(ids []rules.ID) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = string(id)
	}
	return strings.Join(s, ", ")
}

func runRules(args []string, stdout, stderr io.Writer) int {
	fsFlags := flag.NewFlagSet("rules", flag.ContinueOnError)
	fsFlags.SetOutput(stderr)
	output := fsFlags.String("o", "table", "output format: table, json or yaml")
	fsFlags.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s rules [-o table|json|yaml]\n", invokedAs)
		fsFlags.PrintDefaults()
	}
	if code, ok := parsed(fsFlags, args); !ok {
		return code
	}
	if fsFlags.NArg() > 0 {
		fmt.Fprintf(stderr, "rules: unexpected argument %q\n", fsFlags.Arg(0))
		return 2
	}
	catalog := rules.All()
	switch *output {
	case "table":
		for _, r := range catalog {
			live := ""
			if r.Live {
				live = " (live)"
			}
			fmt.Fprintf(stdout, "%s  %-32s %-5s %s%s\n", r.ID, r.Name, r.Default, r.Summary, live)
		}
		return 0
	case "json", "yaml":
		b, err := json.MarshalIndent(map[string][]rules.Rule{"rules": catalog}, "", "  ")
		if err == nil && *output == "yaml" {
			b, err = yaml.JSONToYAML(b)
		} else {
			b = append(b, '\n')
		}
		if err != nil {
			fmt.Fprintf(stderr, "rules: %v\n", err)
			return 1
		}
		_, _ = stdout.Write(b)
		return 0
	}
	fmt.Fprintf(stderr, "rules: -o must be table, json or yaml, not %q\n", *output)
	return 2
}

// checkAgainstCluster reads the live cluster once and checks the manifests
// as changes to it.
func checkAgainstCluster(paths []string, opts manifest.Options, kubeconfig, kubeContext string, pol *policy.Policy, readSecrets bool) (*check.Result, error) {
	docs, err := manifest.Load(paths, opts)
	if err != nil {
		return nil, err
	}
	cfg, err := kubeRestConfig(kubeconfig, kubeContext)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	store, facts, err := liveView(ctx, cfg, readSecrets)
	if err != nil {
		return nil, fmt.Errorf("reading the cluster: %w", err)
	}
	return check.EvaluateAgainst(ctx, docs, store, pol, facts)
}
