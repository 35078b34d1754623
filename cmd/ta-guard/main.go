// Command ta-guard is the ta-guard binary (internal/cli): go install
// github.com/ta-guard/ta-guard/cmd/ta-guard@VERSION installs it as ta-guard.
package main

import (
	"os"

	"github.com/ta-guard/ta-guard/internal/cli"
)

func main() { os.Exit(cli.Main()) }
