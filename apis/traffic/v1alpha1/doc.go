// Package v1alpha1 is the v1alpha1 version of the traffic.portico.dev API: federated
// access points, their per-cluster slices, virtual IPs, DNS names and certificates.
//
// +k8s:openapi-gen=true
// +k8s:deepcopy-gen=package
// +k8s:conversion-gen=github.com/portico-dev/portico/apis/traffic
// +k8s:defaulter-gen=TypeMeta
// +groupName=traffic.portico.dev
// +k8s:openapi-model-package=dev.portico.traffic.v1alpha1
package v1alpha1
