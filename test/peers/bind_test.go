//go:build dns

package peers

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/portico-dev/portico/test/localfed"
)

// The DNS tier's zone and keys: portico's key and one of "someone else" who
// writes records portico must leave alone.
const (
	bindZone     = "example.test."
	bindKey      = "portico-test."
	bindOtherKey = "other-writer."
)

// bindServer is a named started by a test: one primary zone accepting
// TSIG-signed RFC 2136 updates from two keys, on 127.0.0.1 only.
type bindServer struct {
	Addr        string // 127.0.0.1:port, UDP and TCP
	Secret      string // base64 secret of bindKey
	OtherSecret string // base64 secret of bindOtherKey
	proc        *localfed.Process
}

// requireNamed returns the path of named, installing BIND with
// hack/install-bind.sh when it is missing. It skips (fails with CI=true) when it
// cannot.
func requireNamed(t *testing.T) string {
	t.Helper()
	p, err := localfed.LookNamed()
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("the DNS tier cannot run in CI: %v", err)
	}
	t.Skipf("skipping the DNS tier: %v", err)
	return ""
}

// startBIND starts named in the foreground on a free port of 127.0.0.1 and stops
// it in t.Cleanup (its log's tail is logged when the test failed).
func startBIND(t *testing.T) *bindServer {
	t.Helper()
	named := requireNamed(t)
	dir := t.TempDir()
	b := &bindServer{Secret: randomSecret(t), OtherSecret: randomSecret(t)}
	if err := os.WriteFile(filepath.Join(dir, "zone.db"), []byte(localfed.ZoneFile(bindZone)), 0o644); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := localfed.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		conf := filepath.Join(dir, "named.conf")
		text := localfed.NamedConfig(dir, port, bindZone, localfed.TSIGKey{Name: bindKey, Secret: b.Secret},
			localfed.TSIGKey{Name: bindOtherKey, Secret: b.OtherSecret})
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		b.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		b.proc, err = localfed.StartProcess(localfed.ProcessOptions{
			Name: "named", Path: named, Args: []string{"-g", "-c", conf}, LogPath: filepath.Join(dir, "named.log"),
		})
		if err != nil {
			t.Fatal(err)
		}
		if lastErr = b.waitReady(10 * time.Second); lastErr == nil {
			break
		}
		_ = b.proc.Stop() // e.g. lost the port to another process: try another
	}
	if lastErr != nil {
		t.Fatalf("named did not serve %s: %v\n%s", bindZone, lastErr, b.proc.LogTail(30))
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- named log (tail) ---\n%s", b.proc.LogTail(40))
		}
		if err := b.proc.Stop(); err != nil {
			t.Errorf("stopping named: %v", err)
		}
	})
	t.Logf("named pid %d serving %s on %s", b.proc.PID, bindZone, b.Addr)
	return b
}

func randomSecret(t *testing.T) string {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(key)
}

func (b *bindServer) waitReady(timeout time.Duration) error {
	serves := func(context.Context) error {
		_, err := b.serial()
		return err
	}
	return localfed.WaitUntil(context.Background(), timeout, serves, b.proc)
}

// query asks the server (over TCP, unsigned) for name's records of type t and
// returns the response.
func (b *bindServer) query(name string, t uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), t)
	c := &dns.Client{Net: "tcp", Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, b.Addr)
	return r, err
}

// values returns the data of name's records of type t ("" entries for none),
// with the TTL of the first.
func (b *bindServer) values(t *testing.T, name string, typ uint16) ([]string, uint32) {
	t.Helper()
	r, err := b.query(name, typ)
	if err != nil {
		t.Fatalf("query %s %s: %v", dns.TypeToString[typ], name, err)
	}
	var out []string
	var ttl uint32
	for _, rr := range r.Answer {
		if rr.Header().Rrtype != typ {
			continue
		}
		ttl = rr.Header().Ttl
		switch v := rr.(type) {
		case *dns.A:
			out = append(out, v.A.String())
		case *dns.AAAA:
			out = append(out, v.AAAA.String())
		case *dns.CNAME:
			out = append(out, v.Target)
		case *dns.TXT:
			out = append(out, fmt.Sprint(v.Txt))
		}
	}
	return out, ttl
}

// serial is the zone's SOA serial.
func (b *bindServer) serial() (uint32, error) {
	r, err := b.query(bindZone, dns.TypeSOA)
	if err != nil {
		return 0, err
	}
	if r.Rcode != dns.RcodeSuccess || !r.Authoritative {
		return 0, fmt.Errorf("SOA %s: rcode %s, authoritative %v", bindZone, dns.RcodeToString[r.Rcode], r.Authoritative)
	}
	for _, rr := range r.Answer {
		if soa, ok := rr.(*dns.SOA); ok {
			return soa.Serial, nil
		}
	}
	return 0, fmt.Errorf("no SOA in the answer")
}

// insertAsOther adds rr with the other writer's key: a record portico did not create.
func (b *bindServer) insertAsOther(t *testing.T, rr string) {
	t.Helper()
	r, err := dns.NewRR(rr)
	if err != nil {
		t.Fatal(err)
	}
	m := new(dns.Msg)
	m.SetUpdate(bindZone)
	m.Insert([]dns.RR{r})
	m.SetTsig(bindOtherKey, dns.HmacSHA256, 300, time.Now().Unix())
	c := &dns.Client{Net: "tcp", Timeout: 2 * time.Second, TsigSecret: map[string]string{bindOtherKey: b.OtherSecret}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, _, err := c.ExchangeContext(ctx, m, b.Addr)
	if err != nil || resp.Rcode != dns.RcodeSuccess {
		t.Fatalf("inserting %q as %s: %v %v", rr, bindOtherKey, err, resp)
	}
}
