//go:build integration

package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	traffic "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/kubefed"
	"github.com/portico-dev/portico/test/framework"
	"github.com/portico-dev/portico/test/localfed"
)

var federatedDeployments = schema.GroupVersionResource{Group: "types.kubefed.io", Version: "v1beta1", Resource: "federateddeployments"}

// TestFollowFederatedDeployment: the hub cluster has kubefed's CRDs (from the
// kubefed module's chart) and a KubeFedCluster per member cluster; an access
// point follows the FederatedDeployment shop/web. Moving the deployment from
// zone-a-1 to zone-b-1 moves the access point's Istio objects between the
// member clusters; with propagated, only the clusters kubefed reports
// propagated count; deleting the deployment keeps the last placement and says
// why. kubefed's own controllers do not run (see docs/operations.md): the
// test writes status.clusters as kubefed's sync controller would.
func TestFollowFederatedDeployment(t *testing.T) {
	f := newFederation(t, map[string]string{"zone-a-1": "zone-a", "zone-b-1": "zone-b"})
	ctx := context.Background()
	if err := localfed.InstallKubefedCRDs(ctx, f.hub.KubectlPath(), f.hub.KubeconfigPath); err != nil {
		t.Fatal(err)
	}
	for name, member := range f.members {
		if err := localfed.CreateKubeFedCluster(ctx, f.hub.RestConfig, localfed.KubeFedCluster{
			Name: name, APIEndpoint: member.URL, CABundle: member.RestConfig.CAData, Labels: map[string]string{"region": "r1"},
		}); err != nil {
			t.Fatal(err)
		}
	}
	createHubNamespace(t, f.hub, "shop")
	waitAllAvailable(t, f)
	deployments := dynamic.NewForConfigOrDie(f.hub.RestConfig).Resource(federatedDeployments).Namespace("shop")
	if _, err := deployments.Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedDeployment",
		"metadata": map[string]any{"name": "web", "namespace": "shop"},
		"spec": map[string]any{
			"template":  map[string]any{"spec": map[string]any{"replicas": int64(2)}},
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
	// objectsOn waits until the access point's Gateway is on exactly the
	// clusters in want.
	objectsOn := func(what string, want ...string) time.Duration {
		t.Helper()
		return framework.Eventually(t, 30*time.Second, what, func() (bool, string) {
			state := ""
			ok := true
			for name := range f.members {
				gw, vs, _ := istioObjectsIn(t, f, name, "shop", "web")
				should := false
				for _, w := range want {
					should = should || w == name
				}
				ok = ok && gw == should && vs == should
				state += fmt.Sprintf("%s: gateway %t, virtualservice %t; ", name, gw, vs)
			}
			return ok, state
		})
	}
	objectsOn("the access point on zone-a-1 only, where the FederatedDeployment is", "zone-a-1")

	// kubefed moves the application: its traffic follows.
	patch := []byte(`{"spec":{"placement":{"clusters":[{"name":"zone-b-1"}]}}}`)
	if _, err := deployments.Patch(ctx, "web", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	took := objectsOn("the access point moved to zone-b-1 with the FederatedDeployment", "zone-b-1")
	t.Logf("the access point's objects moved %v after the FederatedDeployment's placement changed", took.Round(time.Millisecond))
	waitFAP(t, f.pc, "shop", "web", 30*time.Second, "Placed on zone-b-1", func(fap *traffic.FederatedAccessPoint) bool {
		c := condOf(fap, traffic.AccessPointPlaced)
		return c.Status == metav1.ConditionTrue && c.Message == "placed on zone-b-1"
	})

	// A clusterSelector places on both; with propagated, only where kubefed
	// reports the deployment propagated.
	patch = []byte(`{"spec":{"placement":{"clusters":null,"clusterSelector":{"matchLabels":{"region":"r1"}}}}}`)
	if _, err := deployments.Patch(ctx, "web", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	objectsOn("the access point on both clusters the selector matches", "zone-a-1", "zone-b-1")
	status := []byte(`{"status":{"clusters":[{"name":"zone-a-1"},{"name":"zone-b-1","status":"ClusterNotReady"}]}}`)
	if _, err := deployments.Patch(ctx, "web", types.MergePatchType, status, metav1.PatchOptions{}, "status"); err != nil {
		t.Fatal(err)
	}
	updateFAP(t, f.pc, "shop", "web", func(fap *traffic.FederatedAccessPoint) { fap.Spec.Placement.Follow.Propagated = true })
	objectsOn("with propagated, the access point only where kubefed propagated the deployment", "zone-a-1")

	// The deployment is deleted: the access point stays where it was and
	// says why.
	if err := deployments.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	waitFAP(t, f.pc, "shop", "web", 30*time.Second, "Placed False with FollowedObjectNotFound", func(fap *traffic.FederatedAccessPoint) bool {
		c := condOf(fap, traffic.AccessPointPlaced)
		return c.Status == metav1.ConditionFalse && c.Reason == kubefed.ReasonObjectNotFound
	})
	// The reconcile that saw the deletion kept zone-a-1's ClusterAccessPoint
	// (it would have deleted it before writing the condition).
	if _, err := f.caps("zone-a-1").Get(ctx, "shop.web", metav1.GetOptions{}); err != nil {
		t.Errorf("zone-a-1's ClusterAccessPoint after the FederatedDeployment was deleted: %v, want it kept", err)
	}
	objectsOn("the access point kept on zone-a-1 after its FederatedDeployment was deleted", "zone-a-1")
}
