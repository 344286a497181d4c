//go:build integration

package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	traffic "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/test/framework"
	"github.com/portico-dev/portico/test/localfed"
)

// TestTenancyMemberAgent tries, as an attacker would, what a member-agent may
// do: with its own hub credentials (from kubectl portico join) it cannot store
// metadata through /status nor touch another cluster's ClusterAccessPoints;
// and in its member cluster it never takes over an object it did not create.
func TestTenancyMemberAgent(t *testing.T) {
	f := newFederation(t, map[string]string{"zone-a-1": "zone-a"})
	waitAllAvailable(t, f)
	// A second cluster joined to the hub (its namespace, agent identity and
	// RBAC), with no member cluster behind it.
	if err := localfed.JoinCluster(context.Background(), f.hub, "zone-b-1", "zone-b", "r1",
		filepath.Join(t.TempDir(), "zone-b-1.kubeconfig")); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", f.agents["zone-a-1"].HubKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	agent := versioned.NewForConfigOrDie(cfg)

	t.Run("StatusWriteStoresNoMetadata", func(t *testing.T) { testAgentStatusWrite(t, f, agent) })
	t.Run("NoAccessToAnotherCluster", func(t *testing.T) { testAgentOtherCluster(t, f, agent) })
	t.Run("ExistingObjectIsNotAdopted", func(t *testing.T) { testExistingObjectNotAdopted(t, f) })
}

