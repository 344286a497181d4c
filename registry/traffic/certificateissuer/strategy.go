// Package certificateissuer describes the storage of CertificateIssuers.
package certificateissuer

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

// Kind describes CertificateIssuers: cluster-scoped.
var Kind = &store.Kind[*traffic.CertificateIssuer]{
	Resource:     traffic.Resource("certificateissuers"),
	Singular:     traffic.Resource("certificateissuer"),
	GroupVersion: v1alpha1.SchemeGroupVersion,
	New:          func() *traffic.CertificateIssuer { return &traffic.CertificateIssuer{} },
	NewList:      func() runtime.Object { return &traffic.CertificateIssuerList{} },
	Validate: func(_ context.Context, ci *traffic.CertificateIssuer) field.ErrorList {
		return validation.ValidateCertificateIssuer(ci)
	},
	ValidateUpdate: func(_ context.Context, ci, old *traffic.CertificateIssuer) field.ErrorList {
		return validation.ValidateCertificateIssuerUpdate(ci, old)
	},
	ValidateStatus: func(_ context.Context, ci, _ *traffic.CertificateIssuer) field.ErrorList {
		return validation.ValidateProbeStatus(&ci.Status)
	},
	Columns: []metav1.TableColumnDefinition{
		{Name: "Type", Type: "string", Description: "ca or acme."},
		{Name: "Ready", Type: "string", Description: "Result of the last probe."},
	},
	Row: func(ci *traffic.CertificateIssuer) []any {
		typ := "ca"
		if ci.Spec.ACME != nil {
			typ = "acme"
		}
		return []any{typ, store.ConditionStatus(ci.Status.Conditions, traffic.ConditionReady)}
	},
}
