// Package certificate is the hub controller that issues the certificates of
// FederatedAccessPoints with spec.tls. It keeps each one in a Secret of the hub
// cluster's portico-system namespace (certsecret.SecretName), reissues it when its hosts or
// issuer change, when two thirds of its lifetime have passed or when asked
// (certsecret.AnnotationRenew), and probes CertificateIssuers for their Ready condition.
// The access point controller delivers the certificate to the placed clusters
// (the Secret contract is package certsecret); this controller reports it in
// its own part of the access point's status: status.certificate (the version,
// where it is installed) and CertificateReady, with issuance failures.
package certificate

import (
	"context"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	trafficinformers "github.com/portico-dev/portico/apis/generated/informers/externalversions/traffic/v1alpha1"
	trafficlisters "github.com/portico-dev/portico/apis/generated/listers/traffic/v1alpha1"
	"github.com/portico-dev/portico/apis/runqueue"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/apstatus"
	"github.com/portico-dev/portico/federation/certificate/issuer"
	"github.com/portico-dev/portico/federation/certsecret"
)

// Queue keys are "ap/<namespace>/<name>" (issue), "status/<namespace>/<name>"
// (report) or "issuer/<name>" (probe).
const (
	accessPointKey = "ap/"
	statusKey      = "status/"
	issuerKey      = "issuer/"
)

// Informers the controller watches. Secrets are the hub cluster's, limited to
// certsecret.SecretNamespace.
type Informers struct {
	AccessPoints trafficinformers.FederatedAccessPointInformer
	Issuers      trafficinformers.CertificateIssuerInformer
	Providers    trafficinformers.DNSProviderInformer
	Secrets      coreinformers.SecretInformer
	// ClusterAccessPoints tell where the certificate is installed.
	ClusterAccessPoints trafficinformers.ClusterAccessPointInformer
}

// Controller issues and renews access point certificates.
type Controller struct {
	client    versioned.Interface
	kube      kubernetes.Interface
	faps      trafficlisters.FederatedAccessPointLister
	issuers   trafficlisters.CertificateIssuerLister
	providers trafficlisters.DNSProviderLister
	secrets   corelisters.SecretLister
	caps      cache.Indexer
	events    record.EventRecorder
	queue     workqueue.TypedRateLimitingInterface[string]
	synced    []cache.InformerSynced
	now       func() time.Time
	mu        sync.Mutex
	pending   map[string]pending  // access point -> issued, Secret not written
	attempts  map[string]*Failure // access point -> how this process's last issue ended (nil: issued)
	// newIssuer resolves a CertificateIssuer; replaced in tests.
	newIssuer func(context.Context, *trafficv1alpha1.CertificateIssuer) (issuer.Issuer, error)
}

// NewController wires the controller to its informers.
func NewController(client versioned.Interface, kube kubernetes.Interface, inf Informers, events record.EventRecorder) *Controller {
	apstatus.AddIndex(inf.ClusterAccessPoints.Informer())
	c := &Controller{
		client: client, kube: kube, faps: inf.AccessPoints.Lister(), issuers: inf.Issuers.Lister(),
		providers: inf.Providers.Lister(), secrets: inf.Secrets.Lister(), caps: inf.ClusterAccessPoints.Informer().GetIndexer(),
		events: events, now: time.Now, pending: map[string]pending{}, attempts: map[string]*Failure{},
		// Failed issues back off from 2s to 30 minutes: ACME servers limit
		// failed validations per hour.
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.NewTypedItemExponentialFailureRateLimiter[string](2*time.Second, 30*time.Minute),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "certificates"}),
	}
	c.newIssuer = c.resolveIssuer
	for _, i := range []cache.SharedIndexInformer{inf.AccessPoints.Informer(), inf.Issuers.Informer(),
		inf.Providers.Informer(), inf.Secrets.Informer(), inf.ClusterAccessPoints.Informer()} {
		c.synced = append(c.synced, i.HasSynced)
	}
	// Status writes (any controller's part, the issuer probe) must not wake
	// issuing again: that would bypass the back-off. Only spec, renewal
	// requests and deletion do. Any change may change what is reported.
	enqueueAP := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			c.queue.Add(accessPointKey + key)
			c.queue.Add(statusKey + key)
		}
	}
	// An access point coming, going or changing spec may also start or stop
	// using an issuer being deleted.
	_, _ = inf.AccessPoints.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { enqueueAP(obj); c.enqueueDeletingIssuer(obj) },
		DeleteFunc: func(obj any) { enqueueAP(obj); c.enqueueDeletingIssuer(obj) },
		UpdateFunc: func(old, obj any) {
			a, okA := old.(*trafficv1alpha1.FederatedAccessPoint)
			b, okB := obj.(*trafficv1alpha1.FederatedAccessPoint)
			if !okA || !okB || a.Generation != b.Generation || a.Annotations[certsecret.AnnotationRenew] != b.Annotations[certsecret.AnnotationRenew] ||
				(a.DeletionTimestamp == nil) != (b.DeletionTimestamp == nil) {
				enqueueAP(obj)
				c.enqueueDeletingIssuer(old)
				c.enqueueDeletingIssuer(obj)
				return
			}
			c.enqueueStatus(obj)
		},
	})
	_, _ = inf.ClusterAccessPoints.Informer().AddEventHandler(handler(func(obj any) {
		if keys, _ := apstatus.AccessPointKeys(unwrap(obj)); len(keys) == 1 {
			c.queue.Add(statusKey + keys[0])
		}
	}))
	issuerEvent := func(obj any) {
		if ci, ok := unwrap(obj).(*trafficv1alpha1.CertificateIssuer); ok {
			c.issuerChanged(ci.Name)
		}
	}
	_, _ = inf.Issuers.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: issuerEvent, DeleteFunc: issuerEvent,
		UpdateFunc: func(old, obj any) {
			a, okA := old.(*trafficv1alpha1.CertificateIssuer)
			b, okB := obj.(*trafficv1alpha1.CertificateIssuer)
			switch {
			case !okA || !okB:
				issuerEvent(obj)
			case (a.DeletionTimestamp == nil) != (b.DeletionTimestamp == nil):
				// Its deletion waits for its users. (The API server bumps
				// the generation then: that is no change of configuration.)
				c.queue.Add(issuerKey + b.Name)
			case a.Generation != b.Generation:
				issuerEvent(obj)
			}
		},
	})
	_, _ = inf.Providers.Informer().AddEventHandler(handler(func(obj any) {
		if p, ok := unwrap(obj).(*trafficv1alpha1.DNSProvider); ok {
			c.providerChanged(p.Name)
		}
	}))
	_, _ = inf.Secrets.Informer().AddEventHandler(handler(c.secretChanged))
	return c
}

