// Package dnsprovider describes the storage of DNSProviders.
package dnsprovider

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portico-dev/portico/apis/traffic"
	"github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/apis/traffic/validation"
	"github.com/portico-dev/portico/registry/store"
)

// Kind describes DNSProviders: cluster-scoped.
var Kind = &store.Kind[*traffic.DNSProvider]{
	Resource:     traffic.Resource("dnsproviders"),
	Singular:     traffic.Resource("dnsprovider"),
	GroupVersion: v1alpha1.SchemeGroupVersion,
	New:          func() *traffic.DNSProvider { return &traffic.DNSProvider{} },
	NewList:      func() runtime.Object { return &traffic.DNSProviderList{} },
	Validate: func(_ context.Context, p *traffic.DNSProvider) field.ErrorList {
		return validation.ValidateDNSProvider(p)
	},
	ValidateUpdate: func(_ context.Context, p, old *traffic.DNSProvider) field.ErrorList {
		return validation.ValidateDNSProviderUpdate(p, old)
	},
	ValidateStatus: func(_ context.Context, p, _ *traffic.DNSProvider) field.ErrorList {
		return validation.ValidateProbeStatus(&p.Status)
	},
	Columns: []metav1.TableColumnDefinition{
		{Name: "Type", Type: "string", Description: "Provider type."},
		{Name: "Server", Type: "string", Description: "DNS server."},
		{Name: "Zone", Type: "string", Description: "DNS zone."},
		{Name: "Ready", Type: "string", Description: "Result of the last probe."},
	},
	Row: func(p *traffic.DNSProvider) []any {
		typ, server, zone := "<none>", "", ""
		if r := p.Spec.RFC2136; r != nil {
			typ, server, zone = "rfc2136", r.Server, r.Zone
		}
		return []any{typ, server, zone, store.ConditionStatus(p.Status.Conditions, traffic.ConditionReady)}
	},
}
