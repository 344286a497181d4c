// Package hubtoken keeps an agent's hub credential fresh. The member-agent and
// the lb-agent reach the hub cluster with a ServiceAccount token that
// `kubectl portico join` (join-edge) requested for them, valid for a day by
// default. A Renewer holds the current token and hands it to every hub client
// made from the configuration it wrapped; before the token expires (at about
// 80% of its lifetime) it requests a new one for its own ServiceAccount with
// the TokenRequest API, switches every client to it, and persists it so that
// a restarted agent starts with it.
package hubtoken

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/oauth2"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport"
	"k8s.io/klog/v2"
)

const (
	// DefaultRenewFraction of a token's lifetime passes before it is renewed.
	DefaultRenewFraction = 0.8
	// MinLifetime is the shortest token the TokenRequest API issues: a
	// renewal never asks for less.
	MinLifetime = 10 * time.Minute
	// jitter spreads renewals: up to this fraction of the renewal delay is added.
	jitter = 0.05
)

// Options configure a Renewer.
type Options struct {
	// RenewFraction of the token's lifetime after which it is renewed
	// (DefaultRenewFraction when zero; between 0 and 1).
	RenewFraction float64
	// Persist stores each new token (may be nil). A failure is logged and
	// retried with backoff; the new token is in use meanwhile.
	Persist func(ctx context.Context, token string) error
	// OnRenew is called with the claims of each new token (may be nil).
	OnRenew func(Claims)
}

// Renewer holds an agent's current hub token and renews it before it expires.
// It is an oauth2.TokenSource; Wrap makes a rest.Config use it.
type Renewer struct {
	opts Options

	mu     sync.Mutex
	token  string
	claims Claims

	// persistNeeded signals the persister that a token awaits persisting.
	persistNeeded chan struct{}
	// backoff between failed renewals and persists; tests shorten it.
	backoff wait.Backoff
	// now is the clock and rand a number in [0,1) for the jitter; tests set them.
	now  func() time.Time
	rand func() float64
}

// New returns a Renewer of token, which must be a ServiceAccount token with an
// expiry (see Parse).
func New(token string, o Options) (*Renewer, error) {
	if o.RenewFraction == 0 {
		o.RenewFraction = DefaultRenewFraction
	}
	if o.RenewFraction <= 0 || o.RenewFraction >= 1 {
		return nil, fmt.Errorf("the renew fraction %v is not between 0 and 1", o.RenewFraction)
	}
	claims, err := Parse(token)
	if err != nil {
		return nil, fmt.Errorf("the hub token cannot be renewed: %w", err)
	}
	return &Renewer{
		opts: o, token: token, claims: claims, persistNeeded: make(chan struct{}, 1),
		backoff: wait.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.1, Steps: 20, Cap: 5 * time.Minute},
		now:     time.Now, rand: rand.Float64,
	}, nil
}

// Token returns the current token; the transports of Wrap call it on every
// request.
func (r *Renewer) Token() (*oauth2.Token, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return &oauth2.Token{AccessToken: r.token, TokenType: "Bearer", Expiry: r.claims.Expires}, nil
}

// Claims returns the claims of the current token.
func (r *Renewer) Claims() Claims {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.claims
}

// Wrap makes every client built from cfg authenticate with the Renewer's
// current token, through client-go's token source transport, instead of the
// static token of cfg.
func (r *Renewer) Wrap(cfg *rest.Config) {
	cfg.BearerToken, cfg.BearerTokenFile = "", ""
	cfg.Wrap(transport.TokenSourceWrapTransport(r))
}

// renewAt is when the current token is due for renewal: RenewFraction of its
// lifetime after its issue, plus a little jitter.
func (r *Renewer) renewAt() time.Time {
	c := r.Claims()
	delay := time.Duration(float64(c.Lifetime()) * r.opts.RenewFraction * (1 + jitter*r.rand())).Round(time.Millisecond)
	return c.IssuedAt.Add(delay)
}

