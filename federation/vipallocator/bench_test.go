package vipallocator

import (
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// BenchmarkEnsureLargePool allocates from a /16 whose first 20000 addresses are
// held: each allocation passes over the 78 full /24s below its address by
// counting their VirtualIPs in the cache's index.
func BenchmarkEnsureLargePool(b *testing.B) {
	f := newFixture(b, []*trafficv1alpha1.VIPPool{newPool("big", true, "10.0.0.0/16")})
	for i := range 20000 {
		x := toUint32(fromUint32(0x0a000000).Next()) + uint32(i)
		address := fromUint32(x).String()
		vip := &trafficv1alpha1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: address},
			Spec: trafficv1alpha1.VirtualIPSpec{Address: address, Pool: "big"}}
		if err := f.vips.Add(vip); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		if _, failure, err := f.alloc.Ensure(f.ctx, newFAP(fmt.Sprintf("app-%d", i), "big", ""), nil); err != nil || failure != nil {
			b.Fatal(err, failure)
		}
	}
}
