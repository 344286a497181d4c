//go:build integration

package integration

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	traffic "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/certificate"
	"github.com/portico-dev/portico/federation/certsecret"
	"github.com/portico-dev/portico/test/framework"
	"github.com/portico-dev/portico/test/localfed"
)

// TestCertificatesCAIssuer: an access point with spec.tls gets a certificate
// from a CA issuer for its hosts, delivered to both member clusters as the
// Secret its Gateway's HTTPS server references; a forced renewal bumps the
// version and replaces the Secret everywhere; private keys are ciphertext in
// both etcds (portico-hub's ClusterAccessPoints, the hub cluster's Secrets).
func TestCertificatesCAIssuer(t *testing.T) {
	f := &federation{members: map[string]*framework.MemberCluster{}, agents: map[string]*framework.MemberAgent{}}
	f.hub = framework.NewHubCluster(t)
	// portico-hub on the hub cluster's etcd (its own prefix), so the test can
	// read what it stores.
	f.portico = framework.NewPorticoHub(t, f.hub, framework.PorticoHubOptions{EtcdServers: []string{f.hub.Etcd.ClientURL}})
	f.pc = fastClient(f.hub.RestConfig)
	ctx := context.Background()
	// zone-b-1's admin runs its gateway in namespace gateways: the certificate
	// goes there, whatever the access point asks. (Set before joining: the
	// member-agent manifest grants Secrets in that namespace only.)
	if _, err := f.pc.ClusterV1alpha1().MemberClusters().Create(ctx, &clusterv1alpha1.MemberCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "zone-b-1"},
		Spec:       clusterv1alpha1.MemberClusterSpec{Zone: "zone-b", Region: "r1", GatewayNamespace: "gateways"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for name, zone := range map[string]string{"zone-a-1": "zone-a", "zone-b-1": "zone-b"} {
		f.members[name] = framework.NewMemberCluster(t, name)
		f.agents[name] = framework.NewMemberAgent(t, f.hub, f.members[name], framework.MemberAgentOptions{
			Zone: zone, Region: "r1", HeartbeatInterval: time.Second,
		})
	}
	waitAllAvailable(t, f)
	createHubNamespace(t, f.hub, "shop")
	kube := kubernetes.NewForConfigOrDie(f.hub.RestConfig)

	hosts := []string{"checkout.example.test", "www.checkout.example.test"}
	fap := fedAccessPoint("shop", "checkout", hosts, "5s")
	fap.Spec.Template.Gateway = &traffic.JSONObject{Raw: []byte(fmt.Sprintf(
		`{"servers":[{"port":{"number":443,"name":"https","protocol":"HTTPS"},"hosts":%s}]}`, mustJSON(hosts)))}
	fap.Spec.TLS = &traffic.TLSSpec{IssuerRef: traffic.LocalReference{Name: "local-ca"}}
	if _, err := f.pc.TrafficV1alpha1().FederatedAccessPoints("shop").Create(ctx, fap, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// No issuer yet: the condition says why.
	cond := waitCertificateCondition(t, f, metav1.ConditionFalse, certificate.ReasonIssuerNotReady)
	if !strings.Contains(cond.Message, "CertificateIssuer local-ca not found") {
		t.Fatalf("CertificateReady message = %q", cond.Message)
	}

	ca, err := localfed.NewCA("portico test CA")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kube.CoreV1().Secrets(certsecret.SecretNamespace).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "local-ca"}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: ca.CertPEM, corev1.TLSPrivateKeyKey: ca.KeyPEM},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pc.TrafficV1alpha1().CertificateIssuers().Create(ctx, &traffic.CertificateIssuer{
		ObjectMeta: metav1.ObjectMeta{Name: "local-ca"},
		Spec:       traffic.CertificateIssuerSpec{CA: &traffic.CAIssuer{SecretRef: traffic.LocalReference{Name: "local-ca"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, 30*time.Second, "CertificateIssuer local-ca Ready", func() (bool, string) {
		ci, err := f.pc.TrafficV1alpha1().CertificateIssuers().Get(ctx, "local-ca", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return meta.IsStatusConditionTrue(ci.Status.Conditions, traffic.ConditionReady), ""
	})

	v1 := waitCertificateVersion(t, f, 1, hosts)
	checkInstalled(t, f, v1, hosts, ca)

	// Forced renewal: a new version and serial, replaced in both clusters.
	updateFAP(t, f.pc, "shop", "checkout", func(ap *traffic.FederatedAccessPoint) {
		if ap.Annotations == nil {
			ap.Annotations = map[string]string{}
		}
		ap.Annotations[certsecret.AnnotationRenew] = "1"
	})
	v2 := waitCertificateVersion(t, f, 2, hosts)
	if v2.Serial == v1.Serial {
		t.Fatalf("renewal kept serial %s", v1.Serial)
	}
	checkInstalled(t, f, v2, hosts, ca)

	// At rest: the certificate's key is ciphertext in both etcds.
	checkEncrypted(t, f.hub.Etcd.ClientURL, "/registry/portico.dev/", "clusteraccesspoints", "shop.checkout", 2)
	checkEncrypted(t, f.hub.Etcd.ClientURL, "/registry/secrets/"+certsecret.SecretNamespace+"/", "", certsecret.SecretName("shop", "checkout"), 1)

	// Deleting the access point deletes its certificate in the hub.
	if err := f.pc.TrafficV1alpha1().FederatedAccessPoints("shop").Delete(ctx, "checkout", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, 30*time.Second, "the hub certificate Secret deleted", func() (bool, string) {
		_, err := kube.CoreV1().Secrets(certsecret.SecretNamespace).Get(ctx, certsecret.SecretName("shop", "checkout"), metav1.GetOptions{})
		return apierrors.IsNotFound(err), ""
	})
	for name, m := range f.members {
		kc := kubernetes.NewForConfigOrDie(m.RestConfig)
		framework.Eventually(t, 30*time.Second, name+": the certificate Secret pruned", func() (bool, string) {
			_, err := kc.CoreV1().Secrets(gatewayNamespaces[name]).Get(ctx, "shop.checkout-tls", metav1.GetOptions{})
			return apierrors.IsNotFound(err), ""
		})
	}
}

// gatewayNamespaces are the member clusters' gateway namespaces in
// TestCertificatesCAIssuer.
var gatewayNamespaces = map[string]string{"zone-a-1": "istio-system", "zone-b-1": "gateways"}

func waitCertificateCondition(t *testing.T, f *federation, status metav1.ConditionStatus, reason string) *metav1.Condition {
	t.Helper()
	var cond *metav1.Condition
	framework.Eventually(t, 60*time.Second, fmt.Sprintf("CertificateReady=%s (%s)", status, reason), func() (bool, string) {
		ap, err := getFAP(f.pc, "shop", "checkout")
		if err != nil {
			return false, err.Error()
		}
		cond = meta.FindStatusCondition(ap.Status.Conditions, traffic.AccessPointCertificateReady)
		if cond == nil || cond.Status != status || cond.Reason != reason {
			return false, fmt.Sprintf("CertificateReady = %+v", cond)
		}
		return true, ""
	})
	return cond
}

// waitCertificateVersion waits until version is installed on both clusters and
// the access point is Ready.
func waitCertificateVersion(t *testing.T, f *federation, version int64, hosts []string) *traffic.CertificateStatus {
	t.Helper()
	var cert *traffic.CertificateStatus
	framework.Eventually(t, 60*time.Second, fmt.Sprintf("certificate version %d installed everywhere", version), func() (bool, string) {
		ap, err := getFAP(f.pc, "shop", "checkout")
		if err != nil {
			return false, err.Error()
		}
		cert = ap.Status.Certificate
		if cert == nil || cert.Version != version || !slices.Equal(cert.InstalledClusters, []string{"zone-a-1", "zone-b-1"}) ||
			!meta.IsStatusConditionTrue(ap.Status.Conditions, traffic.AccessPointCertificateReady) ||
			!meta.IsStatusConditionTrue(ap.Status.Conditions, traffic.ConditionReady) {
			return false, fmt.Sprintf("certificate = %+v, conditions = %+v", cert, ap.Status.Conditions)
		}
		return true, ""
	})
	if cert.NotAfter == nil || cert.Serial == "" {
		t.Fatalf("status.certificate incomplete: %+v", cert)
	}
	return cert
}

// checkInstalled reads the Secret in each member cluster and checks it is the
// certificate the status reports, for the hosts, signed by the CA, referenced
// by the Gateway's HTTPS server.
func checkInstalled(t *testing.T, f *federation, status *traffic.CertificateStatus, hosts []string, ca *localfed.CA) {
	t.Helper()
	for name, m := range f.members {
		kc := kubernetes.NewForConfigOrDie(m.RestConfig)
		s, err := kc.CoreV1().Secrets(gatewayNamespaces[name]).Get(context.Background(), "shop.checkout-tls", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if name != "zone-a-1" {
			if _, err := kc.CoreV1().Secrets("istio-system").Get(context.Background(), "shop.checkout-tls", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Fatalf("%s: the certificate is also in istio-system, not only in its gateway namespace (%v)", name, err)
			}
		}
		block, _ := pem.Decode(s.Data[corev1.TLSCertKey])
		if block == nil || s.Type != corev1.SecretTypeTLS || len(s.Data[corev1.TLSPrivateKeyKey]) == 0 {
			t.Fatalf("%s: not a TLS Secret: type %s, keys %d", name, s.Type, len(s.Data))
		}
		leaf, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if leaf.SerialNumber.Text(16) != status.Serial || !leaf.NotAfter.Equal(status.NotAfter.Time) {
			t.Fatalf("%s: serial %s notAfter %v, status says %s %v", name, leaf.SerialNumber.Text(16), leaf.NotAfter, status.Serial, status.NotAfter)
		}
		sans := slices.Clone(leaf.DNSNames)
		slices.Sort(sans)
		if !slices.Equal(sans, hosts) {
			t.Fatalf("%s: SANs %v, want %v", name, sans, hosts)
		}
		for _, h := range hosts {
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: h, Roots: ca.CertPool()}); err != nil {
				t.Fatalf("%s: %s: %v", name, h, err)
			}
		}
		gw, err := f.istio(t, name).NetworkingV1().Gateways("shop").Get(context.Background(), "checkout", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if tls := gw.Spec.Servers[0].GetTls(); tls.GetCredentialName() != "shop.checkout-tls" || tls.GetMode().String() != "SIMPLE" {
			t.Fatalf("%s: Gateway tls = %v", name, tls)
		}
	}
}

// checkEncrypted reads the raw etcd values under prefix whose keys contain
// resource and name and checks they are want AES-CBC ciphertexts, with no PEM
// key in sight.
func checkEncrypted(t *testing.T, endpoint, prefix, resource, name string, want int) {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, kv := range resp.Kvs {
		key := string(kv.Key)
		if !strings.Contains(key, resource) || !strings.HasSuffix(key, "/"+name) {
			continue
		}
		found = append(found, key)
		if !bytes.HasPrefix(kv.Value, []byte(localfed.EncryptedPrefix)) || bytes.Contains(kv.Value, []byte("PRIVATE KEY")) ||
			bytes.Contains(kv.Value, []byte("checkout.example.test")) {
			t.Fatalf("%s is stored in clear: %.80q", key, kv.Value)
		}
	}
	if len(found) != want {
		keys, _ := json.Marshal(found)
		t.Fatalf("found %d keys for %s under %s, want %d: %s", len(found), name, prefix, want, keys)
	}
}
