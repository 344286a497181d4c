package plugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	clienttesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"

	porticofake "github.com/portico-dev/portico/apis/generated/clientset/versioned/fake"
	"github.com/portico-dev/portico/apis/traffic/rollout"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

const testUID = "0b5e7c1a-uid"

// virtualServiceTemplate is a template with one VirtualService whose route times out
// after timeout.
func virtualServiceTemplate(timeout string) trafficv1alpha1.AccessPointTemplate {
	return trafficv1alpha1.AccessPointTemplate{VirtualServices: []trafficv1alpha1.NamedTemplate{{
		Name: "checkout",
		Spec: trafficv1alpha1.JSONObject{Raw: []byte(`{"hosts":["checkout.portico.test"],"http":[{"timeout":"` + timeout + `",` +
			`"route":[{"destination":{"host":"checkout.shop.svc.cluster.local"}}]}]}`)},
	}}}
}

// rolloutHub is readyHub with a Staged rollout of revision 4 (stable 3):
// stage canary (zone-b-1, approved by alice) is done, stage rest (zone-a-1)
// waits for approval. Revisions 2, 3 and 4 are kept (1 was pruned); the spec
// has revision 4's content.
func rolloutHub() *hubObjects {
	h := readyHub()
	fap := h.fap
	fap.UID = testUID
	fap.Spec.Placement = &trafficv1alpha1.Placement{Zones: []string{"zone-a", "zone-b"}}
	fap.Spec.Template = virtualServiceTemplate("5s")
	fap.Spec.Rollout = &trafficv1alpha1.RolloutSpec{Strategy: trafficv1alpha1.RolloutStaged, Stages: []trafficv1alpha1.RolloutStage{
		{Name: "canary", Clusters: []trafficv1alpha1.ClusterReference{{Name: "zone-b-1"}}, Pause: true},
		{Name: "rest", Pause: true, SoakSeconds: 300},
	}}
	fap.Status.Clusters[0].Revision = 4 // zone-b-1
	fap.Status.Clusters[1].Revision = 3 // zone-a-1
	fap.Status.Rollout = &trafficv1alpha1.RolloutStatus{
		Revision: 4, StableRevision: 3, Stage: "rest", StageIndex: 1, Phase: trafficv1alpha1.RolloutPaused,
		Message:         "stage rest waits for approval (kubectl portico rollout approve)",
		UpdatedClusters: 1, TotalClusters: 2,
		Approvals: []trafficv1alpha1.RolloutApprovalRecord{{Stage: "canary", Revision: 4, User: "alice", Time: ago(10 * time.Minute)}},
	}
	meta.SetStatusCondition(&fap.Status.Conditions, cond(trafficv1alpha1.AccessPointRolledOut, "False",
		trafficv1alpha1.RolledOutReasonAwaitingApproval, "stage rest waits for approval (kubectl portico rollout approve)", 2*time.Minute))

	rev := func(n int64, hash, timeout string, age time.Duration) *trafficv1alpha1.AccessPointRevision {
		content := rollout.Content(&fap.Spec)
		content.Template = virtualServiceTemplate(timeout)
		return accessPointRevision("checkout", testUID, n, hash, content, age)
	}
	// Out of order, to show that history sorts; with a revision of an
	// earlier access point of the same name, and one of another.
	h.extra = append(h.extra, rev(4, "4444444444", "5s", time.Hour), rev(2, "2222222222", "30s", 72*time.Hour),
		rev(3, "3333333333", "10s", 48*time.Hour),
		accessPointRevision("checkout", "earlier-uid", 9, "9999999999", rollout.Content(&fap.Spec), 100*time.Hour),
		accessPointRevision("cart", "", 5, "5555555555", rollout.Content(&fap.Spec), time.Hour))
	return h
}

func accessPointRevision(fap string, uid types.UID, n int64, hash string, content trafficv1alpha1.RevisionContent, age time.Duration) *trafficv1alpha1.AccessPointRevision {
	return &trafficv1alpha1.AccessPointRevision{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: fmt.Sprintf("%s-%d", fap, n), CreationTimestamp: ago(age),
			Labels: map[string]string{trafficv1alpha1.RevisionLabel: fap}},
		Spec: trafficv1alpha1.AccessPointRevisionSpec{
			AccessPointRef: trafficv1alpha1.AccessPointReference{Namespace: "shop", Name: fap, UID: uid},
			Revision:       n, Hash: hash, Content: content,
		},
	}
}

