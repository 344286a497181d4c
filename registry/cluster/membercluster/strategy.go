// Package membercluster describes the storage of MemberClusters.
package membercluster

import (
	"context"
	"maps"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portico-dev/portico/apis/cluster"
	"github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/cluster/validation"
	"github.com/portico-dev/portico/registry/store"
)

// Kind describes MemberClusters: cluster-scoped, short name mc. The hub keeps the
// topology labels equal to spec.zone and spec.region.
var Kind = &store.Kind[*cluster.MemberCluster]{
	Resource:     cluster.Resource("memberclusters"),
	Singular:     cluster.Resource("membercluster"),
	GroupVersion: v1alpha1.SchemeGroupVersion,
	ShortNames:   []string{"mc"},
	New:          func() *cluster.MemberCluster { return &cluster.MemberCluster{} },
	NewList:      func() runtime.Object { return &cluster.MemberClusterList{} },
	Validate: func(_ context.Context, mc *cluster.MemberCluster) field.ErrorList {
		return validation.ValidateMemberCluster(mc)
	},
	ValidateUpdate: func(_ context.Context, mc, old *cluster.MemberCluster) field.ErrorList {
		return validation.ValidateMemberClusterUpdate(mc, old)
	},
	ValidateStatus: func(_ context.Context, mc, _ *cluster.MemberCluster) field.ErrorList {
		return validation.ValidateMemberClusterStatus(mc)
	},
	Prepare:          setTopologyLabels,
	SelectableFields: cluster.MemberClusterFields,
	Columns: []metav1.TableColumnDefinition{
		{Name: "Zone", Type: "string", Description: "Availability zone."},
		{Name: "Region", Type: "string", Description: "Region."},
		{Name: "Available", Type: "string", Description: "Whether the agent's Lease is fresh."},
		{Name: "Agent", Type: "string", Description: "Version of the member-agent."},
	},
	Row: func(mc *cluster.MemberCluster) []any {
		return []any{mc.Spec.Zone, mc.Spec.Region,
			store.ConditionStatus(mc.Status.Conditions, cluster.MemberClusterAvailable), mc.Status.Agent.Version}
	},
}

// WithHubIdentity is Kind with the hub's identity set on every MemberCluster
// written (annotation cluster.AnnotationHubIdentity); "" leaves it alone.
func WithHubIdentity(identity string) *store.Kind[*cluster.MemberCluster] {
	if identity == "" {
		return Kind
	}
	k := *Kind
	k.Prepare = func(mc *cluster.MemberCluster) {
		setTopologyLabels(mc)
		annotations := maps.Clone(mc.Annotations)
		if annotations == nil {
			annotations = map[string]string{}
		}
		annotations[cluster.AnnotationHubIdentity] = identity
		mc.Annotations = annotations
	}
	return &k
}

func setTopologyLabels(mc *cluster.MemberCluster) {
	labels := maps.Clone(mc.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[cluster.LabelZone] = mc.Spec.Zone
	if mc.Spec.Region != "" {
		labels[cluster.LabelRegion] = mc.Spec.Region
	} else {
		delete(labels, cluster.LabelRegion)
	}
	mc.Labels = labels
}
