package plugin

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
)

func newConfirmWithdrawalCommand(streams IOStreams, kf *kubeFlags) *cobra.Command {
	var hold string
	cmd := &cobra.Command{
		Use:   "confirm-withdrawal NODE [--hold ID]",
		Short: "Let an lb-agent carry out the mass withdrawal it holds",
		Long: `Let the lb-agent of edge node NODE carry out the VIP withdrawal it holds.

When the hub stops listing most of the VIPs an edge node serves, or its
LoadBalancerGroup, or the hub's identity changed (a wiped or wrongly restored
hub), the lb-agent keeps those VIPs programmed and announced from their last
state and reports the LoadBalancerNode condition WithdrawHeld=True: how many
VIPs of how many it holds, and the hold's ID. If the withdrawal is intended,
this command confirms that hold: it sets the annotation
` + clusterv1alpha1.AnnotationConfirmWithdrawal + `=<ID> on the LoadBalancerNode,
and the agent withdraws the VIPs within seconds (it also accepts the hub's new
identity). A confirmation names one hold: if more VIPs go meanwhile, the agent
holds again under a new ID. If the VIPs come back instead, the hold ends by
itself. Each node of a group holds on its own: confirm every node's hold.`,
		Example: `  # See what edge-a-1's agent holds:
  kubectl get lbn edge-a-1 -o jsonpath='{.status.conditions[?(@.type=="WithdrawHeld")].message}'

  # Confirm it:
  kubectl portico confirm-withdrawal edge-a-1`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := kf.restConfig()
			if err != nil {
				return err
			}
			client, err := versioned.NewForConfig(cfg)
			if err != nil {
				return err
			}
			return confirmWithdrawal(cmd.Context(), streams.Out, client, args[0], hold)
		},
	}
	cmd.Flags().StringVar(&hold, "hold", "", "The ID of the hold to confirm (default: the one the WithdrawHeld condition names now).")
	return cmd
}

// confirmWithdrawal sets the confirmation annotation of node to the hold's ID.
func confirmWithdrawal(ctx context.Context, out io.Writer, client versioned.Interface, node, hold string) error {
	nodes := client.ClusterV1alpha1().LoadBalancerNodes()
	n, err := nodes.Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return err
	}
	held := heldBy{agent: "lb-agent", object: node, what: "withdrawal", condition: clusterv1alpha1.LoadBalancerNodeWithdrawHeld,
		annotation: clusterv1alpha1.AnnotationConfirmWithdrawal}
	cond, hold, err := held.pick(n.Status.Conditions, hold)
	if err != nil {
		return err
	}
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, clusterv1alpha1.AnnotationConfirmWithdrawal, hold)
	if _, err := nodes.Patch(ctx, node, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("confirming the withdrawal held by %s: %w", node, err)
	}
	_, err = fmt.Fprintf(out, "loadbalancernode/%s: withdrawal %s confirmed; the lb-agent carries it out within seconds\n%s\n", node, hold, cond.Message)
	return err
}
