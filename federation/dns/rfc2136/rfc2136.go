// Package rfc2136 publishes DNS names on a server that accepts RFC 2136 dynamic
// updates signed with TSIG (RFC 8945), such as BIND 9.
//
// Ownership works like external-dns's TXT registry: next to every name it
// publishes, the client keeps a TXT record at _portico-owner.<fqdn> holding
// "heritage=portico,owner=<owner>". Every update carries RFC 2136 prerequisites,
// so the server applies it atomically or not at all:
//
//   - replacing the A/AAAA/CNAME set of a name requires that the ownership TXT
//     RRset is exactly ours;
//   - claiming a name requires that the name owns no records at all and that no
//     ownership TXT exists.
//
// A name held by someone else (records without our ownership TXT, or another
// owner's TXT) is never changed: Apply returns an error wrapping ErrNotOwner.
// Any record at the name counts, so the zone's apex (SOA, NS) cannot be claimed.
// Before writing, Apply reads the name's records (signed queries) and sends no
// update when they already are as wanted, so re-applying does not touch the zone.
//
// AddTXT and RemoveTXT add and remove single TXT values, e.g. ACME DNS-01
// challenges, without ownership records: they touch only the value given.
package rfc2136

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// OwnerPrefix is the label prepended to a name for its ownership TXT record.
const OwnerPrefix = "_portico-owner"

// DefaultTimeout bounds one exchange with the server when Client.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// ErrNotOwner means the name holds records this owner did not create.
var ErrNotOwner = errors.New("records not owned by this owner")

// Record is one record of a published name: type A, AAAA or CNAME.
type Record struct {
	Type  string
	Value string
}

// Client talks to one zone of one RFC 2136 server.
type Client struct {
	// Server is host:port.
	Server string
	// Zone is the zone the names are published in.
	Zone string
	// KeyName is the TSIG key's name; empty sends unsigned messages.
	KeyName string
	// Algorithm is the TSIG algorithm, e.g. hmac-sha256 (the default).
	Algorithm string
	// Secret is the TSIG secret, base64 encoded as in BIND's key statement.
	Secret string
	// Net is "tcp" (the default) or "udp".
	Net string
	// Timeout bounds one exchange; DefaultTimeout when zero.
	Timeout time.Duration
}

// RcodeError is a response with an error rcode (or an unverifiable signature).
type RcodeError struct {
	Server string
	// Op is what was asked, e.g. "update app.example.com.".
	Op string
	// Rcode is the response's rcode, e.g. dns.RcodeNotAuth.
	Rcode int
	// TSIGError is the TSIG error of the response (e.g. dns.RcodeBadSig), or 0.
	TSIGError int
	// Verify is set when the response's signature did not verify.
	Verify error
}

func (e *RcodeError) Error() string {
	msg := fmt.Sprintf("%s: server %s answered %s", e.Op, e.Server, rcodeName(e.Rcode))
	if e.TSIGError != 0 {
		msg += " (TSIG error " + tsigErrorName(e.TSIGError) + ")"
	}
	if e.Verify != nil && e.TSIGError == 0 {
		msg += fmt.Sprintf(" with a response that failed TSIG verification: %v", e.Verify)
	}
	return msg
}

func rcodeName(rcode int) string {
	if s, ok := dns.RcodeToString[rcode]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", rcode)
}

// tsigErrorName names TSIG errors; 16 is BADSIG here, not BADVERS.
func tsigErrorName(code int) string {
	if code == dns.RcodeBadSig {
		return "BADSIG"
	}
	return rcodeName(code)
}

// Validate checks the client's configuration.
func (c *Client) Validate() error {
	if _, _, err := net.SplitHostPort(c.Server); err != nil {
		return fmt.Errorf("server %q: %v", c.Server, err)
	}
	if _, ok := dns.IsDomainName(c.Zone); !ok || c.Zone == "" {
		return fmt.Errorf("zone %q is not a domain name", c.Zone)
	}
	if c.KeyName == "" {
		return nil
	}
	if _, err := c.algorithm(); err != nil {
		return err
	}
	return decodeSecret(c.Secret)
}

func decodeSecret(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("TSIG secret is empty")
	}
	if _, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s)); err != nil {
		return fmt.Errorf("TSIG secret is not base64: %v", err)
	}
	return nil
}

