package plugin

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/yaml"

	"github.com/portico-dev/portico/apis/traffic/rollout"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

func newRolloutUndoCommand(streams IOStreams, target targetFunc) *cobra.Command {
	var toRevision int64
	cmd := &cobra.Command{
		Use:   "undo fap/NAME [--to-revision=N]",
		Short: "Write an earlier revision's content back into the access point",
		Long: `Roll the access point back to an earlier revision: the content of that
AccessPointRevision (hosts, template, overrides, loadBalancer, tls) is written
back into the access point's spec, with the annotation
traffic.portico.dev/rollback-to-revision=N. Placement and spec.rollout are
not changed. portico-hub sends a rollback to every cluster at once, without
stages (a rollback is urgent); it becomes a new revision.

Without --to-revision the target is the stable revision (the last one that
completed a rollout) when the current revision is another one, else the
newest revision before the current one. When the spec already has that
content, nothing is changed.

Revisions beyond spec.rollout.revisionHistoryLimit are pruned: kubectl
portico rollout history lists those that are kept. While spec.rollout.paused
is true, the rollback reaches no cluster until the access point is resumed.`,
		Example: `  # Back to the last good revision (a halted or unwanted rollout):
  kubectl portico rollout undo fap/checkout -n shop

  # Back to revision 3:
  kubectl portico rollout undo fap/checkout -n shop --to-revision=3`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if toRevision < 0 {
				return fmt.Errorf("--to-revision must be a revision number (1, 2, ...), not %d", toRevision)
			}
			t, err := target(args)
			if err != nil {
				return err
			}
			return runRolloutUndo(cmd.Context(), streams, t, toRevision)
		},
	}
	cmd.Flags().Int64Var(&toRevision, "to-revision", 0, "The revision to roll back to (default: the stable revision, else the one before the current).")
	return cmd
}

// revisions lists fap's AccessPointRevisions (label RevisionLabel, and of
// this access point, not an earlier one of the same name), by number.
func (t *rolloutTarget) revisions(ctx context.Context, fap *trafficv1alpha1.FederatedAccessPoint) ([]trafficv1alpha1.AccessPointRevision, error) {
	sel := labels.SelectorFromSet(labels.Set{trafficv1alpha1.RevisionLabel: t.name}).String()
	list, err := t.client.TrafficV1alpha1().AccessPointRevisions(t.namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("listing the AccessPointRevisions of %s: %w", t.ref(), err)
	}
	revs := slices.DeleteFunc(list.Items, func(r trafficv1alpha1.AccessPointRevision) bool {
		ref := r.Spec.AccessPointRef
		return ref.Name != t.name || (ref.UID != "" && fap.UID != "" && ref.UID != fap.UID)
	})
	slices.SortFunc(revs, func(a, b trafficv1alpha1.AccessPointRevision) int {
		return cmp.Compare(a.Spec.Revision, b.Spec.Revision)
	})
	return revs, nil
}

// findRevision returns revision n of revs, or an error listing those kept.
func (t *rolloutTarget) findRevision(revs []trafficv1alpha1.AccessPointRevision, n int64) (*trafficv1alpha1.AccessPointRevision, error) {
	if i := slices.IndexFunc(revs, func(r trafficv1alpha1.AccessPointRevision) bool { return r.Spec.Revision == n }); i >= 0 {
		return &revs[i], nil
	}
	if len(revs) == 0 {
		return nil, fmt.Errorf("revision %d of %s does not exist: the access point has no AccessPointRevisions (portico-hub creates them)", n, t.ref())
	}
	kept := make([]string, 0, len(revs))
	for _, r := range revs {
		kept = append(kept, strconv.FormatInt(r.Spec.Revision, 10))
	}
	return nil, fmt.Errorf("revision %d of %s does not exist: it was pruned (spec.rollout.revisionHistoryLimit) or never created; "+
		"the revisions kept are %s (%s)", n, t.ref(), strings.Join(kept, ", "), t.command("history"))
}

// currentRevision is the revision being rolled out, or the newest kept when
// the hub has not recorded a rollout.
func currentRevision(fap *trafficv1alpha1.FederatedAccessPoint, revs []trafficv1alpha1.AccessPointRevision) int64 {
	if ro := fap.Status.Rollout; ro != nil && ro.Revision != 0 {
		return ro.Revision
	}
	if len(revs) > 0 {
		return revs[len(revs)-1].Spec.Revision
	}
	return 0
}

