package plugin

import (
	"errors"
	"regexp"
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

// describeOK runs describe and fails the test unless it succeeds.
func describeOK(t *testing.T, h *hubObjects, args ...string) string {
	t.Helper()
	r := runPlugin(t, h, append([]string{"describe"}, args...)...)
	if r.code != 0 || r.errOut != "" {
		t.Fatalf("describe %v: code %d, stderr %q", args, r.code, r.errOut)
	}
	return r.out
}

// containsRow is true when a line of out is row, up to the amount of space
// between the words.
func containsRow(out, row string) bool {
	for _, line := range strings.Split(out, "\n") {
		if strings.Join(strings.Fields(line), " ") == row {
			return true
		}
	}
	return false
}

func assertOutput(t *testing.T, got, want string) {
	t.Helper()
	want = strings.TrimPrefix(want, "\n")
	if got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}

func TestDescribeAllReady(t *testing.T) {
	got := describeOK(t, readyHub(), "fap", "checkout")
	assertOutput(t, got, `
NAME                                                             READY  REASON      SINCE  MESSAGE
FederatedAccessPoint/shop/checkout                               True   Ready       2m
├─VirtualIP 198.51.100.7 (pool local)                            True   Announced   2m     announced by lb-zone-a-0, lb-zone-b-0; 4/4 backends healthy
│ ├─LoadBalancerNode lb-zone-a-0 (group zone-a)                  True   Ready       60m    announces 198.51.100.7; sees 4 healthy backends
│ └─LoadBalancerNode lb-zone-b-0 (group zone-b)                  True   Ready       60m    announces 198.51.100.7; sees 4 healthy backends
├─Certificate v3 serial 1a2b3c4d… (local-ca)                     True   Issued      60s    expires 2027-02-20; installed on zone-a-1, zone-b-1
├─DNS checkout.portico.test (local)                              True   Published   2m     A 198.51.100.7
└─Clusters                                                       True   AllApplied  2m     applied on 2 clusters
  ├─MemberCluster zone-a-1 (zone-a)                              True   Applied     2m     5/5 objects, 2 gateway endpoints
  │ └─ClusterAccessPoint portico-cluster-zone-a-1/shop.checkout  True   Applied     2m     revision 5d41402a, 5 objects
  │   ├─Gateway shop/checkout                                    True   Applied
  │   ├─VirtualService shop/checkout                             True   Applied
  │   ├─DestinationRule shop/checkout                            True   Applied
  │   ├─ServiceEntry shop/payments                               True   Applied
  │   └─Secret istio-system/shop.checkout-tls                    True   Applied
  └─MemberCluster zone-b-1 (zone-b)                              True   Applied     3m     5/5 objects, 2 gateway endpoints
    └─ClusterAccessPoint portico-cluster-zone-b-1/shop.checkout  True   Applied     2m     revision 5d41402a, 5 objects
      ├─Gateway shop/checkout                                    True   Applied
      ├─VirtualService shop/checkout                             True   Applied
      ├─DestinationRule shop/checkout                            True   Applied
      ├─ServiceEntry shop/payments                               True   Applied
      └─Secret istio-system/shop.checkout-tls                    True   Applied
`)
	// Every accepted form of the kind gives the same tree.
	for _, args := range [][]string{{"fap/checkout"}, {"federatedaccesspoint", "checkout"}, {"FederatedAccessPoints", "checkout"},
		{"federatedaccesspoints.traffic.portico.dev/checkout"}, {"fap", "checkout", "-n", "shop"}} {
		if other := describeOK(t, readyHub(), args...); other != got {
			t.Errorf("describe %v:\n%s", args, other)
		}
	}
}

func TestDescribeClusterUnavailable(t *testing.T) {
	h := readyHub()
	h.fap.Status.Clusters[0] = trafficv1alpha1.ClusterStatus{Name: "zone-b-1", Zone: "zone-b", Phase: "Unavailable",
		ObservedRevision: "5d41402a", Objects: trafficv1alpha1.ObjectCounts{Applied: 5, Total: 5}, GatewayEndpoints: 2,
		LastTransitionTime: agoPtr(30 * time.Second), Message: "the cluster's agent is not available; it keeps its last configuration"}
	meta.SetStatusCondition(&h.fap.Status.Conditions, cond("Applied", "False", "ClustersUnavailable", "unavailable: zone-b-1", 30*time.Second))
	meta.SetStatusCondition(&h.fap.Status.Conditions, cond("Ready", "False", "NotReady", "not ready: Applied (ClustersUnavailable)", 30*time.Second))
	h.mcs["zone-b-1"].Status.Agent.LastHeartbeatTime = agoPtr(70 * time.Second)
	meta.SetStatusCondition(&h.mcs["zone-b-1"].Status.Conditions,
		cond("Available", "Unknown", "LeaseExpired", "the member-agent's Lease was last renewed at 2026-01-01T00:00:00Z (grace 40s)", 30*time.Second))

	assertOutput(t, describeOK(t, h, "fap", "checkout"), `
NAME                                                             READY    REASON               SINCE  MESSAGE
FederatedAccessPoint/shop/checkout                               False    NotReady             30s    not ready: Applied (ClustersUnavailable)
├─VirtualIP 198.51.100.7 (pool local)                            True     Announced            2m     announced by lb-zone-a-0, lb-zone-b-0; 4/4 backends healthy
│ ├─LoadBalancerNode lb-zone-a-0 (group zone-a)                  True     Ready                60m    announces 198.51.100.7; sees 4 healthy backends
│ └─LoadBalancerNode lb-zone-b-0 (group zone-b)                  True     Ready                60m    announces 198.51.100.7; sees 4 healthy backends
├─Certificate v3 serial 1a2b3c4d… (local-ca)                     True     Issued               60s    expires 2027-02-20; installed on zone-a-1, zone-b-1
├─DNS checkout.portico.test (local)                              True     Published            2m     A 198.51.100.7
└─Clusters                                                       False    ClustersUnavailable  30s    unavailable: zone-b-1
  ├─MemberCluster zone-a-1 (zone-a)                              True     Applied              2m     5/5 objects, 2 gateway endpoints
  │ └─ClusterAccessPoint portico-cluster-zone-a-1/shop.checkout  True     Applied              2m     revision 5d41402a, 5 objects
  │   ├─Gateway shop/checkout                                    True     Applied
  │   ├─VirtualService shop/checkout                             True     Applied
  │   ├─DestinationRule shop/checkout                            True     Applied
  │   ├─ServiceEntry shop/payments                               True     Applied
  │   └─Secret istio-system/shop.checkout-tls                    True     Applied
  └─MemberCluster zone-b-1 (zone-b)                              False    Unavailable          30s    the cluster's agent is not available; it keeps its last configuration; last heartbeat 70s ago
    ├─Condition Available                                        Unknown  LeaseExpired         30s    the member-agent's Lease was last renewed at 2026-01-01T00:00:00Z (grace 40s)
    └─ClusterAccessPoint portico-cluster-zone-b-1/shop.checkout  True     Applied              2m     revision 5d41402a, 5 objects
      ├─Gateway shop/checkout                                    True     Applied
      ├─VirtualService shop/checkout                             True     Applied
      ├─DestinationRule shop/checkout                            True     Applied
      ├─ServiceEntry shop/payments                               True     Applied
      └─Secret istio-system/shop.checkout-tls                    True     Applied
`)
}

func TestDescribeCertificateFailing(t *testing.T) {
	h := readyHub()
	const msg = "ACME order for checkout.portico.test failed: urn:ietf:params:acme:error:rejectedIdentifier"
	meta.SetStatusCondition(&h.fap.Status.Conditions, cond("CertificateReady", "False", "IssuanceFailed", msg, 10*time.Second))
	meta.SetStatusCondition(&h.fap.Status.Conditions, cond("Ready", "False", "NotReady", "not ready: CertificateReady (IssuanceFailed)", 10*time.Second))

	assertOutput(t, describeOK(t, h, "fap", "checkout"), strings.ReplaceAll(`
NAME                                                             READY  REASON          SINCE  MESSAGE
FederatedAccessPoint/shop/checkout                               False  NotReady        10s    not ready: CertificateReady (IssuanceFailed)
├─VirtualIP 198.51.100.7 (pool local)                            True   Announced       2m     announced by lb-zone-a-0, lb-zone-b-0; 4/4 backends healthy
│ ├─LoadBalancerNode lb-zone-a-0 (group zone-a)                  True   Ready           60m    announces 198.51.100.7; sees 4 healthy backends
│ └─LoadBalancerNode lb-zone-b-0 (group zone-b)                  True   Ready           60m    announces 198.51.100.7; sees 4 healthy backends
├─Certificate v3 serial 1a2b3c4d… (local-ca)                     False  IssuanceFailed  10s    MSG; current: v3, expires 2027-02-20; installed on zone-a-1, zone-b-1
├─DNS checkout.portico.test (local)                              True   Published       2m     A 198.51.100.7
└─Clusters                                                       True   AllApplied      2m     applied on 2 clusters
  ├─MemberCluster zone-a-1 (zone-a)                              True   Applied         2m     5/5 objects, 2 gateway endpoints
  │ └─ClusterAccessPoint portico-cluster-zone-a-1/shop.checkout  True   Applied         2m     revision 5d41402a, 5 objects
  │   ├─Gateway shop/checkout                                    True   Applied
  │   ├─VirtualService shop/checkout                             True   Applied
  │   ├─DestinationRule shop/checkout                            True   Applied
  │   ├─ServiceEntry shop/payments                               True   Applied
  │   └─Secret istio-system/shop.checkout-tls                    True   Applied
  └─MemberCluster zone-b-1 (zone-b)                              True   Applied         3m     5/5 objects, 2 gateway endpoints
    └─ClusterAccessPoint portico-cluster-zone-b-1/shop.checkout  True   Applied         2m     revision 5d41402a, 5 objects
      ├─Gateway shop/checkout                                    True   Applied
      ├─VirtualService shop/checkout                             True   Applied
      ├─DestinationRule shop/checkout                            True   Applied
      ├─ServiceEntry shop/payments                               True   Applied
      └─Secret istio-system/shop.checkout-tls                    True   Applied
`, "MSG", msg))

	// A certificate, and no CertificateReady (yet).
	meta.RemoveStatusCondition(&h.fap.Status.Conditions, "CertificateReady")
	if got := describeOK(t, h, "fap", "checkout"); !containsRow(got,
		"├─Certificate v3 serial 1a2b3c4d… (local-ca) Unknown Pending current: v3, expires 2027-02-20; installed on zone-a-1, zone-b-1") {
		t.Errorf("no CertificateReady:\n%s", got)
	}

	// Before the first certificate: the row has no version.
	h.fap.Status.Certificate = nil
	meta.SetStatusCondition(&h.fap.Status.Conditions, cond("CertificateReady", "False", "IssuerNotReady", "CertificateIssuer local-ca is not ready", 10*time.Second))
	if got := describeOK(t, h, "fap", "checkout"); !containsRow(got, "├─Certificate (local-ca) False IssuerNotReady 10s CertificateIssuer local-ca is not ready") {
		t.Errorf("no certificate yet:\n%s", got)
	}
}

func TestDescribeShowAll(t *testing.T) {
	h := readyHub()
	h.caps["zone-b-1"].Status.Objects[1] = trafficv1alpha1.ObjectStatus{Group: "networking.istio.io", Kind: "VirtualService",
		Namespace: "shop", Name: "checkout", Message: `admission webhook "validation.istio.io" denied the request`}
	got := describeOK(t, h, "fap/checkout", "--show-all")
	assertOutput(t, got, `
NAME                                                             READY  REASON          SINCE  MESSAGE
FederatedAccessPoint/shop/checkout                               True   Ready           2m
├─Condition Placed                                               True   Placed          5m     placed on zone-a-1, zone-b-1
├─Condition Applied                                              True   AllApplied      2m     applied on 2 clusters
├─Condition VIPAllocated                                         True   Allocated       5m     allocated 198.51.100.7 from pool local
├─Condition LoadBalancerReady                                    True   Announced       2m     198.51.100.7 announced by lb-zone-a-0, lb-zone-b-0 with 4 healthy backends
├─Condition CertificateReady                                     True   Issued          60s    version 3 (serial 1a2b3c4d5e6f70819a) valid until 2027-02-20T08:00:00Z, installed on 2 clusters
├─Condition DNSReady                                             True   Published       2m     published: checkout.portico.test
├─VirtualIP 198.51.100.7 (pool local)                            True   Announced       2m     announced by lb-zone-a-0, lb-zone-b-0; 4/4 backends healthy
│ ├─Condition Announced                                          True   Announced       3m     announced by lb-zone-a-0, lb-zone-b-0
│ ├─LoadBalancerNode lb-zone-a-0 (group zone-a)                  True   Ready           60m    announces 198.51.100.7; sees 4 healthy backends
│ │ ├─Condition DataplaneReady                                   True   Synced          60m    1 services, 4 destinations
│ │ └─Condition BGPEstablished                                   True   Established     60m    1/1 sessions established
│ └─LoadBalancerNode lb-zone-b-0 (group zone-b)                  True   Ready           60m    announces 198.51.100.7; sees 4 healthy backends
│   ├─Condition DataplaneReady                                   True   Synced          60m    1 services, 4 destinations
│   └─Condition BGPEstablished                                   True   Established     60m    1/1 sessions established
├─Certificate v3 serial 1a2b3c4d5e6f70819a (local-ca)            True   Issued          60s    expires 2027-02-20; installed on zone-a-1, zone-b-1
├─DNS checkout.portico.test (local)                              True   Published       2m     A 198.51.100.7
└─Clusters                                                       True   AllApplied      2m     applied on 2 clusters
  ├─MemberCluster zone-a-1 (zone-a)                              True   Applied         2m     5/5 objects, 2 gateway endpoints
  │ ├─Condition Joined                                           True   AgentConnected  24h    the member-agent has connected
  │ ├─Condition Available                                        True   LeaseRenewed    24h    the member-agent renews its Lease
  │ ├─Condition CredentialExpiring                               False  Valid           4h     the member-agent's hub credential expires in 20h
  │ └─ClusterAccessPoint portico-cluster-zone-a-1/shop.checkout  True   Applied         2m     revision 5d41402a, 5 objects
  │   ├─Condition Degraded                                       False  Applied         2m     every object is applied
  │   ├─Gateway shop/checkout                                    True   Applied
  │   ├─VirtualService shop/checkout                             True   Applied
  │   ├─DestinationRule shop/checkout                            True   Applied
  │   ├─ServiceEntry shop/payments                               True   Applied
  │   └─Secret istio-system/shop.checkout-tls                    True   Applied
  └─MemberCluster zone-b-1 (zone-b)                              True   Applied         3m     5/5 objects, 2 gateway endpoints
    ├─Condition Joined                                           True   AgentConnected  24h    the member-agent has connected
    ├─Condition Available                                        True   LeaseRenewed    24h    the member-agent renews its Lease
    ├─Condition CredentialExpiring                               False  Valid           4h     the member-agent's hub credential expires in 20h
    └─ClusterAccessPoint portico-cluster-zone-b-1/shop.checkout  True   Applied         2m     revision 5d41402a, 5 objects
      ├─Condition Degraded                                       False  Applied         2m     every object is applied
      ├─Gateway shop/checkout                                    True   Applied
      ├─VirtualService shop/checkout                             False  NotApplied             admission webhook "validation.istio.io" denied the request
      ├─DestinationRule shop/checkout                            True   Applied
      ├─ServiceEntry shop/payments                               True   Applied
      └─Secret istio-system/shop.checkout-tls                    True   Applied
`)

	// The collapsed view shows the object that is not applied, and where.
	got = describeOK(t, h, "fap/checkout")
	assertOutput(t, got, `
NAME                                                             READY  REASON      SINCE  MESSAGE
FederatedAccessPoint/shop/checkout                               True   Ready       2m
├─VirtualIP 198.51.100.7 (pool local)                            True   Announced   2m     announced by lb-zone-a-0, lb-zone-b-0; 4/4 backends healthy
│ ├─LoadBalancerNode lb-zone-a-0 (group zone-a)                  True   Ready       60m    announces 198.51.100.7; sees 4 healthy backends
│ └─LoadBalancerNode lb-zone-b-0 (group zone-b)                  True   Ready       60m    announces 198.51.100.7; sees 4 healthy backends
├─Certificate v3 serial 1a2b3c4d… (local-ca)                     True   Issued      60s    expires 2027-02-20; installed on zone-a-1, zone-b-1
├─DNS checkout.portico.test (local)                              True   Published   2m     A 198.51.100.7
└─Clusters                                                       True   AllApplied  2m     applied on 2 clusters
  ├─MemberCluster zone-a-1 (zone-a)                              True   Applied     2m     5/5 objects, 2 gateway endpoints
  │ └─ClusterAccessPoint portico-cluster-zone-a-1/shop.checkout  True   Applied     2m     revision 5d41402a, 5 objects
  │   ├─Gateway shop/checkout                                    True   Applied
  │   ├─VirtualService shop/checkout                             True   Applied
  │   ├─DestinationRule shop/checkout                            True   Applied
  │   ├─ServiceEntry shop/payments                               True   Applied
  │   └─Secret istio-system/shop.checkout-tls                    True   Applied
  └─MemberCluster zone-b-1 (zone-b)                              True   Applied     3m     5/5 objects, 2 gateway endpoints
    └─ClusterAccessPoint portico-cluster-zone-b-1/shop.checkout  True   Applied     2m     revision 5d41402a, 5 objects
      ├─Gateway shop/checkout                                    True   Applied
      ├─VirtualService shop/checkout                             False  NotApplied         admission webhook "validation.istio.io" denied the request
      ├─DestinationRule shop/checkout                            True   Applied
      ├─ServiceEntry shop/payments                               True   Applied
      └─Secret istio-system/shop.checkout-tls                    True   Applied
`)
}

// TestDescribeWithoutExtras: no spec.loadBalancer, no spec.tls and no
// NameService leave their rows out; a placed cluster without its
// ClusterAccessPoint shows it as NotFound.
func TestDescribeWithoutExtras(t *testing.T) {
	h := readyHub()
	fap := h.fap
	fap.Name = "static"
	fap.Spec.LoadBalancer, fap.Spec.TLS = nil, nil
	fap.Status.VIP, fap.Status.Certificate, fap.Status.DNS = nil, nil, nil
	fap.Status.Clusters[0] = trafficv1alpha1.ClusterStatus{Name: "zone-c-1", Zone: "zone-c", Phase: "Pending",
		Message: "waiting for the cluster's agent", LastTransitionTime: agoPtr(20 * time.Second)}
	fap.Status.Conditions = []metav1.Condition{
		cond("Placed", "True", "Placed", "placed on zone-a-1, zone-c-1", 5*time.Minute),
		cond("Applied", "False", "Applying", "1 of 2 clusters applied", 20*time.Second),
		cond("Ready", "False", "NotReady", "not ready: Applied (Applying)", 20*time.Second),
	}
	h.caps = map[string]*trafficv1alpha1.ClusterAccessPoint{"zone-a-1": clusterAccessPoint("zone-a-1", "shop", "static")}
	h.mcs["zone-c-1"] = memberCluster("zone-c-1")

	assertOutput(t, describeOK(t, h, "fap", "static"), `
NAME                                                           READY    REASON    SINCE  MESSAGE
FederatedAccessPoint/shop/static                               False    NotReady  20s    not ready: Applied (Applying)
└─Clusters                                                     False    Applying  20s    1 of 2 clusters applied
  ├─MemberCluster zone-a-1 (zone-a)                            True     Applied   2m     5/5 objects, 2 gateway endpoints
  │ └─ClusterAccessPoint portico-cluster-zone-a-1/shop.static  True     Applied   2m     revision 5d41402a, 5 objects
  │   ├─Gateway shop/static                                    True     Applied
  │   ├─VirtualService shop/static                             True     Applied
  │   ├─DestinationRule shop/static                            True     Applied
  │   ├─ServiceEntry shop/payments                             True     Applied
  │   └─Secret istio-system/shop.static-tls                    True     Applied
  └─MemberCluster zone-c-1 (zone-c)                            Unknown  Pending   20s    waiting for the cluster's agent
    └─ClusterAccessPoint portico-cluster-zone-c-1/shop.static  False    NotFound         portico-hub has not written the cluster's slice of the access point
`)

	// Not placed anywhere: the Placed condition explains.
	fap.Status.Clusters = nil
	fap.Status.Conditions = []metav1.Condition{
		cond("Placed", "False", "NoClusters", "no member cluster matches the placement", time.Minute),
		cond("Applied", "False", "NoClusters", "no cluster to apply to", time.Minute),
		cond("Ready", "False", "NotReady", "not ready: Placed (NoClusters), Applied (NoClusters)", time.Minute),
	}
	assertOutput(t, describeOK(t, h, "fap", "static"), `
NAME                              READY  REASON      SINCE  MESSAGE
FederatedAccessPoint/shop/static  False  NotReady    60s    not ready: Placed (NoClusters), Applied (NoClusters)
└─Clusters                        False  NoClusters  60s    no member cluster matches the placement
`)
}

// TestDescribeNoStatus: an access point portico-hub has not reconciled.
func TestDescribeNoStatus(t *testing.T) {
	h := readyHub()
	h.fap.Status = trafficv1alpha1.FederatedAccessPointStatus{}
	assertOutput(t, describeOK(t, h, "fap", "checkout"), `
NAME                                 READY    REASON         SINCE  MESSAGE
FederatedAccessPoint/shop/checkout   Unknown  NotReconciled         portico-hub has not reported a status yet
├─VirtualIP <none> (pool local)      Unknown  Pending               no address allocated yet
├─Certificate (local-ca)             Unknown  Pending               no certificate issued yet
├─DNS checkout.portico.test (local)  True     Published      2m     A 198.51.100.7
└─Clusters                           Unknown  Pending               no cluster placed yet
`)
}

// TestDescribeLoadBalancerProblems: a node that is not Ready, a Ready node of
// the VIP's groups that does not announce it, and a VirtualIP that is gone.
func TestDescribeLoadBalancerProblems(t *testing.T) {
	h := readyHub()
	h.fap.Status.VIP.AnnouncedBy = []string{"lb-zone-a-0"}
	h.vip.Status.AnnouncedBy = []string{"lb-zone-a-0"}
	meta.SetStatusCondition(&h.vip.Status.Conditions, cond("Announced", "True", "Announced", "announced by lb-zone-a-0", time.Minute))
	h.nodes[1].Status.Announced = nil
	h.nodes = append(h.nodes, &clusterv1alpha1.LoadBalancerNode{
		ObjectMeta: metav1.ObjectMeta{Name: "lb-zone-b-1"},
		Spec:       clusterv1alpha1.LoadBalancerNodeSpec{Group: "zone-b", Address: "192.0.2.2"},
		Status: clusterv1alpha1.LoadBalancerNodeStatus{Conditions: []metav1.Condition{
			cond("Ready", "False", "NotEstablished", "no BGP session established", 4*time.Minute),
			cond("DataplaneReady", "True", "Synced", "1 services", 4*time.Minute),
			cond("BGPEstablished", "False", "NotEstablished", "0/1 sessions established: 192.0.2.254 Active", 4*time.Minute),
		}},
	}, &clusterv1alpha1.LoadBalancerNode{
		ObjectMeta: metav1.ObjectMeta{Name: "lb-zone-c-0"},
		Spec:       clusterv1alpha1.LoadBalancerNodeSpec{Group: "zone-c", Address: "192.0.2.3"},
	})
	got := describeOK(t, h, "fap", "checkout")
	assertOutput(t, got, `
NAME                                                             READY    REASON          SINCE  MESSAGE
FederatedAccessPoint/shop/checkout                               True     Ready           2m
├─VirtualIP 198.51.100.7 (pool local)                            True     Announced       2m     announced by lb-zone-a-0; 4/4 backends healthy
│ ├─LoadBalancerNode lb-zone-a-0 (group zone-a)                  True     Ready           60m    announces 198.51.100.7; sees 4 healthy backends
│ ├─LoadBalancerNode lb-zone-b-0 (group zone-b)                  Unknown  NotAnnouncing   60m    Ready, but does not announce 198.51.100.7
│ └─LoadBalancerNode lb-zone-b-1 (group zone-b)                  False    NotEstablished  4m     no BGP session established
│   └─Condition BGPEstablished                                   False    NotEstablished  4m     0/1 sessions established: 192.0.2.254 Active
├─Certificate v3 serial 1a2b3c4d… (local-ca)                     True     Issued          60s    expires 2027-02-20; installed on zone-a-1, zone-b-1
├─DNS checkout.portico.test (local)                              True     Published       2m     A 198.51.100.7
└─Clusters                                                       True     AllApplied      2m     applied on 2 clusters
  ├─MemberCluster zone-a-1 (zone-a)                              True     Applied         2m     5/5 objects, 2 gateway endpoints
  │ └─ClusterAccessPoint portico-cluster-zone-a-1/shop.checkout  True     Applied         2m     revision 5d41402a, 5 objects
  │   ├─Gateway shop/checkout                                    True     Applied
  │   ├─VirtualService shop/checkout                             True     Applied
  │   ├─DestinationRule shop/checkout                            True     Applied
  │   ├─ServiceEntry shop/payments                               True     Applied
  │   └─Secret istio-system/shop.checkout-tls                    True     Applied
  └─MemberCluster zone-b-1 (zone-b)                              True     Applied         3m     5/5 objects, 2 gateway endpoints
    └─ClusterAccessPoint portico-cluster-zone-b-1/shop.checkout  True     Applied         2m     revision 5d41402a, 5 objects
      ├─Gateway shop/checkout                                    True     Applied
      ├─VirtualService shop/checkout                             True     Applied
      ├─DestinationRule shop/checkout                            True     Applied
      ├─ServiceEntry shop/payments                               True     Applied
      └─Secret istio-system/shop.checkout-tls                    True     Applied
`)

	h.vip = nil
	got = describeOK(t, h, "fap", "checkout")
	if !containsRow(got, "├─VirtualIP 198.51.100.7 (pool local) False NotFound 2m the VirtualIP 198.51.100.7 named by status.vip does not exist") {
		t.Errorf("missing VirtualIP:\n%s", got)
	}
}

// TestDescribeUnreadable: what cannot be read is shown in its place.
func TestDescribeUnreadable(t *testing.T) {
	h := readyHub()
	client := h.client()
	forbid := func(verb, resource string) {
		client.PrependReactor(verb, resource, func(a clienttesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: resource}, "", errors.New("no access"))
		})
	}
	forbid("list", "loadbalancernodes")
	forbid("list", "nameservices")
	forbid("get", "clusteraccesspoints")
	o, err := fetchAccessPoint(t.Context(), client, "shop", "checkout")
	if err != nil {
		t.Fatal(err)
	}
	o.ReadAt = testNow
	var b strings.Builder
	if err := describe(&b, o, false, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"│ └─LoadBalancerNodes Unknown Unreadable loadbalancernodes is forbidden: no access",
		"├─DNS checkout.portico.test (local) True Published 2m published: checkout.portico.test",
		"├─NameServices Unknown Unreadable nameservices is forbidden: no access",
		"└─ClusterAccessPoint portico-cluster-zone-b-1/shop.checkout Unknown Unreadable clusteraccesspoints is forbidden: no access",
	} {
		if !containsRow(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
}

func TestDescribeColor(t *testing.T) {
	h := readyHub()
	meta.SetStatusCondition(&h.fap.Status.Conditions, cond("CertificateReady", "False", "IssuanceFailed", "failed", time.Second))
	meta.SetStatusCondition(&h.fap.Status.Conditions, cond("Ready", "False", "NotReady", "not ready", time.Second))
	h.fap.Status.Clusters[0].Phase = "Applying"

	colored := describeOK(t, h, "fap", "checkout", "--color=always")
	for _, want := range []string{
		`FederatedAccessPoint/shop/checkout +\x1b\[31mFalse\x1b\[0m +NotReady`,
		`├─VirtualIP 198.51.100.7 \(pool local\) +\x1b\[32mTrue\x1b\[0m +Announced`,
		`└─MemberCluster zone-b-1 \(zone-b\) +\x1b\[33mUnknown\x1b\[0m +Applying`,
	} {
		if !regexp.MustCompile(want).MatchString(colored) {
			t.Errorf("--color=always lacks %q:\n%s", want, colored)
		}
	}
	plain := describeOK(t, h, "fap", "checkout", "--color=never")
	if strings.Contains(plain, "\x1b") {
		t.Errorf("--color=never has escapes:\n%s", plain)
	}
	if stripped := strings.NewReplacer("\x1b[31m", "", "\x1b[32m", "", "\x1b[33m", "", "\x1b[0m", "").Replace(colored); stripped != plain {
		t.Errorf("colours change the layout:\n%s\nvs\n%s", stripped, plain)
	}
	// auto: not a terminal (a buffer), so no colours.
	if auto := describeOK(t, h, "fap", "checkout"); auto != plain {
		t.Errorf("--color=auto to a buffer:\n%s", auto)
	}
	if r := runPlugin(t, h, "describe", "fap", "checkout", "--color=sometimes"); r.code != 1 ||
		!strings.Contains(r.errOut, `--color must be auto, always or never, not "sometimes"`) {
		t.Errorf("--color=sometimes: %+v", r)
	}
}

func TestDescribeErrors(t *testing.T) {
	h := readyHub()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"describe"}, "describe needs an access point: fap NAME, fap/NAME, federatedaccesspoint NAME or federatedaccesspoints NAME"},
		{[]string{"describe", "checkout"}, `describe shows FederatedAccessPoints only: fap NAME, fap/NAME, federatedaccesspoint NAME or federatedaccesspoints NAME; not "checkout"`},
		{[]string{"describe", "fap"}, "describe fap needs the access point's NAME"},
		{[]string{"describe", "mc/zone-a-1"}, `FederatedAccessPoints only`},
		{[]string{"describe", "fap/"}, `not "fap/"`},
		{[]string{"describe", "fap", "a/b"}, "either KIND NAME... or KIND/NAME..."},
		{[]string{"describe", "fap", "nope"}, `federatedaccesspoints.traffic.portico.dev "nope" not found in namespace shop`},
		{[]string{"describe", "fap", "checkout", "-n", "web"}, `"checkout" not found in namespace web`},
	} {
		r := runPlugin(t, h, c.args...)
		if r.code != 1 || !strings.Contains(r.errOut, c.want) {
			t.Errorf("%v: code %d, stderr %q, want %q", c.args, r.code, r.errOut, c.want)
		}
	}
	// Several names: those found are shown, the others reported.
	h.extra = append(h.extra, readyAccessPoint("shop", "cart"))
	r := runPlugin(t, h, "describe", "fap", "checkout", "nope", "cart")
	if r.code != 1 || !strings.Contains(r.out, "FederatedAccessPoint/shop/checkout") || !strings.Contains(r.out, "\n\nNAME ") ||
		!strings.Contains(r.out, "FederatedAccessPoint/shop/cart") || !strings.Contains(r.errOut, `"nope" not found`) ||
		!strings.Contains(r.errOut, "could not describe nope") {
		t.Errorf("several names: %+v", r)
	}
}

