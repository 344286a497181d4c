package agent

import (
	"slices"
	"testing"

	"k8s.io/client-go/tools/cache"

	"github.com/portico-dev/portico/member-agent/apply"
)

// TestDriftHandler: the agent's caches hold every object of the kinds it
// applies; a change reconciles the access point an object is labelled for,
// and the one it was labelled for before (a label removed or changed by
// hand), and a removal the one it was labelled for; objects of no access
// point, and the echo of the agent's own apply, reconcile nothing.
func TestDriftHandler(t *testing.T) {
	var got []string
	h := driftHandler(func(ap string) { got = append(got, ap) }, func(obj any) bool { return obj.(*apply.Cached).ResourceVersion == "7" })
	obj := func(ap string) *apply.Cached {
		return &apply.Cached{Namespace: "shop", Name: "web", AccessPoint: ap, ResourceVersion: "1"}
	}
	ours := &apply.Cached{Namespace: "shop", Name: "web", AccessPoint: "shop.web", ResourceVersion: "7"}
	steps := []struct {
		what string
		do   func()
		want []string
	}{
		{"edited", func() { h.OnUpdate(obj("shop.web"), obj("shop.web")) }, []string{"shop.web"}},
		{"label removed", func() { h.OnUpdate(obj("shop.web"), obj("")) }, []string{"shop.web"}},
		{"label changed", func() { h.OnUpdate(obj("shop.web"), obj("shop.api")) }, []string{"shop.web", "shop.api"}},
		{"label added", func() { h.OnUpdate(obj(""), obj("shop.web")) }, []string{"shop.web"}},
		{"someone else's object edited", func() { h.OnUpdate(obj(""), obj("")) }, nil},
		{"the agent's own apply", func() { h.OnUpdate(obj("shop.web"), ours) }, nil},
		{"deleted", func() { h.OnDelete(obj("shop.web")) }, []string{"shop.web"}},
		{"deleted, seen late", func() { h.OnDelete(cache.DeletedFinalStateUnknown{Key: "shop/web", Obj: obj("shop.web")}) }, []string{"shop.web"}},
		{"someone else's object deleted", func() { h.OnDelete(obj("")) }, nil},
	}
	for _, s := range steps {
		got = nil
		s.do()
		if !slices.Equal(got, s.want) {
			t.Errorf("%s: reconciled %v, want %v", s.what, got, s.want)
		}
	}
}
