package cli

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/ta-guard/ta-guard/internal/input"
	"github.com/ta-guard/ta-guard/internal/server"
)

// pluginBinary is the name krew installs: kubectl maps `kubectl ta-guard` to
// kubectl-ta_guard, a dash in a command becoming an underscore in the file.
const pluginBinary = "kubectl-ta_guard"

// commandName is what the user typed to run us, so that usage text can be
// pasted back as is: kubectl runs a plugin by its path and passes only the
// arguments after the plugin name, so argv[0] is the one hint we get.
func commandName(argv0 string) string {
	base := strings.TrimSuffix(filepath.Base(argv0), ".exe")
	if base == pluginBinary {
		return "kubectl ta-guard"
	}
	return "ta-guard"
}

// kubectlFlags gives a command the flags a kubectl user reaches for, with
// kubectl's meaning: --context picks the kubeconfig context, --namespace is
// the long form of the command's -n. kubectl passes them through to a plugin
// untouched (and refuses them before the plugin name), so the plugin has to
// parse them itself; the same flags then work without kubectl too. Naming a
// context asks for the live cluster, so it sets live when given. It returns
// the --context value.
func kubectlFlags(fs *flag.FlagSet, live *bool) *string {
	f := &contextFlag{live: live}
	fs.Var(f, "context", "kubeconfig context to use (default: the kubeconfig's current-context)")
	if n := fs.Lookup("n"); n != nil {
		fs.Var(n.Value, "namespace", "same as -n")
	}
	return &f.name
}

type contextFlag struct {
	name string
	live *bool
}

func (c *contextFlag) String() string { return c.name }

func (c *contextFlag) Set(v string) error {
	if v == "" {
		return errors.New("empty context name")
	}
	c.name = v
	if c.live != nil {
		*c.live = true
	}
	return nil
}

// parsed parses a command's flags. When it says no, the command ends with
// code: 0 after -h (the usage is printed), 2 after a flag it does not know
// (the flag package has said so on stderr).
func parsed(fs *flag.FlagSet, args []string) (code int, ok bool) {
	switch err := fs.Parse(args); {
	case err == nil:
		return 0, true
	case errors.Is(err, flag.ErrHelp):
		return 0, false
	}
	return 2, false
}

// kubeRestConfig resolves the cluster as kubectl does: --kubeconfig, else
// $KUBECONFIG, else ~/.kube/config, with --context overriding the
// current-context, and the in-cluster config when no kubeconfig exists.
// kubectl's order, not controller-runtime's (which tries in-cluster before
// ~/.kube/config), because a plugin user expects kubectl's cluster.
func kubeRestConfig(kubeconfig, context string) (*rest.Config, error) {
	if kubeconfig != "" {
		// client-go reads the file whole: /dev/zero (or a terminal's
		// /dev/stdin) would grow or wait forever. A regular file and a
		// pipe (--kubeconfig <(...)) are what kubeconfigs come in.
		if st, err := os.Stat(kubeconfig); err == nil && st.Mode()&fs.ModeCharDevice != 0 {
			return nil, fmt.Errorf("kubeconfig %s: %s, not a file", kubeconfig, input.FileType(st.Mode()))
		}
	}
	loading := clientcmd.NewDefaultClientConfigLoadingRules()
	loading.ExplicitPath = kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(loading, &clientcmd.ConfigOverrides{CurrentContext: context})
	cfg, err := cc.ClientConfig()
	switch {
	case err == nil:
		return cfg, nil
	case context != "":
		return nil, contextError(cc, context, err)
	case clientcmd.IsEmptyConfig(err):
		return nil, fmt.Errorf("%w (%v)", server.ErrNoConfig, err)
	}
	return nil, err
}

// contextError names what is wrong with a context in kubectl's terms:
// client-go reports a context without its cluster as "no configuration has
// been provided", which sends the user after the wrong problem.
func contextError(cc clientcmd.ClientConfig, context string, err error) error {
	raw, rerr := cc.RawConfig()
	if rerr != nil {
		return fmt.Errorf("kubeconfig context %q: %w", context, err)
	}
	c, ok := raw.Contexts[context]
	if !ok {
		names := slices.Sorted(maps.Keys(raw.Contexts))
		if len(names) == 0 {
			return fmt.Errorf("kubeconfig context %q: %w", context, server.ErrNoConfig)
		}
		return fmt.Errorf("kubeconfig context %q does not exist (contexts: %s)", context, strings.Join(names, ", "))
	}
	if _, ok := raw.Clusters[c.Cluster]; !ok {
		return fmt.Errorf("kubeconfig context %q: its cluster %q is not in the kubeconfig", context, c.Cluster)
	}
	return fmt.Errorf("kubeconfig context %q: %w", context, err)
}
