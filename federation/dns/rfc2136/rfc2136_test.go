package rfc2136

import (
	"context"
	"errors"
	"strings"
	"testing"

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
