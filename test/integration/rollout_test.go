//go:build integration

package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	istionetworking "istio.io/api/networking/v1"
	istiov1 "istio.io/client-go/pkg/apis/networking/v1"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	traffic "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/test/framework"
	"github.com/portico-dev/portico/test/localfed"
)

// TestStagedRollout runs a staged rollout over three real member clusters
// (kube-apiservers with member-agents) and two portico-hub replicas: the canary
// cluster gets a change first while the others keep their objects until the
// approval; the leader is stopped while the rollout waits and the new one
// continues without touching the finished stage; a ValidatingAdmissionPolicy
// of the canary cluster rejects the next change, which halts the rollout and,
// with autoRollback, returns the canary to the stable revision; paused freezes
// a rollout mid-way; undo --to-revision=1 restores every cluster at once;
// history lists the revisions. Every "has" and "keeps" is read from the member
// kube-apiservers.
func TestStagedRollout(t *testing.T) {
	etcd := framework.NewEtcd(t)
	hub := framework.NewHubCluster(t)
	opts := framework.PorticoHubOptions{EtcdServers: []string{etcd.ClientURL},
		EncryptionConfig: filepath.Join(t.TempDir(), "encryption.yaml"),
		ExtraArgs:        []string{"--cluster-lease-grace=" + leaseGrace.String()}}
	ctx := context.Background()
	kube := kubernetes.NewForConfigOrDie(hub.RestConfig)
	plugin, err := localfed.BuildBinary("kubectl-portico")
	if err != nil {
		t.Fatal(err)
	}
	holder := func() string {
		l, err := kube.CoordinationV1().Leases(localfed.PorticoNamespace).Get(ctx, "portico-hub", metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil {
			return ""
		}
		return *l.Spec.HolderIdentity
	}
	r0 := framework.NewPorticoHub(t, hub, opts)
	framework.Eventually(t, 60*time.Second, "replica 0 leads", func() (bool, string) { return holder() != "", "" })
	first := holder()
	r1 := framework.NewPorticoHub(t, hub, opts) // follows
	f := &federation{hub: hub, portico: r1, pc: fastClient(hub.RestConfig),
		members: map[string]*framework.MemberCluster{}, agents: map[string]*framework.MemberAgent{}}
	zones := map[string]string{"east-1": "zone-a", "west-1": "zone-b", "west-2": "zone-c"}
	for name, zone := range zones {
		f.members[name] = framework.NewMemberCluster(t, name)
		f.agents[name] = framework.NewMemberAgent(t, hub, f.members[name], framework.MemberAgentOptions{
			Zone: zone, Region: "r1", HeartbeatInterval: time.Second})
	}
	waitAllAvailable(t, f)
	createHubNamespace(t, hub, "shop")
	const ns, name = "shop", "web"
	plug := func(args ...string) joinRun {
		t.Helper()
		return runJoinPlugin(t, plugin, hub.KubeconfigPath, append(args, "-n", ns)...)
	}

	fap := fedAccessPoint(ns, name, []string{"web.example.test"}, "1s")
	fap.Spec.Rollout = &traffic.RolloutSpec{Strategy: traffic.RolloutStaged, Stages: []traffic.RolloutStage{
		{Name: "canary", Clusters: []traffic.ClusterReference{{Name: "east-1"}}},
		{Name: "rest", Pause: true},
	}}
	if _, err := f.pc.TrafficV1alpha1().FederatedAccessPoints(ns).Create(ctx, fap, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRollout(t, f, name, "revision 1 everywhere at once", func(r *traffic.RolloutStatus) bool {
		return r.Phase == traffic.RolloutComplete && r.Revision == 1 && r.UpdatedClusters == 3
	})
	expectTimeouts(t, f, name, map[string]time.Duration{"east-1": time.Second, "west-1": time.Second, "west-2": time.Second})

	// A change reaches the canary only, then waits for approval.
	updateFAP(t, f.pc, ns, name, func(fap *traffic.FederatedAccessPoint) { setVSTimeout(fap, "2s") })
	waitRollout(t, f, name, "revision 2 on the canary, waiting for approval of stage rest", func(r *traffic.RolloutStatus) bool {
		return r.Phase == traffic.RolloutPaused && r.Revision == 2 && r.Stage == "rest" && r.UpdatedClusters == 1
	})
	expectTimeouts(t, f, name, map[string]time.Duration{"east-1": 2 * time.Second, "west-1": time.Second, "west-2": time.Second})
	ap, _ := getFAP(f.pc, ns, name)
	if c := meta.FindStatusCondition(ap.Status.Conditions, traffic.AccessPointRolledOut); c == nil || c.Reason != traffic.RolledOutReasonAwaitingApproval {
		t.Fatalf("RolledOut = %+v", c)
	}
	if r := plug("rollout", "status", "fap/"+name, "--watch=false"); r.err != nil || !strings.Contains(r.stdout, "rest") {
		t.Fatalf("rollout status while waiting: %v\n%s%s", r.err, r.stdout, r.stderr)
	}

	// The leader goes away while the rollout waits; the new leader continues
	// from the recorded stage and does not touch the canary again.
	canaryCAP, err := f.caps("east-1").Get(ctx, ns+"."+name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	canaryVS := vsResourceVersion(t, f, "east-1", ns, name)
	if err := r0.Stop(); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, 60*time.Second, "replica 1 takes the lease", func() (bool, string) {
		return holder() != "" && holder() != first, "holder " + holder()
	})
	if r := plug("rollout", "approve", "fap/"+name); r.err != nil {
		t.Fatalf("approve: %v\n%s%s", r.err, r.stdout, r.stderr)
	}
	waitRollout(t, f, name, "revision 2 complete", func(r *traffic.RolloutStatus) bool {
		return r.Phase == traffic.RolloutComplete && r.Revision == 2 && r.StableRevision == 2 && r.UpdatedClusters == 3
	})
	expectTimeouts(t, f, name, map[string]time.Duration{"east-1": 2 * time.Second, "west-1": 2 * time.Second, "west-2": 2 * time.Second})
	ap, _ = getFAP(f.pc, ns, name)
	if len(ap.Status.Rollout.Approvals) != 1 || ap.Status.Rollout.Approvals[0].Stage != "rest" || ap.Status.Rollout.Approvals[0].User == "" {
		t.Fatalf("approvals %+v", ap.Status.Rollout.Approvals)
	}
	if cap, err := f.caps("east-1").Get(ctx, ns+"."+name, metav1.GetOptions{}); err != nil || cap.Generation != canaryCAP.Generation {
		t.Fatalf("the new leader rewrote the canary's ClusterAccessPoint: generation %d -> %d (%v)", canaryCAP.Generation, cap.Generation, err)
	}
	if rv := vsResourceVersion(t, f, "east-1", ns, name); rv != canaryVS {
		t.Fatalf("the canary's VirtualService was touched again: resourceVersion %s -> %s", canaryVS, rv)
	}

	// The canary's own admission policy rejects the next change: the rollout
	// halts there, no other cluster is touched, and autoRollback returns the
	// canary to revision 2.
	denyTimeoutIn(t, f, "east-1", "3s")
	updateFAP(t, f.pc, ns, name, func(fap *traffic.FederatedAccessPoint) {
		setVSTimeout(fap, "3s")
		fap.Spec.Rollout.AutoRollback = true
	})
	waitRollout(t, f, name, "revision 3 halted on the canary", func(r *traffic.RolloutStatus) bool {
		return r.Phase == traffic.RolloutHalted && r.Revision == 3 && r.Stage == "canary"
	})
	ap, _ = getFAP(f.pc, ns, name)
	if !strings.Contains(ap.Status.Rollout.Message, "east-1") || !strings.Contains(ap.Status.Rollout.Message, "not allowed here") {
		t.Fatalf("halt message %q does not name the cluster and the policy's message", ap.Status.Rollout.Message)
	}
	if r := plug("rollout", "status", "fap/"+name, "--watch=false"); r.err == nil {
		t.Fatalf("rollout status exits 0 on a halted rollout:\n%s", r.stdout)
	}
	framework.Eventually(t, 30*time.Second, "the canary back on revision 2 and Applied", func() (bool, string) {
		ap, err := getFAP(f.pc, ns, name)
		if err != nil {
			return false, err.Error()
		}
		for _, c := range ap.Status.Clusters {
			if c.Revision != 2 || c.Phase != traffic.ClusterPhaseApplied {
				return false, statusJSON(ap)
			}
		}
		return true, ""
	})
	expectTimeouts(t, f, name, map[string]time.Duration{"east-1": 2 * time.Second, "west-1": 2 * time.Second, "west-2": 2 * time.Second})
	halted, err := kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("reason", "RolloutHalted").String()})
	if err != nil || len(halted.Items) == 0 {
		t.Fatalf("no RolloutHalted Event (%v)", err)
	}
	expectEventMentions(t, halted.Items, "east-1")

	// paused freezes a rollout mid-way: the canary has revision 4, the rest
	// keep revision 2 while paused, and approving is refused.
	updateFAP(t, f.pc, ns, name, func(fap *traffic.FederatedAccessPoint) { setVSTimeout(fap, "4s") })
	waitRollout(t, f, name, "revision 4 on the canary", func(r *traffic.RolloutStatus) bool {
		return r.Phase == traffic.RolloutPaused && r.Revision == 4 && r.Stage == "rest"
	})
	if r := plug("rollout", "pause", "fap/"+name); r.err != nil {
		t.Fatalf("pause: %v\n%s", r.err, r.stderr)
	}
	waitRollout(t, f, name, "paused by spec", func(r *traffic.RolloutStatus) bool {
		ap, _ := getFAP(f.pc, ns, name)
		c := meta.FindStatusCondition(ap.Status.Conditions, traffic.AccessPointRolledOut)
		return r.Phase == traffic.RolloutPaused && c != nil && c.Reason == traffic.RolledOutReasonPausedBySpec
	})
	if _, err := f.pc.TrafficV1alpha1().FederatedAccessPoints(ns).Approve(ctx, name, &traffic.RolloutApproval{}, metav1.CreateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("approving a paused rollout: %v, want Conflict", err)
	}
	time.Sleep(3 * time.Second) // not a wait: nothing may change during it
	expectTimeouts(t, f, name, map[string]time.Duration{"east-1": 4 * time.Second, "west-1": 2 * time.Second, "west-2": 2 * time.Second})

	// undo --to-revision=1 restores every cluster at once (resume lets it out).
	if r := plug("rollout", "undo", "fap/"+name, "--to-revision=1"); r.err != nil {
		t.Fatalf("undo: %v\n%s", r.err, r.stderr)
	}
	if r := plug("rollout", "resume", "fap/"+name); r.err != nil {
		t.Fatalf("resume: %v\n%s", r.err, r.stderr)
	}
	waitRollout(t, f, name, "the rollback complete everywhere", func(r *traffic.RolloutStatus) bool {
		return r.Phase == traffic.RolloutComplete && r.Revision == 5 && r.UpdatedClusters == 3
	})
	expectTimeouts(t, f, name, map[string]time.Duration{"east-1": time.Second, "west-1": time.Second, "west-2": time.Second})
	r := plug("rollout", "history", "fap/"+name)
	if r.err != nil {
		t.Fatalf("history: %v\n%s", r.err, r.stderr)
	}
	revs, err := f.pc.TrafficV1alpha1().AccessPointRevisions(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(revs.Items) != 5 {
		t.Fatalf("%d revisions (%v), want 5", len(revs.Items), err)
	}
	for _, rev := range revs.Items {
		if !strings.Contains(r.stdout, rev.Spec.Hash) {
			t.Fatalf("history does not list revision %d (%s):\n%s", rev.Spec.Revision, rev.Spec.Hash, r.stdout)
		}
	}
	if findRevision(revs.Items, 1).Spec.Hash != findRevision(revs.Items, 5).Spec.Hash {
		t.Fatalf("revision 5 (the rollback) does not hold revision 1's content")
	}
	t.Logf("history:\n%s", r.stdout)
}

func findRevision(items []traffic.AccessPointRevision, n int64) traffic.AccessPointRevision {
	for _, r := range items {
		if r.Spec.Revision == n {
			return r
		}
	}
	return traffic.AccessPointRevision{}
}

func waitRollout(t *testing.T, f *federation, name, what string, cond func(*traffic.RolloutStatus) bool) {
	t.Helper()
	framework.Eventually(t, 90*time.Second, what, func() (bool, string) {
		ap, err := getFAP(f.pc, "shop", name)
		if err != nil {
			return false, err.Error()
		}
		if ap.Status.Rollout == nil {
			return false, "no status.rollout"
		}
		return cond(ap.Status.Rollout), statusJSON(ap)
	})
}

// expectTimeouts reads each cluster's VirtualService timeout from its
// kube-apiserver, waiting until they are as wanted.
func expectTimeouts(t *testing.T, f *federation, name string, want map[string]time.Duration) {
	t.Helper()
	framework.Eventually(t, 60*time.Second, fmt.Sprintf("VirtualService timeouts %v", want), func() (bool, string) {
		var got []string
		ok := true
		for cluster, d := range want {
			vs, err := f.istio(t, cluster).NetworkingV1().VirtualServices("shop").Get(context.Background(), name, metav1.GetOptions{})
			if err != nil || len(vs.Spec.Http) == 0 || vs.Spec.Http[0].Timeout == nil {
				return false, fmt.Sprintf("%s: %v", cluster, err)
			}
			if vs.Spec.Http[0].Timeout.AsDuration() != d {
				ok = false
			}
			got = append(got, fmt.Sprintf("%s=%v", cluster, vs.Spec.Http[0].Timeout.AsDuration()))
		}
		return ok, strings.Join(got, " ")
	})
}

func vsResourceVersion(t *testing.T, f *federation, cluster, ns, name string) string {
	t.Helper()
	vs, err := f.istio(t, cluster).NetworkingV1().VirtualServices(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return vs.ResourceVersion
}

// denyTimeoutIn makes the cluster's kube-apiserver reject VirtualServices with
// that timeout (a ValidatingAdmissionPolicy), and waits until it does.
func denyTimeoutIn(t *testing.T, f *federation, cluster, timeout string) {
	t.Helper()
	ctx := context.Background()
	kc := kubernetes.NewForConfigOrDie(f.members[cluster].RestConfig)
	fail := admissionv1.Fail
	policy := &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "deny-timeout"},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &fail,
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Create, admissionv1.Update},
					Rule: admissionv1.Rule{APIGroups: []string{"networking.istio.io"}, APIVersions: []string{"*"},
						Resources: []string{"virtualservices"}},
				},
			}}},
			Validations: []admissionv1.Validation{{
				Expression: fmt.Sprintf("!has(object.spec.http) || object.spec.http.all(h, !has(h.timeout) || h.timeout != '%s')", timeout),
				Message:    "timeouts of " + timeout + " are not allowed here",
			}},
		},
	}
	if _, err := kc.AdmissionregistrationV1().ValidatingAdmissionPolicies().Create(ctx, policy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &admissionv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "deny-timeout"},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "deny-timeout",
			ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny}},
	}
	if _, err := kc.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	probe := &istiov1.VirtualService{ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: corev1.NamespaceDefault},
		Spec: istionetworking.VirtualService{Hosts: []string{"probe"}, Http: []*istionetworking.HTTPRoute{{
			Timeout: durationpb.New(mustParseDuration(t, timeout)), Route: []*istionetworking.HTTPRouteDestination{{Destination: &istionetworking.Destination{Host: "probe"}}},
		}}}}
	framework.Eventually(t, 30*time.Second, cluster+" rejects a VirtualService with timeout "+timeout, func() (bool, string) {
		_, err := f.istio(t, cluster).NetworkingV1().VirtualServices(corev1.NamespaceDefault).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return apierrors.IsInvalid(err) || apierrors.IsForbidden(err), fmt.Sprint(err)
	})
}

func expectEventMentions(t *testing.T, events []corev1.Event, s string) {
	t.Helper()
	for _, e := range events {
		if strings.Contains(e.Message, s) {
			return
		}
	}
	t.Fatalf("no Event mentions %q: %+v", s, events)
}

func mustParseDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
