// Package lblease decides whether an edge node's lb-agent is alive. Each
// lb-agent renews the Lease lb-agent-<node> in the hub cluster's
// portico-edge (created by kubectl portico join-edge, the only Lease the node's
// identity may update; no controller Lease lives there); while that Lease holds, the node's LoadBalancerNode status is
// current. Once it expires the status is stale: the agent stopped, and the
// node's routes leave the routers when BGP times out. Every hub controller that
// reads LoadBalancerNodes asks this package, so they agree on which nodes count.
package lblease

import (
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	coordinationlisters "k8s.io/client-go/listers/coordination/v1"
)

// Namespace holds the lb-agents' Leases in the hub cluster.
const Namespace = "portico-edge"

// namePrefix prefixes the node name in the name of its Lease.
const namePrefix = "lb-agent-"

// Name is the Lease an lb-agent renews for its node.
func Name(node string) string { return namePrefix + node }

// NodeOf returns the node whose Lease l is, and false for any other Lease of
// Namespace.
func NodeOf(l *coordinationv1.Lease) (string, bool) {
	if l.Namespace != Namespace {
		return "", false
	}
	node, ok := strings.CutPrefix(l.Name, namePrefix)
	if !ok || node == "" {
		return "", false
	}
	return node, true
}

// Expiry is when l stops holding: its last renewal plus its duration. A Lease
// without either never held (the zero time).
func Expiry(l *coordinationv1.Lease) time.Time {
	if l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
		return time.Time{}
	}
	return l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second)
}

// Alive tells whether l still holds at now.
func Alive(l *coordinationv1.Lease, now time.Time) bool { return Expiry(l).After(now) }

// Left is how long the node's Lease still holds at now: zero or less when the
// Lease is missing or expired, that is when the node does not count.
func Left(leases coordinationlisters.LeaseLister, node string, now time.Time) time.Duration {
	l, err := leases.Leases(Namespace).Get(Name(node))
	if err != nil {
		return 0
	}
	return Expiry(l).Sub(now)
}
