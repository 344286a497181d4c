package plugin

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	"github.com/portico-dev/portico/member-agent/reconciler"
)

func newConfirmRemovalCommand(streams IOStreams, kf *kubeFlags) *cobra.Command {
	var hold string
	cmd := &cobra.Command{
		Use:   "confirm-removal CLUSTER [--hold ID]",
		Short: "Let a member-agent carry out the mass removal it holds",
		Long: `Let the member-agent of CLUSTER carry out the removal it holds.

When the hub stops listing most of the access points a member cluster serves
(a wiped or wrongly restored hub), the member-agent keeps their objects, goes
on serving, and reports the MemberCluster condition PruneHeld=True: how many
objects of how many access points it holds, and the hold's ID. If the removal
is intended, this command confirms that hold: it sets the annotation
` + reconciler.ConfirmRemovalAnnotation + `=<ID> on the MemberCluster, and the
agent removes the objects at its next heartbeat. A confirmation names one
hold: if more access points go meanwhile, the agent holds again under a new ID.
If the access points come back instead, the hold ends by itself.`,
		Example: `  # See what zone-a-1's agent holds:
  kubectl get membercluster zone-a-1 -o jsonpath='{.status.conditions[?(@.type=="PruneHeld")].message}'

  # Confirm it:
  kubectl portico confirm-removal zone-a-1`,
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
			return confirmRemoval(cmd.Context(), streams.Out, client, args[0], hold)
		},
	}
	cmd.Flags().StringVar(&hold, "hold", "", "The ID of the hold to confirm (default: the one the PruneHeld condition names now).")
	return cmd
}

// confirmRemoval sets the confirmation annotation of cluster to the hold's ID.
func confirmRemoval(ctx context.Context, out io.Writer, client versioned.Interface, cluster, hold string) error {
	mc, err := client.ClusterV1alpha1().MemberClusters().Get(ctx, cluster, metav1.GetOptions{})
	if err != nil {
		return err
	}
	held := heldBy{agent: "member-agent", object: cluster, what: "removal", condition: clusterv1alpha1.MemberClusterPruneHeld,
		annotation: reconciler.ConfirmRemovalAnnotation}
	cond, hold, err := held.pick(mc.Status.Conditions, hold)
	if err != nil {
		return err
	}
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, reconciler.ConfirmRemovalAnnotation, hold)
	if _, err := client.ClusterV1alpha1().MemberClusters().Patch(ctx, cluster, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("confirming the removal held by %s: %w", cluster, err)
	}
	_, err = fmt.Fprintf(out, "membercluster/%s: removal %s confirmed; the member-agent carries it out at its next heartbeat\n%s\n", cluster, hold, cond.Message)
	return err
}

// heldBy names what an agent holds: the condition that reports it and the
// annotation that confirms it.
type heldBy struct {
	agent, object, what, condition, annotation string
}

// pick finds the hold the condition reports and checks hold (the ID given,
// "" for the current one) against it; it returns the condition and the ID to
// confirm.
func (h heldBy) pick(conds []metav1.Condition, hold string) (*metav1.Condition, string, error) {
	cond := meta.FindStatusCondition(conds, h.condition)
	if cond == nil || cond.Status != metav1.ConditionTrue {
		return nil, "", fmt.Errorf("the %s of %s holds no %s (condition %s is not True): nothing to confirm", h.agent, h.object, h.what, h.condition)
	}
	current := holdIDOf(cond.Message, h.annotation)
	if hold == "" {
		hold = current
	}
	if hold == "" {
		return nil, "", fmt.Errorf("cannot find the hold's ID in the %s message of %s: %q; pass --hold", h.condition, h.object, cond.Message)
	}
	if hold != current {
		return nil, "", fmt.Errorf("the %s of %s holds %s now, not %s: see its %s condition", h.agent, h.object, current, hold, h.condition)
	}
	return cond, hold, nil
}

// holdIDOf finds "<annotation>=<ID>" in a hold's message (PruneHeld,
// WithdrawHeld).
func holdIDOf(message, annotation string) string {
	_, rest, ok := strings.Cut(message, annotation+"=")
	if !ok {
		return ""
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return !strings.ContainsRune("0123456789abcdef", r) })
	if end < 0 {
		end = len(rest)
	}
	return rest[:end]
}
