// Command portico-hub serves the Portico API (cluster.portico.dev and
// traffic.portico.dev) as an aggregated API server behind a hub cluster.
package main

import (
	"os"

	"github.com/spf13/cobra"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/component-base/cli"

	"github.com/portico-dev/portico/federation/controllers"
	"github.com/portico-dev/portico/registry/apiserver"
)

func main() {
	o := apiserver.NewOptions()
	co := controllers.NewOptions()
	o.RunControllers = co.Run
	cmd := &cobra.Command{
		Use:   "portico-hub",
		Short: "Serve the Portico API behind a hub cluster's aggregation layer",
		Long: `portico-hub is an aggregated Kubernetes API server. The hub cluster's
kube-apiserver forwards requests for cluster.portico.dev and traffic.portico.dev
to it (one APIService per group); portico-hub delegates authentication and
authorization back to the hub cluster, so RBAC there governs every Portico object.

Objects are stored in an embedded etcd (--data-dir) by default, or in an
external etcd cluster (--etcd-servers) when several replicas run.`,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			if err := co.Validate(); err != nil {
				return err
			}
			o.AccessPointFinalizer = co.Enabled("accesspoint")
			return o.Run(cmd.Context())
		},
	}
	cmd.SetContext(genericapiserver.SetupSignalContext())
	o.AddFlags(cmd.Flags())
	co.AddFlags(cmd.Flags())
	os.Exit(cli.Run(cmd))
}
