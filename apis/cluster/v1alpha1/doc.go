// Package v1alpha1 is the v1alpha1 version of the cluster.portico.dev API:
// member clusters and the L4 edge tier (load-balancer groups and nodes).
//
// +k8s:openapi-gen=true
// +k8s:deepcopy-gen=package
// +k8s:conversion-gen=github.com/portico-dev/portico/apis/cluster
// +k8s:defaulter-gen=TypeMeta
// +groupName=cluster.portico.dev
// +k8s:openapi-model-package=dev.portico.cluster.v1alpha1
package v1alpha1
