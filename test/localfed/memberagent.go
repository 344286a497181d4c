package localfed

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// MemberAgentOptions configure a member-agent process.
type MemberAgentOptions struct {
	// Dir holds the hub kubeconfig and the log.
	Dir string
	// Zone and Region of the MemberCluster that `kubectl portico join` creates.
	Zone, Region string
	// Detach lets the agent outlive the caller (make up).
	Detach bool
	// HeartbeatInterval of the Lease (default 10s, the agent's default).
	HeartbeatInterval time.Duration
	// MetricsPort serves /healthz and /metrics on 127.0.0.1 (0: a free port).
	MetricsPort int
}

// MemberAgent is a member-agent joined to a hub and running against a member
// cluster.
type MemberAgent struct {
	Options       MemberAgentOptions
	Name          string
	HubKubeconfig string
	Process       *Process
	hub           *HubCluster
	member        *MemberCluster
}

// JoinCluster runs `kubectl portico join NAME --zone Z --region R -o kubeconfig`
// against the hub cluster and writes the agent's hub kubeconfig to path.
func JoinCluster(ctx context.Context, hub *HubCluster, name, zone, region, path string) error {
	plugin, err := BuildBinary("kubectl-portico")
	if err != nil {
		return err
	}
	args := []string{"join", name, "--zone", zone, "-o", "kubeconfig", "--kubeconfig", hub.KubeconfigPath}
	if region != "" {
		args = append(args, "--region", region)
	}
	cmd := exec.CommandContext(ctx, plugin, args...)
	var stderr []byte
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = ee.Stderr
	}
	if err != nil {
		return fmt.Errorf("kubectl portico join %s: %v\n%s", name, err, stderr)
	}
	return WriteFile(path, out, 0o600)
}

// StartMemberAgent joins member to the hub with the plugin and starts a
// member-agent for it; it returns once the agent serves /healthz.
func StartMemberAgent(ctx context.Context, hub *HubCluster, member *MemberCluster, opts MemberAgentOptions) (*MemberAgent, error) {
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, err
	}
	a := &MemberAgent{Options: opts, Name: member.Name, hub: hub, member: member, HubKubeconfig: filepath.Join(opts.Dir, "hub.kubeconfig")}
	// Joining is idempotent and gives a fresh token for the hub as it is now.
	if err := JoinCluster(ctx, hub, member.Name, opts.Zone, opts.Region, a.HubKubeconfig); err != nil {
		return nil, err
	}
	return a, a.start(ctx)
}

func (a *MemberAgent) start(ctx context.Context) error {
	bin, err := BuildBinary("member-agent")
	if err != nil {
		return err
	}
	if a.Options.MetricsPort == 0 {
		if a.Options.MetricsPort, err = FreePort(); err != nil {
			return err
		}
	}
	args := []string{
		"--hub-kubeconfig=" + a.HubKubeconfig,
		"--kubeconfig=" + a.member.KubeconfigPath,
		"--cluster-name=" + a.Name,
		"--metrics-bind-address=127.0.0.1:" + strconv.Itoa(a.Options.MetricsPort),
	}
	if a.Options.HeartbeatInterval > 0 {
		args = append(args, "--heartbeat-interval="+a.Options.HeartbeatInterval.String())
	}
	a.Process, err = StartProcess(ProcessOptions{Name: "member-agent-" + a.Name, Path: bin, Args: args,
		Detach: a.Options.Detach, LogPath: filepath.Join(a.Options.Dir, "member-agent.log")})
	if err != nil {
		return err
	}
	return a.waitHealthy(ctx, time.Minute)
}

func (a *MemberAgent) waitHealthy(ctx context.Context, timeout time.Duration) error {
	healthy := func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.MetricsURL()+"/healthz", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/healthz: %s", resp.Status)
		}
		return nil
	}
	if err := WaitUntil(ctx, timeout, healthy, a.Process); err != nil {
		return fmt.Errorf("member-agent %s not healthy: %w\n%s", a.Name, err, a.Process.LogTail(30))
	}
	return nil
}

// MetricsURL is where the agent serves /healthz and /metrics.
func (a *MemberAgent) MetricsURL() string {
	return "http://127.0.0.1:" + strconv.Itoa(a.Options.MetricsPort)
}

// Stop stops the agent.
func (a *MemberAgent) Stop() error { return a.Process.Stop() }

// Restart starts a stopped agent again with the same credentials.
func (a *MemberAgent) Restart(ctx context.Context) error {
	if err := a.Stop(); err != nil {
		return err
	}
	return a.start(ctx)
}
