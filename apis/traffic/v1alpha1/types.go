package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Condition types of FederatedAccessPoint. Ready is true when every condition that
// applies to the access point is true.
const (
	AccessPointPlaced            = "Placed"
	AccessPointVIPAllocated      = "VIPAllocated"
	AccessPointApplied           = "Applied"
	AccessPointLoadBalancerReady = "LoadBalancerReady"
	AccessPointCertificateReady  = "CertificateReady"
	AccessPointDNSReady          = "DNSReady"
	AccessPointRolledOut         = "RolledOut"
	AccessPointGatewayReady      = "GatewayReady"
	ConditionReady               = "Ready"
)

// +genclient
// +genclient:method=Approve,verb=create,subresource=approve,input=RolloutApproval,result=FederatedAccessPoint
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// FederatedAccessPoint declares, once for all the clusters it is placed on, how an
// application is reached from the internet: its hosts, its Istio objects, its virtual
// IP, its certificate and its DNS name.
type FederatedAccessPoint struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired access point.
	Spec FederatedAccessPointSpec `json:"spec"`
	// status aggregates what happened on every placed cluster, the VIP, the
	// certificate and DNS.
	// +optional
	Status FederatedAccessPointStatus `json:"status,omitempty"`
}

// FederatedAccessPointSpec is the desired state of an access point.
type FederatedAccessPointSpec struct {
	// hosts are the fully qualified domain names the access point serves (wildcards
	// as Istio allows). Used by the default Gateway servers, the certificate and DNS.
	// +listType=set
	Hosts []string `json:"hosts"`
	// placement selects the member clusters that receive the access point. When
	// omitted, every member cluster is selected.
	// +optional
	Placement *Placement `json:"placement,omitempty"`
	// template holds the Istio objects rendered on every placed cluster.
	// +optional
	Template AccessPointTemplate `json:"template,omitempty"`
	// overrides patch the template for individual clusters.
	// +optional
	// +listType=map
	// +listMapKey=clusterName
	// +patchMergeKey=clusterName
	// +patchStrategy=merge
	Overrides []ClusterOverride `json:"overrides,omitempty" patchStrategy:"merge" patchMergeKey:"clusterName"`
	// loadBalancer requests an L4 virtual IP in front of the placed gateways.
	// +optional
	LoadBalancer *LoadBalancerSpec `json:"loadBalancer,omitempty"`
	// tls requests a certificate for the hosts, installed for the gateway.
	// +optional
	TLS *TLSSpec `json:"tls,omitempty"`
	// rollout says how new revisions reach the placed clusters.
	// +optional
	Rollout *RolloutSpec `json:"rollout,omitempty"`
	// locality makes loadBalancer.crossZone's policy reach the mesh: the
	// DestinationRules of the hosts the VirtualServices route to get Istio
	// locality load balancing.
	// +optional
	Locality *LocalitySpec `json:"locality,omitempty"`
}

// Locality modes.
const (
	LocalityNone     = "None"
	LocalityFailover = "Failover"
	LocalityWeighted = "Weighted"
)

// LocalitySpec says how the mesh spreads the requests of each placed cluster's
// gateway over the zones.
type LocalitySpec struct {
	// mode is None, Failover or Weighted. Defaults to None. Failover keeps
	// requests in the gateway's zone, then the other zones of its region, then
	// other regions, moving on as endpoints fail; Weighted splits them with
	// loadBalancer.crossZone's localWeight and remoteWeight.
	// +optional
	// +default="None"
	Mode string `json:"mode,omitempty"`
}

// Placement selects member clusters, with kubefed's semantics: a nil clusters list
// defers to the selector; an empty list selects nothing; a nil selector with nil
// clusters selects every cluster; all given terms intersect.
type Placement struct {
	// clusters names member clusters. null (or absent) defers to clusterSelector; an
	// empty list selects no cluster.
	// +optional
	// +listType=map
	// +listMapKey=name
	Clusters []ClusterReference `json:"clusters"`
	// clusterSelector selects member clusters by label (topology.portico.dev/zone and
	// topology.portico.dev/region are set by the hub).
	// +optional
	ClusterSelector *metav1.LabelSelector `json:"clusterSelector,omitempty"`
	// zones restricts placement to member clusters of these zones.
	// +optional
	// +listType=set
	Zones []string `json:"zones,omitempty"`
	// follow places the access point where a kubefed federated object (a
	// FederatedDeployment, or any kind with kubefed's placement shape) in the
	// access point's namespace is placed (a namespaced object only where its
	// namespace's FederatedNamespace is placed too, as kubefed propagates it),
	// intersected with the other terms.
	// +optional
	Follow *FollowReference `json:"follow,omitempty"`
}

// FollowReference names a kubefed federated object in the hub cluster, in the
// access point's namespace.
type FollowReference struct {
	// apiVersion of the object, e.g. types.kubefed.io/v1beta1.
	APIVersion string `json:"apiVersion"`
	// kind of the object, e.g. FederatedDeployment.
	Kind string `json:"kind"`
	// name of the object.
	Name string `json:"name"`
	// propagated limits the placement to the clusters where kubefed reports the
	// object propagated (status.clusters without an error).
	// +optional
	Propagated bool `json:"propagated,omitempty"`
}

// ClusterReference names a member cluster.
type ClusterReference struct {
	// name of the MemberCluster.
	Name string `json:"name"`
}

