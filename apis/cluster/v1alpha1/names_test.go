package v1alpha1

import "testing"

func TestClusterOfNamespace(t *testing.T) {
	for ns, want := range map[string]string{"portico-cluster-zone-a-1": "zone-a-1", "portico-cluster-": "", "shop": "", "portico-clusterx": ""} {
		got, ok := ClusterOfNamespace(ns)
		if got != want || ok != (want != "") {
			t.Errorf("ClusterOfNamespace(%q) = %q, %v; want %q", ns, got, ok, want)
		}
	}
	if got, _ := ClusterOfNamespace(ClusterNamespace("zone-b-1")); got != "zone-b-1" {
		t.Errorf("round trip = %q", got)
	}
}
