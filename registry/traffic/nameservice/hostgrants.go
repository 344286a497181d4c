package nameservice

import (
	"context"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portico-dev/portico/apis/traffic"
	"github.com/portico-dev/portico/registry/store"
	"github.com/portico-dev/portico/registry/traffic/hostgrant"
)

// WithHostGrants is Kind whose writes also need a HostGrant for the name
// (an update: only when it changes).
func WithHostGrants(grants *hostgrant.Checker) *store.Kind[*traffic.NameService] {
	k := *Kind
	at := func(int) *field.Path { return field.NewPath("spec", "fqdn") }
	k.Validate = func(ctx context.Context, ns *traffic.NameService) field.ErrorList {
		return append(Kind.Validate(ctx, ns), grants.Check(ctx, ns.Namespace, []string{ns.Spec.FQDN}, nil, at)...)
	}
	k.ValidateUpdate = func(ctx context.Context, ns, old *traffic.NameService) field.ErrorList {
		return append(Kind.ValidateUpdate(ctx, ns, old), grants.Check(ctx, ns.Namespace, []string{ns.Spec.FQDN}, []string{old.Spec.FQDN}, at)...)
	}
	return &k
}
