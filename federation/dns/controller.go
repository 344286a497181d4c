// Package dns is the hub controller of NameServices and DNSProviders. It
// publishes every NameService's name through its DNSProvider (an RFC 2136
// server, see package rfc2136): the VIP of the access point it targets (and the
// new one when that VIP changes), its addresses or its CNAME. It writes the
// published records, lastSyncTime and the Published condition, retries failures
// with backoff, and removes the records it owns when the NameService is deleted
// (finalizer traffic.portico.dev/dns). It also probes every DNSProvider and keeps
// its Ready condition.
//
// Records are withdrawn only when their NameService goes, or its target
// changes: another name or provider, or an access point that is gone or holds
// no VIP. A lookup that fails for another reason than NotFound changes
// nothing and is retried. DNSProviders are protected while in use (package
// inuse, inuse.go): the deletion of a provider waits for the NameServices that
// name it or published through it and for the ACME issuers solving through
// it, so that a provider never goes before the records it holds are removed.
package dns

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/labels"
	coreinformers "k8s.io/client-go/informers/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	trafficinformers "github.com/portico-dev/portico/apis/generated/informers/externalversions/traffic/v1alpha1"
	trafficlisters "github.com/portico-dev/portico/apis/generated/listers/traffic/v1alpha1"
	"github.com/portico-dev/portico/apis/runqueue"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

const (
	// Finalizer keeps a NameService until the records it published are removed.
	Finalizer = "traffic.portico.dev/dns"
	// PublishedAnnotation records where a NameService's records were published,
	// "<dnsprovider>/<fqdn>", so that they are removed from there when the name or
	// the provider changes, or the NameService goes away. It is set before any
	// record is written.
	PublishedAnnotation = "traffic.portico.dev/dns-published"
	// SecretNamespace is the hub cluster namespace of TSIG Secrets.
	SecretNamespace = "portico-system"
	// DefaultSecretKey is the Secret key read when tsigSecretRef.key is empty.
	DefaultSecretKey = "secret"
	// DefaultProbeInterval is how often DNSProviders are probed.
	DefaultProbeInterval = time.Minute
	// timeout bounds the DNS exchanges of one sync.
	timeout = 30 * time.Second
)

// Informers are what the controller watches. Secrets are the hub cluster's;
// only SecretNamespace is read, so an informer limited to it is enough.
type Informers struct {
	NameServices trafficinformers.NameServiceInformer
	Providers    trafficinformers.DNSProviderInformer
	AccessPoints trafficinformers.FederatedAccessPointInformer
	Secrets      coreinformers.SecretInformer
	// Issuers (optional) are the CertificateIssuers, of which ACME ones use
	// a DNSProvider for DNS-01 challenges: without it, the deletion of a
	// provider waits only for NameServices (and ACME issuers the API server
	// shows when it would go).
	Issuers trafficinformers.CertificateIssuerInformer
}

// Controller publishes NameServices and probes DNSProviders.
type Controller struct {
	client        versioned.Interface
	nameServices  trafficlisters.NameServiceLister
	providers     trafficlisters.DNSProviderLister
	accessPoints  trafficlisters.FederatedAccessPointLister
	issuers       trafficlisters.CertificateIssuerLister
	secrets       corelisters.SecretLister
	newProvider   ProviderFunc
	recorder      record.EventRecorder
	names         workqueue.TypedRateLimitingInterface[string]
	probes        workqueue.TypedRateLimitingInterface[string]
	statuses      workqueue.TypedRateLimitingInterface[string] // access points whose DNS status to report
	synced        []cache.InformerSynced
	now           func() time.Time
	probeInterval time.Duration
}

// NewController publishes through RFC 2136 servers. recorder may be nil.
func NewController(client versioned.Interface, inf Informers, recorder record.EventRecorder) *Controller {
	c := newController(client, inf.NameServices.Lister(), inf.Providers.Lister(), inf.AccessPoints.Lister(),
		nil, inf.Secrets.Lister(), NewRFC2136, recorder)
	c.synced = []cache.InformerSynced{inf.NameServices.Informer().HasSynced, inf.Providers.Informer().HasSynced,
		inf.AccessPoints.Informer().HasSynced, inf.Secrets.Informer().HasSynced}
	if inf.Issuers != nil {
		c.issuers = inf.Issuers.Lister()
		c.synced = append(c.synced, inf.Issuers.Informer().HasSynced)
		_, _ = inf.Issuers.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    c.enqueueDeletingProviders,
			UpdateFunc: func(old, obj any) { c.enqueueDeletingProviders(old); c.enqueueDeletingProviders(obj) },
			DeleteFunc: c.enqueueDeletingProviders,
		})
	}
	_, _ = inf.NameServices.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueName,
		UpdateFunc: c.nameServiceUpdated,
		DeleteFunc: c.enqueueName,
	})
	// NameServices (and issuers, above) coming, going or changing may stop
	// using a provider being deleted.
	_, _ = inf.NameServices.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueDeletingProviders,
		UpdateFunc: func(old, obj any) { c.enqueueDeletingProviders(old); c.enqueueDeletingProviders(obj) },
		DeleteFunc: c.enqueueDeletingProviders,
	})
	_, _ = inf.NameServices.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueTargetStatus,
		UpdateFunc: func(old, obj any) { c.enqueueTargetStatus(old); c.enqueueTargetStatus(obj) },
		DeleteFunc: c.enqueueTargetStatus,
	})
	_, _ = inf.AccessPoints.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.accessPointChanged(obj); c.enqueueStatus(obj) },
		UpdateFunc: func(old, obj any) { c.accessPointUpdated(old, obj); c.enqueueStatus(obj) },
		DeleteFunc: c.accessPointChanged,
	})
	_, _ = inf.Providers.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.providerChanged(obj, true) },
		UpdateFunc: c.providerUpdated,
		DeleteFunc: func(obj any) { c.providerChanged(obj, true) },
	})
	_, _ = inf.Secrets.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.secretChanged,
		UpdateFunc: func(old, obj any) { c.secretUpdated(old, obj) },
		DeleteFunc: c.secretChanged,
	})
	return c
}