// testAgentStatusWrite: a finalizer, an annotation, a label and an owner
// reference the agent writes through /status of its own ClusterAccessPoint
// are not stored (the write itself succeeds); through the main resource the
// agent may not write at all.
func testAgentStatusWrite(t *testing.T, f *federation, agent versioned.Interface) {
	ctx := context.Background()
	ns := clusterv1alpha1.ClusterNamespace("zone-a-1")
	if _, err := f.caps("zone-a-1").Create(ctx, newCAP("shop.probe", "r1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, f, "zone-a-1", "shop.probe", "r1")
	caps := agent.TrafficV1alpha1().ClusterAccessPoints(ns)

	var written *traffic.ClusterAccessPoint
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cap, err := caps.Get(ctx, "shop.probe", metav1.GetOptions{})
		if err != nil {
			return err
		}
		cap.Finalizers = append(cap.Finalizers, "agent.example.com/hold")
		cap.Annotations = map[string]string{"agent.example.com/note": "mine"}
		cap.Labels = map[string]string{"agent.example.com/label": "mine"}
		cap.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Namespace", Name: "shop", UID: "4c1b0a52-0000-4000-8000-000000000001"}}
		cap.Status.ObservedRevision = "written-by-the-probe"
		written, err = caps.UpdateStatus(ctx, cap, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("the agent's own status write failed: %v", err)
	}
	stored, err := f.caps("zone-a-1").Get(ctx, "shop.probe", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for what, cap := range map[string]*traffic.ClusterAccessPoint{"returned": written, "stored": stored} {
		if len(cap.Finalizers) != 0 || len(cap.Annotations) != 0 || len(cap.Labels) != 0 || len(cap.OwnerReferences) != 0 {
			t.Errorf("%s after the agent's /status write: finalizers %v annotations %v labels %v ownerReferences %v; want none",
				what, cap.Finalizers, cap.Annotations, cap.Labels, cap.OwnerReferences)
		}
	}
	if written.Status.ObservedRevision != "written-by-the-probe" {
		t.Errorf("the status of the write was not stored: observedRevision %q", written.Status.ObservedRevision)
	}

	stored.Finalizers = []string{"agent.example.com/hold"}
	if _, err := caps.Update(ctx, stored, metav1.UpdateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the agent updating its ClusterAccessPoint (not /status): %v; want Forbidden", err)
	}

	// Nothing holds the ClusterAccessPoint back: deleting it completes.
	if err := f.caps("zone-a-1").Delete(ctx, "shop.probe", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, 15*time.Second, "shop.probe deleted", func() (bool, string) {
		_, err := f.caps("zone-a-1").Get(ctx, "shop.probe", metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
}

// testAgentOtherCluster: zone-a-1's agent gets 403 on zone-b-1's
// ClusterAccessPoints, whatever it tries, and cannot list them across
// namespaces.
func testAgentOtherCluster(t *testing.T, f *federation, agent versioned.Interface) {
	ctx := context.Background()
	other, err := f.caps("zone-b-1").Create(ctx, newCAP("shop.other", "r1"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	caps := agent.TrafficV1alpha1().ClusterAccessPoints(clusterv1alpha1.ClusterNamespace("zone-b-1"))
	attempts := map[string]func() error{
		"get":  func() error { _, err := caps.Get(ctx, "shop.other", metav1.GetOptions{}); return err },
		"list": func() error { _, err := caps.List(ctx, metav1.ListOptions{}); return err },
		"watch": func() error {
			w, err := caps.Watch(ctx, metav1.ListOptions{})
			if err == nil {
				w.Stop()
			}
			return err
		},
		"update status": func() error { _, err := caps.UpdateStatus(ctx, other, metav1.UpdateOptions{}); return err },
		"update":        func() error { _, err := caps.Update(ctx, other, metav1.UpdateOptions{}); return err },
		"delete":        func() error { return caps.Delete(ctx, "shop.other", metav1.DeleteOptions{}) },
		"create": func() error {
			_, err := caps.Create(ctx, newCAP("shop.planted", "r1"), metav1.CreateOptions{})
			return err
		},
		"list in every namespace": func() error {
			_, err := agent.TrafficV1alpha1().ClusterAccessPoints("").List(ctx, metav1.ListOptions{})
			return err
		},
	}
	for what, try := range attempts {
		if err := try(); !apierrors.IsForbidden(err) {
			t.Errorf("zone-a-1's agent: %s of zone-b-1's ClusterAccessPoints: %v; want Forbidden", what, err)
		}
	}
	if _, err := f.caps("zone-b-1").Get(ctx, "shop.other", metav1.GetOptions{}); err != nil {
		t.Errorf("zone-b-1's ClusterAccessPoint after the attempts: %v", err)
	}
}

// testExistingObjectNotAdopted: a VirtualService made by hand in the member
// cluster with the name the access point's template uses is neither
// overwritten nor, when the access point is deleted, pruned; the
// ClusterAccessPoint reports it as a conflict and Degraded, and the access
// point's cluster status is Failed with that message.
func testExistingObjectNotAdopted(t *testing.T, f *federation) {
	ctx := context.Background()
	member, err := f.members["zone-a-1"].Kubernetes()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := member.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}},
		metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	vss := f.istio(t, "zone-a-1").NetworkingV1().VirtualServices("shop")
	mine := &networkingv1.VirtualService{ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"team": "platform"}}}
	mine.Spec.Hosts = []string{"internal.example.com"}
	mine.Spec.Gateways = []string{"mesh"}
	if _, err := vss.Create(ctx, mine, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	before, err := vss.Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	createHubNamespace(t, f.hub, "shop")
	fap := fedAccessPoint("shop", "web", []string{"web.example.com"}, "5s")
	fap.Spec.Placement = &traffic.Placement{Clusters: []traffic.ClusterReference{{Name: "zone-a-1"}}}
	if _, err := f.pc.TrafficV1alpha1().FederatedAccessPoints("shop").Create(ctx, fap, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// The ClusterAccessPoint: the Gateway and DestinationRule applied, the
	// VirtualService in conflict, Degraded for Conflict.
	var conflict traffic.ObjectStatus
	framework.Eventually(t, 60*time.Second, "the agent reports the VirtualService in conflict", func() (bool, string) {
		cap, err := f.caps("zone-a-1").Get(ctx, "shop.web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, o := range cap.Status.Objects {
			if o.Kind == "VirtualService" && o.Name == "web" {
				conflict = o
			}
		}
		d := meta.FindStatusCondition(cap.Status.Conditions, traffic.ClusterAccessPointDegraded)
		return d != nil && d.Status == metav1.ConditionTrue && d.Reason == "Conflict", fmt.Sprintf("status %+v", cap.Status)
	})
	if conflict.Applied || !strings.HasPrefix(conflict.Message, "Conflict:") || !strings.Contains(conflict.Message, "not created by Portico") {
		t.Errorf("VirtualService shop/web status %+v; want Applied=false, a message starting Conflict: saying not created by Portico", conflict)
	}
	gw, _, dr := istioObjectsIn(t, f, "zone-a-1", "shop", "web")
	if !gw || !dr {
		t.Errorf("Gateway %v, DestinationRule %v in zone-a-1; the access point's other objects must be applied", gw, dr)
	}

	// The access point: zone-a-1 Failed with the conflict.
	waitFAP(t, f.pc, "shop", "web", 30*time.Second, "zone-a-1 Failed with the conflict", func(fap *traffic.FederatedAccessPoint) bool {
		c := clusterEntry(fap, "zone-a-1")
		return c != nil && c.Phase == traffic.ClusterPhaseFailed && strings.Contains(c.Message, conflict.Message)
	})
	unchanged(t, vss, before, "while the access point exists")

	// Deleting the access point removes what the agent wrote, and only that.
	if err := f.pc.TrafficV1alpha1().FederatedAccessPoints("shop").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, 60*time.Second, "the Gateway and DestinationRule pruned", func() (bool, string) {
		gw, _, dr := istioObjectsIn(t, f, "zone-a-1", "shop", "web")
		return !gw && !dr, fmt.Sprintf("Gateway %v DestinationRule %v", gw, dr)
	})
	unchanged(t, vss, before, "after the access point was deleted")
}

// unchanged checks that the hand-made VirtualService is as it was made: same
// spec, labels and annotations, nothing of Portico on it.
func unchanged(t *testing.T, vss interface {
	Get(context.Context, string, metav1.GetOptions) (*networkingv1.VirtualService, error)
}, before *networkingv1.VirtualService, when string) {
	t.Helper()
	vs, err := vss.Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the hand-made VirtualService %s: %v", when, err)
	}
	if vs.UID != before.UID || vs.Generation != before.Generation || !slices.Equal(vs.Spec.Hosts, before.Spec.Hosts) ||
		len(vs.Spec.Http) != 0 || len(vs.Labels) != 1 || vs.Labels["team"] != "platform" || len(vs.Annotations) != 0 {
		t.Errorf("the hand-made VirtualService %s: uid %s generation %d hosts %v http %v labels %v annotations %v; want it as it was made",
			when, vs.UID, vs.Generation, vs.Spec.Hosts, vs.Spec.Http, vs.Labels, vs.Annotations)
	}
	for _, m := range vs.ManagedFields {
		if m.Manager == "portico" {
			t.Errorf("the hand-made VirtualService %s has fields managed by portico: %+v", when, m)
		}
	}
}
