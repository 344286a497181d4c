//go:build integration

package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"

	traffic "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/test/benchfig"
)

// BenchmarkMemberAgent applies PORTICO_BENCH_CLUSTER_ACCESS_POINTS (default 1000)
// ClusterAccessPoints of 5 objects each to one real member cluster and reports
// the initial apply's rate, the agent's RSS and CPU while idle with them, and
// the time from a ClusterAccessPoint change on the hub to the agent reporting
// all its objects applied at the new revision; then four more rounds of as
// many new ClusterAccessPoints for the rate's other samples. Run it with
// `make bench BENCH=member-agent`.
func BenchmarkMemberAgent(b *testing.B) {
	n := 1000
	if v := os.Getenv("PORTICO_BENCH_CLUSTER_ACCESS_POINTS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	const rounds, changes, objectsPerCAP = 5, 100, 5
	f := newBenchFederation(b)
	agentPID := f.agents["zone-a-1"].Process.PID

	var rates []float64
	round := func(r int) {
		rate := applyRound(b, f, r*n, n, objectsPerCAP)
		rates = append(rates, rate)
		b.Logf("round %d: %d ClusterAccessPoints x %d objects applied at %.0f objects/s", r, n, objectsPerCAP, rate)
	}
	round(0)

	var idleCPU, idleRSS []float64
	for range 5 {
		cpu0, wall0 := cpuSeconds(b, agentPID), time.Now()
		time.Sleep(6 * time.Second)
		idleCPU = append(idleCPU, (cpuSeconds(b, agentPID)-cpu0)/time.Since(wall0).Seconds()*100)
		idleRSS = append(idleRSS, float64(procStatusKiB(b, agentPID, "VmRSS:"))/1024)
	}

	saveProfile(b, f.agents["zone-a-1"].MetricsURL()+"/debug/pprof/heap?gc=1", "member-agent-idle-heap.pb.gz")
	b.Logf("member-agent idle: RSS %d KiB, of which anonymous %d KiB (heap, stacks, runtime) and file-backed %d KiB (the binary's pages)",
		procStatusKiB(b, agentPID, "VmRSS:"), procStatusKiB(b, agentPID, "RssAnon:"), procStatusKiB(b, agentPID, "RssFile:"))

	var lat []time.Duration
	for i := 0; i < changes; i++ {
		name := fmt.Sprintf("bench.app-%d", (i*37)%n)
		rev := fmt.Sprintf("u%d", i)
		lat = append(lat, changeLatency(b, f, name, rev))
	}
	for r := 1; r < rounds; r++ {
		if r == rounds-1 {
			// Where the time goes in the last round: each process's CPU over
			// it, and 10 s of CPU profile of the agent and of the member
			// cluster's kube-apiserver.
			member := f.members["zone-a-1"]
			procs := []struct {
				name string
				pid  int
			}{
				{"member kube-apiserver", member.APIServerPID}, {"member etcd", member.EtcdPID},
				{"member-agent", agentPID}, {"portico-hub", f.portico.Process.PID},
				{"hub kube-apiserver", f.hub.APIServerPID}, {"hub etcd", f.hub.EtcdPID},
				{"this process (creates, watch)", os.Getpid()},
			}
			before := make([]fbSample, len(procs))
			for i, p := range procs {
				before[i] = fbProcSample(p.pid)
			}
			var profiled sync.WaitGroup
			profiled.Go(func() {
				saveProfile(b, f.agents["zone-a-1"].MetricsURL()+"/debug/pprof/profile?seconds=10", "member-agent-apply-cpu.pb.gz")
			})
			profiled.Go(func() {
				data, err := restGet(member.RestConfig, "/debug/pprof/profile", map[string]string{"seconds": "10"})
				saveBenchFile(b, "member-kube-apiserver-apply-cpu.pb.gz", data, err)
			})
			round(r)
			var cpu []string
			for i, p := range procs {
				after := fbProcSample(p.pid)
				cpu = append(cpu, fmt.Sprintf("%s %.2f", p.name, (after.cpu-before[i].cpu)/after.at.Sub(before[i].at).Seconds()))
			}
			b.Logf("round %d, CPU (cores) over it: %s", r, strings.Join(cpu, ", "))
			profiled.Wait()
			continue
		}
		round(r)
	}

	what := fmt.Sprintf("one member-agent and one REAL member cluster (kube-apiserver + etcd), %d ClusterAccessPoints of %d objects "+
		"(Gateway, VirtualService, DestinationRule, ServiceEntry, Secret)", n, objectsPerCAP)
	benchfig.Values(b, "member-agent/initial-apply", "objects/s", benchfig.AtLeast(500), benchfig.Median, rates,
		fmt.Sprintf("%d new ClusterAccessPoints created on the hub at once, until the agent reports every one applied (objects / wall time); "+
			"the first round on an empty cluster, each later one beside the earlier rounds' objects; %s", n, what))
	benchfig.Values(b, "member-agent/idle-rss", "MiB", benchfig.AtMost(30), benchfig.Max, idleRSS,
		"the agent's RSS every 6 s for 30 s after the first round, nothing changing; "+what)
	benchfig.Values(b, "member-agent/idle-cpu", "% of a core", benchfig.AtMost(1), benchfig.Median, idleCPU,
		"the agent's CPU over 6 s windows after the first round, nothing changing; "+what)
	benchfig.Durations(b, "member-agent/change-to-applied", "ms", benchfig.AtMost(100), benchfig.P99, lat,
		"one ClusterAccessPoint updated on the hub (a VirtualService timeout), until its status (watched) shows the new revision applied; one at a time; "+what)
}

// applyRound creates n ClusterAccessPoints numbered from first and returns the
// rate (objects/s) at which the agent reported them all applied, seen through
// a watch.
func applyRound(b *testing.B, f *federation, first, n, objectsPerCAP int) float64 {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	caps := f.caps("zone-a-1")
	list, err := caps.List(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	w, err := caps.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	start := time.Now()
	created := make(chan error, 10)
	for c := range 10 {
		go func() {
			for j := c; j < n; j += 10 {
				if _, err := caps.Create(ctx, benchCAP(first+j, "r1", "5s"), metav1.CreateOptions{}); err != nil {
					created <- err
					return
				}
			}
			created <- nil
		}()
	}
	applied := map[string]bool{}
	timeout := time.After(20 * time.Minute)
	for len(applied) < n {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				b.Fatalf("the watch of ClusterAccessPoints ended after %d of %d applied", len(applied), n)
			}
			c, isCAP := ev.Object.(*traffic.ClusterAccessPoint)
			if !isCAP {
				continue
			}
			idx, _ := strconv.Atoi(strings.TrimPrefix(c.Name, "bench.app-"))
			if idx >= first && idx < first+n && c.Status.ObservedRevision == "r1" && meta.IsStatusConditionTrue(c.Status.Conditions, traffic.ClusterAccessPointApplied) {
				applied[c.Name] = true
			}
		case err := <-created:
			if err != nil {
				b.Fatal(err)
			}
		case <-timeout:
			b.Fatalf("%d of %d applied after 20 minutes", len(applied), n)
		}
	}
	return float64(objectsPerCAP*n) / time.Since(start).Seconds()
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
		// Secrets go to the gateway namespace only (the agent refuses others).
		traffic.JSONObject{Raw: []byte(fmt.Sprintf(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"bench-app-%d","namespace":"istio-system"},"type":"Opaque","stringData":{"k":"v"}}`, i))},
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

// saveProfile writes a Go profile served at url (net/http/pprof) to
// _output/bench/name, for `go tool pprof`, and logs where.
func saveProfile(b *testing.B, url, name string) {
	resp, err := http.Get(url)
	if err != nil {
		saveBenchFile(b, name, nil, err)
		return
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", url, resp.Status)
	}
	saveBenchFile(b, name, data, err)
}
