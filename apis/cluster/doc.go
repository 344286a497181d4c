// Package cluster holds the internal types of the cluster.portico.dev API group.
//
// +k8s:deepcopy-gen=package
// +groupName=cluster.portico.dev
package cluster
