//go:build vm

package vm

import (
	"net"
	"slices"
	"testing"
	"time"

	"github.com/portico-dev/portico/test/localfed/nsrun"
)

// udpFlows are client sockets, one per flow (source port), in the client
// namespace.
type udpFlows []*net.UDPConn

func (d *dsr) udpFlows(t *testing.T, n int) udpFlows {
	t.Helper()
	flows := make(udpFlows, 0, n)
	if err := nsrun.Do(d.client, func() error {
		for i := range n {
			c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(clientAddr), Port: 20000 + i})
			if err != nil {
				return err
			}
			flows = append(flows, c)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, c := range flows {
			c.Close()
		}
	})
	return flows
}

// backends sends one datagram per flow to the VIP and returns which backend
// answered each.
func (f udpFlows) backends(t *testing.T) []string {
	t.Helper()
	dst := &net.UDPAddr{IP: net.ParseIP(vip), Port: 53}
	out := make([]string, len(f))
	buf := make([]byte, 64)
	for i, c := range f {
		for attempt := 0; ; attempt++ {
			if _, err := c.WriteToUDP([]byte("who"), dst); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			n, from, err := c.ReadFromUDP(buf)
			if err == nil {
				if from.IP.String() != vip {
					t.Fatalf("flow %d: answer from %s, not the VIP", i, from)
				}
				out[i] = string(buf[:n])
				break
			}
			if attempt == 3 {
				t.Fatalf("flow %d (port %d): no answer: %v", i, 20000+i, err)
			}
		}
	}
	return out
}

func count(assign []string) map[string]int {
	m := map[string]int{}
	for _, b := range assign {
		m[b]++
	}
	return m
}

// TestTwoDirectorsAgree: two independent IPVS instances programmed from the same
// state send every flow to the same backend (so ECMP may spread a flow's packets
// over nodes, or move it, without breaking it).
func TestTwoDirectorsAgree(t *testing.T) {
	requireVM(t)
	const flows = 1000
	d := newDSR(t, 2, 4)
	for _, ns := range d.directors {
		set(t, newDataplane(t, ns), d.services(d.all(1)))
	}
	f := d.udpFlows(t, flows)
	d.via(0)
	first := f.backends(t)
	d.via(1)
	second := f.backends(t)
	differ := 0
	for i := range first {
		if first[i] != second[i] {
			differ++
		}
	}
	if differ != 0 {
		t.Errorf("%d of %d flows went to another backend through the second director", differ, flows)
	}
	t.Logf("%d UDP flows through two directors: %d differ; spread %v", flows, differ, count(first))
}

// TestAgentTablesMatchIpvsadmRestore: the dataplane creates a service
// round-robin, adds its destinations and switches it to Maglev (one table
// build); ipvsadm -R creates it Maglev and builds the table on every
// destination added. Two directors programmed from the same state, one each
// way, must list the same services and send every flow to the same backend:
// their Maglev tables are the same.
func TestAgentTablesMatchIpvsadmRestore(t *testing.T) {
	requireVM(t)
	const flows = 1000
	d := newDSR(t, 2, 4)
	services := d.services(map[string]int{"be0": 5, "be1": 1, "be2": 3, "be3": 2})
	set(t, newDataplane(t, d.directors[0]), services)
	if err := bindAll(d.lab, d.directors[1], services); err != nil {
		t.Fatal(err)
	}
	d.mustRun(d.directors[1], restoreRules(services, "mh"), "ipvsadm", "-R")
	agent, restored := ipvsTable(d.lab, d.directors[0]), ipvsTable(d.lab, d.directors[1])
	if !slices.Equal(agent, restored) {
		t.Fatalf("the agent's services differ from ipvsadm -R's:\n%s", diffLines(agent, restored))
	}
	f := d.udpFlows(t, flows)
	d.via(0)
	first := f.backends(t)
	d.via(1)
	second := f.backends(t)
	differ := 0
	for i := range first {
		if first[i] != second[i] {
			differ++
		}
	}
	if differ != 0 {
		t.Errorf("%d of %d flows went to another backend through the director programmed by ipvsadm -R", differ, flows)
	}
	t.Logf("%d UDP flows through the agent's director and ipvsadm -R's: %d differ; spread %v (weights 5/1/3/2)", flows, differ, count(first))
}

// TestRemovingOneOfNMovesOneNth measures Maglev's disruption: the same flows
// through a director with N backends and one with N-1 (a fresh scheduling
// decision for every flow on both).
func TestRemovingOneOfNMovesOneNth(t *testing.T) {
	requireVM(t)
	const n, flows = 8, 2000
	d := newDSR(t, 2, n)
	all := d.all(1)
	set(t, newDataplane(t, d.directors[0]), d.services(all))
	delete(all, "be3")
	set(t, newDataplane(t, d.directors[1]), d.services(all))
	f := d.udpFlows(t, flows)
	d.via(0)
	before := f.backends(t)
	d.via(1)
	after := f.backends(t)
	moved, onRemoved, others := 0, 0, 0
	for i := range before {
		if before[i] == "be3" {
			onRemoved++
		}
		if before[i] != after[i] {
			moved++
			if before[i] != "be3" {
				others++
			}
		}
	}
	share := float64(moved) / flows
	t.Logf("MEASURE removing 1 of %d backends moved %d/%d flows = %.1f%% (ideal 1/N = %.1f%%): %d were on the removed backend, %d others moved (%.2f%%)",
		n, moved, flows, 100*share, 100.0/n, onRemoved, others, 100*float64(others)/flows)
	t.Logf("spread before %v, after %v", count(before), count(after))
	if share < 0.5/n || share > 2.0/n {
		t.Errorf("moved %.1f%% of the flows, want about %.1f%%", 100*share, 100.0/n)
	}
	if others > flows/20 {
		t.Errorf("%d flows not on the removed backend moved", others)
	}
}
