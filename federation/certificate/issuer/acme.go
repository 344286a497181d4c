package issuer

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
	"k8s.io/klog/v2"
)

// DefaultPropagationTimeout is ACMEConfig.PropagationTimeout when it is zero.
const DefaultPropagationTimeout = 2 * time.Minute

// cleanUpTimeout bounds removing one challenge record.
const cleanUpTimeout = 30 * time.Second

// DNS01Solver publishes and removes the TXT record of a DNS-01 challenge. fqdn is the absolute challenge name, e.g. "_acme-challenge.shop.example.com.".
type DNS01Solver interface {
	Present(ctx context.Context, fqdn, value string) error
	CleanUp(ctx context.Context, fqdn, value string) error
}

// ACMEConfig configures an ACME issuer.
type ACMEConfig struct {
	Server     string        // directory URL
	Email      string        // optional contact
	AccountKey crypto.Signer // the account key
	CABundle   []byte        // optional PEM roots to trust for the ACME server's HTTPS (pebble's test CA); system roots when empty
	Solver     DNS01Solver
	// PropagationTimeout bounds waiting for authorizations/orders (default 2m).
	PropagationTimeout time.Duration
}

// acmeIssuer orders certificates from an ACME server.
type acmeIssuer struct {
	client  *acme.Client
	solver  DNS01Solver
	email   string
	timeout time.Duration

	mu         sync.Mutex
	registered bool
}

