// Package issuer issues TLS serving certificates for a list of DNS names, either
// signed by a CA whose certificate and key it is given (NewCA) or ordered from
// an ACME server with DNS-01 challenges (NewACME). Every certificate gets a
// fresh ECDSA P-256 key. Private keys never appear in errors.
package issuer

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Certificate is an issued certificate and its private key.
type Certificate struct {
	CertPEM   []byte // leaf first, then the chain the issuer returned
	KeyPEM    []byte // PKCS#8 "PRIVATE KEY" PEM of a fresh ECDSA P-256 key
	CAPEM     []byte // the issuing CA when known (CA issuer: its cert; ACME: last cert of the chain, may be empty)
	Serial    string // leaf serial, lower-case hex
	NotBefore time.Time
	NotAfter  time.Time
}

// Issuer issues a certificate whose SANs are exactly hosts (DNS names, wildcards allowed; first host is also the CN).
type Issuer interface {
	Issue(ctx context.Context, hosts []string) (*Certificate, error)
}

// maxCNLength is the longest common name X.509 allows (RFC 5280 ub-common-name).
const maxCNLength = 64

// validateHosts checks that hosts is a non-empty list of distinct lower-case
// DNS names, each optionally starting with "*.".
func validateHosts(hosts []string) error {
	if len(hosts) == 0 {
		return errors.New("no hosts to issue a certificate for")
	}
	for i, h := range hosts {
		var errs []string
		if strings.HasPrefix(h, "*.") {
			errs = validation.IsWildcardDNS1123Subdomain(h)
		} else {
			errs = validation.IsDNS1123Subdomain(h)
		}
		if len(errs) > 0 {
			return fmt.Errorf("host %q is not a DNS name: %s", h, strings.Join(errs, "; "))
		}
		if slices.Contains(hosts[:i], h) {
			return fmt.Errorf("host %q is listed twice", h)
		}
	}
	return nil
}

// commonName is the first host, or empty when it is too long to be a CN (the
// SANs are what clients check).
func commonName(hosts []string) string {
	if len(hosts[0]) > maxCNLength {
		return ""
	}
	return hosts[0]
}

// newCertificate assembles a Certificate from a DER chain (leaf first) and the
// leaf's key, checking that the leaf is for that key. caPEM is the issuing CA
// (nil when unknown).
func newCertificate(chain [][]byte, key crypto.Signer, caPEM []byte) (*Certificate, error) {
	if len(chain) == 0 {
		return nil, errors.New("no certificate was returned")
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, fmt.Errorf("parsing the issued certificate: %w", err)
	}
	if !publicKeysEqual(key.Public(), leaf.PublicKey) {
		return nil, errors.New("the issued certificate is not for the requested key")
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	var certPEM []byte
	for _, der := range chain {
		certPEM = append(certPEM, encodeCert(der)...)
	}
	return &Certificate{
		CertPEM:   certPEM,
		KeyPEM:    keyPEM,
		CAPEM:     caPEM,
		Serial:    serialHex(leaf),
		NotBefore: leaf.NotBefore,
		NotAfter:  leaf.NotAfter,
	}, nil
}

func serialHex(c *x509.Certificate) string { return c.SerialNumber.Text(16) }
