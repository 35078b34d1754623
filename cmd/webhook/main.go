// Command webhook is the ta-guard binary (internal/cli) under the
// design's name; cmd/ta-guard builds the same program named ta-guard.
package main

import (
	"os"

	"github.com/ta-guard/ta-guard/internal/cli"
)

func main() { os.Exit(cli.Main()) }
