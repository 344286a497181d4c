//go:build dns

// The DNS tier (build tag dns): a real BIND 9 started by the test on 127.0.0.1
// (TSIG, RFC 2136 updates), checked with plain DNS queries. TestBINDProvider
// drives the rfc2136 provider directly; TestBINDNameServices runs the hub's DNS
// controller against a real hub (kube-apiserver + portico-hub) and that BIND.
// named comes from hack/install-bind.sh; the test skips without it (fails with
// CI=true).

package peers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	"github.com/portico-dev/portico/apis/generated/informers/externalversions"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	dnscontroller "github.com/portico-dev/portico/federation/dns"
	"github.com/portico-dev/portico/federation/dns/rfc2136"
	"github.com/portico-dev/portico/test/framework"
)

func (b *bindServer) client(secret string) *rfc2136.Client {
	return &rfc2136.Client{Server: b.Addr, Zone: bindZone, KeyName: bindKey, Algorithm: "hmac-sha256", Secret: secret}
}

func TestBINDProvider(t *testing.T) {
	b := startBIND(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := b.client(b.Secret)
	const owner = "shop/web"
	name := "web." + strings.TrimSuffix(bindZone, ".")

	serial := b.mustSerial(t)
	if err := c.Probe(ctx); err != nil {
		t.Fatalf("Probe: %v", err)
	}
	if got := b.mustSerial(t); got != serial {
		t.Fatalf("Probe changed the zone (serial %d -> %d)", serial, got)
	}

	t.Run("CreateChangeDelete", func(t *testing.T) {
		start := time.Now()
		if err := c.Apply(ctx, name, 30, []rfc2136.Record{{Type: "A", Value: "192.0.2.10"}}, owner); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		t.Logf("create: %v", time.Since(start).Round(time.Microsecond))
		b.expect(t, name, dns.TypeA, 30, "192.0.2.10")
		b.expect(t, rfc2136.OwnerName(name), dns.TypeTXT, 0, "[heritage=portico,owner=shop/web]")

		serial := b.mustSerial(t)
		if err := c.Apply(ctx, name, 30, []rfc2136.Record{{Type: "A", Value: "192.0.2.10"}}, owner); err != nil {
			t.Fatalf("Apply again: %v", err)
		}
		if got := b.mustSerial(t); got != serial {
			t.Errorf("an unchanged Apply changed the zone (serial %d -> %d)", serial, got)
		}

		start = time.Now()
		recs := []rfc2136.Record{{Type: "A", Value: "192.0.2.11"}, {Type: "AAAA", Value: "2001:db8::11"}}
		if err := c.Apply(ctx, name, 60, recs, owner); err != nil {
			t.Fatalf("Apply (change): %v", err)
		}
		t.Logf("change: %v", time.Since(start).Round(time.Microsecond))
		b.expect(t, name, dns.TypeA, 60, "192.0.2.11")
		b.expect(t, name, dns.TypeAAAA, 60, "2001:db8::11")

		if err := c.Apply(ctx, name, 60, []rfc2136.Record{{Type: "CNAME", Value: "edge.example.net"}}, owner); err != nil {
			t.Fatalf("Apply (CNAME): %v", err)
		}
		b.expect(t, name, dns.TypeCNAME, 60, "edge.example.net.")
		b.expect(t, name, dns.TypeAAAA, 0)

		start = time.Now()
		if err := c.Delete(ctx, name, owner); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		t.Logf("delete: %v", time.Since(start).Round(time.Microsecond))
		b.expect(t, name, dns.TypeCNAME, 0)
		b.expect(t, rfc2136.OwnerName(name), dns.TypeTXT, 0)
		if err := c.Delete(ctx, name, owner); err != nil {
			t.Fatalf("Delete of a deleted name: %v", err)
		}
	})

	t.Run("WrongSecret", func(t *testing.T) {
		bad := b.client(b.OtherSecret)
		err := bad.Apply(ctx, "wrong."+bindZone, 30, []rfc2136.Record{{Type: "A", Value: "192.0.2.20"}}, owner)
		t.Logf("Apply with a wrong secret: %v", err)
		var re *rfc2136.RcodeError
		if !errors.As(err, &re) || re.Rcode != dns.RcodeNotAuth || !strings.Contains(err.Error(), "NOTAUTH") || !strings.Contains(err.Error(), "BADSIG") {
			t.Fatalf("want NOTAUTH (BADSIG), got %v", err)
		}
		b.expect(t, "wrong."+bindZone, dns.TypeA, 0)
		if err := bad.Probe(ctx); err == nil || !strings.Contains(err.Error(), "BADSIG") {
			t.Fatalf("Probe with a wrong secret: %v", err)
		}
		unknown := b.client(b.Secret)
		unknown.KeyName = "nobody."
		if err := unknown.Probe(ctx); err == nil || !strings.Contains(err.Error(), "NOTAUTH") || !strings.Contains(err.Error(), "BADKEY") {
			t.Fatalf("Probe with an unknown key: %v", err)
		}
	})

	t.Run("ForeignRecordUntouched", func(t *testing.T) {
		taken := "taken." + bindZone
		b.insertAsOther(t, taken+" 120 IN A 198.51.100.7")
		serial := b.mustSerial(t)
		err := c.Apply(ctx, taken, 30, []rfc2136.Record{{Type: "A", Value: "192.0.2.30"}}, owner)
		t.Logf("Apply over a foreign record: %v", err)
		if !errors.Is(err, rfc2136.ErrNotOwner) {
			t.Fatalf("want ErrNotOwner, got %v", err)
		}
		if err := c.Delete(ctx, taken, owner); err != nil {
			t.Fatalf("Delete of a foreign name: %v", err)
		}
		b.expect(t, taken, dns.TypeA, 120, "198.51.100.7")
		b.expect(t, rfc2136.OwnerName(taken), dns.TypeTXT, 0)
		if got := b.mustSerial(t); got != serial {
			t.Errorf("the zone changed (serial %d -> %d)", serial, got)
		}
	})

	t.Run("OtherOwner", func(t *testing.T) {
		shared := "shared." + bindZone
		if err := c.Apply(ctx, shared, 30, []rfc2136.Record{{Type: "A", Value: "192.0.2.40"}}, "a/one"); err != nil {
			t.Fatal(err)
		}
		err := c.Apply(ctx, shared, 30, []rfc2136.Record{{Type: "A", Value: "192.0.2.41"}}, "b/two")
		if !errors.Is(err, rfc2136.ErrNotOwner) {
			t.Fatalf("want ErrNotOwner, got %v", err)
		}
		if err := c.Delete(ctx, shared, "b/two"); err != nil {
			t.Fatal(err)
		}
		b.expect(t, shared, dns.TypeA, 30, "192.0.2.40")
	})
}

// expect fails unless name's records of type typ are exactly want (none if
// empty), with ttl when it is not 0.
func (b *bindServer) expect(t *testing.T, name string, typ uint16, ttl uint32, want ...string) {
	t.Helper()
	got, gotTTL := b.values(t, name, typ)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) || (ttl != 0 && len(got) > 0 && gotTTL != ttl) {
		t.Fatalf("%s %s = %v (ttl %d), want %v (ttl %d)", dns.TypeToString[typ], name, got, gotTTL, want, ttl)
	}
}

