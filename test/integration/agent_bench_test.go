//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"

	traffic "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// BenchmarkMemberAgent applies PORTICO_BENCH_CLUSTER_ACCESS_POINTS (default 1000)
// ClusterAccessPoints of 5 objects each to one real member cluster, reports the
// agent's RSS and CPU while idle, then p50/p99 from a ClusterAccessPoint change on
// the hub to the agent reporting all its objects applied at the new revision.
func BenchmarkMemberAgent(b *testing.B) {
	n := 1000
	if v := os.Getenv("PORTICO_BENCH_CLUSTER_ACCESS_POINTS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	f := newBenchFederation(b)
	ctx := context.Background()
	caps := f.caps("zone-a-1")
	agentPID := f.agents["zone-a-1"].Process.PID

	start := time.Now()
	for i := 0; i < n; i++ {
		if _, err := caps.Create(ctx, benchCAP(i, "r1", "5s"), metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	for {
		list, err := caps.List(ctx, metav1.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		done := 0
		for _, c := range list.Items {
			if c.Status.ObservedRevision == "r1" && meta.IsStatusConditionTrue(c.Status.Conditions, traffic.ClusterAccessPointApplied) {
				done++
			}
		}
		if done == n {
			break
		}
		if time.Since(start) > 20*time.Minute {
			b.Fatalf("%d of %d applied after 20 minutes", done, n)
		}
		time.Sleep(time.Second)
	}
	initial := time.Since(start)

	cpu0, wall0 := cpuSeconds(b, agentPID), time.Now()
	time.Sleep(30 * time.Second)
	idleCPU := (cpuSeconds(b, agentPID) - cpu0) / time.Since(wall0).Seconds()
	rss := procStatusKiB(b, agentPID, "VmRSS:")

	var lat []time.Duration
	for i := 0; i < 100; i++ {
		name := fmt.Sprintf("bench.app-%d", (i*37)%n)
		rev := fmt.Sprintf("u%d", i)
		lat = append(lat, changeLatency(b, f, name, rev))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(rss)/1024, "agent-rss-MiB")
	b.ReportMetric(idleCPU*100, "agent-idle-cpu-%")
	b.ReportMetric(float64(pct(lat, 50).Microseconds())/1000, "change-p50-ms")
	b.ReportMetric(float64(pct(lat, 99).Microseconds())/1000, "change-p99-ms")
	fmt.Printf("\nmember-agent, %d ClusterAccessPoints x 5 objects on one real member cluster\n", n)
	fmt.Printf("  initial apply of all: %v (%.0f objects/s)\n", initial.Round(time.Second), float64(5*n)/initial.Seconds())
	fmt.Printf("  idle: RSS %d MiB, CPU %.2f%% of one core over 30s\n", rss/1024, idleCPU*100)
	fmt.Printf("  change on the hub -> all objects applied (agent status), %d changes: p50 %v, p99 %v, max %v\n\n",
		len(lat), pct(lat, 50), pct(lat, 99), lat[len(lat)-1])
}

func newBenchFederation(b *testing.B) *federation {
	return newFederationTB(b, map[string]string{"zone-a-1": "zone-a"})
}

// changeLatency updates one ClusterAccessPoint and waits, with a watch, for the
// agent to report the new revision applied.
func changeLatency(b *testing.B, f *federation, name, rev string) time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	caps := f.caps("zone-a-1")
	cur, err := caps.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		b.Fatal(err)
	}
	w, err := caps.Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String(), ResourceVersion: cur.ResourceVersion})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	idx, _ := strconv.Atoi(strings.TrimPrefix(name, "bench.app-"))
	updated := benchCAP(idx, rev, fmt.Sprintf("%ds", 1+len(rev)))
	cur.Spec = updated.Spec
	start := time.Now()
	if _, err := caps.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		b.Fatal(err)
	}
	for ev := range w.ResultChan() {
		if ev.Type != watch.Modified {
			continue
		}
		c := ev.Object.(*traffic.ClusterAccessPoint)
		if c.Status.ObservedRevision == rev && meta.IsStatusConditionTrue(c.Status.Conditions, traffic.ClusterAccessPointApplied) {
			return time.Since(start)
		}
	}
	b.Fatalf("%s: no applied status for %s", name, rev)
	return 0
}

func benchCAP(i int, rev, timeout string) *traffic.ClusterAccessPoint {
	host := fmt.Sprintf("app-%d.example.com", i)
	m := func(apiVersion, kind, spec string) traffic.JSONObject {
		return traffic.JSONObject{Raw: []byte(fmt.Sprintf(`{"apiVersion":%q,"kind":%q,"metadata":{"name":"app-%d","namespace":"bench"},%s}`, apiVersion, kind, i, spec))}
	}
	return newCAP(fmt.Sprintf("bench.app-%d", i), rev,
		m("networking.istio.io/v1", "Gateway", fmt.Sprintf(`"spec":{"selector":{"istio":"ingressgateway"},"servers":[{"port":{"number":80,"name":"http","protocol":"HTTP"},"hosts":[%q]}]}`, host)),
		m("networking.istio.io/v1", "VirtualService", fmt.Sprintf(`"spec":{"hosts":[%q],"gateways":["app-%d"],"http":[{"timeout":%q,"route":[{"destination":{"host":"app-%d.bench.svc.cluster.local"}}]}]}`, host, i, timeout, i)),
		m("networking.istio.io/v1", "DestinationRule", fmt.Sprintf(`"spec":{"host":"app-%d.bench.svc.cluster.local"}`, i)),
		m("networking.istio.io/v1", "ServiceEntry", fmt.Sprintf(`"spec":{"hosts":["ext-%d.example.com"],"ports":[{"number":443,"name":"https","protocol":"TLS"}],"resolution":"DNS"}`, i)),
		m("v1", "Secret", `"type":"Opaque","stringData":{"k":"v"}`),
	)
}

func cpuSeconds(b *testing.B, pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100 // USER_HZ
}
