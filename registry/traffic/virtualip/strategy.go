// Package virtualip describes the storage of VirtualIPs. A VirtualIP is named by
// its address, so storage refuses a second holder of the same address.
package virtualip

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portico-dev/portico/apis/traffic"
	"github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/apis/traffic/validation"
	"github.com/portico-dev/portico/registry/store"
)

// Kind describes VirtualIPs: cluster-scoped, short name vip.
var Kind = &store.Kind[*traffic.VirtualIP]{
	Resource:     traffic.Resource("virtualips"),
	Singular:     traffic.Resource("virtualip"),
	GroupVersion: v1alpha1.SchemeGroupVersion,
	ShortNames:   []string{"vip"},
	New:          func() *traffic.VirtualIP { return &traffic.VirtualIP{} },
	NewList:      func() runtime.Object { return &traffic.VirtualIPList{} },
	Validate: func(_ context.Context, vip *traffic.VirtualIP) field.ErrorList {
		return validation.ValidateVirtualIP(vip)
	},
	ValidateUpdate: func(_ context.Context, vip, old *traffic.VirtualIP) field.ErrorList {
		return validation.ValidateVirtualIPUpdate(vip, old)
	},
	ValidateStatus: func(_ context.Context, vip, _ *traffic.VirtualIP) field.ErrorList {
		return validation.ValidateVirtualIPStatus(vip)
	},
	// A new VirtualIP starts not announced, as a new Pod starts Pending: no
	// lb-agent has seen its address yet. This is the status the hub's
	// VirtualIP controller computes for it until a node announces the address,
	// so the controller does not write it again.
	PrepareCreate: func(vip *traffic.VirtualIP) {
		vip.Status = traffic.VirtualIPStatus{ObservedGeneration: vip.Generation}
		meta.SetStatusCondition(&vip.Status.Conditions, traffic.VirtualIPNotAnnounced(vip.Spec.Address, vip.Spec.Groups, vip.Generation))
	},
	SelectableFields: traffic.VirtualIPFields,
	Columns: []metav1.TableColumnDefinition{
		{Name: "Pool", Type: "string", Description: "VIPPool of the address."},
		{Name: "Owner", Type: "string", Description: "Access point holding the address."},
		{Name: "Backends", Type: "string", Description: "Healthy backends / backends."},
		{Name: "Announced", Type: "integer", Description: "Number of nodes announcing the address."},
	},
	Row: func(vip *traffic.VirtualIP) []any {
		owner := "<none>"
		if vip.Spec.Owner != nil {
			owner = vip.Spec.Owner.Namespace + "/" + vip.Spec.Owner.Name
		}
		return []any{vip.Spec.Pool, owner, fmt.Sprintf("%d/%d", vip.Status.HealthyBackends, len(vip.Spec.Backends)), len(vip.Status.AnnouncedBy)}
	},
}
