//go:build integration

package integration

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	fedcommon "sigs.k8s.io/kubefed/pkg/apis/core/common"

	traffic "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/accesspoint"
	"github.com/portico-dev/portico/federation/kubefed"
	"github.com/portico-dev/portico/test/framework"
	"github.com/portico-dev/portico/test/localfed"
)

var (
	federatedDeployments = schema.GroupVersionResource{Group: "types.kubefed.io", Version: "v1beta1", Resource: "federateddeployments"}
	federatedNamespaces  = schema.GroupVersionResource{Group: "types.kubefed.io", Version: "v1beta1", Resource: "federatednamespaces"}
)

// TestFollowFederatedDeployment: the hub cluster runs kubefed (its CRDs from
// the kubefed module's chart and its own controller-manager, built by
// hack/build-kubefed.sh); each member cluster is joined to it. An access
// point follows the FederatedDeployment shop/web, and kubefed propagates the
// deployment: moving it from zone-a-1 to zone-b-1 moves both the Deployment
// and the access point's Istio objects between the member clusters; with
// propagated, only the clusters where kubefed reports the Deployment
// propagated (status.clusters, written by kubefed) count; deleting the
// FederatedDeployment keeps the last placement and says why.
func TestFollowFederatedDeployment(t *testing.T) {
	kubefedBinary := requireKubefedControllerManager(t)
	f := newFederation(t, map[string]string{"zone-a-1": "zone-a", "zone-b-1": "zone-b"})
	ctx := context.Background()
	if err := localfed.InstallKubefedCRDs(ctx, f.hub.KubectlPath(), f.hub.KubeconfigPath); err != nil {
		t.Fatal(err)
	}
	startKubefed(t, f.hub, kubefedBinary)
	for name, member := range f.members {
		if err := localfed.JoinKubefedCluster(ctx, f.hub.RestConfig, member.RestConfig, localfed.KubeFedCluster{
			Name: name, APIEndpoint: member.URL, CABundle: member.RestConfig.CAData, Labels: map[string]string{"region": "r1"},
		}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	waitKubeFedClustersReady(t, f)
	createHubNamespace(t, f.hub, "shop")
	waitAllAvailable(t, f)
	// kubefed propagates a namespaced object only into the clusters its
	// namespace's FederatedNamespace is placed on: all of them.
	if _, err := dynamic.NewForConfigOrDie(f.hub.RestConfig).Resource(federatedNamespaces).Namespace("shop").Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedNamespace",
		"metadata": map[string]any{"name": "shop", "namespace": "shop"},
		"spec":     map[string]any{"placement": map[string]any{"clusterSelector": map[string]any{}}},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deployments := dynamic.NewForConfigOrDie(f.hub.RestConfig).Resource(federatedDeployments).Namespace("shop")
	labels := map[string]any{"app": "web"}
	if _, err := deployments.Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedDeployment",
		"metadata": map[string]any{"name": "web", "namespace": "shop"},
		"spec": map[string]any{
			"template": map[string]any{"spec": map[string]any{
				"replicas": int64(2),
				"selector": map[string]any{"matchLabels": labels},
				"template": map[string]any{
					"metadata": map[string]any{"labels": labels},
					"spec":     map[string]any{"containers": []any{map[string]any{"name": "web", "image": "nginx"}}},
				},
			}},
			"placement": map[string]any{"clusters": []any{map[string]any{"name": "zone-a-1"}}},
		},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	fap := fedAccessPoint("shop", "web", []string{"web.follow.example"}, "5s")
	fap.Spec.Placement = &traffic.Placement{Follow: &traffic.FollowReference{APIVersion: "types.kubefed.io/v1beta1", Kind: "FederatedDeployment", Name: "web"}}
	if _, err := f.pc.TrafficV1alpha1().FederatedAccessPoints("shop").Create(ctx, fap, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// on waits until each of the objects is present on exactly the member
	// clusters in want (an object tells whether it is present in a cluster,
	// and describes what it found).
	type object func(cluster string) (present bool, found string)
	on := func(what string, want []string, objects ...object) time.Duration {
		t.Helper()
		return framework.Eventually(t, 30*time.Second, what, func() (bool, string) {
			ok, state := true, ""
			for name := range f.members {
				state += name + ":"
				for _, o := range objects {
					present, found := o(name)
					ok = ok && present == slices.Contains(want, name)
					state += " " + found
				}
				state += "; "
			}
			return ok, state
		})
	}
	deployment := func(cluster string) (bool, string) {
		dep := deploymentIn(t, f, cluster, "shop", "web")
		return dep, fmt.Sprintf("deployment %t", dep)
	}
	gateway := func(cluster string) (bool, string) {
		gw, _, _ := istioObjectsIn(t, f, cluster, "shop", "web")
		return gw, fmt.Sprintf("gateway %t", gw)
	}
	virtualService := func(cluster string) (bool, string) {
		_, vs, _ := istioObjectsIn(t, f, cluster, "shop", "web")
		return vs, fmt.Sprintf("virtualservice %t", vs)
	}
	// objectsOn: kubefed's Deployment and the access point's Gateway and
	// VirtualService; gatewaysOn: the access point's only.
	objectsOn := func(what string, want ...string) time.Duration {
		t.Helper()
		return on(what, want, deployment, gateway, virtualService)
	}
	gatewaysOn := func(what string, want ...string) { t.Helper(); on(what, want, gateway, virtualService) }

	objectsOn("the Deployment and the access point on zone-a-1 only", "zone-a-1")
	waitKubefedStatus(t, deployments, "web", map[string]string{"zone-a-1": ""})

	// The application moves: kubefed moves the Deployment, its traffic follows.
	patch := []byte(`{"spec":{"placement":{"clusters":[{"name":"zone-b-1"}]}}}`)
	if _, err := deployments.Patch(ctx, "web", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	took := objectsOn("the Deployment and the access point moved to zone-b-1", "zone-b-1")
	t.Logf("the Deployment and the access point's objects moved %v after the FederatedDeployment's placement changed", took.Round(time.Millisecond))
	waitFAP(t, f.pc, "shop", "web", 30*time.Second, "Placed on zone-b-1", func(fap *traffic.FederatedAccessPoint) bool {
		c := condOf(fap, traffic.AccessPointPlaced)
		return c.Status == metav1.ConditionTrue && c.Message == "placed on zone-b-1"
	})

	// Under a staged rollout a move is make-before-break: moved back to
	// zone-a-1, whose gateway is not ready yet, the access point stays on
	// zone-b-1 (Placed: Moving) until zone-a-1 is healthy.
	updateFAP(t, f.pc, "shop", "web", func(fap *traffic.FederatedAccessPoint) {
		fap.Spec.Rollout = &traffic.RolloutSpec{Strategy: traffic.RolloutStaged,
			Stages: []traffic.RolloutStage{{Name: "all", ClusterSelector: &metav1.LabelSelector{}}}}
	})
	zoneA := f.members["zone-a-1"]
	setGateway := func(ready bool) {
		t.Helper()
		eps := make([]localfed.GatewayEndpoint, len(zoneA.GatewayAddresses))
		for i, a := range zoneA.GatewayAddresses {
			eps[i] = localfed.GatewayEndpoint{Address: a, Ready: ready}
		}
		if err := zoneA.SetGatewayEndpoints(ctx, eps); err != nil {
			t.Fatal(err)
		}
	}
	setGateway(false)
	patch = []byte(`{"spec":{"placement":{"clusters":[{"name":"zone-a-1"}]}}}`)
	if _, err := deployments.Patch(ctx, "web", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	on("kubefed moved the Deployment back to zone-a-1", []string{"zone-a-1"}, deployment)
	waitFAP(t, f.pc, "shop", "web", 30*time.Second, "Placed: Moving, leaving zone-b-1 once zone-a-1 is healthy", func(fap *traffic.FederatedAccessPoint) bool {
		c := condOf(fap, traffic.AccessPointPlaced)
		return c.Reason == accesspoint.ReasonMoving && strings.Contains(c.Message, "leaving zone-b-1 once zone-a-1 is healthy")
	})
	gatewaysOn("the access point on zone-a-1 and, until zone-a-1 is healthy, still on zone-b-1", "zone-a-1", "zone-b-1")
	setGateway(true)
	took = on("the access point left zone-b-1 once zone-a-1 was healthy", []string{"zone-a-1"}, gateway, virtualService)
	t.Logf("under a staged rollout, zone-b-1 lost the access point %v after zone-a-1's gateway became ready", took.Round(time.Millisecond))
	waitFAP(t, f.pc, "shop", "web", 30*time.Second, "Placed on zone-a-1", func(fap *traffic.FederatedAccessPoint) bool {
		return condOf(fap, traffic.AccessPointPlaced).Message == "placed on zone-a-1"
	})

	// A clusterSelector places on both.
	patch = []byte(`{"spec":{"placement":{"clusters":null,"clusterSelector":{"matchLabels":{"region":"r1"}}}}}`)
	if _, err := deployments.Patch(ctx, "web", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	objectsOn("the Deployment and the access point on both clusters the selector matches", "zone-a-1", "zone-b-1")
	waitKubefedStatus(t, deployments, "web", map[string]string{"zone-a-1": "", "zone-b-1": ""})

	// zone-b-1 rejects its override (negative replicas): kubefed reports the
	// update failed there, and with propagated the access point leaves it.
	patch = []byte(`{"spec":{"overrides":[{"clusterName":"zone-b-1","clusterOverrides":[{"path":"/spec/replicas","value":-1}]}]}}`)
	if _, err := deployments.Patch(ctx, "web", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitKubefedStatus(t, deployments, "web", map[string]string{"zone-a-1": "", "zone-b-1": "UpdateFailed"})
	updateFAP(t, f.pc, "shop", "web", func(fap *traffic.FederatedAccessPoint) { fap.Spec.Placement.Follow.Propagated = true })
	gatewaysOn("with propagated, the access point only where kubefed propagated the deployment", "zone-a-1")
	// The override is dropped: kubefed propagates to zone-b-1 again, and the
	// access point follows.
	patch = []byte(`{"spec":{"overrides":null}}`)
	if _, err := deployments.Patch(ctx, "web", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitKubefedStatus(t, deployments, "web", map[string]string{"zone-a-1": "", "zone-b-1": ""})
	gatewaysOn("with propagated, the access point back on zone-b-1 once kubefed propagated there", "zone-a-1", "zone-b-1")

	// The FederatedDeployment is deleted (kubefed removes its Deployments
	// first): the access point stays where it was and says why.
	if err := deployments.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	waitFAP(t, f.pc, "shop", "web", 60*time.Second, "Placed False with FollowedObjectNotFound", func(fap *traffic.FederatedAccessPoint) bool {
		c := condOf(fap, traffic.AccessPointPlaced)
		return c.Status == metav1.ConditionFalse && c.Reason == kubefed.ReasonObjectNotFound
	})
	// The reconcile that saw the deletion kept the ClusterAccessPoints (it
	// would have deleted them before writing the condition).
	for name := range f.members {
		if _, err := f.caps(name).Get(ctx, "shop.web", metav1.GetOptions{}); err != nil {
			t.Errorf("%s's ClusterAccessPoint after the FederatedDeployment was deleted: %v, want it kept", name, err)
		}
	}
	gatewaysOn("the access point kept on both clusters after its FederatedDeployment was deleted", "zone-a-1", "zone-b-1")
	on("kubefed removed its Deployments with the FederatedDeployment", nil, deployment)
}

// requireKubefedControllerManager returns the path of kubefed's
// controller-manager or ends the test: it skips when the binary is not built,
// and fails instead when the environment has CI=true.
func requireKubefedControllerManager(t *testing.T) string {
	t.Helper()
	path, err := localfed.KubefedControllerManagerPath()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("kubefed's controller-manager is required in CI: %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
	return path
}

// startKubefed runs kubefed's controller-manager against the hub cluster
// until the test ends (logging its log's tail when the test failed).
func startKubefed(t *testing.T, hub *framework.HubCluster, binary string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	k, err := localfed.StartKubefedControllerManager(ctx, hub, localfed.KubefedControllerManagerOptions{Path: binary})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kubefed controller-manager (pid %d) ran the sync controllers of %v %v after it started", k.PID, k.Types, k.Startup.Round(time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- kubefed controller-manager log (tail) ---\n%s", k.LogTail(60))
		}
		if err := k.Stop(); err != nil {
			t.Errorf("stopping kubefed's controller-manager: %v", err)
		}
	})
}

// waitKubeFedClustersReady waits until kubefed's cluster controller reports
// every member cluster's KubeFedCluster Ready.
func waitKubeFedClustersReady(t *testing.T, f *federation) {
	t.Helper()
	clusters := dynamic.NewForConfigOrDie(f.hub.RestConfig).Resource(kubefed.ClustersResource).Namespace(localfed.KubefedNamespace)
	for name := range f.members {
		took := framework.Eventually(t, 60*time.Second, "KubeFedCluster "+name+" Ready", func() (bool, string) {
			u, err := clusters.Get(context.Background(), name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			kfc, err := kubefed.ClusterFromUnstructured(u)
			if err != nil {
				return false, err.Error()
			}
			for _, c := range kfc.Status.Conditions {
				if c.Type == fedcommon.ClusterReady && c.Status == corev1.ConditionTrue {
					return true, ""
				}
			}
			return false, fmt.Sprintf("conditions %+v", kfc.Status.Conditions)
		})
		t.Logf("kubefed reported KubeFedCluster %s Ready within %v", name, took.Round(time.Millisecond))
	}
}

// waitKubefedStatus waits until kubefed has written want as the
// FederatedDeployment's status.clusters: cluster name to propagation status
// ("" when propagated; kubefed lists the clusters in no particular order).
func waitKubefedStatus(t *testing.T, deployments dynamic.ResourceInterface, name string, want map[string]string) {
	t.Helper()
	framework.Eventually(t, 30*time.Second, fmt.Sprintf("status.clusters %v", want), func() (bool, string) {
		u, err := deployments.Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		clusters, _, _ := unstructured.NestedSlice(u.Object, "status", "clusters")
		got := map[string]string{}
		for _, c := range clusters {
			m, _ := c.(map[string]any)
			n, _ := m["name"].(string)
			got[n], _ = m["status"].(string)
		}
		return maps.Equal(got, want), fmt.Sprintf("status.clusters %v", clusters)
	})
}

// deploymentIn reports whether the Deployment ns/name exists in a member
// cluster and is managed by kubefed.
func deploymentIn(t *testing.T, f *federation, cluster, ns, name string) bool {
	t.Helper()
	kc := kubernetes.NewForConfigOrDie(f.members[cluster].RestConfig)
	d, err := kc.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		if !apierrors.IsNotFound(err) {
			t.Logf("%s: %v", cluster, err)
		}
		return false
	}
	return d.Labels["kubefed.io/managed"] == "true"
}
