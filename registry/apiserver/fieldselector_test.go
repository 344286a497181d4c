//go:build registry

package apiserver

import (
	"fmt"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/registry/generic"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/registry/cluster/loadbalancergroup"
	"github.com/portico-dev/portico/registry/cluster/loadbalancernode"
	"github.com/portico-dev/portico/registry/cluster/membercluster"
	"github.com/portico-dev/portico/registry/store"
	"github.com/portico-dev/portico/registry/traffic/clusteraccesspoint"
	"github.com/portico-dev/portico/registry/traffic/federatedaccesspoint"
	"github.com/portico-dev/portico/registry/traffic/nameservice"
	"github.com/portico-dev/portico/registry/traffic/virtualip"
)

// selectorCase stores objects of one kind (v1alpha1 JSON, decoded and defaulted
// as the API server does) and lists them with field selectors, converted by the
// scheme as the API server converts them.
type selectorCase struct {
	kind      schema.GroupVersionKind
	newREST   func(generic.RESTOptionsGetter) (*store.REST, error)
	namespace string
	objects   []string
	// selectors maps a field selector to the names it must list.
	selectors map[string][]string
}

func restOf[T store.Object](kind *store.Kind[T]) func(generic.RESTOptionsGetter) (*store.REST, error) {
	return func(g generic.RESTOptionsGetter) (*store.REST, error) {
		r, _, err := store.New(Scheme, g, kind)
		return r, err
	}
}

func TestFieldSelectors(t *testing.T) {
	cluster := func(kind string) schema.GroupVersionKind { return clusterv1alpha1.SchemeGroupVersion.WithKind(kind) }
	traffic := func(kind string) schema.GroupVersionKind { return trafficv1alpha1.SchemeGroupVersion.WithKind(kind) }
	fap := func(name, lb string) string {
		return fmt.Sprintf(`{"metadata":{"name":%q},"spec":{"hosts":["shop.example.com"],`+
			`"template":{"virtualServices":[{"name":"web","spec":%s}]}%s}}`, name, validVS, lb)
	}
	vip := func(address, pool, owner string) string {
		return fmt.Sprintf(`{"metadata":{"name":%q},"spec":{"address":%[1]q,"pool":%q,%s`+
			`"ports":[{"name":"http","port":80,"protocol":"TCP"}]}}`, address, pool, owner)
	}
	tests := []selectorCase{
		{
			kind: cluster("MemberCluster"), newREST: restOf(membercluster.Kind),
			objects: []string{
				`{"metadata":{"name":"a-1"},"spec":{"zone":"zone-a","region":"r1"}}`,
				`{"metadata":{"name":"a-2"},"spec":{"zone":"zone-a","region":"r2"}}`,
				`{"metadata":{"name":"b-1"},"spec":{"zone":"zone-b","region":"r1"}}`,
			},
			selectors: map[string][]string{
				"spec.zone=zone-a":                {"a-1", "a-2"},
				"spec.zone=zone-a,spec.region=r1": {"a-1"},
				"spec.region!=r1":                 {"a-2"},
				"metadata.name=b-1":               {"b-1"},
			},
		},
		{
			kind: cluster("LoadBalancerGroup"), newREST: restOf(loadbalancergroup.Kind),
			objects: []string{
				`{"metadata":{"name":"edge-a"},"spec":{"zone":"zone-a"}}`,
				`{"metadata":{"name":"edge-b"},"spec":{"zone":"zone-b","bgp":{"localASN":64512,"peers":[{"address":"192.0.2.1","asn":64500}]}}}`,
			},
			selectors: map[string][]string{"spec.zone=zone-b": {"edge-b"}},
		},
		{
			kind: cluster("LoadBalancerNode"), newREST: restOf(loadbalancernode.Kind),
			objects: []string{
				`{"metadata":{"name":"n-1"},"spec":{"group":"edge-a","address":"198.51.100.1"}}`,
				`{"metadata":{"name":"n-2"},"spec":{"group":"edge-a","address":"198.51.100.2"}}`,
				`{"metadata":{"name":"n-3"},"spec":{"group":"edge-b","address":"198.51.100.3"}}`,
			},
			selectors: map[string][]string{
				"spec.group=edge-a":         {"n-1", "n-2"},
				"spec.address=198.51.100.3": {"n-3"},
			},
		},
		{
			kind: traffic("FederatedAccessPoint"), newREST: restOf(federatedaccesspoint.Kind), namespace: "shop",
			objects: []string{
				fap("public", `,"loadBalancer":{"pool":"public","ports":[{"name":"http","port":80,"protocol":"TCP"}]}`),
				fap("internal", `,"loadBalancer":{"pool":"internal","ports":[{"name":"http","port":80,"protocol":"TCP"}]}`),
				fap("none", ``),
			},
			selectors: map[string][]string{
				"spec.loadBalancer.pool=public":                  {"public"},
				"spec.loadBalancer.pool=":                        {"none"},
				"metadata.namespace=shop,metadata.name=internal": {"internal"},
			},
		},
		{
			kind: traffic("ClusterAccessPoint"), newREST: restOf(clusteraccesspoint.Kind), namespace: "portico-cluster-a-1",
			objects: []string{
				`{"metadata":{"name":"shop.web"},"spec":{"accessPointRef":{"namespace":"shop","name":"web"},"revision":"r1"}}`,
				`{"metadata":{"name":"shop.api"},"spec":{"accessPointRef":{"namespace":"shop","name":"api"},"revision":"r1"}}`,
				`{"metadata":{"name":"blog.web"},"spec":{"accessPointRef":{"namespace":"blog","name":"web"},"revision":"r1"}}`,
			},
			selectors: map[string][]string{
				"spec.accessPointRef.namespace=shop":                              {"shop.api", "shop.web"},
				"spec.accessPointRef.namespace=shop,spec.accessPointRef.name=web": {"shop.web"},
			},
		},
		{
			kind: traffic("VirtualIP"), newREST: restOf(virtualip.Kind),
			objects: []string{
				vip("203.0.113.1", "public", `"owner":{"namespace":"shop","name":"web"},`),
				vip("203.0.113.2", "public", ``),
				vip("203.0.113.3", "internal", `"owner":{"namespace":"blog","name":"web"},`),
			},
			selectors: map[string][]string{
				"spec.pool=public": {"203.0.113.1", "203.0.113.2"},
				"spec.owner.namespace=shop,spec.owner.name=web": {"203.0.113.1"},
				"spec.owner.name=web":                           {"203.0.113.1", "203.0.113.3"},
				"spec.owner.name=":                              {"203.0.113.2"},
			},
		},
		{
			kind: traffic("NameService"), newREST: restOf(nameservice.Kind), namespace: "shop",
			objects: []string{
				`{"metadata":{"name":"shop"},"spec":{"fqdn":"shop.example.com","providerRef":{"name":"bind"},"target":{"cname":"lb.example.net"}}}`,
				`{"metadata":{"name":"www"},"spec":{"fqdn":"www.example.com","providerRef":{"name":"other"},"target":{"cname":"lb.example.net"}}}`,
			},
			selectors: map[string][]string{
				"spec.fqdn=www.example.com":  {"www"},
				"spec.providerRef.name=bind": {"shop"},
			},
		},
	}
	getter := newOptsGetter(t)
	for _, tc := range tests {
		t.Run(tc.kind.Kind, func(t *testing.T) { tc.run(t, getter) })
	}
}

