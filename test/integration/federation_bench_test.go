//go:build integration

package integration

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	"github.com/portico-dev/portico/apis/generated/informers/externalversions"
	traffic "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/test/benchfig"
	"github.com/portico-dev/portico/test/framework"
	"github.com/portico-dev/portico/test/localfed"
)

// BenchmarkFederation measures the time from a FederatedAccessPoint's create
// (and update) to Applied in every placed cluster, observed with a watch on
// the access points (condition Applied=True for the new generation, every
// placed cluster at the new revision). Run it with `make bench BENCH=federation`:
// each figure is printed for the table hack/bench-report makes.
//
// real-2-clusters: two real member clusters with member-agents, one access
// point at a time, PORTICO_BENCH_FED_SAMPLES creates then as many updates
// (default 200: the p99 of 50 is their maximum, which moved by ±40% between
// identical runs).
//
// simulated-N-clusters: PORTICO_BENCH_FED_CLUSTERS (default 100) SIMULATED
// member clusters (simulated_test.go: the member-agent's heartbeat, reconciler
// and endpoints code in this process against the real hub, with an in-memory
// member cluster), then PORTICO_BENCH_FED_BURSTS (default 5) bursts of
// PORTICO_BENCH_FED_ACCESS_POINTS (default 1000) access points, each placed by
// name on PORTICO_BENCH_FED_PLACEMENT (default 3) clusters, created at once by
// PORTICO_BENCH_FED_CREATORS (default 10) goroutines; the bursts add up (the
// last one lands on a hub holding the others). Then PORTICO_BENCH_FED_SAMPLES
// updates one at a time. It reports portico-hub's RSS and CPU (from /proc).
// Agents renew their Lease every PORTICO_BENCH_FED_HEARTBEAT (default 10s,
// the agent's default); the hub's --cluster-lease-grace is 40s (its default).
// PORTICO_BENCH_FED_WORKERS sets portico-hub's --controller-workers.
// PORTICO_BENCH_FED_HUB_GOMEMLIMIT sets portico-hub's GOMEMLIMIT (as the manifest does
// from its memory limit); PORTICO_BENCH_FED_HUB_ARGS adds flags to its command line,
// PORTICO_BENCH_FED_HUB_ENV variables (NAME=VALUE ...) to its environment.
func BenchmarkFederation(b *testing.B) {
	samples := fbEnvInt("PORTICO_BENCH_FED_SAMPLES", 200)
	clusters := fbEnvInt("PORTICO_BENCH_FED_CLUSTERS", 100)
	b.Run("real-2-clusters", func(b *testing.B) { fbReal(b, samples) })
	b.Run(fmt.Sprintf("simulated-%d-clusters", clusters), func(b *testing.B) {
		fbSimulated(b, fbSimOptions{clusters: clusters, accessPoints: fbEnvInt("PORTICO_BENCH_FED_ACCESS_POINTS", 1000),
			placement: fbEnvInt("PORTICO_BENCH_FED_PLACEMENT", 3), creators: fbEnvInt("PORTICO_BENCH_FED_CREATORS", 10),
			bursts: fbEnvInt("PORTICO_BENCH_FED_BURSTS", 5), samples: samples, workers: fbEnvInt("PORTICO_BENCH_FED_WORKERS", 0),
			heartbeat: fbEnvDuration("PORTICO_BENCH_FED_HEARTBEAT", 10*time.Second)})
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
	const what = "2 REAL member clusters (kube-apiserver + etcd + member-agent each); an access point (Gateway, VirtualService, DestinationRule, a VIP from a pool) placed on both"
	benchfig.Durations(b, "federation/real-2/create-to-applied", "ms", benchfig.None, benchfig.P99, creates,
		"one access point created, until its status shows Applied on both clusters (watch); one at a time; "+what)
	benchfig.Durations(b, "federation/real-2/update-to-applied", "ms", benchfig.AtMost(150), benchfig.P99, updates,
		"one access point's VirtualService changed, until its status shows the new generation Applied on both clusters (watch); one at a time; "+what)
	load, _ := os.ReadFile("/proc/loadavg")
	b.Logf("load average at the end: %s", strings.TrimSpace(string(load)))
}

type fbSimOptions struct {
	clusters, accessPoints, placement, creators, bursts, samples int
	workers                                                      int // portico-hub's --controller-workers; 0: its default
	heartbeat                                                    time.Duration
}

func fbSimulated(b *testing.B, o fbSimOptions) {
	hub := framework.NewHubCluster(b)
	args := []string{"--cluster-lease-grace=40s"}
	if o.workers > 0 {
		args = append(args, fmt.Sprintf("--controller-workers=%d", o.workers))
	}
	// More of portico-hub's flags, to compare settings.
	args = append(args, strings.Fields(os.Getenv("PORTICO_BENCH_FED_HUB_ARGS"))...)
	var env []string
	if limit := os.Getenv("PORTICO_BENCH_FED_HUB_GOMEMLIMIT"); limit != "" {
		env = append(env, "GOMEMLIMIT="+limit)
	}
	env = append(env, strings.Fields(os.Getenv("PORTICO_BENCH_FED_HUB_ENV"))...)
	ph := framework.NewPorticoHub(b, hub, framework.PorticoHubOptions{ExtraArgs: args, Env: env})
	pc := fastClient(hub.RestConfig)
	zones := map[string]string{}
	names := make([]string, o.clusters)
	for i := range names {
		names[i] = fmt.Sprintf("sim-%03d", i)
		zones[names[i]] = fmt.Sprintf("zone-%d", i%10)
	}
	start := time.Now()
	sims := startSimClusters(b, hub, zones, simOptions{Heartbeat: o.heartbeat, JoinTimeout: 15 * time.Minute})
	joined := time.Since(start)
	fbWaitAvailable(b, pc, o.clusters, 15*time.Minute)
	b.Logf("%d SIMULATED member clusters joined in %v, all Available after %v",
		o.clusters, joined.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	fbSetup(b, hub, pc, "sim", "sim", "198.18.0.0/16")
	tr := fbTrack(b, pc, "sim", o.placement)
	ctx := context.Background()
	faps := pc.TrafficV1alpha1().FederatedAccessPoints("sim")
	pid, apiPID := ph.Process.PID, hub.APIServerPID

	// portico-hub's RSS, sampled every 500ms from here on.
	rssSampler := sampleRSS(pid)

	var idleCPU []float64
	for range 5 {
		idleCPU = append(idleCPU, fbCPU(pid, 2*time.Second)*100)
	}

	var converged, lat []time.Duration
	var hubCPU, apiCPU, selfCPU, perAP []float64
	var profiled sync.WaitGroup
	defer profiled.Wait()
	for burst := range o.bursts {
		if burst == 0 {
			// Where portico-hub's time goes during the first burst.
			profiled.Go(func() {
				saveHubProfile(b, hub, ph, "/debug/pprof/profile", map[string]string{"seconds": "15"}, "portico-hub-burst-cpu.pb.gz")
			})
		}
		reqBefore := hubRequests(b, hub, ph)
		before, apiBefore, selfBefore := fbProcSample(pid), fbProcSample(apiPID), fbProcSample(os.Getpid())
		starts := make([]time.Time, o.accessPoints)
		var wg sync.WaitGroup
		errs := make(chan error, o.creators)
		for c := 0; c < o.creators; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := c; i < o.accessPoints; i += o.creators {
					placed := make([]traffic.ClusterReference, o.placement)
					for k := range placed {
						placed[k].Name = names[(burst+i*o.placement+k)%o.clusters]
					}
					starts[i] = time.Now()
					if _, err := faps.Create(ctx, fbAccessPoint("sim", fbSimName(burst, i), "sim", placed), metav1.CreateOptions{}); err != nil {
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
		var last time.Time
		for i := range o.accessPoints {
			at, err := tr.wait(fbSimName(burst, i), 1, 30*time.Minute)
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, at.Sub(starts[i]))
			if at.After(last) {
				last = at
			}
		}
		after, apiAfter, selfAfter := fbProcSample(pid), fbProcSample(apiPID), fbProcSample(os.Getpid())
		d := last.Sub(before.at)
		converged = append(converged, d)
		if delta, total := requestDelta(reqBefore, hubRequests(b, hub, ph)); total > 0 {
			perAP = append(perAP, total/float64(o.accessPoints))
			b.Logf("burst %d: portico-hub served %.0f requests (%.1f per access point, watches not counted; the agents' included): %s",
				burst, total, total/float64(o.accessPoints), fbRequestList(delta))
		}
		secs := after.at.Sub(before.at).Seconds()
		hubCPU = append(hubCPU, (after.cpu-before.cpu)/secs)
		apiCPU = append(apiCPU, (apiAfter.cpu-apiBefore.cpu)/secs)
		selfCPU = append(selfCPU, (selfAfter.cpu-selfBefore.cpu)/secs)
		b.Logf("burst %d: %d access points created by %d goroutines in %v, all Applied on their %d clusters after %v; "+
			"CPU: portico-hub %.2f cores, hub kube-apiserver %.2f, this process (%d simulated agents) %.2f",
			burst, o.accessPoints, o.creators, createdIn.Round(time.Millisecond), o.placement, d.Round(time.Millisecond),
			hubCPU[burst], apiCPU[burst], o.clusters, selfCPU[burst])
	}

	// Every simulated cluster holds what was placed on it.
	objects := 0
	for _, sc := range sims {
		objects += sc.Applier.Len()
	}
	if want := o.bursts * o.accessPoints * o.placement * 3; objects != want {
		b.Errorf("the simulated clusters hold %d objects, want %d (%d access points x %d clusters x 3)", objects, want, o.bursts*o.accessPoints, o.placement)
	}

	// Steady state with every access point applied: nothing changes but the
	// agents' heartbeats.
	time.Sleep(5 * time.Second)
	var steadyCPU []float64
	steadyReq := hubRequests(b, hub, ph)
	// Where portico-hub's time goes when nothing but heartbeats changes.
	profiled.Go(func() {
		saveHubProfile(b, hub, ph, "/debug/pprof/profile", map[string]string{"seconds": "15"}, "portico-hub-steady-cpu.pb.gz")
	})
	for range 5 {
		steadyCPU = append(steadyCPU, fbCPU(pid, 4*time.Second)*100)
	}
	if delta, total := requestDelta(steadyReq, hubRequests(b, hub, ph)); total > 0 {
		b.Logf("steady state: portico-hub served %.0f requests in 20 s: %s", total, fbRequestList(delta))
	}
	// What portico-hub's memory holds with every access point applied (gc=1:
	// after a collection, so the profile shows live memory, not the last
	// cycle's garbage).
	saveHubProfile(b, hub, ph, "/debug/pprof/heap", map[string]string{"gc": "1"}, "portico-hub-steady-heap.pb.gz")
	b.Logf("portico-hub with every access point applied: RSS %d MiB, of which anonymous %d MiB and file-backed %d MiB (embedded etcd's mapped database)",
		fbStatusKiB(pid, "VmRSS:")/1024, fbStatusKiB(pid, "RssAnon:")/1024, fbStatusKiB(pid, "RssFile:")/1024)

	// Updates on the loaded hub, one at a time, each traced.
	total := o.bursts * o.accessPoints
	var updates []time.Duration
	trace := &fbUpdateTrace{}
	fbTraceUpdates(b, pc, "sim", trace)
	type traced struct {
		name   string
		d      time.Duration
		events []string
	}
	var traces []traced
	var segments [3][]time.Duration
	durBefore := hubRequestMetric(b, hub, ph, "apiserver_request_duration_seconds_sum")
	countBefore := hubRequestMetric(b, hub, ph, "apiserver_request_duration_seconds_count")
	etcdBefore := hubRequestMetric(b, hub, ph, "etcd_request_duration_seconds_sum")
	etcdCountBefore := hubRequestMetric(b, hub, ph, "etcd_request_duration_seconds_count")
	// A CPU profile of portico-hub over the first updates.
	profiled.Go(func() {
		saveHubProfile(b, hub, ph, "/debug/pprof/profile", map[string]string{"seconds": "10"}, "portico-hub-updates-cpu.pb.gz")
	})
	for i := 0; i < o.samples; i++ {
		j := (i * 7919) % total
		name := fbSimName(j/o.accessPoints, j%o.accessPoints)
		cur, err := faps.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			b.Fatal(err)
		}
		setVSTimeout(cur, fmt.Sprintf("%ds", 6+i%20))
		trace.start(name)
		t0 := time.Now()
		updated, err := faps.Update(ctx, cur, metav1.UpdateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		trace.add(name, "update returned")
		at, err := tr.wait(name, updated.Generation, 2*time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		updates = append(updates, at.Sub(t0))
		events, sent, reported := trace.stop()
		traces = append(traces, traced{name, at.Sub(t0), events})
		if !sent.IsZero() && !reported.IsZero() && !reported.Before(sent) && !at.Before(reported) {
			segments[0] = append(segments[0], sent.Sub(t0))
			segments[1] = append(segments[1], reported.Sub(sent))
			segments[2] = append(segments[2], at.Sub(reported))
		}
	}
	fbSegments(b, segments)
	// The time portico-hub took per request during the updates, by kind.
	if durs, _ := requestDelta(durBefore, hubRequestMetric(b, hub, ph, "apiserver_request_duration_seconds_sum")); len(durs) > 0 {
		counts, _ := requestDelta(countBefore, hubRequestMetric(b, hub, ph, "apiserver_request_duration_seconds_count"))
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(counts)) {
			parts = append(parts, fmt.Sprintf("%s %.1f ms (%.0f)", k, durs[k]/counts[k]*1000, counts[k]))
		}
		b.Logf("updates: portico-hub's mean time per request (count): %s", strings.Join(parts, ", "))
	}
	// Of which its etcd's (embedded) time per operation.
	if durs, _ := requestDelta(etcdBefore, hubRequestMetric(b, hub, ph, "etcd_request_duration_seconds_sum")); len(durs) > 0 {
		counts, _ := requestDelta(etcdCountBefore, hubRequestMetric(b, hub, ph, "etcd_request_duration_seconds_count"))
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(counts)) {
			if counts[k] > 0 {
				parts = append(parts, fmt.Sprintf("%s %.2f ms (%.0f)", k, durs[k]/counts[k]*1000, counts[k]))
			}
		}
		b.Logf("updates: portico-hub's mean time per etcd operation (count): %s", strings.Join(parts, ", "))
	}
	// Where the slowest updates waited.
	slices.SortFunc(traces, func(a, b traced) int { return int(b.d - a.d) })
	for _, t := range traces[:min(3, len(traces))] {
		b.Logf("update of %s took %v:\n  %s", t.name, t.d.Round(100*time.Microsecond), strings.Join(t.events, "\n  "))
	}
	if len(traces) > 0 {
		t := traces[len(traces)/2]
		b.Logf("a median update (%s, %v) for comparison:\n  %s", t.name, t.d.Round(100*time.Microsecond), strings.Join(t.events, "\n  "))
	}

	prefix := fmt.Sprintf("federation/sim-%d/", o.clusters)
	what := fmt.Sprintf("%d SIMULATED member clusters (the member-agent's code in the test process over in-memory member clusters), a real hub; "+
		"%d access points (Gateway, VirtualService, DestinationRule, a VIP) each placed by name on %d clusters", o.clusters, o.accessPoints, o.placement)
	benchfig.Durations(b, prefix+"burst-converged", "s", benchfig.AtMost(20), benchfig.Median, converged,
		"from the first create of a burst until every access point of it shows Applied on all its clusters; bursts add up on the hub; "+what)
	benchfig.Durations(b, prefix+"burst-create-to-applied", "s", benchfig.None, benchfig.P99, lat,
		"one access point of a burst, from its create to Applied on all its clusters; "+what)
	benchfig.Durations(b, prefix+"update-to-applied", "ms", benchfig.AtMost(150), benchfig.P99, updates,
		"one access point's VirtualService changed on the loaded hub, until its status shows the new generation Applied on its clusters; one at a time; "+what)
	rssSamples := rssSampler()
	benchfig.Values(b, prefix+"hub-rss", "MiB", benchfig.None, benchfig.Max, rssSamples,
		fmt.Sprintf("portico-hub's RSS (embedded etcd included), every 500 ms through the bursts and updates; %d access points at the end", total))
	benchfig.Values(b, prefix+"requests-per-access-point", "requests", benchfig.None, benchfig.Median, perAP,
		"the requests (not watches) portico-hub served during a burst, over its access points: the controllers' and the agents'")
	benchfig.Values(b, prefix+"hub-cpu-burst", "cores", benchfig.None, benchfig.Median, hubCPU,
		"portico-hub's CPU time over a burst's wall time (2 cores shared with the hub kube-apiserver and the simulated agents)")
	benchfig.Values(b, prefix+"hub-cpu-idle", "% of a core", benchfig.None, benchfig.Median, idleCPU,
		"portico-hub's CPU over 2 s windows before the bursts: clusters heartbeating, no access point")
	benchfig.Values(b, prefix+"hub-cpu-steady", "% of a core", benchfig.None, benchfig.Median, steadyCPU,
		fmt.Sprintf("portico-hub's CPU over 4 s windows after the bursts: %d access points applied, only heartbeats", total))
	benchfig.Values(b, prefix+"hub-kube-apiserver-cpu-burst", "cores", benchfig.None, benchfig.Median, apiCPU,
		"the hub cluster's kube-apiserver (aggregation proxy to portico-hub) over a burst")
	load, _ := os.ReadFile("/proc/loadavg")
	b.Logf("load average at the end: %s (2 cores, shared)", strings.TrimSpace(string(load)))
}

// fbRequestList prints request counts by verb and resource, sorted.
func fbRequestList(counts map[string]float64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%s %.0f", k, counts[k]))
	}
	return strings.Join(parts, ", ")
}

func fbSimName(burst, i int) string { return fmt.Sprintf("b%d-ap-%04d", burst, i) }

// sampleRSS samples a process's RSS (MiB) every 500 ms until the returned
// function is called; it returns the samples.
func sampleRSS(pid int) func() []float64 {
	stop, done := make(chan struct{}), make(chan []float64)
	go func() {
		var rss []float64
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				done <- rss
				return
			case <-t.C:
				if v := fbStatusKiB(pid, "VmRSS:"); v > 0 {
					rss = append(rss, float64(v)/1024)
				}
			}
		}
	}()
	return func() []float64 {
		close(stop)
		return <-done
	}
}

