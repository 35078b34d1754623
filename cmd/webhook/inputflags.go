package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/ta-guard/ta-guard/internal/manifest"
)

// inputLimits are the flags bounding what check and diagnose -f read; both
// read manifests the same way.
type inputLimits struct {
	maxFile, maxInput *int64
}

func inputLimitFlags(fs *flag.FlagSet) inputLimits {
	return inputLimits{
		maxFile:  fs.Int64("max-file-bytes", manifest.DefaultMaxFileBytes, "largest file or stream read (bytes)"),
		maxInput: fs.Int64("max-input-bytes", manifest.DefaultMaxInputBytes, "most bytes read by one run, all files together"),
	}
}

// options fills the read options, and tells stderr of every directory entry
// that was skipped, so that nothing is left out silently.
func (l inputLimits) options(o manifest.Options, stderr io.Writer) (manifest.Options, error) {
	if *l.maxFile <= 0 || *l.maxInput <= 0 {
		return o, fmt.Errorf("--max-file-bytes and --max-input-bytes must be positive")
	}
	o.MaxFileBytes, o.MaxInputBytes = *l.maxFile, *l.maxInput
	o.Skipped = func(msg string) { fmt.Fprintf(stderr, "warning: %s\n", msg) }
	return o, nil
}
