package localup

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/portico-dev/portico/test/localfed"
)

// The DNS of the local federation: a BIND 9 on 127.0.0.1 serving DNSZone, which
// accepts RFC 2136 updates signed with the TSIG key DNSKeyName.
const (
	DNSZone         = "portico.test"
	DNSKeyName      = "portico-local."
	DNSAlgorithm    = "hmac-sha256"
	DNSProviderName = "local"
	// DNSSecretName is the hub Secret (portico-system) holding the TSIG secret
	// under the key "secret".
	DNSSecretName = "local-dns-tsig"
)

// DNS is a running named.
type DNS struct {
	// Addr is 127.0.0.1:<port>, UDP and TCP.
	Addr string
	// Secret is the base64 TSIG secret of DNSKeyName.
	Secret  string
	Dir     string
	Process *localfed.Process
}

// lookNamed finds or installs named (localfed.LookNamed); missing is ErrMissing.
func lookNamed() (string, error) {
	p, err := localfed.LookNamed()
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrMissing, err)
	}
	return p, nil
}

// startDNS starts named in dir. The TSIG secret and the zone (with the records
// published so far, in its journal) are kept in dir across restarts; the port is
// reused when it is still free.
func startDNS(ctx context.Context, dir string, detach bool) (*DNS, error) {
	named, err := lookNamed()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	d := &DNS{Dir: dir}
	if d.Secret, err = cachedSecret(filepath.Join(dir, "tsig.secret")); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "zone.db")); err != nil {
		if err := os.WriteFile(filepath.Join(dir, "zone.db"), []byte(localfed.ZoneFile(DNSZone)), 0o644); err != nil {
			return nil, err
		}
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := dnsPort(filepath.Join(dir, "port"), attempt)
		if err != nil {
			return nil, err
		}
		conf := filepath.Join(dir, "named.conf")
		text := localfed.NamedConfig(dir, port, DNSZone, localfed.TSIGKey{Name: DNSKeyName, Secret: d.Secret})
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			return nil, err
		}
		d.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		d.Process, err = localfed.StartProcess(localfed.ProcessOptions{
			Name: "named", Path: named, Args: []string{"-g", "-c", conf}, LogPath: filepath.Join(dir, "named.log"), Detach: detach,
		})
		if err != nil {
			return nil, err
		}
		if lastErr = d.waitReady(ctx, 20*time.Second); lastErr == nil {
			return d, os.WriteFile(filepath.Join(dir, "port"), []byte(strconv.Itoa(port)+"\n"), 0o644)
		}
		_ = d.Process.Stop() // e.g. lost the port to another process: try another
	}
	return nil, fmt.Errorf("named did not serve %s: %v\n%s", DNSZone, lastErr, d.Process.LogTail(30))
}

// dnsPort is the port of the last run while it is free (first attempt), else
// a free one.
func dnsPort(file string, attempt int) (int, error) {
	if b, err := os.ReadFile(file); err == nil && attempt == 0 {
		if port, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && portFree(port) {
			return port, nil
		}
	}
	return localfed.FreePort()
}

func portFree(port int) bool {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	t, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	t.Close()
	u, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	u.Close()
	return true
}

// cachedSecret returns the base64 secret in file, creating it (32 random bytes)
// when missing.
func cachedSecret(file string) (string, error) {
	if b, err := os.ReadFile(file); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	s := base64.StdEncoding.EncodeToString(key)
	return s, localfed.WriteFile(file, []byte(s+"\n"), 0o600)
}

func (d *DNS) waitReady(ctx context.Context, timeout time.Duration) error {
	serves := func(context.Context) error {
		_, err := d.Query(DNSZone, dns.TypeSOA)
		return err
	}
	return localfed.WaitUntil(ctx, timeout, serves, d.Process)
}

// Query asks the server (TCP, unsigned) for name's records of type typ and
// returns the answer's records of that type; an error unless it answered
// authoritatively with NOERROR or NXDOMAIN.
func (d *DNS) Query(name string, typ uint16) ([]dns.RR, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), typ)
	c := &dns.Client{Net: "tcp", Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, d.Addr)
	if err != nil {
		return nil, err
	}
	if (r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError) || !r.Authoritative {
		return nil, fmt.Errorf("%s %s: rcode %s, authoritative %v", dns.TypeToString[typ], name, dns.RcodeToString[r.Rcode], r.Authoritative)
	}
	var out []dns.RR
	for _, rr := range r.Answer {
		if rr.Header().Rrtype == typ {
			out = append(out, rr)
		}
	}
	return out, nil
}

// ErrMissing is wrapped by errors saying that a real part the federation needs
// (named, BIRD, qemu, root) is missing and could not be installed.
var ErrMissing = errors.New("a required tool is missing")
