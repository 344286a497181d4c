package rfc2136

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestToRRs(t *testing.T) {
	rrs, err := toRRs("web.example.test.", 30, []Record{{Type: "A", Value: "192.0.2.1"}, {Type: "aaaa", Value: "2001:db8::1"}})
	if err != nil || len(rrs) != 2 {
		t.Fatalf("toRRs: %v %v", rrs, err)
	}
	if a, ok := rrs[0].(*dns.A); !ok || a.A.String() != "192.0.2.1" || a.Hdr.Ttl != 30 || a.Hdr.Name != "web.example.test." {
		t.Fatalf("A = %v", rrs[0])
	}
	if _, ok := rrs[1].(*dns.AAAA); !ok {
		t.Fatalf("AAAA = %v", rrs[1])
	}
	rrs, err = toRRs("web.example.test.", 30, []Record{{Type: "CNAME", Value: "Edge.Example.NET"}})
	if err != nil || rrs[0].(*dns.CNAME).Target != "edge.example.net." {
		t.Fatalf("CNAME: %v %v", rrs, err)
	}
	for _, bad := range [][]Record{
		nil,
		{{Type: "A", Value: "not-an-ip"}},
		{{Type: "MX", Value: "mail.example.test"}},
		{{Type: "CNAME", Value: "a.example.net"}, {Type: "A", Value: "192.0.2.1"}},
	} {
		if _, err := toRRs("web.example.test.", 30, bad); err == nil {
			t.Errorf("toRRs(%v) accepted", bad)
		}
	}
}

func TestOwnerRecord(t *testing.T) {
	if got := OwnerName("Web.Example.Test"); got != "_portico-owner.web.example.test." {
		t.Fatalf("OwnerName = %q", got)
	}
	long := strings.Repeat("x", 600)
	txt := ownerTXT("web.example.test.", long)
	if len(txt.Txt) != 3 || len(txt.Txt[0]) != 255 || strings.Join(txt.Txt, "") != OwnerValue(long) {
		t.Fatalf("a long owner is not split into 255-byte strings: %d strings", len(txt.Txt))
	}
}

func TestValidate(t *testing.T) {
	good := Client{Server: "127.0.0.1:53", Zone: "example.test", KeyName: "k", Secret: "c2VjcmV0"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*Client){
		"no port":        func(c *Client) { c.Server = "127.0.0.1" },
		"no zone":        func(c *Client) { c.Zone = "" },
		"bad algorithm":  func(c *Client) { c.Algorithm = "hmac-md4" },
		"not base64":     func(c *Client) { c.Secret = "not base64!" },
		"empty secret":   func(c *Client) { c.Secret = " " },
		"unknown digest": func(c *Client) { c.Algorithm = "gss-tsig" },
	} {
		c := good
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	unsigned := Client{Server: "127.0.0.1:53", Zone: "example.test"}
	if err := unsigned.Validate(); err != nil {
		t.Fatalf("unsigned: %v", err)
	}
}

func TestArgumentsCheckedBeforeSending(t *testing.T) {
	// Nothing is sent for these calls (and the discard port would not answer).
	c := &Client{Server: "127.0.0.1:9", Zone: "example.test"}
	ctx := context.Background()
	if err := c.Apply(ctx, "web.example.org", 30, []Record{{Type: "A", Value: "192.0.2.1"}}, "o"); err == nil || !strings.Contains(err.Error(), "not in zone") {
		t.Fatalf("outside the zone: %v", err)
	}
	if err := c.Apply(ctx, "web.example.test", 30, []Record{{Type: "A", Value: "192.0.2.1"}}, ""); err == nil {
		t.Fatal("no owner accepted")
	}
	if err := c.Delete(ctx, "example.org", "o"); err == nil {
		t.Fatal("Delete outside the zone accepted")
	}
}

func TestRcodeError(t *testing.T) {
	err := error(&RcodeError{Server: "127.0.0.1:53", Op: "update web.example.test.", Rcode: dns.RcodeNotAuth, TSIGError: dns.RcodeBadSig,
		Verify: dns.ErrSig})
	if got := err.Error(); got != "update web.example.test.: server 127.0.0.1:53 answered NOTAUTH (TSIG error BADSIG)" {
		t.Fatalf("Error() = %q", got)
	}
	if isRcode(err, dns.RcodeNotAuth) {
		t.Fatal("a TSIG failure is not a plain NOTAUTH")
	}
	wrapped := errors.Join(errors.New("context"), &RcodeError{Rcode: dns.RcodeNXRrset})
	if !isRcode(wrapped, dns.RcodeNXRrset) {
		t.Fatal("isRcode does not unwrap")
	}
	if got := (&RcodeError{Server: "s", Op: "q", Rcode: 99}).Error(); !strings.Contains(got, "RCODE99") {
		t.Fatalf("unknown rcode: %q", got)
	}
}

// updateRecorder is an in-process DNS server on 127.0.0.1 that checks TSIG,
// records the updates it receives and answers NOERROR.
type updateRecorder struct {
	addr    string
	updates chan *dns.Msg
}

func startUpdateRecorder(t *testing.T, keyName, secret string) *updateRecorder {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &updateRecorder{addr: l.Addr().String(), updates: make(chan *dns.Msg, 10)}
	srv := &dns.Server{Listener: l, TsigSecret: map[string]string{keyName: secret},
		// The default accepts only queries and notifies.
		MsgAcceptFunc: func(dns.Header) dns.MsgAcceptAction { return dns.MsgAccept },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, m *dns.Msg) {
			resp := new(dns.Msg)
			resp.SetReply(m)
			if m.IsTsig() == nil || w.TsigStatus() != nil {
				resp.Rcode = dns.RcodeNotAuth
			} else {
				r.updates <- m
				resp.SetTsig(keyName, dns.HmacSHA256, 300, time.Now().Unix())
			}
			_ = w.WriteMsg(resp)
		})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return r
}