// enqueueStatus asks to report the access point's certificate again.
func (c *Controller) enqueueStatus(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(statusKey + key)
	}
}

func handler(f func(any)) cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{AddFunc: f, UpdateFunc: func(_, obj any) { f(obj) }, DeleteFunc: f}
}

func unwrap(obj any) any {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return tomb.Obj
	}
	return obj
}

// issuerChanged probes the issuer again and wakes the access points using it.
func (c *Controller) issuerChanged(name string) {
	c.queue.Add(issuerKey + name)
	faps, _ := c.faps.List(labels.Everything())
	for _, f := range faps {
		if f.Spec.TLS != nil && f.Spec.TLS.IssuerRef.Name == name {
			c.queue.Add(accessPointKey + f.Namespace + "/" + f.Name)
		}
	}
}

// providerChanged wakes the ACME issuers solving through the DNSProvider.
func (c *Controller) providerChanged(name string) {
	issuers, _ := c.issuers.List(labels.Everything())
	for _, ci := range issuers {
		if ci.Spec.ACME != nil && ci.Spec.ACME.DNS01.ProviderRef.Name == name {
			c.issuerChanged(ci.Name)
		}
	}
}

// secretChanged wakes the access point of a certificate Secret, and the issuers
// (and their access points) that read a CA, account key or TSIG Secret.
func (c *Controller) secretChanged(obj any) {
	meta, err := cache.MetaNamespaceKeyFunc(unwrap(obj))
	if err != nil {
		return
	}
	_, name, _ := cache.SplitMetaNamespaceKey(meta)
	if strings.HasPrefix(name, "tls-") {
		if ap := annotationOf(unwrap(obj), certsecret.AnnotationAccessPoint); ap != "" {
			c.queue.Add(accessPointKey + ap)
			c.queue.Add(statusKey + ap)
		}
	}
	issuers, _ := c.issuers.List(labels.Everything())
	for _, ci := range issuers {
		if c.issuerReads(ci, name) {
			c.issuerChanged(ci.Name)
		}
	}
}

func annotationOf(obj any, key string) string {
	if o, ok := obj.(interface{ GetAnnotations() map[string]string }); ok {
		return o.GetAnnotations()[key]
	}
	return ""
}

// issuerReads tells whether the issuer depends on the Secret.
func (c *Controller) issuerReads(ci *trafficv1alpha1.CertificateIssuer, secret string) bool {
	switch {
	case ci.Spec.CA != nil:
		return ci.Spec.CA.SecretRef.Name == secret
	case ci.Spec.ACME != nil:
		if ci.Spec.ACME.PrivateKeySecretRef.Name == secret {
			return true
		}
		p, err := c.providers.Get(ci.Spec.ACME.DNS01.ProviderRef.Name)
		return err == nil && p.Spec.RFC2136 != nil && p.Spec.RFC2136.TSIGSecretRef != nil && p.Spec.RFC2136.TSIGSecretRef.Name == secret
	}
	return false
}

// Run processes the queue until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	runqueue.Run(ctx, c.queue, c.synced, workers, "certificate", c.sync)
}

func (c *Controller) sync(ctx context.Context, key string) (time.Duration, error) {
	switch {
	case strings.HasPrefix(key, issuerKey):
		return 0, c.syncIssuer(ctx, strings.TrimPrefix(key, issuerKey))
	case strings.HasPrefix(key, accessPointKey):
		ns, name, err := cache.SplitMetaNamespaceKey(strings.TrimPrefix(key, accessPointKey))
		if err != nil {
			return 0, nil
		}
		return c.syncAccessPoint(ctx, ns, name)
	case strings.HasPrefix(key, statusKey):
		ns, name, err := cache.SplitMetaNamespaceKey(strings.TrimPrefix(key, statusKey))
		if err != nil {
			return 0, nil
		}
		return c.syncStatus(ctx, ns, name)
	}
	return 0, nil
}

func (c *Controller) getSecret(name string) (*corev1.Secret, error) {
	s, err := c.secrets.Secrets(certsecret.SecretNamespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return s, err
}
