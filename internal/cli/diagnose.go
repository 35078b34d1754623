package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/ta-guard/ta-guard/internal/access"
	"github.com/ta-guard/ta-guard/internal/check"
	"github.com/ta-guard/ta-guard/internal/cluster"
	"github.com/ta-guard/ta-guard/internal/diagnose"
	"github.com/ta-guard/ta-guard/internal/manifest"
	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/internal/policy"
	"github.com/ta-guard/ta-guard/internal/watch"
	"github.com/ta-guard/ta-guard/pkg/rules"
	"github.com/ta-guard/ta-guard/pkg/validate"
)

// runDiagnose exits 0 when every TA sees every monitor meant for it, 1 when
// something is blind, 2 on errors.
func runDiagnose(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("diagnose", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var paths pathList
	fs.Var(&paths, "f", "diagnose manifests instead of the live cluster (like check); repeatable")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the live cluster (default: $KUBECONFIG, ~/.kube/config, in-cluster)")
	only := fs.String("collector", "", "namespace/name (or name, with -n) of one OpenTelemetryCollector or TargetAllocator (default: all)")
	taURL := fs.String("ta-url", "", "URL of the running TA to compare with, e.g. http://127.0.0.1:8080 after kubectl port-forward svc/<name>-targetallocator 8080:80")
	output := fs.String("o", "text", "output: text or json")
	noColor := fs.Bool("no-color", false, "no colour, even on a terminal")
	noProxy := fs.Bool("no-ta-proxy", false, "live: do not read the running TAs through the API server's service proxy")
	checkSecretKeys := fs.Bool("check-secret-keys", false, "live: read the Secrets monitors name to check they exist with their keys (TA109), as serve --check-secret-keys; needs get on secrets")
	limits := inputLimitFlags(fs)
	namespace := fs.String("n", "", "live: diagnose the TAs of this namespace only (default: all); with -f: namespace of objects that name none (default: default)")
	policyFile := fs.String("policy", "", "policy file, as for check and serve")
	failOn := fs.String("fail-on", "audit", "exit 1 when a finding has this action or a stronger one: deny, warn or audit")
	kubeContext := kubectlFlags(fs, nil)
	if code, ok := parsed(fs, args); !ok {
		return code
	}
	if *output != "text" && *output != "json" {
		fmt.Fprintf(stderr, "diagnose: -o %q: want text or json\n", *output)
		return 2
	}
	threshold, err := rules.ParseAction(*failOn)
	if err != nil || threshold == rules.Off {
		fmt.Fprintf(stderr, "diagnose: --fail-on %q: want deny, warn or audit\n", *failOn)
		return 2
	}
	opts := diagnose.Options{FailOn: threshold}
	if *policyFile != "" {
		if opts.Policy, err = policy.LoadFile(*policyFile); err != nil {
			fmt.Fprintf(stderr, "diagnose: policy %v\n", err)
			return 2
		}
		opts.PolicySource = "file " + *policyFile
	}
	if *only != "" {
		ns, name, ok := strings.Cut(*only, "/")
		if !ok && *namespace != "" {
			ns, name, ok = *namespace, *only, true
		}
		if ok && *namespace != "" && ns != *namespace && len(paths) == 0 {
			fmt.Fprintf(stderr, "diagnose: --collector %q is not in -n %q\n", *only, *namespace)
			return 2
		}
		if !ok || ns == "" || name == "" {
			fmt.Fprintf(stderr, "diagnose: --collector %q: want namespace/name\n", *only)
			return 2
		}
		opts.Only = &model.Ref{Namespace: ns, Name: name}
	}
	var ta *diagnose.TAClient
	if *taURL != "" {
		var err error
		if ta, err = diagnose.NewTAClient(*taURL); err != nil {
			fmt.Fprintf(stderr, "diagnose: %v\n", err)
			return 2
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var view cluster.View
	var liveCfg *rest.Config // set when diagnosing the live cluster
	if len(paths) > 0 {
		defaultNS := *namespace
		if defaultNS == "" {
			defaultNS = "default"
		}
		readOpts, err := limits.options(manifest.Options{Namespace: defaultNS, Stdin: stdin}, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "diagnose: %v\n", err)
			return 2
		}
		docs, err := manifest.Load(paths, readOpts)
		if err != nil {
			fmt.Fprintf(stderr, "diagnose: %v\n", err)
			return 2
		}
		world, err := check.BuildWorld(docs)
		if err != nil {
			fmt.Fprintf(stderr, "diagnose: %v\n", err)
			return 2
		}
		for _, w := range world.Warnings {
			fmt.Fprintf(stderr, "warning: %s\n", w)
		}
		view, opts.Subjects, opts.Undescribed = world.Store, world.Subjects, world.Undescribed()
	} else {
		cfg, err := kubeRestConfig(*kubeconfig, *kubeContext)
		if err != nil {
			fmt.Fprintf(stderr, "diagnose: %v\n", err)
			return 2
		}
		liveCfg = cfg
		if *namespace != "" {
			if err := namespaceExists(ctx, cfg, *namespace); err != nil {
				fmt.Fprintf(stderr, "diagnose: %v\n", err)
				return 2
			}
		}
		store, facts, err := liveView(ctx, cfg, *checkSecretKeys)
		if err != nil {
			fmt.Fprintf(stderr, "diagnose: %v\n", err)
			return 2
		}
		view, opts.Facts = store, facts
		if *policyFile == "" {
			// Judge as the webhook does: a rule its policy turns off is
			// no ✗ here either.
			p, src, err := runningPolicy(ctx, cfg)
			if err != nil {
				fmt.Fprintf(stderr, "warning: the webhook's policy could not be read (%v); judged with the defaults\n", err)
				src = "the defaults (the webhook's could not be read: see the warning)"
			}
			opts.Policy, opts.PolicySource = p, src
		}
	}
	if len(paths) == 0 {
		opts.Namespace = *namespace
	}
	d, err := diagnose.Run(ctx, view, opts)
	if err != nil {
		fmt.Fprintf(stderr, "diagnose: %v\n", err)
		return 2
	}
	if ta == nil && liveCfg != nil && !*noProxy {
		compareThroughProxy(ctx, liveCfg, view, d, stderr)
	}
	if ta != nil {
		if len(d.Allocators) != 1 {
			fmt.Fprintf(stderr, "diagnose: --ta-url compares one target allocator; %d match: name one with --collector namespace/name\n", len(d.Allocators))
			return 2
		}
		a := d.Allocators[0]
		var static []string
		for _, al := range view.Allocators() {
			if al.Ref == a.Object {
				static = al.StaticJobs
			}
		}
		cmp, err := diagnose.Compare(ctx, ta, a, static, opts.Facts != nil)
		if err != nil {
			fmt.Fprintf(stderr, "diagnose: %v\n", err)
			return 2
		}
		d.AttachTA(a, cmp)
	}
	if *output == "json" {
		err = d.WriteJSON(stdout)
	} else {
		err = d.WriteText(stdout, !*noColor && isTerminal(stdout) && os.Getenv("NO_COLOR") == "")
	}
	if err != nil {
		fmt.Fprintf(stderr, "diagnose: %v\n", err)
		return 2
	}
	if d.Failed() {
		return 1
	}
	return 0
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// liveFacts answers the live rules from a snapshot and access reviews.
type liveFacts struct {
	served map[string]bool
	*access.Reviewer
}

func (f liveFacts) MonitorKindServed(k model.MonitorKind) bool { return f.served[k.String()] }

// liveView reads the cluster once; readSecrets lets the live rules read
// the Secrets monitors name (TA109).
// namespaceExists asks the API server for the namespace, as kubectl -n
// would: one that does not exist is an error rather than a cluster with
// nothing blind in it. One the user may not get is left to the rest.
func namespaceExists(ctx context.Context, cfg *rest.Config, name string) error {
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return err
	}
	err = c.Get(ctx, client.ObjectKey{Name: name}, &corev1.Namespace{})
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("-n %s: namespace %q not found", name, name)
	case err != nil && !apierrors.IsForbidden(err):
		return fmt.Errorf("-n %s: %w", name, err)
	}
	return nil
}

func liveView(ctx context.Context, cfg *rest.Config, readSecrets bool) (*cluster.Store, validate.Facts, error) {
	// client-go's default 5/s would throttle the ~28 access reviews of each
	// collector's service account.
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 50, 100
	}
	scheme, err := watch.NewScheme()
	if err != nil {
		return nil, nil, err
	}
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, nil, err
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	if err != nil {
		return nil, nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme, Mapper: mapper})
	if err != nil {
		return nil, nil, err
	}
	store, served, err := watch.Snapshot(ctx, c, mapper, scheme)
	if err != nil {
		return nil, nil, err
	}
	reviewer := access.NewReviewer(c, c)
	reviewer.ReadSecrets = readSecrets
	return store, liveFacts{served: served, Reviewer: reviewer}, nil
}
