//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/test/benchfig"
	"github.com/portico-dev/portico/test/framework"
)

// BenchmarkHub stores PORTICO_BENCH_ACCESS_POINTS (default 10,000) access
// points and three ClusterAccessPoints for each through the hub cluster, with
// 10 concurrent clients, and reports create, update and get latencies, the
// time of a full list of the access points (paged as kubectl pages, one
// client) and portico-hub's resident memory. portico-hub runs without its
// controllers: this measures storage and serving. Run it with
// `make bench BENCH=hub`.
func BenchmarkHub(b *testing.B) {
	n := 10000
	if v := os.Getenv("PORTICO_BENCH_ACCESS_POINTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatalf("PORTICO_BENCH_ACCESS_POINTS: %v", err)
		}
	}
	const clients, perAccessPoint, lists = 10, 3, 10
	hub := framework.NewHubCluster(b)
	// --host-grants=enforce, portico-hub's default: every create checks its
	// host against the HostGrants and the other namespaces' access points.
	portico := framework.NewPorticoHub(b, hub, framework.PorticoHubOptions{ExtraArgs: []string{"--controllers="}, HostGrants: "enforce"})
	cfg := *hub.RestConfig
	cfg.QPS, cfg.Burst = 5000, 10000
	pc := versioned.NewForConfigOrDie(&cfg)
	kc := kubernetes.NewForConfigOrDie(&cfg)
	ctx := context.Background()
	clusterNamespaces := make([]string, perAccessPoint)
	for i := range clusterNamespaces {
		clusterNamespaces[i] = clusterv1alpha1.ClusterNamespace(fmt.Sprintf("bench-%d", i))
	}
	for _, ns := range append([]string{"bench"}, clusterNamespaces...) {
		if _, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	grant := &trafficv1alpha1.HostGrant{ObjectMeta: metav1.ObjectMeta{Name: "bench"},
		Spec: trafficv1alpha1.HostGrantSpec{Hosts: []string{"*.example.com"}, Namespaces: []string{"bench"}}}
	if _, err := pc.TrafficV1alpha1().HostGrants().Create(ctx, grant, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	faps := pc.TrafficV1alpha1().FederatedAccessPoints("bench")
	pid := portico.Process.PID
	rssIdle := float64(rssKiB(b, pid)) / 1024

	rssSampler := sampleRSS(pid)

	create := run(b, clients, n, func(j int) error {
		_, err := faps.Create(ctx, benchFAP(j), metav1.CreateOptions{})
		return err
	})
	createCAP := run(b, clients, perAccessPoint*n, func(j int) error {
		cap := benchCAP(j/perAccessPoint, "r1", "5s")
		cap.Spec.AccessPointRef = trafficv1alpha1.AccessPointReference{Namespace: "bench", Name: fmt.Sprintf("app-%d", j/perAccessPoint)}
		_, err := pc.TrafficV1alpha1().ClusterAccessPoints(clusterNamespaces[j%perAccessPoint]).Create(ctx, cap, metav1.CreateOptions{})
		return err
	})
	get := run(b, clients, n, func(j int) error {
		_, err := faps.Get(ctx, fmt.Sprintf("app-%d", (j*7919)%n), metav1.GetOptions{})
		return err
	})
	var updateMu sync.Mutex
	var update []time.Duration
	run(b, clients, n, func(j int) error {
		cur, err := faps.Get(ctx, fmt.Sprintf("app-%d", j), metav1.GetOptions{})
		if err != nil {
			return err
		}
		setVSTimeout(cur, "6s")
		start := time.Now()
		_, err = faps.Update(ctx, cur, metav1.UpdateOptions{})
		d := time.Since(start)
		updateMu.Lock()
		update = append(update, d)
		updateMu.Unlock()
		return err
	})
	// Full lists, one at a time, paged as kubectl pages (500 per request),
	// with each process's CPU over them: where a list's time goes.
	fullList := func() {
		items, cont := 0, ""
		for {
			l, err := faps.List(ctx, metav1.ListOptions{Limit: 500, Continue: cont})
			if err != nil {
				b.Fatal(err)
			}
			items += len(l.Items)
			if cont = l.Continue; cont == "" {
				break
			}
		}
		if items != n {
			b.Fatalf("list returned %d access points, want %d", items, n)
		}
	}
	hubBefore, apiBefore, selfBefore := fbProcSample(pid), fbProcSample(hub.APIServerPID), fbProcSample(os.Getpid())
	var list []time.Duration
	for range lists {
		start := time.Now()
		fullList()
		list = append(list, time.Since(start))
	}
	hubAfter, apiAfter, selfAfter := fbProcSample(pid), fbProcSample(hub.APIServerPID), fbProcSample(os.Getpid())
	listed := hubAfter.at.Sub(hubBefore.at).Seconds()
	b.Logf("%d full lists in %.1f s; CPU over them: portico-hub %.2f cores, hub kube-apiserver %.2f, this process (the client: decoding) %.2f",
		lists, listed, (hubAfter.cpu-hubBefore.cpu)/listed, (apiAfter.cpu-apiBefore.cpu)/listed, (selfAfter.cpu-selfBefore.cpu)/listed)
	listJSON, managed := listBytes(b, pc)
	b.Logf("a full list is %.1f MB of JSON in %d pages, %.1f MB of it the objects' managedFields", float64(listJSON)/1e6, (n+499)/500, float64(managed)/1e6)
	// The CPU profiles of portico-hub and of this process (the client) over
	// more full lists, not measured: the profilers' own cost stays out of the
	// figure.
	var clientProfile bytes.Buffer
	clientErr := pprof.StartCPUProfile(&clientProfile)
	profiled := make(chan struct{})
	go func() {
		defer close(profiled)
		saveHubProfile(b, hub, portico, "/debug/pprof/profile", map[string]string{"seconds": "5"}, "portico-hub-list-cpu.pb.gz")
	}()
	defer func() { <-profiled }() // when a list fails meanwhile
	for listing := true; listing; {
		fullList()
		select {
		case <-profiled:
			listing = false
		default:
		}
	}
	if clientErr == nil {
		pprof.StopCPUProfile()
	}
	saveBenchFile(b, "hub-list-client-cpu.pb.gz", clientProfile.Bytes(), clientErr)
	peak := float64(hwmKiB(b, pid)) / 1024
	rssSamples := rssSampler()
	// What portico-hub's memory holds at the end.
	saveHubProfile(b, hub, portico, "/debug/pprof/heap", map[string]string{"gc": "1"}, "portico-hub-stored-heap.pb.gz")

	what := fmt.Sprintf("through the hub cluster's kube-apiserver (aggregation) to portico-hub (embedded etcd, no controllers, --host-grants=enforce), %d concurrent clients", clients)
	benchfig.Durations(b, "hub/create-access-point", "ms", benchfig.AtMost(100), benchfig.P99, create,
		fmt.Sprintf("one FederatedAccessPoint create (VirtualService + DestinationRule templates, validated against Istio's schema), %d of them; %s", n, what))
	benchfig.Durations(b, "hub/create-cluster-access-point", "ms", benchfig.AtMost(100), benchfig.P99, createCAP,
		fmt.Sprintf("one ClusterAccessPoint create (5 manifests), %d of them; %s", perAccessPoint*n, what))
	benchfig.Durations(b, "hub/update-access-point", "ms", benchfig.AtMost(100), benchfig.P99, update,
		fmt.Sprintf("one FederatedAccessPoint update (a VirtualService timeout), %d of them, with %d stored; %s", n, n, what))
	benchfig.Durations(b, "hub/get-access-point", "ms", benchfig.None, benchfig.P99, get,
		fmt.Sprintf("one FederatedAccessPoint get, %d of them; %s", n, what))
	benchfig.Durations(b, fmt.Sprintf("hub/list-%d-access-points", n), "ms", benchfig.AtMost(1000), benchfig.P99, list,
		fmt.Sprintf("every page (limit 500, as kubectl asks) of a full list of the %d access points, one client at a time, %d stored ClusterAccessPoints beside them; through the hub cluster", n, perAccessPoint*n))
	benchfig.Values(b, "hub/rss", "MiB", benchfig.AtMost(1024), benchfig.Max, append(rssSamples, peak),
		fmt.Sprintf("portico-hub's RSS (embedded etcd included) every 500 ms through the run and its peak (VmHWM): %d access points + %d ClusterAccessPoints stored at the end; idle before: %.0f MiB", n, perAccessPoint*n, rssIdle))
}

func benchFAP(i int) *trafficv1alpha1.FederatedAccessPoint {
	host := fmt.Sprintf("app-%d.example.com", i)
	vs := fmt.Sprintf(`{"hosts":[%q],"gateways":["app-%d"],"http":[{"timeout":"5s","route":[{"destination":{"host":"app-%d.bench.svc.cluster.local","port":{"number":8080}}}]}]}`, host, i, i)
	dr := fmt.Sprintf(`{"host":"app-%d.bench.svc.cluster.local","trafficPolicy":{"loadBalancer":{"simple":"LEAST_REQUEST"}}}`, i)
	return &trafficv1alpha1.FederatedAccessPoint{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("app-%d", i), Labels: map[string]string{"bench": "hub"}},
		Spec: trafficv1alpha1.FederatedAccessPointSpec{
			Hosts:     []string{host},
			Placement: &trafficv1alpha1.Placement{Zones: []string{"zone-a", "zone-b"}},
			Template: trafficv1alpha1.AccessPointTemplate{
				VirtualServices:  []trafficv1alpha1.NamedTemplate{{Name: "app", Spec: trafficv1alpha1.JSONObject{Raw: []byte(vs)}}},
				DestinationRules: []trafficv1alpha1.NamedTemplate{{Name: "app", Spec: trafficv1alpha1.JSONObject{Raw: []byte(dr)}}},
			},
		},
	}
}

