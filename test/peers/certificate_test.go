//go:build dns

package peers

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/certificate"
	"github.com/portico-dev/portico/federation/certificate/issuer"
	"github.com/portico-dev/portico/federation/certsecret"
	"github.com/portico-dev/portico/test/framework"
)

// TestACMECertificatesFederated runs the whole certificate path with real
// parts: portico-hub's controllers order the certificate of an access point
// from pebble, solving DNS-01 through a DNSProvider on the test's BIND (which
// pebble queries), and deliver it to two real member clusters, where the
// member-agents install it as the Secret the Gateway references. A forced
// renewal bumps the version and replaces the Secret everywhere.
func TestACMECertificatesFederated(t *testing.T) {
	bin, certs := requirePebble(t)
	b := startBIND(t)
	p := startPebble(t, bin, certs, b.Addr)
	root := p.root(t)

	hub := framework.NewHubCluster(t)
	framework.NewPorticoHub(t, hub, framework.PorticoHubOptions{})
	members := map[string]*framework.MemberCluster{}
	for name, zone := range map[string]string{"zone-a-1": "zone-a", "zone-b-1": "zone-b"} {
		members[name] = framework.NewMemberCluster(t, name)
		framework.NewMemberAgent(t, hub, members[name], framework.MemberAgentOptions{Zone: zone, Region: "r1", HeartbeatInterval: time.Second})
	}
	pc := versioned.NewForConfigOrDie(hub.RestConfig)
	kube := kubernetes.NewForConfigOrDie(hub.RestConfig)
	ctx := context.Background()
	for name := range members {
		framework.Eventually(t, 60*time.Second, name+" Available", func() (bool, string) {
			mc, err := pc.ClusterV1alpha1().MemberClusters().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return meta.IsStatusConditionTrue(mc.Status.Conditions, clusterv1alpha1.MemberClusterAvailable), fmt.Sprint(mc.Status.Conditions)
		})
	}
	must(t, createNamespace(ctx, kube, "shop"))
	_, err := kube.CoreV1().Secrets(certsecret.SecretNamespace).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "bind-tsig"}, Data: map[string][]byte{"secret": []byte(b.Secret)}}, metav1.CreateOptions{})
	must(t, err)
	_, err = pc.TrafficV1alpha1().DNSProviders().Create(ctx, &trafficv1alpha1.DNSProvider{
		ObjectMeta: metav1.ObjectMeta{Name: "bind"},
		Spec: trafficv1alpha1.DNSProviderSpec{RFC2136: &trafficv1alpha1.RFC2136Provider{
			Server: b.Addr, Zone: strings.TrimSuffix(bindZone, "."), TSIGKeyName: bindKey,
			TSIGSecretRef: &trafficv1alpha1.SecretKeyReference{Name: "bind-tsig"}}},
	}, metav1.CreateOptions{})
	must(t, err)
	_, err = pc.TrafficV1alpha1().CertificateIssuers().Create(ctx, &trafficv1alpha1.CertificateIssuer{
		ObjectMeta: metav1.ObjectMeta{Name: "pebble"},
		Spec: trafficv1alpha1.CertificateIssuerSpec{ACME: &trafficv1alpha1.ACMEIssuer{
			Server: p.DirURL, Email: "hostmaster@example.test", CABundle: p.CABundle,
			PrivateKeySecretRef: trafficv1alpha1.SecretKeyReference{Name: "pebble-account"},
			DNS01:               trafficv1alpha1.DNS01Solver{ProviderRef: trafficv1alpha1.LocalReference{Name: "bind"}},
		}},
	}, metav1.CreateOptions{})
	must(t, err)
	framework.Eventually(t, 30*time.Second, "CertificateIssuer pebble Ready", func() (bool, string) {
		ci, err := pc.TrafficV1alpha1().CertificateIssuers().Get(ctx, "pebble", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return meta.IsStatusConditionTrue(ci.Status.Conditions, trafficv1alpha1.ConditionReady), fmt.Sprint(ci.Status.Conditions)
	})
	// The hub created the ACME account key it was told to keep.
	account, err := kube.CoreV1().Secrets(certsecret.SecretNamespace).Get(ctx, "pebble-account", metav1.GetOptions{})
	must(t, err)
	if _, err := issuer.ParseKey(account.Data[certificate.DefaultAccountKeyKey]); err != nil {
		t.Fatalf("account key: %v", err)
	}

	hosts := []string{"shop.example.test", "www.shop.example.test"}
	gateway := `{"servers":[{"port":{"number":443,"name":"https","protocol":"HTTPS"},"hosts":["shop.example.test","www.shop.example.test"]}]}`
	_, err = pc.TrafficV1alpha1().FederatedAccessPoints("shop").Create(ctx, &trafficv1alpha1.FederatedAccessPoint{
		ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "shop"},
		Spec: trafficv1alpha1.FederatedAccessPointSpec{Hosts: hosts,
			Template: trafficv1alpha1.AccessPointTemplate{Gateway: &trafficv1alpha1.JSONObject{Raw: []byte(gateway)}},
			TLS:      &trafficv1alpha1.TLSSpec{IssuerRef: trafficv1alpha1.LocalReference{Name: "pebble"}}},
	}, metav1.CreateOptions{})
	must(t, err)

	v1 := waitInstalled(t, pc, 1)
	checkMemberCertificates(t, members, v1, hosts, root)

	must(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ap, err := pc.TrafficV1alpha1().FederatedAccessPoints("shop").Get(ctx, "shop", metav1.GetOptions{})
		if err != nil {
			return err
		}
		ap.Annotations = map[string]string{certsecret.AnnotationRenew: time.Now().Format(time.RFC3339Nano)}
		_, err = pc.TrafficV1alpha1().FederatedAccessPoints("shop").Update(ctx, ap, metav1.UpdateOptions{})
		return err
	}))
	v2 := waitInstalled(t, pc, 2)
	if v2.Serial == v1.Serial {
		t.Fatalf("renewal kept serial %s", v1.Serial)
	}
	checkMemberCertificates(t, members, v2, hosts, root)

	// The challenges were cleaned up.
	for _, h := range hosts {
		if got, _ := b.values(t, issuer.ChallengeName(h), dns.TypeTXT); len(got) != 0 {
			t.Errorf("challenge TXT left at %s: %v", issuer.ChallengeName(h), got)
		}
	}
}

