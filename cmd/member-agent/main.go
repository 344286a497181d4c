// Command member-agent runs in a zone's gateway cluster: it pulls the cluster's
// ClusterAccessPoints from the Portico hub and applies them as Istio objects.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"

	"github.com/portico-dev/portico/member-agent/agent"
)

func main() {
	o := agent.NewOptions()
	cmd := &cobra.Command{
		Use:   "member-agent",
		Short: "Apply a member cluster's slice of the Portico federation",
		Long: `member-agent runs in a zone's gateway cluster. It watches only its own
namespace (portico-cluster-<name>) on the hub, applies every ClusterAccessPoint's
objects to this cluster with server-side apply (field manager "portico"), prunes
what was removed, repairs objects edited or deleted by hand, renews its Lease, and
reports status. While the hub is unreachable it changes nothing.`,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cmd.SetContext(ctx)
	o.AddFlags(cmd.Flags())
	os.Exit(cli.Run(cmd))
}
