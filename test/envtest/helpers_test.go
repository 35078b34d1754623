package envtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ta-guard/ta-guard/internal/manifest"
	"github.com/ta-guard/ta-guard/internal/model"
	"github.com/ta-guard/ta-guard/internal/server"
	"github.com/ta-guard/ta-guard/internal/webhook"
)

func metaType(apiVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
}

func objectMeta(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name} }

func nsSet(ns string) model.NamespaceSet { return model.NamespaceSet{Names: []string{ns}} }

func everything() labels.Selector { return labels.Everything() }

func refOf(u *unstructured.Unstructured) model.Ref {
	return model.Ref{Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName()}
}

// allocatorFor is the guide's collector, normalized: its required
// permissions are what the test grants.
func allocatorFor(t *testing.T) *model.Allocator {
	t.Helper()
	docs, err := manifest.Load([]string{repoRoot + "/testdata/seed/collector.yaml"}, manifest.Options{})
	require.NoError(t, err)
	return docs[0].Object.(*model.Allocator)
}

// waitForStore waits until the webhook's view holds every object but the
// one about to be applied.
func waitForStore(t *testing.T, srv *server.Server, objs []*unstructured.Unstructured, last int) {
	t.Helper()
	var names []string
	for i, o := range objs {
		if i != last {
			names = append(names, o.GetKind()+" "+o.GetName())
		}
	}
	waitFor(t, "the store to hold "+strings.Join(names, ", "), func() bool {
		for i, o := range objs {
			if i != last && !srv.Store.Has(refOf(o)) {
				return false
			}
		}
		return true
	})
}

// waitForStoreToForget waits until the webhook's view holds none of the
// objects of a kind ta-guard reviews: those are what the next setup or
// scenario must not meet (its namespaces, say, are kept).
func waitForStoreToForget(t *testing.T, srv *server.Server, objs []*unstructured.Unstructured) {
	t.Helper()
	var names []string
	for _, o := range objs {
		if reviewed(o.GetKind()) {
			names = append(names, o.GetKind()+" "+o.GetName())
		}
	}
	waitFor(t, "the store to forget "+strings.Join(names, ", "), func() bool {
		for _, o := range objs {
			if reviewed(o.GetKind()) && srv.Store.Has(refOf(o)) {
				return false
			}
		}
		return true
	})
}

// writeSelfSigned gives a server a serving certificate in its cert dir (the
// audit test registers no webhook, but the server still listens).
func writeSelfSigned(t *testing.T, srv *server.Server) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kb, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	dir := srv.CertDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600))
}

// reviewAt sends the object as a CREATE straight to a server's webhook
// endpoint (no API server in between) and returns the answer.
func reviewAt(t *testing.T, addr string, obj *unstructured.Unstructured) *admissionv1.AdmissionResponse {
	t.Helper()
	resp, err := postReview(reviewClient(10*time.Second), addr, obj)
	require.NoError(t, err)
	return resp
}

func reviewClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // our own test server's self-signed certificate
	}}
}

// postReview is reviewAt for callers off the test's goroutine: every
// failure is an error, the HTTP status and an empty answer included.
func postReview(c *http.Client, addr string, obj *unstructured.Unstructured) (*admissionv1.AdmissionResponse, error) {
	raw, err := obj.MarshalJSON()
	if err != nil {
		return nil, err
	}
	gvk := obj.GroupVersionKind()
	body, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID(fmt.Sprintf("envtest-%d", time.Now().UnixNano())),
			Kind:      metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind},
			Resource:  metav1.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: model.ResourceOf(gvk.Group, gvk.Kind)},
			Namespace: obj.GetNamespace(), Name: obj.GetName(),
			Operation: admissionv1.Create,
			Object:    runtime.RawExtension{Raw: raw},
		},
	})
	if err != nil {
		return nil, err
	}
	resp, err := c.Post("https://"+addr+webhook.Path, "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("decoding the AdmissionReview: %w", err)
	}
	if out.Response == nil {
		return nil, fmt.Errorf("AdmissionReview without a response")
	}
	return out.Response, nil
}
