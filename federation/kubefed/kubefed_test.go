package kubefed_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	fedv1b1 "sigs.k8s.io/kubefed/pkg/apis/core/v1beta1"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/federation/kubefed"
	"github.com/portico-dev/portico/test/framework"
)

func kfc(name string, labels map[string]string) *fedv1b1.KubeFedCluster {
	return &fedv1b1.KubeFedCluster{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: kubefed.DefaultNamespace, Labels: labels}}
}

// deployment is a FederatedDeployment shop/web with the given spec.placement
// and status.clusters (nil: absent).
func deployment(placement map[string]any, status []any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedDeployment",
		"metadata": map[string]any{"namespace": "shop", "name": "web"},
		"spec":     map[string]any{"template": map[string]any{}},
	}}
	if placement != nil {
		u.Object["spec"].(map[string]any)["placement"] = placement
	}
	if status != nil {
		u.Object["status"] = map[string]any{"clusters": status}
	}
	return u
}

func TestPlaced(t *testing.T) {
	clusters := []*fedv1b1.KubeFedCluster{
		kfc("east-1", map[string]string{"region": "east"}), kfc("east-2", map[string]string{"region": "east"}), kfc("west-1", map[string]string{"region": "west"}),
	}
	names := func(ns ...string) []any {
		var out []any
		for _, n := range ns {
			out = append(out, map[string]any{"name": n})
		}
		return out
	}
	east := map[string]any{"matchLabels": map[string]any{"region": "east"}}
	for _, tc := range []struct {
		name       string
		placement  map[string]any
		status     []any
		propagated bool
		want       []string
	}{
		{"clusters listed; unknown ones dropped", map[string]any{"clusters": names("west-1", "east-1", "nowhere")}, nil, false, []string{"east-1", "west-1"}},
		{"an empty list places nowhere, even with a selector", map[string]any{"clusters": []any{}, "clusterSelector": east}, nil, false, nil},
		{"clusters win over the selector", map[string]any{"clusters": names("west-1"), "clusterSelector": east}, nil, false, []string{"west-1"}},
		{"the selector without clusters", map[string]any{"clusterSelector": east}, nil, false, []string{"east-1", "east-2"}},
		{"an empty selector selects all", map[string]any{"clusterSelector": map[string]any{}}, nil, false, []string{"east-1", "east-2", "west-1"}},
		{"no placement places nowhere", nil, nil, false, nil},
		{"propagated: only clusters kubefed reports without error", map[string]any{"clusterSelector": east},
			[]any{map[string]any{"name": "east-1"}, map[string]any{"name": "east-2", "status": "ClusterNotReady"}, map[string]any{"name": "west-1"}}, true, []string{"east-1"}},
		{"propagated before any status: nowhere", map[string]any{"clusterSelector": east}, nil, true, nil},
	} {
		got, err := kubefed.Placed(deployment(tc.placement, tc.status), nil, clusters, tc.propagated)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	bad := deployment(map[string]any{"clusterSelector": map[string]any{"matchExpressions": []any{map[string]any{"key": "a", "operator": "Sideways"}}}}, nil)
	if _, err := kubefed.Placed(bad, nil, clusters, false); err == nil {
		t.Error("an invalid clusterSelector was accepted")
	}
}

// TestPlacedInNamespace: a namespaced object is placed where its own placement
// and its namespace's FederatedNamespace's meet, as kubefed propagates it.
func TestPlacedInNamespace(t *testing.T) {
	clusters := []*fedv1b1.KubeFedCluster{
		kfc("east-1", map[string]string{"region": "east"}), kfc("east-2", map[string]string{"region": "east"}), kfc("west-1", map[string]string{"region": "west"}),
	}
	all := map[string]any{"clusterSelector": map[string]any{}}
	east := map[string]any{"clusterSelector": map[string]any{"matchLabels": map[string]any{"region": "east"}}}
	notWest2 := map[string]any{"clusters": []any{map[string]any{"name": "east-2"}, map[string]any{"name": "west-1"}}}
	for _, tc := range []struct {
		name      string
		placement map[string]any
		ns        *kubefed.Namespace
		want      []string
	}{
		{"the namespace everywhere", east, &kubefed.Namespace{Object: namespace(all)}, []string{"east-1", "east-2"}},
		{"the intersection", east, &kubefed.Namespace{Object: namespace(notWest2)}, []string{"east-2"}},
		{"no FederatedNamespace: nowhere", east, &kubefed.Namespace{}, nil},
		{"no FederatedNamespace, kubefed limited to a namespace: its own placement", east, &kubefed.Namespace{LimitedScope: true}, []string{"east-1", "east-2"}},
		{"limited scope still intersects with a FederatedNamespace", all, &kubefed.Namespace{Object: namespace(notWest2), LimitedScope: true}, []string{"east-2", "west-1"}},
	} {
		got, err := kubefed.Placed(deployment(tc.placement, nil), tc.ns, clusters, false)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}

// namespace is the FederatedNamespace shop/shop with the given spec.placement.
func namespace(placement map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedNamespace",
		"metadata": map[string]any{"namespace": "shop", "name": "shop"},
		"spec":     map[string]any{"placement": placement},
	}}
}

