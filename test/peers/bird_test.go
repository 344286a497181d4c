//go:build peers

package peers

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-dev/portico/test/framework"
	"github.com/portico-dev/portico/test/localfed"
)

const routerASN = 64500

// birdConf: passive eBGP with any speaker of the LAN, routes from them into the
// router namespace's kernel table, equal paths merged into one ECMP route.
const birdConf = `log stderr all;
router id ` + routerAddr + `;
protocol device { scan time 2; }
protocol kernel {
	ipv4 { import none; export all; };
	merge paths on;
}
protocol bgp edge {
	local ` + routerAddr + ` as 64500;
	neighbor range ` + lanPrefix + `.0/24 external;
	dynamic name "edge";
	passive on;
	ipv4 { import all; export none; };
}
`

type bird struct {
	proc *localfed.Process
	sock string
	ns   string
}

func startBIRD(t *testing.T, ns string) *bird {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "bird.conf")
	if err := os.WriteFile(conf, []byte(birdConf), 0o644); err != nil {
		t.Fatal(err)
	}
	b := &bird{sock: filepath.Join(dir, "bird.ctl"), ns: ns}
	var err error
	b.proc, err = localfed.StartProcess(localfed.ProcessOptions{
		Name: "bird", Path: "ip", Args: []string{"netns", "exec", ns, "bird", "-f", "-c", conf, "-s", b.sock},
		LogPath: filepath.Join(dir, "bird.log"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- bird log (tail) ---\n%s", b.proc.LogTail(40))
		}
		if err := b.proc.Stop(); err != nil {
			t.Errorf("stopping bird: %v", err)
		}
	})
	framework.Eventually(t, 10*time.Second, "BIRD's control socket", func() (bool, string) {
		_, err := b.birdc("show", "status")
		return err == nil, fmt.Sprint(err)
	})
	return b
}

func (b *bird) birdc(args ...string) (string, error) {
	out, err := exec.Command("birdc", append([]string{"-s", b.sock}, args...)...).CombinedOutput()
	return string(out), err
}

var viaRE = regexp.MustCompile(`\bvia (\d+\.\d+\.\d+\.\d+)`)

// nextHops lists the next hops of BIRD's routes for prefix (sorted).
func (b *bird) nextHops(prefix string) []string {
	out, err := b.birdc("show", "route", prefix, "all")
	if err != nil {
		return nil
	}
	return uniqueSorted(viaRE.FindAllStringSubmatch(out, -1))
}

// kernelNextHops lists the next hops of the router namespace's kernel route
// for vip, and whether it is one multipath route.
func (b *bird) kernelNextHops(t *testing.T, vip string) ([]string, bool) {
	out := sh(t, "ip", "-n", b.ns, "route", "show", vip+"/32")
	return uniqueSorted(viaRE.FindAllStringSubmatch(out, -1)), strings.Contains(out, "nexthop via")
}

func uniqueSorted(matches [][]string) []string {
	var out []string
	for _, m := range matches {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	slices.Sort(out)
	return out
}

// sessions counts BIRD's established dynamic BGP sessions.
func (b *bird) established() int {
	out, err := b.birdc("show", "protocols")
	if err != nil {
		return 0
	}
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "edge") && strings.Contains(line, "Established") {
			n++
		}
	}
	return n
}
