package plugin

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// rolloutForms are the ways a rollout subcommand names its access point.
const rolloutForms = "fap/NAME, federatedaccesspoint/NAME, fap NAME or NAME"

// newRolloutCommand is `kubectl portico rollout` and its subcommands.
func newRolloutCommand(streams IOStreams, kf *kubeFlags) *cobra.Command {
	namespace := new(string)
	cmd := &cobra.Command{
		Use:   "rollout SUBCOMMAND",
		Short: "Follow, approve, pause, resume and undo the staged rollout of an access point",
		Long: `Manage the rollout of a FederatedAccessPoint's revisions to its clusters.

Every change of an access point's content (hosts, template, overrides,
loadBalancer, tls) makes a new AccessPointRevision, numbered 1, 2, ... With
spec.rollout.strategy Staged, portico-hub sends a new revision to the clusters
of one stage after the other (spec.rollout.stages): a stage with pause waits
for approval, a stage's clusters must stay healthy for its soakSeconds before
the next stage starts, and a failing cluster halts the rollout. The first
revision and a rollback go to every cluster at once.

The subcommands name the access point as fap/NAME, federatedaccesspoint/NAME,
fap NAME or just NAME, in the namespace -n (default: the kubeconfig context's).`,
		Example: `  # Follow the rollout of checkout until it completes (exit 1 if it halts):
  kubectl portico rollout status fap/checkout -n shop

  # The canary stage looks good: let the rollout continue.
  kubectl portico rollout approve fap/checkout -n shop

  # Stop everything, now; and continue later:
  kubectl portico rollout pause fap/checkout -n shop
  kubectl portico rollout resume fap/checkout -n shop

  # Return every cluster to the last good revision, or to revision 3:
  kubectl portico rollout undo fap/checkout -n shop
  kubectl portico rollout undo fap/checkout -n shop --to-revision=3

  # The revisions kept, and what revision 3 contained:
  kubectl portico rollout history fap/checkout -n shop
  kubectl portico rollout history fap/checkout -n shop --revision=3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.PersistentFlags().StringVarP(namespace, "namespace", "n", "", "Namespace of the access point (default: the kubeconfig context's namespace).")
	target := func(args []string) (*rolloutTarget, error) { return newRolloutTarget(kf, *namespace, args) }
	cmd.AddCommand(
		newRolloutStatusCommand(streams, target),
		newRolloutApproveCommand(streams, target),
		newRolloutPauseCommand(streams, target, true),
		newRolloutPauseCommand(streams, target, false),
		newRolloutUndoCommand(streams, target),
		newRolloutHistoryCommand(streams, target),
	)
	return cmd
}

// rolloutTarget is the access point a rollout subcommand acts on.
type rolloutTarget struct {
	client    versioned.Interface
	namespace string
	name      string
}

// targetFunc makes the rolloutTarget of a subcommand's arguments.
type targetFunc func(args []string) (*rolloutTarget, error)

func newRolloutTarget(kf *kubeFlags, namespace string, args []string) (*rolloutTarget, error) {
	name, err := parseRolloutArgs(args)
	if err != nil {
		return nil, err
	}
	client, namespace, err := porticoClient(kf, namespace)
	if err != nil {
		return nil, err
	}
	return &rolloutTarget{client: client, namespace: namespace, name: name}, nil
}

// parseRolloutArgs returns the access point name of fap/NAME,
// federatedaccesspoint/NAME, fap NAME or NAME.
func parseRolloutArgs(args []string) (string, error) {
	isKind := func(s string) bool { return slices.Contains(describeKinds, strings.ToLower(s)) }
	switch {
	case len(args) == 2 && isKind(args[0]) && args[1] != "" && !strings.Contains(args[1], "/"):
		return args[1], nil
	case len(args) != 1:
		return "", fmt.Errorf("expected one access point (%s), got %d arguments", rolloutForms, len(args))
	}
	kind, name, found := strings.Cut(args[0], "/")
	switch {
	case !found && isKind(kind):
		return "", fmt.Errorf("%q needs the access point's NAME: %s", args[0], rolloutForms)
	case !found:
		return kind, nil
	case !isKind(kind) || name == "" || strings.Contains(name, "/"):
		return "", fmt.Errorf("rollout acts on FederatedAccessPoints only: %s; not %q", rolloutForms, args[0])
	}
	return name, nil
}

// ref is the access point as kubectl prints it.
func (t *rolloutTarget) ref() string {
	return "federatedaccesspoint.traffic.portico.dev/" + t.name
}

// command is a kubectl portico rollout command line for the access point,
// for hints.
func (t *rolloutTarget) command(sub string) string {
	return fmt.Sprintf("kubectl portico rollout %s fap/%s -n %s", sub, t.name, t.namespace)
}

// get reads the access point; NotFound says where it was looked for.
func (t *rolloutTarget) get(ctx context.Context) (*trafficv1alpha1.FederatedAccessPoint, error) {
	fap, err := t.client.TrafficV1alpha1().FederatedAccessPoints(t.namespace).Get(ctx, t.name, metav1.GetOptions{})
	if err != nil {
		return nil, notFoundHint(err, t.namespace)
	}
	return fap, nil
}

func newRolloutApproveCommand(streams IOStreams, target targetFunc) *cobra.Command {
	var stage string
	cmd := &cobra.Command{
		Use:   "approve fap/NAME [--stage STAGE]",
		Short: "Approve the stage the rollout waits at",
		Long: `Approve the stage the rollout of the current revision waits at (a stage with
pause: true), so that portico-hub starts it. The approval (who, when, which
stage) is recorded in status.rollout.approvals.

The approval names the current revision (status.rollout.revision) and the
waiting stage (status.rollout.stage, or --stage): if the rollout has moved on
meanwhile, or waits for no approval, the hub refuses it (Conflict) and nothing
is approved. Approving needs the verb create on the subresource
federatedaccesspoints/approve, which editing the access point does not give.`,
		Example: `  # Approve the stage checkout's rollout waits at:
  kubectl portico rollout approve fap/checkout -n shop

  # Approve only if the rollout waits at stage canary:
  kubectl portico rollout approve fap/checkout -n shop --stage canary`,
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := target(args)
			if err != nil {
				return err
			}
			return runRolloutApprove(cmd.Context(), streams, t, stage)
		},
	}
	cmd.Flags().StringVar(&stage, "stage", "", "The stage to approve (default: the stage the rollout is at, status.rollout.stage).")
	return cmd
}

func runRolloutApprove(ctx context.Context, streams IOStreams, t *rolloutTarget, stage string) error {
	fap, err := t.get(ctx)
	if err != nil {
		return err
	}
	ro := fap.Status.Rollout
	if ro == nil || ro.Revision == 0 {
		return fmt.Errorf("%s has no rollout recorded yet: nothing to approve (%s)", t.ref(), t.command("status"))
	}
	if stage == "" {
		stage = ro.Stage
	}
	approval := &trafficv1alpha1.RolloutApproval{Stage: stage, Revision: ro.Revision}
	_, err = t.client.TrafficV1alpha1().FederatedAccessPoints(t.namespace).Approve(ctx, t.name, approval, metav1.CreateOptions{})
	what := fmt.Sprintf("stage %s of revision %d", stage, ro.Revision)
	if stage == "" {
		what = fmt.Sprintf("the waiting stage of revision %d", ro.Revision)
	}
	switch {
	case apierrors.IsConflict(err):
		return fmt.Errorf("cannot approve %s of %s: %w\n(see %s)", what, t.ref(), err, t.command("status --watch=false"))
	case apierrors.IsForbidden(err):
		return fmt.Errorf("not allowed to approve %s of %s: %w\napproving needs the verb create on federatedaccesspoints/approve: "+
			"kubectl auth can-i create federatedaccesspoints.traffic.portico.dev --subresource=approve -n %s", what, t.ref(), err, t.namespace)
	case err != nil:
		return fmt.Errorf("approving %s of %s: %w", what, t.ref(), err)
	}
	_, err = fmt.Fprintf(streams.Out, "%s approved %s\n", t.ref(), what)
	return err
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// newRolloutPauseCommand is `rollout pause` (pause true) or `rollout resume`.
func newRolloutPauseCommand(streams IOStreams, target targetFunc, pause bool) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pause fap/NAME",
		Short: "Freeze the rollout where it is: nothing new is written to any cluster",
		Long: `Set spec.rollout.paused to true: the emergency brake. A rollout in progress
stops where it is, and portico-hub writes nothing new to any cluster (not even
a later revision or a rollback) until the access point is resumed. Clusters
keep what they run. Pausing a paused access point changes nothing.`,
		Example: `  kubectl portico rollout pause fap/checkout -n shop`,
	}
	if !pause {
		cmd.Use = "resume fap/NAME"
		cmd.Short = "Let a paused rollout continue"
		cmd.Long = `Set spec.rollout.paused to false: portico-hub continues the rollout where it
stopped (a stage waiting for approval still waits for it). Resuming an access
point that is not paused changes nothing.`
		cmd.Example = `  kubectl portico rollout resume fap/checkout -n shop`
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		t, err := target(args)
		if err != nil {
			return err
		}
		return runRolloutPause(cmd.Context(), streams, t, pause)
	}
	return cmd
}

// runRolloutPause sets spec.rollout.paused with a JSON merge patch, which
// creates spec.rollout when there is none.
func runRolloutPause(ctx context.Context, streams IOStreams, t *rolloutTarget, pause bool) error {
	fap, err := t.get(ctx)
	if err != nil {
		return err
	}
	done := "paused"
	if !pause {
		done = "resumed"
	}
	if paused := fap.Spec.Rollout != nil && fap.Spec.Rollout.Paused; paused == pause {
		if pause {
			_, err = fmt.Fprintf(streams.Out, "%s already paused\n", t.ref())
		} else {
			_, err = fmt.Fprintf(streams.Out, "%s is not paused\n", t.ref())
		}
		return err
	}
	patch := fmt.Appendf(nil, `{"spec":{"rollout":{"paused":%t}}}`, pause)
	if _, err := t.client.TrafficV1alpha1().FederatedAccessPoints(t.namespace).Patch(ctx, t.name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("setting spec.rollout.paused of %s to %t: %w", t.ref(), pause, err)
	}
	_, err = fmt.Fprintf(streams.Out, "%s %s\n", t.ref(), done)
	return err
}