// AccessPointTemplate holds the Istio objects (networking.istio.io/v1,
// security.istio.io/v1 and telemetry.istio.io/v1 specs) rendered on every placed
// cluster, in the access point's namespace (policies scoped to the gateway
// workload in the gateway namespace).
type AccessPointTemplate struct {
	// gateway is an Istio Gateway spec. selector defaults to istio: ingressgateway;
	// servers default from hosts and loadBalancer.ports. Strategic merge patches
	// (client-side kubectl apply) replace it as a whole.
	// +optional
	// +patchStrategy=replace
	Gateway *JSONObject `json:"gateway,omitempty" patchStrategy:"replace"`
	// virtualServices are Istio VirtualServices.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +patchMergeKey=name
	// +patchStrategy=merge
	VirtualServices []NamedTemplate `json:"virtualServices,omitempty" patchStrategy:"merge" patchMergeKey:"name"`
	// destinationRules are Istio DestinationRules.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +patchMergeKey=name
	// +patchStrategy=merge
	DestinationRules []NamedTemplate `json:"destinationRules,omitempty" patchStrategy:"merge" patchMergeKey:"name"`
	// serviceEntries are Istio ServiceEntries.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +patchMergeKey=name
	// +patchStrategy=merge
	ServiceEntries []NamedTemplate `json:"serviceEntries,omitempty" patchStrategy:"merge" patchMergeKey:"name"`
	// workloadEntries are Istio WorkloadEntries.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +patchMergeKey=name
	// +patchStrategy=merge
	WorkloadEntries []NamedTemplate `json:"workloadEntries,omitempty" patchStrategy:"merge" patchMergeKey:"name"`
	// workloadGroups are Istio WorkloadGroups: the template of the
	// WorkloadEntries istiod creates for VMs that register themselves.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +patchMergeKey=name
	// +patchStrategy=merge
	WorkloadGroups []NamedTemplate `json:"workloadGroups,omitempty" patchStrategy:"merge" patchMergeKey:"name"`
	// authorizationPolicies are Istio AuthorizationPolicies
	// (security.istio.io/v1). One without selector, targetRef and targetRefs
	// applies to the cluster's gateway workload: it gets the Gateway's selector
	// and goes to the gateway namespace (MemberCluster spec.gatewayNamespace),
	// named <namespace>.<access point>.<name>.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +patchMergeKey=name
	// +patchStrategy=merge
	AuthorizationPolicies []NamedTemplate `json:"authorizationPolicies,omitempty" patchStrategy:"merge" patchMergeKey:"name"`
	// requestAuthentications are Istio RequestAuthentications
	// (security.istio.io/v1), scoped to the gateway workload like
	// authorizationPolicies.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +patchMergeKey=name
	// +patchStrategy=merge
	RequestAuthentications []NamedTemplate `json:"requestAuthentications,omitempty" patchStrategy:"merge" patchMergeKey:"name"`
	// telemetries are Istio Telemetries (telemetry.istio.io/v1), scoped to the
	// gateway workload like authorizationPolicies.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +patchMergeKey=name
	// +patchStrategy=merge
	Telemetries []NamedTemplate `json:"telemetries,omitempty" patchStrategy:"merge" patchMergeKey:"name"`
	// gatewayAPI holds Kubernetes Gateway API objects
	// (gateway.networking.k8s.io/v1) for the access point's gateway, in place
	// of gateway and virtualServices: an access point uses Istio networking or
	// the Gateway API for its gateway, not both.
	// +optional
	GatewayAPI *GatewayAPITemplate `json:"gatewayAPI,omitempty"`
}

// GatewayAPITemplate holds the Gateway API objects of an access point, each
// {name, spec} with the gateway.networking.k8s.io/v1 spec of its kind,
// validated against the Gateway API CRDs' schema (standard channel). They are
// rendered in the access point's namespace.
type GatewayAPITemplate struct {
	// gateways are Gateways (at least one). Each gets, where its spec leaves
	// them out, addresses naming the cluster's gateway Service (Istio's manual
	// deployment: the gateway workload already runs in the gateway namespace)
	// and, with spec.tls, the delivered certificate Secret as certificateRefs
	// of its terminating listeners.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +patchMergeKey=name
	// +patchStrategy=merge
	Gateways []NamedTemplate `json:"gateways,omitempty" patchStrategy:"merge" patchMergeKey:"name"`
	// httpRoutes are HTTPRoutes. One without parentRefs is attached to the
	// access point's Gateway (when it has exactly one).
	// +optional
	// +listType=map
	// +listMapKey=name
	// +patchMergeKey=name
	// +patchStrategy=merge
	HTTPRoutes []NamedTemplate `json:"httpRoutes,omitempty" patchStrategy:"merge" patchMergeKey:"name"`
	// grpcRoutes are GRPCRoutes, attached like httpRoutes.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +patchMergeKey=name
	// +patchStrategy=merge
	GRPCRoutes []NamedTemplate `json:"grpcRoutes,omitempty" patchStrategy:"merge" patchMergeKey:"name"`
	// tlsRoutes are TLSRoutes, attached like httpRoutes.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +patchMergeKey=name
	// +patchStrategy=merge
	TLSRoutes []NamedTemplate `json:"tlsRoutes,omitempty" patchStrategy:"merge" patchMergeKey:"name"`
	// tcpRoutes are TCPRoutes, attached like httpRoutes.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +patchMergeKey=name
	// +patchStrategy=merge
	TCPRoutes []NamedTemplate `json:"tcpRoutes,omitempty" patchStrategy:"merge" patchMergeKey:"name"`
}

// NamedTemplate is one Istio object: its name and its spec.
type NamedTemplate struct {
	// name of the object in the member cluster.
	Name string `json:"name"`
	// spec is the Istio v1 spec of the object's kind, validated against Istio's
	// schema. Strategic merge patches (client-side kubectl apply) replace it as a
	// whole.
	// +patchStrategy=replace
	Spec JSONObject `json:"spec" patchStrategy:"replace"`
}

// ClusterOverride patches the template for one cluster (kubefed's JSON-patch form).
type ClusterOverride struct {
	// clusterName is the MemberCluster the patches apply to.
	ClusterName string `json:"clusterName"`
	// clusterOverrides are applied in order to that cluster's copy of spec.template;
	// a path appears at most once.
	// +listType=map
	// +listMapKey=path
	// +patchMergeKey=path
	// +patchStrategy=merge
	ClusterOverrides []OverridePatch `json:"clusterOverrides" patchStrategy:"merge" patchMergeKey:"path"`
}

// Override operations.
const (
	OverrideAdd     = "add"
	OverrideRemove  = "remove"
	OverrideReplace = "replace"
)

// OverridePatch is one JSON-patch operation.
type OverridePatch struct {
	// op is add, remove or replace. Defaults to replace.
	// +optional
	// +default="replace"
	Op string `json:"op,omitempty"`
	// path is a JSON pointer into spec.template, e.g.
	// /virtualServices/0/spec/http/0/timeout or /gateway/servers/0/port/number.
	// Names (/virtualServices/0/name) may not be patched.
	Path string `json:"path"`
	// value for add and replace. Strategic merge patches (client-side kubectl
	// apply) replace it as a whole.
	// +optional
	// +patchStrategy=replace
	Value *JSONValue `json:"value,omitempty" patchStrategy:"replace"`
}