// setPhase puts the rollout of h in phase with the RolledOut reason and message.
func setPhase(h *hubObjects, phase, reason, message string) {
	ro := h.fap.Status.Rollout
	ro.Phase, ro.Message = phase, message
	status := metav1.ConditionFalse
	if phase == trafficv1alpha1.RolloutComplete {
		status, ro.StableRevision, ro.UpdatedClusters = metav1.ConditionTrue, ro.Revision, ro.TotalClusters
	}
	meta.SetStatusCondition(&h.fap.Status.Conditions, cond(trafficv1alpha1.AccessPointRolledOut, status, reason, message, time.Minute))
}

const haltMessage = `halted at stage "canary": zone-b-1: VirtualService shop/checkout: denied by ValidatingAdmissionPolicy no-timeouts`

func haltedHub() *hubObjects {
	h := rolloutHub()
	h.fap.Status.Rollout.Stage, h.fap.Status.Rollout.StageIndex = "canary", 0
	setPhase(h, trafficv1alpha1.RolloutHalted, trafficv1alpha1.RolledOutReasonHalted, haltMessage)
	return h
}

func completeHub() *hubObjects {
	h := rolloutHub()
	setPhase(h, trafficv1alpha1.RolloutComplete, "Complete", "revision 4 runs on all 2 clusters")
	return h
}

