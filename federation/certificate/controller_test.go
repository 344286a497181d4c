package certificate

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/portico-dev/portico/apis/generated/clientset/versioned/fake"
	"github.com/portico-dev/portico/apis/generated/informers/externalversions"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/certificate/issuer"
	"github.com/portico-dev/portico/federation/certsecret"
)

// fixture is a controller over fake clients whose caches the test fills.
type fixture struct {
	c       *Controller
	pc      *fake.Clientset
	kube    *kubefake.Clientset
	portico externalversions.SharedInformerFactory
	secrets informers.SharedInformerFactory
	now     time.Time
	issued  int
	fail    error
	// tolerate lets sync return an error without failing the test.
	tolerate bool
}

func newFixture(t *testing.T, objs ...*trafficv1alpha1.FederatedAccessPoint) *fixture {
	f := &fixture{kube: kubefake.NewClientset(), now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var stored []runtime.Object
	for _, o := range objs {
		stored = append(stored, o)
	}
	f.pc = fake.NewClientset(stored...) // with server-side apply
	f.portico = externalversions.NewSharedInformerFactory(f.pc, 0)
	f.secrets = informers.NewSharedInformerFactory(f.kube, 0)
	f.c = f.newController()
	for _, o := range objs {
		_ = f.portico.Traffic().V1alpha1().FederatedAccessPoints().Informer().GetIndexer().Add(o)
	}
	traffic := f.portico.Traffic().V1alpha1()
	_ = traffic.CertificateIssuers().Informer().GetIndexer().Add(&trafficv1alpha1.CertificateIssuer{ObjectMeta: metav1.ObjectMeta{Name: "ca"}})
	return f
}

// newController is a controller over the fixture's caches: a second call is
// a new leader, with nothing in memory.
func (f *fixture) newController() *Controller {
	traffic := f.portico.Traffic().V1alpha1()
	c := NewController(f.pc, f.kube, Informers{AccessPoints: traffic.FederatedAccessPoints(), Issuers: traffic.CertificateIssuers(),
		Providers: traffic.DNSProviders(), Secrets: f.secrets.Core().V1().Secrets(), ClusterAccessPoints: traffic.ClusterAccessPoints()}, nil)
	c.now = func() time.Time { return f.now }
	c.newIssuer = func(context.Context, *trafficv1alpha1.CertificateIssuer) (issuer.Issuer, error) { return f, nil }
	return c
}

// Issue is the fake issuer: 90-day certificates from f.now, a new serial each time.
func (f *fixture) Issue(_ context.Context, hosts []string) (*issuer.Certificate, error) {
	if f.fail != nil {
		return nil, f.fail
	}
	f.issued++
	return selfSigned(hosts, f.now, 90*24*time.Hour, int64(f.issued))
}

func selfSigned(hosts []string, now time.Time, lifetime time.Duration, serial int64) (*issuer.Certificate, error) {
	key, keyPEM, err := issuer.GenerateKey()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), DNSNames: hosts, NotBefore: now, NotAfter: now.Add(lifetime)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	return &issuer.Certificate{CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), KeyPEM: keyPEM,
		Serial: tmpl.SerialNumber.Text(16), NotBefore: tmpl.NotBefore, NotAfter: tmpl.NotAfter}, nil
}

// sync runs one sync with the cache holding what the fake API server holds.
func (f *fixture) sync(t *testing.T) time.Duration {
	t.Helper()
	f.refreshSecrets()
	after, err := f.c.syncAccessPoint(context.Background(), "shop", "checkout")
	if err != nil && f.fail == nil && !f.tolerate {
		t.Fatal(err)
	}
	return after
}

// refreshSecrets makes the Secret cache hold what the fake API server holds.
func (f *fixture) refreshSecrets() {
	idx := f.secrets.Core().V1().Secrets().Informer().GetIndexer()
	list, _ := f.kube.CoreV1().Secrets(certsecret.SecretNamespace).List(context.Background(), metav1.ListOptions{})
	for _, s := range idx.List() {
		_ = idx.Delete(s)
	}
	for i := range list.Items {
		_ = idx.Add(&list.Items[i])
	}
}

