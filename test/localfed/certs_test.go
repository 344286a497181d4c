package localfed

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func parseCertPEM(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("no CERTIFICATE block in %q", data)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestCAIssueServing(t *testing.T) {
	ca, err := NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	if !ca.Cert.IsCA || ca.Cert.Subject.CommonName != "test-ca" {
		t.Fatalf("CA cert: IsCA=%v CN=%q", ca.Cert.IsCA, ca.Cert.Subject.CommonName)
	}
	certPEM, keyPEM, err := ca.IssueServing("portico-hub", []string{"portico-hub.portico-system.svc", "localhost"}, []net.IP{net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatalf("key pair: %v", err)
	}
	cert := parseCertPEM(t, certPEM)
	for _, name := range []string{"portico-hub.portico-system.svc", "localhost", "127.0.0.1"} {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: name, Roots: ca.CertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: "other.svc", Roots: ca.CertPool()}); err == nil {
		t.Error("verified for a name not in the SANs")
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.CertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("serving cert verified as a client cert")
	}
	other, err := NewCA("other")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: other.CertPool()}); err == nil {
		t.Error("verified against a foreign CA")
	}
	if _, _, err := ca.IssueServing("x", nil, nil); err == nil {
		t.Error("serving cert without SANs accepted")
	}
}

func TestCAIssueClient(t *testing.T) {
	ca, err := NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssueClient("alice", []string{"system:masters", "team-a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatalf("key pair: %v", err)
	}
	cert := parseCertPEM(t, certPEM)
	// The groups form one multi-valued RDN, a DER SET, whose order is not kept.
	groups := slices.Sorted(slices.Values(cert.Subject.Organization))
	if cert.Subject.CommonName != "alice" || !slices.Equal(groups, []string{"system:masters", "team-a"}) {
		t.Errorf("subject = %v", cert.Subject)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.CertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("verify as client: %v", err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.CertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("client cert verified as a serving cert")
	}
	if cert.NotAfter.After(ca.Cert.NotAfter) {
		t.Error("leaf outlives its CA")
	}
}

func TestCAFilesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "pki", "ca.crt"), filepath.Join(dir, "pki", "ca.key")
	ca, err := LoadOrCreateCA("round-trip", certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode %o, want 600", perm)
	}
	again, err := LoadOrCreateCA("ignored", certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Cert.Equal(ca.Cert) || !again.Key.Equal(ca.Key) {
		t.Fatal("LoadOrCreateCA did not reuse the files")
	}
	// A cert issued by the loaded CA verifies against the original.
	certPEM, _, err := again.IssueClient("bob", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseCertPEM(t, certPEM).Verify(x509.VerifyOptions{Roots: ca.CertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("verify: %v", err)
	}
	otherKey, _, err := NewPrivateKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseCA(ca.CertPEM, otherKey); err == nil {
		t.Error("ParseCA accepted a key that does not match")
	}
}

func TestWriteTokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.csv")
	err := writeTokenFile(path, []StaticToken{
		{Token: "t1", User: "admin", Groups: []string{"system:masters"}},
		{Token: "t2", User: "bob", UID: "42", Groups: []string{"a", "b"}},
		{Token: "t3", User: "carol"},
	})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "t1,admin,admin,system:masters\nt2,bob,42,\"a,b\"\nt3,carol,carol\n"
	if string(data) != want {
		t.Errorf("token file:\n%s\nwant:\n%s", data, want)
	}
}

func TestFirstServiceIP(t *testing.T) {
	if got := firstServiceIP("10.96.0.0/16"); !got.Equal(net.ParseIP("10.96.0.1")) {
		t.Errorf("got %v", got)
	}
	if got := firstServiceIP("bogus"); got != nil {
		t.Errorf("got %v", got)
	}
}
