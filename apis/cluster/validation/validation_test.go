package validation

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portico-dev/portico/apis/cluster"
)

// wantErr is an expected error: its type and field path, e.g.
// {field.ErrorTypeRequired, "spec.zone"}.
type wantErr struct {
	Type  field.ErrorType
	Field string
}

// expectErrors compares errs with want, ignoring order.
func expectErrors(t *testing.T, errs field.ErrorList, want ...wantErr) {
	t.Helper()
	got := make([]string, 0, len(errs))
	for _, e := range errs {
		got = append(got, string(e.Type)+" "+e.Field)
	}
	exp := make([]string, 0, len(want))
	for _, w := range want {
		exp = append(exp, string(w.Type)+" "+w.Field)
	}
	slices.Sort(got)
	slices.Sort(exp)
	if !slices.Equal(got, exp) {
		t.Errorf("errors:\n  got  %q\n  want %q\nfull: %v", got, exp, errs)
	}
}

func required(f string) wantErr  { return wantErr{field.ErrorTypeRequired, f} }
func invalid(f string) wantErr   { return wantErr{field.ErrorTypeInvalid, f} }
func duplicate(f string) wantErr { return wantErr{field.ErrorTypeDuplicate, f} }
func forbidden(f string) wantErr { return wantErr{field.ErrorTypeForbidden, f} }
func notSupported(f string) wantErr {
	return wantErr{field.ErrorTypeNotSupported, f}
}

func duration(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

func validMemberCluster() *cluster.MemberCluster {
	return &cluster.MemberCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "east-1"},
		Spec:       cluster.MemberClusterSpec{Zone: "zone-a", Region: "eu-west"},
	}
}

func TestValidateMemberCluster(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*cluster.MemberCluster)
		want   []wantErr
	}{
		{name: "valid", mutate: func(*cluster.MemberCluster) {}},
		{name: "region is optional", mutate: func(mc *cluster.MemberCluster) { mc.Spec.Region = "" }},
		{name: "name of 47 characters", mutate: func(mc *cluster.MemberCluster) { mc.Name = strings.Repeat("a", 47) }},
		{
			name:   "name of 48 characters: portico-cluster-<name> would exceed 63",
			mutate: func(mc *cluster.MemberCluster) { mc.Name = strings.Repeat("a", 48) },
			want:   []wantErr{invalid("metadata.name")},
		},
		{
			name:   "name must be a DNS label, not a subdomain",
			mutate: func(mc *cluster.MemberCluster) { mc.Name = "east.1" },
			want:   []wantErr{invalid("metadata.name")},
		},
		{
			name:   "upper-case name",
			mutate: func(mc *cluster.MemberCluster) { mc.Name = "East-1" },
			want:   []wantErr{invalid("metadata.name")},
		},
		{
			name:   "name required",
			mutate: func(mc *cluster.MemberCluster) { mc.Name = "" },
			want:   []wantErr{required("metadata.name")},
		},
		{
			name:   "cluster-scoped",
			mutate: func(mc *cluster.MemberCluster) { mc.Namespace = "default" },
			want:   []wantErr{forbidden("metadata.namespace")},
		},
		{
			name:   "zone required",
			mutate: func(mc *cluster.MemberCluster) { mc.Spec.Zone = "" },
			want:   []wantErr{required("spec.zone")},
		},
		{
			name:   "zone must be a label value",
			mutate: func(mc *cluster.MemberCluster) { mc.Spec.Zone = "zone a" },
			want:   []wantErr{invalid("spec.zone")},
		},
		{
			name:   "zone longer than a label value",
			mutate: func(mc *cluster.MemberCluster) { mc.Spec.Zone = strings.Repeat("z", 64) },
			want:   []wantErr{invalid("spec.zone")},
		},
		{
			name:   "region must be a label value",
			mutate: func(mc *cluster.MemberCluster) { mc.Spec.Region = "eu/west" },
			want:   []wantErr{invalid("spec.region")},
		},
		{
			name: "gateway CIDRs of both families",
			mutate: func(mc *cluster.MemberCluster) {
				mc.Spec.GatewayCIDRs = []string{"10.0.0.0/16", "192.0.2.7/32", "fd00:10::/64", "2001:db8::1/128"}
			},
		},
		{
			name: "gateway CIDRs that are not CIDRs",
			mutate: func(mc *cluster.MemberCluster) {
				mc.Spec.GatewayCIDRs = []string{"10.0.0.0/16", "10.1.0.1", "10.2.0.0/33", "fd00::/129", "a.b.c.d/8", "fe80::/64%eth0", ""}
			},
			want: []wantErr{invalid("spec.gatewayCIDRs[1]"), invalid("spec.gatewayCIDRs[2]"), invalid("spec.gatewayCIDRs[3]"),
				invalid("spec.gatewayCIDRs[4]"), invalid("spec.gatewayCIDRs[5]"), invalid("spec.gatewayCIDRs[6]")},
		},
		{
			name:   "gateway CIDRs with host bits",
			mutate: func(mc *cluster.MemberCluster) { mc.Spec.GatewayCIDRs = []string{"10.0.0.1/16", "fd00::1/64"} },
			want:   []wantErr{invalid("spec.gatewayCIDRs[0]"), invalid("spec.gatewayCIDRs[1]")},
		},
		{
			name: "gateway CIDR twice",
			mutate: func(mc *cluster.MemberCluster) {
				mc.Spec.GatewayCIDRs = []string{"10.0.0.0/16", "fd00::/64", "10.0.0.0/16"}
			},
			want: []wantErr{duplicate("spec.gatewayCIDRs[2]")},
		},
		{
			name:   "64 gateway CIDRs",
			mutate: func(mc *cluster.MemberCluster) { mc.Spec.GatewayCIDRs = cidrs(MaxGatewayCIDRs) },
		},
		{
			name:   "65 gateway CIDRs",
			mutate: func(mc *cluster.MemberCluster) { mc.Spec.GatewayCIDRs = cidrs(MaxGatewayCIDRs + 1) },
			want:   []wantErr{{field.ErrorTypeTooMany, "spec.gatewayCIDRs"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mc := validMemberCluster()
			tt.mutate(mc)
			expectErrors(t, ValidateMemberCluster(mc), tt.want...)
		})
	}
}

