package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Default BGP timers of a peer.
const (
	DefaultHoldTime      = 9 * time.Second
	DefaultKeepaliveTime = 3 * time.Second
)

// SetDefaults_BGPPeer fills the timers of a BGP peer.
func SetDefaults_BGPPeer(obj *BGPPeer) {
	if obj.HoldTime == nil {
		obj.HoldTime = &metav1.Duration{Duration: DefaultHoldTime}
	}
	if obj.KeepaliveTime == nil {
		obj.KeepaliveTime = &metav1.Duration{Duration: DefaultKeepaliveTime}
	}
}

// DefaultGatewayNamespace is where Istio's default ingress gateway runs.
const DefaultGatewayNamespace = "istio-system"

// SetDefaults_MemberClusterSpec makes istio-system the gateway namespace.
func SetDefaults_MemberClusterSpec(obj *MemberClusterSpec) {
	if obj.GatewayNamespace == "" {
		obj.GatewayNamespace = DefaultGatewayNamespace
	}
}
