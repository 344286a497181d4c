package traffic

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Reasons of a VirtualIP's Announced condition.
const (
	VirtualIPReasonAnnounced    = "Announced"
	VirtualIPReasonNotAnnounced = "NotAnnounced"
)

// VirtualIPNotAnnounced is the Announced condition of a VirtualIP that no
// LoadBalancerNode of its groups announces. Storage gives it to every new
// VirtualIP (no lb-agent has seen the address yet), and the hub's VirtualIP
// controller computes the same condition while that stays true, so that a new
// VirtualIP's status is not written a second time with the same content.
func VirtualIPNotAnnounced(address string, groups []string, generation int64) metav1.Condition {
	return metav1.Condition{Type: VirtualIPAnnounced, Status: metav1.ConditionFalse, Reason: VirtualIPReasonNotAnnounced,
		Message: fmt.Sprintf("no LoadBalancerNode of groups %v announces %s", groups, address), ObservedGeneration: generation}
}
