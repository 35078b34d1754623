// Package cli is the ta-guard command: a validating admission webhook that
// keeps OpenTelemetry Target Allocators from going blind (serve), and the
// offline tools that share its rule engine (check, diagnose, rules). The
// mains of cmd/ta-guard and cmd/webhook call Main.
package cli

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

// usage is written for the name the user typed (see commandName).
const usage = `ta-guard keeps OpenTelemetry Target Allocators from going blind.

Usage:
  %[1]s serve [flags]                          run the admission webhook
  %[1]s check -f PATH [-f PATH ...] [flags]   check manifests offline (CI)
  %[1]s diagnose [-f PATH ...] [flags]         explain a TA setup, live or from manifests
  %[1]s rules [-o table|json|yaml]             list the rule catalog
  %[1]s version                                print the version

Cluster flags of check and diagnose, as kubectl's: --kubeconfig, --context, -n/--namespace.
Run "%[1]s <command> -h" for the flags of a command.
`

// version is set at build time with
// -ldflags "-X github.com/ta-guard/ta-guard/internal/cli.version=...";
// unset, Version reads the module's from the binary.
var version string

// Version is the binary's version: the one the build set, else the
// module's version go install recorded (go install
// github.com/ta-guard/ta-guard/cmd/ta-guard@v0.2.0 reports v0.2.0), else
// "dev" (a build from a work tree).
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// Main runs the command line of the process and returns its exit code.
func Main() int {
	return runAs(commandName(os.Args[0]), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
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
		return runRules(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, Version())
		return 0
	case "-h", "--help", "help":
		fmt.Fprintf(stdout, usage, name)
		return 0
	}
	fmt.Fprintf(stderr, "unknown command %q\n\n", args[0])
	fmt.Fprintf(stderr, usage, name)
	return 2
}
