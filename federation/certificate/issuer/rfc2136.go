package issuer

import (
	"context"
	"errors"

	"github.com/portico-dev/portico/federation/dns/rfc2136"
)

// DefaultChallengeTTL is RFC2136Solver.TTL when it is zero.
const DefaultChallengeTTL = 60

// RFC2136Solver solves DNS-01 challenges with RFC 2136 dynamic updates:
// Present adds the challenge's TXT value, CleanUp removes exactly that value.
// The challenge names must be inside the client's zone.
type RFC2136Solver struct {
	Client *rfc2136.Client
	// TTL of the challenge records; DefaultChallengeTTL when zero.
	TTL uint32
}

// Present adds the TXT value at fqdn.
func (s RFC2136Solver) Present(ctx context.Context, fqdn, value string) error {
	if s.Client == nil {
		return errors.New("RFC2136Solver has no client")
	}
	ttl := s.TTL
	if ttl == 0 {
		ttl = DefaultChallengeTTL
	}
	return s.Client.AddTXT(ctx, fqdn, value, ttl)
}

// CleanUp removes the TXT value at fqdn.
func (s RFC2136Solver) CleanUp(ctx context.Context, fqdn, value string) error {
	if s.Client == nil {
		return errors.New("RFC2136Solver has no client")
	}
	return s.Client.RemoveTXT(ctx, fqdn, value)
}