// Run renews the token when it is due, using kube (a client of the hub cluster
// made from the wrapped configuration), until ctx is done. A failed renewal is
// logged and retried with backoff.
func (r *Renewer) Run(ctx context.Context, kube kubernetes.Interface) {
	logger := klog.FromContext(ctx).WithValues("serviceAccount", r.claims.Namespace+"/"+r.claims.ServiceAccount)
	ctx = klog.NewContext(ctx, logger)
	go r.persistLoop(ctx)
	backoff := r.backoff
	for {
		c := r.Claims()
		at := r.renewAt()
		logger.V(2).Info("Hub token renewal scheduled", "at", at, "expires", c.Expires)
		if !sleep(ctx, at.Sub(r.now())) {
			return
		}
		if err := r.renew(ctx, kube); err != nil {
			retry := backoff.Step()
			logger.Error(err, "Renewing the hub token failed", "retryIn", retry, "expires", c.Expires)
			if !sleep(ctx, retry) {
				return
			}
			continue
		}
		backoff = r.backoff
		c = r.Claims()
		logger.Info("Renewed the hub token", "issued", c.IssuedAt, "expires", c.Expires)
	}
}

// renew requests a token of the Renewer's own ServiceAccount with the current
// token's lifetime (at least MinLifetime) and makes it current.
func (r *Renewer) renew(ctx context.Context, kube kubernetes.Interface) error {
	c := r.Claims()
	seconds := int64(max(c.Lifetime(), MinLifetime) / time.Second)
	tr, err := kube.CoreV1().ServiceAccounts(c.Namespace).CreateToken(ctx, c.ServiceAccount,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("requesting a token for ServiceAccount %s/%s (needs create on serviceaccounts/token for it): %w",
			c.Namespace, c.ServiceAccount, err)
	}
	claims, err := Parse(tr.Status.Token)
	if err != nil {
		return fmt.Errorf("the hub returned an unusable token for ServiceAccount %s/%s: %w", c.Namespace, c.ServiceAccount, err)
	}
	r.mu.Lock()
	r.token, r.claims = tr.Status.Token, claims
	r.mu.Unlock()
	if r.opts.OnRenew != nil {
		r.opts.OnRenew(claims)
	}
	select {
	case r.persistNeeded <- struct{}{}:
	default: // already signalled: the persister reads the newest token
	}
	return nil
}

// persistLoop persists every new token, retrying with backoff until it
// succeeded or a newer token replaced it.
func (r *Renewer) persistLoop(ctx context.Context) {
	if r.opts.Persist == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.persistNeeded:
		}
		backoff := r.backoff
		for {
			r.mu.Lock()
			token := r.token
			r.mu.Unlock()
			err := r.opts.Persist(ctx, token)
			if err == nil {
				break
			}
			retry := backoff.Step()
			klog.FromContext(ctx).Error(err, "Persisting the renewed hub token failed; a restarted agent would start with an older one",
				"retryIn", retry)
			if !sleep(ctx, retry) {
				return
			}
		}
	}
}

// sleep waits d (nothing when d is not positive) and tells whether ctx is still
// live.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// ErrNoToken tells that a configuration authenticates without a bearer token
// of its own (client certificates, or a token file another component renews):
// there is nothing to renew.
var ErrNoToken = errors.New("the hub configuration has no bearer token of its own to renew")

// ForConfig returns a Renewer of cfg's bearer token and wraps cfg with it. It
// returns ErrNoToken when cfg has no token of its own, and an error when the
// token is not a renewable ServiceAccount token; cfg is unchanged then.
func ForConfig(cfg *rest.Config, o Options) (*Renewer, error) {
	if cfg.BearerToken == "" || cfg.BearerTokenFile != "" {
		return nil, ErrNoToken
	}
	r, err := New(cfg.BearerToken, o)
	if err != nil {
		return nil, err
	}
	r.Wrap(cfg)
	return r, nil
}