// Protocols of load-balancer ports.
const (
	ProtocolTCP = "TCP"
	ProtocolUDP = "UDP"
)

// LoadBalancerSpec requests a virtual IP.
type LoadBalancerSpec struct {
	// pool is the VIPPool the address comes from. Required.
	Pool string `json:"pool"`
	// address requests a specific address of the pool.
	// +optional
	Address string `json:"address,omitempty"`
	// ports the virtual IP serves.
	// +optional
	// +listType=map
	// +listMapKey=port
	// +listMapKey=protocol
	// +patchMergeKey=port
	// +patchStrategy=merge
	Ports []Port `json:"ports,omitempty" patchStrategy:"merge" patchMergeKey:"port"`
	// crossZone weighs backends of the local and remote zones.
	// +optional
	CrossZone *CrossZone `json:"crossZone,omitempty"`
	// healthCheck of every backend.
	// +optional
	HealthCheck *HealthCheck `json:"healthCheck,omitempty"`
}

// Port is one port of a virtual IP.
type Port struct {
	// name of the port (unique).
	// +optional
	Name string `json:"name,omitempty"`
	// port number, 1-65535 (unique per protocol).
	Port int32 `json:"port"`
	// protocol is TCP or UDP. Defaults to TCP.
	// +optional
	// +default="TCP"
	Protocol string `json:"protocol,omitempty"`
}

// CrossZone weighs backends: each zone's lb-agents give backends of their own zone
// localWeight and backends of other zones remoteWeight.
type CrossZone struct {
	// localWeight of backends in the edge node's own zone. Defaults to 99.
	// +optional
	LocalWeight *int32 `json:"localWeight,omitempty"`
	// remoteWeight of backends in other zones. Defaults to 1.
	// +optional
	RemoteWeight *int32 `json:"remoteWeight,omitempty"`
	// remoteZones limits the remote backends to these zones; empty means all zones.
	// +optional
	// +listType=set
	RemoteZones []string `json:"remoteZones,omitempty"`
	// drainedZones are taken out of traffic on purpose: their backends get
	// weight 0 on every edge node (established connections continue, new ones
	// go elsewhere) and spec.locality treats them as failed.
	// +optional
	// +listType=set
	DrainedZones []string `json:"drainedZones,omitempty"`
}

// Health check types.
const (
	HealthCheckTCP  = "tcp"
	HealthCheckHTTP = "http"
)

