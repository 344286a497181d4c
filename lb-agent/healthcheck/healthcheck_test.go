package healthcheck

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-dev/portico/lb-agent/model"
)

func TestThresholds(t *testing.T) {
	var s state
	steps := []struct {
		ok   bool
		want model.Verdict
	}{
		{true, model.Healthy}, // the first result decides
		{false, model.Healthy},
		{true, model.Healthy}, // the failure streak is broken
		{false, model.Healthy},
		{false, model.Healthy},
		{false, model.Unhealthy}, // fall = 3
		{true, model.Unhealthy},
		{true, model.Healthy}, // rise = 2
	}
	for i, st := range steps {
		s.record(st.ok, 2, 3)
		if s.verdict != st.want {
			t.Fatalf("step %d (ok=%v): %v, want %v", i, st.ok, s.verdict, st.want)
		}
	}
	var first state
	if !first.record(false, 2, 3) || first.verdict != model.Unhealthy {
		t.Errorf("a first failure gives %v", first.verdict)
	}
}

func probe(addr string, typ model.ProbeType) model.Probe {
	return model.Probe{Type: typ, Backend: netip.MustParseAddrPort(addr), Path: "/healthz",
		Interval: 10 * time.Millisecond, Timeout: time.Second, Rise: 2, Fall: 2}
}

func TestCheckTCPAndHTTP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	var status atomic.Int32
	status.Store(200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			w.WriteHeader(404)
			return
		}
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	httpAddr := srv.Listener.Addr().String()
	ctx := context.Background()
	for _, tc := range []struct {
		p      model.Probe
		status int32
		ok     bool
	}{
		{probe(l.Addr().String(), model.ProbeTCP), 0, true},
		{probe(closedAddr, model.ProbeTCP), 0, false},
		{probe(httpAddr, model.ProbeHTTP), 200, true},
		{probe(httpAddr, model.ProbeHTTP), 302, true},
		{probe(httpAddr, model.ProbeHTTP), 503, false},
		{probe(closedAddr, model.ProbeHTTP), 200, false},
	} {
		status.Store(tc.status)
		if err := Check(ctx, tc.p); (err == nil) != tc.ok {
			t.Errorf("%s %s (status %d): %v", tc.p.Type, tc.p.Backend, tc.status, err)
		}
	}
}

func TestCheckerRunsProbesAndReportsChanges(t *testing.T) {
	var mu sync.Mutex
	healthy := map[netip.AddrPort]bool{}
	check := func(_ context.Context, p model.Probe) error {
		mu.Lock()
		defer mu.Unlock()
		if healthy[p.Backend] {
			return nil
		}
		return errors.New("down")
	}
	changes := make(chan model.Verdict, 100)
	c := New(check, func(_ model.Probe, v model.Verdict) { changes <- v })
	defer c.Stop()
	a, b := probe("10.0.0.1:80", model.ProbeTCP), probe("10.0.0.2:80", model.ProbeTCP)
	mu.Lock()
	healthy[a.Backend] = true
	mu.Unlock()
	if v := c.Verdict(a); v != model.Unknown {
		t.Errorf("verdict before Set: %v", v)
	}
	c.Set([]model.Probe{a, b})
	wait := func(p model.Probe, want model.Verdict) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for c.Verdict(p) != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: verdict %v, want %v", p.Backend, c.Verdict(p), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	wait(a, model.Healthy)
	wait(b, model.Unhealthy)
	mu.Lock()
	healthy[a.Backend], healthy[b.Backend] = false, true
	mu.Unlock()
	wait(a, model.Unhealthy)
	wait(b, model.Healthy)
	if n := len(changes); n != 4 {
		t.Errorf("%d change notifications, want 4", n)
	}
	c.Set([]model.Probe{b})
	if v := c.Verdict(a); v != model.Unknown {
		t.Errorf("verdict of a removed probe: %v", v)
	}
}
