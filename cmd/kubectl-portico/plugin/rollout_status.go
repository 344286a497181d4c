package plugin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

func newRolloutStatusCommand(streams IOStreams, target targetFunc) *cobra.Command {
	watchFlag, timeout := true, time.Duration(0)
	cmd := &cobra.Command{
		Use:   "status fap/NAME",
		Short: "Follow the rollout until it completes; exit non-zero when it halts",
		Long: `Print where the rollout of an access point's current revision stands:

  revision N (stable M): stage NAME i/n: U/T clusters updated: PHASE: message

N is the revision being rolled out (status.rollout.revision) and M the last
one that completed (stableRevision); the stage is the one the rollout is at
("all clusters at once" for the first revision, a rollback or the AllAtOnce
strategy); U of the T placed clusters run revision N and are healthy; PHASE
is Progressing, Paused, Halted or Complete.

By default status watches the access point and prints a line on every change
until the rollout is Complete (exit code 0) or Halted (exit code 1, the reason
on stderr). While a stage waits for approval it keeps waiting and says which
command approves it; --timeout gives up (exit code 1) after a while. A status
older than the spec (portico-hub has not caught up yet) does not count as
Complete or Halted.

With --watch=false it prints the line once; the exit code is 1 only when the
rollout is Halted.`,
		Example: `  # Wait until the rollout of checkout completes, at most 30 minutes:
  kubectl portico rollout status fap/checkout -n shop --timeout 30m

  # Where it stands now:
  kubectl portico rollout status fap/checkout -n shop --watch=false`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if timeout < 0 {
				return fmt.Errorf("--timeout must not be negative, not %s", timeout)
			}
			t, err := target(args)
			if err != nil {
				return err
			}
			if !watchFlag {
				return rolloutStatusOnce(cmd.Context(), streams, t)
			}
			return rolloutStatusWatch(cmd.Context(), streams, t, timeout)
		},
	}
	cmd.Flags().BoolVarP(&watchFlag, "watch", "w", true, "Wait until the rollout is Complete or Halted, printing every change.")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "How long to wait (e.g. 30m) before giving up with exit code 1; 0 waits forever.")
	return cmd
}

// rolloutLine is where the rollout of fap stands, on one line.
func rolloutLine(fap *trafficv1alpha1.FederatedAccessPoint) string {
	ro := fap.Status.Rollout
	if ro == nil {
		return "no rollout recorded yet: portico-hub has not reconciled the access point"
	}
	parts := []string{revisionText(ro), stageText(fap), fmt.Sprintf("%d/%d clusters updated", ro.UpdatedClusters, ro.TotalClusters),
		orDefault(ro.Phase, "Unknown")}
	if ro.Message != "" {
		parts = append(parts, oneLine(ro.Message))
	}
	line := strings.Join(parts, ": ")
	if stale(fap) {
		line += fmt.Sprintf(" (status of generation %d, the spec is at %d: portico-hub is catching up)",
			fap.Status.ObservedGeneration, fap.Generation)
	}
	return line
}

// revisionText is "revision N (stable M)".
func revisionText(ro *trafficv1alpha1.RolloutStatus) string {
	switch ro.StableRevision {
	case 0:
		return fmt.Sprintf("revision %d", ro.Revision)
	case ro.Revision:
		return fmt.Sprintf("revision %d (stable)", ro.Revision)
	}
	return fmt.Sprintf("revision %d (stable %d)", ro.Revision, ro.StableRevision)
}

// stageText is "stage NAME i/n", or "all clusters at once" when the
// revision is not staged.
func stageText(fap *trafficv1alpha1.FederatedAccessPoint) string {
	ro := fap.Status.Rollout
	if ro.Stage == "" {
		return "all clusters at once"
	}
	n := 0
	if r := fap.Spec.Rollout; r != nil && r.Strategy == trafficv1alpha1.RolloutStaged {
		n = len(r.Stages)
	}
	if int(ro.StageIndex) >= n {
		return "stage " + ro.Stage
	}
	return fmt.Sprintf("stage %s %d/%d", ro.Stage, ro.StageIndex+1, n)
}

// stale is true when the status is of an older generation than the spec.
func stale(fap *trafficv1alpha1.FederatedAccessPoint) bool {
	return fap.Status.ObservedGeneration < fap.Generation
}

// rolloutHint is what to run while the rollout is paused, or "".
func rolloutHint(t *rolloutTarget, fap *trafficv1alpha1.FederatedAccessPoint) string {
	ro := fap.Status.Rollout
	if ro == nil || ro.Phase != trafficv1alpha1.RolloutPaused {
		return ""
	}
	if fap.Spec.Rollout != nil && fap.Spec.Rollout.Paused {
		return "paused by spec.rollout.paused: to continue, run " + t.command("resume")
	}
	if c := meta.FindStatusCondition(fap.Status.Conditions, trafficv1alpha1.AccessPointRolledOut); c != nil &&
		c.Reason == trafficv1alpha1.RolledOutReasonPausedBySpec {
		return "paused by spec.rollout.paused: to continue, run " + t.command("resume")
	}
	return fmt.Sprintf("waiting for approval of stage %s: to approve it, run %s", ro.Stage, t.command("approve"))
}