func TestMemberClusters(t *testing.T) {
	mc := func(name string, kubefedName ...string) *clusterv1alpha1.MemberCluster {
		m := &clusterv1alpha1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}}}
		if len(kubefedName) > 0 {
			m.Labels[clusterv1alpha1.LabelKubefedCluster] = kubefedName[0]
		}
		return m
	}
	members := []*clusterv1alpha1.MemberCluster{mc("zone-a-1"), mc("zone-b-1", "kf-b"), mc("kf-c", "other"), mc("kf-d"), mc("zone-d-1", "kf-d")}
	mapped, unmapped := kubefed.MemberClusters([]string{"zone-a-1", "kf-b", "kf-c", "kf-d", "kf-e"}, members)
	// zone-a-1 by name; kf-b by label; kf-c's namesake is labelled for
	// another kubefed cluster; kf-d's label wins over its namesake.
	if want := []string{"zone-a-1", "zone-b-1", "zone-d-1"}; !slices.Equal(mapped, want) {
		t.Errorf("mapped %v, want %v", mapped, want)
	}
	if want := []string{"kf-c", "kf-e"}; !slices.Equal(unmapped, want) {
		t.Errorf("unmapped %v, want %v", unmapped, want)
	}
}

// TestWatcher runs the watcher over fake clients: an unknown kind, a missing
// object, a namespace that is not federated, the placement, and changes that
// notify.
func TestWatcher(t *testing.T) {
	fdGVR := schema.GroupVersionResource{Group: "types.kubefed.io", Version: "v1beta1", Resource: "federateddeployments"}
	fnGVR := schema.GroupVersionResource{Group: "types.kubefed.io", Version: "v1beta1", Resource: "federatednamespaces"}
	scheme := runtime.NewScheme()
	kfcObj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(kfc("east-1", nil))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: kfcObj}
	u.SetAPIVersion(fedv1b1.SchemeGroupVersion.String())
	u.SetKind("KubeFedCluster")
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(scheme, map[schema.GroupVersionResource]string{
		fdGVR: "FederatedDeploymentList", fnGVR: "FederatedNamespaceList", kubefed.ClustersResource: "KubeFedClusterList",
	}, u)
	kube := kubefake.NewClientset()
	kube.Resources = []*metav1.APIResourceList{
		{GroupVersion: "types.kubefed.io/v1beta1", APIResources: []metav1.APIResource{
			{Name: "federateddeployments", Kind: "FederatedDeployment", Namespaced: true},
			{Name: "federatednamespaces", Kind: "FederatedNamespace", Namespaced: true},
		}},
		{GroupVersion: "core.kubefed.io/v1beta1", APIResources: []metav1.APIResource{{Name: "kubefedclusters", Kind: "KubeFedCluster", Namespaced: true}}},
	}
	changes := make(chan string, 10)
	w := kubefed.NewWatcher(dyn, kube.Discovery(), kubefed.DefaultNamespace, func(gk schema.GroupKind, ns, name string) {
		changes <- fmt.Sprintf("%s %s/%s", gk.Kind, ns, name)
	})
	if _, err := w.Placed("types.kubefed.io/v1beta1", "FederatedDeployment", "shop", "web", false); err == nil {
		t.Fatal("a watcher that was not started answered")
	}
	w.Start(t.Context())

	reason := func(err error) string {
		var fe *kubefed.FollowError
		if errors.As(err, &fe) {
			return fe.Reason
		}
		return fmt.Sprint(err)
	}
	if _, err := w.Placed("types.kubefed.io/v1beta1", "FederatedStatefulSet", "shop", "web", false); reason(err) != kubefed.ReasonKindNotFound {
		t.Errorf("an unknown kind: %v, want %s", err, kubefed.ReasonKindNotFound)
	}
	placed := func() ([]string, error) {
		return w.Placed("types.kubefed.io/v1beta1", "FederatedDeployment", "shop", "web", false)
	}
	framework.Eventually(t, 10*time.Second, "the caches filled", func() (bool, string) {
		_, err := placed()
		return reason(err) != kubefed.ReasonPending, fmt.Sprint(err)
	})
	if _, err := placed(); reason(err) != kubefed.ReasonObjectNotFound {
		t.Errorf("a missing object: %v, want %s", err, kubefed.ReasonObjectNotFound)
	}
	if _, err := dyn.Resource(fdGVR).Namespace("shop").Create(t.Context(),
		deployment(map[string]any{"clusters": []any{map[string]any{"name": "east-1"}}}, nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	notified := func(what, want string) {
		t.Helper()
		framework.Eventually(t, 10*time.Second, what, func() (bool, string) {
			select {
			case c := <-changes:
				return c == want, c
			default:
				return false, "no change yet"
			}
		})
	}
	notified("the followed object's creation notified", "FederatedDeployment shop/web")
	// No FederatedNamespace (and no KubeFedConfig: kubefed's default scope,
	// Cluster): kubefed places the object nowhere; the watcher says why.
	framework.Eventually(t, 10*time.Second, "the namespace is reported not federated", func() (bool, string) {
		_, err := placed()
		return reason(err) == kubefed.ReasonNamespaceNotFederated, fmt.Sprint(err)
	})
	if _, err := dyn.Resource(fnGVR).Namespace("shop").Create(t.Context(),
		namespace(map[string]any{"clusterSelector": map[string]any{}}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	notified("the FederatedNamespace's creation notified every follower", "FederatedNamespace /")
	framework.Eventually(t, 10*time.Second, "placed on east-1", func() (bool, string) {
		got, err := placed()
		return err == nil && slices.Equal(got, []string{"east-1"}), fmt.Sprint(got, err)
	})
}

// TestWatcherUnreadableKind: a kind the hub may not list (RBAC) is reported
// unreadable once its cache has not filled for a while, not pending forever.
func TestWatcherUnreadableKind(t *testing.T) {
	defer kubefed.SetUnreadableAfter(200 * time.Millisecond)()
	fdGVR := schema.GroupVersionResource{Group: "types.kubefed.io", Version: "v1beta1", Resource: "federateddeployments"}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		fdGVR: "FederatedDeploymentList", kubefed.ClustersResource: "KubeFedClusterList",
	})
	dyn.PrependReactor("list", "kubefedclusters", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(kubefed.ClustersResource.GroupResource(), "", errors.New("no RBAC"))
	})
	kube := kubefake.NewClientset()
	kube.Resources = []*metav1.APIResourceList{
		{GroupVersion: "types.kubefed.io/v1beta1", APIResources: []metav1.APIResource{{Name: "federateddeployments", Kind: "FederatedDeployment", Namespaced: true}}},
		{GroupVersion: "core.kubefed.io/v1beta1", APIResources: []metav1.APIResource{{Name: "kubefedclusters", Kind: "KubeFedCluster", Namespaced: true}}},
	}
	w := kubefed.NewWatcher(dyn, kube.Discovery(), kubefed.DefaultNamespace, func(schema.GroupKind, string, string) {})
	w.Start(t.Context())
	var fe *kubefed.FollowError
	framework.Eventually(t, 10*time.Second, "the KubeFedClusters reported unreadable", func() (bool, string) {
		_, err := w.Placed("types.kubefed.io/v1beta1", "FederatedDeployment", "shop", "web", false)
		return errors.As(err, &fe) && fe.Reason == kubefed.ReasonUnreadable && strings.Contains(fe.Message, "KubeFedClusters"), fmt.Sprint(err)
	})
}
