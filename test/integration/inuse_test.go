//go:build integration

package integration

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	traffic "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/inuse"
	"github.com/portico-dev/portico/federation/vipallocator"
	"github.com/portico-dev/portico/test/framework"
)

// TestInUseProtection runs portico-hub with its accesspoint, vippool and dns
// controllers, and an in-process DNS server that accepts RFC 2136 updates and
// records them. A VIPPool whose address an access point holds (and a
// NameService publishes) is deleted with `kubectl delete --wait=false`: the
// pool stays, being deleted, its Terminating condition naming the VirtualIP
// and shop/checkout (and an InUse Event); for a stated window the VirtualIP
// stays, the access point keeps its VIP and the DNS record is not withdrawn;
// a new access point gets no address from the pool (PoolTerminating). Once
// the access point is deleted, its record is withdrawn and the pool goes.
// Then the DNSProvider, still named by the NameService, is deleted: it stays,
// naming shop/www, until the NameService is deleted.
func TestInUseProtection(t *testing.T) {
	hub := framework.NewHubCluster(t)
	framework.NewPorticoHub(t, hub, framework.PorticoHubOptions{ExtraArgs: []string{"--controllers=accesspoint,vippool,dns"}})
	pc := versioned.NewForConfigOrDie(hub.RestConfig)
	kube := kubernetes.NewForConfigOrDie(hub.RestConfig)
	ctx := context.Background()
	server := startRecordingDNS(t)
	createHubNamespace(t, hub, "shop")

	const pool, provider = "edge-inuse", "inuse-dns"
	if _, err := pc.TrafficV1alpha1().VIPPools().Create(ctx, &traffic.VIPPool{ObjectMeta: metav1.ObjectMeta{Name: pool},
		Spec: traffic.VIPPoolSpec{CIDRs: []string{"198.51.100.8/29"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pc.TrafficV1alpha1().DNSProviders().Create(ctx, &traffic.DNSProvider{ObjectMeta: metav1.ObjectMeta{Name: provider},
		Spec: traffic.DNSProviderSpec{RFC2136: &traffic.RFC2136Provider{Server: server.addr, Zone: "example.test"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, 30*time.Second, "the in-use finalizer on the pool and the provider", func() (bool, string) {
		p, errP := pc.TrafficV1alpha1().VIPPools().Get(ctx, pool, metav1.GetOptions{})
		d, errD := pc.TrafficV1alpha1().DNSProviders().Get(ctx, provider, metav1.GetOptions{})
		if errP != nil || errD != nil {
			return false, "get: " + errorText(errP) + errorText(errD)
		}
		return inuse.Has(p, inuse.TrafficFinalizer) && inuse.Has(d, inuse.TrafficFinalizer),
			"pool " + strings.Join(p.Finalizers, ",") + ", provider " + strings.Join(d.Finalizers, ",")
	})

	createBalanced(t, pc, "checkout", pool)
	var vip string
	framework.Eventually(t, 30*time.Second, "shop/checkout's VIP", func() (bool, string) {
		vip = vipAddress(pc, "checkout")
		return vip != "", "status.vip: " + vip
	})
	if _, err := pc.TrafficV1alpha1().NameServices("shop").Create(ctx, &traffic.NameService{ObjectMeta: metav1.ObjectMeta{Name: "www"},
		Spec: traffic.NameServiceSpec{FQDN: "www.example.test", ProviderRef: traffic.LocalReference{Name: provider},
			Target: traffic.NameServiceTarget{AccessPointRef: &traffic.LocalReference{Name: "checkout"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, 30*time.Second, "www.example.test published at "+vip, func() (bool, string) {
		records := publishedRecords(pc, "www")
		return records == "A "+vip && server.last("www.example.test.") == "A "+vip, "status " + records + ", server " + server.last("www.example.test.")
	})

	// The pool is deleted while shop/checkout holds an address of it.
	mustKubectlAs(t, hub.KubeconfigPath, "delete", "vippool", pool, "--wait=false")
	framework.Eventually(t, 30*time.Second, "the pool being deleted, naming its user", func() (bool, string) {
		p, err := pc.TrafficV1alpha1().VIPPools().Get(ctx, pool, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(p.Status.Conditions, inuse.ConditionTerminating)
		if p.DeletionTimestamp == nil || c == nil {
			return false, "no Terminating condition yet"
		}
		return c.Status == metav1.ConditionTrue && c.Reason == inuse.ReasonInUse && strings.Contains(c.Message, "VirtualIP "+vip+" (shop/checkout)"),
			c.Reason + ": " + c.Message
	})
	msg := mustKubectlAs(t, hub.KubeconfigPath, "get", "vippool", pool, "-o", `jsonpath={.status.conditions[?(@.type=="Terminating")].message}`)
	if !strings.Contains(msg, "shop/checkout") {
		t.Errorf("kubectl get vippool %s shows %q, want the user named", pool, msg)
	}
	t.Logf("VIPPool %s Terminating: %s", pool, msg)
	framework.Eventually(t, 30*time.Second, "an InUse Event about the pool", func() (bool, string) {
		events, err := kube.CoreV1().Events(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
			FieldSelector: fields.Set{"involvedObject.name": pool, "reason": inuse.ReasonInUse}.String()})
		if err != nil {
			return false, err.Error()
		}
		return len(events.Items) > 0 && strings.Contains(events.Items[0].Message, "shop/checkout"), "events: " + eventMessages(events.Items)
	})

	// A new access point gets no address from the pool being deleted.
	createBalanced(t, pc, "cart", pool)
	framework.Eventually(t, 30*time.Second, "shop/cart refused an address", func() (bool, string) {
		c := vipAllocated(pc, "cart")
		return c.Status == metav1.ConditionFalse && c.Reason == vipallocator.ReasonPoolTerminating, c.Reason + ": " + c.Message
	})

	// For a stated window nothing moves: the pool, the VirtualIP, the access
	// point's VIP and the DNS record stay.
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		p, err := pc.TrafficV1alpha1().VIPPools().Get(ctx, pool, metav1.GetOptions{})
		if err != nil || !inuse.Has(p, inuse.TrafficFinalizer) {
			t.Fatalf("the pool went while shop/checkout holds %s: %v", vip, err)
		}
		if _, err := pc.TrafficV1alpha1().VirtualIPs().Get(ctx, vip, metav1.GetOptions{}); err != nil {
			t.Fatalf("VirtualIP %s: %v", vip, err)
		}
		if got, c := vipAddress(pc, "checkout"), vipAllocated(pc, "checkout"); got != vip || c.Status != metav1.ConditionTrue {
			t.Fatalf("shop/checkout's VIP %q, VIPAllocated %s %s: want %s kept", got, c.Status, c.Reason, vip)
		}
		if records, n := publishedRecords(pc, "www"), server.withdrawals("www.example.test."); records != "A "+vip || n != 0 {
			t.Fatalf("www.example.test: status %q, %d withdrawals at the server, while its VIP is announced", records, n)
		}
	}

	// The user goes: its record is withdrawn, then the pool goes.
	if err := pc.TrafficV1alpha1().FederatedAccessPoints("shop").Delete(ctx, "checkout", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, 60*time.Second, "the pool gone", func() (bool, string) {
		_, err := pc.TrafficV1alpha1().VIPPools().Get(ctx, pool, metav1.GetOptions{})
		return apierrors.IsNotFound(err), "get: " + errorText(err)
	})
	framework.Eventually(t, 30*time.Second, "www.example.test withdrawn", func() (bool, string) {
		n := server.withdrawals("www.example.test.")
		return n > 0 && publishedRecords(pc, "www") == "", fmt.Sprintf("%d withdrawals, status %q", n, publishedRecords(pc, "www"))
	})

	// The provider is still named by shop/www.
	mustKubectlAs(t, hub.KubeconfigPath, "delete", "dnsprovider", provider, "--wait=false")
	framework.Eventually(t, 30*time.Second, "the provider being deleted, naming shop/www", func() (bool, string) {
		d, err := pc.TrafficV1alpha1().DNSProviders().Get(ctx, provider, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(d.Status.Conditions, inuse.ConditionTerminating)
		if d.DeletionTimestamp == nil || c == nil {
			return false, "no Terminating condition yet"
		}
		return c.Status == metav1.ConditionTrue && strings.Contains(c.Message, "NameService shop/www"), c.Message
	})
	if err := pc.TrafficV1alpha1().NameServices("shop").Delete(ctx, "www", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, 60*time.Second, "the provider gone", func() (bool, string) {
		_, err := pc.TrafficV1alpha1().DNSProviders().Get(ctx, provider, metav1.GetOptions{})
		return apierrors.IsNotFound(err), "get: " + errorText(err)
	})
}

func createBalanced(t *testing.T, pc versioned.Interface, name, pool string) {
	t.Helper()
	fap := fedAccessPoint("shop", name, []string{name + ".example.test"}, "5s")
	fap.Spec.LoadBalancer = &traffic.LoadBalancerSpec{Pool: pool, Ports: []traffic.Port{{Name: "https", Port: 443}}}
	if _, err := pc.TrafficV1alpha1().FederatedAccessPoints("shop").Create(context.Background(), fap, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func vipAddress(pc versioned.Interface, name string) string {
	fap, err := pc.TrafficV1alpha1().FederatedAccessPoints("shop").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil || fap.Status.VIP == nil {
		return ""
	}
	return fap.Status.VIP.Address
}

func vipAllocated(pc versioned.Interface, name string) metav1.Condition {
	fap, err := pc.TrafficV1alpha1().FederatedAccessPoints("shop").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return metav1.Condition{Message: err.Error()}
	}
	if c := meta.FindStatusCondition(fap.Status.Conditions, traffic.AccessPointVIPAllocated); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// publishedRecords is a NameService's status.records as "TYPE value, ...".
func publishedRecords(pc versioned.Interface, name string) string {
	ns, err := pc.TrafficV1alpha1().NameServices("shop").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, r := range ns.Status.Records {
		out = append(out, r.Type+" "+r.Value)
	}
	return strings.Join(out, ", ")
}

func eventMessages(events []corev1.Event) string {
	var out []string
	for _, e := range events {
		out = append(out, e.Reason+": "+e.Message)
	}
	return strings.Join(out, "; ")
}

func errorText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// recordingDNS is an in-process DNS server on 127.0.0.1 (TCP) that accepts
// every RFC 2136 update and records, per name, what was written: the A
// records of an update that inserts some, or a withdrawal. Queries get an
// authoritative NXDOMAIN, so every publication is sent as an update.
type recordingDNS struct {
	addr string
	mu   sync.Mutex
	log  map[string][]string // name -> "A 192.0.2.1" or "withdrawn", in order
}

func startRecordingDNS(t *testing.T) *recordingDNS {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &recordingDNS{addr: l.Addr().String(), log: map[string][]string{}}
	srv := &dns.Server{Listener: l,
		MsgAcceptFunc: func(dns.Header) dns.MsgAcceptAction { return dns.MsgAccept }, // updates too
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, m *dns.Msg) {
			resp := new(dns.Msg)
			resp.SetReply(m)
			resp.Authoritative = true
			if m.Opcode == dns.OpcodeUpdate {
				s.record(m)
			} else {
				resp.Rcode = dns.RcodeNameError
			}
			_ = w.WriteMsg(resp)
		})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return s
}

// record notes an update: the A records it inserts per name, or a withdrawal
// of a name whose records it only removes.
func (s *recordingDNS) record(m *dns.Msg) {
	inserted, touched := map[string][]string{}, map[string]bool{}
	for _, rr := range m.Ns {
		name := rr.Header().Name
		if strings.HasPrefix(name, "_") {
			continue // ownership TXT
		}
		touched[name] = true
		if a, ok := rr.(*dns.A); ok && rr.Header().Class == dns.ClassINET {
			inserted[name] = append(inserted[name], "A "+a.A.String())
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for name := range touched {
		entry := "withdrawn"
		if len(inserted[name]) > 0 {
			entry = strings.Join(inserted[name], ", ")
		}
		s.log[name] = append(s.log[name], entry)
	}
}

// last is what the last update of name wrote.
func (s *recordingDNS) last(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.log[name]; len(l) > 0 {
		return l[len(l)-1]
	}
	return ""
}

// withdrawals counts the updates that withdrew name.
func (s *recordingDNS) withdrawals(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.log[name] {
		if e == "withdrawn" {
			n++
		}
	}
	return n
}
