//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/test/localfed"
)

// TestDescribeAndStatus runs the kubectl-portico binary's describe and status
// against the shared hub: an access point whose parts (VirtualIP,
// LoadBalancerNode, NameService, MemberClusters, a ClusterAccessPoint) and
// statuses the test writes itself, as no controller runs there. Of the two
// placed clusters the first applied the access point; the second is
// unavailable and has no ClusterAccessPoint.
func TestDescribeAndStatus(t *testing.T) {
	e := hubEnv(t)
	plugin, err := localfed.BuildBinary("kubectl-portico")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ns := e.newNamespace(t, "describe")
	d := newDescribeFixture(t, e, ns)
	d.create(ctx)

	run := func(args ...string) joinRun {
		t.Helper()
		return runJoinPlugin(t, plugin, e.hub.KubeconfigPath, args...)
	}

	t.Run("describe", func(t *testing.T) {
		r := run("describe", "fap", "checkout", "-n", ns, "--color=never")
		if r.err != nil {
			t.Fatalf("describe: %v\n%s", r.err, r.stderr)
		}
		t.Logf("describe:\n%s", r.stdout)
		for _, want := range [][]string{
			{"FederatedAccessPoint/" + ns + "/checkout", "False", "NotReady"},
			{"├─VirtualIP " + d.vip + " (pool local)", "True", "Announced"},
			{"├─Certificate v2 serial 0a1b2c3d… (local-ca)", "True", "Issued"},
			{"├─DNS " + d.fqdn + " (local)", "True", "Published"},
			{"└─Clusters", "False", "ClustersUnavailable"},
			{"├─MemberCluster " + d.clusterA + " (zone-a)", "True", "Applied"},
			{"└─MemberCluster " + d.clusterB + " (zone-b)", "False", "Unavailable"},
			{"├─Condition Available", "Unknown", "LeaseExpired"},
			{"└─ClusterAccessPoint " + clusterv1alpha1.ClusterNamespace(d.clusterB) + "/" + ns + ".checkout", "False", "NotFound"},
		} {
			if findTreeRow(r.stdout, want...) == "" {
				t.Errorf("no row %q", want)
			}
		}
		// The default view lists the edge node and each cluster's objects, but
		// not the conditions that are fine.
		for _, want := range [][]string{
			{"│ └─LoadBalancerNode " + d.node + " (group " + d.group + ")", "True", "Ready"},
			{"│   ├─Gateway " + ns + "/checkout", "True", "Applied"},
		} {
			if findTreeRow(r.stdout, want...) == "" {
				t.Errorf("no row %q", want)
			}
		}
		if strings.Contains(r.stdout, "Condition Degraded") || strings.Contains(r.stdout, "Condition Ready") {
			t.Errorf("the default view shows conditions that are fine:\n%s", r.stdout)
		}

		r = run("describe", "fap/checkout", "-n", ns, "--show-all")
		if r.err != nil {
			t.Fatalf("describe --show-all: %v\n%s", r.err, r.stderr)
		}
		for _, want := range [][]string{
			{"│ └─LoadBalancerNode " + d.node + " (group " + d.group + ")", "True", "Ready"},
			{"├─Gateway " + ns + "/checkout", "True", "Applied"},
			{"└─VirtualService " + ns + "/checkout", "True", "Applied"},
			{"├─Condition Placed", "True", "Placed"},
			{"├─Certificate v2 serial 0a1b2c3d4e5f60718293 (local-ca)", "True", "Issued"},
		} {
			if findTreeRow(r.stdout, want...) == "" {
				t.Errorf("--show-all: no row %q:\n%s", want, r.stdout)
			}
		}
		if strings.Contains(r.stdout, "\x1b[") {
			t.Errorf("colours to a pipe")
		}
		if r := run("describe", "fap", "checkout", "-n", ns, "--color=always"); !strings.Contains(r.stdout, "\x1b[31mFalse\x1b[0m") {
			t.Errorf("--color=always: %q", r.stdout)
		}
		if r := run("describe", "fap", "nope", "-n", ns); exitCode(r.err) != 1 || !strings.Contains(r.stderr, `"nope" not found in namespace `+ns) {
			t.Errorf("describe nope: %v %q", r.err, r.stderr)
		}
	})

	t.Run("status", func(t *testing.T) {
		r := run("status", "-n", ns)
		if r.err != nil {
			t.Fatalf("status: %v\n%s", r.err, r.stderr)
		}
		t.Logf("status:\n%s", r.stdout)
		want := []string{ns, "checkout", "False", d.vip, "1/1", "v2", "published", "1/2", "ClustersUnavailable"}
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "NAMESPACE NAME READY VIP ANNOUNCED CERT DNS CLUSTERS REASON" ||
			!slices.Equal(strings.Fields(lines[1]), want) ||
			!slices.Equal(strings.Fields(lines[2]), []string{ns, "plain", "True", "-", "-", "-", "-", "0/0", "-"}) {
			t.Errorf("status:\n%s\nwant a header, %v and plain", r.stdout, want)
		}
		if r := run("status", "-n", ns, "--fail-not-ready"); exitCode(r.err) != 1 || !strings.Contains(r.stderr, "1 of 2 access points not ready: "+ns+"/checkout") {
			t.Errorf("--fail-not-ready: %v %q", r.err, r.stderr)
		}
		if r := run("status", "plain", "-n", ns, "--fail-not-ready", "--no-headers"); r.err != nil || strings.Count(r.stdout, "\n") != 1 {
			t.Errorf("--fail-not-ready plain: %v %q", r.err, r.stdout)
		}
		r = run("status", "-A", "-o", "json")
		var rows []map[string]string
		if err := json.Unmarshal([]byte(r.stdout), &rows); r.err != nil || err != nil {
			t.Fatalf("-o json: %v %v\n%s", r.err, err, r.stdout)
		}
		i := slices.IndexFunc(rows, func(row map[string]string) bool { return row["namespace"] == ns && row["name"] == "checkout" })
		if i < 0 || rows[i]["ready"] != "False" || rows[i]["vip"] != d.vip || rows[i]["clusters"] != "1/2" || rows[i]["reason"] != "ClustersUnavailable" {
			t.Errorf("-o json: %v", rows)
		}
	})
}