// HealthCheck says how lb-agents check every backend.
type HealthCheck struct {
	// type is tcp or http. Defaults to tcp.
	// +optional
	Type string `json:"type,omitempty"`
	// port to check; defaults to the service port.
	// +optional
	Port int32 `json:"port,omitempty"`
	// path for http checks.
	// +optional
	Path string `json:"path,omitempty"`
	// interval between checks. Defaults to 2s.
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`
	// timeout of one check. Defaults to 1s.
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
	// healthyThreshold is the number of successes that make a backend healthy. Defaults to 2.
	// +optional
	HealthyThreshold *int32 `json:"healthyThreshold,omitempty"`
	// unhealthyThreshold is the number of failures that make a backend unhealthy. Defaults to 2.
	// +optional
	UnhealthyThreshold *int32 `json:"unhealthyThreshold,omitempty"`
}

// TLS modes.
const (
	TLSModeSimple = "SIMPLE"
	TLSModeMutual = "MUTUAL"
)

// TLSSpec requests a certificate for the access point's hosts.
type TLSSpec struct {
	// issuerRef names the CertificateIssuer.
	IssuerRef LocalReference `json:"issuerRef"`
	// mode of the gateway's HTTPS servers: SIMPLE or MUTUAL. Defaults to SIMPLE.
	// +optional
	Mode string `json:"mode,omitempty"`
	// secretNamespace is deprecated and ignored: the certificate is delivered
	// to each member cluster's gateway namespace, which the cluster's admin sets
	// in MemberCluster.spec.gatewayNamespace; a tenant does not choose where a
	// key goes. Only empty and istio-system are accepted.
	// +optional
	SecretNamespace string `json:"secretNamespace,omitempty"`
}

// LocalReference names an object.
type LocalReference struct {
	// name of the object.
	Name string `json:"name"`
}

// Rollout strategies.
const (
	RolloutAllAtOnce = "AllAtOnce"
	RolloutStaged    = "Staged"
)

// Phases of a rollout.
const (
	RolloutProgressing = "Progressing"
	RolloutPaused      = "Paused"
	RolloutHalted      = "Halted"
	RolloutComplete    = "Complete"
)

// Reasons of the RolledOut condition that other components read: the approve
// subresource accepts an approval only while the rollout waits for one.
const (
	RolledOutReasonAwaitingApproval = "AwaitingApproval"
	RolledOutReasonPausedBySpec     = "PausedBySpec"
	RolledOutReasonHalted           = "Halted"
)

// DefaultRevisionHistoryLimit is how many AccessPointRevisions are kept by default.
const DefaultRevisionHistoryLimit = 10

// RolloutSpec says how new revisions reach the placed clusters.
type RolloutSpec struct {
	// strategy is AllAtOnce or Staged. Defaults to AllAtOnce. The first revision
	// of an access point, and a rollback, always go to every cluster at once.
	// +optional
	Strategy string `json:"strategy,omitempty"`
	// stages of a Staged rollout, in order. Placed clusters no stage selects join
	// the last stage.
	// +optional
	// +listType=atomic
	Stages []RolloutStage `json:"stages,omitempty"`
	// paused is the emergency brake: while true, nothing new is written to any
	// cluster and the rollout stays where it is.
	// +optional
	Paused bool `json:"paused,omitempty"`
	// autoRollback returns the clusters a halted rollout changed to the stable
	// revision.
	// +optional
	AutoRollback bool `json:"autoRollback,omitempty"`
	// revisionHistoryLimit is how many AccessPointRevisions are kept, the target
	// and the stable revision always among them. Defaults to 10.
	// +optional
	RevisionHistoryLimit *int32 `json:"revisionHistoryLimit,omitempty"`
}

// RolloutStage is one step of a staged rollout. It selects, among the placed
// clusters no earlier stage took, those named in clusters, matching
// clusterSelector and in zones (the given terms intersect), at most count of
// them (by name); a stage with no selection takes every remaining cluster.
type RolloutStage struct {
	// name of the stage, unique among the stages.
	Name string `json:"name"`
	// clusters of this stage.
	// +optional
	// +listType=atomic
	Clusters []ClusterReference `json:"clusters,omitempty"`
	// clusterSelector of this stage.
	// +optional
	ClusterSelector *metav1.LabelSelector `json:"clusterSelector,omitempty"`
	// zones of this stage's clusters.
	// +optional
	// +listType=set
	Zones []string `json:"zones,omitempty"`
	// count limits the stage to this many clusters.
	// +optional
	Count *int32 `json:"count,omitempty"`
	// pause waits for approval (the approve subresource) before the stage starts.
	// +optional
	Pause bool `json:"pause,omitempty"`
	// soakSeconds is how long the stage's clusters must stay healthy before the
	// next stage may start. Defaults to 0.
	// +optional
	SoakSeconds int32 `json:"soakSeconds,omitempty"`
}

// FederatedAccessPointStatus aggregates the state of an access point.
type FederatedAccessPointStatus struct {
	// observedGeneration is the generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// revision is a hash of everything the target revision renders, on every
	// cluster (with the certificate and the locality policy). A cluster runs
	// the target when its observedRevision in clusters equals it.
	// +optional
	Revision string `json:"revision,omitempty"`
	// vip is the allocated virtual IP and who announces it.
	// +optional
	VIP *VIPStatus `json:"vip,omitempty"`
	// certificate is the issued certificate.
	// +optional
	Certificate *CertificateStatus `json:"certificate,omitempty"`
	// dns is the published DNS state.
	// +optional
	DNS *DNSStatus `json:"dns,omitempty"`
	// clusters is the state of every placed cluster.
	// +optional
	// +listType=map
	// +listMapKey=name
	Clusters []ClusterStatus `json:"clusters,omitempty"`
	// rollout is the progress of the current revision through the stages.
	// +optional
	Rollout *RolloutStatus `json:"rollout,omitempty"`
	// conditions: Placed, VIPAllocated, Applied, LoadBalancerReady, CertificateReady,
	// DNSReady, GatewayReady (with spec.template.gatewayAPI: what the gateway
	// implementation reports), RolledOut and Ready (all that apply are true;
	// RolledOut does not hold Ready back).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// RolloutStatus is where the current revision stands.
type RolloutStatus struct {
	// revision is the AccessPointRevision being rolled out (the target).
	// +optional
	Revision int64 `json:"revision,omitempty"`
	// stableRevision is the last revision that completed a rollout; clusters
	// whose stage is not reached run it.
	// +optional
	StableRevision int64 `json:"stableRevision,omitempty"`
	// stage is the name of the current stage.
	// +optional
	Stage string `json:"stage,omitempty"`
	// stageIndex is the index of the current stage.
	// +optional
	StageIndex int32 `json:"stageIndex,omitempty"`
	// phase is Progressing, Paused, Halted or Complete.
	// +optional
	Phase string `json:"phase,omitempty"`
	// message explains the phase.
	// +optional
	Message string `json:"message,omitempty"`
	// updatedClusters is the number of placed clusters that applied the target
	// revision.
	// +optional
	UpdatedClusters int32 `json:"updatedClusters,omitempty"`
	// totalClusters is the number of placed clusters.
	// +optional
	TotalClusters int32 `json:"totalClusters,omitempty"`
	// stageHealthySince is when every cluster of the current stage last became
	// healthy on the target revision; the soak counts from it.
	// +optional
	StageHealthySince *metav1.Time `json:"stageHealthySince,omitempty"`
	// approvals of this revision's stages, recorded by the approve subresource.
	// +optional
	// +listType=map
	// +listMapKey=stage
	Approvals []RolloutApprovalRecord `json:"approvals,omitempty"`
}

// RolloutApprovalRecord is who approved a stage of a revision, and when.
type RolloutApprovalRecord struct {
	// stage approved.
	Stage string `json:"stage"`
	// revision approved.
	Revision int64 `json:"revision"`
	// user who approved.
	User string `json:"user"`
	// time of the approval.
	Time metav1.Time `json:"time"`
}

// VIPStatus is the virtual IP of an access point.
type VIPStatus struct {
	// address of the virtual IP.
	// +optional
	Address string `json:"address,omitempty"`
	// pool it came from.
	// +optional
	Pool string `json:"pool,omitempty"`
	// announcedBy lists the LoadBalancerNodes announcing it.
	// +optional
	// +listType=set
	AnnouncedBy []string `json:"announcedBy,omitempty"`
	// healthyBackends is the number of backends passing health checks.
	// +optional
	HealthyBackends int32 `json:"healthyBackends,omitempty"`
	// totalBackends is the number of backends.
	// +optional
	TotalBackends int32 `json:"totalBackends,omitempty"`
	// zones is the effective weight of the backends of each zone.
	// +optional
	// +listType=map
	// +listMapKey=zone
	Zones []ZoneWeight `json:"zones,omitempty"`
}

// ZoneWeight is the weight the edge nodes give the VIP's backends of one zone.
type ZoneWeight struct {
	// zone of the backends.
	Zone string `json:"zone"`
	// backends of the zone.
	Backends int32 `json:"backends"`
	// drainedBackends are those of them drained (their cluster or zone).
	// +optional
	DrainedBackends int32 `json:"drainedBackends,omitempty"`
	// localWeight is the weight the zone's own edge nodes give its backends
	// that are not drained (0 when all are).
	LocalWeight int32 `json:"localWeight"`
	// remoteWeight is the weight the other zones' edge nodes give them (0 when
	// all are drained or crossZone.remoteZones leaves the zone out).
	RemoteWeight int32 `json:"remoteWeight"`
}

// CertificateStatus describes the issued certificate.
type CertificateStatus struct {
	// serial number (hex).
	// +optional
	Serial string `json:"serial,omitempty"`
	// version increments on every reissue.
	// +optional
	Version int64 `json:"version,omitempty"`
	// notAfter is the expiry.
	// +optional
	NotAfter *metav1.Time `json:"notAfter,omitempty"`
	// installedClusters lists the clusters where this version is installed.
	// +optional
	// +listType=set
	InstalledClusters []string `json:"installedClusters,omitempty"`
}

// DNSStatus describes the published DNS names.
type DNSStatus struct {
	// fqdns published for the access point.
	// +optional
	// +listType=set
	FQDNs []string `json:"fqdns,omitempty"`
	// published is true when every name is published.
	// +optional
	Published bool `json:"published,omitempty"`
	// provider is the DNSProvider used.
	// +optional
	Provider string `json:"provider,omitempty"`
}

// Phases of a placed cluster.
const (
	ClusterPhasePending     = "Pending"
	ClusterPhaseApplying    = "Applying"
	ClusterPhaseApplied     = "Applied"
	ClusterPhaseFailed      = "Failed"
	ClusterPhaseUnavailable = "Unavailable"
)

// ClusterStatus is the state of the access point on one placed cluster.
type ClusterStatus struct {
	// name of the MemberCluster.
	Name string `json:"name"`
	// zone of the cluster.
	// +optional
	Zone string `json:"zone,omitempty"`
	// phase: Pending, Applying, Applied, Failed or Unavailable.
	// +optional
	Phase string `json:"phase,omitempty"`
	// revision is the AccessPointRevision the cluster is sent. A revision that
	// renders the same manifests for the cluster as the one it runs reaches it
	// without a write to its ClusterAccessPoint.
	// +optional
	Revision int64 `json:"revision,omitempty"`
	// observedRevision is what the cluster's agent applied last, as a hash
	// like revision of the status: that of the revision the cluster is sent,
	// of the one its ClusterAccessPoint was written for, or of the stable one,
	// whichever renders for the cluster the manifests the agent reports
	// applied; when none does, the hash of those manifests (the
	// ClusterAccessPoint's status.observedRevision).
	// +optional
	ObservedRevision string `json:"observedRevision,omitempty"`
	// objects counts the applied objects.
	// +optional
	Objects ObjectCounts `json:"objects,omitempty"`
	// gatewayEndpoints is the number of ready gateway endpoints serving it.
	// +optional
	GatewayEndpoints int32 `json:"gatewayEndpoints,omitempty"`
	// gatewayAPI is what the gateway implementation reports on the cluster's
	// Gateway API objects (access points with spec.template.gatewayAPI), as
	// the cluster's agent read it.
	// +optional
	GatewayAPI *GatewayAPIStatus `json:"gatewayAPI,omitempty"`
	// message explains the phase.
	// +optional
	Message string `json:"message,omitempty"`
	// lastTransitionTime is when the phase last changed.
	// +optional
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`
}

