package issuer

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"
)

// clockSkew backdates NotBefore so that clients whose clock is a little behind
// accept a fresh certificate.
const clockSkew = 5 * time.Minute

// caIssuer signs certificates with a CA's key.
type caIssuer struct {
	cert     *x509.Certificate
	key      crypto.Signer
	chain    [][]byte // DER of the CA's certificate and any certificates given after it
	duration time.Duration
}

// NewCA returns an Issuer signing with the CA in certPEM/keyPEM (PKCS#1, PKCS#8 or EC key PEM), certificates valid for `duration` (clamped to the CA's own NotAfter). Errors say what is wrong (not a CA, key does not match the cert, expired CA...).
//
// The CA is the first certificate of certPEM; certificates after it (its own
// chain, for an intermediate CA) are appended to every issued CertPEM.
func NewCA(certPEM, keyPEM []byte, duration time.Duration) (Issuer, error) {
	if duration <= 0 {
		return nil, fmt.Errorf("certificate duration must be positive, got %v", duration)
	}
	certs, err := parseCerts(certPEM)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	ca := certs[0]
	if err := checkCA(ca, time.Now()); err != nil {
		return nil, err
	}
	key, err := ParseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	if !publicKeysEqual(key.Public(), ca.PublicKey) {
		return nil, fmt.Errorf("the CA key does not match the CA certificate %q", ca.Subject)
	}
	iss := &caIssuer{cert: ca, key: key, duration: duration}
	for _, c := range certs {
		iss.chain = append(iss.chain, c.Raw)
	}
	return iss, nil
}

// checkCA checks that c may sign certificates now.
func checkCA(c *x509.Certificate, now time.Time) error {
	switch {
	case !c.BasicConstraintsValid || !c.IsCA:
		return fmt.Errorf("certificate %q is not a CA (its basic constraints do not say CA:TRUE)", c.Subject)
	case c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCertSign == 0:
		return fmt.Errorf("CA certificate %q may not sign certificates (its key usage lacks certSign)", c.Subject)
	case now.After(c.NotAfter):
		return fmt.Errorf("CA certificate %q expired at %s", c.Subject, c.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(c.NotBefore):
		return fmt.Errorf("CA certificate %q is not valid before %s", c.Subject, c.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

// Issue signs a certificate for hosts with a fresh key, valid from a few
// minutes ago for the issuer's duration or until the CA expires.
func (c *caIssuer) Issue(ctx context.Context, hosts []string) (*Certificate, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validateHosts(hosts); err != nil {
		return nil, err
	}
	now := time.Now()
	if err := checkCA(c.cert, now); err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial.Add(serial, big.NewInt(1)), // never zero
		Subject:               pkix.Name{CommonName: commonName(hosts)},
		DNSNames:              hosts,
		NotBefore:             latest(now.Add(-clockSkew), c.cert.NotBefore),
		NotAfter:              earliest(now.Add(c.duration), c.cert.NotAfter),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, key.Public(), c.key)
	if err != nil {
		return nil, fmt.Errorf("signing a certificate for %v with CA %q: %w", hosts, c.cert.Subject, err)
	}
	return newCertificate(append([][]byte{der}, c.chain...), key, encodeCert(c.cert.Raw))
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
