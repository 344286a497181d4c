package dns

import (
	"context"
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"

	trafficlisters "github.com/portico-dev/portico/apis/generated/listers/traffic/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/dns/rfc2136"
)

// Provider publishes names in one zone of one DNS server. Apply replaces the
// name's records if owner owns it or it is free, and returns an error wrapping
// rfc2136.ErrNotOwner otherwise; Delete removes only what owner owns.
type Provider interface {
	Apply(ctx context.Context, fqdn string, ttl uint32, records []rfc2136.Record, owner string) error
	Delete(ctx context.Context, fqdn, owner string) error
	Probe(ctx context.Context) error
}

// ProviderFunc builds the Provider of a DNSProvider's RFC 2136 configuration
// and its TSIG secret (empty without a key).
type ProviderFunc func(spec *trafficv1alpha1.RFC2136Provider, secret string) (Provider, error)

// NewRFC2136 is the ProviderFunc of real servers.
func NewRFC2136(spec *trafficv1alpha1.RFC2136Provider, secret string) (Provider, error) {
	c := &rfc2136.Client{Server: spec.Server, Zone: spec.Zone, KeyName: spec.TSIGKeyName,
		Algorithm: spec.TSIGAlgorithm, Secret: secret}
	return c, c.Validate()
}

// resolvedProvider is a DNSProvider ready to use.
type resolvedProvider struct {
	name     string
	zone     string
	provider Provider
	// deleting: the DNSProvider is being deleted; it serves only the
	// NameServices that published through it already.
	deleting bool
}

// provider resolves a DNSProvider and its TSIG Secret, or says why it cannot
// (a False condition with the reason).
func (c *Controller) provider(name string) (*resolvedProvider, *metav1.Condition) {
	p, err := c.providers.Get(name)
	if apierrors.IsNotFound(err) {
		return nil, failed(ReasonProviderNotFound, "DNSProvider %s not found", name)
	}
	if err != nil {
		return nil, failed(ReasonProviderNotFound, "DNSProvider %s: %v", name, err)
	}
	spec := p.Spec.RFC2136
	if spec == nil {
		return nil, failed(ReasonProviderInvalid, "DNSProvider %s has no rfc2136 configuration", name)
	}
	secret, cond := c.tsigSecret(spec)
	if cond != nil {
		return nil, cond
	}
	prov, err := c.newProvider(spec, secret)
	if err != nil {
		return nil, failed(ReasonProviderInvalid, "DNSProvider %s: %v", name, err)
	}
	return &resolvedProvider{name: name, zone: spec.Zone, provider: prov, deleting: p.DeletionTimestamp != nil}, nil
}

func (c *Controller) tsigSecret(spec *trafficv1alpha1.RFC2136Provider) (string, *metav1.Condition) {
	ref := spec.TSIGSecretRef
	if ref == nil {
		return "", nil
	}
	key := ref.Key
	if key == "" {
		key = DefaultSecretKey
	}
	s, err := c.secrets.Secrets(SecretNamespace).Get(ref.Name)
	if apierrors.IsNotFound(err) {
		return "", failed(ReasonSecretNotFound, "Secret %s/%s not found", SecretNamespace, ref.Name)
	}
	if err != nil {
		return "", failed(ReasonSecretNotFound, "Secret %s/%s: %v", SecretNamespace, ref.Name, err)
	}
	v, ok := s.Data[key]
	if !ok {
		return "", failed(ReasonSecretNotFound, "Secret %s/%s has no key %q", SecretNamespace, ref.Name, key)
	}
	return strings.TrimSpace(string(v)), nil
}

// inZone tells whether fqdn is zone or below it.
func inZone(fqdn, zone string) bool {
	f, z := canonical(fqdn), canonical(zone)
	return f == z || strings.HasSuffix(f, "."+z)
}

func canonical(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) }

func failed(reason, format string, args ...any) *metav1.Condition {
	return &metav1.Condition{Type: trafficv1alpha1.NameServicePublished, Status: metav1.ConditionFalse,
		Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// RFC2136Client resolves a DNSProvider and its TSIG Secret into a client, for
// other controllers that write records through it (ACME DNS-01 challenges).
func RFC2136Client(providers trafficlisters.DNSProviderLister, secrets corelisters.SecretLister, name string) (*rfc2136.Client, error) {
	c := &Controller{providers: providers, secrets: secrets, newProvider: NewRFC2136}
	r, cond := c.provider(name)
	if cond != nil {
		return nil, errors.New(cond.Message)
	}
	return r.provider.(*rfc2136.Client), nil
}