// ObjectCounts counts objects.
type ObjectCounts struct {
	// applied objects.
	Applied int32 `json:"applied"`
	// total objects.
	Total int32 `json:"total"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// FederatedAccessPointList is a list of FederatedAccessPoints.
type FederatedAccessPointList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []FederatedAccessPoint `json:"items"`
}

// +genclient
// +genclient:nonNamespaced
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// HostGrant lets namespaces serve hosts: an access point's spec.hosts and a
// NameService's spec.fqdn are accepted only when a grant covers them for the
// object's namespace (portico-hub --host-grants=enforce).
type HostGrant struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec lists the hosts and the namespaces granted them.
	Spec HostGrantSpec `json:"spec"`
}

// HostGrantSpec grants hosts to namespaces.
type HostGrantSpec struct {
	// hosts granted: exact names (shop.example.com) or wildcards (*.example.com,
	// which covers every name below example.com, and *.example.com itself).
	// +listType=set
	Hosts []string `json:"hosts"`
	// namespaces granted the hosts, by name.
	// +optional
	// +listType=set
	Namespaces []string `json:"namespaces,omitempty"`
	// namespaceSelector grants the hosts to the hub cluster's namespaces whose
	// labels match. With namespaces, a namespace matching either is granted.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// HostGrantList is a list of HostGrants.
type HostGrantList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []HostGrant `json:"items"`
}

// AccessPointFinalizer keeps an access point until the hub's controller removed
// its ClusterAccessPoints and released its VIP.
const AccessPointFinalizer = "traffic.portico.dev/cleanup"

// RevisionLabel is set on every AccessPointRevision to the name of its access
// point.
const RevisionLabel = "traffic.portico.dev/access-point"

// RollbackAnnotation, set by `kubectl portico rollout undo` to the revision
// number whose content it wrote back into the spec, sends that content to every
// cluster at once (a rollback is urgent) instead of through the stages.
const RollbackAnnotation = "traffic.portico.dev/rollback-to-revision"

// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// AccessPointRevision is an immutable snapshot of what one revision of a
// FederatedAccessPoint renders: hosts, template, overrides, load balancer and
// TLS. The hub controller creates one per distinct content, numbered 1, 2, …,
// owned by the access point (deleted with it) and pruned beyond
// spec.rollout.revisionHistoryLimit.
type AccessPointRevision struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the snapshot; it never changes.
	Spec AccessPointRevisionSpec `json:"spec"`
}

// AccessPointRevisionSpec is one revision of an access point.
type AccessPointRevisionSpec struct {
	// accessPointRef is the access point the revision belongs to.
	AccessPointRef AccessPointReference `json:"accessPointRef"`
	// revision is the sequence number, 1 for the first revision.
	Revision int64 `json:"revision"`
	// hash of the content.
	Hash string `json:"hash"`
	// content is what the revision renders.
	Content RevisionContent `json:"content"`
}

// RevisionContent is the part of a FederatedAccessPointSpec that makes a
// revision (placement and rollout do not).
type RevisionContent struct {
	// hosts of the access point.
	// +listType=set
	Hosts []string `json:"hosts"`
	// template of the access point.
	// +optional
	Template AccessPointTemplate `json:"template,omitempty"`
	// overrides of the access point.
	// +optional
	// +listType=atomic
	Overrides []ClusterOverride `json:"overrides,omitempty"`
	// loadBalancer of the access point.
	// +optional
	LoadBalancer *LoadBalancerSpec `json:"loadBalancer,omitempty"`
	// tls of the access point.
	// +optional
	TLS *TLSSpec `json:"tls,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// AccessPointRevisionList is a list of AccessPointRevisions.
type AccessPointRevisionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AccessPointRevision `json:"items"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// RolloutApproval is the body of a POST to federatedaccesspoints/approve: it
// approves the stage a rollout waits at. Approving is the verb create on that
// subresource, apart from editing the access point.
type RolloutApproval struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// stage to approve; the request fails with Conflict unless the rollout waits
	// at this stage. Empty approves the waiting stage.
	// +optional
	Stage string `json:"stage,omitempty"`
	// revision to approve; the request fails with Conflict unless the rollout is
	// of this revision. 0 approves the current one.
	// +optional
	Revision int64 `json:"revision,omitempty"`
}

// Condition types of ClusterAccessPoint.
const (
	ClusterAccessPointApplied  = "Applied"
	ClusterAccessPointDegraded = "Degraded"
)

// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ClusterAccessPoint is the slice of one FederatedAccessPoint for one member cluster,
// written by the hub into the cluster's namespace portico-cluster-<cluster> and applied
// by that cluster's agent. Its name is <access point namespace>.<access point name>.
type ClusterAccessPoint struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec holds the rendered objects.
	Spec ClusterAccessPointSpec `json:"spec"`
	// status is reported by the member cluster's agent.
	// +optional
	Status ClusterAccessPointStatus `json:"status,omitempty"`
}

// ClusterAccessPointSpec holds the objects one cluster must run.
type ClusterAccessPointSpec struct {
	// accessPointRef is the FederatedAccessPoint this slice was rendered from.
	// +optional
	AccessPointRef AccessPointReference `json:"accessPointRef,omitempty"`
	// accessPointRevision is the AccessPointRevision the manifests were
	// rendered from when they last changed. A later revision that renders the
	// same manifests for this cluster does not rewrite the ClusterAccessPoint,
	// so this may be older than the revision the cluster runs (the access
	// point's status.clusters[].revision).
	// +optional
	AccessPointRevision int64 `json:"accessPointRevision,omitempty"`
	// revision is a hash of the manifests, this cluster's own: it changes only
	// when they do, and differs between clusters whose manifests differ. The
	// cluster's agent reports it back as status.observedRevision.
	// +optional
	Revision string `json:"revision,omitempty"`
	// manifests are complete objects (apiVersion, kind, metadata, spec or data).
	// +optional
	// +listType=atomic
	Manifests []JSONObject `json:"manifests,omitempty"`
}

// AccessPointReference identifies a FederatedAccessPoint.
type AccessPointReference struct {
	// namespace of the access point.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// name of the access point.
	// +optional
	Name string `json:"name,omitempty"`
	// uid of the access point.
	// +optional
	UID types.UID `json:"uid,omitempty"`
}

// ClusterAccessPointStatus is what the member cluster's agent applied.
type ClusterAccessPointStatus struct {
	// observedGeneration is the generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// observedRevision is the spec.revision the agent applied last.
	// +optional
	ObservedRevision string `json:"observedRevision,omitempty"`
	// objects is the state of every manifest.
	// +optional
	// +listType=atomic
	Objects []ObjectStatus `json:"objects,omitempty"`
	// gateway lists the gateway endpoints serving the access point in the cluster.
	// +optional
	Gateway GatewayStatus `json:"gateway,omitempty"`
	// gatewayAPI is the status the gateway implementation wrote on the
	// cluster's Gateway API objects of the access point.
	// +optional
	GatewayAPI *GatewayAPIStatus `json:"gatewayAPI,omitempty"`
	// conditions: Applied, Degraded.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ObjectStatus is the state of one applied object.
type ObjectStatus struct {
	// group of the object.
	// +optional
	Group string `json:"group,omitempty"`
	// kind of the object.
	Kind string `json:"kind"`
	// namespace of the object.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// name of the object.
	Name string `json:"name"`
	// applied is true when the member cluster accepted the object.
	Applied bool `json:"applied"`
	// message is the member cluster's error when it refused the object.
	// +optional
	Message string `json:"message,omitempty"`
}

// GatewayAPIStatus is what the gateway implementation (for Istio, istiod)
// wrote in the status of an access point's Gateway API objects in one member
// cluster: the first status in Portico that comes from the gateway itself.
type GatewayAPIStatus struct {
	// gateways are the access point's Gateways.
	// +optional
	// +listType=map
	// +listMapKey=name
	Gateways []GatewayAPIGatewayStatus `json:"gateways,omitempty"`
	// routes are the access point's routes.
	// +optional
	// +listType=map
	// +listMapKey=kind
	// +listMapKey=name
	Routes []GatewayAPIRouteStatus `json:"routes,omitempty"`
}

// GatewayAPIGatewayStatus is the status of one Gateway.
type GatewayAPIGatewayStatus struct {
	// name of the Gateway (in the access point's namespace).
	Name string `json:"name"`
	// generation of the Gateway in the member cluster: conditions observed
	// for an older one are stale.
	// +optional
	Generation int64 `json:"generation,omitempty"`
	// addresses the implementation assigned (status.addresses values).
	// +optional
	// +listType=atomic
	Addresses []string `json:"addresses,omitempty"`
	// conditions as the implementation wrote them: Accepted, Programmed.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// listeners are the status of the Gateway's listeners.
	// +optional
	// +listType=map
	// +listMapKey=name
	Listeners []GatewayAPIListenerStatus `json:"listeners,omitempty"`
}

// GatewayAPIListenerStatus is the status of one listener of a Gateway.
type GatewayAPIListenerStatus struct {
	// name of the listener.
	Name string `json:"name"`
	// attachedRoutes is the number of routes attached to the listener.
	// +optional
	AttachedRoutes int32 `json:"attachedRoutes,omitempty"`
	// conditions as the implementation wrote them: Accepted, Programmed,
	// ResolvedRefs (its certificateRefs), Conflicted.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// GatewayAPIRouteStatus is the status of one route.
type GatewayAPIRouteStatus struct {
	// kind of the route: HTTPRoute, GRPCRoute, TLSRoute or TCPRoute.
	Kind string `json:"kind"`
	// name of the route (in the access point's namespace).
	Name string `json:"name"`
	// generation of the route in the member cluster.
	// +optional
	Generation int64 `json:"generation,omitempty"`
	// parents are the route's status per parent (a Gateway, or one of its
	// listeners) and controller.
	// +optional
	// +listType=atomic
	Parents []GatewayAPIRouteParentStatus `json:"parents,omitempty"`
}

// GatewayAPIRouteParentStatus is a route's status for one parent.
type GatewayAPIRouteParentStatus struct {
	// parentRef is the parent: [namespace/]name, with :sectionName and/or
	// @port when the route names them.
	ParentRef string `json:"parentRef"`
	// controllerName is the implementation that wrote it, e.g.
	// istio.io/gateway-controller.
	// +optional
	ControllerName string `json:"controllerName,omitempty"`
	// conditions as the implementation wrote them: Accepted, ResolvedRefs.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// GatewayStatus lists gateway endpoints.
type GatewayStatus struct {
	// endpoints of the gateway pods.
	// +optional
	// +listType=atomic
	Endpoints []GatewayEndpoint `json:"endpoints,omitempty"`
}

// GatewayEndpoint is one gateway pod address.
type GatewayEndpoint struct {
	// address of the endpoint.
	Address string `json:"address"`
	// ready is the endpoint's readiness.
	Ready bool `json:"ready"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ClusterAccessPointList is a list of ClusterAccessPoints.
type ClusterAccessPointList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterAccessPoint `json:"items"`
}

