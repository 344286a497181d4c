//go:build registry

package apiserver

import (
	"fmt"
	"sync"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-dev/portico/apis/traffic"
	"github.com/portico-dev/portico/apis/traffic/validation"
	"github.com/portico-dev/portico/registry/store"
	"github.com/portico-dev/portico/registry/traffic/vippool"
)

// TestPoolOverlapAcrossReplicas runs two VIPPool storages on one etcd, as two
// hub replicas do, and creates 100 pairs of overlapping pools at once, the two
// pools of a pair through different storages: exactly one pool of each pair
// is accepted, the other is refused as invalid, and the stored pools do not
// overlap. An in-process lock alone lets both pools of a pair in.
func TestPoolOverlapAcrossReplicas(t *testing.T) {
	getter := newOptsGetter(t)
	var replicas [2]*store.REST
	for i := range replicas {
		r, _, err := vippool.NewREST(Scheme, getter)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Destroy)
		replicas[i] = r
	}
	ctx := ctxIn("")
	const pairs = 100
	type result struct {
		name string
		err  error
	}
	results := make(chan result, 2*pairs)
	var wg sync.WaitGroup
	for i := 0; i < pairs; i++ {
		for j, cidr := range []string{fmt.Sprintf("10.1.%d.0/24", i), fmt.Sprintf("10.1.%d.128/25", i)} {
			name := fmt.Sprintf("pair-%d-%d", i, j)
			r := replicas[(i+j)%2]
			wg.Add(1)
			go func() {
				defer wg.Done()
				pool := &traffic.VIPPool{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: traffic.VIPPoolSpec{CIDRs: []string{cidr}}}
				_, err := r.Create(ctx, pool, nil, &metav1.CreateOptions{})
				results <- result{name, err}
			}()
		}
	}
	wg.Wait()
	close(results)
	accepted := map[int]int{}
	for res := range results {
		var i, j int
		fmt.Sscanf(res.name, "pair-%d-%d", &i, &j)
		switch {
		case res.err == nil:
			accepted[i]++
		case apierrors.IsInvalid(res.err):
		default:
			t.Errorf("creating %s: %v", res.name, res.err)
		}
	}
	for i := 0; i < pairs; i++ {
		if accepted[i] != 1 {
			t.Errorf("pair %d: %d pools accepted, want exactly 1", i, accepted[i])
		}
	}
	list, err := replicas[0].List(ctx, &metainternalversion.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pools := list.(*traffic.VIPPoolList).Items
	if len(pools) != pairs {
		t.Errorf("%d pools stored, want %d", len(pools), pairs)
	}
	for a := range pools {
		for b := a + 1; b < len(pools); b++ {
			for _, ra := range validation.PoolRanges(&pools[a]) {
				for _, rb := range validation.PoolRanges(&pools[b]) {
					if ra.Overlaps(rb) {
						t.Errorf("stored pools %s and %s overlap", pools[a].Name, pools[b].Name)
					}
				}
			}
		}
	}
}
