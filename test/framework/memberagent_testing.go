package framework

import (
	"context"
	"testing"
	"time"

	"github.com/portico-dev/portico/test/localfed"
)

// NewMemberAgent joins member to hub and runs a member-agent for a test; it is
// stopped in t.Cleanup.
func NewMemberAgent(t testing.TB, hub *HubCluster, member *MemberCluster, opts MemberAgentOptions) *MemberAgent {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	opts.Detach = false
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	a, err := localfed.StartMemberAgent(ctx, hub, member, opts)
	if err != nil {
		t.Fatalf("starting member-agent for %s: %v", member.Name, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- member-agent %s log (tail) ---\n%s", a.Name, a.Process.LogTail(40))
		}
		if err := a.Stop(); err != nil {
			t.Errorf("stopping member-agent %s: %v", a.Name, err)
		}
	})
	return a
}