// Condition types of VIPPool.
const (
	VIPPoolExhausted = "Exhausted"
)

// +genclient
// +genclient:nonNamespaced
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// VIPPool is a range of addresses that virtual IPs are allocated from. Pools may not
// overlap.
type VIPPool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec lists the pool's addresses.
	Spec VIPPoolSpec `json:"spec"`
	// status counts allocations.
	// +optional
	Status VIPPoolStatus `json:"status,omitempty"`
}

// VIPPoolSpec describes a pool of virtual IPs.
type VIPPoolSpec struct {
	// cidrs are IPv4 CIDRs (203.0.113.0/24) or ranges (203.0.113.10-203.0.113.20).
	// +listType=atomic
	CIDRs []string `json:"cidrs"`
	// zones whose LoadBalancerGroups announce the pool's addresses.
	// +optional
	// +listType=set
	Zones []string `json:"zones,omitempty"`
	// avoidBuggyIPs skips addresses ending in .0 and .255.
	// +optional
	AvoidBuggyIPs bool `json:"avoidBuggyIPs,omitempty"`
}

// VIPPoolStatus counts a pool's addresses.
type VIPPoolStatus struct {
	// observedGeneration is the generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// total number of allocatable addresses.
	// +optional
	Total int64 `json:"total,omitempty"`
	// allocated addresses.
	// +optional
	Allocated int64 `json:"allocated,omitempty"`
	// available addresses.
	// +optional
	Available int64 `json:"available,omitempty"`
	// conditions: Exhausted.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// VIPPoolList is a list of VIPPools.
type VIPPoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VIPPool `json:"items"`
}

