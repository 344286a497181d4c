package issuer

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"
)

// testCA is a self-signed CA made by a test.
type testCA struct {
	cert    *x509.Certificate
	certPEM []byte
	key     crypto.Signer
}

// newTestCA makes a CA valid from notBefore to notAfter; mutate edits its
// template before signing.
func newTestCA(t *testing.T, key crypto.Signer, notBefore, notAfter time.Time, mutate func(*x509.Certificate)) *testCA {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	if mutate != nil {
		mutate(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, certPEM: encodeCert(der), key: key}
}

func ecKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pkcs8PEM(t *testing.T, key crypto.Signer) []byte {
	t.Helper()
	p, err := encodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCAIssue(t *testing.T) {
	now := time.Now()
	ca := newTestCA(t, ecKey(t), now.Add(-time.Hour), now.Add(365*24*time.Hour), nil)
	iss, err := NewCA(ca.certPEM, pkcs8PEM(t, ca.key), 90*24*time.Hour)
	if err != nil {
		t.Fatalf("NewCA: %v", err)
	}
	hosts := []string{"shop.example.com", "*.api.example.com", "example.com"}
	c, err := iss.Issue(context.Background(), hosts)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	leaf := checkIssued(t, c, hosts, ca.cert)
	if leaf.Subject.CommonName != "shop.example.com" {
		t.Errorf("CN = %q", leaf.Subject.CommonName)
	}
	if want := now.Add(90 * 24 * time.Hour); leaf.NotAfter.Before(want.Add(-time.Minute)) || leaf.NotAfter.After(want.Add(time.Minute)) {
		t.Errorf("NotAfter = %v, want about %v", leaf.NotAfter, want)
	}
	if !leaf.NotBefore.Before(now) || leaf.NotBefore.Before(now.Add(-clockSkew-time.Minute)) {
		t.Errorf("NotBefore = %v, want a few minutes before %v", leaf.NotBefore, now)
	}
	if !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) || leaf.IsCA {
		t.Errorf("ExtKeyUsage = %v, IsCA = %v", leaf.ExtKeyUsage, leaf.IsCA)
	}
	if string(c.CAPEM) != string(ca.certPEM) {
		t.Error("CAPEM is not the CA's certificate")
	}
	if got := strings.Count(string(c.CertPEM), "BEGIN CERTIFICATE"); got != 2 {
		t.Errorf("CertPEM holds %d certificates, want the leaf and the CA", got)
	}

	again, err := iss.Issue(context.Background(), hosts)
	if err != nil {
		t.Fatal(err)
	}
	if again.Serial == c.Serial || string(again.KeyPEM) == string(c.KeyPEM) {
		t.Error("a second certificate has the same serial or key")
	}
}

// checkIssued checks c against hosts and ca and returns its leaf.
func checkIssued(t *testing.T, c *Certificate, hosts []string, ca *x509.Certificate) *x509.Certificate {
	t.Helper()
	certs, err := parseCerts(c.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	leaf := certs[0]
	if !slices.Equal(leaf.DNSNames, hosts) {
		t.Errorf("SANs = %v, want %v", leaf.DNSNames, hosts)
	}
	if c.Serial != leaf.SerialNumber.Text(16) || c.Serial != strings.ToLower(c.Serial) {
		t.Errorf("Serial = %q, leaf's is %x", c.Serial, leaf.SerialNumber)
	}
	if !c.NotBefore.Equal(leaf.NotBefore) || !c.NotAfter.Equal(leaf.NotAfter) {
		t.Errorf("validity %v-%v, leaf's %v-%v", c.NotBefore, c.NotAfter, leaf.NotBefore, leaf.NotAfter)
	}
	block, _ := pem.Decode(c.KeyPEM)
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatalf("KeyPEM is not a PKCS#8 PEM")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if ec, ok := key.(*ecdsa.PrivateKey); !ok || ec.Curve != elliptic.P256() || !ec.PublicKey.Equal(leaf.PublicKey) {
		t.Errorf("KeyPEM is not the leaf's ECDSA P-256 key")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	for _, h := range hosts {
		name := strings.Replace(h, "*", "any", 1)
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inter}); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	return leaf
}

func TestCAValidityClamped(t *testing.T) {
	now := time.Now()
	ca := newTestCA(t, ecKey(t), now.Add(-time.Hour), now.Add(2*time.Hour), nil)
	iss, err := NewCA(ca.certPEM, pkcs8PEM(t, ca.key), 90*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := iss.Issue(context.Background(), []string{"a.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if !c.NotAfter.Equal(ca.cert.NotAfter) {
		t.Fatalf("NotAfter = %v, want the CA's %v", c.NotAfter, ca.cert.NotAfter)
	}

	young := newTestCA(t, ecKey(t), now.Add(-time.Minute), now.Add(time.Hour), nil)
	iss, err = NewCA(young.certPEM, pkcs8PEM(t, young.key), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if c, err = iss.Issue(context.Background(), []string{"a.example.com"}); err != nil {
		t.Fatal(err)
	}
	if !c.NotBefore.Equal(young.cert.NotBefore) {
		t.Fatalf("NotBefore = %v, before the CA's %v", c.NotBefore, young.cert.NotBefore)
	}
}

func TestCAKeyFormats(t *testing.T) {
	now := time.Now()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ec := ecKey(t)
	secDER, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		key    crypto.Signer
		keyPEM []byte
	}{
		"PKCS#1 RSA": {rsaKey, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})},
		"SEC1 EC": {ec, append(pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}}),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: secDER})...)},
		"PKCS#8 RSA": {rsaKey, pkcs8PEM(t, rsaKey)},
	} {
		t.Run(name, func(t *testing.T) {
			ca := newTestCA(t, tc.key, now.Add(-time.Hour), now.Add(time.Hour*24), nil)
			iss, err := NewCA(ca.certPEM, tc.keyPEM, time.Hour)
			if err != nil {
				t.Fatalf("NewCA: %v", err)
			}
			c, err := iss.Issue(context.Background(), []string{"web.example.com"})
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			checkIssued(t, c, []string{"web.example.com"}, ca.cert)
		})
	}
}

