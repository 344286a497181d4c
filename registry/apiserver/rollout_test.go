//go:build registry

package apiserver

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/portico-dev/portico/apis/traffic"
	"github.com/portico-dev/portico/registry/store"
	"github.com/portico-dev/portico/registry/traffic/accesspointrevision"
	"github.com/portico-dev/portico/registry/traffic/federatedaccesspoint"
)

func newRevision(name string, revision int64) *traffic.AccessPointRevision {
	fap := newFAP("web", validVS)
	return &traffic.AccessPointRevision{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Labels: map[string]string{traffic.RevisionLabel: "web"}},
		Spec: traffic.AccessPointRevisionSpec{
			AccessPointRef: traffic.AccessPointReference{Namespace: "shop", Name: "web"},
			Revision:       revision,
			Hash:           "0123abcd",
			Content:        traffic.RevisionContent{Hosts: fap.Spec.Hosts, Template: fap.Spec.Template},
		},
	}
}

// TestAccessPointRevisionIsImmutable: a revision has no status and no /status;
// its spec cannot change after create, its metadata can.
func TestAccessPointRevisionIsImmutable(t *testing.T) {
	r, status, err := store.New(Scheme, newOptsGetter(t), accesspointrevision.Kind)
	if err != nil {
		t.Fatal(err)
	}
	if status != nil {
		t.Fatal("a kind without status must get no /status storage")
	}
	if set := r.GetResetFields()[fieldpath.APIVersion("traffic.portico.dev/v1alpha1")]; set == nil || set.Has(fieldpath.MakePathOrDie("status")) {
		t.Fatalf("reset fields of a kind without status: %v", set)
	}
	ctx := ctxIn("shop")

	out, err := create(t, r, ctx, newRevision("web-1", 1))
	if err != nil {
		t.Fatal(err)
	}
	apr := out.(*traffic.AccessPointRevision)
	if apr.Generation != 1 || apr.Spec.Revision != 1 || apr.Spec.Content.Hosts[0] != "shop.example.com" {
		t.Fatalf("created: generation=%d spec=%+v", apr.Generation, apr.Spec)
	}

	_, err = create(t, r, ctx, newRevision("web-0", 0))
	wantInvalid(t, err, "spec.revision")

	// The spec is refused with a field error and nothing is stored.
	edit := apr.DeepCopy()
	edit.Spec.Hash = "forged"
	_, err = update(ctx, r, edit, "web-1")
	wantInvalid(t, err, "spec")
	edit = apr.DeepCopy()
	edit.Spec.Content.Hosts = []string{"evil.example.com"}
	_, err = update(ctx, r, edit, "web-1")
	wantInvalid(t, err, "spec")

	// Metadata changes: the controller adopts revisions and relabels them.
	edit = apr.DeepCopy()
	edit.Labels["extra"] = "yes"
	edit.OwnerReferences = []metav1.OwnerReference{{APIVersion: "traffic.portico.dev/v1alpha1", Kind: "FederatedAccessPoint", Name: "web", UID: "uid-1"}}
	out, err = update(ctx, r, edit, "web-1")
	if err != nil {
		t.Fatalf("metadata update: %v", err)
	}
	got := out.(*traffic.AccessPointRevision)
	if got.Labels["extra"] != "yes" || len(got.OwnerReferences) != 1 || got.Spec.Hash != "0123abcd" || got.Generation != 1 {
		t.Fatalf("after metadata update: labels=%v owners=%v hash=%q generation=%d", got.Labels, got.OwnerReferences, got.Spec.Hash, got.Generation)
	}

	table, err := r.ConvertToTable(ctx, got, &metav1.TableOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range table.ColumnDefinitions {
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != "Name,Access Point,Revision,Hash,Age" {
		t.Fatalf("columns = %v", names)
	}
	if cells := table.Rows[0].Cells; cells[0] != "web-1" || cells[1] != "web" || cells[2] != int64(1) || cells[3] != "0123abcd" {
		t.Fatalf("cells = %v", cells)
	}
	if !slices.Equal(r.ShortNames(), []string{"apr"}) || !slices.Equal(r.Categories(), []string{"portico"}) {
		t.Fatalf("short names %v, categories %v", r.ShortNames(), r.Categories())
	}
}

// rolloutFixture is an access point whose rollout of revision 3 is at stage
// canary, and the storage to write it.
type rolloutFixture struct {
	main    *store.REST
	status  *store.StatusREST
	approve *federatedaccesspoint.ApproveREST
	ctx     context.Context
}

func newRolloutFixture(t *testing.T) *rolloutFixture {
	t.Helper()
	r, status, err := store.New(Scheme, newOptsGetter(t), federatedaccesspoint.Kind)
	if err != nil {
		t.Fatal(err)
	}
	f := &rolloutFixture{main: r, status: status, approve: federatedaccesspoint.NewApproveREST(status), ctx: ctxIn("shop")}
	if _, err := create(t, r, f.ctx, newFAP("web", validVS)); err != nil {
		t.Fatal(err)
	}
	return f
}

// setRollout writes status.rollout and the RolledOut condition as the
// controller does.
func (f *rolloutFixture) setRollout(t *testing.T, phase, reason string, approvals ...traffic.RolloutApprovalRecord) *traffic.FederatedAccessPoint {
	t.Helper()
	fap := f.get(t)
	fap.Status.Rollout = &traffic.RolloutStatus{Revision: 3, StableRevision: 2, Stage: "canary", StageIndex: 0, Phase: phase,
		UpdatedClusters: 0, TotalClusters: 3, Approvals: approvals}
	fap.Status.Conditions = nil
	meta.SetStatusCondition(&fap.Status.Conditions, metav1.Condition{Type: traffic.AccessPointRolledOut,
		Status: metav1.ConditionFalse, Reason: reason, Message: "test"})
	out, err := update(f.ctx, f.status, fap, "web")
	if err != nil {
		t.Fatal(err)
	}
	return out.(*traffic.FederatedAccessPoint)
}

func (f *rolloutFixture) get(t *testing.T) *traffic.FederatedAccessPoint {
	t.Helper()
	out, err := f.main.Get(f.ctx, "web", &metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out.(*traffic.FederatedAccessPoint)
}

func (f *rolloutFixture) post(userName, name string, a *traffic.RolloutApproval) (*traffic.FederatedAccessPoint, error) {
	ctx := genericapirequest.WithUser(f.ctx, &user.DefaultInfo{Name: userName})
	out, err := f.approve.Create(ctx, name, a, rest.ValidateAllObjectFunc, &metav1.CreateOptions{})
	if err != nil {
		return nil, err
	}
	return out.(*traffic.FederatedAccessPoint), nil
}

func wantConflict(t *testing.T, err error, message string) {
	t.Helper()
	if !apierrors.IsConflict(err) {
		t.Fatalf("want a Conflict error, got %v", err)
	}
	if !strings.Contains(err.Error(), message) {
		t.Fatalf("conflict %q does not say %q", err, message)
	}
}

// TestApproveRefusesUnlessAStageWaits: 404 without the access point, 422 for a
// malformed approval, 409 unless the rollout waits for an approval of the
// named stage and revision; nothing is recorded then.
func TestApproveRefusesUnlessAStageWaits(t *testing.T) {
	f := newRolloutFixture(t)
	_, err := f.approve.Create(f.ctx, "web", &traffic.RolloutApproval{}, rest.ValidateAllObjectFunc, &metav1.CreateOptions{})
	if !apierrors.IsBadRequest(err) {
		t.Fatalf("approval without a user: %v, want BadRequest", err)
	}

	if _, err := f.post("alice", "missing", &traffic.RolloutApproval{}); !apierrors.IsNotFound(err) {
		t.Fatalf("approving a missing access point: %v, want NotFound", err)
	}
	_, err = f.post("alice", "web", &traffic.RolloutApproval{Revision: -1})
	wantInvalid(t, err, "revision")

	_, err = f.post("alice", "web", &traffic.RolloutApproval{})
	wantConflict(t, err, "shop/web is not waiting for approval: no rollout is recorded")

	f.setRollout(t, traffic.RolloutProgressing, "Progressing")
	_, err = f.post("alice", "web", &traffic.RolloutApproval{})
	wantConflict(t, err, "shop/web is not waiting for approval: rollout of revision 3 is Progressing")

	// Paused by spec.rollout.paused is not a wait for approval.
	f.setRollout(t, traffic.RolloutPaused, traffic.RolledOutReasonPausedBySpec)
	_, err = f.post("alice", "web", &traffic.RolloutApproval{})
	wantConflict(t, err, "rollout of revision 3 is Paused (PausedBySpec)")

	before := f.setRollout(t, traffic.RolloutPaused, traffic.RolledOutReasonAwaitingApproval)
	_, err = f.post("alice", "web", &traffic.RolloutApproval{Stage: "rest"})
	wantConflict(t, err, `shop/web waits for approval of stage "canary" of revision 3, not of stage "rest"`)
	_, err = f.post("alice", "web", &traffic.RolloutApproval{Stage: "canary", Revision: 2})
	wantConflict(t, err, `not of stage "canary" of revision 2`)

	after := f.get(t)
	if after.ResourceVersion != before.ResourceVersion || len(after.Status.Rollout.Approvals) != 0 {
		t.Fatalf("a refused approval wrote: resourceVersion %s -> %s, approvals %v", before.ResourceVersion, after.ResourceVersion, after.Status.Rollout.Approvals)
	}
}

// TestApproveRecordsWhoAndWhen: the approval of the waiting stage records the
// user and the time in status, keeps the spec and generation, drops the
// approvals of other revisions and is not recorded twice.
func TestApproveRecordsWhoAndWhen(t *testing.T) {
	f := newRolloutFixture(t)
	old := metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second))
	before := f.setRollout(t, traffic.RolloutPaused, traffic.RolledOutReasonAwaitingApproval,
		traffic.RolloutApprovalRecord{Stage: "canary", Revision: 2, User: "carol", Time: old},
		traffic.RolloutApprovalRecord{Stage: "zone-a", Revision: 3, User: "carol", Time: old},
	)

	start := time.Now().Truncate(time.Second)
	fap, err := f.post("alice", "web", &traffic.RolloutApproval{Stage: "canary", Revision: 3})
	if err != nil {
		t.Fatal(err)
	}
	end := time.Now()
	want := []traffic.RolloutApprovalRecord{
		{Stage: "zone-a", Revision: 3, User: "carol", Time: old},
		{Stage: "canary", Revision: 3, User: "alice"},
	}
	checkApprovals(t, fap.Status.Rollout.Approvals, want, start, end)
	if fap.Generation != before.Generation || !slices.Equal(fap.Spec.Hosts, before.Spec.Hosts) || fap.Status.Rollout.Phase != traffic.RolloutPaused {
		t.Fatalf("approve changed more than the approvals: generation %d -> %d, hosts %v, phase %s",
			before.Generation, fap.Generation, fap.Spec.Hosts, fap.Status.Rollout.Phase)
	}
	checkApprovals(t, f.get(t).Status.Rollout.Approvals, want, start, end)

	// Approving again (the controller has not moved on yet) records nothing new.
	again, err := f.post("bob", "web", &traffic.RolloutApproval{})
	if err != nil {
		t.Fatal(err)
	}
	checkApprovals(t, again.Status.Rollout.Approvals, want, start, end)
}

// checkApprovals compares approvals with want; a zero Time in want means
// "between start and end".
func checkApprovals(t *testing.T, got, want []traffic.RolloutApprovalRecord, start, end time.Time) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("approvals %+v, want %+v", got, want)
	}
	for i, w := range want {
		g := got[i]
		if g.Stage != w.Stage || g.Revision != w.Revision || g.User != w.User {
			t.Fatalf("approval %d: %+v, want %+v", i, g, w)
		}
		if w.Time.IsZero() {
			if g.Time.Time.Before(start) || g.Time.Time.After(end) {
				t.Fatalf("approval %d at %v, not between %v and %v", i, g.Time, start, end)
			}
		} else if !g.Time.Equal(&w.Time) {
			t.Fatalf("approval %d at %v, want %v", i, g.Time, w.Time)
		}
	}
}
