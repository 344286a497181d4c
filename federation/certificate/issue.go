package certificate

import (
	"context"
	"fmt"
	"github.com/portico-dev/portico/federation/certsecret"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/certificate/issuer"
)

// Reasons of the CertificateReady condition and of the controller's Events.
const (
	ReasonIssued          = "Issued"
	ReasonIssuing         = "Issuing"
	ReasonInstalling      = "Installing"
	ReasonIssuerNotReady  = "IssuerNotReady"
	ReasonIssuanceFailed  = "IssuanceFailed"
	ReasonExpired         = "Expired"
	ReasonSecretWriteFail = "SecretWriteFailed"
	// ReasonIssuerTerminating: the CertificateIssuer is being deleted and
	// issues no certificate to an access point that has none from it.
	ReasonIssuerTerminating = "IssuerTerminating"
)

// syncAccessPoint issues the access point's certificate when it has none or
// needs a new one, and asks to look again when renewal is due.
func (c *Controller) syncAccessPoint(ctx context.Context, namespace, name string) (time.Duration, error) {
	key := namespace + "/" + name
	fap, err := c.faps.FederatedAccessPoints(namespace).Get(name)
	if apierrors.IsNotFound(err) || (err == nil && (fap.Spec.TLS == nil || fap.DeletionTimestamp != nil)) {
		c.forgetAttempt(key)
		return 0, c.deleteSecret(ctx, namespace, name)
	}
	if err != nil {
		return 0, err
	}
	secret, err := c.getSecret(certsecret.SecretName(namespace, name))
	if err != nil {
		return 0, err
	}
	var stored *certsecret.Stored
	if secret != nil {
		stored, _ = certsecret.FromSecret(secret) // unreadable: reissued below
	}
	ci, _ := c.issuers.Get(fap.Spec.TLS.IssuerRef.Name) // nil when missing: reported below
	why := c.reissueReason(fap, ci, secret, stored)
	if why != "" {
		// The cache may not have seen our last write yet: issuing is expensive
		// (and rate-limited by ACME servers), so decide on the live Secret.
		if secret, err = c.liveSecret(ctx, certsecret.SecretName(namespace, name)); err != nil {
			return 0, err
		}
		stored = nil
		if secret != nil {
			stored, _ = certsecret.FromSecret(secret)
		}
		why = c.reissueReason(fap, ci, secret, stored)
	}
	if why == "" {
		c.settled(key, nil)
		return c.untilRenewal(stored), nil
	}
	if ci != nil && ci.DeletionTimestamp != nil && (stored == nil || stored.Issuer != ci.Name) {
		// A new user of an issuer being deleted: refused. Its current users
		// keep being renewed until they leave it.
		c.fail(fap, ReasonIssuerTerminating, fmt.Errorf("CertificateIssuer %s is being deleted and issues no new certificate: "+
			"point spec.tls.issuerRef at another issuer", ci.Name))
		return 0, nil
	}
	hosts := sortedHosts(fap.Spec.Hosts)
	req := request{hosts: strings.Join(hosts, ","), issuer: issuerGeneration(ci), renew: fap.Annotations[certsecret.AnnotationRenew]}
	cert := c.unwritten(key, req)
	if cert == nil {
		iss, err := c.issuerOf(ctx, fap.Spec.TLS.IssuerRef.Name)
		if err != nil {
			c.fail(fap, ReasonIssuerNotReady, fmt.Errorf("CertificateIssuer %s: %w", fap.Spec.TLS.IssuerRef.Name, err))
			return 0, err
		}
		if cert, err = iss.Issue(ctx, hosts); err != nil {
			c.fail(fap, ReasonIssuanceFailed, fmt.Errorf("CertificateIssuer %s: %w", fap.Spec.TLS.IssuerRef.Name, err))
			return 0, err
		}
	}
	version := int64(1)
	if stored != nil {
		version = stored.Version + 1
	} else if secret != nil {
		v, _ := strconv.ParseInt(secret.Annotations[certsecret.AnnotationVersion], 10, 64)
		version = v + 1
	}
	desired := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: certsecret.SecretName(namespace, name), Namespace: certsecret.SecretNamespace,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "portico-hub"},
			Annotations: map[string]string{
				certsecret.AnnotationAccessPoint:      key,
				certsecret.AnnotationVersion:          strconv.FormatInt(version, 10),
				certsecret.AnnotationSerial:           cert.Serial,
				certsecret.AnnotationHosts:            strings.Join(hosts, ","),
				certsecret.AnnotationIssuer:           fap.Spec.TLS.IssuerRef.Name,
				certsecret.AnnotationIssuerGeneration: req.issuer,
				certsecret.AnnotationRenew:            fap.Annotations[certsecret.AnnotationRenew],
			}},
		Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{certsecret.KeyCert: cert.CertPEM, certsecret.KeyKey: cert.KeyPEM},
	}
	if len(cert.CAPEM) > 0 {
		desired.Data[certsecret.KeyCA] = cert.CAPEM
	}
	if err := c.writeSecret(ctx, secret, desired); err != nil {
		// Keep the certificate: only the write is retried, not the order.
		c.keepUnwritten(key, req, cert)
		c.fail(fap, ReasonSecretWriteFail, err)
		return 0, err
	}
	c.keepUnwritten(key, request{}, nil)
	c.settled(key, nil)
	klog.FromContext(ctx).Info("Issued certificate", "accessPoint", key, "serial", cert.Serial, "version", version,
		"notAfter", cert.NotAfter, "why", why)
	if c.events != nil {
		c.events.Eventf(fap, corev1.EventTypeNormal, ReasonIssued, "issued certificate version %d, serial %s, valid until %s (%s)",
			version, cert.Serial, cert.NotAfter.UTC().Format(time.RFC3339), why)
	}
	return c.untilRenewal(&certsecret.Stored{NotBefore: cert.NotBefore, NotAfter: cert.NotAfter}), nil
}