func TestParseDescribeArgs(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"fap", "a"}, []string{"a"}},
		{[]string{"fap", "a", "b"}, []string{"a", "b"}},
		{[]string{"FAP/a", "federatedaccesspoint/b"}, []string{"a", "b"}},
		{[]string{"faps", "a"}, []string{"a"}},
		{[]string{"federatedaccesspoint.traffic.portico.dev", "a"}, []string{"a"}},
	} {
		got, err := parseDescribeArgs(c.args)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%v: %v, %v", c.args, got, err)
		}
	}
}

// TestCollapseGroups: alike OK siblings become one row listing a few names;
// others keep their rows, in place.
func TestCollapseGroups(t *testing.T) {
	root := &Node{Label: "Clusters", Status: "True"}
	for i, name := range []string{"a", "b", "c", "d", "e", "f"} {
		n := &Node{Kind: "MemberCluster", Name: name, Label: "MemberCluster " + name, Groupable: true, Status: "True", Reason: "Applied",
			Since: agoPtr(time.Duration(i+1) * time.Minute)}
		if name == "c" {
			n.Status, n.Reason = "False", "Failed"
		}
		root.Children = append(root.Children, n)
	}
	var b strings.Builder
	if err := RenderTree(&b, Collapse(root), RenderOptions{Now: testNow}); err != nil {
		t.Fatal(err)
	}
	assertOutput(t, b.String(), `
NAME                READY  REASON   SINCE  MESSAGE
Clusters            True
├─5 MemberClusters  True   Applied  60s    a, b, d, e, +1 more
└─MemberCluster c   False  Failed   3m
`)
	if len(root.Children) != 6 {
		t.Errorf("Collapse modified its input")
	}
}

