package federatedaccesspoint

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/watch"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/portico-dev/portico/apis/traffic"
)

// fakeStorage serves a fixed list of access points and one watch the test
// feeds; it counts the lists.
type fakeStorage struct {
	rest.Lister // only List is used
	mu          sync.Mutex
	items       []traffic.FederatedAccessPoint
	lists       int
	watcher     *watch.RaceFreeFakeWatcher
}

func (s *fakeStorage) List(ctx context.Context, _ *metainternalversion.ListOptions) (runtime.Object, error) {
	if ns, _ := genericapirequest.NamespaceFrom(ctx); ns != metav1.NamespaceAll {
		return nil, fmt.Errorf("listed namespace %q, want all", ns)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lists++
	return &traffic.FederatedAccessPointList{ListMeta: metav1.ListMeta{ResourceVersion: "10"}, Items: s.items}, nil
}

func (s *fakeStorage) Watch(context.Context, *metainternalversion.ListOptions) (watch.Interface, error) {
	return s.watcher, nil
}

func (s *fakeStorage) listCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lists
}

func claimant(ns, name string, hosts ...string) *traffic.FederatedAccessPoint {
	return &traffic.FederatedAccessPoint{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: "10"},
		Spec: traffic.FederatedAccessPointSpec{Hosts: hosts}}
}

// runIndexed starts c's index over s and waits until it has synced.
func runIndexed(t *testing.T, c *HostClaims) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	deadline := time.Now().Add(10 * time.Second)
	for !c.index.HasSynced() {
		if time.Now().After(deadline) {
			t.Fatal("the host index did not sync")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func errorsOf(errs field.ErrorList) string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return strings.Join(out, "\n")
}

// TestHostClaimsIndexAnswersAsTheList: with the index synced, Check refuses
// exactly what a pass over the whole list refuses, naming the same access
// point, and lists nothing; random hosts, wildcards and namespaces.
func TestHostClaimsIndexAnswersAsTheList(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	labels := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	host := func() string {
		parts := make([]string, 2+r.IntN(2))
		for i := range parts {
			parts[i] = labels[r.IntN(len(labels))]
		}
		h := strings.Join(parts, ".") + ".example"
		if r.IntN(4) == 0 {
			h = "*." + h
		}
		return h
	}
	namespaces := []string{"team-a", "team-b", "team-c"}
	storage := &fakeStorage{watcher: watch.NewRaceFreeFake()}
	for i := range 300 {
		fap := claimant(namespaces[r.IntN(3)], fmt.Sprintf("ap-%03d", i), host())
		if i%50 == 0 {
			now := metav1.Now()
			fap.DeletionTimestamp = &now
		}
		storage.items = append(storage.items, *fap)
	}
	// The storage lists in key order, namespace then name.
	slices.SortFunc(storage.items, func(a, b traffic.FederatedAccessPoint) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	indexed, listing := &HostClaims{}, &HostClaims{storage: &fakeStorage{items: storage.items}}
	indexed.SetStorage(storage)
	runIndexed(t, indexed)
	lists := storage.listCount()

	refused := 0
	for i := range 2000 {
		fap := claimant(namespaces[r.IntN(3)], fmt.Sprintf("new-%d", i), host(), host())
		var old []string
		if i%4 == 0 {
			old = fap.Spec.Hosts[:1]
		}
		got, want := errorsOf(indexed.Check(context.Background(), fap, old)), errorsOf(listing.Check(context.Background(), fap, old))
		if got != want {
			t.Fatalf("%s/%s with hosts %v (old %v):\nindex:\n%s\nlist:\n%s", fap.Namespace, fap.Name, fap.Spec.Hosts, old, got, want)
		}
		if got != "" {
			refused++
		}
	}
	if refused < 200 || refused > 1800 {
		t.Fatalf("%d of 2000 refused: the hosts drawn do not test both answers", refused)
	}
	if n := storage.listCount() - lists; n != 0 {
		t.Errorf("the indexed checker listed the storage %d times during the checks, want none", n)
	}
	if n := listing.storage.(*fakeStorage).listCount(); n < 1900 {
		t.Errorf("the listing checker listed %d times, want one per check that adds a host", n)
	}
}

// TestHostClaimsIndexFollowsTheStorage: an access point created, then deleted,
// in the storage is refused against, then no longer.
func TestHostClaimsIndexFollowsTheStorage(t *testing.T) {
	storage := &fakeStorage{watcher: watch.NewRaceFreeFake()}
	c := &HostClaims{}
	c.SetStorage(storage)
	runIndexed(t, c)
	claim := claimant("team-b", "api", "api.shared.example")
	check := func() string { return errorsOf(c.Check(context.Background(), claim, nil)) }
	eventually := func(what string, ok func(string) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for got := check(); !ok(got); got = check() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: Check said %q", what, got)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if got := check(); got != "" {
		t.Fatalf("nothing stored: %s", got)
	}
	wildcard := claimant("team-a", "shared", "*.shared.example")
	wildcard.ResourceVersion = "11"
	// As the watch cache sends it: wrapped with its encodings.
	storage.watcher.Add(cachedObject{wildcard})
	eventually("after team-a's wildcard was created", func(got string) bool {
		return strings.Contains(got, `host "api.shared.example" overlaps host "*.shared.example" of access point team-a/shared`)
	})
	deleted := wildcard.DeepCopy()
	deleted.ResourceVersion = "12"
	storage.watcher.Delete(deleted)
	eventually("after team-a's wildcard was deleted", func(got string) bool { return got == "" })
	if n := storage.listCount(); n != 1 {
		t.Errorf("%d lists, want the index's one", n)
	}
}

// cachedObject wraps an object as the watch cache does (its cachingObject).
type cachedObject struct{ runtime.Object }

func (c cachedObject) CacheEncode(_ runtime.Identifier, encode func(runtime.Object, io.Writer) error, w io.Writer) error {
	return encode(c.Object, w)
}

func (c cachedObject) GetObject() runtime.Object { return c.Object }
