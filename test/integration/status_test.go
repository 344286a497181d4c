//go:build integration

package integration

import (
	"context"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// TestStatusSpecSplit: through the clientset, an update of the main resource
// cannot change status and an update of /status cannot change spec (or
// labels); spec changes bump metadata.generation, status and metadata changes
// do not; create drops any status sent.
func TestStatusSpecSplit(t *testing.T) {
	e := hubEnv(t)
	ctx := context.Background()
	ns := e.newNamespace(t, "split")
	faps := e.pc.TrafficV1alpha1().FederatedAccessPoints(ns)

	created, err := faps.Create(ctx, &trafficv1alpha1.FederatedAccessPoint{
		ObjectMeta: metav1.ObjectMeta{Name: "split", Labels: map[string]string{"app": "split"}},
		Spec:       trafficv1alpha1.FederatedAccessPointSpec{Hosts: []string{"a.split.example.com"}},
		Status: trafficv1alpha1.FederatedAccessPointStatus{
			Revision:   "forged-on-create",
			Conditions: []metav1.Condition{readyCondition(metav1.ConditionTrue, 1)},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.Generation != 1 || created.Status.Revision != "" || len(created.Status.Conditions) != 0 {
		t.Errorf("created: generation %d status %+v; want generation 1 and no status", created.Generation, created.Status)
	}

	// UpdateStatus with a changed spec and labels: only the status changes.
	obj := created.DeepCopy()
	obj.Status.Revision = "rev-1"
	obj.Status.ObservedGeneration = 1
	obj.Status.Conditions = []metav1.Condition{readyCondition(metav1.ConditionTrue, 1)}
	obj.Spec.Hosts = []string{"changed-through-status.split.example.com"}
	obj.Labels = map[string]string{"app": "changed-through-status"}
	returned, err := faps.UpdateStatus(ctx, obj, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := faps.Get(ctx, "split", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for what, fap := range map[string]*trafficv1alpha1.FederatedAccessPoint{"returned": returned, "stored": stored} {
		if !slices.Equal(fap.Spec.Hosts, []string{"a.split.example.com"}) || fap.Labels["app"] != "split" {
			t.Errorf("%s after UpdateStatus: hosts %v labels %v; the spec and labels must not change", what, fap.Spec.Hosts, fap.Labels)
		}
		if fap.Status.Revision != "rev-1" || len(fap.Status.Conditions) != 1 {
			t.Errorf("%s after UpdateStatus: status %+v", what, fap.Status)
		}
		if fap.Generation != 1 {
			t.Errorf("%s after UpdateStatus: generation %d, want 1", what, fap.Generation)
		}
	}
	if stored.ResourceVersion == created.ResourceVersion {
		t.Errorf("the status update was not written")
	}

	// Update with changed spec and status: only the spec changes, and the
	// generation goes up by one.
	obj = stored.DeepCopy()
	obj.Spec.Hosts = []string{"b.split.example.com"}
	obj.Status.Revision = "forged-through-update"
	obj.Status.Conditions = nil
	returned, err = faps.Update(ctx, obj, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stored, err = faps.Get(ctx, "split", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for what, fap := range map[string]*trafficv1alpha1.FederatedAccessPoint{"returned": returned, "stored": stored} {
		if !slices.Equal(fap.Spec.Hosts, []string{"b.split.example.com"}) {
			t.Errorf("%s after Update: hosts %v", what, fap.Spec.Hosts)
		}
		if fap.Status.Revision != "rev-1" || len(fap.Status.Conditions) != 1 {
			t.Errorf("%s after Update: status %+v; the status must not change", what, fap.Status)
		}
		if fap.Generation != 2 {
			t.Errorf("%s after a spec change: generation %d, want 2", what, fap.Generation)
		}
	}

	// Update changing only labels, and only status: no new generation; the
	// status-only update through the main resource is a no-op.
	obj = stored.DeepCopy()
	obj.Labels["tier"] = "gold"
	if stored, err = faps.Update(ctx, obj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if stored.Generation != 2 || stored.Labels["tier"] != "gold" {
		t.Errorf("after a label change: generation %d labels %v", stored.Generation, stored.Labels)
	}
	obj = stored.DeepCopy()
	obj.Status.Revision = "forged-again"
	rv := stored.ResourceVersion
	if stored, err = faps.Update(ctx, obj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if stored.Generation != 2 || stored.Status.Revision != "rev-1" || stored.ResourceVersion != rv {
		t.Errorf("after a status-only Update: generation %d revision %q rv %s->%s", stored.Generation, stored.Status.Revision, rv, stored.ResourceVersion)
	}
	// A status-only UpdateStatus: no new generation either.
	obj = stored.DeepCopy()
	obj.Status.ObservedGeneration = 2
	obj.Status.Clusters = []trafficv1alpha1.ClusterStatus{{Name: "zone-x-1", Phase: "Applied", Objects: trafficv1alpha1.ObjectCounts{Applied: 3, Total: 3}}}
	if stored, err = faps.UpdateStatus(ctx, obj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if stored.Generation != 2 || stored.Status.ObservedGeneration != 2 || len(stored.Status.Clusters) != 1 {
		t.Errorf("after UpdateStatus: generation %d status %+v", stored.Generation, stored.Status)
	}

	// Invalid status is refused by /status validation.
	obj = stored.DeepCopy()
	obj.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: "Maybe", Reason: "X", LastTransitionTime: metav1.Now()}}
	if _, err := faps.UpdateStatus(ctx, obj, metav1.UpdateOptions{}); err == nil {
		t.Errorf("a condition with status Maybe was accepted")
	}

	// The same for a cluster-scoped kind whose labels the hub derives from
	// spec: a status update can change neither. The hub's membercluster
	// controller writes this kind too (finalizer, status), so every write
	// retries on conflicts with a fresh copy.
	mcs := e.pc.ClusterV1alpha1().MemberClusters()
	name := uniqueName("split")
	if _, err := mcs.Create(ctx, &clusterv1alpha1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: clusterv1alpha1.MemberClusterSpec{Zone: "zone-s"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var mc *clusterv1alpha1.MemberCluster
	write := func(update func(*clusterv1alpha1.MemberCluster) (*clusterv1alpha1.MemberCluster, error), change func(*clusterv1alpha1.MemberCluster)) {
		t.Helper()
		if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			fresh, err := mcs.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			change(fresh)
			mc, err = update(fresh)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	updateStatus := func(mc *clusterv1alpha1.MemberCluster) (*clusterv1alpha1.MemberCluster, error) {
		return mcs.UpdateStatus(ctx, mc, metav1.UpdateOptions{})
	}
	update := func(mc *clusterv1alpha1.MemberCluster) (*clusterv1alpha1.MemberCluster, error) {
		return mcs.Update(ctx, mc, metav1.UpdateOptions{})
	}
	write(updateStatus, func(mc *clusterv1alpha1.MemberCluster) {
		mc.Spec.Zone = "zone-changed-by-status"
		mc.Labels[clusterv1alpha1.LabelZone] = "zone-changed-by-status"
		mc.Status.KubernetesVersion = "v1.37.1"
	})
	if mc.Spec.Zone != "zone-s" || mc.Labels[clusterv1alpha1.LabelZone] != "zone-s" || mc.Status.KubernetesVersion != "v1.37.1" || mc.Generation != 1 {
		t.Errorf("member cluster after UpdateStatus: zone %q label %q status %+v generation %d", mc.Spec.Zone, mc.Labels[clusterv1alpha1.LabelZone], mc.Status, mc.Generation)
	}
	write(update, func(mc *clusterv1alpha1.MemberCluster) {
		mc.Spec.Zone = "zone-t"
		mc.Status.KubernetesVersion = "forged"
	})
	if mc.Spec.Zone != "zone-t" || mc.Labels[clusterv1alpha1.LabelZone] != "zone-t" || mc.Status.KubernetesVersion != "v1.37.1" || mc.Generation != 2 {
		t.Errorf("member cluster after Update: zone %q label %q status %+v generation %d", mc.Spec.Zone, mc.Labels[clusterv1alpha1.LabelZone], mc.Status, mc.Generation)
	}
}