// NewACME returns an Issuer that registers (or finds) the account and orders certificates with DNS-01.
// Nothing is sent before the first Issue, which registers the account (with
// the server's terms of service accepted) or finds the key's existing one.
func NewACME(cfg ACMEConfig) (Issuer, error) {
	if u, err := url.Parse(cfg.Server); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("ACME server %q is not an http(s) URL", cfg.Server)
	}
	if cfg.AccountKey == nil {
		return nil, errors.New("an ACME account key is required")
	}
	if cfg.Solver == nil {
		return nil, errors.New("a DNS-01 solver is required")
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if len(cfg.CABundle) > 0 {
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(cfg.CABundle) {
			return nil, errors.New("the ACME CA bundle holds no PEM certificate")
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	timeout := cfg.PropagationTimeout
	if timeout <= 0 {
		timeout = DefaultPropagationTimeout
	}
	return &acmeIssuer{
		client: &acme.Client{
			Key:          cfg.AccountKey,
			DirectoryURL: cfg.Server,
			HTTPClient:   &http.Client{Transport: transport, Timeout: time.Minute},
			UserAgent:    "portico",
		},
		solver:  cfg.Solver,
		email:   cfg.Email,
		timeout: timeout,
	}, nil
}

// Issue orders a certificate for hosts: it solves the DNS-01 challenge of
// every pending authorization one after the other, then finalizes the order
// with a CSR for a fresh key and downloads the certificate and its chain.
func (a *acmeIssuer) Issue(ctx context.Context, hosts []string) (*Certificate, error) {
	if err := validateHosts(hosts); err != nil {
		return nil, err
	}
	if err := a.account(ctx); err != nil {
		return nil, fmt.Errorf("ACME account at %s: %w", a.client.DirectoryURL, err)
	}
	order, err := a.client.AuthorizeOrder(ctx, acme.DomainIDs(hosts...))
	if err != nil {
		return nil, fmt.Errorf("ACME order for %v: %w", hosts, err)
	}
	for _, u := range order.AuthzURLs {
		if err := a.authorize(ctx, u); err != nil {
			return nil, err
		}
	}
	key, csr, err := newCSR(hosts)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	if order, err = a.client.WaitOrder(wctx, order.URI); err != nil {
		return nil, fmt.Errorf("ACME order for %v did not become ready: %w", hosts, err)
	}
	// Finalize, wait for the order to be valid and fetch the certificate, by
	// the order's URL: finalize responses need not carry a Location (pebble's
	// do not), which CreateOrderCert relies on.
	chain, _, err := a.client.CreateCertFromOrder(wctx, order, csr, true)
	if err != nil {
		return nil, fmt.Errorf("ACME certificate for %v: %w", hosts, err)
	}
	var caPEM []byte
	if len(chain) > 1 {
		caPEM = encodeCert(chain[len(chain)-1])
	}
	return newCertificate(chain, key, caPEM)
}

// account registers the account key once, or finds its existing account.
func (a *acmeIssuer) account(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.registered {
		return nil
	}
	acct := &acme.Account{}
	if a.email != "" {
		acct.Contact = []string{"mailto:" + a.email}
	}
	_, err := a.client.Register(ctx, acct, acme.AcceptTOS)
	if errors.Is(err, acme.ErrAccountAlreadyExists) {
		_, err = a.client.GetReg(ctx, "")
	}
	if err != nil {
		return err
	}
	a.registered = true
	return nil
}

// authorize solves the DNS-01 challenge of the authorization at u, unless it
// is already valid. The challenge record is removed whatever happens.
func (a *acmeIssuer) authorize(ctx context.Context, u string) (err error) {
	z, err := a.client.GetAuthorization(ctx, u)
	if err != nil {
		return fmt.Errorf("ACME authorization %s: %w", u, err)
	}
	host := z.Identifier.Value
	if z.Wildcard {
		host = "*." + host
	}
	switch z.Status {
	case acme.StatusValid:
		return nil
	case acme.StatusPending:
	default:
		return fmt.Errorf("ACME authorization for %s is %s", host, z.Status)
	}
	i := slices.IndexFunc(z.Challenges, func(c *acme.Challenge) bool { return c.Type == "dns-01" })
	if i < 0 {
		return fmt.Errorf("the ACME server offers no dns-01 challenge for %s", host)
	}
	chal := z.Challenges[i]
	value, err := a.client.DNS01ChallengeRecord(chal.Token)
	if err != nil {
		return err
	}
	fqdn := ChallengeName(host)
	defer func() { err = a.cleanUp(ctx, fqdn, value, err) }()
	if err := a.solver.Present(ctx, fqdn, value); err != nil {
		return fmt.Errorf("publishing the DNS-01 challenge of %s at %s: %w", host, fqdn, err)
	}
	if _, err := a.client.Accept(ctx, chal); err != nil {
		return fmt.Errorf("accepting the DNS-01 challenge of %s: %w", host, err)
	}
	wctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	if _, err := a.client.WaitAuthorization(wctx, z.URI); err != nil {
		return fmt.Errorf("DNS-01 challenge of %s (TXT %s) failed: %w", host, fqdn, err)
	}
	return nil
}

// cleanUp removes a challenge record with a fresh context, so that it runs
// even when ctx is done. A failure is added to err when there is one, and
// logged otherwise: the authorization succeeded.
func (a *acmeIssuer) cleanUp(ctx context.Context, fqdn, value string, err error) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanUpTimeout)
	defer cancel()
	cerr := a.solver.CleanUp(cctx, fqdn, value)
	if cerr == nil {
		return err
	}
	cerr = fmt.Errorf("removing the DNS-01 challenge record %s: %w", fqdn, cerr)
	if err != nil {
		return errors.Join(err, cerr)
	}
	klog.FromContext(ctx).Error(cerr, "DNS-01 challenge record left behind")
	return nil
}

// ChallengeName is the absolute name of the DNS-01 challenge TXT record of
// host: "_acme-challenge.<host without "*.">.".
func ChallengeName(host string) string {
	return "_acme-challenge." + strings.TrimSuffix(strings.TrimPrefix(host, "*."), ".") + "."
}

// newCSR returns a fresh key and a DER certificate request for hosts.
func newCSR(hosts []string) (crypto.Signer, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: commonName(hosts)},
		DNSNames: hosts,
	}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("creating the certificate request: %w", err)
	}
	return key, csr, nil
}
