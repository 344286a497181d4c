//go:build integration

package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/portico-dev/portico/test/framework"
)

// TestHubNamespaceDeletion: the hub cluster runs kube-controller-manager, so
// `kubectl delete namespace` completes, also for a namespace holding Portico
// objects, which the namespace controller deletes through the aggregation
// layer (portico-hub serves them).
func TestHubNamespaceDeletion(t *testing.T) {
	e := hubEnv(t)
	ctx := context.Background()
	ns := e.newNamespace(t, "ns-delete")
	e.mustApplyYAML(t, fapYAML(ns, "doomed", "doomed.ns-delete.example.com"), "apply")
	e.mustKubectl(t, "create", "configmap", "doomed", "-n", ns, "--from-literal=k=v")

	start := time.Now()
	e.mustKubectl(t, "delete", "namespace", ns, "--wait=true", "--timeout=90s")
	t.Logf("kubectl delete namespace with an access point in it took %v", time.Since(start).Round(time.Millisecond))
	if _, err := e.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("namespace %s after kubectl delete --wait: %v, want NotFound", ns, err)
	}
	faps, err := e.pc.TrafficV1alpha1().FederatedAccessPoints(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(faps.Items) != 0 {
		t.Errorf("access points left in the deleted namespace %s: %d (%v)", ns, len(faps.Items), err)
	}
}

// TestHubGarbageCollection: objects go away with their owner (ownerReferences),
// also when the owner is a Portico object, and a foreground deletion waits for
// the dependents.
func TestHubGarbageCollection(t *testing.T) {
	e := hubEnv(t)
	ctx := context.Background()
	ns := e.newNamespace(t, "gc")
	cms := e.kube.CoreV1().ConfigMaps(ns)
	newConfigMap := func(name string, owner metav1.OwnerReference) {
		t.Helper()
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if owner.Name != "" {
			cm.OwnerReferences = []metav1.OwnerReference{owner}
		}
		if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ownerRef := func(apiVersion, kind, name string, uid types.UID) metav1.OwnerReference {
		return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: uid}
	}
	waitGone := func(name string) {
		t.Helper()
		framework.Eventually(t, 60*time.Second, "ConfigMap "+ns+"/"+name+" garbage-collected", func() (bool, string) {
			_, err := cms.Get(ctx, name, metav1.GetOptions{})
			return apierrors.IsNotFound(err), fmt.Sprint(err)
		})
	}

	t.Run("owned by a ConfigMap", func(t *testing.T) {
		newConfigMap("owner", metav1.OwnerReference{})
		owner, err := cms.Get(ctx, "owner", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		newConfigMap("dependent", ownerRef("v1", "ConfigMap", "owner", owner.UID))
		if err := cms.Delete(ctx, "owner", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitGone("dependent")
	})

	t.Run("owned by an access point", func(t *testing.T) {
		e.mustApplyYAML(t, fapYAML(ns, "owner", "owner.gc.example.com"), "apply")
		fap, err := e.pc.TrafficV1alpha1().FederatedAccessPoints(ns).Get(ctx, "owner", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		newConfigMap("fap-dependent", ownerRef("traffic.portico.dev/v1alpha1", "FederatedAccessPoint", "owner", fap.UID))
		if err := e.pc.TrafficV1alpha1().FederatedAccessPoints(ns).Delete(ctx, "owner", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitGone("fap-dependent")
	})

	t.Run("foreground deletion", func(t *testing.T) {
		newConfigMap("fg-owner", metav1.OwnerReference{})
		owner, err := cms.Get(ctx, "fg-owner", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ref := ownerRef("v1", "ConfigMap", "fg-owner", owner.UID)
		ref.BlockOwnerDeletion = ptr.To(true)
		newConfigMap("fg-dependent", ref)
		foreground := metav1.DeletePropagationForeground
		if err := cms.Delete(ctx, "fg-owner", metav1.DeleteOptions{PropagationPolicy: &foreground}); err != nil {
			t.Fatal(err)
		}
		waitGone("fg-dependent")
		waitGone("fg-owner")
	})
}
