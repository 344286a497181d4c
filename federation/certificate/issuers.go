package certificate

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/portico-dev/portico/federation/certsecret"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/certificate/issuer"
	dnscontroller "github.com/portico-dev/portico/federation/dns"
)

// Reasons of a CertificateIssuer's Ready condition.
const (
	ReasonReady          = "Ready"
	ReasonInvalid        = "Invalid"
	ReasonUnreachable    = "Unreachable"
	DefaultAccountKeyKey = "tls.key"
)

// issuerOf resolves the named CertificateIssuer.
func (c *Controller) issuerOf(ctx context.Context, name string) (issuer.Issuer, error) {
	ci, err := c.issuers.Get(name)
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("CertificateIssuer %s not found", name)
	}
	if err != nil {
		return nil, err
	}
	return c.newIssuer(ctx, ci)
}

// resolveIssuer builds the issuer of a CertificateIssuer: a CA from its Secret,
// or an ACME client with its account key (created when missing) solving DNS-01
// through its DNSProvider.
func (c *Controller) resolveIssuer(ctx context.Context, ci *trafficv1alpha1.CertificateIssuer) (issuer.Issuer, error) {
	switch {
	case ci.Spec.CA != nil:
		s, err := c.requireSecret(ci.Spec.CA.SecretRef.Name)
		if err != nil {
			return nil, err
		}
		duration := trafficv1alpha1.DefaultCertificateDuration
		if ci.Spec.CA.Duration != nil {
			duration = ci.Spec.CA.Duration.Duration
		}
		iss, err := issuer.NewCA(s.Data[certsecret.KeyCert], s.Data[certsecret.KeyKey], duration)
		if err != nil {
			return nil, fmt.Errorf("CA in Secret %s/%s: %w", certsecret.SecretNamespace, s.Name, err)
		}
		return iss, nil
	case ci.Spec.ACME != nil:
		acme := ci.Spec.ACME
		key, err := c.accountKey(ctx, acme.PrivateKeySecretRef)
		if err != nil {
			return nil, err
		}
		dns, err := dnscontroller.RFC2136Client(c.providers, c.secrets, acme.DNS01.ProviderRef.Name)
		if err != nil {
			return nil, fmt.Errorf("DNS-01 provider: %w", err)
		}
		return issuer.NewACME(issuer.ACMEConfig{Server: acme.Server, Email: acme.Email, AccountKey: key,
			CABundle: acme.CABundle, Solver: issuer.RFC2136Solver{Client: dns}})
	}
	return nil, errors.New("neither ca nor acme is set")
}

func (c *Controller) requireSecret(name string) (*corev1.Secret, error) {
	s, err := c.getSecret(name)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, fmt.Errorf("Secret %s/%s not found", certsecret.SecretNamespace, name)
	}
	return s, nil
}

// accountKey reads the ACME account key, creating the Secret with a new key
// when it does not exist (an existing Secret is never overwritten).
func (c *Controller) accountKey(ctx context.Context, ref trafficv1alpha1.SecretKeyReference) (crypto.Signer, error) {
	k := ref.Key
	if k == "" {
		k = DefaultAccountKeyKey
	}
	s, err := c.getSecret(ref.Name)
	if err != nil {
		return nil, err
	}
	if s == nil {
		signer, pemBytes, err := issuer.GenerateKey()
		if err != nil {
			return nil, err
		}
		s = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: ref.Name, Namespace: certsecret.SecretNamespace,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "portico-hub"}},
			Data: map[string][]byte{k: pemBytes}}
		if _, err := c.kube.CoreV1().Secrets(certsecret.SecretNamespace).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("creating the ACME account key Secret %s/%s: %w", certsecret.SecretNamespace, ref.Name, err)
		}
		return signer, nil
	}
	signer, err := issuer.ParseKey(s.Data[k])
	if err != nil {
		return nil, fmt.Errorf("ACME account key in Secret %s/%s key %q: %w", certsecret.SecretNamespace, ref.Name, k, err)
	}
	return signer, nil
}

// syncIssuer keeps the in-use finalizer of a CertificateIssuer, probes it and
// writes its Ready condition: its configuration resolves and, for ACME, the
// directory answers. An issuer being deleted is not probed: its deletion
// waits for its users (inuse.go).
func (c *Controller) syncIssuer(ctx context.Context, name string) error {
	ci, err := c.issuers.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ci.DeletionTimestamp != nil {
		return c.syncDeletingIssuer(ctx, ci)
	}
	if ci, err = c.setIssuerFinalizer(ctx, ci, true); err != nil {
		return err
	}
	cond := metav1.Condition{Type: trafficv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: ReasonReady,
		ObservedGeneration: ci.Generation}
	if _, err := c.newIssuer(ctx, ci); err != nil {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, ReasonInvalid, err.Error()
	} else if ci.Spec.ACME != nil {
		if err := probeDirectory(ctx, ci.Spec.ACME.Server, ci.Spec.ACME.CABundle); err != nil {
			cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, ReasonUnreachable, err.Error()
		} else {
			cond.Message = "ACME directory " + ci.Spec.ACME.Server + " answers"
		}
	} else {
		cond.Message = "CA in Secret " + certsecret.SecretNamespace + "/" + ci.Spec.CA.SecretRef.Name + " is usable"
	}
	status := ci.Status.DeepCopy()
	status.ObservedGeneration = ci.Generation
	meta.SetStatusCondition(&status.Conditions, cond)
	if apiequality.Semantic.DeepEqual(status, &ci.Status) {
		return nil
	}
	updated := ci.DeepCopy()
	updated.Status = *status
	_, err = c.client.TrafficV1alpha1().CertificateIssuers().UpdateStatus(ctx, updated, metav1.UpdateOptions{})
	return err
}

// probeDirectory fetches an ACME directory.
func probeDirectory(ctx context.Context, url string, caBundle []byte) error {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if len(caBundle) > 0 {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(caBundle)
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: transport}).Do(req)
	if err != nil {
		return fmt.Errorf("ACME directory: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ACME directory %s answered %s", url, resp.Status)
	}
	return nil
}
