// Package loadbalancernode describes the storage of LoadBalancerNodes.
package loadbalancernode

import (
	"context"
	"fmt"
	"maps"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portico-dev/portico/apis/cluster"
	"github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/cluster/validation"
	"github.com/portico-dev/portico/registry/store"
)

// Kind describes LoadBalancerNodes: cluster-scoped, short name lbn.
var Kind = &store.Kind[*cluster.LoadBalancerNode]{
	Resource:     cluster.Resource("loadbalancernodes"),
	Singular:     cluster.Resource("loadbalancernode"),
	GroupVersion: v1alpha1.SchemeGroupVersion,
	ShortNames:   []string{"lbn"},
	New:          func() *cluster.LoadBalancerNode { return &cluster.LoadBalancerNode{} },
	NewList:      func() runtime.Object { return &cluster.LoadBalancerNodeList{} },
	Validate: func(_ context.Context, n *cluster.LoadBalancerNode) field.ErrorList {
		return validation.ValidateLoadBalancerNode(n)
	},
	ValidateUpdate: func(_ context.Context, n, old *cluster.LoadBalancerNode) field.ErrorList {
		return validation.ValidateLoadBalancerNodeUpdate(n, old)
	},
	ValidateStatus: func(_ context.Context, n, _ *cluster.LoadBalancerNode) field.ErrorList {
		return validation.ValidateLoadBalancerNodeStatus(n)
	},
	SelectableFields: cluster.LoadBalancerNodeFields,
	Columns: []metav1.TableColumnDefinition{
		{Name: "Group", Type: "string", Description: "LoadBalancerGroup of the node."},
		{Name: "Address", Type: "string", Description: "BGP next hop and tunnel source."},
		{Name: "Ready", Type: "string", Description: "Ready condition."},
		{Name: "Sessions", Type: "string", Description: "Established BGP sessions / sessions."},
		{Name: "Announced", Type: "integer", Description: "Number of announced virtual IPs."},
	},
	Row: func(n *cluster.LoadBalancerNode) []any {
		established := 0
		for _, s := range n.Status.BGP.Sessions {
			if s.State == "Established" {
				established++
			}
		}
		return []any{n.Spec.Group, n.Spec.Address, store.ConditionStatus(n.Status.Conditions, cluster.ConditionReady),
			fmt.Sprintf("%d/%d", established, len(n.Status.BGP.Sessions)), len(n.Status.Announced)}
	},
}

// WithHubIdentity is Kind with the hub's identity set on every LoadBalancerNode
// written (annotation cluster.AnnotationHubIdentity), as on MemberClusters;
// "" leaves it alone.
func WithHubIdentity(identity string) *store.Kind[*cluster.LoadBalancerNode] {
	if identity == "" {
		return Kind
	}
	k := *Kind
	k.Prepare = func(n *cluster.LoadBalancerNode) {
		annotations := maps.Clone(n.Annotations)
		if annotations == nil {
			annotations = map[string]string{}
		}
		annotations[cluster.AnnotationHubIdentity] = identity
		n.Annotations = annotations
	}
	return &k
}
