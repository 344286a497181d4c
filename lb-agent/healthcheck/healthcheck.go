// Package healthcheck runs the model's probes (tcp connect or http GET) against
// every backend, each at its own interval, and turns results into verdicts with
// the rise/fall thresholds. Verdict changes are reported through a callback, and
// the model asks for verdicts when it builds the desired state.
package healthcheck

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/portico-dev/portico/lb-agent/model"
)

// CheckFunc runs one probe once; nil means success. The context carries the
// probe's timeout.
type CheckFunc func(ctx context.Context, p model.Probe) error

// Checker runs a set of probes.
type Checker struct {
	check    CheckFunc
	onChange func(model.Probe, model.Verdict)

	mu     sync.Mutex
	probes map[model.Probe]*prober
}

type prober struct {
	cancel context.CancelFunc
	state  state
}

// New returns a checker running check (Check when nil); onChange (may be nil)
// is called, without locks held, when a probe's verdict changes.
func New(check CheckFunc, onChange func(model.Probe, model.Verdict)) *Checker {
	if check == nil {
		check = Check
	}
	if onChange == nil {
		onChange = func(model.Probe, model.Verdict) {}
	}
	return &Checker{check: check, onChange: onChange, probes: map[model.Probe]*prober{}}
}

// Set runs exactly probes: new ones start (Unknown until their first result),
// removed ones stop and forget their verdict, others keep running.
func (c *Checker) Set(probes []model.Probe) {
	c.mu.Lock()
	defer c.mu.Unlock()
	want := make(map[model.Probe]bool, len(probes))
	for _, p := range probes {
		want[p] = true
		if c.probes[p] == nil {
			ctx, cancel := context.WithCancel(context.Background())
			c.probes[p] = &prober{cancel: cancel}
			go c.run(ctx, p)
		}
	}
	for p, pr := range c.probes {
		if !want[p] {
			pr.cancel()
			delete(c.probes, p)
		}
	}
}

// Verdict of p; Unknown for a probe not running or without a result yet.
func (c *Checker) Verdict(p model.Probe) model.Verdict {
	c.mu.Lock()
	defer c.mu.Unlock()
	if pr := c.probes[p]; pr != nil {
		return pr.state.verdict
	}
	return model.Unknown
}

// Stop stops every probe.
func (c *Checker) Stop() { c.Set(nil) }

func (c *Checker) run(ctx context.Context, p model.Probe) {
	for {
		cctx, cancel := context.WithTimeout(ctx, p.Timeout)
		err := c.check(cctx, p)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if v, changed := c.record(p, err == nil); changed {
			c.onChange(p, v)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(p.Interval):
		}
	}
}

func (c *Checker) record(p model.Probe, ok bool) (model.Verdict, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	pr := c.probes[p]
	if pr == nil {
		return model.Unknown, false
	}
	changed := pr.state.record(ok, p.Rise, p.Fall)
	return pr.state.verdict, changed
}

// state counts consecutive results. The first result decides; after that it
// takes rise successes or fall failures in a row to change the verdict.
type state struct {
	verdict    model.Verdict
	oks, fails int
}

func (s *state) record(ok bool, rise, fall int) bool {
	if ok {
		s.oks, s.fails = s.oks+1, 0
	} else {
		s.oks, s.fails = 0, s.fails+1
	}
	next := s.verdict
	switch {
	case ok && (s.verdict == model.Unknown || s.oks >= rise):
		next = model.Healthy
	case !ok && (s.verdict == model.Unknown || s.fails >= fall):
		next = model.Unhealthy
	}
	changed := next != s.verdict
	s.verdict = next
	return changed
}

// Check runs a tcp probe (connect) or an http probe (GET of the path, success on
// a 2xx or 3xx status, redirects not followed).
func Check(ctx context.Context, p model.Probe) error {
	switch p.Type {
	case model.ProbeHTTP:
		return checkHTTP(ctx, p)
	default:
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", p.Backend.String())
		if err != nil {
			return err
		}
		return conn.Close()
	}
}

var httpClient = &http.Client{
	Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

func checkHTTP(ctx context.Context, p model.Probe) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.Backend.String()+p.Path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "portico-lb-agent")
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 399 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}