// fbCPU is a process's CPU use (cores) over d.
func fbCPU(pid int, d time.Duration) float64 {
	a := fbProcSample(pid)
	time.Sleep(d)
	z := fbProcSample(pid)
	return (z.cpu - a.cpu) / z.at.Sub(a.at).Seconds()
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

// hubGet reads a path from portico-hub's own port (the hub's admin
// certificate authenticates there too): its /metrics, its --profiling
// endpoints.
func hubGet(hub *framework.HubCluster, ph *framework.PorticoHub, path string, params map[string]string) ([]byte, error) {
	cfg := rest.CopyConfig(hub.RestConfig)
	cfg.Host = fmt.Sprintf("https://127.0.0.1:%d", ph.Port)
	cfg.CAData = ph.CA.CertPEM
	return restGet(cfg, path, params)
}

// restGet reads a path from the API server cfg points at, with its
// credentials (a kube-apiserver's --profiling endpoints, its /metrics).
func restGet(cfg *rest.Config, path string, params map[string]string) ([]byte, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = 5 * time.Minute
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	req := kc.CoreV1().RESTClient().Get().AbsPath(path)
	for k, v := range params {
		req = req.Param(k, v)
	}
	return req.DoRaw(context.Background())
}

// saveHubProfile fetches a Go profile from portico-hub into _output/bench/name,
// for `go tool pprof`.
func saveHubProfile(b *testing.B, hub *framework.HubCluster, ph *framework.PorticoHub, path string, params map[string]string, name string) {
	data, err := hubGet(hub, ph, path, params)
	saveBenchFile(b, name, data, err)
}

// saveBenchFile writes a profile (data, unless err) to _output/bench/name,
// for `go tool pprof`, and logs where, or why not.
func saveBenchFile(b *testing.B, name string, data []byte, err error) {
	root, rootErr := localfed.RepoRoot()
	if err == nil {
		err = rootErr
	}
	if err == nil {
		err = os.MkdirAll(filepath.Join(root, "_output", "bench"), 0o755)
	}
	file := filepath.Join(root, "_output", "bench", name)
	if err == nil {
		err = os.WriteFile(file, data, 0o644)
	}
	if err != nil {
		b.Logf("profile %s: %v", name, err)
		return
	}
	b.Logf("profile saved: go tool pprof %s", file)
}

// hubRequests counts the requests portico-hub served, by verb and resource
// (its apiserver_request_total).
func hubRequests(b *testing.B, hub *framework.HubCluster, ph *framework.PorticoHub) map[string]float64 {
	return hubRequestMetric(b, hub, ph, "apiserver_request_total")
}

// hubRequestMetric sums one of portico-hub's apiserver_request_* metrics over
// its labels but verb, resource and subresource, for Portico's resources.
func hubRequestMetric(b *testing.B, hub *framework.HubCluster, ph *framework.PorticoHub, name string) map[string]float64 {
	data, err := hubGet(hub, ph, "/metrics", nil)
	if err != nil {
		b.Logf("portico-hub /metrics: %v", err)
		return nil
	}
	counts := map[string]float64{}
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		labels, value, ok := strings.Cut(strings.TrimPrefix(line, name+"{"), "} ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			continue
		}
		l := map[string]string{}
		for _, kv := range strings.Split(labels, ",") {
			if k, val, ok := strings.Cut(kv, "="); ok {
				l[k] = strings.Trim(val, `"`)
			}
		}
		if l["group"] != "traffic.portico.dev" && l["group"] != "cluster.portico.dev" {
			continue
		}
		verb := l["verb"]
		if verb == "" {
			verb = "etcd " + l["operation"] // etcd_request_duration_seconds
		}
		key := verb + " " + l["resource"]
		if l["subresource"] != "" {
			key += "/" + l["subresource"]
		}
		counts[key] += v
	}
	return counts
}

