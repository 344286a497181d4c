//go:build integration

package integration

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/test/framework"
)

// replicaClient talks to one portico-hub replica directly (not through the hub
// cluster), as an admin of the hub cluster: the replica trusts the hub
// cluster's client CA.
func replicaClient(t *testing.T, hub *framework.HubCluster, r *framework.PorticoHub) versioned.Interface {
	t.Helper()
	certPEM, keyPEM, err := hub.ClientCA.IssueClient("admin", []string{"system:masters"})
	if err != nil {
		t.Fatal(err)
	}
	return fastClient(&rest.Config{Host: r.URL(), TLSClientConfig: rest.TLSClientConfig{
		CertData: certPEM, KeyData: keyPEM, CAData: r.CA.CertPEM, ServerName: "localhost",
	}})
}

// TestHAHub runs the highly available hub: an etcd cluster of three members
// and two portico-hub replicas behind one front that the hub cluster's
// APIServices point at. 200 VIPPools in 100 overlapping pairs are created at
// once, the two pools of a pair through different replicas: exactly one pool
// of each pair is accepted (the overlap check holds across replicas). Then a
// replica and an etcd member are killed (SIGKILL): the API served through the
// hub cluster keeps answering, and overlapping writes are still refused.
func TestHAHub(t *testing.T) {
	hub := framework.NewHubCluster(t)
	ha := framework.NewHAHub(t, hub, 3, 2, framework.PorticoHubOptions{})
	replicas := []versioned.Interface{replicaClient(t, hub, ha.Replicas[0]), replicaClient(t, hub, ha.Replicas[1])}
	ctx := context.Background()
	// A replica serves through the hub cluster (front-proxy certificates)
	// before it has loaded the hub's client CA, which this test's direct
	// client certificates need: until then it sees them as anonymous.
	for i, c := range replicas {
		framework.Eventually(t, 30*time.Second, fmt.Sprintf("replica %d authenticates client certificates", i), func() (bool, string) {
			_, err := c.TrafficV1alpha1().VIPPools().List(ctx, metav1.ListOptions{Limit: 1})
			return err == nil, fmt.Sprint(err)
		})
	}

	pool := func(name string, cidrs ...string) *trafficv1alpha1.VIPPool {
		return &trafficv1alpha1.VIPPool{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: trafficv1alpha1.VIPPoolSpec{CIDRs: cidrs}}
	}
	const pairs = 100
	accepted := make([][2]bool, pairs)
	var wg sync.WaitGroup
	var mu sync.Mutex
	start := time.Now()
	for i := 0; i < pairs; i++ {
		for j, cidr := range []string{fmt.Sprintf("10.2.%d.0/24", i), fmt.Sprintf("10.2.%d.64-10.2.%d.70", i, i)} {
			c := replicas[(i+j)%2]
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := c.TrafficV1alpha1().VIPPools().Create(ctx, pool(fmt.Sprintf("pair-%d-%d", i, j), cidr), metav1.CreateOptions{})
				switch {
				case err == nil:
					mu.Lock()
					accepted[i][j] = true
					mu.Unlock()
				case !apierrors.IsInvalid(err):
					t.Errorf("pair %d pool %d: %v", i, j, err)
				}
			}()
		}
	}
	wg.Wait()
	t.Logf("%d VIPPool creates across two replicas in %v", 2*pairs, time.Since(start).Round(time.Millisecond))
	for i, a := range accepted {
		if a[0] == a[1] {
			t.Errorf("pair %d: accepted %v, want exactly one of the two", i, a)
		}
	}
	// Both replicas and the hub cluster see the same pools.
	throughHub := fastClient(hub.RestConfig)
	for name, c := range map[string]versioned.Interface{"replica 0": replicas[0], "replica 1": replicas[1], "the hub cluster": throughHub} {
		list, err := c.TrafficV1alpha1().VIPPools().List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatalf("listing through %s: %v", name, err)
		}
		if len(list.Items) != pairs {
			t.Errorf("%s lists %d pools, want %d", name, len(list.Items), pairs)
		}
	}

	// Kill a replica and an etcd member: the hub cluster still serves the API
	// through the other replica, on the two members left.
	if err := ha.Replicas[0].Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := ha.Etcd.Kill(0); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	framework.Eventually(t, 30*time.Second, "a VIPPool created through the hub cluster", func() (bool, string) {
		_, err := throughHub.TrafficV1alpha1().VIPPools().Create(ctx, pool("after-kill", "10.3.0.0/24"), metav1.CreateOptions{})
		return err == nil || apierrors.IsAlreadyExists(err), fmt.Sprint(err)
	})
	t.Logf("writes through the hub cluster answered %v after a replica and an etcd member were killed", time.Since(killed).Round(time.Millisecond))
	_, err := throughHub.TrafficV1alpha1().VIPPools().Create(ctx, pool("overlapping", "10.3.0.128/25"), metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) {
		t.Errorf("an overlapping pool after the kills: got %v, want Invalid", err)
	}
	if err := ha.Etcd.Restart(ctx, 0); err != nil {
		t.Fatalf("restarting etcd member 0: %v", err)
	}
}