// describeFixture names the objects of TestDescribeAndStatus.
type describeFixture struct {
	t                  *testing.T
	e                  *sharedEnv
	ns, vip, fqdn      string
	clusterA, clusterB string
	node, group        string
}

func newDescribeFixture(t *testing.T, e *sharedEnv, ns string) *describeFixture {
	return &describeFixture{t: t, e: e, ns: ns, vip: nextIPv4(), fqdn: ns + ".portico.test",
		clusterA: uniqueName("dsc-a"), clusterB: uniqueName("dsc-b"), node: uniqueName("lb"), group: uniqueName("lbg")}
}

func (d *describeFixture) create(ctx context.Context) {
	t, pc := d.t, d.e.pc
	t.Helper()
	now := metav1.NewTime(time.Now().Add(-time.Minute).Truncate(time.Second))
	ok := func(typ, reason string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Reason: reason, Message: reason, LastTransitionTime: now}
	}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	for _, c := range []struct{ name, zone string }{{d.clusterA, "zone-a"}, {d.clusterB, "zone-b"}} {
		_, err := pc.ClusterV1alpha1().MemberClusters().Create(ctx, &clusterv1alpha1.MemberCluster{
			ObjectMeta: metav1.ObjectMeta{Name: c.name}, Spec: clusterv1alpha1.MemberClusterSpec{Zone: c.zone}}, metav1.CreateOptions{})
		must("MemberCluster", err)
		available := ok(clusterv1alpha1.MemberClusterAvailable, "LeaseRenewed")
		if c.name == d.clusterB {
			available = metav1.Condition{Type: clusterv1alpha1.MemberClusterAvailable, Status: metav1.ConditionUnknown,
				Reason: "LeaseExpired", Message: "no Lease renewal for 40s", LastTransitionTime: now}
		}
		must("MemberCluster status", retry.RetryOnConflict(retry.DefaultRetry, func() error {
			mc, err := pc.ClusterV1alpha1().MemberClusters().Get(ctx, c.name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			mc.Status.Conditions = []metav1.Condition{ok(clusterv1alpha1.MemberClusterJoined, "AgentConnected"), available}
			_, err = pc.ClusterV1alpha1().MemberClusters().UpdateStatus(ctx, mc, metav1.UpdateOptions{})
			return err
		}))
	}

	node, err := pc.ClusterV1alpha1().LoadBalancerNodes().Create(ctx, &clusterv1alpha1.LoadBalancerNode{
		ObjectMeta: metav1.ObjectMeta{Name: d.node}, Spec: clusterv1alpha1.LoadBalancerNodeSpec{Group: d.group, Address: "192.0.2.10"}}, metav1.CreateOptions{})
	must("LoadBalancerNode", err)
	node.Status.Announced = []string{d.vip}
	node.Status.Conditions = []metav1.Condition{ok("Ready", "Ready")}
	_, err = pc.ClusterV1alpha1().LoadBalancerNodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	must("LoadBalancerNode status", err)

	vip, err := pc.TrafficV1alpha1().VirtualIPs().Create(ctx, &trafficv1alpha1.VirtualIP{
		ObjectMeta: metav1.ObjectMeta{Name: d.vip},
		Spec:       trafficv1alpha1.VirtualIPSpec{Address: d.vip, Pool: "local", Groups: []string{d.group}}}, metav1.CreateOptions{})
	must("VirtualIP", err)
	vip.Status.AnnouncedBy = []string{d.node}
	vip.Status.HealthyBackends = 2
	vip.Status.Conditions = []metav1.Condition{ok(trafficv1alpha1.VirtualIPAnnounced, "Announced")}
	_, err = pc.TrafficV1alpha1().VirtualIPs().UpdateStatus(ctx, vip, metav1.UpdateOptions{})
	must("VirtualIP status", err)

	nsvc, err := pc.TrafficV1alpha1().NameServices(d.ns).Create(ctx, &trafficv1alpha1.NameService{
		ObjectMeta: metav1.ObjectMeta{Name: "checkout"},
		Spec: trafficv1alpha1.NameServiceSpec{FQDN: d.fqdn, ProviderRef: trafficv1alpha1.LocalReference{Name: "local"},
			Target: trafficv1alpha1.NameServiceTarget{AccessPointRef: &trafficv1alpha1.LocalReference{Name: "checkout"}}}}, metav1.CreateOptions{})
	must("NameService", err)
	nsvc.Status.Records = []trafficv1alpha1.DNSRecord{{Type: "A", Value: d.vip}}
	nsvc.Status.Conditions = []metav1.Condition{ok(trafficv1alpha1.NameServicePublished, "Published")}
	_, err = pc.TrafficV1alpha1().NameServices(d.ns).UpdateStatus(ctx, nsvc, metav1.UpdateOptions{})
	must("NameService status", err)

	// The cluster namespace of clusterA (no controller creates it here) and
	// its ClusterAccessPoint; clusterB has none.
	capNS := clusterv1alpha1.ClusterNamespace(d.clusterA)
	_, err = d.e.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: capNS}}, metav1.CreateOptions{})
	must("cluster namespace", err)
	cap, err := pc.TrafficV1alpha1().ClusterAccessPoints(capNS).Create(ctx, &trafficv1alpha1.ClusterAccessPoint{
		ObjectMeta: metav1.ObjectMeta{Name: d.ns + ".checkout"},
		Spec: trafficv1alpha1.ClusterAccessPointSpec{Revision: "r1",
			AccessPointRef: trafficv1alpha1.AccessPointReference{Namespace: d.ns, Name: "checkout"}}}, metav1.CreateOptions{})
	must("ClusterAccessPoint", err)
	cap.Status.ObservedGeneration, cap.Status.ObservedRevision = cap.Generation, "r1"
	cap.Status.Objects = []trafficv1alpha1.ObjectStatus{
		{Group: "networking.istio.io", Kind: "Gateway", Namespace: d.ns, Name: "checkout", Applied: true},
		{Group: "networking.istio.io", Kind: "VirtualService", Namespace: d.ns, Name: "checkout", Applied: true},
	}
	cap.Status.Conditions = []metav1.Condition{ok(trafficv1alpha1.ClusterAccessPointApplied, "Applied")}
	_, err = pc.TrafficV1alpha1().ClusterAccessPoints(capNS).UpdateStatus(ctx, cap, metav1.UpdateOptions{})
	must("ClusterAccessPoint status", err)

	d.createAccessPoints(ctx, now, ok)
}

