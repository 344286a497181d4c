package dns

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/portico-dev/portico/apis/generated/clientset/versioned/fake"
	trafficlisters "github.com/portico-dev/portico/apis/generated/listers/traffic/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/dns/rfc2136"
	"github.com/portico-dev/portico/federation/inuse"
)

// fakeServer is a DNS server with the provider's ownership rules.
type fakeServer struct {
	mu       sync.Mutex
	names    map[string]fakeName
	applyErr error
	delErr   error
	probeErr error
	applies  int
	deletes  int
	secret   string
}

type fakeName struct {
	owner   string
	ttl     uint32
	records []rfc2136.Record
}

func (s *fakeServer) Apply(_ context.Context, fqdn string, ttl uint32, records []rfc2136.Record, owner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applies++
	if s.applyErr != nil {
		return s.applyErr
	}
	if n, ok := s.names[canonical(fqdn)]; ok && n.owner != owner {
		return fmt.Errorf("%w: %s is held by %s", rfc2136.ErrNotOwner, fqdn, n.owner)
	}
	s.names[canonical(fqdn)] = fakeName{owner: owner, ttl: ttl, records: slices.Clone(records)}
	return nil
}

func (s *fakeServer) Delete(_ context.Context, fqdn, owner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deletes++
	if s.delErr != nil {
		return s.delErr
	}
	if n, ok := s.names[canonical(fqdn)]; ok && n.owner == owner {
		delete(s.names, canonical(fqdn))
	}
	return nil
}

func (s *fakeServer) Probe(context.Context) error { return s.probeErr }

func (s *fakeServer) get(fqdn string) (fakeName, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.names[canonical(fqdn)]
	return n, ok
}

type fixture struct {
	t        *testing.T
	client   *fake.Clientset
	names    cache.Indexer
	provs    cache.Indexer
	aps      cache.Indexer
	issuers  cache.Indexer
	secrets  cache.Indexer
	servers  map[string]*fakeServer // by spec.server
	recorder *record.FakeRecorder
	c        *Controller
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	idx := func() cache.Indexer {
		return cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	}
	f := &fixture{t: t, names: idx(), provs: idx(), aps: idx(), issuers: idx(), secrets: idx(),
		servers: map[string]*fakeServer{}, recorder: record.NewFakeRecorder(100)}
	var portico []runtime.Object
	for _, o := range objs {
		if _, ok := o.(*corev1.Secret); !ok {
			portico = append(portico, o)
		}
		f.store(o)
	}
	f.client = fake.NewSimpleClientset(portico...)
	newProvider := func(spec *trafficv1alpha1.RFC2136Provider, secret string) (Provider, error) {
		s := f.server(spec.Server)
		s.secret = secret
		return s, nil
	}
	f.c = newController(f.client, trafficlisters.NewNameServiceLister(f.names), trafficlisters.NewDNSProviderLister(f.provs),
		trafficlisters.NewFederatedAccessPointLister(f.aps), trafficlisters.NewCertificateIssuerLister(f.issuers),
		corelisters.NewSecretLister(f.secrets), newProvider, f.recorder)
	f.c.now = func() time.Time { return time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC) }
	return f
}

func (f *fixture) server(addr string) *fakeServer {
	if f.servers[addr] == nil {
		f.servers[addr] = &fakeServer{names: map[string]fakeName{}}
	}
	return f.servers[addr]
}

func (f *fixture) store(o runtime.Object) {
	f.t.Helper()
	var idx cache.Indexer
	switch o.(type) {
	case *trafficv1alpha1.NameService:
		idx = f.names
	case *trafficv1alpha1.DNSProvider:
		idx = f.provs
	case *trafficv1alpha1.FederatedAccessPoint:
		idx = f.aps
	case *trafficv1alpha1.CertificateIssuer:
		idx = f.issuers
	case *corev1.Secret:
		idx = f.secrets
	}
	if err := idx.Update(o); err != nil {
		f.t.Fatal(err)
	}
}

// syncName runs one reconcile of a NameService, feeds what was written back
// into the cache and returns the sync's error and the API writes it made.
func (f *fixture) syncName(key string) (error, []string) {
	f.t.Helper()
	before := len(f.client.Actions())
	err := f.c.syncNameService(context.Background(), key)
	var writes []string
	for _, a := range f.client.Actions()[before:] {
		writes = append(writes, strings.TrimSuffix(a.GetVerb()+"/"+a.GetSubresource(), "/"))
	}
	namespace, name, _ := cache.SplitMetaNamespaceKey(key)
	if ns, gerr := f.client.TrafficV1alpha1().NameServices(namespace).Get(context.Background(), name, metav1.GetOptions{}); gerr == nil {
		f.store(ns)
	}
	return err, writes
}

