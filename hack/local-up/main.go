// Command local-up runs a local Portico federation on this machine (make up) and
// stops it (make down). Everything lives under _output/local; the processes run
// detached and their PIDs are kept in _output/local/pids.
package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/test/framework"
)

const usage = `usage: local-up up|down|status

  up      start the hub cluster (kube-apiserver + etcd built from source),
          portico-hub with embedded etcd, and member clusters zone-a-1 and
          zone-b-1 (Istio CRDs, a stand-in ingress gateway) joined with
          kubectl portico join and running member-agents; write
          _output/local/kubeconfig, <cluster>.kubeconfig and env; does nothing
          when up
  down    stop every process "up" started (by PID), keeping the data
  status  say whether the local federation is up`

// proc is one started process.
type proc struct {
	name string
	pid  int
	exe  string
}

type paths struct{ dir, pids, env, kubeconfig string }

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	root, err := framework.RepoRoot()
	if err != nil {
		fail(err)
	}
	dir := filepath.Join(root, "_output", "local")
	p := paths{dir, filepath.Join(dir, "pids"), filepath.Join(dir, "env"), filepath.Join(dir, "kubeconfig")}
	switch os.Args[1] {
	case "up":
		err = up(p)
	case "down":
		err = down(p)
	case "status":
		err = status(p)
	default:
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "error:", err)
	os.Exit(1)
}

