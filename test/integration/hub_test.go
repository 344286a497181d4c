//go:build integration

package integration

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// porticoResource is one resource of the Portico API as the contract
// (/work/shared/design/API.md) describes it.
type porticoResource struct {
	resource, shortName, group, kind string
	namespaced                       bool
}

const (
	clusterGroup = "cluster.portico.dev"
	trafficGroup = "traffic.portico.dev"
)

var porticoResources = []porticoResource{
	{"memberclusters", "mc", clusterGroup, "MemberCluster", false},
	{"loadbalancergroups", "lbg", clusterGroup, "LoadBalancerGroup", false},
	{"loadbalancernodes", "lbn", clusterGroup, "LoadBalancerNode", false},
	{"federatedaccesspoints", "fap", trafficGroup, "FederatedAccessPoint", true},
	{"clusteraccesspoints", "cap", trafficGroup, "ClusterAccessPoint", true},
	{"nameservices", "nsvc", trafficGroup, "NameService", true},
	{"vippools", "", trafficGroup, "VIPPool", false},
	{"virtualips", "vip", trafficGroup, "VirtualIP", false},
	{"dnsproviders", "", trafficGroup, "DNSProvider", false},
	{"certificateissuers", "", trafficGroup, "CertificateIssuer", false},
	{"accesspointrevisions", "apr", trafficGroup, "AccessPointRevision", true},
	{"hostgrants", "hg", trafficGroup, "HostGrant", false},
}

// withoutStatus are the kinds that have no status and no /status subresource:
// immutable records.
var withoutStatus = map[string]bool{"AccessPointRevision": true, "HostGrant": true}

// TestAPIResourcesAndExplain: discovery through the hub cluster lists every
// Portico kind with its short name, scope, verbs and the category portico, and
// nothing else of the two groups; kubectl explain documents the placement and
// the gateway template from the served OpenAPI.
func TestAPIResourcesAndExplain(t *testing.T) {
	e := hubEnv(t)

	tb := parseTable(t, e.mustKubectl(t, "api-resources", "-o", "wide"))
	wantHeader := []string{"NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND", "VERBS", "CATEGORIES"}
	if !slices.Equal(tb.header, wantHeader) {
		t.Fatalf("api-resources header %v, want %v", tb.header, wantHeader)
	}
	const allVerbs = "create,delete,deletecollection,get,list,patch,update,watch"
	served := map[string][]string{}
	for _, row := range tb.rows {
		apiVersion := row[2]
		if strings.HasPrefix(apiVersion, clusterGroup+"/") || strings.HasPrefix(apiVersion, trafficGroup+"/") {
			served[row[0]] = row
		}
	}
	for _, r := range porticoResources {
		row, ok := served[r.resource]
		if !ok {
			t.Errorf("api-resources does not list %s", r.resource)
			continue
		}
		delete(served, r.resource)
		want := []string{r.resource, r.shortName, r.group + "/v1alpha1", strconv.FormatBool(r.namespaced), r.kind, allVerbs, "portico"}
		if !slices.Equal(row, want) {
			t.Errorf("api-resources row of %s:\n got %q\nwant %q", r.resource, row, want)
		}
	}
	for name := range served {
		t.Errorf("api-resources lists an unexpected Portico resource %s", name)
	}

	// The category selects exactly the Portico kinds.
	out := e.mustKubectl(t, "api-resources", "--categories=portico", "-o", "name")
	got, want := strings.Fields(out), []string(nil)
	for _, r := range porticoResources {
		want = append(want, r.resource+"."+r.group)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("api-resources --categories=portico:\n got %v\nwant %v", got, want)
	}

	// kubectl explain reads the hub's OpenAPI v3, which the aggregator
	// fetches from portico-hub.
	out = e.mustKubectl(t, "explain", "fap.spec.placement")
	for _, want := range []string{`GROUP:\s+traffic\.portico\.dev`, `KIND:\s+FederatedAccessPoint`, `VERSION:\s+v1alpha1`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("explain fap.spec.placement does not match %s:\n%s", want, out)
		}
	}
	for _, field := range []string{"clusters", "clusterSelector", "zones"} {
		// A field line: two spaces, the name, then its type in <...>.
		if !regexp.MustCompile(`(?m)^\s+` + field + `\s+<[^>]+>`).MatchString(out) {
			t.Errorf("explain fap.spec.placement does not document field %s:\n%s", field, out)
		}
	}
	// The descriptions are the API's doc comments.
	for _, doc := range []string{"selects the member clusters", "empty list selects no cluster", "restricts placement to member clusters of these zones"} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), doc) {
			t.Errorf("explain fap.spec.placement lacks the documentation %q:\n%s", doc, out)
		}
	}
	out = e.mustKubectl(t, "explain", "fap.spec.template.gateway")
	if !strings.Contains(out, "FIELD: gateway") || !strings.Contains(strings.Join(strings.Fields(out), " "), "Istio Gateway spec") {
		t.Errorf("explain fap.spec.template.gateway:\n%s", out)
	}
	out = e.mustKubectl(t, "explain", "mc.spec")
	if !regexp.MustCompile(`(?m)^\s+zone\s+<string> -required-`).MatchString(out) {
		t.Errorf("explain mc.spec does not show zone as a required string:\n%s", out)
	}
	if _, stderr, err := e.kubectl(t, "explain", "fap.spec.nosuchfield"); err == nil || !strings.Contains(stderr, "nosuchfield") {
		t.Errorf("explain of an unknown field: err=%v stderr=%s", err, stderr)
	}
}