func (f *fixture) stored(t *testing.T) *certsecret.Stored {
	t.Helper()
	s, err := f.kube.CoreV1().Secrets(certsecret.SecretNamespace).Get(context.Background(), certsecret.SecretName("shop", "checkout"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := certsecret.FromSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func tlsFAP() *trafficv1alpha1.FederatedAccessPoint {
	return &trafficv1alpha1.FederatedAccessPoint{
		ObjectMeta: metav1.ObjectMeta{Name: "checkout", Namespace: "shop"},
		Spec: trafficv1alpha1.FederatedAccessPointSpec{Hosts: []string{"b.example.test", "a.example.test"},
			TLS: &trafficv1alpha1.TLSSpec{IssuerRef: trafficv1alpha1.LocalReference{Name: "ca"}, Mode: trafficv1alpha1.TLSModeSimple}},
	}
}

func TestIssueAndRenewAtTwoThirds(t *testing.T) {
	f := newFixture(t, tlsFAP())
	after := f.sync(t)
	s := f.stored(t)
	if f.issued != 1 || s.Version != 1 || s.Issuer != "ca" || len(s.Hosts) != 2 || s.Hosts[0] != "a.example.test" {
		t.Fatalf("first issue: issued %d, stored %+v", f.issued, s)
	}
	if want := 60 * 24 * time.Hour; after != want {
		t.Fatalf("next look in %v, want two thirds of 90 days (%v)", after, want)
	}
	// Nothing to do before two thirds of the lifetime.
	f.now = f.now.Add(59 * 24 * time.Hour)
	f.sync(t)
	if f.issued != 1 {
		t.Fatal("reissued before two thirds of its lifetime")
	}
	f.now = f.now.Add(24 * time.Hour)
	f.sync(t)
	if s2 := f.stored(t); f.issued != 2 || s2.Version != 2 || s2.Serial == s.Serial {
		t.Fatalf("renewal at two thirds: issued %d, stored %+v", f.issued, s2)
	}
}

func TestReissueOnHostsIssuerAndRequest(t *testing.T) {
	fap := tlsFAP()
	f := newFixture(t, fap)
	f.sync(t)
	indexer := f.portico.Traffic().V1alpha1().FederatedAccessPoints().Informer().GetIndexer()
	for i, mutate := range []func(*trafficv1alpha1.FederatedAccessPoint){
		func(ap *trafficv1alpha1.FederatedAccessPoint) {
			ap.Spec.Hosts = append(ap.Spec.Hosts, "c.example.test")
		},
		func(ap *trafficv1alpha1.FederatedAccessPoint) {
			ap.Annotations = map[string]string{certsecret.AnnotationRenew: "now"}
		},
	} {
		mutate(fap)
		_ = indexer.Update(fap)
		f.sync(t)
		if f.issued != i+2 || f.stored(t).Version != int64(i+2) {
			t.Fatalf("change %d: issued %d, version %d", i, f.issued, f.stored(t).Version)
		}
		f.sync(t) // and only once
		if f.issued != i+2 {
			t.Fatalf("change %d reissued twice", i)
		}
	}
}

func TestFailureRecordedAndCleared(t *testing.T) {
	f := newFixture(t, tlsFAP())
	f.fail = errors.New("CA expired")
	f.sync(t)
	if got := f.c.failureOf(tlsFAP()); got == nil || got.Reason != ReasonIssuanceFailed || got.Message != "CertificateIssuer ca: CA expired" {
		t.Fatalf("failure = %+v", got)
	}
	if f.c.queue.Len() != 1 {
		t.Fatalf("a new failure must ask for a status report once; queue holds %d", f.c.queue.Len())
	}
	key, _ := f.c.queue.Get()
	f.c.queue.Done(key)
	f.sync(t) // the same failure again: nothing new to report
	if f.c.queue.Len() != 0 {
		t.Fatalf("the same failure asked for another report; queue holds %d", f.c.queue.Len())
	}
	f.fail = nil
	f.sync(t)
	if got := f.c.failureOf(tlsFAP()); got != nil {
		t.Fatalf("failure %+v not cleared by a successful issue", got)
	}
}

func TestSecretDeletedWithTLS(t *testing.T) {
	fap := tlsFAP()
	f := newFixture(t, fap)
	f.sync(t)
	fap.Spec.TLS = nil
	_ = f.portico.Traffic().V1alpha1().FederatedAccessPoints().Informer().GetIndexer().Update(fap)
	f.sync(t)
	if _, err := f.kube.CoreV1().Secrets(certsecret.SecretNamespace).Get(context.Background(), certsecret.SecretName("shop", "checkout"), metav1.GetOptions{}); err == nil {
		t.Fatal("certificate kept after spec.tls was removed")
	}
}

func TestReissueWhenIssuerChanges(t *testing.T) {
	f := newFixture(t, tlsFAP())
	issuers := f.portico.Traffic().V1alpha1().CertificateIssuers().Informer().GetIndexer()
	_ = issuers.Update(&trafficv1alpha1.CertificateIssuer{ObjectMeta: metav1.ObjectMeta{Name: "ca", UID: "u1", Generation: 1}})
	f.sync(t)
	f.sync(t)
	if f.issued != 1 {
		t.Fatalf("issued %d, want 1", f.issued)
	}
	_ = issuers.Update(&trafficv1alpha1.CertificateIssuer{ObjectMeta: metav1.ObjectMeta{Name: "ca", UID: "u1", Generation: 2}})
	f.sync(t)
	if f.issued != 2 || f.stored(t).Version != 2 {
		t.Fatalf("a changed issuer configuration must reissue: issued %d", f.issued)
	}
}

// TestWriteFailureKeepsCertificate: when the Secret cannot be written, the
// retry writes the certificate already issued instead of ordering another.
func TestWriteFailureKeepsCertificate(t *testing.T) {
	f := newFixture(t, tlsFAP())
	f.kube.PrependReactor("create", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("etcd is down")
	})
	f.tolerate = true
	f.sync(t)
	if got := f.c.failureOf(tlsFAP()); got == nil || got.Reason != ReasonSecretWriteFail || f.issued != 1 {
		t.Fatalf("failure %+v, issued %d", got, f.issued)
	}
	f.kube.ReactionChain = f.kube.ReactionChain[1:]
	f.sync(t)
	if f.issued != 1 || f.stored(t).Serial != "1" {
		t.Fatalf("retry ordered a new certificate: issued %d", f.issued)
	}
}