func TestAddRemoveTXT(t *testing.T) {
	const key, secret = "k.", "c2VjcmV0c2VjcmV0"
	srv := startUpdateRecorder(t, key, secret)
	c := &Client{Server: srv.addr, Zone: "example.test", KeyName: key, Secret: secret}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if err := c.AddTXT(ctx, "_acme-challenge.Shop.example.test", "v1", 60); err != nil {
		t.Fatalf("AddTXT: %v", err)
	}
	m := <-srv.updates
	if len(m.Question) != 1 || m.Question[0].Name != "example.test." || len(m.Answer) != 0 || len(m.Ns) != 1 {
		t.Fatalf("AddTXT sent zone %v, %d prerequisites, %d updates", m.Question, len(m.Answer), len(m.Ns))
	}
	if got := m.Ns[0].String(); got != "_acme-challenge.shop.example.test.\t60\tIN\tTXT\t\"v1\"" {
		t.Fatalf("AddTXT update = %q", got)
	}

	if err := c.RemoveTXT(ctx, "_acme-challenge.shop.example.test.", "v1"); err != nil {
		t.Fatalf("RemoveTXT: %v", err)
	}
	m = <-srv.updates
	// RFC 2136 2.5.4: delete an RR from an RRset is class NONE, TTL 0.
	if len(m.Ns) != 1 || m.Ns[0].Header().Class != dns.ClassNONE || m.Ns[0].Header().Ttl != 0 ||
		m.Ns[0].(*dns.TXT).Txt[0] != "v1" || m.Ns[0].Header().Name != "_acme-challenge.shop.example.test." {
		t.Fatalf("RemoveTXT update = %v", m.Ns)
	}

	wrong := *c
	wrong.Secret = "d3Jvbmd3cm9uZw=="
	err := wrong.AddTXT(ctx, "_acme-challenge.shop.example.test", "v2", 60)
	var re *RcodeError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "NOTAUTH") {
		t.Fatalf("AddTXT with a wrong key: %v", err)
	}

	for name, call := range map[string]func() error{
		"outside the zone": func() error { return c.AddTXT(ctx, "_acme-challenge.example.org", "v", 60) },
		"empty value":      func() error { return c.AddTXT(ctx, "_acme-challenge.example.test", "", 60) },
		"remove outside":   func() error { return c.RemoveTXT(ctx, "example.org", "v") },
		"not a name":       func() error { return c.RemoveTXT(ctx, "a..b", "v") },
	} {
		if err := call(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	select {
	case m := <-srv.updates:
		t.Fatalf("an invalid call was sent: %v", m)
	default:
	}
}