func (f *fixture) mustSync(key string) []string {
	f.t.Helper()
	err, writes := f.syncName(key)
	if err != nil {
		f.t.Fatalf("sync %s: %v", key, err)
	}
	return writes
}

func (f *fixture) nameService(key string) *trafficv1alpha1.NameService {
	f.t.Helper()
	namespace, name, _ := cache.SplitMetaNamespaceKey(key)
	ns, err := f.client.TrafficV1alpha1().NameServices(namespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return ns
}

// published checks the Published condition's status and reason.
func (f *fixture) published(key string, status metav1.ConditionStatus, reason string) *trafficv1alpha1.NameService {
	f.t.Helper()
	ns := f.nameService(key)
	c := meta.FindStatusCondition(ns.Status.Conditions, trafficv1alpha1.NameServicePublished)
	if c == nil || c.Status != status || c.Reason != reason {
		f.t.Fatalf("Published = %+v, want %s %s", c, status, reason)
	}
	return ns
}

// provider is a DNSProvider as the controller keeps it: with its in-use
// finalizer.
func provider(name, server string) *trafficv1alpha1.DNSProvider {
	return &trafficv1alpha1.DNSProvider{ObjectMeta: metav1.ObjectMeta{Name: name, Generation: 1, Finalizers: []string{inuse.TrafficFinalizer}},
		Spec: trafficv1alpha1.DNSProviderSpec{RFC2136: &trafficv1alpha1.RFC2136Provider{Server: server, Zone: "example.test",
			TSIGKeyName: "portico", TSIGAlgorithm: "hmac-sha256", TSIGSecretRef: &trafficv1alpha1.SecretKeyReference{Name: "tsig"}}}}
}

func tsigSecret(value string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: SecretNamespace, Name: "tsig"},
		Data: map[string][]byte{DefaultSecretKey: []byte(value + "\n")}}
}

func nameService(fqdn string, target trafficv1alpha1.NameServiceTarget) *trafficv1alpha1.NameService {
	return &trafficv1alpha1.NameService{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", Generation: 1},
		Spec: trafficv1alpha1.NameServiceSpec{FQDN: fqdn, ProviderRef: trafficv1alpha1.LocalReference{Name: "bind"}, Target: target}}
}

func accessPoint(vip string) *trafficv1alpha1.FederatedAccessPoint {
	ap := &trafficv1alpha1.FederatedAccessPoint{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "front"}}
	if vip != "" {
		ap.Status.VIP = &trafficv1alpha1.VIPStatus{Address: vip}
	}
	return ap
}

var apTarget = trafficv1alpha1.NameServiceTarget{AccessPointRef: &trafficv1alpha1.LocalReference{Name: "front"}}

func TestPublishAddresses(t *testing.T) {
	ns := nameService("web.example.test", trafficv1alpha1.NameServiceTarget{Addresses: []string{"192.0.2.1", "2001:db8::1"}})
	ns.Spec.TTL = new(int32(60))
	f := newFixture(t, provider("bind", "dns:53"), tsigSecret("c2VjcmV0"), ns)

	writes := f.mustSync("shop/web")
	if !slices.Equal(writes, []string{"update", "update/status"}) {
		t.Fatalf("writes = %v, want the finalizer and annotation, then status", writes)
	}
	s := f.server("dns:53")
	got, ok := s.get("web.example.test")
	want := []rfc2136.Record{{Type: "A", Value: "192.0.2.1"}, {Type: "AAAA", Value: "2001:db8::1"}}
	if !ok || got.owner != "shop/web" || got.ttl != 60 || !slices.Equal(got.records, want) || s.secret != "c2VjcmV0" {
		t.Fatalf("server has %+v (secret %q)", got, s.secret)
	}
	ns = f.published("shop/web", metav1.ConditionTrue, ReasonPublished)
	if len(ns.Status.Records) != 2 || ns.Status.Records[1] != (trafficv1alpha1.DNSRecord{Type: "AAAA", Value: "2001:db8::1"}) ||
		ns.Status.LastSyncTime == nil || ns.Status.ObservedGeneration != 1 {
		t.Fatalf("status = %+v", ns.Status)
	}
	if !slices.Contains(ns.Finalizers, Finalizer) || ns.Annotations[PublishedAnnotation] != "bind/web.example.test" {
		t.Fatalf("metadata = %+v", ns.ObjectMeta)
	}
	// A resync applies again (repairing drift) but writes nothing to the API.
	if writes := f.mustSync("shop/web"); len(writes) != 0 || s.applies != 2 {
		t.Fatalf("resync wrote %v (applies %d)", writes, s.applies)
	}
	if ev := <-f.recorder.Events; !strings.HasPrefix(ev, "Normal Published") {
		t.Fatalf("event %q", ev)
	}
}

