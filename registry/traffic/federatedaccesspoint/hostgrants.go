package federatedaccesspoint

import (
	"context"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portico-dev/portico/apis/traffic"
	"github.com/portico-dev/portico/registry/store"
	"github.com/portico-dev/portico/registry/traffic/hostgrant"
)

// WithHostGrants is Kind whose writes also need a HostGrant for every host
// the access point claims (an update: every host it adds), and refuse a host
// that overlaps one of an access point in another namespace (claims).
func WithHostGrants(grants *hostgrant.Checker, claims *HostClaims) *store.Kind[*traffic.FederatedAccessPoint] {
	k := *Kind
	at := func(i int) *field.Path { return field.NewPath("spec", "hosts").Index(i) }
	k.Validate = func(ctx context.Context, fap *traffic.FederatedAccessPoint) field.ErrorList {
		errs := append(Kind.Validate(ctx, fap), grants.Check(ctx, fap.Namespace, fap.Spec.Hosts, nil, at)...)
		return append(errs, claims.Check(ctx, fap, nil)...)
	}
	k.ValidateUpdate = func(ctx context.Context, fap, old *traffic.FederatedAccessPoint) field.ErrorList {
		errs := append(Kind.ValidateUpdate(ctx, fap, old), grants.Check(ctx, fap.Namespace, fap.Spec.Hosts, old.Spec.Hosts, at)...)
		return append(errs, claims.Check(ctx, fap, old.Spec.Hosts)...)
	}
	return &k
}
