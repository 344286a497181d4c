package localup

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/portico-dev/portico/test/localfed"
)

// BIRD is the router: BIRD 2 in the router namespace, passive eBGP with every
// edge node of each zone's subnet, equal routes merged into ECMP kernel routes.
type BIRD struct {
	// Socket is BIRD's control socket: birdc -s Socket show route.
	Socket  string
	Process *localfed.Process
}

// birdConf peers with the nodes of every zone (one protocol per zone, named
// after it, with dynamic sessions) and exports the routes they announce into the
// router namespace's kernel table.
func birdConf() string {
	var b strings.Builder
	fmt.Fprintf(&b, `log stderr all;
router id %s;
protocol device { scan time 2; }
protocol kernel {
	ipv4 { import none; export all; };
	merge paths on;
}
`, Zones[0].RouterAddress())
	for _, z := range Zones {
		name := strings.ReplaceAll(z.Name, "-", "_")
		fmt.Fprintf(&b, `protocol bgp %[1]s {
	local %[2]s as %[3]d;
	neighbor range %[4]s.0/24 external;
	dynamic name "%[1]s_";
	passive on;
	ipv4 { import all; export none; };
}
`, name, z.RouterAddress(), RouterASN, z.Subnet)
	}
	return b.String()
}

// lookBIRD finds bird and birdc, installing BIRD 2 with hack/install-bird.sh
// when they are missing.
func lookBIRD(root string) (string, error) {
	if p, err := exec.LookPath("bird"); err == nil {
		if _, err := exec.LookPath("birdc"); err == nil {
			return p, nil
		}
	}
	out, err := exec.Command(filepath.Join(root, "hack", "install-bird.sh")).CombinedOutput()
	if p, lookErr := exec.LookPath("bird"); lookErr == nil && err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%w: BIRD 2 is missing and hack/install-bird.sh could not install it (apt-get install bird2): %v\n%s",
		ErrMissing, err, out)
}

func startBIRD(ctx context.Context, root, dir, router string, detach bool) (*BIRD, error) {
	bird, err := lookBIRD(root)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "bird.conf")
	if err := os.WriteFile(conf, []byte(birdConf()), 0o644); err != nil {
		return nil, err
	}
	b := &BIRD{Socket: filepath.Join(dir, "bird.ctl")}
	_ = os.Remove(b.Socket)
	b.Process, err = localfed.StartProcess(localfed.ProcessOptions{
		Name: "bird", Path: "ip", Args: []string{"netns", "exec", router, bird, "-f", "-c", conf, "-s", b.Socket},
		LogPath: filepath.Join(dir, "bird.log"), Detach: detach,
	})
	if err != nil {
		return nil, err
	}
	status := func(context.Context) error {
		_, err := b.Birdc("show", "status")
		return err
	}
	if err := localfed.WaitUntil(ctx, 20*time.Second, status, b.Process); err != nil {
		_ = b.Process.Stop()
		return nil, fmt.Errorf("BIRD did not start: %w\n%s", err, b.Process.LogTail(20))
	}
	return b, nil
}

// Birdc runs birdc on BIRD's control socket.
func (b *BIRD) Birdc(args ...string) (string, error) {
	out, err := exec.Command("birdc", append([]string{"-s", b.Socket}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("birdc %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

var viaRE = regexp.MustCompile(`\bvia (\d+\.\d+\.\d+\.\d+)`)

// NextHops lists, sorted, the next hops of BIRD's routes for prefix (e.g.
// 198.51.100.1/32).
func (b *BIRD) NextHops(prefix string) ([]string, error) {
	out, err := b.Birdc("show", "route", prefix, "all")
	if err != nil {
		return nil, err
	}
	var hops []string
	for _, m := range viaRE.FindAllStringSubmatch(out, -1) {
		if !slices.Contains(hops, m[1]) {
			hops = append(hops, m[1])
		}
	}
	slices.Sort(hops)
	return hops, nil
}

// Established lists the addresses of the neighbors with an established BGP
// session, sorted.
func (b *BIRD) Established() ([]string, error) {
	out, err := b.Birdc("show", "protocols", "all")
	if err != nil {
		return nil, err
	}
	var peers []string
	established := false
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && !strings.HasPrefix(line, " ") && f[1] == "BGP":
			established = strings.Contains(line, "Established")
		case established && len(f) >= 3 && f[0] == "Neighbor" && f[1] == "address:":
			peers = append(peers, f[2])
		}
	}
	slices.Sort(peers)
	return peers, nil
}
