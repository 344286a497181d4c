//go:build dns

// The ACME part of the DNS tier: federation/certificate/issuer orders
// certificates from a real pebble (letsencrypt's test ACME server, built from
// its Go module by hack/build-pebble.sh) whose DNS-01 validation queries the
// test's BIND, where the issuer publishes the challenges with RFC 2136 updates.

package peers

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/portico-dev/portico/federation/certificate/issuer"
	"github.com/portico-dev/portico/test/localfed"
)

// pebbleServer is a pebble started by a test on 127.0.0.1.
type pebbleServer struct {
	DirURL   string // the ACME directory
	MgmtURL  string // the management interface (roots, intermediates)
	CABundle []byte // the root of pebble's HTTPS certificate
	proc     *localfed.Process
}

// requirePebble returns the pebble binary and its test certificates directory,
// building pebble with hack/build-pebble.sh when needed. It skips (fails with
// CI=true) when it cannot.
func requirePebble(t *testing.T) (bin, certs string) {
	t.Helper()
	root, err := localfed.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd := exec.Command(filepath.Join(root, "hack", "build-pebble.sh"))
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err == nil && len(lines) == 2 {
		return lines[0], lines[1]
	}
	msg := fmt.Sprintf("pebble could not be built by hack/build-pebble.sh (it needs Go and the Go module proxy): %v\n%s%s", err, out, stderr.String())
	if os.Getenv("CI") == "true" {
		t.Fatalf("the ACME test cannot run in CI: %s", msg)
	}
	t.Skipf("skipping the ACME test: %s", msg)
	return "", ""
}

// startPebble starts pebble (bin, with its test certificates in certs) on
// free ports of 127.0.0.1, validating DNS-01 challenges with the DNS server at
// dnsAddr, and stops it in t.Cleanup.
func startPebble(t *testing.T, bin, certs, dnsAddr string) *pebbleServer {
	t.Helper()
	dir := t.TempDir()
	ports := make([]int, 4) // ACME, management, and the unused http-01/tls-alpn-01 ports
	for i := range ports {
		p, err := localfed.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = p
	}
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress":                  fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"managementListenAddress":        fmt.Sprintf("127.0.0.1:%d", ports[1]),
		"certificate":                    filepath.Join(certs, "localhost", "cert.pem"),
		"privateKey":                     filepath.Join(certs, "localhost", "key.pem"),
		"httpPort":                       ports[2],
		"tlsPort":                        ports[3],
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"keyAlgorithm":                   "ecdsa",
	}}
	data, err := json.Marshal(conf)
	if err != nil {
		t.Fatal(err)
	}
	confPath := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(confPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	roots, err := os.ReadFile(filepath.Join(certs, "pebble.minica.pem"))
	if err != nil {
		t.Fatal(err)
	}
	p := &pebbleServer{
		DirURL:   fmt.Sprintf("https://127.0.0.1:%d/dir", ports[0]),
		MgmtURL:  fmt.Sprintf("https://127.0.0.1:%d", ports[1]),
		CABundle: roots,
	}
	p.proc, err = localfed.StartProcess(localfed.ProcessOptions{
		Name: "pebble", Path: bin, Args: []string{"-config", confPath, "-dnsserver", dnsAddr},
		// No random sleeps before validating; accept every nonce; no reuse of
		// valid authorizations, so every order solves its challenges.
		Env:     []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0"},
		LogPath: filepath.Join(dir, "pebble.log"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- pebble log (tail) ---\n%s", p.proc.LogTail(40))
		}
		if err := p.proc.Stop(); err != nil {
			t.Errorf("stopping pebble: %v", err)
		}
	})
	if err := p.waitReady(20 * time.Second); err != nil {
		t.Fatalf("pebble did not serve %s: %v", p.DirURL, err)
	}
	t.Logf("pebble pid %d serving %s, DNS-01 through %s", p.proc.PID, p.DirURL, dnsAddr)
	return p
}

func (p *pebbleServer) httpClient() *http.Client {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(p.CABundle)
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
}

func (p *pebbleServer) get(url string) ([]byte, error) {
	resp, err := p.httpClient().Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, err
}

func (p *pebbleServer) waitReady(timeout time.Duration) error {
	serves := func(context.Context) error {
		_, err := p.get(p.DirURL)
		return err
	}
	return localfed.WaitUntil(context.Background(), timeout, serves, p.proc)
}

