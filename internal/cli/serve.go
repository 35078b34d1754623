package cli

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/ta-guard/ta-guard/internal/audit"
	"github.com/ta-guard/ta-guard/internal/server"
	"github.com/ta-guard/ta-guard/pkg/rules"
)

func runServe(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	policyFile := fs.String("policy", "", "policy file; reloaded when it changes")
	defaultAction := fs.String("default-action", "", "override the policy's defaultAction: deny, warn, audit or off")
	port := fs.Int("port", 9443, "webhook HTTPS port")
	host := fs.String("host", "", "webhook bind host (all interfaces when empty)")
	certDir := fs.String("cert-dir", "/tmp/k8s-webhook-server/serving-certs", "directory with tls.crt and tls.key (reloaded on change)")
	metricsAddr := fs.String("metrics-bind-address", ":8443", `metrics address ("0" disables)`)
	metricsSecure := fs.Bool("metrics-secure", true, "serve metrics over HTTPS, to clients the API server authenticates and authorizes for get on /metrics; false: plain HTTP to anyone (local development)")
	healthAddr := fs.String("health-probe-bind-address", ":8081", "healthz/readyz address")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file (default: in-cluster, or $KUBECONFIG)")
	enableHTTP2 := fs.Bool("enable-http2", false, "serve HTTP/2 (off by default: rapid-reset advisories)")
	timeout := fs.Duration("request-timeout", 3*time.Second, "bound for the live look-ups of one request; keep below the webhook's timeoutSeconds")
	auditInterval := fs.Duration("audit-interval", 10*time.Minute, "period of the full cluster audit (PolicyReports, Events); 0 disables it")
	auditDebounce := fs.Duration("audit-debounce", 30*time.Second, "how soon after a change in the cluster an audit follows")
	reportAPI := fs.String("report-api", "auto", "where the audit writes its reports: auto (openreports.io Reports when served, else wgpolicyk8s.io PolicyReports), both, openreports or wgpolicyk8s")
	leaderElect := fs.Bool("leader-elect", false, "elect one replica to run the audit (set it when running more than one)")
	leaderNS := fs.String("leader-election-namespace", "", "namespace of the leader election Lease (default: the pod's namespace)")
	checkSecretKeys := fs.Bool("check-secret-keys", false, "read the Secrets monitors name to check they exist with their keys (TA109); needs get on secrets (kustomize component secret-keys)")
	tlsMin := fs.String("tls-min-version", "1.3", "oldest TLS version the webhook and metrics ports accept: 1.2 or 1.3")
	clientCA := fs.String("client-ca-file", "", "PEM CA bundle: the webhook port then requires a client certificate it issued (give the API server one in its admission configuration)")
	inFlight := fs.Int64("max-in-flight-bytes", 0, "AdmissionReview bytes read or checked at once, by declared length; a request that finds no room within half its timeout is admitted \"not checked\" (0: 64 MiB, sized for a 512Mi limit)")
	webhookConfig := fs.String("webhook-configuration", "", "name of ta-guard's ValidatingWebhookConfiguration, installed with failurePolicy Ignore: with --failure-policy, set once this replica is ready")
	failurePolicy := fs.String("failure-policy", "", "Fail or Ignore: the failurePolicy --webhook-configuration gets once this replica is ready (enforce: Fail), so that an install whose replicas never become ready blocks nothing")
	certSecret := fs.String("cert-secret", "", "NAMESPACE/NAME of a Secret (mounted at --cert-dir) in which to issue and rotate ta-guard's own CA and serving certificate, injecting the CA into --webhook-configuration's caBundle: without cert-manager")
	certDNSNames := fs.String("cert-dns-names", "", "with --cert-secret: the serving certificate's DNS names, comma-separated, the Service's <name>.<namespace>.svc first")
	certValidity := fs.Duration("cert-validity", 365*24*time.Hour, "with --cert-secret: how long a serving certificate is valid (the CA: 10 years)")
	certRenewBefore := fs.Duration("cert-renew-before", 90*24*time.Hour, "with --cert-secret: renew a certificate this long before it expires")
	certCheckInterval := fs.Duration("cert-check-interval", time.Hour, "with --cert-secret: how often the certificates' expiry is looked at")
	logLevel := fs.Int("v", 0, "log verbosity")
	if code, ok := parsed(fs, args); !ok {
		return code
	}
	var minTLS uint16
	switch *tlsMin {
	case "1.2", "VersionTLS12":
		minTLS = tls.VersionTLS12
	case "1.3", "VersionTLS13":
		minTLS = tls.VersionTLS13
	default:
		fmt.Fprintf(stderr, "serve: --tls-min-version %q: want 1.2 or 1.3\n", *tlsMin)
		return 2
	}
	if *inFlight < 0 {
		fmt.Fprintf(stderr, "serve: --max-in-flight-bytes: %d is negative\n", *inFlight)
		return 2
	}
	reportAPIs, err := audit.ParseReportAPIs(*reportAPI)
	if err != nil {
		fmt.Fprintf(stderr, "serve: --report-api: %v\n", err)
		return 2
	}
	var action rules.Action
	if *defaultAction != "" {
		a, err := rules.ParseAction(*defaultAction)
		if err != nil {
			fmt.Fprintf(stderr, "serve: --default-action: %v\n", err)
			return 2
		}
		action = a
	}
	var fp admissionregistrationv1.FailurePolicyType
	switch *failurePolicy {
	case "":
	case string(admissionregistrationv1.Fail), string(admissionregistrationv1.Ignore):
		fp = admissionregistrationv1.FailurePolicyType(*failurePolicy)
		if *webhookConfig == "" {
			fmt.Fprintln(stderr, "serve: --failure-policy needs --webhook-configuration")
			return 2
		}
	default:
		fmt.Fprintf(stderr, "serve: --failure-policy %q: want Fail or Ignore\n", *failurePolicy)
		return 2
	}
	var rotation *server.CertRotation
	if *certSecret != "" {
		ns, name, ok := strings.Cut(*certSecret, "/")
		if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
			fmt.Fprintf(stderr, "serve: --cert-secret %q: want NAMESPACE/NAME\n", *certSecret)
			return 2
		}
		var names []string
		for _, n := range strings.Split(*certDNSNames, ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
		switch {
		case len(names) == 0:
			fmt.Fprintln(stderr, "serve: --cert-secret needs --cert-dns-names")
			return 2
		case *webhookConfig == "":
			fmt.Fprintln(stderr, "serve: --cert-secret needs --webhook-configuration, whose caBundle it keeps")
			return 2
		case *certRenewBefore <= 0 || *certRenewBefore >= *certValidity:
			fmt.Fprintf(stderr, "serve: --cert-renew-before %v: want more than 0 and less than --cert-validity %v\n", *certRenewBefore, *certValidity)
			return 2
		case *certCheckInterval <= 0:
			fmt.Fprintf(stderr, "serve: --cert-check-interval %v: want more than 0\n", *certCheckInterval)
			return 2
		}
		rotation = &server.CertRotation{
			Secret: types.NamespacedName{Namespace: ns, Name: name}, DNSNames: names,
			Validity: *certValidity, RenewBefore: *certRenewBefore, CheckInterval: *certCheckInterval,
		}
	} else if *certDNSNames != "" {
		fmt.Fprintln(stderr, "serve: --cert-dns-names needs --cert-secret")
		return 2
	}
	log := logr.FromSlogHandler(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.Level(-*logLevel)}))
	ctrl.SetLogger(log)
	cfg, err := kubeRestConfig(*kubeconfig, "")
	if err != nil {
		fmt.Fprintf(stderr, "serve: %v\n", err)
		return 2
	}
	srv, err := server.New(server.Options{
		Config: cfg, PolicyFile: *policyFile, DefaultAction: action,
		Host: *host, Port: *port, CertDir: *certDir,
		MetricsAddr: *metricsAddr, HealthAddr: *healthAddr, EnableHTTP2: *enableHTTP2,
		RequestTimeout: *timeout, Log: log, InsecureMetrics: !*metricsSecure,
		AuditInterval: *auditInterval, AuditDebounce: *auditDebounce, ReportAPIs: reportAPIs,
		LeaderElection: *leaderElect, LeaderElectionNamespace: *leaderNS,
		CheckSecretKeys: *checkSecretKeys, WebhookInFlightBytes: *inFlight,
		TLSMinVersion: minTLS, ClientCAFile: *clientCA,
		WebhookConfiguration: *webhookConfig, FailurePolicy: fp,
		CertRotation: rotation,
	})
	if err != nil {
		fmt.Fprintf(stderr, "serve: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := srv.Start(ctx); err != nil {
		log.Error(err, "webhook stopped")
		return 1
	}
	return 0
}
