package v1alpha1

import "strings"

// Names shared by the hub, the kubectl plugin and the member-agent.
const (
	// ClusterNamespacePrefix prefixes the hub namespace of every member cluster.
	ClusterNamespacePrefix = "portico-cluster-"
	// AgentServiceAccount is the member-agent's ServiceAccount in its cluster namespace.
	AgentServiceAccount = "member-agent"
	// AgentLease is the Lease the member-agent renews in its cluster namespace.
	AgentLease = "member-agent"
	// MemberClusterFinalizer makes the hub remove a cluster's namespace and RBAC
	// before the MemberCluster goes away.
	MemberClusterFinalizer = "cluster.portico.dev/cleanup"
	// LabelCluster names the member cluster an object in the hub cluster belongs to.
	LabelCluster = "cluster.portico.dev/name"
	// LabelKubefedCluster on a MemberCluster names the kubefed KubeFedCluster it
	// is; without it, a KubeFedCluster maps to the MemberCluster of its name.
	LabelKubefedCluster = "portico.dev/kubefed-cluster"
)

// ClusterNamespace is the hub namespace of a member cluster.
func ClusterNamespace(cluster string) string { return ClusterNamespacePrefix + cluster }

// AgentClusterRole is the ClusterRole letting a member cluster's agent read and
// update only its own MemberCluster.
func AgentClusterRole(cluster string) string { return "portico:member-agent:" + cluster }

// ClusterOfNamespace returns the member cluster whose hub namespace ns is.
func ClusterOfNamespace(ns string) (string, bool) {
	cluster, ok := strings.CutPrefix(ns, ClusterNamespacePrefix)
	if !ok || cluster == "" {
		return "", false
	}
	return cluster, true
}