// root is pebble's issuing root, from its management interface.
func (p *pebbleServer) root(t *testing.T) *x509.Certificate {
	t.Helper()
	body, err := p.get(p.MgmtURL + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(body)
	if block == nil {
		t.Fatalf("/roots/0 is not PEM: %q", body)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestACMEDNS01(t *testing.T) {
	bin, certs := requirePebble(t)
	b := startBIND(t)
	p := startPebble(t, bin, certs, b.Addr)
	root := p.root(t)
	accountKey, _, err := issuer.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	newIssuer := func(t *testing.T, secret string) issuer.Issuer {
		t.Helper()
		iss, err := issuer.NewACME(issuer.ACMEConfig{
			Server:             p.DirURL,
			Email:              "hostmaster@example.test",
			AccountKey:         accountKey,
			CABundle:           p.CABundle,
			Solver:             issuer.RFC2136Solver{Client: b.client(secret), TTL: 30},
			PropagationTimeout: time.Minute,
		})
		if err != nil {
			t.Fatal(err)
		}
		return iss
	}
	// Both names share one challenge name: two TXT values live there at once.
	hosts := []string{"shop.example.test", "*.shop.example.test"}
	challenge := issuer.ChallengeName(hosts[0])

	t.Run("IssueTwice", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		iss := newIssuer(t, b.Secret)
		serial := b.mustSerial(t)
		start := time.Now()
		first, err := iss.Issue(ctx, hosts)
		if err != nil {
			t.Fatalf("Issue: %v", err)
		}
		t.Logf("first certificate (account registration included): %v", time.Since(start).Round(time.Millisecond))
		checkACMECert(t, first, hosts, root)
		b.expect(t, challenge, dns.TypeTXT, 0)
		if got := b.mustSerial(t); got == serial {
			t.Errorf("the zone did not change (serial %d): the challenges did not go through BIND", got)
		}

		start = time.Now()
		second, err := iss.Issue(ctx, hosts)
		if err != nil {
			t.Fatalf("Issue again: %v", err)
		}
		t.Logf("second certificate: %v", time.Since(start).Round(time.Millisecond))
		checkACMECert(t, second, hosts, root)
		if second.Serial == first.Serial {
			t.Errorf("both certificates have serial %s", first.Serial)
		}
		b.expect(t, challenge, dns.TypeTXT, 0)
	})

	t.Run("WrongValue", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		iss, err := issuer.NewACME(issuer.ACMEConfig{
			Server: p.DirURL, AccountKey: accountKey, CABundle: p.CABundle, PropagationTimeout: time.Minute,
			Solver: wrongValueSolver{issuer.RFC2136Solver{Client: b.client(b.Secret), TTL: 30}},
		})
		if err != nil {
			t.Fatal(err)
		}
		// A name this account never validated: pebble reuses valid
		// authorizations of an account now and then, even when told not to.
		name := "wrong-value.example.test"
		_, err = iss.Issue(ctx, []string{name})
		if err == nil {
			t.Fatal("Issue with a wrong challenge value succeeded")
		}
		t.Logf("error: %v", err)
		// The ACME problem (type and detail) reaches the caller.
		if !strings.Contains(err.Error(), "urn:ietf:params:acme:error:") {
			t.Errorf("the error does not carry the ACME problem: %v", err)
		}
		b.expect(t, issuer.ChallengeName(name), dns.TypeTXT, 0)
	})

	t.Run("WrongSecret", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		// The same account key: NewACME finds the existing account.
		iss := newIssuer(t, randomSecret(t))
		serial := b.mustSerial(t)
		name := "wrong-secret.example.test" // never validated: no authorization to reuse
		_, err := iss.Issue(ctx, []string{name})
		if err == nil {
			t.Fatal("Issue with a wrong TSIG secret succeeded")
		}
		t.Logf("error: %v", err)
		if msg := err.Error(); !strings.Contains(msg, "BADSIG") && !strings.Contains(msg, "NOTAUTH") {
			t.Errorf("the error does not give the DNS server's reason: %v", err)
		}
		if got := b.mustSerial(t); got != serial {
			t.Errorf("the zone changed (serial %d -> %d)", serial, got)
		}
		b.expect(t, issuer.ChallengeName(name), dns.TypeTXT, 0)
	})
}

// wrongValueSolver publishes (and removes) another value than the challenge's.
type wrongValueSolver struct{ issuer.RFC2136Solver }

func (s wrongValueSolver) Present(ctx context.Context, fqdn, value string) error {
	return s.RFC2136Solver.Present(ctx, fqdn, "wrong-"+value)
}

func (s wrongValueSolver) CleanUp(ctx context.Context, fqdn, value string) error {
	return s.RFC2136Solver.CleanUp(ctx, fqdn, "wrong-"+value)
}

// checkACMECert checks that c is for exactly hosts, verifies for each of them
// up to root through the chain pebble returned, and parses back.
func checkACMECert(t *testing.T, c *issuer.Certificate, hosts []string, root *x509.Certificate) {
	t.Helper()
	var chain []*x509.Certificate
	for rest := c.CertPEM; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, cert)
	}
	if len(chain) < 2 {
		t.Fatalf("CertPEM holds %d certificates, want the leaf and pebble's intermediate", len(chain))
	}
	leaf := chain[0]
	if got, want := slices.Sorted(slices.Values(leaf.DNSNames)), slices.Sorted(slices.Values(hosts)); !slices.Equal(got, want) {
		t.Errorf("SANs = %v, want %v", leaf.DNSNames, hosts)
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	inter := x509.NewCertPool()
	for _, ic := range chain[1:] {
		inter.AddCert(ic)
	}
	for _, h := range hosts {
		name := strings.Replace(h, "*", "www", 1)
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inter}); err != nil {
			t.Errorf("the certificate does not verify for %s up to pebble's root: %v", name, err)
		}
	}
	block, _ := pem.Decode(c.CAPEM)
	if block == nil || string(block.Bytes) != string(chain[len(chain)-1].Raw) {
		t.Errorf("CAPEM is not the chain's last certificate")
	}
	back, err := issuer.Parse(c.CertPEM, c.KeyPEM)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if back.Serial != c.Serial || c.Serial != leaf.SerialNumber.Text(16) || !back.NotAfter.Equal(leaf.NotAfter) {
		t.Errorf("serial %s / parsed %s / leaf %x", c.Serial, back.Serial, leaf.SerialNumber)
	}
}
