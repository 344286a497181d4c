//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	"github.com/portico-dev/portico/apis/generated/informers/externalversions"
	traffic "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/test/framework"
)

// BenchmarkFederation measures the time from a FederatedAccessPoint's create
// (and update) to Applied in every placed cluster, observed with a watch on
// the access points (condition Applied=True for the new generation, every
// placed cluster at the new revision).
//
//	go test -tags integration ./test/integration/ -run '^$' -bench BenchmarkFederation -benchtime=1x -timeout 60m -v
//
// real-2-clusters: two real member clusters with member-agents, one access
// point at a time, PORTICO_BENCH_FED_SAMPLES creates then as many updates
// (default 50).
//
// simulated-N-clusters: PORTICO_BENCH_FED_CLUSTERS (default 100) SIMULATED
// member clusters (simulated_test.go: the member-agent's heartbeat, reconciler
// and endpoints code in this process against the real hub, with an in-memory
// member cluster), then PORTICO_BENCH_FED_ACCESS_POINTS (default 1000) access
// points, each placed by name on PORTICO_BENCH_FED_PLACEMENT (default 3)
// clusters, created at once by PORTICO_BENCH_FED_CREATORS (default 10)
// goroutines; then PORTICO_BENCH_FED_SAMPLES updates one at a time. It reports
// portico-hub's RSS and CPU (from /proc) during the burst. Agents renew their
// Lease every PORTICO_BENCH_FED_HEARTBEAT (default 10s, the agent's default);
// the hub's --cluster-lease-grace is 40s (its default).
func BenchmarkFederation(b *testing.B) {
	samples := fbEnvInt("PORTICO_BENCH_FED_SAMPLES", 50)
	clusters := fbEnvInt("PORTICO_BENCH_FED_CLUSTERS", 100)
	b.Run("real-2-clusters", func(b *testing.B) { fbReal(b, samples) })
	b.Run(fmt.Sprintf("simulated-%d-clusters", clusters), func(b *testing.B) {
		fbSimulated(b, clusters, fbEnvInt("PORTICO_BENCH_FED_ACCESS_POINTS", 1000), fbEnvInt("PORTICO_BENCH_FED_PLACEMENT", 3),
			fbEnvInt("PORTICO_BENCH_FED_CREATORS", 10), samples, fbEnvDuration("PORTICO_BENCH_FED_HEARTBEAT", 10*time.Second))
	})
}

func fbEnvInt(name string, def int) int {
	if v := os.Getenv(name); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			return n
		}
	}
	return def
}

func fbEnvDuration(name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			return d
		}
	}
	return def
}

