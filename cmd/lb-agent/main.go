// Command lb-agent runs on each L4 edge node of a zone: it programs IPVS (Maglev
// hashing, IPIP tunnels) for the VirtualIPs of its LoadBalancerGroup, health-checks
// their backends and announces them over BGP to the group's routers.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"

	"github.com/portico-dev/portico/lb-agent/agent"
)

func main() {
	o := agent.NewOptions()
	cmd := &cobra.Command{
		Use:   "lb-agent --hub-kubeconfig FILE --group GROUP --address IP [--node-name NAME]",
		Short: "Serve a zone's virtual IPs with IPVS and announce them over BGP",
		Long: `lb-agent runs on every L4 edge node of a zone (as the DaemonSet in
manifests/lb-agent, or directly). It registers the node as a LoadBalancerNode on
the hub, renews a Lease, and for every VirtualIP whose spec.groups names its
--group:

  - programs one IPVS service per VIP:port:protocol with Maglev hashing (scheduler
    mh, flags mh-port and mh-fallback) and IPIP tunnel destinations, so gateways
    answer clients directly (DSR); backends of the group's zone get the VirtualIP's
    local weight (99), other zones the remote weight (1), unhealthy ones 0;
  - binds the VIP on a dummy interface (--interface, default portico0);
  - health-checks every backend (tcp or http, as the VirtualIP says);
  - announces the VIP as a /32 over BGP, next hop --address, to the routers of the
    LoadBalancerGroup while the dataplane serves it and a backend is healthy.

Every node of a group does the same, so routers spread flows with ECMP and any node
sends a given flow to the same backend.

Programming is declarative and incremental: the agent never flushes IPVS, only
touches services on the VIPs bound on --interface, and leaves IPVS programmed when
it exits, so a restart does not break connections. While the hub is unreachable it
keeps serving and announcing the last state it knew, across restarts too: it keeps
that state in a file of --state-dir, serves it when it starts before the hub
answers (health checks still gate the announcements), and replaces it with the
hub's state once the hub answers. A mass withdrawal (the hub stops listing more
than --withdraw-hold-fraction of the VIPs, and at least --withdraw-hold-min, or
the group, or the hub's identity changed: a wiped or wrongly restored hub) is
held: those VIPs stay served and announced, and the LoadBalancerNode condition
WithdrawHeld says so until 'kubectl portico confirm-withdrawal NODE' confirms it
or the VIPs come back. On SIGTERM it withdraws every route, keeps serving for
--drain-period while routers converge, then exits (a second signal exits at
once).

It needs CAP_NET_ADMIN, the ip_vs, ip_vs_mh and dummy kernel modules, and the
gateways must decapsulate IPIP (tunl0 holding the VIPs).

/healthz and /metrics (Prometheus) are served on --listen-address.`,
		SilenceUsage: true,
		Args:         cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-ctx.Done()
		stop() // a second signal terminates at once
	}()
	cmd.SetContext(ctx)
	o.AddFlags(cmd.Flags())
	os.Exit(cli.Run(cmd))
}