// waitInstalled waits for the certificate version to be installed on both
// clusters with CertificateReady and Ready True.
func waitInstalled(t *testing.T, pc versioned.Interface, version int64) *trafficv1alpha1.CertificateStatus {
	t.Helper()
	var cert *trafficv1alpha1.CertificateStatus
	framework.Eventually(t, 90*time.Second, fmt.Sprintf("certificate version %d installed on both clusters", version), func() (bool, string) {
		ap, err := pc.TrafficV1alpha1().FederatedAccessPoints("shop").Get(context.Background(), "shop", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		cert = ap.Status.Certificate
		return cert != nil && cert.Version == version && slices.Equal(cert.InstalledClusters, []string{"zone-a-1", "zone-b-1"}) &&
				meta.IsStatusConditionTrue(ap.Status.Conditions, trafficv1alpha1.AccessPointCertificateReady) &&
				meta.IsStatusConditionTrue(ap.Status.Conditions, trafficv1alpha1.ConditionReady),
			fmt.Sprintf("certificate %+v, conditions %+v", cert, ap.Status.Conditions)
	})
	return cert
}

// checkMemberCertificates reads the Secret in each member cluster: the
// certificate the status reports, for the hosts, chaining to pebble's root.
func checkMemberCertificates(t *testing.T, members map[string]*framework.MemberCluster, status *trafficv1alpha1.CertificateStatus,
	hosts []string, root *x509.Certificate) {
	t.Helper()
	for name, m := range members {
		s, err := kubernetes.NewForConfigOrDie(m.RestConfig).CoreV1().Secrets("istio-system").Get(context.Background(), "shop.shop-tls", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		c, err := issuer.Parse(s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c.Serial != status.Serial {
			t.Fatalf("%s: serial %s, status says %s", name, c.Serial, status.Serial)
		}
		checkACMECert(t, c, hosts, root)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func createNamespace(ctx context.Context, kube kubernetes.Interface, name string) error {
	_, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	return err
}
