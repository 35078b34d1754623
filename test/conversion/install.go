package conversion

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Serve starts the webhook on a free port of 127.0.0.1 with the key pair
// given (the sandbox's own, whose CA the API server is told), and returns
// its URL; it stops with ctx.
func Serve(ctx context.Context, certFile, keyFile string) (string, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	mux := http.NewServeMux()
	mux.Handle("/convert", Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	return fmt.Sprintf("https://%s/convert", ln.Addr()), nil
}

// Install points the collector CRD's conversion at url and waits until the
// API server converts: a v1alpha1 probe collector written and read back
// keeps its label-map selector only once conversion is in place.
func Install(ctx context.Context, cfg *rest.Config, url string, caPEM []byte) error {
	// The probe is a deprecated v1alpha1 object: the API server's warning
	// says so, and is no news here.
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandler = rest.NoWarnings{}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return err
	}
	// Unstructured, so that any client will do, whatever its scheme holds.
	crd := &unstructured.Unstructured{}
	crd.SetAPIVersion("apiextensions.k8s.io/v1")
	crd.SetKind("CustomResourceDefinition")
	if err := c.Get(ctx, types.NamespacedName{Name: CRD}, crd); err != nil {
		return err
	}
	conv := map[string]any{
		"strategy": string(apiextensionsv1.WebhookConverter),
		"webhook": map[string]any{
			"clientConfig":             map[string]any{"url": url, "caBundle": base64.StdEncoding.EncodeToString(caPEM)},
			"conversionReviewVersions": []any{"v1"},
		},
	}
	if err := unstructured.SetNestedMap(crd.Object, conv, "spec", "conversion"); err != nil {
		return err
	}
	if err := c.Update(ctx, crd); err != nil {
		return fmt.Errorf("pointing %s at the conversion webhook: %w", CRD, err)
	}
	probe := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": V1alpha1, "kind": "OpenTelemetryCollector",
		// A collector with no TA running, that any admission webhook of
		// ta-guard's lets through unjudged.
		"metadata": map[string]any{"name": "ta-guard-conversion-probe", "namespace": "default",
			"annotations": map[string]any{"ta-guard.io/skip": "*"}},
		"spec": map[string]any{
			"config":          "receivers: {}\n",
			"targetAllocator": map[string]any{"prometheusCR": map[string]any{"serviceMonitorSelector": map[string]any{"probe": "yes"}}},
		},
	}}
	defer func() { _ = c.Delete(context.WithoutCancel(ctx), probe.DeepCopy()) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := c.Create(ctx, probe.DeepCopy())
		if err == nil || client.IgnoreAlreadyExists(err) == nil {
			got := &unstructured.Unstructured{}
			got.SetAPIVersion(V1alpha1)
			got.SetKind("OpenTelemetryCollector")
			if err = c.Get(ctx, client.ObjectKeyFromObject(probe), got); err == nil {
				v, _, _ := unstructured.NestedString(got.Object, "spec", "targetAllocator", "prometheusCR", "serviceMonitorSelector", "probe")
				if v == "yes" {
					return nil
				}
				err = errors.New("a v1alpha1 selector did not survive storage")
				_ = c.Delete(ctx, got) // written before conversion took over
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the API server does not convert %s yet: %w", CRD, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