// haltedError is the error of a Halted rollout, nil otherwise.
func haltedError(t *rolloutTarget, fap *trafficv1alpha1.FederatedAccessPoint) error {
	ro := fap.Status.Rollout
	if ro == nil || ro.Phase != trafficv1alpha1.RolloutHalted {
		return nil
	}
	msg := fmt.Sprintf("rollout of revision %d of %s halted: %s", ro.Revision, t.ref(), orDefault(ro.Message, "(no message)"))
	if ro.StableRevision != 0 && ro.StableRevision != ro.Revision {
		msg += fmt.Sprintf("\nto return every cluster to revision %d, run %s", ro.StableRevision, t.command("undo"))
	}
	return errors.New(msg)
}

// rolloutStatusOnce prints the rollout line (and what to run while it is
// paused); only a Halted rollout is an error.
func rolloutStatusOnce(ctx context.Context, streams IOStreams, t *rolloutTarget) error {
	fap, err := t.get(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(streams.Out, rolloutLine(fap))
	if hint := rolloutHint(t, fap); hint != "" {
		fmt.Fprintln(streams.Out, hint)
	}
	return haltedError(t, fap)
}

// rolloutWatcher prints the changes of a rollout and decides when waiting is
// over.
type rolloutWatcher struct {
	streams  IOStreams
	target   *rolloutTarget
	lastLine string
	lastHint string
}

// observe prints fap's rollout line when it changed; done when the rollout of
// the spec's generation is Complete, an error when it is Halted.
func (w *rolloutWatcher) observe(fap *trafficv1alpha1.FederatedAccessPoint) (bool, error) {
	if line := rolloutLine(fap); line != w.lastLine {
		fmt.Fprintln(w.streams.Out, line)
		w.lastLine = line
	}
	if hint := rolloutHint(w.target, fap); hint != w.lastHint {
		if hint != "" {
			fmt.Fprintln(w.streams.Out, hint)
		}
		w.lastHint = hint
	}
	if stale(fap) || fap.Status.Rollout == nil {
		return false, nil
	}
	if err := haltedError(w.target, fap); err != nil {
		return false, err
	}
	return fap.Status.Rollout.Phase == trafficv1alpha1.RolloutComplete, nil
}

// condition is the watch condition of observe.
func (w *rolloutWatcher) condition(ev watch.Event) (bool, error) {
	switch ev.Type {
	case watch.Deleted:
		return false, fmt.Errorf("%s was deleted", w.target.ref())
	case watch.Error:
		return false, apierrors.FromObject(ev.Object)
	}
	fap, ok := ev.Object.(*trafficv1alpha1.FederatedAccessPoint)
	if !ok || fap.Name != w.target.name {
		return false, nil
	}
	return w.observe(fap)
}

// rolloutStatusWatch watches the access point (re-listing after errors, as
// kubectl rollout status does) until observe says done, an error, or the
// timeout (0: none).
func rolloutStatusWatch(ctx context.Context, streams IOStreams, t *rolloutTarget, timeout time.Duration) error {
	fap, err := t.get(ctx)
	if err != nil {
		return err
	}
	w := &rolloutWatcher{streams: streams, target: t}
	if done, err := w.observe(fap); done || err != nil {
		return err
	}
	selector := fields.OneTermEqualSelector("metadata.name", t.name).String()
	client := t.client.TrafficV1alpha1().FederatedAccessPoints(t.namespace)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.FieldSelector = selector
			return client.List(ctx, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.FieldSelector = selector
			return client.Watch(ctx, opts)
		},
	}
	exists := func(store cache.Store) (bool, error) {
		if _, found, err := store.GetByKey(t.namespace + "/" + t.name); err != nil || !found {
			// It was there a moment ago (get).
			return false, fmt.Errorf("%s was deleted", t.ref())
		}
		return false, nil
	}
	wctx, cancel := watchtools.ContextWithOptionalTimeout(ctx, timeout)
	defer cancel()
	_, err = watchtools.UntilWithSync(wctx, cache.ToListWatcherWithWatchListSemantics(lw, t.client),
		&trafficv1alpha1.FederatedAccessPoint{}, exists, w.condition)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil: // interrupted
		return ctx.Err()
	case errors.Is(wctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("timed out after %s waiting for the rollout of %s to complete; last: %s",
			timeout, t.ref(), w.lastLine)
	}
	return err
}
