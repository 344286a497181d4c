package apiserver

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// rbacLike allows by rules that either cover every name or list names, as
// RBAC does, and records every question it is asked.
type rbacLike struct {
	namespaceWide map[string]bool // "user verb namespace resource/subresource"
	byName        map[string]bool // the same, then " name"
	fail          bool
	asked         []string
}

func (r *rbacLike) Authorize(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	key := fmt.Sprintf("%s %s %s %s/%s", a.GetUser().GetName(), a.GetVerb(), a.GetNamespace(), a.GetResource(), a.GetSubresource())
	r.asked = append(r.asked, key+" "+a.GetName())
	if r.fail {
		return authorizer.DecisionNoOpinion, "", errors.New("hub cluster unreachable")
	}
	if r.namespaceWide[key] || (a.GetName() != "" && r.byName[key+" "+a.GetName()]) {
		return authorizer.DecisionAllow, "allowed by " + key, nil
	}
	return authorizer.DecisionNoOpinion, "", nil
}

func (r *rbacLike) ConditionsAwareAuthorize(ctx context.Context, a authorizer.Attributes) authorizer.ConditionsAwareDecision {
	return authorizer.ConditionsAwareDecisionFromParts(r.Authorize(ctx, a))
}

func (r *rbacLike) EvaluateConditions(context.Context, authorizer.ConditionsAwareDecision, authorizer.ConditionsData) (authorizer.Decision, string, error) {
	return authorizer.DecisionDeny, "", authorizer.ErrorConditionEvaluationNotSupported
}

func named(u, verb, ns, resource, sub, name string) authorizer.AttributesRecord {
	return authorizer.AttributesRecord{User: &user.DefaultInfo{Name: u}, Verb: verb, Namespace: ns, APIGroup: "traffic.portico.dev",
		APIVersion: "v1alpha1", Resource: resource, Subresource: sub, Name: name, ResourceRequest: true}
}

// TestNamespaceFirstAsksOncePerNamespace: an agent allowed to write the status
// of every ClusterAccessPoint in its namespace is asked about the namespace,
// never about each object, so one cached answer serves all of them.
func TestNamespaceFirstAsksOncePerNamespace(t *testing.T) {
	d := &rbacLike{namespaceWide: map[string]bool{"agent update portico-cluster-a clusteraccesspoints/status": true}}
	a := NamespaceFirst(d)
	for i := range 3 {
		dec, _, err := a.Authorize(context.Background(), named("agent", "update", "portico-cluster-a", "clusteraccesspoints", "status", fmt.Sprintf("ns.ap-%d", i)))
		if err != nil || dec != authorizer.DecisionAllow {
			t.Fatalf("update of ap-%d: %v %v, want allowed", i, dec, err)
		}
	}
	for _, q := range d.asked {
		if q != "agent update portico-cluster-a clusteraccesspoints/status " {
			t.Errorf("asked %q: want only the namespace-wide question", q)
		}
	}
}

// TestNamespaceFirstDecidesAsTheDelegate: every decision is the delegate's
// decision about the named object. A grant by name is still found (asked
// after the namespace), a name not granted is still refused, and what has no
// name or is not a single-object verb is asked as it is.
func TestNamespaceFirstDecidesAsTheDelegate(t *testing.T) {
	d := &rbacLike{
		namespaceWide: map[string]bool{"wide get team-a federatedaccesspoints/": true},
		byName:        map[string]bool{"one get team-a federatedaccesspoints/ shop": true},
	}
	a := NamespaceFirst(d)
	for _, c := range []struct {
		attrs authorizer.AttributesRecord
		allow bool
		asked []string
	}{
		{named("wide", "get", "team-a", "federatedaccesspoints", "", "shop"), true,
			[]string{"wide get team-a federatedaccesspoints/ "}},
		{named("one", "get", "team-a", "federatedaccesspoints", "", "shop"), true,
			[]string{"one get team-a federatedaccesspoints/ ", "one get team-a federatedaccesspoints/ shop"}},
		{named("one", "get", "team-a", "federatedaccesspoints", "", "other"), false,
			[]string{"one get team-a federatedaccesspoints/ ", "one get team-a federatedaccesspoints/ other"}},
		{named("one", "delete", "team-a", "federatedaccesspoints", "", "shop"), false,
			[]string{"one delete team-a federatedaccesspoints/ ", "one delete team-a federatedaccesspoints/ shop"}},
		// A watch of one object by field selector is asked as it is.
		{named("one", "watch", "team-a", "federatedaccesspoints", "", "shop"), false,
			[]string{"one watch team-a federatedaccesspoints/ shop"}},
		// Cluster-scoped and unnamed requests: as they are.
		{named("wide", "get", "", "memberclusters", "", "zone-a"), false, []string{"wide get  memberclusters/ zone-a"}},
		{named("wide", "list", "team-a", "federatedaccesspoints", "", ""), false, []string{"wide list team-a federatedaccesspoints/ "}},
	} {
		// Both ways of asking: kube's authorization filter calls Authorize,
		// conditions-aware callers ConditionsAwareAuthorize.
		for _, conditions := range []bool{false, true} {
			d.asked = nil
			var allowed bool
			if conditions {
				dec := a.ConditionsAwareAuthorize(context.Background(), c.attrs)
				allowed = dec.IsAllow()
			} else {
				dec, _, err := a.Authorize(context.Background(), c.attrs)
				if err != nil {
					t.Fatal(err)
				}
				allowed = dec == authorizer.DecisionAllow
			}
			if allowed != c.allow {
				t.Errorf("%s %s %s/%s (conditions-aware %v): allowed %v, want %v", c.attrs.User.GetName(), c.attrs.Verb, c.attrs.Resource, c.attrs.Name, conditions, allowed, c.allow)
			}
			if fmt.Sprint(d.asked) != fmt.Sprint(c.asked) {
				t.Errorf("%s %s %s/%s (conditions-aware %v): asked %q, want %q", c.attrs.User.GetName(), c.attrs.Verb, c.attrs.Resource, c.attrs.Name, conditions, d.asked, c.asked)
			}
		}
	}

	// Non-resource requests pass through.
	d.asked = nil
	_, _, _ = a.Authorize(context.Background(), authorizer.AttributesRecord{User: &user.DefaultInfo{Name: "wide"}, Verb: "get", Path: "/healthz"})
	if len(d.asked) != 1 {
		t.Errorf("non-resource request asked %q", d.asked)
	}

	// A failing namespace question falls back to the named one, whose error
	// is the answer.
	d.fail, d.asked = true, nil
	if _, _, err := a.Authorize(context.Background(), named("wide", "get", "team-a", "federatedaccesspoints", "", "shop")); err == nil || len(d.asked) != 2 {
		t.Errorf("with the hub unreachable: err %v, asked %q; want the named question's error", err, d.asked)
	}
}