// cidrs returns n distinct /24s.
func cidrs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("10.%d.%d.0/24", i/256, i%256)
	}
	return out
}

func TestValidateMemberClusterUpdate(t *testing.T) {
	old := validMemberCluster()
	old.ResourceVersion = "1"

	mc := old.DeepCopy()
	mc.Spec.Zone = "zone-b"
	expectErrors(t, ValidateMemberClusterUpdate(mc, old))

	mc = old.DeepCopy()
	mc.Spec.Zone = ""
	expectErrors(t, ValidateMemberClusterUpdate(mc, old), required("spec.zone"))

	mc = old.DeepCopy()
	mc.Name = "east-2"
	expectErrors(t, ValidateMemberClusterUpdate(mc, old), invalid("metadata.name"))
}

func validCondition(typ string) metav1.Condition {
	return metav1.Condition{
		Type:               typ,
		Status:             metav1.ConditionTrue,
		Reason:             "LeaseRenewed",
		LastTransitionTime: metav1.Now(),
	}
}

func TestValidateStatusConditions(t *testing.T) {
	mc := validMemberCluster()
	mc.Status.Conditions = []metav1.Condition{validCondition(cluster.MemberClusterJoined), validCondition(cluster.MemberClusterAvailable)}
	expectErrors(t, ValidateMemberClusterStatus(mc))

	mc.Status.Conditions[1].Type = cluster.MemberClusterJoined
	expectErrors(t, ValidateMemberClusterStatus(mc), duplicate("status.conditions[1]"))

	g := validLoadBalancerGroup()
	g.Status.Conditions = []metav1.Condition{validCondition(cluster.ConditionReady)}
	g.Status.Conditions[0].Status = "Maybe"
	expectErrors(t, ValidateLoadBalancerGroupStatus(g), notSupported("status.conditions[0].status"))

	n := validLoadBalancerNode()
	n.Status.Conditions = []metav1.Condition{validCondition(cluster.LoadBalancerNodeBGPEstablished)}
	n.Status.Conditions[0].Reason = ""
	expectErrors(t, ValidateLoadBalancerNodeStatus(n), required("status.conditions[0].reason"))
}