func TestNewCAErrors(t *testing.T) {
	now := time.Now()
	key := ecKey(t)
	keyPEM := pkcs8PEM(t, key)
	good := newTestCA(t, key, now.Add(-time.Hour), now.Add(time.Hour), nil)
	notCA := newTestCA(t, key, now.Add(-time.Hour), now.Add(time.Hour), func(c *x509.Certificate) {
		c.IsCA = false
		c.KeyUsage = x509.KeyUsageDigitalSignature
	})
	noCertSign := newTestCA(t, key, now.Add(-time.Hour), now.Add(time.Hour), func(c *x509.Certificate) {
		c.KeyUsage = x509.KeyUsageDigitalSignature
	})
	expired := newTestCA(t, key, now.Add(-2*time.Hour), now.Add(-time.Hour), nil)
	future := newTestCA(t, key, now.Add(time.Hour), now.Add(2*time.Hour), nil)
	for name, tc := range map[string]struct {
		certPEM, keyPEM []byte
		duration        time.Duration
		want            string
	}{
		"not a CA":         {notCA.certPEM, keyPEM, time.Hour, "is not a CA"},
		"no certSign":      {noCertSign.certPEM, keyPEM, time.Hour, "may not sign certificates"},
		"expired":          {expired.certPEM, keyPEM, time.Hour, "expired at"},
		"not yet valid":    {future.certPEM, keyPEM, time.Hour, "not valid before"},
		"key mismatch":     {good.certPEM, pkcs8PEM(t, ecKey(t)), time.Hour, "does not match"},
		"no certificate":   {keyPEM, keyPEM, time.Hour, "no PEM certificate"},
		"garbage cert":     {[]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), keyPEM, time.Hour, "parsing certificate"},
		"no key":           {good.certPEM, good.certPEM, time.Hour, "no PEM private key"},
		"zero duration":    {good.certPEM, keyPEM, 0, "duration must be positive"},
		"negative seconds": {good.certPEM, keyPEM, -time.Second, "duration must be positive"},
	} {
		_, err := NewCA(tc.certPEM, tc.keyPEM, tc.duration)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Errorf("%s: the error quotes the key: %v", name, err)
		}
	}
}

func TestIssueRejectsBadHosts(t *testing.T) {
	now := time.Now()
	ca := newTestCA(t, ecKey(t), now.Add(-time.Hour), now.Add(time.Hour), nil)
	iss, err := NewCA(ca.certPEM, pkcs8PEM(t, ca.key), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, hosts := range [][]string{
		nil,
		{""},
		{"Upper.example.com"},
		{"a..example.com"},
		{"a.*.example.com"},
		{"**.example.com"},
		{"a.example.com", "a.example.com"},
		{"under_score.example.com"},
	} {
		if _, err := iss.Issue(context.Background(), hosts); err == nil {
			t.Errorf("Issue(%q) accepted", hosts)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := iss.Issue(ctx, []string{"a.example.com"}); err == nil {
		t.Error("Issue with a cancelled context succeeded")
	}
}

func TestLongFirstHostHasNoCN(t *testing.T) {
	now := time.Now()
	ca := newTestCA(t, ecKey(t), now.Add(-time.Hour), now.Add(time.Hour), nil)
	iss, err := NewCA(ca.certPEM, pkcs8PEM(t, ca.key), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("a", 60) + ".example.com"
	c, err := iss.Issue(context.Background(), []string{long})
	if err != nil {
		t.Fatal(err)
	}
	leaf := checkIssued(t, c, []string{long}, ca.cert)
	if leaf.Subject.CommonName != "" {
		t.Errorf("CN = %q, longer than X.509 allows", leaf.Subject.CommonName)
	}
}
