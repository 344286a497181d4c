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
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/test/framework"
)

// BenchmarkHub stores PORTICO_BENCH_ACCESS_POINTS (default 10,000) access points
// through the hub cluster and reports p50/p99 of create, get and list with 10
// concurrent clients, and portico-hub's resident memory. Run it with `make bench`.
func BenchmarkHub(b *testing.B) {
	n := 10000
	if v := os.Getenv("PORTICO_BENCH_ACCESS_POINTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatalf("PORTICO_BENCH_ACCESS_POINTS: %v", err)
		}
	}
	const clients = 10
	hub := framework.NewHubCluster(b)
	portico := framework.NewPorticoHub(b, hub, framework.PorticoHubOptions{})
	cfg := *hub.RestConfig
	cfg.QPS, cfg.Burst = 5000, 10000
	pc := versioned.NewForConfigOrDie(&cfg)
	ctx := context.Background()
	if _, err := kubernetes.NewForConfigOrDie(&cfg).CoreV1().Namespaces().Create(ctx,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	faps := pc.TrafficV1alpha1().FederatedAccessPoints("bench")
	rssIdle := rssKiB(b, portico.Process.PID)

	for i := 0; i < b.N; i++ {
		create := run(b, clients, n, func(j int) error {
			_, err := faps.Create(ctx, benchFAP(j), metav1.CreateOptions{})
			return err
		})
		rssStored := rssKiB(b, portico.Process.PID)
		get := run(b, clients, n, func(j int) error {
			_, err := faps.Get(ctx, fmt.Sprintf("app-%d", (j*7919)%n), metav1.GetOptions{})
			return err
		})
		var items atomic.Int64
		list := run(b, clients, 5*clients, func(int) error {
			l, err := faps.List(ctx, metav1.ListOptions{})
			if err == nil {
				items.Store(int64(len(l.Items)))
			}
			return err
		})
		if int(items.Load()) != n {
			b.Fatalf("list returned %d access points, want %d", items.Load(), n)
		}
		peak := hwmKiB(b, portico.Process.PID)
		report(b, "create", create)
		report(b, "get", get)
		report(b, "list", list)
		b.ReportMetric(float64(rssIdle)/1024, "rss-idle-MiB")
		b.ReportMetric(float64(rssStored)/1024, "rss-stored-MiB")
		b.ReportMetric(float64(peak)/1024, "rss-peak-MiB")
		fmt.Printf("\nportico-hub through the hub cluster, %d FederatedAccessPoints, %d concurrent clients\n", n, clients)
		fmt.Printf("  %-6s %8s %10s %10s %10s\n", "op", "count", "p50", "p99", "max")
		for _, r := range []struct {
			name string
			d    []time.Duration
		}{{"create", create}, {"get", get}, {"list", list}} {
			fmt.Printf("  %-6s %8d %10v %10v %10v\n", r.name, len(r.d), pct(r.d, 50), pct(r.d, 99), r.d[len(r.d)-1])
		}
		fmt.Printf("  portico-hub RSS: idle %d MiB, with %d stored %d MiB, peak %d MiB\n\n", rssIdle/1024, n, rssStored/1024, peak/1024)
	}
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

func report(b *testing.B, name string, d []time.Duration) {
	b.ReportMetric(float64(pct(d, 50).Microseconds())/1000, name+"-p50-ms")
	b.ReportMetric(float64(pct(d, 99).Microseconds())/1000, name+"-p99-ms")
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