func newController(client versioned.Interface, names trafficlisters.NameServiceLister, providers trafficlisters.DNSProviderLister,
	aps trafficlisters.FederatedAccessPointLister, issuers trafficlisters.CertificateIssuerLister, secrets corelisters.SecretLister,
	newProvider ProviderFunc, recorder record.EventRecorder) *Controller {
	return &Controller{
		client: client, nameServices: names, providers: providers, accessPoints: aps, issuers: issuers, secrets: secrets,
		newProvider: newProvider, recorder: recorder, now: time.Now, probeInterval: DefaultProbeInterval,
		names: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "nameservices"}),
		probes: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "dnsproviders"}),
		statuses: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "accesspoint-dns"}),
	}
}

// Run publishes and probes with workers each until ctx is done, and returns
// once both queues' workers have stopped.
func (c *Controller) Run(ctx context.Context, workers int) {
	var wg sync.WaitGroup
	wg.Go(func() {
		runqueue.Run(ctx, c.names, c.synced, workers, "nameService", runqueue.NoRequeue(c.syncNameService))
	})
	wg.Go(func() {
		runqueue.Run(ctx, c.probes, c.synced, workers, "dnsProvider", runqueue.NoRequeue(c.syncProvider))
	})
	wg.Go(func() {
		runqueue.Run(ctx, c.statuses, c.synced, workers, "accessPointDNS", runqueue.NoRequeue(c.syncAccessPointStatus))
	})
	wg.Wait()
}

func (c *Controller) enqueueName(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		c.names.Add(key)
	}
}

// nameServiceUpdated skips the controller's own status writes; resyncs and
// changes of spec or metadata go through.
func (c *Controller) nameServiceUpdated(old, obj any) {
	o, n := old.(*trafficv1alpha1.NameService), obj.(*trafficv1alpha1.NameService)
	if o.ResourceVersion != n.ResourceVersion && o.Generation == n.Generation &&
		equality.Semantic.DeepEqual(o.ObjectMeta.DeletionTimestamp, n.ObjectMeta.DeletionTimestamp) &&
		equality.Semantic.DeepEqual(o.Annotations, n.Annotations) && equality.Semantic.DeepEqual(o.Finalizers, n.Finalizers) {
		return
	}
	c.enqueueName(obj)
}

// enqueueNames queues the NameServices that match.
func (c *Controller) enqueueNames(namespace string, match func(*trafficv1alpha1.NameService) bool) {
	list, err := c.nameServices.NameServices(namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, ns := range list {
		if match(ns) {
			c.enqueueName(ns)
		}
	}
}

func (c *Controller) accessPointChanged(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	ap, ok := obj.(*trafficv1alpha1.FederatedAccessPoint)
	if !ok {
		return
	}
	c.enqueueNames(ap.Namespace, func(ns *trafficv1alpha1.NameService) bool {
		return ns.Spec.Target.AccessPointRef != nil && ns.Spec.Target.AccessPointRef.Name == ap.Name
	})
}

// accessPointUpdated follows the VIP only: other status changes of access
// points are frequent and do not matter here.
func (c *Controller) accessPointUpdated(old, obj any) {
	o, n := old.(*trafficv1alpha1.FederatedAccessPoint), obj.(*trafficv1alpha1.FederatedAccessPoint)
	if vipOf(o) != vipOf(n) {
		c.accessPointChanged(obj)
	}
}

func (c *Controller) providerChanged(obj any, names bool) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	p, ok := obj.(*trafficv1alpha1.DNSProvider)
	if !ok {
		return
	}
	c.probes.Add(p.Name)
	if names {
		c.enqueueNames("", func(ns *trafficv1alpha1.NameService) bool { return ns.Spec.ProviderRef.Name == p.Name })
	}
}

// providerUpdated probes again on any change but the controller's own status
// writes, and republishes on spec changes. The start of its deletion is
// looked at too (its deletion waits for its users).
func (c *Controller) providerUpdated(old, obj any) {
	o, n := old.(*trafficv1alpha1.DNSProvider), obj.(*trafficv1alpha1.DNSProvider)
	if o.ResourceVersion != n.ResourceVersion && o.Generation == n.Generation &&
		(o.DeletionTimestamp == nil) == (n.DeletionTimestamp == nil) {
		return
	}
	c.providerChanged(obj, o.Generation != n.Generation)
}

func (c *Controller) secretUpdated(old, obj any) {
	if old.(metaObject).GetResourceVersion() != obj.(metaObject).GetResourceVersion() {
		c.secretChanged(obj)
	}
}

type metaObject interface {
	GetNamespace() string
	GetName() string
	GetResourceVersion() string
}

// secretChanged probes and republishes with the providers that use the Secret.
func (c *Controller) secretChanged(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	s, ok := obj.(metaObject)
	if !ok || s.GetNamespace() != SecretNamespace {
		return
	}
	providers, err := c.providers.List(labels.Everything())
	if err != nil {
		return
	}
	for _, p := range providers {
		if r := p.Spec.RFC2136; r != nil && r.TSIGSecretRef != nil && r.TSIGSecretRef.Name == s.GetName() {
			c.providerChanged(p, true)
		}
	}
}

func vipOf(ap *trafficv1alpha1.FederatedAccessPoint) string {
	if ap.Status.VIP == nil {
		return ""
	}
	return ap.Status.VIP.Address
}
