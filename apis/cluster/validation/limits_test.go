package validation

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portico-dev/portico/apis/cluster"
)

func peers(n int) []cluster.BGPPeer {
	out := make([]cluster.BGPPeer, n)
	for i := range out {
		out[i] = cluster.BGPPeer{Address: fmt.Sprintf("192.0.2.%d", i+1), ASN: 64500}
	}
	return out
}

// TestBGPPeersLimit checks MaxBGPPeers at its value and one above.
func TestBGPPeersLimit(t *testing.T) {
	g := validLoadBalancerGroup()
	g.Spec.BGP.Peers = peers(MaxBGPPeers)
	expectErrors(t, ValidateLoadBalancerGroup(g))

	g.Spec.BGP.Peers = peers(MaxBGPPeers + 1)
	errs := ValidateLoadBalancerGroup(g)
	expectErrors(t, errs, wantErr{field.ErrorTypeTooMany, "spec.bgp.peers"})
	if len(errs) == 1 && !strings.Contains(errs[0].Detail, strconv.Itoa(MaxBGPPeers)) {
		t.Errorf("detail %q does not name the limit %d", errs[0].Detail, MaxBGPPeers)
	}
}