// Scheduler and forwarding of virtual IPs.
const (
	SchedulerMaglev    = "mh"
	ForwardingTunnel   = "tunnel"
	VirtualIPAnnounced = "Announced"
)

// +genclient
// +genclient:nonNamespaced
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// VirtualIP is one allocated virtual IP and everything an lb-agent needs to serve it.
// Its name is its address, so no two access points can hold the same address.
type VirtualIP struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what lb-agents program.
	Spec VirtualIPSpec `json:"spec"`
	// status is reported by lb-agents.
	// +optional
	Status VirtualIPStatus `json:"status,omitempty"`
}

// VirtualIPSpec is what lb-agents program for a virtual IP.
type VirtualIPSpec struct {
	// address of the virtual IP; equal to the object's name.
	Address string `json:"address"`
	// pool the address belongs to.
	Pool string `json:"pool"`
	// owner is the access point holding the address.
	// +optional
	Owner *AccessPointReference `json:"owner,omitempty"`
	// ports served.
	// +optional
	// +listType=map
	// +listMapKey=port
	// +listMapKey=protocol
	// +patchMergeKey=port
	// +patchStrategy=merge
	Ports []Port `json:"ports,omitempty" patchStrategy:"merge" patchMergeKey:"port"`
	// scheduler of the IPVS services. Defaults to mh (Maglev hashing).
	// +optional
	Scheduler string `json:"scheduler,omitempty"`
	// forwarding of the IPVS destinations. Defaults to tunnel (IPIP, direct server return).
	// +optional
	Forwarding string `json:"forwarding,omitempty"`
	// backends are the gateway endpoints.
	// +optional
	// +listType=atomic
	Backends []Backend `json:"backends,omitempty"`
	// crossZone weights of local and remote backends.
	// +optional
	CrossZone *CrossZone `json:"crossZone,omitempty"`
	// healthCheck of every backend.
	// +optional
	HealthCheck *HealthCheck `json:"healthCheck,omitempty"`
	// groups are the LoadBalancerGroups that announce the address.
	// +optional
	// +listType=set
	Groups []string `json:"groups,omitempty"`
}

// Backend is one gateway endpoint behind a virtual IP.
type Backend struct {
	// address of the endpoint.
	Address string `json:"address"`
	// cluster the endpoint runs in.
	// +optional
	Cluster string `json:"cluster,omitempty"`
	// zone of that cluster.
	// +optional
	Zone string `json:"zone,omitempty"`
	// drained backends get weight 0 on every edge node: their cluster is
	// drained (MemberCluster.spec.drain) or their zone is in
	// crossZone.drainedZones.
	// +optional
	Drained bool `json:"drained,omitempty"`
}

// VirtualIPStatus is the state of a virtual IP on the edge.
type VirtualIPStatus struct {
	// observedGeneration is the generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// announcedBy lists the LoadBalancerNodes announcing the address.
	// +optional
	// +listType=set
	AnnouncedBy []string `json:"announcedBy,omitempty"`
	// healthyBackends is the number of backends passing health checks.
	// +optional
	HealthyBackends int32 `json:"healthyBackends,omitempty"`
	// conditions: Announced.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// VirtualIPList is a list of VirtualIPs.
type VirtualIPList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VirtualIP `json:"items"`
}

