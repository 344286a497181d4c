package lblease

import (
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationlisters "k8s.io/client-go/listers/coordination/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

var now = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func lease(ns, name string, renewed *time.Time, seconds *int32) *coordinationv1.Lease {
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if renewed != nil {
		l.Spec.RenewTime = &metav1.MicroTime{Time: *renewed}
	}
	l.Spec.LeaseDurationSeconds = seconds
	return l
}

func TestNodeOf(t *testing.T) {
	for _, tc := range []struct {
		ns, name, node string
		ok             bool
	}{
		{Namespace, Name("edge-a-1"), "edge-a-1", true},
		{Namespace, "portico-hub", "", false},
		{Namespace, "lb-agent-", "", false},
		{"portico-cluster-a", Name("edge-a-1"), "", false},
	} {
		node, ok := NodeOf(lease(tc.ns, tc.name, nil, nil))
		if node != tc.node || ok != tc.ok {
			t.Errorf("NodeOf(%s/%s) = %q, %v; want %q, %v", tc.ns, tc.name, node, ok, tc.node, tc.ok)
		}
	}
}

// TestAlive: a Lease holds from its renewal for its duration, not at its end;
// one missing either field never held.
func TestAlive(t *testing.T) {
	renewed := now.Add(-40 * time.Second)
	for _, tc := range []struct {
		what  string
		lease *coordinationv1.Lease
		alive bool
	}{
		{"renewed 40s ago for 41s", lease(Namespace, Name("n"), &renewed, ptr.To[int32](41)), true},
		{"renewed 40s ago for 40s", lease(Namespace, Name("n"), &renewed, ptr.To[int32](40)), false},
		{"never renewed", lease(Namespace, Name("n"), nil, ptr.To[int32](40)), false},
		{"no duration", lease(Namespace, Name("n"), &renewed, nil), false},
	} {
		if got := Alive(tc.lease, now); got != tc.alive {
			t.Errorf("%s: Alive = %v, want %v", tc.what, got, tc.alive)
		}
	}
}

func TestLeft(t *testing.T) {
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	renewed := now.Add(-10 * time.Second)
	_ = indexer.Add(lease(Namespace, Name("live"), &renewed, ptr.To[int32](40)))
	_ = indexer.Add(lease("elsewhere", Name("elsewhere"), &renewed, ptr.To[int32](40)))
	leases := coordinationlisters.NewLeaseLister(indexer)
	if left := Left(leases, "live", now); left != 30*time.Second {
		t.Errorf("Left(live) = %v, want 30s", left)
	}
	if left := Left(leases, "missing", now); left > 0 {
		t.Errorf("Left(missing) = %v, want none", left)
	}
	if left := Left(leases, "elsewhere", now); left > 0 {
		t.Errorf("Left of a node whose Lease is in another namespace = %v, want none", left)
	}
}
