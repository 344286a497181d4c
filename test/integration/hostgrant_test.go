//go:build integration

package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	traffic "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/test/framework"
)

// TestHostGrants runs portico-hub with --host-grants=enforce and tries, as a
// tenant would, to claim hosts it was not given: another namespace's host
// (exact or under its wildcard), a template host outside spec.hosts, a DNS
// name; a grant by namespace selector; a revoked grant that does not freeze
// the access points already serving its hosts.
func TestHostGrants(t *testing.T) {
	hub := framework.NewHubCluster(t)
	framework.NewPorticoHub(t, hub, framework.PorticoHubOptions{HostGrants: "enforce"})
	pc := fastClient(hub.RestConfig)
	kube := kubernetes.NewForConfigOrDie(hub.RestConfig)
	ctx := context.Background()
	for _, ns := range []string{"team-a", "team-b"} {
		createHubNamespace(t, hub, ns)
	}
	grant := func(name string, hosts []string, namespaces []string, selector *metav1.LabelSelector) {
		t.Helper()
		g := &traffic.HostGrant{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: traffic.HostGrantSpec{Hosts: hosts, Namespaces: namespaces, NamespaceSelector: selector}}
		if _, err := pc.TrafficV1alpha1().HostGrants().Create(ctx, g, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	grant("team-a", []string{"a.example.test"}, []string{"team-a"}, nil)
	grant("team-b", []string{"*.b.example.test"}, []string{"team-b"}, nil)
	create := func(ns, name string, hosts ...string) error {
		_, err := pc.TrafficV1alpha1().FederatedAccessPoints(ns).Create(ctx, fedAccessPoint(ns, name, hosts, "1s"), metav1.CreateOptions{})
		return err
	}
	expectForbiddenHost := func(err error, host, ns string) {
		t.Helper()
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), `no HostGrant gives host "`+host+`" to namespace "`+ns+`"`) {
			t.Fatalf("claiming %s in %s: %v, want Invalid naming the host, the namespace and the grant", host, ns, err)
		}
	}

	// team-a may not claim team-b's hosts, exactly or under its wildcard.
	expectForbiddenHost(create("team-a", "steal", "shop.b.example.test"), "shop.b.example.test", "team-a")
	expectForbiddenHost(create("team-a", "steal", "*.b.example.test"), "*.b.example.test", "team-a")
	expectForbiddenHost(create("team-a", "steal", "a.example.test", "x.example.test"), "x.example.test", "team-a")
	if err := create("team-b", "shop", "shop.b.example.test"); err != nil {
		t.Fatalf("team-b claiming a host under its grant: %v", err)
	}
	if err := create("team-a", "web", "a.example.test"); err != nil {
		t.Fatalf("team-a claiming its granted host: %v", err)
	}

	// A template may not serve a host outside spec.hosts.
	fap := fedAccessPoint("team-a", "sneaky", []string{"a.example.test"}, "1s")
	fap.Spec.Template.VirtualServices[0].Spec.Raw = []byte(`{"hosts":["shop.b.example.test"],"gateways":["sneaky"],"http":[{"route":[{"destination":{"host":"sneaky.team-a.svc.cluster.local"}}]}]}`)
	if _, err := pc.TrafficV1alpha1().FederatedAccessPoints("team-a").Create(ctx, fap, metav1.CreateOptions{}); !apierrors.IsInvalid(err) ||
		!strings.Contains(err.Error(), "spec.template.virtualServices[0].spec.hosts[0]") {
		t.Fatalf("a VirtualService host outside spec.hosts: %v", err)
	}
	fap.Spec.Template.VirtualServices[0].Spec.Raw = nil
	fap.Spec.Template.VirtualServices = nil
	fap.Spec.Template.Gateway = &traffic.JSONObject{Raw: []byte(`{"servers":[{"port":{"number":80,"name":"http","protocol":"HTTP"},"hosts":["team-b/shop.b.example.test"]}]}`)}
	if _, err := pc.TrafficV1alpha1().FederatedAccessPoints("team-a").Create(ctx, fap, metav1.CreateOptions{}); !apierrors.IsInvalid(err) ||
		!strings.Contains(err.Error(), "spec.template.gateway.servers[0].hosts[0]") {
		t.Fatalf("a Gateway host outside spec.hosts: %v", err)
	}

	// A DNS name needs a grant too.
	nsvc := &traffic.NameService{ObjectMeta: metav1.ObjectMeta{Name: "steal", Namespace: "team-a"}, Spec: traffic.NameServiceSpec{
		FQDN: "shop.b.example.test", ProviderRef: traffic.LocalReference{Name: "dns"},
		Target: traffic.NameServiceTarget{Addresses: []string{"192.0.2.1"}}}}
	if _, err := pc.TrafficV1alpha1().NameServices("team-a").Create(ctx, nsvc, metav1.CreateOptions{}); err == nil {
		t.Fatal("team-a published a name of team-b's")
	} else {
		expectForbiddenHost(err, "shop.b.example.test", "team-a")
	}

	// A grant by namespace selector: a labelled namespace may claim.
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-c",
		Labels: map[string]string{"tier": "gold"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	grant("gold", []string{"*.gold.example.test"}, nil, &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "gold"}})
	framework.Eventually(t, 30*time.Second, "team-c (tier=gold) claims www.gold.example.test", func() (bool, string) {
		err := create("team-c", "web", "www.gold.example.test")
		return err == nil || apierrors.IsAlreadyExists(err), errString(err)
	})
	expectForbiddenHost(create("team-a", "gold", "www.gold.example.test"), "www.gold.example.test", "team-a")

	// Overlapping grants (an admin's mistake): the first namespace to claim a
	// host keeps it; the other's overlapping claim is refused at write time,
	// with wildcard semantics. Within one namespace the overlap is decided at
	// run time per cluster (HostConflict).
	grant("shared-a", []string{"*.shared.example.test"}, []string{"team-a"}, nil)
	grant("shared-b", []string{"api.shared.example.test"}, []string{"team-b"}, nil)
	if err := create("team-a", "shared", "*.shared.example.test"); err != nil {
		t.Fatalf("team-a claiming its granted wildcard: %v", err)
	}
	err := create("team-b", "api", "api.shared.example.test")
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.hosts[0]") ||
		!strings.Contains(err.Error(), `host "api.shared.example.test" overlaps host "*.shared.example.test" of access point team-a/shared in another namespace`) {
		t.Fatalf("team-b claiming a host under team-a's wildcard: %v, want Invalid naming both hosts and the access point", err)
	}
	if err := create("team-a", "shared-api", "api.shared.example.test"); err != nil {
		t.Fatalf("team-a claiming a host it serves under its own wildcard: %v (decided at run time, not refused)", err)
	}

	// Revoking a grant keeps what serves it editable, but adds nothing new.
	if err := pc.TrafficV1alpha1().HostGrants().Delete(ctx, "team-b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	updateFAP(t, pc, "team-b", "shop", func(f *traffic.FederatedAccessPoint) { setVSTimeout(f, "2s") })
	// The controllers write the access point's status meanwhile: a
	// conflict is retried, the answer that counts is the last one.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := getFAP(pc, "team-b", "shop")
		if err != nil {
			return err
		}
		cur.Spec.Hosts = append(cur.Spec.Hosts, "www.b.example.test")
		_, err = pc.TrafficV1alpha1().FederatedAccessPoints("team-b").Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	expectForbiddenHost(err, "www.b.example.test", "team-b")
	if _, stderr, err := framework.Kubectl(t, hub.KubeconfigPath, "get", "hostgrants"); err != nil {
		t.Fatalf("kubectl get hostgrants: %v\n%s", err, stderr)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