func validLoadBalancerGroup() *cluster.LoadBalancerGroup {
	return &cluster.LoadBalancerGroup{
		ObjectMeta: metav1.ObjectMeta{Name: "zone-a"},
		Spec: cluster.LoadBalancerGroupSpec{
			Zone: "zone-a",
			BGP: cluster.BGPConfig{
				LocalASN: 64512,
				Peers: []cluster.BGPPeer{
					{Address: "192.0.2.1", ASN: 64500, HoldTime: duration(9 * time.Second), KeepaliveTime: duration(3 * time.Second)},
					{Address: "2001:db8::1", ASN: 64501, PasswordSecretRef: &cluster.SecretKeyReference{Name: "bgp-password", Key: "password"}},
				},
			},
		},
	}
}

func TestValidateLoadBalancerGroup(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*cluster.LoadBalancerGroup)
		want   []wantErr
	}{
		{name: "valid", mutate: func(*cluster.LoadBalancerGroup) {}},
		{name: "no BGP at all", mutate: func(g *cluster.LoadBalancerGroup) { g.Spec.BGP = cluster.BGPConfig{} }},
		{name: "localASN without peers", mutate: func(g *cluster.LoadBalancerGroup) { g.Spec.BGP.Peers = nil }},
		{
			name:   "name must be a DNS subdomain",
			mutate: func(g *cluster.LoadBalancerGroup) { g.Name = "Zone_A" },
			want:   []wantErr{invalid("metadata.name")},
		},
		{
			name:   "cluster-scoped",
			mutate: func(g *cluster.LoadBalancerGroup) { g.Namespace = "default" },
			want:   []wantErr{forbidden("metadata.namespace")},
		},
		{
			name:   "zone required",
			mutate: func(g *cluster.LoadBalancerGroup) { g.Spec.Zone = "" },
			want:   []wantErr{required("spec.zone")},
		},
		{
			name:   "zone must be a label value",
			mutate: func(g *cluster.LoadBalancerGroup) { g.Spec.Zone = "-zone" },
			want:   []wantErr{invalid("spec.zone")},
		},
		{
			name:   "localASN required with peers",
			mutate: func(g *cluster.LoadBalancerGroup) { g.Spec.BGP.LocalASN = 0 },
			want:   []wantErr{required("spec.bgp.localASN")},
		},
		{
			name:   "peer address must be an IP",
			mutate: func(g *cluster.LoadBalancerGroup) { g.Spec.BGP.Peers[0].Address = "router.example.com" },
			want:   []wantErr{invalid("spec.bgp.peers[0].address")},
		},
		{
			name:   "peer address required",
			mutate: func(g *cluster.LoadBalancerGroup) { g.Spec.BGP.Peers[1].Address = "" },
			want:   []wantErr{invalid("spec.bgp.peers[1].address")},
		},
		{
			name:   "duplicate peer",
			mutate: func(g *cluster.LoadBalancerGroup) { g.Spec.BGP.Peers[1].Address = "192.0.2.1" },
			want:   []wantErr{duplicate("spec.bgp.peers[1].address")},
		},
		{
			name:   "duplicate peer in another spelling",
			mutate: func(g *cluster.LoadBalancerGroup) { g.Spec.BGP.Peers[0].Address = "2001:DB8:0::1" },
			want:   []wantErr{duplicate("spec.bgp.peers[1].address")},
		},
		{
			name:   "peer asn required",
			mutate: func(g *cluster.LoadBalancerGroup) { g.Spec.BGP.Peers[1].ASN = 0 },
			want:   []wantErr{required("spec.bgp.peers[1].asn")},
		},
		{name: "4-byte asn", mutate: func(g *cluster.LoadBalancerGroup) { g.Spec.BGP.Peers[1].ASN = 4200000000 }},
		{
			name:   "holdTime 0 disables keepalives",
			mutate: func(g *cluster.LoadBalancerGroup) { g.Spec.BGP.Peers[0].HoldTime = duration(0) },
		},
		{
			name: "holdTime 3s with keepalive 1s",
			mutate: func(g *cluster.LoadBalancerGroup) {
				g.Spec.BGP.Peers[0].HoldTime, g.Spec.BGP.Peers[0].KeepaliveTime = duration(3*time.Second), duration(time.Second)
			},
		},
		{
			name: "holdTime below 3s",
			mutate: func(g *cluster.LoadBalancerGroup) {
				g.Spec.BGP.Peers[0].HoldTime, g.Spec.BGP.Peers[0].KeepaliveTime = duration(2*time.Second), duration(time.Second)
			},
			want: []wantErr{invalid("spec.bgp.peers[0].holdTime")},
		},
		{
			name:   "negative holdTime",
			mutate: func(g *cluster.LoadBalancerGroup) { g.Spec.BGP.Peers[0].HoldTime = duration(-9 * time.Second) },
			want:   []wantErr{invalid("spec.bgp.peers[0].holdTime")},
		},
		{
			name:   "keepaliveTime equal to holdTime",
			mutate: func(g *cluster.LoadBalancerGroup) { g.Spec.BGP.Peers[0].KeepaliveTime = duration(9 * time.Second) },
			want:   []wantErr{invalid("spec.bgp.peers[0].keepaliveTime")},
		},
		{
			name:   "negative keepaliveTime",
			mutate: func(g *cluster.LoadBalancerGroup) { g.Spec.BGP.Peers[0].KeepaliveTime = duration(-time.Second) },
			want:   []wantErr{invalid("spec.bgp.peers[0].keepaliveTime")},
		},
		{
			name:   "password secret name required",
			mutate: func(g *cluster.LoadBalancerGroup) { g.Spec.BGP.Peers[1].PasswordSecretRef.Name = "" },
			want:   []wantErr{required("spec.bgp.peers[1].passwordSecretRef.name")},
		},
		{
			name:   "password secret name must be a DNS subdomain",
			mutate: func(g *cluster.LoadBalancerGroup) { g.Spec.BGP.Peers[1].PasswordSecretRef.Name = "BGP_password" },
			want:   []wantErr{invalid("spec.bgp.peers[1].passwordSecretRef.name")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := validLoadBalancerGroup()
			tt.mutate(g)
			expectErrors(t, ValidateLoadBalancerGroup(g), tt.want...)
		})
	}
}

