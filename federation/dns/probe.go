package dns

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// Reasons of the Ready condition of DNSProviders (besides ProviderInvalid and
// SecretNotFound).
const (
	ReasonProbeSucceeded = "ProbeSucceeded"
	ReasonProbeFailed    = "ProbeFailed"
)

// probeTimeout bounds one probe.
const probeTimeout = 10 * time.Second

// syncProvider keeps the in-use finalizer of a DNSProvider, probes it, writes
// its Ready condition when it changes and probes again after the probe
// interval. A provider being deleted is not probed: its deletion waits for its
// users (inuse.go).
func (c *Controller) syncProvider(ctx context.Context, name string) error {
	p, err := c.providers.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if p.DeletionTimestamp != nil {
		return c.syncDeletingProvider(ctx, p)
	}
	if p, err = c.setProviderFinalizer(ctx, p, true); err != nil {
		return err
	}
	c.probes.AddAfter(name, c.probeInterval)
	cond := c.probe(ctx, p)
	cond.Type, cond.ObservedGeneration = trafficv1alpha1.ConditionReady, p.Generation
	status := p.Status.DeepCopy()
	status.ObservedGeneration = p.Generation
	meta.SetStatusCondition(&status.Conditions, *cond)
	if equality.Semantic.DeepEqual(status, &p.Status) {
		return nil
	}
	updated := p.DeepCopy()
	updated.Status = *status
	_, err = c.client.TrafficV1alpha1().DNSProviders().UpdateStatus(ctx, updated, metav1.UpdateOptions{})
	return err
}

func (c *Controller) probe(ctx context.Context, p *trafficv1alpha1.DNSProvider) *metav1.Condition {
	rp, cond := c.provider(p.Name)
	if cond != nil {
		return cond
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	if err := rp.provider.Probe(ctx); err != nil {
		return failed(ReasonProbeFailed, "%v", err)
	}
	spec := p.Spec.RFC2136
	msg := fmt.Sprintf("%s serves zone %s", spec.Server, spec.Zone)
	if spec.TSIGKeyName != "" {
		msg += " and accepts TSIG key " + spec.TSIGKeyName
	}
	return &metav1.Condition{Status: metav1.ConditionTrue, Reason: ReasonProbeSucceeded, Message: msg}
}