func TestParseRolloutArgs(t *testing.T) {
	for _, args := range [][]string{{"checkout"}, {"fap/checkout"}, {"federatedaccesspoint/checkout"}, {"FAP", "checkout"},
		{"federatedaccesspoints.traffic.portico.dev/checkout"}} {
		if name, err := parseRolloutArgs(args); err != nil || name != "checkout" {
			t.Errorf("%v: %q, %v", args, name, err)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "expected one access point (fap/NAME, federatedaccesspoint/NAME, fap NAME or NAME), got 0 arguments"},
		{[]string{"a", "b"}, "got 2 arguments"},
		{[]string{"fap"}, `"fap" needs the access point's NAME`},
		{[]string{"deployment/checkout"}, `rollout acts on FederatedAccessPoints only: fap/NAME, federatedaccesspoint/NAME, fap NAME or NAME; not "deployment/checkout"`},
		{[]string{"fap/"}, `not "fap/"`},
	} {
		if _, err := parseRolloutArgs(c.args); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
}

func TestRolloutStatusNoWatch(t *testing.T) {
	r := runPlugin(t, rolloutHub(), "rollout", "status", "fap/checkout", "--watch=false")
	if r.code != 0 || r.errOut != "" {
		t.Fatalf("paused: %+v", r)
	}
	assertOutput(t, r.out, `
revision 4 (stable 3): stage rest 2/2: 1/2 clusters updated: Paused: stage rest waits for approval (kubectl portico rollout approve)
waiting for approval of stage rest: to approve it, run kubectl portico rollout approve fap/checkout -n shop
`)

	r = runPlugin(t, haltedHub(), "rollout", "status", "checkout", "--watch=false")
	if r.code != 1 || r.out != "revision 4 (stable 3): stage canary 1/2: 1/2 clusters updated: Halted: "+haltMessage+"\n" ||
		r.errOut != "error: rollout of revision 4 of federatedaccesspoint.traffic.portico.dev/checkout halted: "+haltMessage+
			"\nto return every cluster to revision 3, run kubectl portico rollout undo fap/checkout -n shop\n" {
		t.Errorf("halted: %+v", r)
	}

	r = runPlugin(t, completeHub(), "rollout", "status", "fap", "checkout", "--watch=false", "-n", "shop")
	if r.code != 0 || r.out != "revision 4 (stable): stage rest 2/2: 2/2 clusters updated: Complete: revision 4 runs on all 2 clusters\n" {
		t.Errorf("complete: %+v", r)
	}

	// The emergency brake says how to release it.
	h := rolloutHub()
	h.fap.Spec.Rollout.Paused = true
	setPhase(h, trafficv1alpha1.RolloutPaused, trafficv1alpha1.RolledOutReasonPausedBySpec, "paused by spec.rollout.paused")
	r = runPlugin(t, h, "rollout", "status", "fap/checkout", "--watch=false")
	if r.code != 0 || !strings.HasSuffix(r.out, "\npaused by spec.rollout.paused: to continue, run kubectl portico rollout resume fap/checkout -n shop\n") {
		t.Errorf("paused by spec: %+v", r)
	}

	// Not reconciled yet; a first revision goes to all clusters at once; a
	// status older than the spec says so.
	h = rolloutHub()
	h.fap.Status.Rollout = nil
	if r := runPlugin(t, h, "rollout", "status", "fap/checkout", "--watch=false"); r.code != 0 ||
		r.out != "no rollout recorded yet: portico-hub has not reconciled the access point\n" {
		t.Errorf("no rollout: %+v", r)
	}
	h = rolloutHub()
	h.fap.Generation = 3
	h.fap.Status.Rollout = &trafficv1alpha1.RolloutStatus{Revision: 1, Phase: trafficv1alpha1.RolloutProgressing, TotalClusters: 2}
	if r := runPlugin(t, h, "rollout", "status", "fap/checkout", "--watch=false"); r.code != 0 ||
		r.out != "revision 1: all clusters at once: 0/2 clusters updated: Progressing (status of generation 2, the spec is at 3: portico-hub is catching up)\n" {
		t.Errorf("first revision: %+v", r)
	}

	if r := runPlugin(t, h, "rollout", "status", "fap/nope", "--watch=false"); r.code != 1 ||
		!strings.Contains(r.errOut, `"nope" not found in namespace shop`) {
		t.Errorf("missing: %+v", r)
	}
}

// TestRolloutStatusWatchSettled: a rollout already Complete or Halted ends
// the wait at once.
func TestRolloutStatusWatchSettled(t *testing.T) {
	r := runPlugin(t, completeHub(), "rollout", "status", "fap/checkout")
	if r.code != 0 || r.out != "revision 4 (stable): stage rest 2/2: 2/2 clusters updated: Complete: revision 4 runs on all 2 clusters\n" {
		t.Errorf("complete: %+v", r)
	}
	r = runPlugin(t, haltedHub(), "rollout", "status", "fap/checkout")
	if r.code != 1 || !strings.Contains(r.errOut, "halted: "+haltMessage) {
		t.Errorf("halted: %+v", r)
	}
	if r := runPlugin(t, completeHub(), "rollout", "status", "fap/nope"); r.code != 1 || !strings.Contains(r.errOut, `"nope" not found in namespace shop`) {
		t.Errorf("missing: %+v", r)
	}
	if r := runPlugin(t, completeHub(), "rollout", "status", "fap/checkout", "--timeout=-1s"); r.code != 1 ||
		!strings.Contains(r.errOut, "--timeout must not be negative") {
		t.Errorf("negative timeout: %+v", r)
	}
}

// watchedPlugin runs the plugin in the background against h, whose access
// points' watch is fw; wait returns its result.
func watchedPlugin(t *testing.T, h *hubObjects, fw *watch.FakeWatcher, args ...string) (wait func() runResult) {
	t.Helper()
	client := h.client()
	client.PrependWatchReactor("federatedaccesspoints", func(clienttesting.Action) (bool, watch.Interface, error) {
		return true, fw, nil
	})
	useFakeHub(t, client)
	args = append(args, "--kubeconfig", testKubeconfig(t, "shop"))
	done := make(chan runResult, 1)
	go func() {
		var out, errOut bytes.Buffer
		code := Main(context.Background(), IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, args)
		done <- runResult{code: code, out: out.String(), errOut: errOut.String()}
	}()
	return func() runResult {
		select {
		case r := <-done:
			return r
		case <-time.After(time.Minute):
			t.Fatal("the command did not return")
			return runResult{}
		}
	}
}

// TestRolloutStatusWatchToComplete: a paused rollout is waited for, each
// change printed once, until it is Complete; a Complete status older than
// the spec does not end the wait.
func TestRolloutStatusWatchToComplete(t *testing.T) {
	h := rolloutHub()
	fw := watch.NewFake()
	wait := watchedPlugin(t, h, fw, "rollout", "status", "fap/checkout")

	fap := h.fap.DeepCopy()
	fap.Status.Conditions = nil // a change of no interest: no line
	fw.Modify(fap.DeepCopy())
	fap.Status.Rollout.Phase, fap.Status.Rollout.Message = trafficv1alpha1.RolloutProgressing, "stage rest: 0 of 1 clusters healthy on revision 4"
	fw.Modify(fap.DeepCopy())
	fap.Generation = 3
	fap.Status.Rollout.Phase, fap.Status.Rollout.Message = trafficv1alpha1.RolloutComplete, "revision 4 runs on all 2 clusters"
	fap.Status.Rollout.StableRevision, fap.Status.Rollout.UpdatedClusters = 4, 2
	fw.Modify(fap.DeepCopy())
	fap.Status.ObservedGeneration = 3
	fw.Modify(fap.DeepCopy())

	r := wait()
	if r.code != 0 {
		t.Fatalf("code %d, stderr %q", r.code, r.errOut)
	}
	assertOutput(t, r.out, `
revision 4 (stable 3): stage rest 2/2: 1/2 clusters updated: Paused: stage rest waits for approval (kubectl portico rollout approve)
waiting for approval of stage rest: to approve it, run kubectl portico rollout approve fap/checkout -n shop
revision 4 (stable 3): stage rest 2/2: 1/2 clusters updated: Progressing: stage rest: 0 of 1 clusters healthy on revision 4
revision 4 (stable): stage rest 2/2: 2/2 clusters updated: Complete: revision 4 runs on all 2 clusters (status of generation 2, the spec is at 3: portico-hub is catching up)
revision 4 (stable): stage rest 2/2: 2/2 clusters updated: Complete: revision 4 runs on all 2 clusters
`)
}

func TestRolloutStatusWatchToHalted(t *testing.T) {
	h := rolloutHub()
	fw := watch.NewFake()
	wait := watchedPlugin(t, h, fw, "rollout", "status", "fap/checkout")
	fap := h.fap.DeepCopy()
	fap.Status.Rollout.Phase, fap.Status.Rollout.Message = trafficv1alpha1.RolloutHalted, haltMessage
	fw.Modify(fap)
	r := wait()
	if r.code != 1 || !strings.HasSuffix(r.out, "Halted: "+haltMessage+"\n") || !strings.Contains(r.errOut, "halted: "+haltMessage) {
		t.Errorf("halted: %+v", r)
	}

	fw = watch.NewFake()
	wait = watchedPlugin(t, rolloutHub(), fw, "rollout", "status", "fap/checkout")
	fw.Delete(h.fap.DeepCopy())
	if r := wait(); r.code != 1 || !strings.Contains(r.errOut, "error: federatedaccesspoint.traffic.portico.dev/checkout was deleted") {
		t.Errorf("deleted: %+v", r)
	}
}

func TestRolloutStatusTimeout(t *testing.T) {
	r := runPlugin(t, rolloutHub(), "rollout", "status", "fap/checkout", "--timeout=100ms")
	if r.code != 1 || !strings.HasPrefix(r.out, "revision 4 (stable 3): stage rest 2/2") ||
		!strings.Contains(r.errOut, "error: timed out after 100ms waiting for the rollout of federatedaccesspoint.traffic.portico.dev/checkout to complete; last: revision 4 (stable 3)") {
		t.Errorf("timeout: %+v", r)
	}
}

// approveReactor answers the approve subresource with err (nil: the access
// point) and records the approvals sent.
func approveReactor(client *porticofake.Clientset, err error) *[]*trafficv1alpha1.RolloutApproval {
	var sent []*trafficv1alpha1.RolloutApproval
	client.PrependReactor("create", "federatedaccesspoints", func(a clienttesting.Action) (bool, runtime.Object, error) {
		create, ok := a.(clienttesting.CreateActionImpl)
		if !ok || a.GetSubresource() != "approve" || create.Name != "checkout" || a.GetNamespace() != "shop" {
			return false, nil, nil
		}
		sent = append(sent, create.GetObject().(*trafficv1alpha1.RolloutApproval))
		if err != nil {
			return true, nil, err
		}
		return true, &trafficv1alpha1.FederatedAccessPoint{}, nil
	})
	return &sent
}

func TestRolloutApprove(t *testing.T) {
	client := rolloutHub().client()
	sent := approveReactor(client, nil)
	r := runPluginWith(t, client, "rollout", "approve", "fap/checkout")
	if r.code != 0 || r.out != "federatedaccesspoint.traffic.portico.dev/checkout approved stage rest of revision 4\n" {
		t.Errorf("approve: %+v", r)
	}
	r = runPluginWith(t, client, "rollout", "approve", "checkout", "--stage", "canary")
	if r.code != 0 || r.out != "federatedaccesspoint.traffic.portico.dev/checkout approved stage canary of revision 4\n" {
		t.Errorf("approve --stage: %+v", r)
	}
	if len(*sent) != 2 || (*sent)[0].Stage != "rest" || (*sent)[0].Revision != 4 || (*sent)[1].Stage != "canary" || (*sent)[1].Revision != 4 {
		t.Errorf("sent %+v", *sent)
	}
}

func TestRolloutApproveRefused(t *testing.T) {
	gr := trafficv1alpha1.Resource("federatedaccesspoints")
	for _, c := range []struct {
		err  error
		want []string
	}{
		{apierrors.NewConflict(gr, "checkout", errors.New("shop/checkout is not waiting for approval: rollout of revision 4 is Progressing")), []string{
			"error: cannot approve stage rest of revision 4 of federatedaccesspoint.traffic.portico.dev/checkout: ",
			"shop/checkout is not waiting for approval: rollout of revision 4 is Progressing",
			"(see kubectl portico rollout status --watch=false fap/checkout -n shop)",
		}},
		{apierrors.NewForbidden(gr, "checkout", errors.New(`User "bob" cannot create resource "federatedaccesspoints/approve"`)), []string{
			"error: not allowed to approve stage rest of revision 4 of federatedaccesspoint.traffic.portico.dev/checkout: ",
			`User "bob" cannot create resource "federatedaccesspoints/approve"`,
			"kubectl auth can-i create federatedaccesspoints.traffic.portico.dev --subresource=approve -n shop",
		}},
	} {
		client := rolloutHub().client()
		approveReactor(client, c.err)
		r := runPluginWith(t, client, "rollout", "approve", "fap/checkout")
		if r.code != 1 || r.out != "" {
			t.Errorf("%v: %+v", c.err, r)
		}
		for _, w := range c.want {
			if !strings.Contains(r.errOut, w) {
				t.Errorf("stderr lacks %q:\n%s", w, r.errOut)
			}
		}
	}

	// No rollout yet: nothing is sent.
	h := rolloutHub()
	h.fap.Status.Rollout = nil
	client := h.client()
	sent := approveReactor(client, nil)
	if r := runPluginWith(t, client, "rollout", "approve", "fap/checkout"); r.code != 1 || len(*sent) != 0 ||
		!strings.Contains(r.errOut, "federatedaccesspoint.traffic.portico.dev/checkout has no rollout recorded yet: nothing to approve") {
		t.Errorf("no rollout: %+v, sent %v", r, *sent)
	}
}

// patches are the patches client received.
func patches(client *porticofake.Clientset) []clienttesting.PatchActionImpl {
	var out []clienttesting.PatchActionImpl
	for _, a := range client.Actions() {
		if p, ok := a.(clienttesting.PatchActionImpl); ok {
			out = append(out, p)
		}
	}
	return out
}

func getAccessPoint(t *testing.T, client *porticofake.Clientset) *trafficv1alpha1.FederatedAccessPoint {
	t.Helper()
	fap, err := client.TrafficV1alpha1().FederatedAccessPoints("shop").Get(t.Context(), "checkout", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return fap
}

func TestRolloutPauseResume(t *testing.T) {
	// Without spec.rollout: pause creates it.
	client := readyHub().client()
	r := runPluginWith(t, client, "rollout", "pause", "fap/checkout")
	if r.code != 0 || r.out != "federatedaccesspoint.traffic.portico.dev/checkout paused\n" {
		t.Errorf("pause: %+v", r)
	}
	p := patches(client)
	if len(p) != 1 || p[0].GetPatchType() != types.MergePatchType || string(p[0].GetPatch()) != `{"spec":{"rollout":{"paused":true}}}` ||
		p[0].GetName() != "checkout" || p[0].GetNamespace() != "shop" {
		t.Fatalf("patches %+v", p)
	}
	if ro := getAccessPoint(t, client).Spec.Rollout; ro == nil || !ro.Paused {
		t.Errorf("spec.rollout after pause: %+v", ro)
	}
	// Pausing again changes nothing.
	if r := runPluginWith(t, client, "rollout", "pause", "fap/checkout"); r.code != 0 || len(patches(client)) != 1 ||
		r.out != "federatedaccesspoint.traffic.portico.dev/checkout already paused\n" {
		t.Errorf("pause again: %+v", r)
	}

	// Resume keeps the rest of spec.rollout.
	h := rolloutHub()
	h.fap.Spec.Rollout.Paused = true
	client = h.client()
	r = runPluginWith(t, client, "rollout", "resume", "checkout")
	if r.code != 0 || r.out != "federatedaccesspoint.traffic.portico.dev/checkout resumed\n" {
		t.Errorf("resume: %+v", r)
	}
	if p := patches(client); len(p) != 1 || string(p[0].GetPatch()) != `{"spec":{"rollout":{"paused":false}}}` {
		t.Errorf("patches %+v", p)
	}
	if ro := getAccessPoint(t, client).Spec.Rollout; ro == nil || ro.Paused || ro.Strategy != trafficv1alpha1.RolloutStaged || len(ro.Stages) != 2 {
		t.Errorf("spec.rollout after resume: %+v", ro)
	}
	if r := runPluginWith(t, client, "rollout", "resume", "checkout"); r.code != 0 || len(patches(client)) != 1 ||
		r.out != "federatedaccesspoint.traffic.portico.dev/checkout is not paused\n" {
		t.Errorf("resume again: %+v", r)
	}
	if r := runPlugin(t, h, "rollout", "pause", "fap/nope"); r.code != 1 || !strings.Contains(r.errOut, `"nope" not found in namespace shop`) {
		t.Errorf("missing: %+v", r)
	}
}

// revisionContent is the content of revision n in client.
func revisionContent(t *testing.T, client *porticofake.Clientset, n int64) trafficv1alpha1.RevisionContent {
	t.Helper()
	rev, err := client.TrafficV1alpha1().AccessPointRevisions("shop").Get(t.Context(), fmt.Sprintf("checkout-%d", n), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return rev.Spec.Content
}

func updates(client *porticofake.Clientset) int {
	n := 0
	for _, a := range client.Actions() {
		if a.GetVerb() == "update" {
			n++
		}
	}
	return n
}

// TestRolloutUndo: by default back to the stable revision; the content is
// written back, placement and rollout stay, the annotation names the
// revision; a second undo to the same revision changes nothing.
func TestRolloutUndo(t *testing.T) {
	h := rolloutHub()
	client := h.client()
	before := getAccessPoint(t, client)
	r := runPluginWith(t, client, "rollout", "undo", "fap/checkout")
	if r.code != 0 || r.out != "federatedaccesspoint.traffic.portico.dev/checkout rolled back to revision 3\n" || r.errOut != "" {
		t.Fatalf("undo: %+v", r)
	}
	after := getAccessPoint(t, client)
	content := rollout.Content(&after.Spec)
	want := revisionContent(t, client, 3)
	if !sameContent(&content, &want) || string(after.Spec.Template.VirtualServices[0].Spec.Raw) != string(want.Template.VirtualServices[0].Spec.Raw) {
		t.Errorf("content after undo: %+v", content)
	}
	if sameContent(&content, new(revisionContent(t, client, 4))) {
		t.Errorf("the content is still revision 4's")
	}
	if after.Annotations[trafficv1alpha1.RollbackAnnotation] != "3" {
		t.Errorf("annotations %v", after.Annotations)
	}
	if !equalJSON(t, after.Spec.Placement, before.Spec.Placement) || !equalJSON(t, after.Spec.Rollout, before.Spec.Rollout) ||
		!equalJSON(t, after.Status, before.Status) {
		t.Errorf("placement, rollout or status changed:\n%+v\n%+v", after.Spec, before.Spec)
	}

	r = runPluginWith(t, client, "rollout", "undo", "fap/checkout", "--to-revision=3")
	if r.code != 0 || r.out != "federatedaccesspoint.traffic.portico.dev/checkout already at revision 3's content\n" || updates(client) != 1 {
		t.Errorf("undo again: %+v, %d updates", r, updates(client))
	}
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := yaml.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := yaml.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(ja) == string(jb)
}

// TestRolloutUndoDefault: with the current revision stable, the default is
// the newest revision before it, whatever was pruned.
func TestRolloutUndoDefault(t *testing.T) {
	h := completeHub()
	client := h.client()
	if err := client.TrafficV1alpha1().AccessPointRevisions("shop").Delete(t.Context(), "checkout-3", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	r := runPluginWith(t, client, "rollout", "undo", "fap/checkout")
	if r.code != 0 || r.out != "federatedaccesspoint.traffic.portico.dev/checkout rolled back to revision 2\n" {
		t.Fatalf("undo: %+v", r)
	}
	after := getAccessPoint(t, client)
	if got, want := rollout.Content(&after.Spec), revisionContent(t, client, 2); !sameContent(&got, &want) ||
		after.Annotations[trafficv1alpha1.RollbackAnnotation] != "2" {
		t.Errorf("after undo: %+v %v", got, after.Annotations)
	}

	// Nothing before the first revision kept.
	h = completeHub()
	h.extra = h.extra[:0]
	h.extra = append(h.extra, accessPointRevision("checkout", testUID, 4, "4444444444", rollout.Content(&h.fap.Spec), time.Hour))
	if r := runPlugin(t, h, "rollout", "undo", "fap/checkout"); r.code != 1 ||
		!strings.Contains(r.errOut, "error: federatedaccesspoint.traffic.portico.dev/checkout has no revision before revision 4 to roll back to") {
		t.Errorf("no earlier revision: %+v", r)
	}
}

// TestRolloutUndoMissingRevision: a pruned revision, and one of an earlier
// access point of the same name, cannot be rolled back to; the error lists
// what is kept.
func TestRolloutUndoMissingRevision(t *testing.T) {
	for _, n := range []string{"1", "9"} {
		h := rolloutHub()
		client := h.client()
		r := runPluginWith(t, client, "rollout", "undo", "fap/checkout", "--to-revision="+n)
		if r.code != 1 || updates(client) != 0 || r.errOut != "error: revision "+n+" of federatedaccesspoint.traffic.portico.dev/checkout does not exist: "+
			"it was pruned (spec.rollout.revisionHistoryLimit) or never created; the revisions kept are 2, 3, 4 "+
			"(kubectl portico rollout history fap/checkout -n shop)\n" {
			t.Errorf("--to-revision=%s: %+v", n, r)
		}
	}
	h := rolloutHub()
	h.extra = nil
	if r := runPlugin(t, h, "rollout", "undo", "fap/checkout", "--to-revision=2"); r.code != 1 ||
		!strings.Contains(r.errOut, "revision 2 of federatedaccesspoint.traffic.portico.dev/checkout does not exist: the access point has no AccessPointRevisions") {
		t.Errorf("no revisions: %+v", r)
	}
	if r := runPlugin(t, h, "rollout", "undo", "fap/checkout", "--to-revision=-1"); r.code != 1 ||
		!strings.Contains(r.errOut, "--to-revision must be a revision number (1, 2, ...), not -1") {
		t.Errorf("negative: %+v", r)
	}
}

// TestRolloutUndoConflict: a write conflict reads the access point again and
// retries; the spec.rollout.paused warning.
func TestRolloutUndoConflict(t *testing.T) {
	h := rolloutHub()
	h.fap.Spec.Rollout.Paused = true
	client := h.client()
	conflicts := 1
	client.PrependReactor("update", "federatedaccesspoints", func(clienttesting.Action) (bool, runtime.Object, error) {
		if conflicts == 0 {
			return false, nil, nil
		}
		conflicts--
		return true, nil, apierrors.NewConflict(trafficv1alpha1.Resource("federatedaccesspoints"), "checkout", errors.New("the object has been modified"))
	})
	r := runPluginWith(t, client, "rollout", "undo", "fap/checkout", "--to-revision", "2")
	if r.code != 0 || r.out != "federatedaccesspoint.traffic.portico.dev/checkout rolled back to revision 2\n" ||
		r.errOut != "warning: spec.rollout.paused is true: the rollback reaches no cluster until kubectl portico rollout resume fap/checkout -n shop\n" {
		t.Fatalf("undo: %+v", r)
	}
	gets := 0
	for _, a := range client.Actions() {
		if a.GetVerb() == "get" && a.GetResource().Resource == "federatedaccesspoints" {
			gets++
		}
	}
	after := getAccessPoint(t, client)
	if got, want := rollout.Content(&after.Spec), revisionContent(t, client, 2); updates(client) != 2 || gets != 2 || !sameContent(&got, &want) {
		t.Errorf("%d updates, %d gets (want 2 and 2), content %+v", updates(client), gets, got)
	}
}

func TestRolloutHistory(t *testing.T) {
	h := rolloutHub()
	// Revision 5 rolled back to revision 3 and is being rolled out; 4 is
	// stable.
	h.fap.Annotations = map[string]string{trafficv1alpha1.RollbackAnnotation: "3"}
	h.fap.Status.Rollout.Revision, h.fap.Status.Rollout.StableRevision = 5, 4
	content := rollout.Content(&h.fap.Spec)
	content.Template = virtualServiceTemplate("10s")
	h.extra = append(h.extra, accessPointRevision("checkout", testUID, 5, "3333333333", content, 5*time.Minute))
	r := runPlugin(t, h, "rollout", "history", "fap/checkout")
	if r.code != 0 || r.errOut != "" {
		t.Fatalf("history: %+v", r)
	}
	assertOutput(t, r.out, `
REVISION   HASH         CREATED   NOTE
2          2222222222   3d
3          3333333333   2d
4          4444444444   60m       stable
5          3333333333   5m        current, rollback to 3
`)

	r = runPlugin(t, h, "rollout", "history", "fap/checkout", "--revision=3")
	if r.code != 0 || !strings.HasPrefix(r.out, "# federatedaccesspoint.traffic.portico.dev/checkout revision 3 (hash 3333333333)\nhosts:\n- checkout.portico.test\n") {
		t.Fatalf("--revision=3: %+v", r)
	}
	var got trafficv1alpha1.RevisionContent
	if err := yaml.UnmarshalStrict([]byte(r.out), &got); err != nil {
		t.Fatalf("%v:\n%s", err, r.out)
	}
	if !sameContent(&got, &content) || !strings.Contains(r.out, "timeout: 10s") {
		t.Errorf("--revision=3 content:\n%s", r.out)
	}
	if r := runPlugin(t, h, "rollout", "history", "fap/checkout", "--revision=5"); r.code != 0 ||
		!strings.HasPrefix(r.out, "# federatedaccesspoint.traffic.portico.dev/checkout revision 5 (hash 3333333333; current, rollback to 3)\n") {
		t.Errorf("--revision=5: %+v", r)
	}
	if r := runPlugin(t, h, "rollout", "history", "fap/checkout", "--revision=1"); r.code != 1 ||
		!strings.Contains(r.errOut, "revision 1 of federatedaccesspoint.traffic.portico.dev/checkout does not exist: it was pruned") {
		t.Errorf("--revision=1: %+v", r)
	}

	h.extra = nil
	if r := runPlugin(t, h, "rollout", "history", "fap/checkout"); r.code != 0 || r.out != "" ||
		r.errOut != "No revisions of federatedaccesspoint.traffic.portico.dev/checkout found.\n" {
		t.Errorf("no revisions: %+v", r)
	}
}

// TestRolloutHelp: every subcommand has a description and examples.
func TestRolloutHelp(t *testing.T) {
	for _, sub := range []string{"status", "approve", "pause", "resume", "undo", "history"} {
		r := runPlugin(t, readyHub(), "rollout", sub, "--help")
		if r.code != 0 || !strings.Contains(r.out, "\nExamples:\n") || !strings.Contains(r.out, "\n  kubectl portico rollout "+sub+" fap/checkout") ||
			!strings.Contains(r.out, "-n, --namespace string") {
			t.Errorf("rollout %s --help:\n%s", sub, r.out)
		}
	}
	if r := runPlugin(t, readyHub(), "rollout"); r.code != 0 || !strings.Contains(r.out, "Available Commands:") {
		t.Errorf("rollout: %+v", r)
	}
	if r := runPlugin(t, readyHub(), "rollout", "restart", "fap/checkout"); r.code != 1 || !strings.Contains(r.errOut, `unknown command "restart"`) {
		t.Errorf("rollout restart: %+v", r)
	}
}
