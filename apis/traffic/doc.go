// Package traffic holds the internal types of the traffic.portico.dev API group.
//
// +k8s:deepcopy-gen=package
// +groupName=traffic.portico.dev
package traffic