var algorithms = []string{dns.HmacSHA1, dns.HmacSHA224, dns.HmacSHA256, dns.HmacSHA384, dns.HmacSHA512}

func (c *Client) algorithm() (string, error) {
	if c.Algorithm == "" {
		return dns.HmacSHA256, nil
	}
	a := dns.CanonicalName(c.Algorithm)
	if !slices.Contains(algorithms, a) {
		return "", fmt.Errorf("unsupported TSIG algorithm %q", c.Algorithm)
	}
	return a, nil
}

func (c *Client) zone() string { return dns.CanonicalName(c.Zone) }

// Apply makes fqdn resolve to records (one CNAME, or A and AAAA records) with
// ttl, owned by owner. It replaces the name's A, AAAA and CNAME records when
// owner owns the name, claims the name when it holds no records, and otherwise
// changes nothing and returns an error wrapping ErrNotOwner.
func (c *Client) Apply(ctx context.Context, fqdn string, ttl uint32, records []Record, owner string) error {
	name, err := c.name(fqdn, owner)
	if err != nil {
		return err
	}
	rrs, err := toRRs(name, ttl, records)
	if err != nil {
		return err
	}
	if c.upToDate(ctx, name, rrs, ownerTXT(name, owner)) {
		return nil
	}
	// Owned: replace the set, provided the ownership TXT is exactly ours.
	m := c.update()
	m.Used([]dns.RR{ownerTXT(name, owner)})
	removeManaged(m, name)
	m.Insert(rrs)
	err = c.exchange(ctx, m, "update "+name)
	if !isRcode(err, dns.RcodeNXRrset) {
		return err
	}
	// Not owned by us: claim, provided the name and its ownership TXT are unused.
	m = c.update()
	m.NameNotUsed([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: name}}})
	m.RRsetNotUsed([]dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: OwnerName(name), Rrtype: dns.TypeTXT}}})
	m.Insert(append(rrs, ownerTXT(name, owner)))
	err = c.exchange(ctx, m, "claim "+name)
	if isRcode(err, dns.RcodeYXDomain) || isRcode(err, dns.RcodeYXRrset) {
		return fmt.Errorf("%w: %s has records and %s does not hold exactly %q (%v)",
			ErrNotOwner, name, OwnerName(name), OwnerValue(owner), err)
	}
	return err
}

// Delete removes the A, AAAA and CNAME records of fqdn and its ownership TXT,
// provided owner owns the name. It does nothing (and returns nil) when owner
// does not.
func (c *Client) Delete(ctx context.Context, fqdn, owner string) error {
	name, err := c.name(fqdn, owner)
	if err != nil {
		return err
	}
	m := c.update()
	m.Used([]dns.RR{ownerTXT(name, owner)})
	removeManaged(m, name)
	m.RemoveRRset([]dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: OwnerName(name), Rrtype: dns.TypeTXT}}})
	err = c.exchange(ctx, m, "delete "+name)
	if isRcode(err, dns.RcodeNXRrset) {
		return nil
	}
	return err
}

// Probe checks that the server answers authoritatively for the zone (an
// unsigned SOA query) and accepts the key (a signed update whose only content
// is the prerequisite that the zone's apex exists).
func (c *Client) Probe(ctx context.Context) error {
	if err := c.Validate(); err != nil {
		return err
	}
	q := new(dns.Msg)
	q.SetQuestion(c.zone(), dns.TypeSOA)
	r, err := c.roundTrip(ctx, q, "query SOA "+c.zone(), false)
	if err != nil {
		return err
	}
	if !r.Authoritative || !slices.ContainsFunc(r.Answer, func(rr dns.RR) bool { return rr.Header().Rrtype == dns.TypeSOA }) {
		return fmt.Errorf("query SOA %s: server %s is not authoritative for the zone", c.zone(), c.Server)
	}
	m := c.update()
	m.NameUsed([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: c.zone()}}})
	return c.exchange(ctx, m, "probe update of "+c.zone())
}

// AddTXT adds one TXT value at fqdn (must be inside the zone), leaving other
// records alone, e.g. to publish an ACME DNS-01 challenge. Adding a value that
// is already there changes nothing.
func (c *Client) AddTXT(ctx context.Context, fqdn, value string, ttl uint32) error {
	name, err := c.txtName(fqdn, value)
	if err != nil {
		return err
	}
	m := c.update()
	m.Insert([]dns.RR{txtRR(name, value, ttl)})
	return c.exchange(ctx, m, "add TXT "+name)
}

