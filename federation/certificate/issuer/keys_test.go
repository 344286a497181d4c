package issuer

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"
)

func TestGenerateAndParseKey(t *testing.T) {
	key, keyPEM, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if ec, ok := key.(*ecdsa.PrivateKey); !ok || ec.Curve != elliptic.P256() {
		t.Fatalf("GenerateKey returned %T, want an ECDSA P-256 key", key)
	}
	if !strings.HasPrefix(string(keyPEM), "-----BEGIN PRIVATE KEY-----") {
		t.Fatalf("key PEM is not PKCS#8")
	}
	back, err := ParseKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !key.(*ecdsa.PrivateKey).Equal(back) {
		t.Fatal("ParseKey(GenerateKey's PEM) is another key")
	}

	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := ParseKey(pkcs8PEM(t, ed)); err != nil || !ed.Equal(k) {
		t.Fatalf("PKCS#8 Ed25519: %v", err)
	}

	for name, data := range map[string][]byte{
		"empty":      nil,
		"not PEM":    []byte("hello"),
		"cert only":  []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
		"bad PKCS#8": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}),
		"bad PKCS#1": pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte{1, 2, 3}}),
		"bad SEC1":   pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1, 2, 3}}),
		"encrypted":  pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1, 2, 3}}),
		"legacy encrypted": pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY",
			Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00"}, Bytes: []byte{1, 2, 3}}),
	} {
		if _, err := ParseKey(data); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseRoundTrip(t *testing.T) {
	now := time.Now()
	ca := newTestCA(t, ecKey(t), now.Add(-time.Hour), now.Add(time.Hour), nil)
	iss, err := NewCA(ca.certPEM, pkcs8PEM(t, ca.key), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := iss.Issue(context.Background(), []string{"web.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(c.CertPEM, c.KeyPEM)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if back.Serial != c.Serial || !back.NotBefore.Equal(c.NotBefore) || !back.NotAfter.Equal(c.NotAfter) ||
		string(back.CAPEM) != string(c.CAPEM) || string(back.CertPEM) != string(c.CertPEM) || string(back.KeyPEM) != string(c.KeyPEM) {
		t.Fatalf("Parse(Issue()) = %+v, want %+v", back, c)
	}

	// Only the leaf: no CA known.
	leafOnly, _ := pem.Decode(c.CertPEM)
	back, err = Parse(pem.EncodeToMemory(leafOnly), c.KeyPEM)
	if err != nil || len(back.CAPEM) != 0 || back.Serial != c.Serial {
		t.Fatalf("Parse(leaf only) = %+v, %v", back, err)
	}

	// A PKCS#1 / SEC1 key of the leaf parses too.
	key, err := ParseKey(c.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(key.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(c.CertPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})); err != nil {
		t.Fatalf("Parse with a SEC1 key: %v", err)
	}
}

func TestParseRejectsMismatchedKey(t *testing.T) {
	now := time.Now()
	ca := newTestCA(t, ecKey(t), now.Add(-time.Hour), now.Add(time.Hour), nil)
	iss, err := NewCA(ca.certPEM, pkcs8PEM(t, ca.key), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	a, err := iss.Issue(context.Background(), []string{"a.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := iss.Issue(context.Background(), []string{"b.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse(a.CertPEM, b.KeyPEM)
	if err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("Parse with another certificate's key: %v", err)
	}
	if strings.Contains(err.Error(), "PRIVATE KEY") {
		t.Fatalf("the error quotes the key: %v", err)
	}
	if _, err := Parse(nil, a.KeyPEM); err == nil {
		t.Fatal("Parse without a certificate accepted")
	}
	if _, err := Parse(a.CertPEM, nil); err == nil {
		t.Fatal("Parse without a key accepted")
	}
}
