package plugin

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clienttesting "k8s.io/client-go/testing"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// statusHub has, next to the ready shop/checkout: shop/cart whose certificate
// failed and that one cluster has not applied yet, shop/static without VIP,
// certificate or DNS, shop/new without status, and web/home.
func statusHub() *hubObjects {
	h := readyHub()
	cart := readyAccessPoint("shop", "cart")
	cart.Status.VIP = &trafficv1alpha1.VIPStatus{Address: "198.51.100.8", Pool: "local", AnnouncedBy: []string{"lb-zone-a-0"}}
	cart.Status.DNS.Published = false
	cart.Status.Clusters[0].Phase = "Applying"
	meta.SetStatusCondition(&cart.Status.Conditions, cond("Applied", "False", "Applying", "1 of 2 clusters applied", time.Second))
	meta.SetStatusCondition(&cart.Status.Conditions, cond("CertificateReady", "False", "IssuanceFailed", "rejected", time.Second))
	meta.SetStatusCondition(&cart.Status.Conditions, cond("DNSReady", "False", "NotPublished", "not yet", time.Second))
	meta.SetStatusCondition(&cart.Status.Conditions, cond("Ready", "False", "NotReady", "not ready", time.Second))

	static := readyAccessPoint("shop", "static")
	static.Spec.LoadBalancer, static.Spec.TLS = nil, nil
	static.Status.VIP, static.Status.Certificate, static.Status.DNS = nil, nil, nil
	for _, typ := range []string{"VIPAllocated", "LoadBalancerReady", "CertificateReady", "DNSReady"} {
		meta.RemoveStatusCondition(&static.Status.Conditions, typ)
	}

	fresh := readyAccessPoint("shop", "new")
	fresh.Status = trafficv1alpha1.FederatedAccessPointStatus{}

	home := readyAccessPoint("web", "home")
	home.Spec.LoadBalancer.Pool = "other"
	home.Status.VIP = &trafficv1alpha1.VIPStatus{Address: "198.51.100.9", Pool: "other"}
	meta.SetStatusCondition(&home.Status.Conditions, cond("LoadBalancerReady", "Unknown", "NoLoadBalancerNodes", "no nodes", time.Second))

	h.extra = append(h.extra, cart, static, fresh, home,
		&trafficv1alpha1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "198.51.100.8"},
			Spec: trafficv1alpha1.VirtualIPSpec{Address: "198.51.100.8", Groups: []string{"zone-a", "zone-b"}}},
		&trafficv1alpha1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "198.51.100.9"},
			Spec: trafficv1alpha1.VirtualIPSpec{Address: "198.51.100.9", Groups: []string{"zone-z"}}},
		&clusterv1alpha1.LoadBalancerNode{ObjectMeta: metav1.ObjectMeta{Name: "lb-zone-b-1"}, Spec: clusterv1alpha1.LoadBalancerNodeSpec{Group: "zone-b"}},
	)
	return h
}

func TestStatusTable(t *testing.T) {
	h := statusHub()
	r := runPlugin(t, h, "status")
	if r.code != 0 || r.errOut != "" {
		t.Fatalf("status: %+v", r)
	}
	assertOutput(t, r.out, `
NAMESPACE   NAME       READY     VIP            ANNOUNCED   CERT      DNS         CLUSTERS   REASON
shop        cart       False     198.51.100.8   1/3         v3        pending     1/2        Applying
shop        checkout   True      198.51.100.7   2/3         v3        published   2/2        -
shop        new        Unknown   pending        -           pending   -           0/0        NotReconciled
shop        static     True      -              -           -         -           2/2        -
`)
}

func TestStatusAllNamespacesAndNames(t *testing.T) {
	h := statusHub()
	r := runPlugin(t, h, "status", "-A", "--no-headers")
	if r.code != 0 {
		t.Fatalf("status -A: %+v", r)
	}
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	if len(lines) != 5 || strings.HasPrefix(lines[0], "NAMESPACE") ||
		strings.Join(strings.Fields(lines[4]), " ") != "web home True 198.51.100.9 0/0 v3 published 2/2 -" {
		t.Errorf("status -A --no-headers:\n%s", r.out)
	}
	for _, l := range lines {
		if n := len(strings.Fields(l)); n != len(statusHeader) {
			t.Errorf("%d columns in %q", n, l)
		}
	}

	r = runPlugin(t, h, "status", "checkout", "static")
	if r.code != 0 || strings.Count(r.out, "\n") != 3 || !strings.Contains(r.out, "\nshop        checkout ") {
		t.Errorf("status checkout static: %+v", r)
	}
	r = runPlugin(t, h, "status", "-n", "web")
	if r.code != 0 || !containsRow(r.out, "web home True 198.51.100.9 0/0 v3 published 2/2 -") {
		t.Errorf("status -n web: %+v", r)
	}
	r = runPlugin(t, h, "status", "-n", "empty")
	if r.code != 0 || r.out != "" || r.errOut != "No FederatedAccessPoints found in namespace empty.\n" {
		t.Errorf("status -n empty: %+v", r)
	}
}

