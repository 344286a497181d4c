package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Defaults of the traffic API.
const (
	DefaultLocalWeight     = 99
	DefaultRemoteWeight    = 1
	DefaultHealthInterval  = 2 * time.Second
	DefaultHealthTimeout   = 1 * time.Second
	DefaultHealthThreshold = 2
	DefaultTTL             = 30
	DefaultTSIGAlgorithm   = "hmac-sha256"
	// DefaultGatewayNamespace is where Istio's default ingress gateway runs.
	DefaultGatewayNamespace = "istio-system"
)

// SetDefaults_OverridePatch makes replace the default operation.
func SetDefaults_OverridePatch(obj *OverridePatch) {
	if obj.Op == "" {
		obj.Op = OverrideReplace
	}
}

// SetDefaults_Port makes TCP the default protocol.
func SetDefaults_Port(obj *Port) {
	if obj.Protocol == "" {
		obj.Protocol = ProtocolTCP
	}
}

// SetDefaults_LoadBalancerSpec gives every load balancer cross-zone weights and a
// health check.
func SetDefaults_LoadBalancerSpec(obj *LoadBalancerSpec) {
	if obj.CrossZone == nil {
		obj.CrossZone = &CrossZone{}
	}
	if obj.HealthCheck == nil {
		obj.HealthCheck = &HealthCheck{}
	}
}

// SetDefaults_CrossZone fills the 99/1 weights.
func SetDefaults_CrossZone(obj *CrossZone) {
	if obj.LocalWeight == nil {
		obj.LocalWeight = ptr(int32(DefaultLocalWeight))
	}
	if obj.RemoteWeight == nil {
		obj.RemoteWeight = ptr(int32(DefaultRemoteWeight))
	}
}

// SetDefaults_LocalitySpec makes None the default mode.
func SetDefaults_LocalitySpec(obj *LocalitySpec) {
	if obj.Mode == "" {
		obj.Mode = LocalityNone
	}
}

// SetDefaults_HealthCheck fills a TCP check every 2s.
func SetDefaults_HealthCheck(obj *HealthCheck) {
	if obj.Type == "" {
		obj.Type = HealthCheckTCP
	}
	if obj.Interval == nil {
		obj.Interval = &metav1.Duration{Duration: DefaultHealthInterval}
	}
	if obj.Timeout == nil {
		obj.Timeout = &metav1.Duration{Duration: DefaultHealthTimeout}
	}
	if obj.HealthyThreshold == nil {
		obj.HealthyThreshold = ptr(int32(DefaultHealthThreshold))
	}
	if obj.UnhealthyThreshold == nil {
		obj.UnhealthyThreshold = ptr(int32(DefaultHealthThreshold))
	}
}

// SetDefaults_TLSSpec makes SIMPLE the default mode and istio-system the
// default namespace of the certificate Secret.
func SetDefaults_TLSSpec(obj *TLSSpec) {
	if obj.Mode == "" {
		obj.Mode = TLSModeSimple
	}
}

// SetDefaults_RolloutSpec makes AllAtOnce the default strategy and keeps 10
// revisions.
func SetDefaults_RolloutSpec(obj *RolloutSpec) {
	if obj.Strategy == "" {
		obj.Strategy = RolloutAllAtOnce
	}
	if obj.RevisionHistoryLimit == nil {
		limit := int32(DefaultRevisionHistoryLimit)
		obj.RevisionHistoryLimit = &limit
	}
}

// SetDefaults_VirtualIPSpec makes Maglev hashing and IPIP tunnels the defaults.
func SetDefaults_VirtualIPSpec(obj *VirtualIPSpec) {
	if obj.Scheduler == "" {
		obj.Scheduler = SchedulerMaglev
	}
	if obj.Forwarding == "" {
		obj.Forwarding = ForwardingTunnel
	}
}

// SetDefaults_NameServiceSpec makes 30s the default TTL.
func SetDefaults_NameServiceSpec(obj *NameServiceSpec) {
	if obj.TTL == nil {
		obj.TTL = ptr(int32(DefaultTTL))
	}
}

// SetDefaults_RFC2136Provider makes hmac-sha256 the default TSIG algorithm.
func SetDefaults_RFC2136Provider(obj *RFC2136Provider) {
	if obj.TSIGAlgorithm == "" {
		obj.TSIGAlgorithm = DefaultTSIGAlgorithm
	}
}

func ptr[T any](v T) *T { return &v }

// DefaultCertificateDuration is the validity of certificates a CA issuer signs
// when spec.ca.duration is not set.
const DefaultCertificateDuration = 90 * 24 * time.Hour

// SetDefaults_CAIssuer makes 90 days the default certificate validity.
func SetDefaults_CAIssuer(obj *CAIssuer) {
	if obj.Duration == nil {
		obj.Duration = &metav1.Duration{Duration: DefaultCertificateDuration}
	}
}
