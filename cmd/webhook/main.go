// Command webhook builds the ta-guard binary: a validating admission webhook that keeps
// OpenTelemetry Target Allocators from going blind, and the offline tools
// that share its rule engine.
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `ta-guard keeps OpenTelemetry Target Allocators from going blind.

Usage:
  ta-guard serve [flags]                          run the admission webhook
  ta-guard check -f PATH [-f PATH ...] [flags]   check manifests offline (CI)
  ta-guard diagnose [-f PATH ...] [flags]         explain a TA setup, live or from manifests
  ta-guard rules                                  list the rule catalog
  ta-guard version                                print the version

Run "ta-guard <command> -h" for the flags of a command.
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "check":
		return runCheck(args[1:], stdin, stdout, stderr)
	case "serve":
		return runServe(args[1:], stderr)
	case "diagnose":
		return runDiagnose(args[1:], stdin, stdout, stderr)
	case "rules":
		return runRules(stdout)
	case "version", "--version":
		fmt.Fprintln(stdout, version)
		return 0
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "unknown command %q\n\n%s", args[0], usage)
	return 2
}
