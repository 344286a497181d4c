package cluster

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels the hub sets on a MemberCluster from its spec, for placement selectors.
const (
	LabelZone   = "topology.portico.dev/zone"
	LabelRegion = "topology.portico.dev/region"
)

// AnnotationHubIdentity on a MemberCluster or LoadBalancerNode is the
// identity of the hub that stores it: created once with the hub's data, it
// changes when that data is wiped or replaced by another hub's. The hub sets
// it on every write of those objects; member-agents and lb-agents remember it.
const AnnotationHubIdentity = "cluster.portico.dev/hub-identity"

// AnnotationConfirmWithdrawal on a LoadBalancerNode, set to the ID of the
// withdrawal its lb-agent holds (condition WithdrawHeld), lets the agent carry
// that withdrawal out.
const AnnotationConfirmWithdrawal = "cluster.portico.dev/confirm-withdrawal"

// Condition types of MemberCluster.
const (
	// MemberClusterJoined is true once the cluster's agent has connected.
	MemberClusterJoined = "Joined"
	// MemberClusterAvailable is true while the agent's Lease is fresh.
	MemberClusterAvailable = "Available"
	// MemberClusterCredentialExpiring is true when less than a tenth of the
	// lifetime of the agent's hub credential remains, or it has expired.
	MemberClusterCredentialExpiring = "CredentialExpiring"
	// MemberClusterPruneHeld is true while the agent holds a mass removal: the
	// hub stopped listing most of the access points the cluster serves, and
	// the agent keeps their objects until the removal is confirmed.
	MemberClusterPruneHeld = "PruneHeld"
)

// Condition types shared by several kinds.
const (
	ConditionReady = "Ready"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// MemberCluster is a Kubernetes cluster that runs an Istio ingress gateway and a
// member-agent. Access points are placed on member clusters.
type MemberCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec describes where the cluster is.
	Spec MemberClusterSpec `json:"spec"`
	// status is reported by the hub and the cluster's agent.
	Status MemberClusterStatus `json:"status,omitempty"`
}

// MemberClusterSpec describes a member cluster.
type MemberClusterSpec struct {
	// zone is the availability zone of the cluster. Required. The hub copies it to the
	// label topology.portico.dev/zone.
	Zone string `json:"zone"`
	// region is the region of the cluster. The hub copies it to the label
	// topology.portico.dev/region.
	Region string `json:"region,omitempty"`
	// gatewayNamespace is the namespace of the cluster's ingress gateway workload,
	// where the certificate Secrets of access points are delivered (Istio reads
	// credentialName there). Set by the cluster's admin, never by a tenant.
	// Defaults to istio-system.
	GatewayNamespace string `json:"gatewayNamespace,omitempty"`
	// gatewayCIDRs, when set, bound the gateway endpoint addresses the cluster's
	// agent may report: others never become VIP backends.
	GatewayCIDRs []string `json:"gatewayCIDRs,omitempty"`
	// drain takes the cluster out of traffic on purpose: its gateway endpoints
	// get weight 0 on every edge node (established connections continue, new
	// ones go to other backends), and access points with spec.locality treat
	// its zone as failed once every placed cluster of the zone is drained.
	// `kubectl portico drain cluster NAME` sets it.
	Drain bool `json:"drain,omitempty"`
}

