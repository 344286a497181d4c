// Package plugin implements the kubectl plugin `kubectl portico` (binary
// kubectl-portico): its commands, and the join procedure as a function other
// programs (tests, `make up`) can call.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// IOStreams are the plugin's standard streams: results go to Out, messages
// to ErrOut.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// Main runs the plugin with args (without the program name) and returns the
// process exit code: 0 on success, 1 on error (printed to ErrOut).
func Main(ctx context.Context, streams IOStreams, args []string) int {
	cmd := NewCommand(streams)
	cmd.SetArgs(args)
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(streams.ErrOut, "error: %v\n", err)
		return 1
	}
	return 0
}

// kubeFlags are kubectl's connection flags (--kubeconfig, --context, --cluster,
// --user, --server, --token, ...), read the way kubectl reads them: $KUBECONFIG
// and ~/.kube/config unless --kubeconfig names a file.
type kubeFlags struct {
	kubeconfig string
	overrides  clientcmd.ConfigOverrides
}

func (f *kubeFlags) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.kubeconfig, clientcmd.RecommendedConfigPathFlag, "",
		"Path to the kubeconfig file of the hub cluster (default: $KUBECONFIG, then ~/.kube/config).")
	names := clientcmd.RecommendedConfigOverrideFlags("")
	// Portico's cluster-level objects have no namespace: no global --namespace
	// flag; the commands about namespaced objects have their own.
	names.ContextOverrideFlags.Namespace.LongName = ""
	names.ContextOverrideFlags.Namespace.ShortName = ""
	clientcmd.BindOverrideFlags(&f.overrides, fs, names)
}

// clientConfig is the kubeconfig as kubectl would use it.
func (f *kubeFlags) clientConfig() clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.DefaultClientConfig = &clientcmd.DefaultClientConfig
	if f.kubeconfig != "" {
		rules.ExplicitPath = f.kubeconfig
	}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &f.overrides)
}

// restConfig returns the hub cluster's client configuration.
func (f *kubeFlags) restConfig() (*rest.Config, error) {
	cfg, err := f.clientConfig().ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, errors.New("no kubeconfig: set --kubeconfig or $KUBECONFIG to the hub cluster's kubeconfig")
		}
		return nil, fmt.Errorf("loading the kubeconfig: %w", err)
	}
	cfg.UserAgent = "kubectl-portico/" + version() + " " + rest.DefaultKubernetesUserAgent()
	return cfg, nil
}

// NewCommand returns the root command `kubectl portico`.
func NewCommand(streams IOStreams) *cobra.Command {
	kf := &kubeFlags{}
	cmd := &cobra.Command{
		Use: "portico",
		// Shown as "kubectl portico" in usage lines and help, as kubectl runs it.
		Annotations: map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl portico"},
		Short:       "Manage a Portico federation from kubectl",
		Long: `kubectl portico is the kubectl plugin of Portico, which federates the north-south
traffic management of an Istio mesh spanning many Kubernetes clusters.

It talks to the hub cluster (the Kubernetes API server that serves Portico's
cluster.portico.dev and traffic.portico.dev APIs through portico-hub), using the
current kubeconfig exactly like kubectl: --kubeconfig, $KUBECONFIG,
~/.kube/config, --context and the other connection flags.

Install it by putting the binary kubectl-portico on your PATH; kubectl then runs
it for "kubectl portico ...". It can also be run directly as kubectl-portico.`,
		Example: `  # Join the gateway cluster of zone-a as member cluster zone-a-1 and install its
  # agent (the hub is the current context, the member cluster is zone-a-1):
  kubectl portico join zone-a-1 --zone zone-a --region r1 > agent.yaml
  kubectl --context zone-a-1 apply -f agent.yaml
  kubectl get mc zone-a-1

  # Give edge node edge-a-1 of group zone-a its own identity and install its
  # lb-agent in the edge nodes' cluster (context edge):
  kubectl portico join-edge edge-a-1 --group zone-a --address 192.0.2.11 > edge-a-1.yaml
  kubectl --context edge apply -f edge-a-1.yaml

  # How the access points of namespace shop are doing, and why checkout is not
  # ready:
  kubectl portico status -n shop
  kubectl portico describe fap checkout -n shop

  # Shift traffic away from the cluster zone-a-1 (established connections
  # continue), then back:
  kubectl portico drain cluster zone-a-1
  kubectl portico undrain cluster zone-a-1

  # Follow a staged rollout of checkout, approve its next stage, or undo it:
  kubectl portico rollout status fap/checkout -n shop
  kubectl portico rollout approve fap/checkout -n shop
  kubectl portico rollout undo fap/checkout -n shop`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Without a subcommand: print the help.
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.SetIn(streams.In)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	cmd.CompletionOptions.DisableDefaultCmd = true
	kf.addFlags(cmd.PersistentFlags())
	cmd.AddCommand(newJoinCommand(streams, kf), newJoinEdgeCommand(streams, kf), newDescribeCommand(streams, kf), newStatusCommand(streams, kf),
		newRolloutCommand(streams, kf), newImportCommand(streams, kf), newConfirmRemovalCommand(streams, kf),
		newConfirmWithdrawalCommand(streams, kf), newDrainCommand(streams, kf), newUndrainCommand(streams, kf), newVersionCommand(streams))
	return cmd
}