// RemoveTXT removes exactly that TXT value at fqdn, leaving other records
// (other TXT values included) alone. Removing a value that is not there is
// not an error.
func (c *Client) RemoveTXT(ctx context.Context, fqdn, value string) error {
	name, err := c.txtName(fqdn, value)
	if err != nil {
		return err
	}
	m := c.update()
	m.Remove([]dns.RR{txtRR(name, value, 0)})
	return c.exchange(ctx, m, "remove TXT "+name)
}

func (c *Client) txtName(fqdn, value string) (string, error) {
	if value == "" {
		return "", errors.New("a TXT value is required")
	}
	return c.inZone(fqdn)
}

func txtRR(name, value string, ttl uint32) *dns.TXT {
	return &dns.TXT{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: ttl}, Txt: splitTXT(value)}
}

// name canonicalizes fqdn and checks that it is in the zone and that there is
// an owner.
func (c *Client) name(fqdn, owner string) (string, error) {
	if owner == "" {
		return "", errors.New("an owner is required")
	}
	return c.inZone(fqdn)
}

// inZone canonicalizes fqdn and checks that it is in the zone.
func (c *Client) inZone(fqdn string) (string, error) {
	if _, ok := dns.IsDomainName(fqdn); !ok || fqdn == "" {
		return "", fmt.Errorf("%q is not a domain name", fqdn)
	}
	name := dns.CanonicalName(fqdn)
	if !dns.IsSubDomain(c.zone(), name) {
		return "", fmt.Errorf("%s is not in zone %s", name, c.zone())
	}
	return name, nil
}

// OwnerName is the name of fqdn's ownership TXT record.
func OwnerName(fqdn string) string { return OwnerPrefix + "." + dns.CanonicalName(fqdn) }

// OwnerValue is the text of the ownership record of owner.
func OwnerValue(owner string) string { return "heritage=portico,owner=" + owner }

func ownerTXT(name, owner string) *dns.TXT {
	return &dns.TXT{Hdr: dns.RR_Header{Name: OwnerName(name), Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 300},
		Txt: splitTXT(OwnerValue(owner))}
}

// splitTXT cuts s into the 255-byte character-strings of a TXT record.
func splitTXT(s string) []string {
	var out []string
	for len(s) > 255 {
		out, s = append(out, s[:255]), s[255:]
	}
	return append(out, s)
}

// managed are the types a published name consists of.
var managed = []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeCNAME}

func removeManaged(m *dns.Msg, name string) {
	for _, t := range managed {
		m.RemoveRRset([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: name, Rrtype: t}}})
	}
}

// toRRs turns records into resource records of name: A and AAAA records, or a
// single CNAME.
func toRRs(name string, ttl uint32, records []Record) ([]dns.RR, error) {
	if len(records) == 0 {
		return nil, errors.New("no records to publish")
	}
	var rrs []dns.RR
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
	}
	for _, r := range records {
		switch strings.ToUpper(r.Type) {
		case "A", "AAAA":
			a, err := netip.ParseAddr(r.Value)
			if err != nil {
				return nil, fmt.Errorf("record %s %q: not an IP address", r.Type, r.Value)
			}
			if a.Is4() {
				rrs = append(rrs, &dns.A{Hdr: hdr(dns.TypeA), A: a.AsSlice()})
			} else {
				rrs = append(rrs, &dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: a.AsSlice()})
			}
		case "CNAME":
			if len(records) != 1 {
				return nil, errors.New("a CNAME must be the name's only record")
			}
			if _, ok := dns.IsDomainName(r.Value); !ok || r.Value == "" {
				return nil, fmt.Errorf("record CNAME %q: not a domain name", r.Value)
			}
			rrs = append(rrs, &dns.CNAME{Hdr: hdr(dns.TypeCNAME), Target: dns.CanonicalName(r.Value)})
		default:
			return nil, fmt.Errorf("record type %q: only A, AAAA and CNAME are published", r.Type)
		}
	}
	return rrs, nil
}

func (c *Client) update() *dns.Msg {
	m := new(dns.Msg)
	m.SetUpdate(c.zone())
	return m
}

