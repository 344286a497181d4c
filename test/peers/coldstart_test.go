//go:build peers

package peers

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-dev/portico/lb-agent/statefile"
	"github.com/portico-dev/portico/test/framework"
)

// staleVIP is deleted on the hub while node a cannot see the hub.
const staleVIP = "198.51.100.20"

// TestLBAgentColdStartWithoutHub: an lb-agent killed and started again while
// the hub is unreachable serves the desired state of its state file (the
// routes come back at BIRD, health checks still withdraw them), and once the
// hub answers again it reconciles: a VirtualIP deleted meanwhile is withdrawn.
func TestLBAgentColdStartWithoutHub(t *testing.T) {
	requireTools(t)
	e := setup(t)
	a, b := e.nodes[0], e.nodes[1]
	e.createVIP(staleVIP)
	e.waitHops(t, baseVIP, 30*time.Second, a, b)
	e.waitHops(t, staleVIP, 30*time.Second, a, b)
	path := statefile.Path(e.stateDir(), a.name)
	framework.Eventually(t, 30*time.Second, a.name+"'s state file with both VIPs", func() (bool, string) {
		st, _, err := statefile.Load(path)
		if err != nil {
			return false, err.Error()
		}
		return slices.Equal(vipNames(st), []string{baseVIP, staleVIP}), fmt.Sprint(vipNames(st))
	})

	// The hub goes away for node a: portico-hub stops, and a's namespace no
	// longer reaches the hub cluster's API server at all.
	if err := e.ph.Stop(); err != nil {
		t.Fatal(err)
	}
	a.fwd.Close()
	if _, err := e.portico.TrafficV1alpha1().VirtualIPs().Get(context.Background(), baseVIP, metav1.GetOptions{}); err == nil {
		t.Fatal("the Portico API still answers with portico-hub stopped")
	}

	// kill -9: a's paths leave BIRD; b keeps both VIPs.
	if err := syscall.Kill(a.proc.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.proc.Done()
	e.waitHops(t, baseVIP, 30*time.Second, b)
	e.waitHops(t, staleVIP, 30*time.Second, b)

	// Started again, still without a hub, a serves and announces its VIPs.
	restart := time.Now()
	e.startAgent(a)
	back := e.measureHops(t, baseVIP, 60*time.Second, a, b)
	e.waitHops(t, staleVIP, 30*time.Second, a, b)
	t.Logf("MEASURE agent restarted without a hub -> its path back in BIRD: %v", back.Sub(restart).Round(time.Millisecond))
	e.expectMetrics(t, a, map[string]string{
		"portico_lb_serving_from_disk":                                              "1",
		"portico_lb_dataplane_services":                                             "2", // the in-memory dataplane serves both VIPs
		"portico_lb_dataplane_destinations":                                         "2",
		"portico_lb_announced_vips":                                                 "2",
		`portico_lb_backend_healthy{backend="` + backendAddr + `:8080",type="tcp"}`: "1",
	})
	if got := e.get(t, a, "/healthz"); got != "ok" {
		t.Errorf("%s's /healthz while serving its state file: %q", a.name, got)
	}
	if log, _ := os.ReadFile(a.proc.LogPath); !strings.Contains(string(log), "Serving the desired state of the state file") {
		t.Errorf("%s's log does not say it serves its state file", a.name)
	}

	// Health checks still gate the state file's announcements.
	sh(t, "ip", "-n", a.ns, "route", "add", "prohibit", backendAddr+"/32")
	e.waitHops(t, baseVIP, 30*time.Second, b)
	sh(t, "ip", "-n", a.ns, "route", "del", "prohibit", backendAddr+"/32")
	e.waitHops(t, baseVIP, 30*time.Second, a, b)

	// Not a wait: the agent keeps serving while the hub stays away.
	hold := time.Now()
	for time.Since(hold) < 10*time.Second {
		if hops := e.bird.nextHops(baseVIP + "/32"); !slices.Equal(hops, e.addrs(a, b)) {
			t.Fatalf("%v without a hub the next hops are %v", time.Since(hold).Round(time.Millisecond), hops)
		}
		if exited, err := a.proc.Exited(); exited {
			t.Fatalf("%s exited without a hub: %v", a.name, err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// portico-hub is back, still out of a's reach: the VirtualIP deleted now
	// leaves b at once, and a only when it reaches the hub again.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := e.ph.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	e.deleteVIP(staleVIP)
	e.waitHops(t, staleVIP, 90*time.Second, a)
	reachable := time.Now()
	a.fwd = forwardHub(t, a.ns, e.hubPort)
	e.waitHops(t, staleVIP, 90*time.Second)
	t.Logf("MEASURE hub reachable again -> the VirtualIP deleted meanwhile withdrawn by %s: %v", a.name, time.Since(reachable).Round(time.Millisecond))
	e.waitHops(t, baseVIP, 10*time.Second, a, b)
	e.expectMetrics(t, a, map[string]string{
		"portico_lb_serving_from_disk":  "0",
		"portico_lb_dataplane_services": "1",
		"portico_lb_announced_vips":     "1",
	})
	framework.Eventually(t, 60*time.Second, a.name+"'s status and state file from the hub", func() (bool, string) {
		lbn, err := e.portico.ClusterV1alpha1().LoadBalancerNodes().Get(context.Background(), a.name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		st, _, err := statefile.Load(path)
		if err != nil {
			return false, err.Error()
		}
		return slices.Equal(lbn.Status.Announced, []string{baseVIP}) && meta.IsStatusConditionTrue(lbn.Status.Conditions, "Ready") &&
				slices.Equal(vipNames(st), []string{baseVIP}),
			fmt.Sprintf("announced %v, conditions %+v, state file %v", lbn.Status.Announced, lbn.Status.Conditions, vipNames(st))
	})
}

// expectMetrics checks samples of n's /metrics (name with labels -> value).
func (e *env) expectMetrics(t *testing.T, n *node, want map[string]string) {
	t.Helper()
	framework.Eventually(t, 30*time.Second, n.name+"'s metrics "+fmt.Sprint(want), func() (bool, string) {
		got := map[string]string{}
		for _, line := range strings.Split(e.get(t, n, "/metrics"), "\n") {
			if name, value, ok := strings.Cut(line, " "); ok && want[name] != "" {
				got[name] = value
			}
		}
		for name, v := range want {
			if got[name] != v {
				return false, fmt.Sprint(got)
			}
		}
		return true, ""
	})
}

func vipNames(st statefile.State) []string {
	var out []string
	for _, v := range st.VirtualIPs {
		out = append(out, v.Name)
	}
	return out
}
