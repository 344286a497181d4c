package apiserver

import (
	"context"

	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// namespaceFirstVerbs are the verbs on one named object that the namespace
// may answer for. list and watch are left out: their name comes from a
// metadata.name field selector, and they are asked as they are.
var namespaceFirstVerbs = map[string]bool{"get": true, "update": true, "patch": true, "delete": true}

// NamespaceFirst wraps an authorizer: a request on one named object in a
// namespace is first asked without the name (may the user do this to every
// object of the resource in the namespace?) and allowed when that is allowed;
// only otherwise is the named object asked about. The delegated authorizer
// caches its answers by the whole question, name included, so a member-agent
// writing the status of each of its ClusterAccessPoints used to cost one
// SubjectAccessReview to the hub cluster per object; now one answer per
// namespace serves them all.
//
// Under RBAC both questions get the same answer: a rule that allows the
// question without a name lists no resourceNames, so it allows every name.
// An authorizer that denies single objects it allows namespace-wide (a
// webhook could) would be bypassed: portico-hub's --authorization-namespace-first
// turns this off.
func NamespaceFirst(delegate authorizer.Authorizer) authorizer.Authorizer {
	return namespaceFirst{delegate}
}

type namespaceFirst struct{ delegate authorizer.Authorizer }

// wide returns the question about every object of the namespace, or false
// when a is not a question about one named object of a namespace.
func wide(a authorizer.Attributes) (authorizer.AttributesRecord, bool) {
	if !a.IsResourceRequest() || a.GetNamespace() == "" || a.GetName() == "" || !namespaceFirstVerbs[a.GetVerb()] {
		return authorizer.AttributesRecord{}, false
	}
	return authorizer.AttributesRecord{
		User:            a.GetUser(),
		Verb:            a.GetVerb(),
		Namespace:       a.GetNamespace(),
		APIGroup:        a.GetAPIGroup(),
		APIVersion:      a.GetAPIVersion(),
		Resource:        a.GetResource(),
		Subresource:     a.GetSubresource(),
		ResourceRequest: true,
	}, true
}

func (n namespaceFirst) Authorize(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	if w, ok := wide(a); ok {
		if d, reason, err := n.delegate.Authorize(ctx, w); err == nil && d == authorizer.DecisionAllow {
			return d, reason, nil
		}
	}
	return n.delegate.Authorize(ctx, a)
}

// ConditionsAwareAuthorize takes only an unconditional allow of the namespace
// as the answer; anything else is the delegate's answer about the object,
// whose conditions the delegate evaluates (EvaluateConditions).
func (n namespaceFirst) ConditionsAwareAuthorize(ctx context.Context, a authorizer.Attributes) authorizer.ConditionsAwareDecision {
	if w, ok := wide(a); ok {
		if d := n.delegate.ConditionsAwareAuthorize(ctx, w); d.IsAllow() && d.Error() == nil {
			return d
		}
	}
	return n.delegate.ConditionsAwareAuthorize(ctx, a)
}

func (n namespaceFirst) EvaluateConditions(ctx context.Context, d authorizer.ConditionsAwareDecision, data authorizer.ConditionsData) (authorizer.Decision, string, error) {
	return n.delegate.EvaluateConditions(ctx, d, data)
}
