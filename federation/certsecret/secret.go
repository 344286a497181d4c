// Package certsecret is the contract between the certificate controller, which
// keeps each issued certificate in a hub cluster Secret, and the access point
// controller, which delivers it to member clusters inside ClusterAccessPoints:
// the Secrets' names, annotations and keys, and how to read them back.
package certsecret

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// SecretNamespace is the hub cluster namespace holding issued certificates, CA
// keys and ACME account keys.
const SecretNamespace = "portico-system"

// Annotations of the hub Secret of an issued certificate, and of the Secret
// delivered to member clusters.
const (
	// AnnotationAccessPoint is the access point (namespace/name) it is for.
	AnnotationAccessPoint = "portico.dev/access-point"
	// AnnotationVersion counts issues: 1 for the first, +1 on every reissue.
	AnnotationVersion = "portico.dev/certificate-version"
	// AnnotationSerial is the leaf's serial number (hex).
	AnnotationSerial = "portico.dev/certificate-serial"
	// AnnotationHosts lists the hosts it was issued for, comma separated.
	AnnotationHosts = "portico.dev/certificate-hosts"
	// AnnotationIssuer is the CertificateIssuer that issued it.
	AnnotationIssuer = "portico.dev/certificate-issuer"
	// AnnotationIssuerGeneration is that issuer's uid/generation: a changed
	// issuer configuration reissues.
	AnnotationIssuerGeneration = "portico.dev/certificate-issuer-generation"
	// AnnotationRenew, set on a FederatedAccessPoint to any new value, forces a
	// reissue; the hub Secret records the last value handled.
	AnnotationRenew = "portico.dev/renew-certificate"
)

// Keys of a certificate Secret (kubernetes.io/tls, plus ca.crt).
const (
	KeyCert = corev1.TLSCertKey
	KeyKey  = corev1.TLSPrivateKeyKey
	KeyCA   = "ca.crt"
)

// SecretName is the hub Secret (in SecretNamespace) holding an access point's
// certificate: tls-<namespace>.<name>, or a hash of both when that would be too
// long for a Secret name.
func SecretName(namespace, name string) string { return boundedName("tls-", namespace+"."+name, "") }

// DeliveryNamespace is the member cluster namespace certificates are
// delivered to: the gateway namespace the cluster's admin set in the
// MemberCluster (spec.gatewayNamespace, default istio-system), never one a
// tenant chooses.
func DeliveryNamespace(mc *clusterv1alpha1.MemberCluster) string {
	if mc != nil && mc.Spec.GatewayNamespace != "" {
		return mc.Spec.GatewayNamespace
	}
	return clusterv1alpha1.DefaultGatewayNamespace
}

// DeliveredNamespace is the namespace of the certificate Secret named name
// that a ClusterAccessPoint carries, "" when it carries none.
func DeliveredNamespace(cap *trafficv1alpha1.ClusterAccessPoint, name string) string {
	for _, m := range cap.Spec.Manifests {
		var h struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if json.Unmarshal(m.Raw, &h) == nil && h.Kind == "Secret" && h.Metadata.Name == name {
			return h.Metadata.Namespace
		}
	}
	return ""
}

// CredentialName is the Secret the certificate is delivered as in member
// clusters, in DeliveryNamespace (the gateway workload's namespace):
// <namespace>.<name>-tls, the credentialName of the Gateway's HTTPS servers.
func CredentialName(namespace, name string) string {
	return boundedName("", namespace+"."+name, "-tls")
}

// boundedName is prefix+id+suffix, or prefix+a hash of id+suffix when longer
// than a Secret name may be.
func boundedName(prefix, id, suffix string) string {
	if n := prefix + id + suffix; len(n) <= validation.DNS1123SubdomainMaxLength {
		return n
	}
	sum := sha256.Sum256([]byte(id))
	return prefix + hex.EncodeToString(sum[:16]) + suffix
}

// Stored is an issued certificate as kept in its hub Secret.
type Stored struct {
	CertPEM, KeyPEM, CAPEM []byte
	Version                int64
	Serial                 string
	Hosts                  []string
	Issuer                 string
	IssuerGeneration       string
	NotBefore, NotAfter    time.Time
}

// RenewAt is when the certificate is due for renewal: two thirds into its
// lifetime.
func (s *Stored) RenewAt() time.Time {
	return s.NotBefore.Add(s.NotAfter.Sub(s.NotBefore) * 2 / 3)
}

// FromSecret reads a certificate Secret back. The private key is not parsed.
func FromSecret(secret *corev1.Secret) (*Stored, error) {
	s := &Stored{CertPEM: secret.Data[KeyCert], KeyPEM: secret.Data[KeyKey], CAPEM: secret.Data[KeyCA],
		Issuer: secret.Annotations[AnnotationIssuer], IssuerGeneration: secret.Annotations[AnnotationIssuerGeneration]}
	if len(s.CertPEM) == 0 || len(s.KeyPEM) == 0 {
		return nil, errors.New("no tls.crt or tls.key")
	}
	block, _ := pem.Decode(s.CertPEM)
	if block == nil {
		return nil, errors.New("tls.crt is not PEM")
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("tls.crt: %w", err)
	}
	s.NotBefore, s.NotAfter, s.Serial = leaf.NotBefore, leaf.NotAfter, leaf.SerialNumber.Text(16)
	s.Version, _ = strconv.ParseInt(secret.Annotations[AnnotationVersion], 10, 64)
	if h := secret.Annotations[AnnotationHosts]; h != "" {
		s.Hosts = strings.Split(h, ",")
	}
	return s, nil
}

// DeliveredVersion is the certificate version a ClusterAccessPoint delivers
// as the Secret namespace/name (0 when it delivers none).
func DeliveredVersion(cap *trafficv1alpha1.ClusterAccessPoint, namespace, name string) int64 {
	for _, m := range cap.Spec.Manifests {
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name        string            `json:"name"`
				Namespace   string            `json:"namespace"`
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
		}
		if json.Unmarshal(m.Raw, &obj) != nil || obj.Kind != "Secret" || obj.Metadata.Name != name || obj.Metadata.Namespace != namespace {
			continue
		}
		v, _ := strconv.ParseInt(obj.Metadata.Annotations[AnnotationVersion], 10, 64)
		return v
	}
	return 0
}