// MemberClusterStatus is the observed state of a member cluster.
type MemberClusterStatus struct {
	// observedGeneration is the generation the status was computed for.
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// namespace is the hub namespace of this cluster (portico-cluster-<name>).
	Namespace string `json:"namespace,omitempty"`
	// agent describes the cluster's member-agent.
	Agent AgentStatus `json:"agent,omitempty"`
	// kubernetesVersion is the member cluster's Kubernetes version.
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
	// istio describes the Istio control plane found in the member cluster.
	Istio IstioStatus `json:"istio,omitempty"`
	// conditions: Joined (the agent has connected once), Available (the agent's
	// Lease is fresh; Unknown after the hub's --cluster-lease-grace without renewal)
	// and CredentialExpiring (less than a tenth of the lifetime of the agent's hub
	// credential remains, or it expired; Unknown until the agent reports it).
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// AgentStatus describes a member-agent.
type AgentStatus struct {
	// version of the agent.
	Version string `json:"version,omitempty"`
	// lastHeartbeatTime is the last renewal of the agent's Lease.
	LastHeartbeatTime *metav1.Time `json:"lastHeartbeatTime,omitempty"`
	// credentialIssueTime is when the agent's current hub credential (a
	// ServiceAccount token) was issued, as the agent reports it.
	CredentialIssueTime *metav1.Time `json:"credentialIssueTime,omitempty"`
	// credentialExpirationTime is when the agent's current hub credential
	// expires. The agent renews the credential itself, at about 80% of its
	// lifetime.
	CredentialExpirationTime *metav1.Time `json:"credentialExpirationTime,omitempty"`
}

// IstioStatus describes the Istio control plane of a member cluster, if detectable.
type IstioStatus struct {
	// revision of the Istio control plane.
	Revision string `json:"revision,omitempty"`
	// version of the Istio control plane (istiod's image tag).
	Version string `json:"version,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// MemberClusterList is a list of MemberClusters.
type MemberClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MemberCluster `json:"items"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// LoadBalancerGroup is the set of L4 edge nodes of one zone that announce the same
// virtual IPs to the same BGP peers.
type LoadBalancerGroup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec describes the group's zone and BGP settings.
	Spec LoadBalancerGroupSpec `json:"spec"`
	// status summarizes the group's nodes.
	Status LoadBalancerGroupStatus `json:"status,omitempty"`
}

// LoadBalancerGroupSpec describes a group of edge nodes.
type LoadBalancerGroupSpec struct {
	// zone the group serves. Required.
	Zone string `json:"zone"`
	// bgp is how the group's nodes announce virtual IPs.
	BGP BGPConfig `json:"bgp,omitempty"`
}

// BGPConfig is the BGP configuration of a load-balancer group.
type BGPConfig struct {
	// localASN is the autonomous system number of the group's nodes.
	LocalASN uint32 `json:"localASN,omitempty"`
	// peers are the routers every node of the group peers with.
	Peers []BGPPeer `json:"peers,omitempty"`
}

// BGPPeer is a router the group's nodes peer with.
type BGPPeer struct {
	// address of the router (IPv4 or IPv6).
	Address string `json:"address"`
	// asn of the router.
	ASN uint32 `json:"asn"`
	// holdTime of the session. Defaults to 9s.
	HoldTime *metav1.Duration `json:"holdTime,omitempty"`
	// keepaliveTime of the session. Defaults to 3s.
	KeepaliveTime *metav1.Duration `json:"keepaliveTime,omitempty"`
	// passwordSecretRef names the Secret (in the hub cluster's portico-system namespace)
	// holding the session's TCP MD5 password.
	PasswordSecretRef *SecretKeyReference `json:"passwordSecretRef,omitempty"`
}

// SecretKeyReference names a key of a Secret in the hub cluster's portico-system
// namespace.
type SecretKeyReference struct {
	// name of the Secret.
	Name string `json:"name"`
	// key in the Secret's data.
	Key string `json:"key,omitempty"`
}

// LoadBalancerGroupStatus summarizes a group's nodes.
type LoadBalancerGroupStatus struct {
	// observedGeneration is the generation the status was computed for.
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// nodes is the number of LoadBalancerNodes in the group.
	Nodes int32 `json:"nodes,omitempty"`
	// readyNodes is the number of those that are Ready.
	ReadyNodes int32 `json:"readyNodes,omitempty"`
	// conditions: Ready.
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// LoadBalancerGroupList is a list of LoadBalancerGroups.
type LoadBalancerGroupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LoadBalancerGroup `json:"items"`
}

// Condition types of LoadBalancerNode.
const (
	LoadBalancerNodeDataplaneReady = "DataplaneReady"
	LoadBalancerNodeBGPEstablished = "BGPEstablished"
	// LoadBalancerNodeWithdrawHeld is true while the agent holds a mass
	// withdrawal: the hub stopped listing most of the VIPs the node serves (or
	// its group, or the hub's identity changed), and the agent keeps serving
	// them until the withdrawal is confirmed.
	LoadBalancerNodeWithdrawHeld = "WithdrawHeld"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// LoadBalancerNode is one L4 edge node. Its lb-agent creates it and reports its BGP
// sessions, announcements and dataplane.
type LoadBalancerNode struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec names the node's group and address.
	Spec LoadBalancerNodeSpec `json:"spec"`
	// status is reported by the node's lb-agent.
	Status LoadBalancerNodeStatus `json:"status,omitempty"`
}

// LoadBalancerNodeSpec describes an edge node.
type LoadBalancerNodeSpec struct {
	// group is the LoadBalancerGroup the node belongs to. Required.
	Group string `json:"group"`
	// address of the node: its BGP next hop and IPIP tunnel source. Required.
	Address string `json:"address"`
}

// LoadBalancerNodeStatus is the observed state of an edge node.
type LoadBalancerNodeStatus struct {
	// observedGeneration is the generation the status was computed for.
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// bgp lists the node's BGP sessions.
	BGP BGPStatus `json:"bgp,omitempty"`
	// announced lists the virtual IPs the node announces.
	Announced []string `json:"announced,omitempty"`
	// vips reports, per virtual IP the node serves, how many backends pass its
	// health checks.
	VIPs []VIPHealth `json:"vips,omitempty"`
	// dataplane summarizes what the node programmed.
	Dataplane DataplaneStatus `json:"dataplane,omitempty"`
	// conditions: Ready, DataplaneReady, BGPEstablished.
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// VIPHealth is a node's view of one virtual IP's backends.
type VIPHealth struct {
	// address of the virtual IP.
	Address string `json:"address"`
	// healthyBackends is the number of backends passing the node's health checks.
	HealthyBackends int32 `json:"healthyBackends"`
	// weights are the weights the node programmed for the backends, highest
	// first: what its kernel splits new connections with (0: drained, or
	// failing the node's health checks).
	Weights []BackendWeight `json:"weights,omitempty"`
}

// BackendWeight is the weight a node programmed for some backends of a VIP.
type BackendWeight struct {
	// weight of the backends.
	Weight int32 `json:"weight"`
	// backends with that weight, by address.
	Backends []string `json:"backends"`
}

// BGPStatus lists BGP sessions.
type BGPStatus struct {
	// sessions of the node, one per peer.
	Sessions []BGPSession `json:"sessions,omitempty"`
}

// BGPSession is the state of one BGP session.
type BGPSession struct {
	// peer address.
	Peer string `json:"peer"`
	// state of the session (Idle, Connect, Active, OpenSent, OpenConfirm, Established).
	State string `json:"state,omitempty"`
	// since is when the session entered its state.
	Since *metav1.Time `json:"since,omitempty"`
}

// DataplaneStatus summarizes a node's dataplane.
type DataplaneStatus struct {
	// type of the dataplane: ipvs.
	Type string `json:"type,omitempty"`
	// services programmed.
	Services int32 `json:"services,omitempty"`
	// destinations programmed.
	Destinations int32 `json:"destinations,omitempty"`
	// lastSyncTime is the end of the last successful synchronization.
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// LoadBalancerNodeList is a list of LoadBalancerNodes.
type LoadBalancerNodeList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LoadBalancerNode `json:"items"`
}