func (b *bindServer) mustSerial(t *testing.T) uint32 {
	t.Helper()
	s, err := b.serial()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// hubDNS is a real hub (kube-apiserver + portico-hub without its controllers)
// with the DNS controller running in-process, publishing to a test's BIND.
type hubDNS struct {
	t    *testing.T
	bind *bindServer
	pc   versioned.Interface
	kube kubernetes.Interface
}

func startHubDNS(t *testing.T, b *bindServer) *hubDNS {
	t.Helper()
	hub := framework.NewHubCluster(t)
	framework.NewPorticoHub(t, hub, framework.PorticoHubOptions{ExtraArgs: []string{"--controllers="}})
	h := &hubDNS{t: t, bind: b, pc: versioned.NewForConfigOrDie(hub.RestConfig), kube: kubernetes.NewForConfigOrDie(hub.RestConfig)}
	ctx, cancel := context.WithCancel(context.Background())
	portico := externalversions.NewSharedInformerFactory(h.pc, 10*time.Minute)
	secrets := informers.NewSharedInformerFactoryWithOptions(h.kube, 10*time.Minute, informers.WithNamespace(dnscontroller.SecretNamespace))
	traffic := portico.Traffic().V1alpha1()
	c := dnscontroller.NewController(h.pc, dnscontroller.Informers{
		NameServices: traffic.NameServices(), Providers: traffic.DNSProviders(),
		AccessPoints: traffic.FederatedAccessPoints(), Secrets: secrets.Core().V1().Secrets(),
	}, nil)
	portico.Start(ctx.Done())
	secrets.Start(ctx.Done())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx, 2)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		portico.Shutdown()
		secrets.Shutdown()
	})
	return h
}