func TestValidateLoadBalancerGroupUpdate(t *testing.T) {
	old := validLoadBalancerGroup()
	old.ResourceVersion = "1"
	g := old.DeepCopy()
	g.Spec.BGP.Peers = g.Spec.BGP.Peers[:1]
	expectErrors(t, ValidateLoadBalancerGroupUpdate(g, old))

	g.Spec.BGP.LocalASN = 0
	expectErrors(t, ValidateLoadBalancerGroupUpdate(g, old), required("spec.bgp.localASN"))
}

func validLoadBalancerNode() *cluster.LoadBalancerNode {
	return &cluster.LoadBalancerNode{
		ObjectMeta: metav1.ObjectMeta{Name: "edge-1.zone-a"},
		Spec:       cluster.LoadBalancerNodeSpec{Group: "zone-a", Address: "198.51.100.7"},
	}
}

func TestValidateLoadBalancerNode(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*cluster.LoadBalancerNode)
		want   []wantErr
	}{
		{name: "valid", mutate: func(*cluster.LoadBalancerNode) {}},
		{name: "IPv6 address", mutate: func(n *cluster.LoadBalancerNode) { n.Spec.Address = "2001:db8::7" }},
		{
			name:   "name must be a DNS subdomain",
			mutate: func(n *cluster.LoadBalancerNode) { n.Name = "edge_1" },
			want:   []wantErr{invalid("metadata.name")},
		},
		{
			name:   "cluster-scoped",
			mutate: func(n *cluster.LoadBalancerNode) { n.Namespace = "portico-system" },
			want:   []wantErr{forbidden("metadata.namespace")},
		},
		{
			name:   "group required",
			mutate: func(n *cluster.LoadBalancerNode) { n.Spec.Group = "" },
			want:   []wantErr{required("spec.group")},
		},
		{
			name:   "group must be a DNS subdomain",
			mutate: func(n *cluster.LoadBalancerNode) { n.Spec.Group = "Zone_A" },
			want:   []wantErr{invalid("spec.group")},
		},
		{
			name:   "address must be an IP",
			mutate: func(n *cluster.LoadBalancerNode) { n.Spec.Address = "198.51.100.256" },
			want:   []wantErr{invalid("spec.address")},
		},
		{
			name:   "address required",
			mutate: func(n *cluster.LoadBalancerNode) { n.Spec.Address = "" },
			want:   []wantErr{required("spec.address")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := validLoadBalancerNode()
			tt.mutate(n)
			expectErrors(t, ValidateLoadBalancerNode(n), tt.want...)
		})
	}
}

