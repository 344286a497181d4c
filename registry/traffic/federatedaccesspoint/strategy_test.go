package federatedaccesspoint

import (
	"slices"
	"testing"

	"github.com/portico-dev/portico/apis/traffic"
)

// TestRolloutColumn: ROLLOUT is shown by default, right after READY, and prints
// the rollout's progress, or the strategy before the first rollout.
func TestRolloutColumn(t *testing.T) {
	var names, wide []string
	for _, c := range Kind.Columns {
		if c.Priority == 0 {
			names = append(names, c.Name)
		}
		wide = append(wide, c.Name)
	}
	if want := []string{"Hosts", "VIP", "Clusters", "Ready", "Rollout"}; !slices.Equal(names, want) {
		t.Fatalf("default columns %v, want %v", names, want)
	}
	if want := []string{"Hosts", "VIP", "Clusters", "Ready", "Rollout", "Cert", "DNS"}; !slices.Equal(wide, want) {
		t.Fatalf("wide columns %v, want %v", wide, want)
	}

	staged := &traffic.RolloutSpec{Strategy: traffic.RolloutStaged}
	for _, c := range []struct {
		spec   *traffic.RolloutSpec
		status *traffic.RolloutStatus
		want   string
	}{
		{nil, nil, "AllAtOnce"},
		{staged, nil, "Staged"},
		{staged, &traffic.RolloutStatus{Stage: "canary", Phase: traffic.RolloutPaused, UpdatedClusters: 1, TotalClusters: 3}, "canary 1/3 Paused"},
		{nil, &traffic.RolloutStatus{Phase: traffic.RolloutComplete, UpdatedClusters: 3, TotalClusters: 3}, "3/3 Complete"},
	} {
		fap := &traffic.FederatedAccessPoint{Spec: traffic.FederatedAccessPointSpec{Rollout: c.spec}, Status: traffic.FederatedAccessPointStatus{Rollout: c.status}}
		cells := Kind.Row(fap)
		if len(cells) != len(Kind.Columns) {
			t.Fatalf("%d cells for %d columns", len(cells), len(Kind.Columns))
		}
		if got := cells[slices.Index(wide, "Rollout")]; got != c.want {
			t.Errorf("ROLLOUT of spec %+v status %+v = %q, want %q", c.spec, c.status, got, c.want)
		}
	}
}