// requestDelta is after - before, by key, and its total.
func requestDelta(before, after map[string]float64) (map[string]float64, float64) {
	d, total := map[string]float64{}, 0.0
	for k, v := range after {
		if n := v - before[k]; n > 0 && !strings.HasPrefix(k, "WATCH") {
			d[k] = n
			total += n
		}
	}
	return d, total
}

// fbUpdateTrace records, for the access point being updated, when each of
// its objects changed as the hub and the agents saw them (the access point
// and its ClusterAccessPoints, through watches): where a slow update
// waited. It also keeps when the last ClusterAccessPoint was sent the change
// and when the last agent reported it applied, for the update's segments.
type fbUpdateTrace struct {
	mu             sync.Mutex
	name           string // "" when not tracing
	t0             time.Time
	events         []string
	sent, reported time.Time
}

func (t *fbUpdateTrace) start(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.name, t.t0, t.events, t.sent, t.reported = name, time.Now(), nil, time.Time{}, time.Time{}
}

// stop ends the trace and returns its events, and when the last
// ClusterAccessPoint was sent the change and the last agent reported it.
func (t *fbUpdateTrace) stop() ([]string, time.Time, time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.name = ""
	return t.events, t.sent, t.reported
}

func (t *fbUpdateTrace) add(name string, format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.name == "" || name != t.name {
		return
	}
	t.events = append(t.events, fmt.Sprintf("+%5.1fms ", float64(time.Since(t.t0).Microseconds())/1000)+fmt.Sprintf(format, args...))
}