func TestFollowsAccessPointVIP(t *testing.T) {
	f := newFixture(t, provider("bind", "dns:53"), tsigSecret("c2VjcmV0"), accessPoint(""), nameService("web.example.test", apTarget))
	s := f.server("dns:53")

	f.mustSync("shop/web")
	ns := f.published("shop/web", metav1.ConditionFalse, ReasonTargetNotReady)
	if s.applies != 0 || len(ns.Finalizers) != 0 || len(ns.Status.Records) != 0 {
		t.Fatalf("published before the VIP: %+v", ns)
	}

	f.store(accessPoint("203.0.113.10"))
	f.mustSync("shop/web")
	f.published("shop/web", metav1.ConditionTrue, ReasonPublished)
	if got, _ := s.get("web.example.test"); len(got.records) != 1 || got.records[0].Value != "203.0.113.10" || got.ttl != 30 {
		t.Fatalf("server has %+v", got)
	}

	// The VIP changes: the update event queues the NameService, the sync follows.
	f.c.accessPointUpdated(accessPoint("203.0.113.10"), accessPoint("203.0.113.11"))
	f.c.accessPointUpdated(accessPoint("203.0.113.11"), accessPoint("203.0.113.11"))
	if f.c.names.Len() != 1 {
		t.Fatalf("queued %d NameServices, want 1", f.c.names.Len())
	}
	f.store(accessPoint("203.0.113.11"))
	f.mustSync("shop/web")
	ns = f.published("shop/web", metav1.ConditionTrue, ReasonPublished)
	if got, _ := s.get("web.example.test"); got.records[0].Value != "203.0.113.11" || ns.Status.Records[0].Value != "203.0.113.11" {
		t.Fatalf("server has %+v, status %+v", got, ns.Status.Records)
	}

	// The access point goes away: the name is withdrawn.
	if err := f.aps.Delete(accessPoint("")); err != nil {
		t.Fatal(err)
	}
	f.mustSync("shop/web")
	ns = f.published("shop/web", metav1.ConditionFalse, ReasonTargetNotReady)
	if _, ok := s.get("web.example.test"); ok || len(ns.Status.Records) != 0 || ns.Annotations[PublishedAnnotation] != "" {
		t.Fatalf("not withdrawn: %+v", ns)
	}
}

func TestProviderProblemsChangeNothing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		objs   []runtime.Object
		fqdn   string
		reason string
	}{
		{"no provider", nil, "web.example.test", ReasonProviderNotFound},
		{"no secret", []runtime.Object{provider("bind", "dns:53")}, "web.example.test", ReasonSecretNotFound},
		{"no key", []runtime.Object{provider("bind", "dns:53"), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: SecretNamespace, Name: "tsig"}}},
			"web.example.test", ReasonSecretNotFound},
		{"secret elsewhere", []runtime.Object{provider("bind", "dns:53"), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "tsig"},
			Data: map[string][]byte{"secret": []byte("c2VjcmV0")}}}, "web.example.test", ReasonSecretNotFound},
		{"outside the zone", []runtime.Object{provider("bind", "dns:53"), tsigSecret("c2VjcmV0")}, "web.example.org", ReasonNotInZone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := append(tc.objs, nameService(tc.fqdn, trafficv1alpha1.NameServiceTarget{CNAME: "edge.example.net"}))
			f := newFixture(t, objs...)
			if writes := f.mustSync("shop/web"); !slices.Equal(writes, []string{"update/status"}) {
				t.Fatalf("writes = %v", writes)
			}
			ns := f.published("shop/web", metav1.ConditionFalse, tc.reason)
			if len(ns.Finalizers) != 0 || f.server("dns:53").applies != 0 {
				t.Fatalf("changed DNS or metadata: %+v", ns.ObjectMeta)
			}
			t.Log(meta.FindStatusCondition(ns.Status.Conditions, trafficv1alpha1.NameServicePublished).Message)
		})
	}
}