func TestStatusJSON(t *testing.T) {
	r := runPlugin(t, statusHub(), "status", "-o", "json", "cart", "new")
	if r.code != 0 {
		t.Fatalf("status -o json: %+v", r)
	}
	var rows []StatusRow
	if err := json.Unmarshal([]byte(r.out), &rows); err != nil {
		t.Fatalf("%v:\n%s", err, r.out)
	}
	want := []StatusRow{
		{Namespace: "shop", Name: "cart", Ready: "False", VIP: "198.51.100.8", Announced: "1/3", Cert: "v3", DNS: "pending", Clusters: "1/2", Reason: "Applying"},
		{Namespace: "shop", Name: "new", Ready: "Unknown", VIP: "pending", Announced: "-", Cert: "pending", DNS: "-", Clusters: "0/0", Reason: "NotReconciled"},
	}
	if !slices.Equal(rows, want) {
		t.Errorf("rows %+v\nwant %+v", rows, want)
	}
	if !strings.Contains(r.out, `"announced": "1/3"`) {
		t.Errorf("JSON keys:\n%s", r.out)
	}
	if r := runPlugin(t, statusHub(), "status", "-n", "empty", "-o", "json"); r.code != 0 || r.out != "[]\n" {
		t.Errorf("empty JSON: %+v", r)
	}
}

func TestStatusFailNotReady(t *testing.T) {
	h := statusHub()
	if r := runPlugin(t, h, "status"); r.code != 0 {
		t.Errorf("without --fail-not-ready: %+v", r)
	}
	r := runPlugin(t, h, "status", "--fail-not-ready")
	if r.code != 1 || strings.Count(r.out, "\n") != 5 || !strings.Contains(r.errOut, "error: 2 of 4 access points not ready: shop/cart, shop/new") {
		t.Errorf("--fail-not-ready: %+v", r)
	}
	if r := runPlugin(t, h, "status", "--fail-not-ready", "checkout", "static"); r.code != 0 {
		t.Errorf("--fail-not-ready with ready ones: %+v", r)
	}
	if r := runPlugin(t, h, "status", "--fail-not-ready", "-o", "json", "cart"); r.code != 1 || !strings.HasPrefix(r.out, "[") {
		t.Errorf("--fail-not-ready -o json: %+v", r)
	}
}

func TestStatusErrors(t *testing.T) {
	h := statusHub()
	r := runPlugin(t, h, "status", "checkout", "nope")
	if r.code != 1 || !strings.Contains(r.out, "checkout") || !strings.Contains(r.errOut, `"nope" not found in namespace shop`) {
		t.Errorf("a missing name: %+v", r)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"status", "-A", "checkout"}, "NAME and --all-namespaces cannot be combined"},
		{[]string{"status", "-A", "-n", "shop"}, "--namespace and --all-namespaces cannot be combined"},
		{[]string{"status", "-o", "yaml"}, `--output must be json (or not given, for the table), not "yaml"`},
	} {
		if r := runPlugin(t, h, c.args...); r.code != 1 || r.out != "" || !strings.Contains(r.errOut, c.want) {
			t.Errorf("%v: %+v, want %q", c.args, r, c.want)
		}
	}
}

// TestStatusNodesUnreadable: ANNOUNCED says how many nodes announce even
// when the nodes cannot be listed.
func TestStatusNodesUnreadable(t *testing.T) {
	client := statusHub().client()
	client.PrependReactor("list", "loadbalancernodes", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "loadbalancernodes"}, "", errors.New("no access"))
	})
	faps, err := fetchAccessPoints(t.Context(), client, "shop", []string{"checkout"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rows := statusRows(t.Context(), client, faps); len(rows) != 1 || rows[0].Announced != "2/?" {
		t.Errorf("rows %+v", rows)
	}
}