func up(p paths) error {
	procs, _ := readPIDs(p.pids)
	switch alive := running(procs); {
	case len(procs) > 0 && alive == len(procs):
		fmt.Printf("The local federation is already up; nothing changed.\n  export KUBECONFIG=%s\n", p.kubeconfig)
		return nil
	case alive > 0:
		fmt.Println("The local federation is partly up; stopping what is left before starting again.")
		if err := down(p); err != nil {
			return err
		}
	}
	binDir, err := framework.KubeBinDir()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	var started []proc
	hub, err := framework.StartHubCluster(ctx, framework.HubClusterOptions{Dir: filepath.Join(p.dir, "hub"), Detach: true, BinDir: binDir})
	if err != nil {
		return err
	}
	started = append(started, proc{"etcd", hub.EtcdPID, hub.Etcd.Process.Path}, proc{"kube-apiserver", hub.APIServerPID, hub.APIServer.Path})
	if err := writePIDs(p.pids, started); err != nil {
		return err
	}
	ph, err := framework.StartPorticoHub(ctx, hub, framework.PorticoHubOptions{Dir: filepath.Join(p.dir, "portico-hub"), Detach: true})
	if err != nil {
		_ = down(p)
		return err
	}
	started = append(started, proc{"portico-hub", ph.Process.PID, ph.Process.Path})
	if err := writePIDs(p.pids, started); err != nil {
		return err
	}
	var members []string
	for _, m := range localMembers {
		mc, agent, err := startMember(ctx, p, hub, binDir, m)
		if err != nil {
			_ = down(p)
			return err
		}
		members = append(members, fmt.Sprintf("  %-13s %s   (zone %s; member-agent pid %d, metrics %s)\n", m.name, mc.URL, m.zone, agent.Process.PID, agent.MetricsURL()))
		started = append(started,
			proc{m.name + "-etcd", mc.EtcdPID, mc.Etcd.Process.Path},
			proc{m.name + "-kube-apiserver", mc.APIServerPID, mc.APIServer.Path},
			proc{m.name + "-member-agent", agent.Process.PID, agent.Process.Path})
		if err := writePIDs(p.pids, started); err != nil {
			return err
		}
	}
	if err := createPool(ctx, hub); err != nil {
		_ = down(p)
		return err
	}
	kubeconfig, err := os.ReadFile(hub.KubeconfigPath)
	if err != nil {
		return err
	}
	if err := framework.WriteFile(p.kubeconfig, kubeconfig, 0o600); err != nil {
		return err
	}
	env := []string{
		"PORTICO_KUBECONFIG=" + p.kubeconfig,
		"PORTICO_HUB_CLUSTER_URL=" + hub.URL,
		"PORTICO_HUB_URL=" + ph.URL(),
		"PORTICO_HUB_PID=" + strconv.Itoa(ph.Process.PID),
		"PORTICO_HUB_CLUSTER_APISERVER_PID=" + strconv.Itoa(hub.APIServerPID),
		"PORTICO_HUB_CLUSTER_ETCD_PID=" + strconv.Itoa(hub.EtcdPID),
		"PORTICO_LOG_DIR=" + p.dir,
		"PORTICO_VIP_POOL=" + localPool,
	}
	for _, m := range localMembers {
		env = append(env, "PORTICO_MEMBER_"+envName(m.name)+"_KUBECONFIG="+filepath.Join(p.dir, m.name+".kubeconfig"))
	}
	if err := framework.WriteFile(p.env, []byte(strings.Join(env, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Printf(`The local federation is up (%v).
  hub cluster   %s   (kube-apiserver pid %d, etcd pid %d, logs in %s)
  portico-hub   %s   (pid %d, embedded etcd in %s)
%s
  export KUBECONFIG=%s
  kubectl api-resources --categories=portico
  kubectl apply -f manifests/examples/
  kubectl get fap -A

Stop it with: make down
`, time.Since(start).Round(time.Second), hub.URL, hub.APIServerPID, hub.EtcdPID, hub.Dir,
		ph.URL(), ph.Process.PID, filepath.Join(ph.Options.Dir, "data"), strings.Join(members, ""), p.kubeconfig)
	return nil
}

// member is a member cluster of the local federation.
type member struct{ name, zone, region string }

var localMembers = []member{{"zone-a-1", "zone-a", "r1"}, {"zone-b-1", "zone-b", "r1"}}

// startMember starts a member cluster (kube-apiserver + etcd with Istio's CRDs and
// a stand-in ingress gateway), joins it with `kubectl portico join` and starts its
// member-agent.
func startMember(ctx context.Context, p paths, hub *framework.HubCluster, binDir string, m member) (*framework.MemberCluster, *framework.MemberAgent, error) {
	dir := filepath.Join(p.dir, m.name)
	mc, err := framework.StartMemberCluster(ctx, framework.MemberClusterOptions{Dir: dir, Name: m.name, Detach: true, BinDir: binDir})
	if err != nil {
		return nil, nil, err
	}
	kubeconfig, err := os.ReadFile(mc.KubeconfigPath)
	if err != nil {
		return nil, nil, err
	}
	if err := framework.WriteFile(filepath.Join(p.dir, m.name+".kubeconfig"), kubeconfig, 0o600); err != nil {
		return nil, nil, err
	}
	agent, err := framework.StartMemberAgent(ctx, hub, mc, framework.MemberAgentOptions{
		Dir: filepath.Join(dir, "agent"), Zone: m.zone, Region: m.region, Detach: true,
	})
	return mc, agent, err
}

// localPool is the VIPPool of the local federation (TEST-NET-2, never routed).
const localPool = "local"

func createPool(ctx context.Context, hub *framework.HubCluster) error {
	pc, err := versioned.NewForConfig(hub.RestConfig)
	if err != nil {
		return err
	}
	pool := &trafficv1alpha1.VIPPool{
		ObjectMeta: metav1.ObjectMeta{Name: localPool},
		Spec:       trafficv1alpha1.VIPPoolSpec{CIDRs: []string{"198.51.100.0/24"}, Zones: []string{"zone-a", "zone-b"}, AvoidBuggyIPs: true},
	}
	_, err = pc.TrafficV1alpha1().VIPPools().Create(ctx, pool, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

func envName(s string) string { return strings.ToUpper(strings.ReplaceAll(s, "-", "_")) }

func down(p paths) error {
	procs, err := readPIDs(p.pids)
	if os.IsNotExist(err) {
		fmt.Println("The local federation is not running.")
		return nil
	}
	if err != nil {
		return err
	}
	// Stop in reverse order of start: portico-hub, then kube-apiserver, then etcd.
	for i := len(procs) - 1; i >= 0; i-- {
		pr := procs[i]
		if err := framework.StopPID(pr.pid, pr.exe, framework.DefaultStopTimeout); err != nil {
			return fmt.Errorf("stopping %s (pid %d): %w", pr.name, pr.pid, err)
		}
		fmt.Printf("stopped %s (pid %d)\n", pr.name, pr.pid)
	}
	_ = os.Remove(p.env)
	return os.Remove(p.pids)
}

func status(p paths) error {
	procs, _ := readPIDs(p.pids)
	if len(procs) == 0 {
		fmt.Println("The local federation is not running.")
		return nil
	}
	for _, pr := range procs {
		state := "stopped"
		if framework.PIDRunsBinary(pr.pid, pr.exe) {
			state = "running"
		}
		fmt.Printf("%-15s pid %-8d %s\n", pr.name, pr.pid, state)
	}
	return nil
}

func running(procs []proc) int {
	n := 0
	for _, pr := range procs {
		if framework.PIDRunsBinary(pr.pid, pr.exe) {
			n++
		}
	}
	return n
}

func readPIDs(path string) ([]proc, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var procs []proc
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) != 3 {
			continue
		}
		pid, err := strconv.Atoi(fields[1])
		if err != nil {
			return nil, fmt.Errorf("%s: bad line %q", path, s.Text())
		}
		procs = append(procs, proc{fields[0], pid, fields[2]})
	}
	return procs, s.Err()
}

func writePIDs(path string, procs []proc) error {
	var b strings.Builder
	for _, pr := range procs {
		fmt.Fprintf(&b, "%s %d %s\n", pr.name, pr.pid, pr.exe)
	}
	return framework.WriteFile(path, []byte(b.String()), 0o644)
}
