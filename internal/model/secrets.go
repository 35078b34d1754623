package model

import (
	"sort"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// SecretRef is one key of a Secret that a monitor endpoint needs. The Secret
// lives in the monitor's own namespace: that is where the TA (through the
// Prometheus Operator's asset store) gets it, by name, while it turns the
// monitor into scrape jobs. A Secret it cannot get, or a key it does not
// find, makes it reject the whole monitor: none of its jobs is configured.
type SecretRef struct {
	Name string
	Key  string
	// Field is where the monitor names it, e.g.
	// spec.endpoints[0].basicAuth.password.
	Field *field.Path
	// Redacted: the value becomes a Prometheus Secret of the scrape
	// config (a password, credentials, a client secret, a proxy header),
	// which a TA without mTLS serves to its collectors as "<secret>"
	// (TA110). Usernames, client IDs and TLS material are not.
	Redacted bool
}

// serviceMonitorSecrets fills each endpoint's Secrets. The references are
// exactly those the asset store fetches for a ServiceMonitor endpoint; file
// references (bearerTokenFile, tlsConfig.caFile, ...) and ConfigMaps are not
// Secrets and are left out.
func (m *Monitor) serviceMonitorSecrets(eps []monitoringv1.Endpoint) {
	for i := range eps {
		if i >= len(m.Endpoints) {
			return
		}
		ep := &eps[i]
		var s secretRefs
		p := m.EndpointPath(i)
		s.http(ep.HTTPConfigWithoutTLS, p)
		if ep.TLSConfig != nil {
			s.tls(&ep.TLSConfig.SafeTLSConfig, p.Child("tlsConfig"))
		}
		s.proxy(ep.ProxyConfig, p)
		m.Endpoints[i].Secrets = s.refs
	}
}

// podMonitorSecrets is serviceMonitorSecrets for PodMonitor endpoints,
// whose TLS config takes no files.
func (m *Monitor) podMonitorSecrets(eps []monitoringv1.PodMetricsEndpoint) {
	for i := range eps {
		if i >= len(m.Endpoints) {
			return
		}
		ep := &eps[i]
		var s secretRefs
		p := m.EndpointPath(i)
		s.http(ep.HTTPConfigWithoutTLS, p)
		s.tls(ep.TLSConfig, p.Child("tlsConfig"))
		s.proxy(ep.ProxyConfig, p)
		m.Endpoints[i].Secrets = s.refs
	}
}

type secretRefs struct{ refs []SecretRef }

// add keeps named references only: the asset store skips a bearer token
// or authorization credentials without a name, and an unnamed selector
// elsewhere names no Secret that could exist.
func (s *secretRefs) add(sel *corev1.SecretKeySelector, p *field.Path) {
	s.addAs(sel, p, false)
}

// redacted adds a reference whose value the TA redacts.
func (s *secretRefs) redacted(sel *corev1.SecretKeySelector, p *field.Path) {
	s.addAs(sel, p, true)
}

func (s *secretRefs) addAs(sel *corev1.SecretKeySelector, p *field.Path, redacted bool) {
	if sel == nil || sel.Name == "" {
		return
	}
	s.refs = append(s.refs, SecretRef{Name: sel.Name, Key: sel.Key, Field: p, Redacted: redacted})
}

func (s *secretRefs) http(c monitoringv1.HTTPConfigWithoutTLS, p *field.Path) {
	// Deprecated upstream in favour of authorization, but still read by
	// the asset store: monitors in the wild use it.
	s.redacted(c.BearerTokenSecret, p.Child("bearerTokenSecret")) //lint:ignore SA1019 still served and honoured
	if ba := c.BasicAuth; ba != nil {
		s.add(&ba.Username, p.Child("basicAuth", "username"))
		s.redacted(&ba.Password, p.Child("basicAuth", "password"))
	}
	if a := c.Authorization; a != nil {
		s.redacted(a.Credentials, p.Child("authorization", "credentials"))
	}
	if o := c.OAuth2; o != nil {
		op := p.Child("oauth2")
		s.add(o.ClientID.Secret, op.Child("clientId", "secret"))
		s.redacted(&o.ClientSecret, op.Child("clientSecret"))
		s.tls(o.TLSConfig, op.Child("tlsConfig"))
		s.proxy(o.ProxyConfig, op)
	}
}

func (s *secretRefs) tls(c *monitoringv1.SafeTLSConfig, p *field.Path) {
	if c == nil {
		return
	}
	s.add(c.CA.Secret, p.Child("ca", "secret"))
	s.add(c.Cert.Secret, p.Child("cert", "secret"))
	s.add(c.KeySecret, p.Child("keySecret"))
}

// proxy: the headers sent to a proxy on CONNECT are Secrets too. Header
// names are sorted so that the references come in a stable order.
func (s *secretRefs) proxy(c monitoringv1.ProxyConfig, p *field.Path) {
	names := make([]string, 0, len(c.ProxyConnectHeader))
	for h := range c.ProxyConnectHeader {
		names = append(names, h)
	}
	sort.Strings(names)
	for _, h := range names {
		for i := range c.ProxyConnectHeader[h] {
			s.redacted(&c.ProxyConnectHeader[h][i], p.Child("proxyConnectHeader").Key(h).Index(i))
		}
	}
}
