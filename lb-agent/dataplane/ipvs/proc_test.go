package ipvs

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/portico-dev/portico/lb-agent/model"
)

// TestParseTable reads /proc/net/ip_vs as the kernel writes it: IPv4 TCP and
// UDP services with their destinations; fwmark and IPv6 services skipped.
func TestParseTable(t *testing.T) {
	const table = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port Forward Weight ActiveConn InActConn
TCP  C6120001:0050 mh 
  -> 0A010002:0050      Tunnel  63     0          0         
  -> 0A010001:0050      Tunnel  0      2          5         
UDP  CB00710A:0035 none 
FWM  00000007 rr 
  -> 0A000009:0000      Masq    1      0          0         
TCP  [2001:0db8:0000:0000:0000:0000:0000:0001]:0050 rr 
  -> [2001:0db8:0000:0000:0000:0000:0000:0002]:0050      Masq    1      0          0         
TCP  0A600001:01BB rr persistent 300 FFFFFFFF
  -> 0A090909:01BB      Route   2      0          0         
`
	got, err := parseTable(strings.NewReader(table))
	if err != nil {
		t.Fatal(err)
	}
	key := func(addr string, port uint16, proto model.Protocol) recKey {
		return keyFor(model.Key{VIP: netip.MustParseAddr(addr), Port: port, Protocol: proto})
	}
	if len(got) != 3 {
		t.Errorf("%d services, want 3: %v", len(got), got)
	}
	mh := got[key("198.18.0.1", 80, model.TCP)]
	if len(mh) != 2 || mh[0].Address.String() != "10.1.0.2" || mh[0].Port != 80 || mh[0].Weight != 63 || mh[0].ConnectionFlags != 2 ||
		mh[1].Address.String() != "10.1.0.1" || mh[1].Weight != 0 {
		t.Errorf("198.18.0.1:80 destinations %+v %+v", mh[0], mh[1])
	}
	if d, ok := got[key("203.0.113.10", 53, model.UDP)]; !ok || len(d) != 0 {
		t.Errorf("the UDP service without destinations: %v %v", d, ok)
	}
	if d := got[key("10.96.0.1", 443, model.TCP)]; len(d) != 1 || d[0].ConnectionFlags != 3 || d[0].Weight != 2 {
		t.Errorf("the persistent service's destination %+v", d)
	}
}
