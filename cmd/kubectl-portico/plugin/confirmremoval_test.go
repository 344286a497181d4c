package plugin

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned/fake"
	"github.com/portico-dev/portico/member-agent/reconciler"
)

func TestConfirmRemoval(t *testing.T) {
	hold := &reconciler.Hold{ID: "0a1b2c3d4e5f", AccessPoints: 4, Managed: 4, Objects: 8, Examples: []string{"shop.a"}}
	mc := &clusterv1alpha1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: "zone-a-1"}}
	client := fake.NewClientset(mc)
	ctx := context.Background()
	var out bytes.Buffer
	if err := confirmRemoval(ctx, &out, client, "zone-a-1", ""); err == nil || !strings.Contains(err.Error(), "holds no removal") {
		t.Fatalf("confirming without a hold: %v", err)
	}
	meta.SetStatusCondition(&mc.Status.Conditions, metav1.Condition{Type: clusterv1alpha1.MemberClusterPruneHeld, Status: metav1.ConditionTrue,
		Reason: "RemovalHeld", Message: hold.Message()})
	if _, err := client.ClusterV1alpha1().MemberClusters().UpdateStatus(ctx, mc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := confirmRemoval(ctx, &out, client, "zone-a-1", "ffffffffffff"); err == nil || !strings.Contains(err.Error(), "holds 0a1b2c3d4e5f now") {
		t.Fatalf("confirming another hold: %v", err)
	}
	if err := confirmRemoval(ctx, &out, client, "zone-a-1", ""); err != nil {
		t.Fatal(err)
	}
	got, err := client.ClusterV1alpha1().MemberClusters().Get(ctx, "zone-a-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if a := got.Annotations[reconciler.ConfirmRemovalAnnotation]; a != hold.ID {
		t.Errorf("annotation %s = %q, want %q", reconciler.ConfirmRemovalAnnotation, a, hold.ID)
	}
	if !strings.Contains(out.String(), "removal 0a1b2c3d4e5f confirmed") {
		t.Errorf("output %q", out.String())
	}
}