// capChanged notes a ClusterAccessPoint of the traced access point: sent a
// revision its agent has not reported yet, or reported.
func (t *fbUpdateTrace) capChanged(name string, reported bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.name == "" || name != t.name {
		return
	}
	if reported {
		t.reported = time.Now()
	} else {
		t.sent = time.Now()
	}
}

// fbSegments logs the median and p99 of each segment of the traced updates:
// from the update's start until the last ClusterAccessPoint was sent the
// change, then until the last agent reported it, then until the access point
// showed it Applied.
func fbSegments(b *testing.B, segs [3][]time.Duration) {
	names := [3]string{"update -> last ClusterAccessPoint sent", "-> last agent report", "-> access point Applied"}
	var parts []string
	for i, d := range segs {
		if len(d) == 0 {
			continue
		}
		ms := make([]float64, len(d))
		for j, v := range d {
			ms[j] = float64(v.Microseconds()) / 1000
		}
		// Not a figure of the table: its statistics only.
		f := benchfig.New(names[i], "ms", benchfig.None, benchfig.P99, ms, "")
		parts = append(parts, fmt.Sprintf("%s: median %.1f ms, p99 %.1f ms", names[i], f.Median, f.Measured))
	}
	b.Logf("updates, where the time goes (%d traced): %s", len(segs[0]), strings.Join(parts, "; "))
}