// undoTarget is the default revision of undo: the stable one when the
// current revision is another, else the newest before the current.
func (t *rolloutTarget) undoTarget(fap *trafficv1alpha1.FederatedAccessPoint, revs []trafficv1alpha1.AccessPointRevision) (int64, error) {
	current := currentRevision(fap, revs)
	if ro := fap.Status.Rollout; ro != nil && ro.StableRevision != 0 && ro.StableRevision != current {
		return ro.StableRevision, nil
	}
	for i := len(revs) - 1; i >= 0; i-- {
		if n := revs[i].Spec.Revision; n < current {
			return n, nil
		}
	}
	if current == 0 {
		return 0, fmt.Errorf("%s has no revisions yet: nothing to roll back to", t.ref())
	}
	return 0, fmt.Errorf("%s has no revision before revision %d to roll back to (%s)", t.ref(), current, t.command("history"))
}

func runRolloutUndo(ctx context.Context, streams IOStreams, t *rolloutTarget, toRevision int64) error {
	fap, err := t.get(ctx)
	if err != nil {
		return err
	}
	revs, err := t.revisions(ctx, fap)
	if err != nil {
		return err
	}
	if toRevision == 0 {
		if toRevision, err = t.undoTarget(fap, revs); err != nil {
			return err
		}
	}
	rev, err := t.findRevision(revs, toRevision)
	if err != nil {
		return err
	}
	unchanged := false
	client := t.client.TrafficV1alpha1().FederatedAccessPoints(t.namespace)
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if fap == nil {
			if fap, err = t.get(ctx); err != nil {
				return err
			}
		}
		current := rollout.Content(&fap.Spec)
		if unchanged = sameContent(&current, &rev.Spec.Content); unchanged {
			return nil
		}
		updated := fap.DeepCopy()
		setContent(&updated.Spec, &rev.Spec.Content)
		if updated.Annotations == nil {
			updated.Annotations = map[string]string{}
		}
		updated.Annotations[trafficv1alpha1.RollbackAnnotation] = strconv.FormatInt(toRevision, 10)
		_, err := client.Update(ctx, updated, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			fap = nil // read it again
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("rolling %s back to revision %d: %w", t.ref(), toRevision, err)
	}
	if unchanged {
		_, err = fmt.Fprintf(streams.Out, "%s already at revision %d's content\n", t.ref(), toRevision)
		return err
	}
	if _, err := fmt.Fprintf(streams.Out, "%s rolled back to revision %d\n", t.ref(), toRevision); err != nil {
		return err
	}
	if fap.Spec.Rollout != nil && fap.Spec.Rollout.Paused {
		fmt.Fprintf(streams.ErrOut, "warning: spec.rollout.paused is true: the rollback reaches no cluster until %s\n", t.command("resume"))
	}
	return nil
}

// setContent writes a revision's content into spec; placement, rollout and
// the traffic policy (spec.locality, drained zones) stay: undo does not undo a
// drain.
func setContent(spec *trafficv1alpha1.FederatedAccessPointSpec, c *trafficv1alpha1.RevisionContent) {
	c = c.DeepCopy()
	var drained []string
	if lb := spec.LoadBalancer; lb != nil && lb.CrossZone != nil {
		drained = lb.CrossZone.DrainedZones
	}
	spec.Hosts, spec.Template, spec.Overrides, spec.LoadBalancer, spec.TLS = c.Hosts, c.Template, c.Overrides, c.LoadBalancer, c.TLS
	if drained != nil && spec.LoadBalancer != nil {
		if spec.LoadBalancer.CrossZone == nil {
			spec.LoadBalancer.CrossZone = &trafficv1alpha1.CrossZone{}
		}
		spec.LoadBalancer.CrossZone.DrainedZones = drained
	}
}

// sameContent compares two contents as JSON documents (the templates are
// raw JSON, whose spacing and key order do not matter).
func sameContent(a, b *trafficv1alpha1.RevisionContent) bool {
	var da, db any
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	if errA != nil || errB != nil || json.Unmarshal(ja, &da) != nil || json.Unmarshal(jb, &db) != nil {
		return false
	}
	return reflect.DeepEqual(da, db)
}