func (d *describeFixture) createAccessPoints(ctx context.Context, now metav1.Time, ok func(typ, reason string) metav1.Condition) {
	t, faps := d.t, d.e.pc.TrafficV1alpha1().FederatedAccessPoints(d.ns)
	t.Helper()
	fap, err := faps.Create(ctx, &trafficv1alpha1.FederatedAccessPoint{
		ObjectMeta: metav1.ObjectMeta{Name: "checkout"},
		Spec: trafficv1alpha1.FederatedAccessPointSpec{
			Hosts:        []string{d.fqdn},
			Placement:    &trafficv1alpha1.Placement{Clusters: []trafficv1alpha1.ClusterReference{{Name: d.clusterA}, {Name: d.clusterB}}},
			LoadBalancer: &trafficv1alpha1.LoadBalancerSpec{Pool: "local", Ports: []trafficv1alpha1.Port{{Port: 443}}},
			TLS:          &trafficv1alpha1.TLSSpec{IssuerRef: trafficv1alpha1.LocalReference{Name: "local-ca"}},
		}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("FederatedAccessPoint: %v", err)
	}
	notAfter := metav1.NewTime(time.Now().Add(90 * 24 * time.Hour).Truncate(time.Second))
	fap.Status = trafficv1alpha1.FederatedAccessPointStatus{
		ObservedGeneration: fap.Generation, Revision: "r1",
		VIP:         &trafficv1alpha1.VIPStatus{Address: d.vip, Pool: "local", AnnouncedBy: []string{d.node}, HealthyBackends: 2, TotalBackends: 2},
		Certificate: &trafficv1alpha1.CertificateStatus{Serial: "0a1b2c3d4e5f60718293", Version: 2, NotAfter: &notAfter, InstalledClusters: []string{d.clusterA}},
		DNS:         &trafficv1alpha1.DNSStatus{FQDNs: []string{d.fqdn}, Published: true, Provider: "local"},
		Clusters: []trafficv1alpha1.ClusterStatus{
			{Name: d.clusterA, Zone: "zone-a", Phase: trafficv1alpha1.ClusterPhaseApplied, ObservedRevision: "r1",
				Objects: trafficv1alpha1.ObjectCounts{Applied: 2, Total: 2}, GatewayEndpoints: 1, LastTransitionTime: &now},
			{Name: d.clusterB, Zone: "zone-b", Phase: trafficv1alpha1.ClusterPhaseUnavailable, LastTransitionTime: &now,
				Message: "the cluster's agent is not available; it keeps its last configuration"},
		},
		Conditions: []metav1.Condition{
			ok(trafficv1alpha1.AccessPointPlaced, "Placed"),
			{Type: trafficv1alpha1.AccessPointApplied, Status: metav1.ConditionFalse, Reason: "ClustersUnavailable",
				Message: "unavailable: " + d.clusterB, LastTransitionTime: now},
			ok(trafficv1alpha1.AccessPointVIPAllocated, "Allocated"),
			ok(trafficv1alpha1.AccessPointLoadBalancerReady, "Announced"),
			ok(trafficv1alpha1.AccessPointCertificateReady, "Issued"),
			ok(trafficv1alpha1.AccessPointDNSReady, "Published"),
			{Type: trafficv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: "NotReady",
				Message: "not ready: Applied (ClustersUnavailable)", LastTransitionTime: now},
		},
	}
	if _, err := faps.UpdateStatus(ctx, fap, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("FederatedAccessPoint status: %v", err)
	}

	plain, err := faps.Create(ctx, &trafficv1alpha1.FederatedAccessPoint{
		ObjectMeta: metav1.ObjectMeta{Name: "plain"},
		Spec:       trafficv1alpha1.FederatedAccessPointSpec{Hosts: []string{"plain." + d.fqdn}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("FederatedAccessPoint plain: %v", err)
	}
	plain.Status = trafficv1alpha1.FederatedAccessPointStatus{ObservedGeneration: plain.Generation,
		Conditions: []metav1.Condition{ok(trafficv1alpha1.ConditionReady, "Ready")}}
	if _, err := faps.UpdateStatus(ctx, plain, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("FederatedAccessPoint plain status: %v", err)
	}
}

// findTreeRow returns the line of a describe tree whose NAME column ends
// with words[0] (after the tree's branches) and whose next columns are the
// rest of words, or "".
func findTreeRow(out string, words ...string) string {
	for _, line := range strings.Split(out, "\n") {
		label, rest, ok := strings.Cut(line, words[0]+"  ")
		if !ok || strings.Trim(label, " │") != "" {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) >= len(words)-1 && slices.Equal(fields[:len(words)-1], words[1:]) {
			return line
		}
	}
	return ""
}

// exitCode is the process exit code of err from exec (0 for nil).
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