// run calls op(0..total-1) from `clients` goroutines and returns the sorted latencies.
func run(b *testing.B, clients, total int, op func(int) error) []time.Duration {
	b.Helper()
	var (
		next      atomic.Int64
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, total)
		firstErr  error
		wg        sync.WaitGroup
	)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := int(next.Add(1)) - 1; j < total; j = int(next.Add(1)) - 1 {
				start := time.Now()
				err := op(j)
				d := time.Since(start)
				mu.Lock()
				latencies = append(latencies, d)
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	slices.Sort(latencies)
	return latencies
}

func pct(sorted []time.Duration, p int) time.Duration {
	return sorted[(len(sorted)-1)*p/100].Round(10 * time.Microsecond)
}

func rssKiB(b *testing.B, pid int) int64 { return procStatusKiB(b, pid, "VmRSS:") }
func hwmKiB(b *testing.B, pid int) int64 { return procStatusKiB(b, pid, "VmHWM:") }

func procStatusKiB(b *testing.B, pid int, key string) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, key) {
			v, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return v
		}
	}
	b.Fatalf("%s not in /proc/%d/status", key, pid)
	return 0
}

// listBytes returns the size of the JSON responses of a full list of the
// access points of namespace bench, paged as the benchmark pages, and how
// much of it their managedFields take.
func listBytes(b *testing.B, pc versioned.Interface) (total, managed int) {
	cont := ""
	for {
		req := pc.TrafficV1alpha1().RESTClient().Get().Namespace("bench").Resource("federatedaccesspoints").Param("limit", "500")
		if cont != "" {
			req = req.Param("continue", cont)
		}
		data, err := req.DoRaw(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		total += len(data)
		var page struct {
			Metadata metav1.ListMeta `json:"metadata"`
			Items    []struct {
				Metadata struct {
					ManagedFields json.RawMessage `json:"managedFields"`
				} `json:"metadata"`
			} `json:"items"`
		}
		if err := json.Unmarshal(data, &page); err != nil {
			b.Fatal(err)
		}
		for _, item := range page.Items {
			managed += len(item.Metadata.ManagedFields)
		}
		if cont = page.Metadata.Continue; cont == "" {
			return total, managed
		}
	}
}
