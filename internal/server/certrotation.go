package server

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// CertRotation makes ta-guard its own certificate authority, as Gatekeeper
// and Kyverno do where cert-manager is not installed: a CA and a serving
// certificate kept in one Secret (created empty by the install), the CA
// injected into the webhook configuration's caBundle, both renewed before
// they expire, without an upgrade or a restart. An install or upgrade never
// makes new ones while the Secret's are valid, so the caBundle is stable.
type CertRotation struct {
	// Secret holds ca.crt, ca.key, tls.crt and tls.key; the replicas mount
	// it at the server's CertDir.
	Secret types.NamespacedName
	// DNSNames are the serving certificate's names: the Service's
	// <name>.<namespace>.svc first.
	DNSNames []string
	// Validity of the serving certificate (default 1 year; the CA's is 10
	// years), renewed RenewBefore its end (default 90 days), looked at
	// every CheckInterval (default 1 hour).
	Validity, RenewBefore, CheckInterval time.Duration
}

// addCertRotation adds cert-controller's rotator to mgr for the named
// ValidatingWebhookConfiguration. It closes ready once the Secret's
// certificate is in CertDir and the CA is in the caBundle: the webhook
// serves only from then, and the replica is ready only from then, so the
// failurePolicy keeper never tightens a configuration the API server could
// not verify.
func addCertRotation(mgr manager.Manager, r CertRotation, certDir, webhookConfiguration string, ready chan struct{}) (func(*http.Request) error, error) {
	if r.Secret.Namespace == "" || r.Secret.Name == "" {
		return nil, errors.New("certificate rotation: the Secret needs a namespace and a name")
	}
	if len(r.DNSNames) == 0 {
		return nil, errors.New("certificate rotation: no DNS name for the serving certificate")
	}
	if webhookConfiguration == "" {
		return nil, errors.New("certificate rotation needs the webhook configuration whose caBundle it keeps")
	}
	check := r.CheckInterval
	if check <= 0 {
		check = time.Hour
	}
	cr := &rotator.CertRotator{
		SecretKey:              r.Secret,
		CertDir:                certDir,
		CAName:                 "ta-guard-ca",
		CAOrganization:         "ta-guard",
		DNSName:                r.DNSNames[0],
		ExtraDNSNames:          r.DNSNames[1:],
		IsReady:                ready,
		Webhooks:               []rotator.WebhookInfo{{Name: webhookConfiguration, Type: rotator.Validating}},
		FieldOwner:             "ta-guard",
		ExtKeyUsages:           &[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		ServerCertDuration:     r.Validity,
		LookaheadInterval:      r.RenewBefore,
		RotationCheckFrequency: check,
		// Every replica keeps the Secret and the caBundle: the writes are
		// compare-and-swap on resourceVersion, and a replica that is not
		// elected must still become ready.
		RequireLeaderElection: false,
		// The certificate watcher follows the mounted files; no restart.
		RestartOnSecretRefresh: false,
		EnableReadinessCheck:   true,
	}
	if err := rotator.AddRotator(mgr, cr); err != nil {
		return nil, fmt.Errorf("certificate rotation: %w", err)
	}
	isReady := func(*http.Request) error {
		select {
		case <-ready:
			return nil
		default:
			return fmt.Errorf("serving certificate of Secret %s not yet issued, mounted and in the caBundle of %s", r.Secret, webhookConfiguration)
		}
	}
	return isReady, nil
}
