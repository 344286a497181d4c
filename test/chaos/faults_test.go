//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// The kinds of fault, each injected at least once per run (in a random
// order, then again).
var faultKinds = []string{"kill-hub-replica", "kill-etcd-member", "kill-member-agent", "kill-hub-apiserver", "cut-agent"}

// convergeTimeout bounds the wait for the canary after a fault.
const convergeTimeout = 2 * time.Minute

// fault is one injected fault and what followed.
type fault struct {
	kind, target string
	// at is when it began (since the start of the run), down how long it
	// lasted, converged how long after it ended the canary written then was
	// on every member cluster.
	at, down, converged time.Duration
	err                 string
}

// injector injects one fault at a time, at random moments, until the
// deadline; after each it writes the canary and times its convergence.
type injector struct {
	e      *env
	rng    *rand.Rand
	start  time.Time
	faults []fault
}

func (in *injector) run(ctx context.Context, t *testing.T, deadline time.Time) {
	var order []string
	for time.Now().Before(deadline) {
		if len(order) == 0 {
			order = slices.Clone(faultKinds)
			in.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		}
		kind := order[0]
		order = order[1:]
		// Draw everything before acting: a seed gives the same faults.
		pause := time.Duration(3000+in.rng.IntN(5000)) * time.Millisecond
		target := in.rng.IntN(6)
		down := time.Duration(1000+in.rng.IntN(5000)) * time.Millisecond
		if kind == "cut-agent" {
			down += 4 * time.Second
		}
		time.Sleep(pause)
		f := in.inject(ctx, kind, target, down)
		in.faults = append(in.faults, f)
		t.Logf("fault %d: %s %s at %v for %v; canary on every member cluster %v after %s",
			len(in.faults), f.kind, f.target, f.at.Round(time.Millisecond), f.down.Round(time.Millisecond), f.converged.Round(time.Millisecond), orOK(f.err))
	}
}

func orOK(err string) string {
	if err == "" {
		return "recovery"
	}
	return "recovery FAILED: " + err
}

// inject runs one fault: it breaks the target, waits down, repairs it, and
// measures the convergence.
func (in *injector) inject(ctx context.Context, kind string, target int, down time.Duration) fault {
	e := in.e
	f := fault{kind: kind, at: time.Since(in.start)}
	began := time.Now()
	var err error
	switch kind {
	case "kill-hub-replica":
		i := target % len(e.ha.Replicas)
		r := e.ha.Replicas[i]
		f.target = fmt.Sprintf("portico-hub-%d (pid %d)", i, r.Process.PID)
		if err = r.Process.Kill(); err == nil {
			time.Sleep(down)
			err = r.Restart(ctx)
		}
	case "kill-etcd-member":
		i := target % len(e.ha.Etcd.Members)
		f.target = fmt.Sprintf("etcd-%d (pid %d)", i, e.ha.Etcd.Members[i].Process.PID)
		if err = e.ha.Etcd.Kill(i); err == nil {
			time.Sleep(down)
			err = e.ha.Etcd.Restart(ctx, i)
		}
	case "kill-member-agent":
		m := e.members[target%len(e.members)]
		f.target = fmt.Sprintf("member-agent %s (pid %d)", m.name, m.agent.Process.PID)
		if err = m.agent.Process.Kill(); err == nil {
			time.Sleep(down)
			err = m.agent.Restart(ctx)
		}
	case "kill-hub-apiserver":
		f.target = fmt.Sprintf("hub kube-apiserver (pid %d)", e.hub.APIServer.PID)
		if err = e.hub.APIServer.Kill(); err == nil {
			time.Sleep(down)
			err = e.hub.RestartAPIServer(ctx, 2*time.Minute)
		}
	case "cut-agent":
		m := e.members[target%len(e.members)]
		f.target = fmt.Sprintf("member-agent %s from the hub", m.name)
		m.link.Cut()
		time.Sleep(down)
		m.link.Heal()
	}
	f.down = time.Since(began)
	if err != nil {
		f.err = err.Error()
		return f
	}
	healed := time.Now()
	cctx, cancel := context.WithTimeout(ctx, convergeTimeout)
	defer cancel()
	timeout := fmt.Sprintf("%ds", 10+len(in.faults))
	if err := canaryWrite(cctx, e.pc, timeout); err != nil {
		f.err = err.Error()
		return f
	}
	for {
		ok, state := e.everywhere(canary, timeout)
		if ok {
			f.converged = time.Since(healed)
			return f
		}
		select {
		case <-cctx.Done():
			f.err = fmt.Sprintf("the canary (timeout %s) not on every member cluster after %v: %s", timeout, convergeTimeout, state)
			return f
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// report lists the faults and the convergence after them (p50/p99, in all
// and by kind).
func (in *injector) report() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-4s %-20s %-42s %10s %10s %12s\n", "#", "FAULT", "TARGET", "AT", "DOWN", "CONVERGED")
	byKind := map[string][]time.Duration{}
	var all []time.Duration
	for i, f := range in.faults {
		conv := f.converged.Round(time.Millisecond).String()
		if f.err != "" {
			conv = "FAILED"
		} else {
			byKind[f.kind] = append(byKind[f.kind], f.converged)
			all = append(all, f.converged)
		}
		fmt.Fprintf(&b, "%-4d %-20s %-42s %10v %10v %12s\n", i+1, f.kind, f.target, f.at.Round(time.Second), f.down.Round(100*time.Millisecond), conv)
	}
	line := func(name string, d []time.Duration) {
		slices.Sort(d)
		fmt.Fprintf(&b, "time to convergence after %-20s n=%-3d p50 %-10v p99 %-10v max %v\n", name, len(d),
			percentile(d, 50).Round(time.Millisecond), percentile(d, 99).Round(time.Millisecond), percentile(d, 100).Round(time.Millisecond))
	}
	line("any fault", all)
	for _, k := range faultKinds {
		line(k, byKind[k])
	}
	return b.String()
}