// Condition types of NameService.
const (
	NameServicePublished = "Published"
)

// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NameService publishes a DNS name through a DNSProvider.
type NameService struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the name and what it points at.
	Spec NameServiceSpec `json:"spec"`
	// status lists the published records.
	// +optional
	Status NameServiceStatus `json:"status,omitempty"`
}

// NameServiceSpec is a DNS name and its target.
type NameServiceSpec struct {
	// fqdn to publish.
	FQDN string `json:"fqdn"`
	// ttl of the records in seconds. Defaults to 30.
	// +optional
	TTL *int32 `json:"ttl,omitempty"`
	// providerRef names the DNSProvider.
	ProviderRef LocalReference `json:"providerRef"`
	// target is what the name resolves to: exactly one of its fields.
	Target NameServiceTarget `json:"target"`
}

// NameServiceTarget is exactly one of an access point, addresses or a CNAME.
type NameServiceTarget struct {
	// accessPointRef names a FederatedAccessPoint in the same namespace: the name
	// follows its VIP.
	// +optional
	AccessPointRef *LocalReference `json:"accessPointRef,omitempty"`
	// addresses are A (or AAAA) record values.
	// +optional
	// +listType=set
	Addresses []string `json:"addresses,omitempty"`
	// cname is a CNAME record value.
	// +optional
	CNAME string `json:"cname,omitempty"`
}

// NameServiceStatus lists what is published.
type NameServiceStatus struct {
	// observedGeneration is the generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// records published.
	// +optional
	// +listType=atomic
	Records []DNSRecord `json:"records,omitempty"`
	// lastSyncTime is the last successful publication.
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`
	// conditions: Published.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// DNSRecord is one published record.
type DNSRecord struct {
	// type of the record: A, AAAA, CNAME.
	Type string `json:"type"`
	// value of the record.
	Value string `json:"value"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NameServiceList is a list of NameServices.
type NameServiceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NameService `json:"items"`
}

// +genclient
// +genclient:nonNamespaced
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// DNSProvider is a DNS server that NameServices are published to.
type DNSProvider struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec says how to reach the server.
	Spec DNSProviderSpec `json:"spec"`
	// status is the result of the last probe.
	// +optional
	Status ProbeStatus `json:"status,omitempty"`
}

// DNSProviderSpec holds exactly one provider configuration.
type DNSProviderSpec struct {
	// rfc2136 publishes with dynamic updates signed by a TSIG key.
	// +optional
	RFC2136 *RFC2136Provider `json:"rfc2136,omitempty"`
}

// RFC2136Provider is a DNS server accepting RFC 2136 dynamic updates.
type RFC2136Provider struct {
	// server is host:port of the DNS server.
	Server string `json:"server"`
	// zone the records are published in.
	Zone string `json:"zone"`
	// tsigKeyName is the TSIG key's name.
	// +optional
	TSIGKeyName string `json:"tsigKeyName,omitempty"`
	// tsigAlgorithm is the TSIG algorithm, e.g. hmac-sha256. Defaults to hmac-sha256.
	// +optional
	TSIGAlgorithm string `json:"tsigAlgorithm,omitempty"`
	// tsigSecretRef names the Secret (hub cluster, portico-system) with the TSIG secret.
	// +optional
	TSIGSecretRef *SecretKeyReference `json:"tsigSecretRef,omitempty"`
}

// SecretKeyReference names a key of a Secret in the hub cluster's portico-system
// namespace.
type SecretKeyReference struct {
	// name of the Secret.
	Name string `json:"name"`
	// key in the Secret's data.
	// +optional
	Key string `json:"key,omitempty"`
}

// ProbeStatus is the status of a provider or issuer.
type ProbeStatus struct {
	// observedGeneration is the generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// conditions: Ready (the last probe).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// DNSProviderList is a list of DNSProviders.
type DNSProviderList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DNSProvider `json:"items"`
}

// +genclient
// +genclient:nonNamespaced
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// CertificateIssuer issues the certificates of access points.
type CertificateIssuer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec holds exactly one issuer configuration.
	Spec CertificateIssuerSpec `json:"spec"`
	// status is the result of the last probe.
	// +optional
	Status ProbeStatus `json:"status,omitempty"`
}

// CertificateIssuerSpec holds exactly one of ca and acme.
type CertificateIssuerSpec struct {
	// ca issues from a CA certificate and key.
	// +optional
	CA *CAIssuer `json:"ca,omitempty"`
	// acme issues from an ACME server.
	// +optional
	ACME *ACMEIssuer `json:"acme,omitempty"`
}

// CAIssuer signs with a CA kept in a Secret.
type CAIssuer struct {
	// secretRef names the Secret (hub cluster, portico-system) with tls.crt and tls.key.
	SecretRef LocalReference `json:"secretRef"`
	// duration is how long issued certificates are valid, capped by the CA's own
	// expiry. They are renewed after two thirds of it. Defaults to 2160h (90 days).
	// +optional
	Duration *metav1.Duration `json:"duration,omitempty"`
}

// ACMEIssuer obtains certificates from an ACME server with DNS-01 challenges.
type ACMEIssuer struct {
	// server is the ACME directory URL.
	Server string `json:"server"`
	// email of the ACME account.
	// +optional
	Email string `json:"email,omitempty"`
	// privateKeySecretRef names the Secret (hub cluster, portico-system) holding the
	// account key.
	PrivateKeySecretRef SecretKeyReference `json:"privateKeySecretRef"`
	// dns01 solves challenges through a DNSProvider.
	DNS01 DNS01Solver `json:"dns01"`
	// caBundle holds PEM roots to trust for the ACME server's HTTPS, for a private
	// ACME server; the system roots are used when it is empty.
	// +optional
	CABundle []byte `json:"caBundle,omitempty"`
}

// DNS01Solver solves DNS-01 challenges.
type DNS01Solver struct {
	// providerRef names the DNSProvider.
	ProviderRef LocalReference `json:"providerRef"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// CertificateIssuerList is a list of CertificateIssuers.
type CertificateIssuerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []CertificateIssuer `json:"items"`
}