// TestDescribeRollout: the Rollout row (revision, stable revision, where the
// rollout stands), a row per stage with its clusters, pause and soak and its
// approval, and the revision each cluster is sent.
func TestDescribeRollout(t *testing.T) {
	got := describeOK(t, rolloutHub(), "fap", "checkout")
	assertOutput(t, got, `
NAME                                                             READY    REASON            SINCE  MESSAGE
FederatedAccessPoint/shop/checkout                               True     Ready             2m
├─VirtualIP 198.51.100.7 (pool local)                            True     Announced         2m     announced by lb-zone-a-0, lb-zone-b-0; 4/4 backends healthy
│ ├─LoadBalancerNode lb-zone-a-0 (group zone-a)                  True     Ready             60m    announces 198.51.100.7; sees 4 healthy backends
│ └─LoadBalancerNode lb-zone-b-0 (group zone-b)                  True     Ready             60m    announces 198.51.100.7; sees 4 healthy backends
├─Certificate v3 serial 1a2b3c4d… (local-ca)                     True     Issued            60s    expires 2027-02-20; installed on zone-a-1, zone-b-1
├─DNS checkout.portico.test (local)                              True     Published         2m     A 198.51.100.7
├─Rollout Staged revision 4 (stable 3)                           False    AwaitingApproval  2m     stage rest 2/2, 1/2 clusters updated; stage rest waits for approval (kubectl portico rollout approve)
│ ├─Stage canary (1/2)                                           True     Done                     zone-b-1; waits for approval
│ │ └─Approval                                                   True     Approved          10m    stage canary of revision 4 approved by alice
│ └─Stage rest (2/2)                                             Unknown  AwaitingApproval         zone-a-1; waits for approval; soak 300s
└─Clusters                                                       True     AllApplied        2m     applied on 2 clusters
  ├─MemberCluster zone-a-1 (zone-a)                              True     Applied           2m     revision 3 (target 4); 5/5 objects, 2 gateway endpoints
  │ └─ClusterAccessPoint portico-cluster-zone-a-1/shop.checkout  True     Applied           2m     revision 5d41402a, 5 objects
  │   ├─Gateway shop/checkout                                    True     Applied
  │   ├─VirtualService shop/checkout                             True     Applied
  │   ├─DestinationRule shop/checkout                            True     Applied
  │   ├─ServiceEntry shop/payments                               True     Applied
  │   └─Secret istio-system/shop.checkout-tls                    True     Applied
  └─MemberCluster zone-b-1 (zone-b)                              True     Applied           3m     revision 4; 5/5 objects, 2 gateway endpoints
    └─ClusterAccessPoint portico-cluster-zone-b-1/shop.checkout  True     Applied           2m     revision 5d41402a, 5 objects
      ├─Gateway shop/checkout                                    True     Applied
      ├─VirtualService shop/checkout                             True     Applied
      ├─DestinationRule shop/checkout                            True     Applied
      ├─ServiceEntry shop/payments                               True     Applied
      └─Secret istio-system/shop.checkout-tls                    True     Applied
`)

	// Halted at the canary: the stage is False, the next one Pending; a
	// failing cluster keeps its revision next to its message.
	h := haltedHub()
	h.fap.Status.Clusters[0].Phase, h.fap.Status.Clusters[0].Message = "Failed", "VirtualService shop/checkout: denied"
	got = describeOK(t, h, "fap", "checkout")
	for _, want := range []string{
		`├─Rollout Staged revision 4 (stable 3) False Halted 2m stage canary 1/2, 1/2 clusters updated; ` + haltMessage,
		"│ ├─Stage canary (1/2) False Halted zone-b-1; waits for approval",
		"│ └─Stage rest (2/2) Pending zone-a-1; waits for approval; soak 300s",
		"└─MemberCluster zone-b-1 (zone-b) False Failed 3m revision 4; VirtualService shop/checkout: denied",
	} {
		if !containsRow(got, want) {
			t.Errorf("halted: no row %q:\n%s", want, got)
		}
	}

	// Complete: every stage Done, every cluster on the revision.
	h = completeHub()
	h.fap.Status.Clusters[1].Revision = 4
	got = describeOK(t, h, "fap", "checkout")
	for _, want := range []string{
		"├─Rollout Staged revision 4 (stable) True Complete 60s stage rest 2/2, 2/2 clusters updated; revision 4 runs on all 2 clusters",
		"│ ├─Stage canary (1/2) True Done zone-b-1; waits for approval",
		"│ └─Stage rest (2/2) True Done zone-a-1; waits for approval; soak 300s",
		"├─MemberCluster zone-a-1 (zone-a) True Applied 2m revision 4; 5/5 objects, 2 gateway endpoints",
	} {
		if !containsRow(got, want) {
			t.Errorf("complete: no row %q:\n%s", want, got)
		}
	}
}