func TestNotOwnerAndServerErrors(t *testing.T) {
	f := newFixture(t, provider("bind", "dns:53"), tsigSecret("c2VjcmV0"),
		nameService("web.example.test", trafficv1alpha1.NameServiceTarget{CNAME: "edge.example.net"}))
	s := f.server("dns:53")
	s.names["web.example.test"] = fakeName{owner: "someone-else", records: []rfc2136.Record{{Type: "A", Value: "198.51.100.7"}}}

	if err, _ := f.syncName("shop/web"); !errors.Is(err, rfc2136.ErrNotOwner) {
		t.Fatalf("sync = %v, want a retry with ErrNotOwner", err)
	}
	ns := f.published("shop/web", metav1.ConditionFalse, ReasonNotOwner)
	if got, _ := s.get("web.example.test"); got.owner != "someone-else" || len(ns.Status.Records) != 0 {
		t.Fatalf("foreign record changed: %+v", got)
	}

	delete(s.names, "web.example.test")
	s.applyErr = &rfc2136.RcodeError{Server: "dns:53", Op: "update web.example.test.", Rcode: 9, TSIGError: 16}
	err, _ := f.syncName("shop/web")
	if err == nil {
		t.Fatal("sync succeeded with a failing server")
	}
	ns = f.published("shop/web", metav1.ConditionFalse, ReasonUpdateFailed)
	msg := meta.FindStatusCondition(ns.Status.Conditions, trafficv1alpha1.NameServicePublished).Message
	if !strings.Contains(msg, "NOTAUTH") || !strings.Contains(msg, "BADSIG") {
		t.Fatalf("message %q does not carry the server's reason", msg)
	}
	// The same failure again writes no status.
	if err, writes := f.syncName("shop/web"); err == nil || len(writes) != 0 {
		t.Fatalf("second failure: %v, writes %v", err, writes)
	}

	s.applyErr = nil
	f.mustSync("shop/web")
	f.published("shop/web", metav1.ConditionTrue, ReasonPublished)
}

func TestMovesAndDeletes(t *testing.T) {
	f := newFixture(t, provider("bind", "dns:53"), provider("other", "dns2:53"), tsigSecret("c2VjcmV0"),
		nameService("web.example.test", trafficv1alpha1.NameServiceTarget{Addresses: []string{"192.0.2.1"}}))
	s, s2 := f.server("dns:53"), f.server("dns2:53")
	f.mustSync("shop/web")

	// A new name: the old one is removed, the new one published.
	ns := f.nameService("shop/web")
	ns.Spec.FQDN, ns.Generation = "www.example.test", 2
	f.store(ns)
	f.mustSync("shop/web")
	if _, ok := s.get("web.example.test"); ok {
		t.Fatal("old name left")
	}
	if _, ok := s.get("www.example.test"); !ok {
		t.Fatal("new name missing")
	}

	// Another provider: removed from the first server.
	ns = f.nameService("shop/web")
	ns.Spec.ProviderRef.Name, ns.Generation = "other", 3
	f.store(ns)
	f.mustSync("shop/web")
	if _, ok := s.get("www.example.test"); ok {
		t.Fatal("left on the old provider")
	}
	if _, ok := s2.get("www.example.test"); !ok || f.nameService("shop/web").Annotations[PublishedAnnotation] != "other/www.example.test" {
		t.Fatal("not on the new provider")
	}

	// Deletion with a failing server keeps the finalizer and retries.
	ns = f.nameService("shop/web")
	ns.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	f.store(ns)
	s2.delErr = errors.New("connection refused")
	if err, _ := f.syncName("shop/web"); err == nil || !slices.Contains(f.nameService("shop/web").Finalizers, Finalizer) {
		t.Fatalf("deletion went through a failing server: %v", err)
	}
	f.published("shop/web", metav1.ConditionFalse, ReasonUpdateFailed)
	s2.delErr = nil
	f.mustSync("shop/web")
	if _, ok := s2.get("www.example.test"); ok || len(f.nameService("shop/web").Finalizers) != 0 {
		t.Fatal("records or finalizer left after deletion")
	}
}

func TestDeletionWithoutProvider(t *testing.T) {
	ns := nameService("web.example.test", trafficv1alpha1.NameServiceTarget{Addresses: []string{"192.0.2.1"}})
	ns.Finalizers = []string{Finalizer}
	ns.Annotations = map[string]string{PublishedAnnotation: "gone/web.example.test"}
	ns.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	f := newFixture(t, ns)
	f.mustSync("shop/web")
	if got := f.nameService("shop/web"); len(got.Finalizers) != 0 {
		t.Fatalf("finalizer kept although the provider is gone: %+v", got.ObjectMeta)
	}
	if ev := <-f.recorder.Events; !strings.Contains(ev, "RecordsLeft") {
		t.Fatalf("event %q", ev)
	}
}