// answers waits until BIND answers name's A query with exactly want (NXDOMAIN or
// no data for none).
func (h *hubDNS) answers(name string, want ...string) time.Duration {
	h.t.Helper()
	slices.Sort(want)
	return framework.Eventually(h.t, 30*time.Second, fmt.Sprintf("BIND to answer %s A %v", name, want), func() (bool, string) {
		got, _ := h.bind.values(h.t, name, dns.TypeA)
		slices.Sort(got)
		return slices.Equal(got, want), fmt.Sprint(got)
	})
}

// published waits for a NameService's Published condition and returns it.
func (h *hubDNS) published(ns, name string, status metav1.ConditionStatus, reason string) *metav1.Condition {
	h.t.Helper()
	var cond *metav1.Condition
	framework.Eventually(h.t, 30*time.Second, fmt.Sprintf("%s/%s Published=%s (%s)", ns, name, status, reason), func() (bool, string) {
		obj, err := h.pc.TrafficV1alpha1().NameServices(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		cond = meta.FindStatusCondition(obj.Status.Conditions, trafficv1alpha1.NameServicePublished)
		return cond != nil && cond.Status == status && cond.Reason == reason && cond.ObservedGeneration == obj.Generation,
			fmt.Sprintf("%+v", cond)
	})
	return cond
}

func (h *hubDNS) createSecret(name, secret string) {
	h.t.Helper()
	_, err := h.kube.CoreV1().Secrets(dnscontroller.SecretNamespace).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string][]byte{"secret": []byte(secret)}}, metav1.CreateOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
}