// TestDescribeRolloutStages: stages split the placed clusters as portico-hub
// does (selector on the MemberClusters' labels, count, the rest); a rollout
// sent at once has no current stage; the emergency brake is shown.
func TestDescribeRolloutStages(t *testing.T) {
	h := rolloutHub()
	h.mcs["zone-a-1"].Labels = map[string]string{"tier": "canary"}
	one := int32(1)
	h.fap.Spec.Rollout.Paused = true
	h.fap.Spec.Rollout.Stages = []trafficv1alpha1.RolloutStage{
		{Name: "canary", ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "canary"}}},
		{Name: "one", Count: &one, SoakSeconds: 60},
		{Name: "empty", Zones: []string{"zone-z"}},
		{Name: "rest"},
	}
	h.fap.Status.Rollout = &trafficv1alpha1.RolloutStatus{Revision: 5, StableRevision: 4, Phase: trafficv1alpha1.RolloutProgressing,
		TotalClusters: 2, Message: "rollback: every cluster at once",
		Approvals: []trafficv1alpha1.RolloutApprovalRecord{{Stage: "gone", Revision: 5, User: "bob", Time: ago(10 * time.Minute)}}}
	meta.RemoveStatusCondition(&h.fap.Status.Conditions, trafficv1alpha1.AccessPointRolledOut)
	got := describeOK(t, h, "fap", "checkout")
	for _, want := range []string{
		"├─Rollout Staged revision 5 (stable 4) Unknown Progressing all clusters at once, 0/2 clusters updated; rollback: every cluster at once; " +
			"spec.rollout.paused: nothing new is written to any cluster",
		"│ ├─Stage canary (1/4) Pending zone-a-1",
		"│ ├─Stage one (2/4) Pending zone-b-1; soak 60s",
		"│ ├─Stage empty (3/4) Pending no clusters",
		"│ ├─Stage rest (4/4) Pending no clusters",
		// An approval of a stage the spec no longer has.
		"│ └─Approval True Approved 10m stage gone of revision 5 approved by bob",
		"├─MemberCluster zone-a-1 (zone-a) True Applied 2m revision 3 (target 5); 5/5 objects, 2 gateway endpoints",
	} {
		if !containsRow(got, want) {
			t.Errorf("no row %q:\n%s", want, got)
		}
	}

	// The selector cannot be resolved without the MemberClusters.
	client := h.client()
	client.PrependReactor("list", "memberclusters", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "memberclusters"}, "", errors.New("no access"))
	})
	o, err := fetchAccessPoint(t.Context(), client, "shop", "checkout")
	if err != nil {
		t.Fatal(err)
	}
	o.ReadAt = testNow
	var b strings.Builder
	if err := describe(&b, o, false, false); err != nil {
		t.Fatal(err)
	}
	if want := "│ ├─Stage canary (1/4) Pending clusterSelector tier=canary (MemberClusters unreadable)"; !containsRow(b.String(), want) {
		t.Errorf("no row %q:\n%s", want, b.String())
	}

	// Without spec.rollout, the rollout of the first revision.
	h = readyHub()
	h.fap.Status.Rollout = &trafficv1alpha1.RolloutStatus{Revision: 1, StableRevision: 1, Phase: trafficv1alpha1.RolloutComplete,
		TotalClusters: 2, UpdatedClusters: 2, Message: "revision 1 runs on all 2 clusters"}
	meta.SetStatusCondition(&h.fap.Status.Conditions, cond(trafficv1alpha1.AccessPointRolledOut, "True", "Complete", "revision 1 runs on all 2 clusters", time.Hour))
	got = describeOK(t, h, "fap", "checkout")
	if want := "├─Rollout AllAtOnce revision 1 (stable) True Complete 60m all clusters at once, 2/2 clusters updated; revision 1 runs on all 2 clusters"; !containsRow(got, want) ||
		strings.Contains(got, "Stage") {
		t.Errorf("no row %q:\n%s", want, got)
	}
}