// reissueReason says why the access point needs a new certificate, or "".
// ci is its CertificateIssuer, nil when missing.
func (c *Controller) reissueReason(fap *trafficv1alpha1.FederatedAccessPoint, ci *trafficv1alpha1.CertificateIssuer, secret *corev1.Secret, stored *certsecret.Stored) string {
	switch {
	case secret == nil:
		return "first issue"
	case stored == nil:
		return "the stored certificate is unreadable"
	case !Current(fap, stored):
		return "hosts or issuer changed"
	case ci != nil && ci.DeletionTimestamp == nil && stored.IssuerGeneration != "" && stored.IssuerGeneration != issuerGeneration(ci):
		// (The API server bumps the generation of an issuer being deleted:
		// that is no change of configuration.)
		return "the issuer's configuration changed"
	case fap.Annotations[certsecret.AnnotationRenew] != secret.Annotations[certsecret.AnnotationRenew]:
		return "renewal requested"
	case !c.now().Before(stored.RenewAt()):
		return "two thirds of its lifetime passed"
	}
	return ""
}

// Current tells whether a stored certificate is for the access point's hosts,
// from its issuer.
func Current(fap *trafficv1alpha1.FederatedAccessPoint, stored *certsecret.Stored) bool {
	return fap.Spec.TLS != nil && stored.Issuer == fap.Spec.TLS.IssuerRef.Name && slices.Equal(stored.Hosts, sortedHosts(fap.Spec.Hosts))
}

func issuerGeneration(ci *trafficv1alpha1.CertificateIssuer) string {
	if ci == nil {
		return ""
	}
	return string(ci.UID) + "/" + strconv.FormatInt(ci.Generation, 10)
}

// request identifies what a certificate was issued for.
type request struct{ hosts, issuer, renew string }

// pending is an issued certificate whose Secret could not be written yet.
type pending struct {
	req  request
	cert *issuer.Certificate
}

// unwritten returns the certificate issued for req whose write failed, if any.
func (c *Controller) unwritten(key string, req request) *issuer.Certificate {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.pending[key]; ok && p.req == req && c.now().Before(p.cert.NotAfter) {
		return p.cert
	}
	return nil
}

// keepUnwritten remembers (nil: forgets) a certificate whose write failed.
func (c *Controller) keepUnwritten(key string, req request, cert *issuer.Certificate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cert == nil {
		delete(c.pending, key)
		return
	}
	c.pending[key] = pending{req: req, cert: cert}
}

// untilRenewal is how long until the certificate is due (at least a second).
func (c *Controller) untilRenewal(s *certsecret.Stored) time.Duration {
	if s == nil {
		return 0
	}
	return max(s.RenewAt().Sub(c.now()), time.Second)
}

// fail records a failed issue (reported in status) and tells about it once.
func (c *Controller) fail(fap *trafficv1alpha1.FederatedAccessPoint, reason string, err error) {
	if c.settled(fap.Namespace+"/"+fap.Name, &Failure{Reason: reason, Message: err.Error()}) && c.events != nil {
		c.events.Event(fap, corev1.EventTypeWarning, reason, err.Error())
	}
}

// settled records how an issue ended (f nil: no failure), asks to report it,
// and tells whether that changed.
func (c *Controller) settled(key string, f *Failure) bool {
	changed := c.recordAttempt(key, f)
	if changed {
		c.queue.Add(statusKey + key)
	}
	return changed
}

func (c *Controller) writeSecret(ctx context.Context, cur, desired *corev1.Secret) error {
	secrets := c.kube.CoreV1().Secrets(certsecret.SecretNamespace)
	if cur == nil {
		_, err := secrets.Create(ctx, desired, metav1.CreateOptions{})
		return err
	}
	updated := cur.DeepCopy()
	updated.Labels, updated.Annotations, updated.Type, updated.Data = desired.Labels, desired.Annotations, desired.Type, desired.Data
	_, err := secrets.Update(ctx, updated, metav1.UpdateOptions{})
	return err
}

func (c *Controller) liveSecret(ctx context.Context, name string) (*corev1.Secret, error) {
	s, err := c.kube.CoreV1().Secrets(certsecret.SecretNamespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return s, err
}

func (c *Controller) deleteSecret(ctx context.Context, namespace, name string) error {
	s, err := c.getSecret(certsecret.SecretName(namespace, name))
	if err != nil || s == nil {
		return err
	}
	err = c.kube.CoreV1().Secrets(certsecret.SecretNamespace).Delete(ctx, s.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &s.UID}})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func sortedHosts(hosts []string) []string {
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		out = append(out, strings.ToLower(h))
	}
	slices.Sort(out)
	return slices.Compact(out)
}