func (tc *selectorCase) run(t *testing.T, getter generic.RESTOptionsGetter) {
	r, err := tc.newREST(getter)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxIn(tc.namespace)
	for _, obj := range tc.objects {
		if _, err := create(t, r, ctx, tc.decode(t, obj)); err != nil {
			t.Fatalf("creating %s: %v", obj, err)
		}
	}
	for selector, want := range tc.selectors {
		sel, err := tc.parse(selector)
		if err != nil {
			t.Fatalf("%s: %v", selector, err)
		}
		list, err := r.List(ctx, &metainternalversion.ListOptions{FieldSelector: sel})
		if err != nil {
			t.Fatalf("listing with %s: %v", selector, err)
		}
		if got := names(t, list); !slices.Equal(got, want) {
			t.Errorf("%s lists %v, want %v", selector, got, want)
		}
	}
	if _, err := tc.parse("spec.bogus=x"); err == nil {
		t.Error("a field selector on spec.bogus was accepted")
	}
}

// decode turns v1alpha1 JSON into a defaulted internal object.
func (tc *selectorCase) decode(t *testing.T, obj string) runtime.Object {
	t.Helper()
	data := fmt.Sprintf(`{"apiVersion":%q,"kind":%q,%s`, tc.kind.GroupVersion().String(), tc.kind.Kind, obj[1:])
	out, _, err := Codecs.UniversalDecoder().Decode([]byte(data), nil, nil)
	if err != nil {
		t.Fatalf("decoding %s: %v", data, err)
	}
	if tc.namespace != "" {
		meta.NewAccessor().SetNamespace(out, tc.namespace)
	}
	return out
}

// parse converts a field selector as the API server does for this kind.
func (tc *selectorCase) parse(selector string) (fields.Selector, error) {
	return fields.ParseAndTransformSelector(selector, func(label, value string) (string, string, error) {
		return Scheme.ConvertFieldLabel(tc.kind, label, value)
	})
}

func names(t *testing.T, list runtime.Object) []string {
	t.Helper()
	items, err := meta.ExtractList(list)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, item := range items {
		m, err := meta.Accessor(item)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m.GetName())
	}
	slices.Sort(out)
	return out
}
