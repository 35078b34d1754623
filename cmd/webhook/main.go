// Command webhook builds the ta-guard binary: a validating admission webhook that keeps
// OpenTelemetry Target Allocators from going blind, and the offline tools
// that share its rule engine.
package main

import (
	"fmt"
	"io"
	"os"
)

// usage is written for the name the user typed (see commandName).
const usage = `ta-guard keeps OpenTelemetry Target Allocators from going blind.

Usage:
  %[1]s serve [flags]                          run the admission webhook
  %[1]s check -f PATH [-f PATH ...] [flags]   check manifests offline (CI)
  %[1]s diagnose [-f PATH ...] [flags]         explain a TA setup, live or from manifests
  %[1]s rules                                  list the rule catalog
  %[1]s version                                print the version

Cluster flags of check and diagnose, as kubectl's: --kubeconfig, --context, -n/--namespace.
Run "%[1]s <command> -h" for the flags of a command.
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(runAs(commandName(os.Args[0]), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runAs("ta-guard", args, stdin, stdout, stderr)
}

// invokedAs is how the user called the binary, for the usage texts.
var invokedAs = "ta-guard"

// runAs is run for a binary invoked as name ("ta-guard", or "kubectl
// ta-guard" as a kubectl plugin).
func runAs(name string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	invokedAs = name
	if len(args) == 0 {
		fmt.Fprintf(stderr, usage, name)
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
		fmt.Fprintf(stdout, usage, name)
		return 0
	}
	fmt.Fprintf(stderr, "unknown command %q\n\n", args[0])
	fmt.Fprintf(stderr, usage, name)
	return 2
}
