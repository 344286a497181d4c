package dns

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/inuse"
)

// In-use protection of DNSProviders (package inuse): a provider carries the
// finalizer traffic.portico.dev/in-use, and the deletion of a provider waits
// for its users: the NameServices whose spec.providerRef names it or whose
// records are published through it (PublishedAnnotation; one being deleted
// still needs the provider to remove its records), and the ACME
// CertificateIssuers, not being deleted, that solve DNS-01 challenges through
// it. Until then it keeps publishing for them, is not probed, and its
// Terminating condition names them; a NameService that has published nothing
// through it is refused (Published False, ProviderTerminating).

// syncDeletingProvider removes the finalizer of a provider being deleted once
// it has no user, and otherwise names the users in its Terminating condition.
func (c *Controller) syncDeletingProvider(ctx context.Context, p *trafficv1alpha1.DNSProvider) error {
	if !inuse.Has(p, inuse.TrafficFinalizer) {
		return nil
	}
	names, err := c.nameServices.List(labels.Everything())
	if err != nil {
		return err
	}
	var issuers []*trafficv1alpha1.CertificateIssuer
	if c.issuers != nil {
		if issuers, err = c.issuers.List(labels.Everything()); err != nil {
			return err
		}
	}
	users := providerUsers(p.Name, names, issuers)
	if len(users) == 0 {
		return c.releaseProvider(ctx, p)
	}
	status := p.Status.DeepCopy()
	cond := inuse.Condition(users, "it keeps publishing for them meanwhile; point their spec.providerRef (or an issuer's "+
		"spec.acme.dns01.providerRef) at another DNSProvider, or delete them", p.Generation)
	started := inuse.Set(&status.Conditions, cond)
	if equality.Semantic.DeepEqual(status, &p.Status) {
		return nil
	}
	updated := p.DeepCopy()
	updated.Status = *status
	if _, err := c.client.TrafficV1alpha1().DNSProviders().UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("status of DNSProvider %s: %w", p.Name, err)
	}
	if started {
		inuse.Event(c.recorder, updated, cond)
	}
	return nil
}

// providerUsers names the NameServices and ACME issuers that use the provider.
func providerUsers(provider string, names []*trafficv1alpha1.NameService, issuers []*trafficv1alpha1.CertificateIssuer) []string {
	var users []string
	for _, ns := range names {
		if usesProvider(ns, provider) {
			users = append(users, "NameService "+ns.Namespace+"/"+ns.Name)
		}
	}
	for _, ci := range issuers {
		if ci.DeletionTimestamp == nil && solvesThrough(ci) == provider {
			users = append(users, "CertificateIssuer "+ci.Name)
		}
	}
	return users
}

// usesProvider tells whether a NameService names the provider or holds
// records published through it.
func usesProvider(ns *trafficv1alpha1.NameService, provider string) bool {
	at, _, _ := strings.Cut(ns.Annotations[PublishedAnnotation], "/")
	return ns.Spec.ProviderRef.Name == provider || at == provider
}

// solvesThrough is the DNSProvider an ACME issuer solves challenges through
// ("" for other issuers).
func solvesThrough(ci *trafficv1alpha1.CertificateIssuer) string {
	if ci.Spec.ACME == nil {
		return ""
	}
	return ci.Spec.ACME.DNS01.ProviderRef.Name
}

// releaseProvider removes the finalizer of a provider the cache shows unused,
// once the API server confirms it (the cache may lag a NameService or an
// issuer created a moment ago).
func (c *Controller) releaseProvider(ctx context.Context, p *trafficv1alpha1.DNSProvider) error {
	names, err := c.client.TrafficV1alpha1().NameServices(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing NameServices for DNSProvider %s: %w", p.Name, err)
	}
	issuers, err := c.client.TrafficV1alpha1().CertificateIssuers().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing CertificateIssuers for DNSProvider %s: %w", p.Name, err)
	}
	liveNames := make([]*trafficv1alpha1.NameService, 0, len(names.Items))
	for i := range names.Items {
		liveNames = append(liveNames, &names.Items[i])
	}
	liveIssuers := make([]*trafficv1alpha1.CertificateIssuer, 0, len(issuers.Items))
	for i := range issuers.Items {
		liveIssuers = append(liveIssuers, &issuers.Items[i])
	}
	if users := providerUsers(p.Name, liveNames, liveIssuers); len(users) > 0 {
		return fmt.Errorf("DNSProvider %s: %s not in the cache yet; will look again", p.Name, inuse.Describe(users))
	}
	_, err = c.setProviderFinalizer(ctx, p, false)
	return err
}

// setProviderFinalizer adds or removes the in-use finalizer when it is not
// already so, and returns the provider as written.
func (c *Controller) setProviderFinalizer(ctx context.Context, p *trafficv1alpha1.DNSProvider, present bool) (*trafficv1alpha1.DNSProvider, error) {
	if inuse.Has(p, inuse.TrafficFinalizer) == present {
		return p, nil
	}
	updated := p.DeepCopy()
	updated.Finalizers = inuse.With(updated.Finalizers, inuse.TrafficFinalizer, present)
	written, err := c.client.TrafficV1alpha1().DNSProviders().Update(ctx, updated, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) && !present {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("finalizer of DNSProvider %s: %w", p.Name, err)
	}
	return written, nil
}

// enqueueDeletingProviders looks again at the providers being deleted that a
// NameService or a CertificateIssuer names or published through: it may have
// stopped using them.
func (c *Controller) enqueueDeletingProviders(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	var names []string
	switch o := obj.(type) {
	case *trafficv1alpha1.NameService:
		at, _, _ := strings.Cut(o.Annotations[PublishedAnnotation], "/")
		names = []string{o.Spec.ProviderRef.Name, at}
	case *trafficv1alpha1.CertificateIssuer:
		names = []string{solvesThrough(o)}
	}
	for _, name := range names {
		if name == "" {
			continue
		}
		if p, err := c.providers.Get(name); err == nil && p.DeletionTimestamp != nil {
			c.probes.Add(name)
		}
	}
}