// TestDescribeDrainedZone: the VIP row says which zone's backends are
// drained, each node row the weights its kernel uses.
func TestDescribeDrainedZone(t *testing.T) {
	h := readyHub()
	h.fap.Status.VIP.Zones = []trafficv1alpha1.ZoneWeight{{Zone: "zone-a", Backends: 2, DrainedBackends: 2},
		{Zone: "zone-b", Backends: 2, LocalWeight: 99, RemoteWeight: 1}}
	h.nodes[0].Status.VIPs[0].Weights = []clusterv1alpha1.BackendWeight{{Weight: 1, Backends: []string{"10.0.2.1", "10.0.2.2"}},
		{Weight: 0, Backends: []string{"10.0.1.1", "10.0.1.2"}}}
	out := describeOK(t, h, "fap", "checkout")
	for _, row := range []string{
		"├─VirtualIP 198.51.100.7 (pool local) True Announced 2m announced by lb-zone-a-0, lb-zone-b-0; 4/4 backends healthy; zone-a: 2/2 backends drained",
		"│ ├─LoadBalancerNode lb-zone-a-0 (group zone-a) True Ready 60m announces 198.51.100.7; sees 4 healthy backends; weights 1×2 0×2",
	} {
		if !containsRow(out, row) {
			t.Errorf("no row %q in\n%s", row, out)
		}
	}
}
