package framework

import "github.com/portico-dev/portico/test/localfed"

// The types the wrappers take and return, defined in package localfed.
type (
	Etcd                 = localfed.Etcd
	EtcdCluster          = localfed.EtcdCluster
	Front                = localfed.Front
	HubCluster           = localfed.HubCluster
	HubClusterOptions    = localfed.HubClusterOptions
	MemberCluster        = localfed.MemberCluster
	MemberClusterOptions = localfed.MemberClusterOptions
	PorticoHub           = localfed.PorticoHub
	PorticoHubOptions    = localfed.PorticoHubOptions
	MemberAgent          = localfed.MemberAgent
	MemberAgentOptions   = localfed.MemberAgentOptions
)
