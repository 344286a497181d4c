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
)

func TestConfirmWithdrawal(t *testing.T) {
	// As the lb-agent writes it (lb-agent/controller withdrawHold.message).
	const message = "holding the withdrawal of 3 of the 3 VIPs this node serves (198.51.100.10, 198.51.100.11, 198.51.100.12): " +
		"the LoadBalancerGroup zone-a no longer exists. They stay programmed and announced. If that is intended, confirm with " +
		"`kubectl portico confirm-withdrawal edge-a-1` (annotation cluster.portico.dev/confirm-withdrawal=0a1b2c3d4e5f on the LoadBalancerNode)"
	n := &clusterv1alpha1.LoadBalancerNode{ObjectMeta: metav1.ObjectMeta{Name: "edge-a-1"}}
	client := fake.NewClientset(n)
	ctx := context.Background()
	var out bytes.Buffer
	if err := confirmWithdrawal(ctx, &out, client, "edge-a-1", ""); err == nil || !strings.Contains(err.Error(), "holds no withdrawal") {
		t.Fatalf("confirming without a hold: %v", err)
	}
	meta.SetStatusCondition(&n.Status.Conditions, metav1.Condition{Type: clusterv1alpha1.LoadBalancerNodeWithdrawHeld, Status: metav1.ConditionTrue,
		Reason: "WithdrawalHeld", Message: message})
	if _, err := client.ClusterV1alpha1().LoadBalancerNodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := confirmWithdrawal(ctx, &out, client, "edge-a-1", "ffffffffffff"); err == nil || !strings.Contains(err.Error(), "holds 0a1b2c3d4e5f now") {
		t.Fatalf("confirming another hold: %v", err)
	}
	if err := confirmWithdrawal(ctx, &out, client, "edge-a-1", ""); err != nil {
		t.Fatal(err)
	}
	got, err := client.ClusterV1alpha1().LoadBalancerNodes().Get(ctx, "edge-a-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if a := got.Annotations[clusterv1alpha1.AnnotationConfirmWithdrawal]; a != "0a1b2c3d4e5f" {
		t.Errorf("annotation %s = %q, want 0a1b2c3d4e5f", clusterv1alpha1.AnnotationConfirmWithdrawal, a)
	}
	if !strings.Contains(out.String(), "withdrawal 0a1b2c3d4e5f confirmed") {
		t.Errorf("output %q", out.String())
	}
}