func TestValidateLoadBalancerNodeUpdate(t *testing.T) {
	old := validLoadBalancerNode()
	old.ResourceVersion = "1"
	n := old.DeepCopy()
	n.Spec.Address = "198.51.100.8"
	expectErrors(t, ValidateLoadBalancerNodeUpdate(n, old))

	n.Name = "edge-2"
	expectErrors(t, ValidateLoadBalancerNodeUpdate(n, old), invalid("metadata.name"))
}

func TestValidateLoadBalancerNodeStatus(t *testing.T) {
	n := validLoadBalancerNode()
	n.Status.Announced = []string{"203.0.113.10", "2001:db8::10"}
	expectErrors(t, ValidateLoadBalancerNodeStatus(n))

	n.Status.Announced = append(n.Status.Announced, "203.0.113.0/24")
	expectErrors(t, ValidateLoadBalancerNodeStatus(n), invalid("status.announced[2]"))
}

func TestValidateLoadBalancerNodeStatusWeights(t *testing.T) {
	n := validLoadBalancerNode()
	n.Status.VIPs = []cluster.VIPHealth{{Address: "203.0.113.10", HealthyBackends: 3, Weights: []cluster.BackendWeight{
		{Weight: 99, Backends: []string{"10.0.0.10", "10.0.0.11"}}, {Weight: 0, Backends: []string{"10.1.0.10"}}}}}
	expectErrors(t, ValidateLoadBalancerNodeStatus(n))

	w := n.Status.VIPs[0].Weights
	w[0].Weight, w[1].Backends = 65536, []string{"10.0.0.10", "nope"}
	expectErrors(t, ValidateLoadBalancerNodeStatus(n), invalid("status.vips[0].weights[0].weight"),
		duplicate("status.vips[0].weights[1].backends[0]"), invalid("status.vips[0].weights[1].backends[1]"))

	w[0].Weight, w[1].Weight, w[1].Backends = 1, 1, []string{"10.1.0.10"}
	expectErrors(t, ValidateLoadBalancerNodeStatus(n), duplicate("status.vips[0].weights[1].weight"))
}

func TestValidateSecretName(t *testing.T) {
	p := field.NewPath("ref")
	expectErrors(t, ValidateSecretName("tsig-key", p))
	expectErrors(t, ValidateSecretName("", p), required("ref"))
	expectErrors(t, ValidateSecretName("TSIG", p), invalid("ref"))
}

func TestValidateMemberClusterName(t *testing.T) {
	for name, ok := range map[string]bool{
		"a":                     true,
		strings.Repeat("a", 47): true,
		strings.Repeat("a", 48): false,
		"a-b":                   true,
		"a.b":                   false,
		"-a":                    false,
		"A":                     false,
	} {
		if got := len(ValidateMemberClusterName(name, false)) == 0; got != ok {
			t.Errorf("ValidateMemberClusterName(%q) ok = %v, want %v", name, got, ok)
		}
	}
}

// The hold time travels in a 2-octet field of the BGP OPEN message, in seconds
// (RFC 4271 4.2): at most 65535s.
func TestValidateBGPHoldTimeUpperBound(t *testing.T) {
	g := validLoadBalancerGroup()
	g.Spec.BGP.Peers[0].HoldTime = duration(65535 * time.Second)
	expectErrors(t, ValidateLoadBalancerGroup(g))

	g.Spec.BGP.Peers[0].HoldTime = duration(65536 * time.Second)
	expectErrors(t, ValidateLoadBalancerGroup(g), invalid("spec.bgp.peers[0].holdTime"))
}