func newRolloutHistoryCommand(streams IOStreams, target targetFunc) *cobra.Command {
	var revision int64
	cmd := &cobra.Command{
		Use:   "history fap/NAME [--revision=N]",
		Short: "List the revisions of an access point, or show one",
		Long: `List the AccessPointRevisions kept for an access point, oldest first:

  REVISION  the sequence number (1, 2, ...)
  HASH      the hash of the revision's content
  CREATED   how long ago portico-hub created it
  NOTE      "current" for the revision being rolled out (status.rollout.revision),
            "stable" for the last one that completed a rollout, and
            "rollback to K" for a revision whose content is that of the
            earlier revision K

With --revision=N it prints that revision's content (hosts, template,
overrides, loadBalancer, tls) as YAML instead.`,
		Example: `  # The revisions of checkout:
  kubectl portico rollout history fap/checkout -n shop

  # What revision 3 contained, compared with the current spec:
  kubectl portico rollout history fap/checkout -n shop --revision=3 > rev3.yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if revision < 0 {
				return fmt.Errorf("--revision must be a revision number (1, 2, ...), not %d", revision)
			}
			t, err := target(args)
			if err != nil {
				return err
			}
			return runRolloutHistory(cmd.Context(), streams, t, revision)
		},
	}
	cmd.Flags().Int64Var(&revision, "revision", 0, "Print the content of this revision as YAML.")
	return cmd
}

func runRolloutHistory(ctx context.Context, streams IOStreams, t *rolloutTarget, revision int64) error {
	fap, err := t.get(ctx)
	if err != nil {
		return err
	}
	revs, err := t.revisions(ctx, fap)
	if err != nil {
		return err
	}
	notes := revisionNotes(fap, revs)
	if revision != 0 {
		rev, err := t.findRevision(revs, revision)
		if err != nil {
			return err
		}
		return printRevision(streams.Out, t, rev, notes[revision])
	}
	if len(revs) == 0 {
		fmt.Fprintf(streams.ErrOut, "No revisions of %s found.\n", t.ref())
		return nil
	}
	var table strings.Builder
	tw := tabwriter.NewWriter(&table, 6, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "REVISION\tHASH\tCREATED\tNOTE")
	now := nowFunc()
	for _, r := range revs {
		created := "<unknown>"
		if !r.CreationTimestamp.IsZero() {
			created = duration.HumanDuration(now.Sub(r.CreationTimestamp.Time))
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", r.Spec.Revision, r.Spec.Hash, created, strings.Join(notes[r.Spec.Revision], ", "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// No padding after the last word of a line without a note.
	for line := range strings.Lines(table.String()) {
		if _, err := fmt.Fprintln(streams.Out, strings.TrimRight(line, " \n")); err != nil {
			return err
		}
	}
	return nil
}

// revisionNotes marks the current and the stable revision, and each revision
// whose content is that of an earlier one (a rollback): "rollback to K",
// with K the revision undo named (the access point's RollbackAnnotation)
// when it has that content, else the first revision that had it.
func revisionNotes(fap *trafficv1alpha1.FederatedAccessPoint, revs []trafficv1alpha1.AccessPointRevision) map[int64][]string {
	notes := map[int64][]string{}
	current := currentRevision(fap, revs)
	notes[current] = append(notes[current], "current")
	if ro := fap.Status.Rollout; ro != nil && ro.StableRevision != 0 {
		notes[ro.StableRevision] = append(notes[ro.StableRevision], "stable")
	}
	undone, _ := strconv.ParseInt(fap.Annotations[trafficv1alpha1.RollbackAnnotation], 10, 64)
	firstWithHash := map[string]int64{}
	hashOf := map[int64]string{}
	for _, r := range revs {
		hashOf[r.Spec.Revision] = r.Spec.Hash
		first, seen := firstWithHash[r.Spec.Hash]
		switch {
		case !seen:
			firstWithHash[r.Spec.Hash] = r.Spec.Revision
		case undone != 0 && undone < r.Spec.Revision && hashOf[undone] == r.Spec.Hash:
			notes[r.Spec.Revision] = append(notes[r.Spec.Revision], fmt.Sprintf("rollback to %d", undone))
		default:
			notes[r.Spec.Revision] = append(notes[r.Spec.Revision], fmt.Sprintf("rollback to %d", first))
		}
	}
	return notes
}

// printRevision prints a revision's content as YAML, after a comment naming
// it.
func printRevision(w io.Writer, t *rolloutTarget, rev *trafficv1alpha1.AccessPointRevision, notes []string) error {
	data, err := yaml.Marshal(&rev.Spec.Content)
	if err != nil {
		return fmt.Errorf("printing revision %d: %w", rev.Spec.Revision, err)
	}
	header := fmt.Sprintf("# %s revision %d (hash %s", t.ref(), rev.Spec.Revision, rev.Spec.Hash)
	if len(notes) > 0 {
		header += "; " + strings.Join(notes, ", ")
	}
	_, err = fmt.Fprintf(w, "%s)\n%s", header, data)
	return err
}
