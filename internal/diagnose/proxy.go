package diagnose

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"k8s.io/client-go/rest"
)

// TAServicePort is the port of the operator's TA Service that serves the
// HTTP API in plain text; with mTLS on, its https port asks for the
// collectors' client certificates, which the API server's proxy cannot show.
const TAServicePort = "targetallocation"

// NewProxyTAClient reads a TA's HTTP API through the API server's service
// proxy, with the caller's own credentials: the guide's port-forward, done
// by the program, for every TA at once.
func NewProxyTAClient(cfg *rest.Config, namespace, service, port string) (*TAClient, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	hc.Timeout = 10 * time.Second
	host := strings.TrimRight(cfg.Host, "/")
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	raw := fmt.Sprintf("%s%s/api/v1/namespaces/%s/services/http:%s:%s/proxy", host, strings.TrimRight(cfg.APIPath, "/"),
		url.PathEscape(namespace), url.PathEscape(service), url.PathEscape(port))
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	return &TAClient{Base: u, Client: hc, proxied: fmt.Sprintf("%s/%s", namespace, service)}, nil
}

// proxyForbidden explains an HTTP 403 from the service proxy: the caller
// may not proxy to the TA's Service.
func proxyForbidden(c *TAClient, status int) error {
	if c.proxied == "" || status != http.StatusForbidden {
		return nil
	}
	ns, _, _ := strings.Cut(c.proxied, "/")
	return fmt.Errorf("the API server's service proxy to %s is forbidden: you need get on services/proxy in namespace %s (kubectl auth can-i get services/proxy -n %s)", c.proxied, ns, ns)
}