func (c *Client) dnsClient() (*dns.Client, error) {
	network := c.Net
	if network == "" {
		network = "tcp"
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	dc := &dns.Client{Net: network, Timeout: timeout}
	if c.KeyName != "" {
		if err := decodeSecret(c.Secret); err != nil {
			return nil, err
		}
		dc.TsigSecret = map[string]string{dns.CanonicalName(c.KeyName): strings.TrimSpace(c.Secret)}
	}
	return dc, nil
}

// sign adds a TSIG record to m when the client has a key.
func (c *Client) sign(m *dns.Msg) error {
	if c.KeyName == "" {
		return nil
	}
	alg, err := c.algorithm()
	if err != nil {
		return err
	}
	m.SetTsig(dns.CanonicalName(c.KeyName), alg, 300, time.Now().Unix())
	return nil
}

// exchange sends m, signed.
func (c *Client) exchange(ctx context.Context, m *dns.Msg, op string) error {
	_, err := c.roundTrip(ctx, m, op, true)
	return err
}

// query sends a signed query: with a wrong key, reading fails like writing.
func (c *Client) query(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	return c.roundTrip(ctx, m, "query "+dns.TypeToString[m.Question[0].Qtype]+" "+m.Question[0].Name, true)
}

// roundTrip sends m (signed if sign and the client has a key) and turns a
// response with an error rcode, a TSIG error or a bad signature into an
// *RcodeError.
func (c *Client) roundTrip(ctx context.Context, m *dns.Msg, op string, sign bool) (*dns.Msg, error) {
	dc, err := c.dnsClient()
	if err != nil {
		return nil, err
	}
	if sign {
		if err := c.sign(m); err != nil {
			return nil, err
		}
	}
	r, _, err := dc.ExchangeContext(ctx, m, c.Server)
	if r == nil {
		if err == nil {
			err = errors.New("no response")
		}
		return nil, fmt.Errorf("%s: server %s: %w", op, c.Server, err)
	}
	var tsigErr int
	if t := r.IsTsig(); t != nil {
		tsigErr = int(t.Error)
	}
	if r.Rcode != dns.RcodeSuccess || tsigErr != 0 || err != nil {
		return r, &RcodeError{Server: c.Server, Op: op, Rcode: r.Rcode, TSIGError: tsigErr, Verify: err}
	}
	return r, nil
}

func isRcode(err error, rcode int) bool {
	var re *RcodeError
	return errors.As(err, &re) && re.Rcode == rcode && re.TSIGError == 0 && re.Verify == nil
}

// upToDate tells whether the server already holds exactly rrs and the ownership
// record txt at their names. Any failure to tell means no: the update decides.
func (c *Client) upToDate(ctx context.Context, name string, rrs []dns.RR, txt *dns.TXT) bool {
	got, err := c.lookup(ctx, txt.Hdr.Name, dns.TypeTXT)
	if err != nil || !sameRRs(got, []dns.RR{txt}, false) {
		return false
	}
	var have []dns.RR
	for _, t := range managed {
		got, err := c.lookup(ctx, name, t)
		if err != nil {
			return false
		}
		have = append(have, got...)
	}
	return sameRRs(have, rrs, true)
}

// lookup returns the records of one type at name, as the server holds them
// (authoritative answers only; a CNAME does not answer other types).
func (c *Client) lookup(ctx context.Context, name string, t uint16) ([]dns.RR, error) {
	q := new(dns.Msg)
	q.SetQuestion(name, t)
	r, err := c.query(ctx, q)
	if isRcode(err, dns.RcodeNameError) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !r.Authoritative {
		return nil, fmt.Errorf("non-authoritative answer for %s", name)
	}
	var out []dns.RR
	for _, rr := range r.Answer {
		if h := rr.Header(); h.Rrtype == t && strings.EqualFold(h.Name, name) {
			out = append(out, rr)
		}
	}
	return out, nil
}

// sameRRs compares two sets of records by their data and, if withTTL, TTLs.
func sameRRs(a, b []dns.RR, withTTL bool) bool {
	if len(a) != len(b) {
		return false
	}
	key := func(rr dns.RR) string {
		cp := dns.Copy(rr)
		if !withTTL {
			cp.Header().Ttl = 0
		}
		cp.Header().Name = strings.ToLower(cp.Header().Name)
		return cp.String()
	}
	ka, kb := make([]string, len(a)), make([]string, len(b))
	for i := range a {
		ka[i], kb[i] = key(a[i]), key(b[i])
	}
	slices.Sort(ka)
	slices.Sort(kb)
	return slices.Equal(ka, kb)
}
