package cli

import (
	"flag"
	"fmt"
	"io"
	"path"

	"github.com/ta-guard/ta-guard/internal/manifest"
)

// inputLimits are the flags bounding what check and diagnose -f read; both
// read manifests the same way.
type inputLimits struct {
	maxFile, maxInput *int64
	exclude           *globList
}

// globList is a repeatable flag of glob patterns.
type globList []string

func (g *globList) String() string { return fmt.Sprint([]string(*g)) }

func (g *globList) Set(v string) error {
	if _, err := path.Match(v, ""); err != nil {
		return fmt.Errorf("%q: %w", v, err)
	}
	*g = append(*g, v)
	return nil
}

func inputLimitFlags(fs *flag.FlagSet) inputLimits {
	l := inputLimits{
		maxFile:  fs.Int64("max-file-bytes", manifest.DefaultMaxFileBytes, "largest file or stream read (bytes)"),
		maxInput: fs.Int64("max-input-bytes", manifest.DefaultMaxInputBytes, "most bytes read by one run, all files together"),
		exclude:  &globList{},
	}
	fs.Var(l.exclude, "exclude", "glob of files or directories a directory walk leaves out, matched against the path below the directory and against the name (repeatable): charts/*/values*.yaml, *.bak.yaml, testdata")
	return l
}

// options fills the read options, and tells stderr of every directory entry
// that was skipped, so that nothing is left out silently.
func (l inputLimits) options(o manifest.Options, stderr io.Writer) (manifest.Options, error) {
	if *l.maxFile <= 0 || *l.maxInput <= 0 {
		return o, fmt.Errorf("--max-file-bytes and --max-input-bytes must be positive")
	}
	o.MaxFileBytes, o.MaxInputBytes = *l.maxFile, *l.maxInput
	o.Exclude = *l.exclude
	o.Skipped = func(msg string) { fmt.Fprintf(stderr, "warning: %s\n", msg) }
	return o, nil
}
