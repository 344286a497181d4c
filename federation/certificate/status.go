package certificate

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/apstatus"
	"github.com/portico-dev/portico/federation/certsecret"
)

// FieldManager owns status.certificate and the CertificateReady condition of
// FederatedAccessPoints.
const FieldManager = "portico-certificate"

// statusPart is what this controller owns of an access point's status.
var statusPart = apstatus.Part{
	Manager:        FieldManager,
	ConditionTypes: []string{trafficv1alpha1.AccessPointCertificateReady},
	Fields: func(dst, src *trafficv1alpha1.FederatedAccessPointStatus) {
		dst.Certificate = src.Certificate.DeepCopy()
	},
}

// Failure is why an access point's certificate could not be (re)issued.
type Failure struct {
	Reason, Message string
}

// failureReasons are the CertificateReady reasons of a failed issue.
var failureReasons = []string{ReasonIssuerNotReady, ReasonIssuanceFailed, ReasonSecretWriteFail, ReasonIssuerTerminating}

// reissueFailed marks, in a CertificateReady message, a failed reissue while
// an older certificate still serves: "<state>; reissue failed (<reason>): <message>".
const reissueFailed = "; reissue failed ("

// syncStatus writes the access point's certificate status: the issued
// version, where it is installed, and CertificateReady.
func (c *Controller) syncStatus(ctx context.Context, namespace, name string) (time.Duration, error) {
	fap, err := c.faps.FederatedAccessPoints(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil || fap.DeletionTimestamp != nil {
		return 0, err
	}
	desired, recheck, err := c.certificateStatus(fap)
	if err != nil {
		return 0, err
	}
	_, err = statusPart.Write(ctx, c.client, fap, desired, c.now())
	return recheck, err
}

// certificateStatus computes this controller's part of the status, and when to
// look again (the certificate's expiry).
func (c *Controller) certificateStatus(fap *trafficv1alpha1.FederatedAccessPoint) (*trafficv1alpha1.FederatedAccessPointStatus, time.Duration, error) {
	status := &trafficv1alpha1.FederatedAccessPointStatus{}
	if fap.Spec.TLS == nil {
		return status, 0, nil
	}
	secret, err := c.getSecret(certsecret.SecretName(fap.Namespace, fap.Name))
	if err != nil {
		return nil, 0, err
	}
	var stored *certsecret.Stored
	if secret != nil {
		stored, _ = certsecret.FromSecret(secret)
	}
	ci, _ := c.issuers.Get(fap.Spec.TLS.IssuerRef.Name)
	var failure *Failure
	if c.reissueReason(fap, ci, secret, stored) != "" {
		failure = c.failureOf(fap)
	}
	cond := metav1.Condition{Type: trafficv1alpha1.AccessPointCertificateReady, Status: metav1.ConditionFalse,
		ObservedGeneration: fap.Generation}
	if stored == nil {
		cond.Reason, cond.Message = ReasonIssuing, "waiting for CertificateIssuer "+fap.Spec.TLS.IssuerRef.Name
		if failure != nil {
			cond.Reason, cond.Message = failure.Reason, failure.Message
		}
		status.Conditions = []metav1.Condition{cond}
		return status, 0, nil
	}
	notAfter := metav1.NewTime(stored.NotAfter)
	status.Certificate = &trafficv1alpha1.CertificateStatus{Serial: stored.Serial, Version: stored.Version, NotAfter: &notAfter}
	installed, missing := c.installed(fap, stored)
	status.Certificate.InstalledClusters = installed
	switch {
	case !Current(fap, stored):
		cond.Reason = ReasonIssuing
		cond.Message = fmt.Sprintf("version %d is for other hosts or another issuer; reissuing", stored.Version)
		if failure != nil {
			cond.Reason = failure.Reason
		}
	case !c.now().Before(stored.NotAfter):
		cond.Reason = ReasonExpired
		cond.Message = fmt.Sprintf("version %d (serial %s) expired at %s", stored.Version, stored.Serial, stored.NotAfter.UTC().Format(time.RFC3339))
	case len(missing) > 0:
		cond.Reason = ReasonInstalling
		cond.Message = fmt.Sprintf("version %d not installed yet on %s", stored.Version, strings.Join(missing, ", "))
	default:
		cond.Status, cond.Reason = metav1.ConditionTrue, ReasonIssued
		cond.Message = fmt.Sprintf("version %d (serial %s) valid until %s, installed on %d clusters", stored.Version, stored.Serial,
			stored.NotAfter.UTC().Format(time.RFC3339), len(installed))
	}
	if failure != nil {
		cond.Message += reissueFailed + failure.Reason + "): " + failure.Message
	}
	status.Conditions = []metav1.Condition{cond}
	return status, max(stored.NotAfter.Sub(c.now()), 0) + time.Second, nil
}

// installed splits the clusters the access point is placed on (as its status
// says) into those whose agent applied this certificate version and the rest.
func (c *Controller) installed(fap *trafficv1alpha1.FederatedAccessPoint, stored *certsecret.Stored) (installed, missing []string) {
	name := certsecret.CredentialName(fap.Namespace, fap.Name)
	caps := apstatus.ClusterAccessPoints(c.caps, fap)
	for _, cl := range fap.Status.Clusters {
		cap := caps[cl.Name]
		if cap == nil {
			missing = append(missing, cl.Name)
			continue
		}
		// Delivered in the cluster's gateway namespace, as the ClusterAccessPoint says.
		ns := certsecret.DeliveredNamespace(cap, name)
		if ns != "" && cap.Status.ObservedRevision == cap.Spec.Revision && cap.Status.ObservedGeneration == cap.Generation && objectApplied(cap, ns, name) &&
			certsecret.DeliveredVersion(cap, ns, name) == stored.Version {
			installed = append(installed, cl.Name)
		} else {
			missing = append(missing, cl.Name)
		}
	}
	slices.Sort(installed)
	slices.Sort(missing)
	return installed, missing
}

// objectApplied tells whether the cluster's agent reports the Secret applied.
func objectApplied(cap *trafficv1alpha1.ClusterAccessPoint, namespace, name string) bool {
	for _, o := range cap.Status.Objects {
		if o.Group == "" && o.Kind == "Secret" && o.Namespace == namespace && o.Name == name {
			return o.Applied
		}
	}
	return false
}

// failureOf is the access point's last issuance failure: this process's last
// attempt when it made one, otherwise what the status already records (written
// by this or an earlier leader), so a failure is not forgotten on a leader
// change. nil when the last attempt succeeded or none failed.
func (c *Controller) failureOf(fap *trafficv1alpha1.FederatedAccessPoint) *Failure {
	c.mu.Lock()
	f, attempted := c.attempts[fap.Namespace+"/"+fap.Name]
	c.mu.Unlock()
	if attempted {
		return f
	}
	return recordedFailure(meta.FindStatusCondition(fap.Status.Conditions, trafficv1alpha1.AccessPointCertificateReady))
}

// recordedFailure reads a failure back from a CertificateReady condition.
func recordedFailure(cond *metav1.Condition) *Failure {
	if cond == nil {
		return nil
	}
	if _, rest, ok := strings.Cut(cond.Message, reissueFailed); ok {
		reason, message, _ := strings.Cut(rest, "): ")
		return &Failure{Reason: reason, Message: message}
	}
	if cond.Status == metav1.ConditionFalse && slices.Contains(failureReasons, cond.Reason) {
		return &Failure{Reason: cond.Reason, Message: cond.Message}
	}
	return nil
}

// recordAttempt remembers how the last issue of the access point ended (nil:
// it succeeded) and tells whether that changed.
func (c *Controller) recordAttempt(key string, f *Failure) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	old, had := c.attempts[key]
	c.attempts[key] = f
	return !had || (old == nil) != (f == nil) || (old != nil && *old != *f)
}

func (c *Controller) forgetAttempt(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.attempts, key)
}
