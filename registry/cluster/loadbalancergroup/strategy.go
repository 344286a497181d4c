// Package loadbalancergroup describes the storage of LoadBalancerGroups.
package loadbalancergroup

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portico-dev/portico/apis/cluster"
	"github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/cluster/validation"
	"github.com/portico-dev/portico/registry/store"
)

// Kind describes LoadBalancerGroups: cluster-scoped, short name lbg.
var Kind = &store.Kind[*cluster.LoadBalancerGroup]{
	Resource:     cluster.Resource("loadbalancergroups"),
	Singular:     cluster.Resource("loadbalancergroup"),
	GroupVersion: v1alpha1.SchemeGroupVersion,
	ShortNames:   []string{"lbg"},
	New:          func() *cluster.LoadBalancerGroup { return &cluster.LoadBalancerGroup{} },
	NewList:      func() runtime.Object { return &cluster.LoadBalancerGroupList{} },
	Validate: func(_ context.Context, g *cluster.LoadBalancerGroup) field.ErrorList {
		return validation.ValidateLoadBalancerGroup(g)
	},
	ValidateUpdate: func(_ context.Context, g, old *cluster.LoadBalancerGroup) field.ErrorList {
		return validation.ValidateLoadBalancerGroupUpdate(g, old)
	},
	ValidateStatus: func(_ context.Context, g, _ *cluster.LoadBalancerGroup) field.ErrorList {
		return validation.ValidateLoadBalancerGroupStatus(g)
	},
	SelectableFields: cluster.LoadBalancerGroupFields,
	Columns: []metav1.TableColumnDefinition{
		{Name: "Zone", Type: "string", Description: "Zone the group serves."},
		{Name: "ASN", Type: "integer", Description: "Local BGP autonomous system number."},
		{Name: "Peers", Type: "integer", Description: "Number of BGP peers."},
		{Name: "Nodes", Type: "string", Description: "Ready nodes / nodes."},
		{Name: "Ready", Type: "string", Description: "Ready condition."},
	},
	Row: func(g *cluster.LoadBalancerGroup) []any {
		return []any{g.Spec.Zone, int64(g.Spec.BGP.LocalASN), len(g.Spec.BGP.Peers),
			fmt.Sprintf("%d/%d", g.Status.ReadyNodes, g.Status.Nodes),
			store.ConditionStatus(g.Status.Conditions, cluster.ConditionReady)}
	},
}