func fbReal(b *testing.B, samples int) {
	zones := map[string]string{"zone-a-1": "zone-a", "zone-b-1": "zone-b"}
	f := newFederationTB(b, zones)
	pc := fastClient(f.hub.RestConfig)
	fbWaitAvailable(b, pc, len(zones), 2*time.Minute)
	fbSetup(b, f.hub, pc, "bench", "bench", "198.18.0.0/20")
	tr := fbTrack(b, pc, "bench", len(zones))
	ctx := context.Background()
	faps := pc.TrafficV1alpha1().FederatedAccessPoints("bench")

	var creates, updates []time.Duration
	for i := 0; i < samples; i++ {
		name := fmt.Sprintf("lat-%03d", i)
		start := time.Now()
		if _, err := faps.Create(ctx, fbAccessPoint("bench", name, "bench", nil), metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		at, err := tr.wait(name, 1, 2*time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		creates = append(creates, at.Sub(start))
	}
	for i := 0; i < samples; i++ {
		name := fmt.Sprintf("lat-%03d", i)
		cur, err := faps.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			b.Fatal(err)
		}
		setVSTimeout(cur, "7s")
		start := time.Now()
		updated, err := faps.Update(ctx, cur, metav1.UpdateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		at, err := tr.wait(name, updated.Generation, 2*time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		updates = append(updates, at.Sub(start))
	}
	slices.Sort(creates)
	slices.Sort(updates)
	report(b, "create", creates)
	report(b, "update", updates)
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("\nBenchmarkFederation/real-2-clusters: 2 REAL member clusters (kube-apiserver + etcd + member-agent each), one access point at a time\n")
	fmt.Printf("  access point: Gateway + VirtualService + DestinationRule, VIP from a pool, placed on both clusters\n")
	fmt.Printf("  create -> Applied on both, %d samples: p50 %v, p99 %v, max %v\n", len(creates), pct(creates, 50), pct(creates, 99), creates[len(creates)-1])
	fmt.Printf("  update -> Applied on both, %d samples: p50 %v, p99 %v, max %v\n", len(updates), pct(updates, 50), pct(updates, 99), updates[len(updates)-1])
	fmt.Printf("  load average at the end: %s\n", strings.TrimSpace(string(load)))
}

func fbSimulated(b *testing.B, n, accessPoints, placement, creators, samples int, heartbeat time.Duration) {
	hub := framework.NewHubCluster(b)
	ph := framework.NewPorticoHub(b, hub, framework.PorticoHubOptions{ExtraArgs: []string{"--cluster-lease-grace=40s"}})
	pc := fastClient(hub.RestConfig)
	zones := map[string]string{}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("sim-%03d", i)
		zones[names[i]] = fmt.Sprintf("zone-%d", i%10)
	}
	start := time.Now()
	sims := startSimClusters(b, hub, zones, simOptions{Heartbeat: heartbeat, JoinTimeout: 15 * time.Minute})
	joined := time.Since(start)
	fbWaitAvailable(b, pc, n, 15*time.Minute)
	fmt.Printf("\nBenchmarkFederation/simulated: %d SIMULATED member clusters joined in %v, all Available after %v\n",
		n, joined.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	fbSetup(b, hub, pc, "sim", "sim", "198.18.0.0/20")
	tr := fbTrack(b, pc, "sim", placement)
	ctx := context.Background()
	faps := pc.TrafficV1alpha1().FederatedAccessPoints("sim")

	pid := ph.Process.PID
	apiPID := hub.APIServerPID
	idle := fbProcSample(pid)
	time.Sleep(5 * time.Second)
	idle2 := fbProcSample(pid)
	idleCPU := (idle2.cpu - idle.cpu) / idle2.at.Sub(idle.at).Seconds()

	// The burst, with portico-hub sampled every 500ms.
	stopSampling := make(chan struct{})
	var samplesMu sync.Mutex
	var rss []int64
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-t.C:
				s := fbProcSample(pid)
				samplesMu.Lock()
				rss = append(rss, s.rssKiB)
				samplesMu.Unlock()
			}
		}
	}()
	before, apiBefore, selfBefore := fbProcSample(pid), fbProcSample(apiPID), fbProcSample(os.Getpid())
	starts := make([]time.Time, accessPoints)
	var wg sync.WaitGroup
	errs := make(chan error, creators)
	for c := 0; c < creators; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; i < accessPoints; i += creators {
				placed := make([]traffic.ClusterReference, placement)
				for k := range placed {
					placed[k].Name = names[(i*placement+k)%n]
				}
				starts[i] = time.Now()
				if _, err := faps.Create(ctx, fbAccessPoint("sim", fmt.Sprintf("ap-%04d", i), "sim", placed), metav1.CreateOptions{}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	createdIn := time.Since(before.at)
	lat := make([]time.Duration, accessPoints)
	for i := range lat {
		at, err := tr.wait(fmt.Sprintf("ap-%04d", i), 1, 30*time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		lat[i] = at.Sub(starts[i])
	}
	after, apiAfter, selfAfter := fbProcSample(pid), fbProcSample(apiPID), fbProcSample(os.Getpid())
	close(stopSampling)
	burst := after.at.Sub(before.at)
	hubCPU := (after.cpu - before.cpu) / burst.Seconds()
	apiCPU := (apiAfter.cpu - apiBefore.cpu) / burst.Seconds()
	selfCPU := (selfAfter.cpu - selfBefore.cpu) / burst.Seconds()
	samplesMu.Lock()
	peak, sum := int64(0), int64(0)
	for _, r := range rss {
		peak = max(peak, r)
		sum += r
	}
	meanRSS := sum / int64(max(len(rss), 1))
	samplesMu.Unlock()
	slices.Sort(lat)

	// Every simulated cluster holds what was placed on it.
	perCluster := accessPoints * placement / n
	objects := 0
	for _, sc := range sims {
		objects += sc.Applier.Len()
	}
	if objects != accessPoints*placement*3 {
		b.Errorf("the simulated clusters hold %d objects, want %d (%d access points x %d clusters x 3)", objects, accessPoints*placement*3, accessPoints, placement)
	}

	// Steady state with every access point applied: nothing changes but the
	// agents' heartbeats.
	time.Sleep(5 * time.Second)
	steady := fbProcSample(pid)
	time.Sleep(20 * time.Second)
	steady2 := fbProcSample(pid)
	steadyCPU := (steady2.cpu - steady.cpu) / steady2.at.Sub(steady.at).Seconds()

	// Updates on the loaded hub, one at a time.
	var updates []time.Duration
	for i := 0; i < samples; i++ {
		name := fmt.Sprintf("ap-%04d", (i*7919)%accessPoints)
		cur, err := faps.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			b.Fatal(err)
		}
		setVSTimeout(cur, fmt.Sprintf("%ds", 6+i%20))
		t0 := time.Now()
		updated, err := faps.Update(ctx, cur, metav1.UpdateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		at, err := tr.wait(name, updated.Generation, 2*time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		updates = append(updates, at.Sub(t0))
	}
	slices.Sort(updates)

	report(b, "sim-create", lat)
	report(b, "sim-update", updates)
	b.ReportMetric(float64(peak)/1024, "hub-peak-rss-MiB")
	b.ReportMetric(hubCPU, "hub-cpu-cores")
	b.ReportMetric(steadyCPU, "hub-steady-cpu-cores")
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("BenchmarkFederation/simulated: %d SIMULATED member clusters (member-agent code in the test process, in-memory member clusters), real hub\n", n)
	fmt.Printf("  %d access points (Gateway + VirtualService + DestinationRule, VIP), each placed on %d clusters by name (%d per cluster)\n",
		accessPoints, placement, perCluster)
	fmt.Printf("  created by %d goroutines in %v; all Applied everywhere after %v (%.1f access points/s)\n",
		creators, createdIn.Round(time.Millisecond), burst.Round(time.Millisecond), float64(accessPoints)/burst.Seconds())
	fmt.Printf("  create -> Applied on all %d clusters (burst): p50 %v, p99 %v, max %v\n", placement, pct(lat, 50), pct(lat, 99), lat[len(lat)-1])
	fmt.Printf("  update -> Applied on all %d clusters, one at a time, %d samples: p50 %v, p99 %v, max %v\n",
		placement, len(updates), pct(updates, 50), pct(updates, 99), updates[len(updates)-1])
	fmt.Printf("  portico-hub (pid %d, embedded etcd included):\n", pid)
	fmt.Printf("    before the burst (clusters heartbeating, no access point): RSS %.0f MiB, CPU %.1f%% of a core\n", float64(idle2.rssKiB)/1024, idleCPU*100)
	fmt.Printf("    during the burst: RSS mean %.0f MiB, peak %.0f MiB (VmHWM %.0f MiB), CPU %.2f cores on average\n",
		float64(meanRSS)/1024, float64(peak)/1024, float64(fbHWM(pid))/1024, hubCPU)
	fmt.Printf("    steady state after it (all applied, only heartbeats), 20s: RSS %.0f MiB, CPU %.1f%% of a core\n", float64(steady2.rssKiB)/1024, steadyCPU*100)
	fmt.Printf("  during the burst, hub kube-apiserver %.2f cores, this test process (%d simulated agents) %.2f cores\n", apiCPU, n, selfCPU)
	fmt.Printf("  load average at the end: %s (2 cores, shared)\n\n", strings.TrimSpace(string(load)))
}

// fbAccessPoint is one benchmark access point, with a VIP from pool.
func fbAccessPoint(ns, name, pool string, clusters []traffic.ClusterReference) *traffic.FederatedAccessPoint {
	fap := fedAccessPoint(ns, name, []string{name + "." + ns + ".example.com"}, "5s")
	if clusters != nil {
		fap.Spec.Placement = &traffic.Placement{Clusters: clusters}
	}
	fap.Spec.LoadBalancer = &traffic.LoadBalancerSpec{Pool: pool, Ports: []traffic.Port{{Name: "http", Port: 80}}}
	return fap
}

func fbSetup(b *testing.B, hub *framework.HubCluster, pc versioned.Interface, ns, pool, cidr string) {
	ctx := context.Background()
	kc := kubernetes.NewForConfigOrDie(hub.RestConfig)
	if _, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		b.Fatal(err)
	}
	if _, err := pc.TrafficV1alpha1().VIPPools().Create(ctx, &traffic.VIPPool{ObjectMeta: metav1.ObjectMeta{Name: pool},
		Spec: traffic.VIPPoolSpec{CIDRs: []string{cidr}}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
}

func fbWaitAvailable(b *testing.B, pc versioned.Interface, n int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for {
		list, err := pc.ClusterV1alpha1().MemberClusters().List(context.Background(), metav1.ListOptions{})
		available := 0
		if err == nil {
			for _, mc := range list.Items {
				if meta.IsStatusConditionTrue(mc.Status.Conditions, clusterv1alpha1.MemberClusterAvailable) {
					available++
				}
			}
		}
		if available == n {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d member clusters Available after %v (%v)", available, n, timeout, err)
		}
		time.Sleep(time.Second)
	}
}

// fbTracker records, from a watch (an informer) on the access points of a
// namespace, when each first reached Applied in every placed cluster at each
// generation.
type fbTracker struct {
	want    int
	mu      sync.Mutex
	applied map[string][]fbApplied
	waiters map[string][]fbWaiter
}

type fbApplied struct {
	gen int64
	at  time.Time
}

type fbWaiter struct {
	gen int64
	ch  chan time.Time
}

func fbTrack(b *testing.B, pc versioned.Interface, ns string, want int) *fbTracker {
	tr := &fbTracker{want: want, applied: map[string][]fbApplied{}, waiters: map[string][]fbWaiter{}}
	factory := externalversions.NewSharedInformerFactoryWithOptions(pc, 0, externalversions.WithNamespace(ns))
	inf := factory.Traffic().V1alpha1().FederatedAccessPoints().Informer()
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    tr.observe,
		UpdateFunc: func(_, obj any) { tr.observe(obj) },
	})
	stop := make(chan struct{})
	factory.Start(stop)
	b.Cleanup(func() {
		close(stop)
		factory.Shutdown()
	})
	if !cache.WaitForCacheSync(stop, inf.HasSynced) {
		b.Fatal("access point informer did not sync")
	}
	return tr
}

func (tr *fbTracker) observe(obj any) {
	fap, ok := obj.(*traffic.FederatedAccessPoint)
	if !ok || !appliedEverywhere(fap, tr.want) {
		return
	}
	now := time.Now()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	seen := tr.applied[fap.Name]
	if len(seen) > 0 && seen[len(seen)-1].gen >= fap.Generation {
		return
	}
	tr.applied[fap.Name] = append(seen, fbApplied{gen: fap.Generation, at: now})
	waiters := tr.waiters[fap.Name][:0]
	for _, w := range tr.waiters[fap.Name] {
		if w.gen <= fap.Generation {
			w.ch <- now
			continue
		}
		waiters = append(waiters, w)
	}
	tr.waiters[fap.Name] = waiters
}

// wait returns when the access point was first seen applied everywhere at
// generation gen or later.
func (tr *fbTracker) wait(name string, gen int64, timeout time.Duration) (time.Time, error) {
	tr.mu.Lock()
	for _, a := range tr.applied[name] {
		if a.gen >= gen {
			tr.mu.Unlock()
			return a.at, nil
		}
	}
	ch := make(chan time.Time, 1)
	tr.waiters[name] = append(tr.waiters[name], fbWaiter{gen: gen, ch: ch})
	tr.mu.Unlock()
	select {
	case at := <-ch:
		return at, nil
	case <-time.After(timeout):
		return time.Time{}, fmt.Errorf("%s: not applied everywhere at generation %d within %v", name, gen, timeout)
	}
}

type fbSample struct {
	at     time.Time
	cpu    float64 // seconds of user+system time
	rssKiB int64
}

// fbProcSample reads a process's CPU time and RSS from /proc (zero values if
// it cannot).
func fbProcSample(pid int) fbSample {
	s := fbSample{at: time.Now()}
	if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		if i := strings.LastIndexByte(string(data), ')'); i > 0 && i+2 < len(data) {
			f := strings.Fields(string(data[i+2:]))
			if len(f) > 12 {
				utime, _ := strconv.ParseFloat(f[11], 64)
				stime, _ := strconv.ParseFloat(f[12], 64)
				s.cpu = (utime + stime) / 100 // USER_HZ
			}
		}
	}
	s.rssKiB = fbStatusKiB(pid, "VmRSS:")
	return s
}

func fbHWM(pid int) int64 { return fbStatusKiB(pid, "VmHWM:") }

func fbStatusKiB(pid int, key string) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, key) {
			if f := strings.Fields(line); len(f) > 1 {
				v, _ := strconv.ParseInt(f[1], 10, 64)
				return v
			}
		}
	}
	return 0
}
