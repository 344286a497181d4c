package ipvs

import (
	"encoding/binary"
	"net/netip"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/portico-dev/portico/lb-agent/model"
)

// TestWriterBatches: the writer puts ops in one buffer of netlink messages of
// the IPVS family, in order, numbered in sequence, only the last asking for an
// acknowledgement, each a generic netlink header and the nested service (and
// destination) attributes; and it starts another buffer past maxBatchOps.
func TestWriterBatches(t *testing.T) {
	want := svc("203.0.113.10", 8080, "10.0.0.1=3", "10.0.0.2=1")
	ops := createOps(want, CreateScheduler)
	w := &writer{family: 42, seq: 100}
	if end := w.encode(ops, 0); end != len(ops) {
		t.Fatalf("encoded %d of %d ops", end, len(ops))
	}
	msgs, err := syscall.ParseNetlinkMessage(w.buf)
	if err != nil || len(msgs) != 4 {
		t.Fatalf("%d messages, %v", len(msgs), err)
	}
	for i, m := range msgs {
		ack := m.Header.Flags&unix.NLM_F_ACK != 0
		if m.Header.Type != 42 || m.Header.Seq != uint32(101+i) || ack != (i == 3) || m.Header.Flags&unix.NLM_F_REQUEST == 0 {
			t.Errorf("message %d: header %+v", i, m.Header)
		}
		if cmd := OpKind(m.Data[0]); cmd != ops[i].Kind || m.Data[1] != 1 {
			t.Errorf("message %d: command %v version %d, want %v 1", i, cmd, m.Data[1], ops[i].Kind)
		}
		top := parseAttrs(t, m.Data[4:])
		svcAttrs := parseAttrs(t, top[1])
		if port := binary.BigEndian.Uint16(svcAttrs[4]); port != 8080 || netip.AddrFrom4([4]byte(svcAttrs[3])) != want.VIP {
			t.Errorf("message %d: service %v:%d", i, svcAttrs[3], port)
		}
		wantSched := CreateScheduler
		if i == 3 {
			wantSched = model.Scheduler
		}
		if sched := string(svcAttrs[6][:len(svcAttrs[6])-1]); sched != wantSched {
			t.Errorf("message %d: scheduler %q, want %q", i, sched, wantSched)
		}
		if i == 1 || i == 2 {
			dest := parseAttrs(t, top[2])
			if w := binary.NativeEndian.Uint32(dest[4]); netip.AddrFrom4([4]byte(dest[1])) != want.Destinations[i-1].Address || int(w) != want.Destinations[i-1].Weight ||
				binary.NativeEndian.Uint32(dest[3]) != 2 {
				t.Errorf("message %d: destination %v weight %d forwarding %d", i, dest[1], w, binary.NativeEndian.Uint32(dest[3]))
			}
		}
	}
	many := make([]Op, maxBatchOps+10)
	for i := range many {
		many[i] = ops[1]
	}
	if end := w.encode(many, 0); end != maxBatchOps {
		t.Errorf("a batch of %d ops, want %d", end, maxBatchOps)
	}
	// What the kernel answers a dump of destinations with is read back.
	w.buf = w.message(w.buf[:0], ops[1])
	d, err := parseDestination(w.buf[unix.NLMSG_HDRLEN+4:], unix.AF_INET)
	if err != nil || d.Address.String() != "10.0.0.1" || d.Port != 8080 || d.Weight != 3 || d.ConnectionFlags != 2 {
		t.Errorf("destination read back: %+v, %v", d, err)
	}
}

// parseAttrs indexes netlink attributes by type (without NLA_F_NESTED).
func parseAttrs(t *testing.T, b []byte) map[uint16][]byte {
	t.Helper()
	out := map[uint16][]byte{}
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b))
		typ := binary.NativeEndian.Uint16(b[2:]) &^ unix.NLA_F_NESTED
		if l < 4 || l > len(b) {
			t.Fatalf("attribute %d of length %d in %d bytes", typ, l, len(b))
		}
		out[typ] = b[4:l]
		b = b[min(len(b), (l+3)&^3):]
	}
	return out
}
