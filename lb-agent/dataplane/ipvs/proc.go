package ipvs

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"

	libipvs "github.com/moby/ipvs"

	"github.com/portico-dev/portico/lb-agent/model"
)

// readTable reads the destinations of every IPv4 TCP and UDP service of the
// network namespace at nsPath from /proc/net/ip_vs, in one read: the netlink
// API has no dump of all destinations, only one per service, and 5000 of them
// take seconds where the file takes a fraction of one. The file shows each
// destination's address, port, forwarding method and weight, not its
// connection thresholds: those read back as 0, what the dataplane programs.
func readTable(nsPath string) (map[recKey][]*libipvs.Destination, error) {
	var f *os.File
	if err := inNetns(nsPath, func() (err error) {
		f, err = os.Open("/proc/thread-self/net/ip_vs")
		return err
	}); err != nil {
		return nil, err
	}
	defer f.Close()
	return parseTable(f)
}

// parseTable parses /proc/net/ip_vs (net/netfilter/ipvs/ip_vs_ctl.c,
// ip_vs_info_seq_show): a line per service, "TCP  C6120001:0050 mh", then a
// line per destination, "  -> 0A010001:0050      Tunnel  1      0          0".
// Other services (fwmark, IPv6, SCTP) are skipped with their destinations.
func parseTable(r io.Reader) (map[recKey][]*libipvs.Destination, error) {
	out := map[recKey][]*libipvs.Destination{}
	var cur []*libipvs.Destination
	var key recKey
	inService := false
	flush := func() {
		if inService {
			out[key] = cur
		}
		cur, inService = nil, false
	}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 2 && (f[0] == "TCP" || f[0] == "UDP"):
			flush()
			ap, err := hexAddrPort(f[1])
			if err != nil {
				continue // IPv6
			}
			k := keyFor(modelKey(ap, f[0]))
			key, inService = k, true
		case len(f) >= 4 && f[0] == "->":
			if !inService {
				continue
			}
			ap, err := hexAddrPort(f[1])
			if err != nil {
				return nil, fmt.Errorf("/proc/net/ip_vs: destination %q: %w", f[1], err)
			}
			weight, err := strconv.Atoi(f[3])
			if err != nil {
				return nil, fmt.Errorf("/proc/net/ip_vs: weight %q: %w", f[3], err)
			}
			a := ap.Addr().As4()
			cur = append(cur, &libipvs.Destination{AddressFamily: 2, Address: a[:], Port: ap.Port(),
				Weight: weight, ConnectionFlags: forwarding[f[2]]})
		case len(f) >= 1 && f[0] != "->" && f[0] != "IP" && f[0] != "Prot":
			flush() // FWM, SCTP, ...
		}
	}
	flush()
	return out, sc.Err()
}

// forwarding maps ip_vs_fwd_name's names to IP_VS_CONN_F_* methods.
var forwarding = map[string]uint32{"Masq": 0, "Local": 1, "Tunnel": libipvs.ConnectionFlagTunnel, "Route": 3}

// hexAddrPort parses "C6120001:0050".
func hexAddrPort(s string) (netip.AddrPort, error) {
	a, p, ok := strings.Cut(s, ":")
	if !ok || len(a) != 8 {
		return netip.AddrPort{}, fmt.Errorf("%q is not an IPv4 address and port in hexadecimal", s)
	}
	addr, err := strconv.ParseUint(a, 16, 32)
	if err != nil {
		return netip.AddrPort{}, err
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(addr4(uint32(addr)), uint16(port)), nil
}

func modelKey(ap netip.AddrPort, proto string) model.Key {
	p := model.TCP
	if proto == "UDP" {
		p = model.UDP
	}
	return model.Key{VIP: ap.Addr(), Port: ap.Port(), Protocol: p}
}