func (h *hubDNS) createProvider(name, secretName string) {
	h.t.Helper()
	_, err := h.pc.TrafficV1alpha1().DNSProviders().Create(context.Background(), &trafficv1alpha1.DNSProvider{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: trafficv1alpha1.DNSProviderSpec{RFC2136: &trafficv1alpha1.RFC2136Provider{
			Server: h.bind.Addr, Zone: strings.TrimSuffix(bindZone, "."), TSIGKeyName: bindKey,
			TSIGSecretRef: &trafficv1alpha1.SecretKeyReference{Name: secretName}}},
	}, metav1.CreateOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
}

func (h *hubDNS) providerReady(name string, status metav1.ConditionStatus) *metav1.Condition {
	h.t.Helper()
	var cond *metav1.Condition
	framework.Eventually(h.t, 30*time.Second, "DNSProvider "+name+" Ready="+string(status), func() (bool, string) {
		p, err := h.pc.TrafficV1alpha1().DNSProviders().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		cond = meta.FindStatusCondition(p.Status.Conditions, trafficv1alpha1.ConditionReady)
		return cond != nil && cond.Status == status, fmt.Sprintf("%+v", cond)
	})
	return cond
}

func (h *hubDNS) setVIP(ns, name, vip string) {
	h.t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ap, err := h.pc.TrafficV1alpha1().FederatedAccessPoints(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		ap.Status.VIP = &trafficv1alpha1.VIPStatus{Address: vip}
		_, err = h.pc.TrafficV1alpha1().FederatedAccessPoints(ns).UpdateStatus(context.Background(), ap, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

func (h *hubDNS) updateNameService(ns, name string, mutate func(*trafficv1alpha1.NameService)) {
	h.t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		obj, err := h.pc.TrafficV1alpha1().NameServices(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		mutate(obj)
		_, err = h.pc.TrafficV1alpha1().NameServices(ns).Update(context.Background(), obj, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

func nameServiceObj(name, fqdn, provider string, target trafficv1alpha1.NameServiceTarget) *trafficv1alpha1.NameService {
	return &trafficv1alpha1.NameService{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: trafficv1alpha1.NameServiceSpec{FQDN: fqdn, ProviderRef: trafficv1alpha1.LocalReference{Name: provider}, Target: target}}
}

// TestBINDNameServices: NameServices published by the hub's DNS controller to
// BIND: create, follow the access point's VIP, change the target, delete; a
// record created by someone else is left alone; a wrong TSIG secret shows the
// server's reason and recovers once the Secret is fixed.
func TestBINDNameServices(t *testing.T) {
	b := startBIND(t)
	h := startHubDNS(t, b)
	ctx := context.Background()
	const ns = "shop"
	if _, err := h.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	nsvcs := h.pc.TrafficV1alpha1().NameServices(ns)
	h.createSecret("tsig", b.Secret)
	h.createProvider("bind", "tsig")
	t.Logf("DNSProvider bind: %s", h.providerReady("bind", metav1.ConditionTrue).Message)

	_, err := h.pc.TrafficV1alpha1().FederatedAccessPoints(ns).Create(ctx, &trafficv1alpha1.FederatedAccessPoint{
		ObjectMeta: metav1.ObjectMeta{Name: "front"},
		Spec:       trafficv1alpha1.FederatedAccessPointSpec{Hosts: []string{"web.example.test"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	web := "web." + bindZone

	t.Run("CreateFollowVIPChangeTargetDelete", func(t *testing.T) {
		h.t = t
		target := trafficv1alpha1.NameServiceTarget{AccessPointRef: &trafficv1alpha1.LocalReference{Name: "front"}}
		if _, err := nsvcs.Create(ctx, nameServiceObj("web", "web.example.test", "bind", target), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Logf("no VIP yet: %s", h.published(ns, "web", metav1.ConditionFalse, dnscontroller.ReasonTargetNotReady).Message)

		h.setVIP(ns, "front", "203.0.113.10")
		t.Logf("VIP allocated -> BIND answers: %v", h.answers(web, "203.0.113.10").Round(time.Millisecond))
		h.published(ns, "web", metav1.ConditionTrue, dnscontroller.ReasonPublished)
		b.expect(t, rfc2136.OwnerName(web), dns.TypeTXT, 0, "[heritage=portico,owner=shop/web]")
		obj, err := nsvcs.Get(ctx, "web", metav1.GetOptions{})
		if err != nil || len(obj.Status.Records) != 1 || obj.Status.Records[0] != (trafficv1alpha1.DNSRecord{Type: "A", Value: "203.0.113.10"}) ||
			obj.Status.LastSyncTime == nil || !slices.Contains(obj.Finalizers, dnscontroller.Finalizer) {
			t.Fatalf("NameService web: %v %+v", err, obj)
		}
		b.expect(t, web, dns.TypeA, 30, "203.0.113.10")

		h.setVIP(ns, "front", "203.0.113.11")
		t.Logf("VIP changed -> BIND answers: %v", h.answers(web, "203.0.113.11").Round(time.Millisecond))

		h.updateNameService(ns, "web", func(o *trafficv1alpha1.NameService) {
			o.Spec.Target = trafficv1alpha1.NameServiceTarget{Addresses: []string{"192.0.2.50", "192.0.2.51"}}
			o.Spec.TTL = new(int32(120))
		})
		t.Logf("target changed to addresses -> BIND answers: %v", h.answers(web, "192.0.2.50", "192.0.2.51").Round(time.Millisecond))
		h.published(ns, "web", metav1.ConditionTrue, dnscontroller.ReasonPublished)
		b.expect(t, web, dns.TypeA, 120, "192.0.2.50", "192.0.2.51")

		if err := nsvcs.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Logf("deleted -> gone from BIND: %v", h.answers(web).Round(time.Millisecond))
		b.expect(t, rfc2136.OwnerName(web), dns.TypeTXT, 0)
		framework.Eventually(h.t, 30*time.Second, "NameService web to be gone", func() (bool, string) {
			_, err := nsvcs.Get(ctx, "web", metav1.GetOptions{})
			return apierrors.IsNotFound(err), fmt.Sprint(err)
		})
	})

	t.Run("ForeignRecordUntouched", func(t *testing.T) {
		h.t = t
		taken := "taken." + bindZone
		b.insertAsOther(t, taken+" 120 IN A 198.51.100.7")
		target := trafficv1alpha1.NameServiceTarget{Addresses: []string{"192.0.2.60"}}
		if _, err := nsvcs.Create(ctx, nameServiceObj("taken", "taken.example.test", "bind", target), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Logf("Published=False: %s", h.published(ns, "taken", metav1.ConditionFalse, dnscontroller.ReasonNotOwner).Message)
		b.expect(t, taken, dns.TypeA, 120, "198.51.100.7")
		if err := nsvcs.Delete(ctx, "taken", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		framework.Eventually(h.t, 30*time.Second, "NameService taken to be gone", func() (bool, string) {
			_, err := nsvcs.Get(ctx, "taken", metav1.GetOptions{})
			return apierrors.IsNotFound(err), fmt.Sprint(err)
		})
		b.expect(t, taken, dns.TypeA, 120, "198.51.100.7")
		b.expect(t, rfc2136.OwnerName(taken), dns.TypeTXT, 0)
	})

	t.Run("WrongSecret", func(t *testing.T) {
		h.t = t
		h.createSecret("tsig-wrong", b.OtherSecret)
		h.createProvider("bind-wrong", "tsig-wrong")
		t.Logf("DNSProvider bind-wrong: %s", h.providerReady("bind-wrong", metav1.ConditionFalse).Message)
		target := trafficv1alpha1.NameServiceTarget{Addresses: []string{"192.0.2.70"}}
		if _, err := nsvcs.Create(ctx, nameServiceObj("wrong", "wrong.example.test", "bind-wrong", target), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		cond := h.published(ns, "wrong", metav1.ConditionFalse, dnscontroller.ReasonUpdateFailed)
		t.Logf("Published=False: %s", cond.Message)
		if !strings.Contains(cond.Message, "NOTAUTH") || !strings.Contains(cond.Message, "BADSIG") {
			t.Fatalf("the message does not carry the server's reason: %q", cond.Message)
		}
		b.expect(t, "wrong."+bindZone, dns.TypeA, 0)

		// Fixing the Secret republishes without waiting for the backoff.
		s, err := h.kube.CoreV1().Secrets(dnscontroller.SecretNamespace).Get(ctx, "tsig-wrong", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s.Data["secret"] = []byte(b.Secret)
		if _, err := h.kube.CoreV1().Secrets(dnscontroller.SecretNamespace).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Logf("Secret fixed -> BIND answers: %v", h.answers("wrong."+bindZone, "192.0.2.70").Round(time.Millisecond))
		h.published(ns, "wrong", metav1.ConditionTrue, dnscontroller.ReasonPublished)
		h.providerReady("bind-wrong", metav1.ConditionTrue)
	})
}
