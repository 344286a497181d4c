//go:build registry

package apiserver

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/storage/storagebackend"

	"github.com/portico-dev/portico/apis/cluster"
	"github.com/portico-dev/portico/registry/cluster/loadbalancernode"
	"github.com/portico-dev/portico/registry/cluster/membercluster"
	"github.com/portico-dev/portico/registry/store"
)

// TestHubIdentity: the identity is created once and kept by the etcd that
// holds it (restarts, other replicas); another etcd (a wiped one) has another.
// Every MemberCluster written carries it.
func TestHubIdentity(t *testing.T) {
	ctx := context.Background()
	identityOf := func(dir string) string {
		t.Helper()
		e, err := StartEmbeddedEtcd(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		id, err := EnsureHubIdentity(ctx, storagebackend.TransportConfig{ServerList: []string{e.ClientURL}}, etcdPathPrefix)
		if err != nil {
			t.Fatal(err)
		}
		again, err := EnsureHubIdentity(ctx, storagebackend.TransportConfig{ServerList: []string{e.ClientURL}}, etcdPathPrefix)
		if err != nil || again != id {
			t.Fatalf("a second replica reads %q (%v), want %q", again, err, id)
		}
		return id
	}
	dir := t.TempDir()
	first := identityOf(dir)
	if restarted := identityOf(dir); restarted != first {
		t.Errorf("identity after a restart %q, want %q", restarted, first)
	}
	if wiped := identityOf(t.TempDir()); wiped == first {
		t.Errorf("a wiped etcd kept the identity %q", wiped)
	}

	r, _, err := store.New(Scheme, newOptsGetter(t), membercluster.WithHubIdentity("hub-1"))
	if err != nil {
		t.Fatal(err)
	}
	mc := &cluster.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: "zone-a-1", Annotations: map[string]string{cluster.AnnotationHubIdentity: "forged"}},
		Spec: cluster.MemberClusterSpec{Zone: "zone-a"}}
	out, err := create(t, r, ctxIn(""), mc)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.(*cluster.MemberCluster).Annotations[cluster.AnnotationHubIdentity]; got != "hub-1" {
		t.Errorf("annotation %s = %q, want the hub's identity", cluster.AnnotationHubIdentity, got)
	}
}

// TestHubIdentityOnLoadBalancerNodes: every LoadBalancerNode written (created,
// or updated, e.g. by an operator's confirmation) carries the identity of the
// hub that wrote it, whatever the writer sent; other annotations are kept.
func TestHubIdentityOnLoadBalancerNodes(t *testing.T) {
	getter := newOptsGetter(t)
	hub1, _, err := store.New(Scheme, getter, loadbalancernode.WithHubIdentity("hub-1"))
	if err != nil {
		t.Fatal(err)
	}
	// The same data served by a hub of another identity.
	hub2, _, err := store.New(Scheme, getter, loadbalancernode.WithHubIdentity("hub-2"))
	if err != nil {
		t.Fatal(err)
	}
	identity := func(obj runtime.Object) string {
		return obj.(*cluster.LoadBalancerNode).Annotations[cluster.AnnotationHubIdentity]
	}
	n := &cluster.LoadBalancerNode{ObjectMeta: metav1.ObjectMeta{Name: "edge-a-1", Annotations: map[string]string{cluster.AnnotationHubIdentity: "forged"}},
		Spec: cluster.LoadBalancerNodeSpec{Group: "zone-a", Address: "192.0.2.11"}}
	out, err := create(t, hub1, ctxIn(""), n)
	if err != nil {
		t.Fatal(err)
	}
	if got := identity(out); got != "hub-1" {
		t.Errorf("created: annotation %s = %q, want hub-1", cluster.AnnotationHubIdentity, got)
	}
	edit := out.(*cluster.LoadBalancerNode).DeepCopy()
	edit.Annotations = map[string]string{cluster.AnnotationConfirmWithdrawal: "0a1b2c3d4e5f"}
	out, err = update(ctxIn(""), hub2, edit, "edge-a-1")
	if err != nil {
		t.Fatal(err)
	}
	if got := identity(out); got != "hub-2" {
		t.Errorf("updated through the other hub: annotation %s = %q, want hub-2", cluster.AnnotationHubIdentity, got)
	}
	if got := out.(*cluster.LoadBalancerNode).Annotations[cluster.AnnotationConfirmWithdrawal]; got != "0a1b2c3d4e5f" {
		t.Errorf("annotation %s = %q, want it kept", cluster.AnnotationConfirmWithdrawal, got)
	}
}