// fbTraceUpdates watches the namespace's access points and every
// ClusterAccessPoint into t.
func fbTraceUpdates(b *testing.B, pc versioned.Interface, ns string, t *fbUpdateTrace) {
	factory := externalversions.NewSharedInformerFactory(pc, 0)
	faps := factory.Traffic().V1alpha1().FederatedAccessPoints().Informer()
	caps := factory.Traffic().V1alpha1().ClusterAccessPoints().Informer()
	_, _ = faps.AddEventHandler(cache.ResourceEventHandlerFuncs{UpdateFunc: func(old, obj any) {
		fap := obj.(*traffic.FederatedAccessPoint)
		if fap.Namespace != ns {
			return
		}
		applied := 0
		var clusters []string
		for _, s := range fap.Status.Clusters {
			if s.Phase == traffic.ClusterPhaseApplied && s.ObservedRevision == fap.Status.Revision {
				applied++
			}
			clusters = append(clusters, fmt.Sprintf("%s %.8s", s.Phase, s.ObservedRevision))
		}
		t.add(fap.Name, "access point: generation %d, status: observedGeneration %d revision %.8s, %d of %d clusters applied it (%s); changed: %s",
			fap.Generation, fap.Status.ObservedGeneration, fap.Status.Revision, applied, len(fap.Status.Clusters), strings.Join(clusters, ", "),
			statusChanges(old.(*traffic.FederatedAccessPoint), fap))
	}})
	_, _ = caps.AddEventHandler(cache.ResourceEventHandlerFuncs{UpdateFunc: func(_, obj any) {
		cap := obj.(*traffic.ClusterAccessPoint)
		if cap.Spec.AccessPointRef.Namespace != ns {
			return
		}
		t.add(cap.Spec.AccessPointRef.Name, "%s's ClusterAccessPoint: spec.revision %.8s, status.observedRevision %.8s",
			cap.Namespace, cap.Spec.Revision, cap.Status.ObservedRevision)
		t.capChanged(cap.Spec.AccessPointRef.Name, cap.Status.ObservedRevision == cap.Spec.Revision)
	}})
	stop := make(chan struct{})
	factory.Start(stop)
	b.Cleanup(func() {
		close(stop)
		factory.Shutdown()
	})
	if !cache.WaitForCacheSync(stop, faps.HasSynced, caps.HasSynced) {
		b.Fatal("trace informers did not sync")
	}
}

// statusChanges names the status fields that differ between two versions of
// an access point (conditions and clusters by their entries).
func statusChanges(a, b *traffic.FederatedAccessPoint) string {
	var out []string
	if !equality.Semantic.DeepEqual(a.Spec, b.Spec) {
		out = append(out, "spec")
	}
	as, bs := a.Status.DeepCopy(), b.Status.DeepCopy()
	for _, c := range bs.Conditions {
		if o := meta.FindStatusCondition(as.Conditions, c.Type); o == nil || !equality.Semantic.DeepEqual(*o, c) {
			out = append(out, "condition "+c.Type)
		}
	}
	for i, c := range bs.Clusters {
		if i >= len(as.Clusters) || !equality.Semantic.DeepEqual(as.Clusters[i], c) {
			out = append(out, "cluster "+c.Name)
		}
	}
	as.Conditions, bs.Conditions, as.Clusters, bs.Clusters = nil, nil, nil, nil
	if !equality.Semantic.DeepEqual(as, bs) {
		out = append(out, fmt.Sprintf("other status fields: %s", cmp.Diff(as, bs)))
	}
	return strings.Join(out, ", ")
}