func TestProbe(t *testing.T) {
	f := newFixture(t, provider("bind", "dns:53"))
	probe := func() trafficv1alpha1.ProbeStatus {
		t.Helper()
		before := len(f.client.Actions())
		if err := f.c.syncProvider(context.Background(), "bind"); err != nil {
			t.Fatal(err)
		}
		p, err := f.client.TrafficV1alpha1().DNSProviders().Get(context.Background(), "bind", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		f.store(p)
		if n := len(f.client.Actions()) - before; n > 2 {
			t.Fatalf("%d actions", n)
		}
		return p.Status
	}
	ready := func(st trafficv1alpha1.ProbeStatus, status metav1.ConditionStatus, reason string) {
		t.Helper()
		c := meta.FindStatusCondition(st.Conditions, trafficv1alpha1.ConditionReady)
		if c == nil || c.Status != status || c.Reason != reason {
			t.Fatalf("Ready = %+v, want %s %s", c, status, reason)
		}
	}
	ready(probe(), metav1.ConditionFalse, ReasonSecretNotFound)
	f.store(tsigSecret("c2VjcmV0"))
	f.server("dns:53").probeErr = errors.New("probe update of example.test.: server dns:53 answered NOTAUTH (TSIG error BADSIG)")
	ready(probe(), metav1.ConditionFalse, ReasonProbeFailed)
	f.server("dns:53").probeErr = nil
	ready(probe(), metav1.ConditionTrue, ReasonProbeSucceeded)
	before := len(f.client.Actions())
	probe()
	if writes := len(f.client.Actions()) - before; writes != 1 { // the Get above
		t.Fatalf("an unchanged probe wrote status (%d actions)", writes)
	}
}

func TestEventFilters(t *testing.T) {
	f := newFixture(t, provider("bind", "dns:53"), tsigSecret("c2VjcmV0"), accessPoint("203.0.113.10"),
		nameService("web.example.test", apTarget))
	ns := nameService("web.example.test", apTarget)
	ns.ResourceVersion = "1"
	statusOnly := ns.DeepCopy()
	statusOnly.ResourceVersion = "2"
	statusOnly.Status.Records = []trafficv1alpha1.DNSRecord{{Type: "A", Value: "203.0.113.10"}}
	f.c.nameServiceUpdated(ns, statusOnly)
	if f.c.names.Len() != 0 {
		t.Fatal("a status-only update was queued")
	}
	f.c.nameServiceUpdated(ns, ns) // resync
	f.c.secretChanged(tsigSecret("bmV3"))
	if f.c.names.Len() != 1 || f.c.probes.Len() != 1 {
		t.Fatalf("queued %d names, %d probes", f.c.names.Len(), f.c.probes.Len())
	}
	other := tsigSecret("x")
	other.Name = "unrelated"
	f.c.secretChanged(other)
	if f.c.probes.Len() != 1 {
		t.Fatal("an unrelated Secret queued a probe")
	}
}

func TestAccessPointStatus(t *testing.T) {
	ap := accessPoint("203.0.113.10")
	web := nameService("web.example.test", apTarget)
	www := nameService("www.example.test", apTarget)
	www.Name = "www"
	other := nameService("other.example.test", trafficv1alpha1.NameServiceTarget{Addresses: []string{"192.0.2.1"}})
	other.Name = "other"
	if st, cond := AccessPointStatus(ap, []*trafficv1alpha1.NameService{other}); st != nil || cond != nil {
		t.Fatalf("no NameService targets it: %+v %+v", st, cond)
	}
	meta.SetStatusCondition(&web.Status.Conditions, metav1.Condition{Type: trafficv1alpha1.NameServicePublished, Status: metav1.ConditionTrue, Reason: ReasonPublished})
	st, cond := AccessPointStatus(ap, []*trafficv1alpha1.NameService{www, web, other})
	if st.Published || !slices.Equal(st.FQDNs, []string{"web.example.test", "www.example.test"}) || st.Provider != "bind" ||
		cond.Status != metav1.ConditionFalse || cond.Type != trafficv1alpha1.AccessPointDNSReady || !strings.Contains(cond.Message, "www") {
		t.Fatalf("status %+v, condition %+v", st, cond)
	}
	meta.SetStatusCondition(&www.Status.Conditions, metav1.Condition{Type: trafficv1alpha1.NameServicePublished, Status: metav1.ConditionTrue, Reason: ReasonPublished})
	if st, cond := AccessPointStatus(ap, []*trafficv1alpha1.NameService{www, web}); !st.Published || cond.Status != metav1.ConditionTrue {
		t.Fatalf("status %+v, condition %+v", st, cond)
	}
}
