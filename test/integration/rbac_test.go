//go:build integration

package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	trafficv1alpha1client "github.com/portico-dev/portico/apis/generated/clientset/versioned/typed/traffic/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/test/framework"
)

// bindClusterRole binds user to a ClusterRole cluster-wide (namespace "") or
// in one namespace, and waits until the hub cluster's authorizer applies it.
func (e *sharedEnv) bindClusterRole(t *testing.T, user, role, namespace string, probe authorizationv1.ResourceAttributes) {
	t.Helper()
	ctx := context.Background()
	subjects := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}
	ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}
	name := user + ":" + role
	var err error
	if namespace == "" {
		_, err = e.kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name}, Subjects: subjects, RoleRef: ref}, metav1.CreateOptions{})
	} else {
		_, err = e.kube.RbacV1().RoleBindings(namespace).Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name}, Subjects: subjects, RoleRef: ref}, metav1.CreateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
	// Ask before the user's first request: portico-hub caches the hub's
	// answers (also denials) for a few seconds.
	framework.Eventually(t, 15*time.Second, fmt.Sprintf("binding of %s to %s not effective", user, role), func() (bool, string) {
		sar, err := e.kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{User: user, Groups: []string{"system:authenticated"}, ResourceAttributes: &probe},
		}, metav1.CreateOptions{})
		if err != nil {
			return false, err.Error()
		}
		return sar.Status.Allowed, sar.Status.Reason
	})
}

// expectForbidden runs kubectl as a user and wants a Forbidden error naming
// the user, the verb (a regexp: kubectl patch --subresource=status first
// reads /status) and the resource.
func expectForbidden(t *testing.T, kubeconfig, user, verb, resource string, doc string, args ...string) {
	t.Helper()
	var out, stderr string
	var err error
	if doc != "" {
		out, stderr, err = kubectlStdin(t, kubeconfig, doc, args...)
	} else {
		out, stderr, err = framework.Kubectl(t, kubeconfig, args...)
	}
	if err == nil {
		t.Errorf("kubectl %v as %s succeeded: %s", args, user, out)
		return
	}
	want := regexp.MustCompile(fmt.Sprintf(`(?i)forbidden.*User "%s" cannot (%s) resource "%s" in API group`, regexp.QuoteMeta(user), verb, regexp.QuoteMeta(resource)))
	if !want.MatchString(stderr) {
		t.Errorf("kubectl %v as %s: want a Forbidden error matching %q, got:\n%s", args, user, want, stderr)
	}
}

// TestRBACDelegation: portico-hub leaves authorization to the hub cluster's
// RBAC. A user without bindings is refused everything; portico-view allows
// reading only; portico-edit allows writing objects but not their status; a
// RoleBinding grants one namespace only. Checked through the hub cluster
// (kubectl, clientset) and directly against portico-hub with a client
// certificate, which proves that portico-hub itself authorizes.
//
// Users are bound to portico-view / portico-edit directly, and one to the
// built-in edit ClusterRole, which holds Portico's rules through aggregation
// (the aggregate-to-edit label of manifests/hub's portico-edit, merged by
// kube-controller-manager's clusterrole-aggregation controller).
func TestRBACDelegation(t *testing.T) {
	e := hubEnv(t)
	ctx := context.Background()
	ns, otherNS := e.newNamespace(t, "rbac"), e.newNamespace(t, "rbac-other")
	e.mustApplyYAML(t, fapYAML(ns, "existing", "existing.rbac.example.com"), "apply")
	newFAP := fapYAML(ns, "new", "new.rbac.example.com")

	nobody, viewer, editor, nsEditor := uniqueName("nobody"), uniqueName("viewer"), uniqueName("editor"), uniqueName("ns-editor")
	builtinEditor := uniqueName("builtin-editor")
	kubeconfigs := map[string]string{}
	for _, u := range []string{nobody, viewer, editor, nsEditor, builtinEditor} {
		kc, err := e.hub.UserKubeconfig(u, nil)
		if err != nil {
			t.Fatal(err)
		}
		kubeconfigs[u] = kc
	}
	listFAPs := authorizationv1.ResourceAttributes{Group: trafficGroup, Resource: "federatedaccesspoints", Verb: "list"}
	createFAPs := authorizationv1.ResourceAttributes{Group: trafficGroup, Resource: "federatedaccesspoints", Verb: "create", Namespace: ns}
	e.bindClusterRole(t, viewer, "portico-view", "", listFAPs)
	e.bindClusterRole(t, editor, "portico-edit", "", createFAPs)
	e.bindClusterRole(t, nsEditor, "portico-edit", ns, createFAPs)
	e.bindClusterRole(t, builtinEditor, "edit", ns, createFAPs)

	t.Run("nobody", func(t *testing.T) {
		kc := kubeconfigs[nobody]
		expectForbidden(t, kc, nobody, "list", "federatedaccesspoints", "", "get", "fap", "-A")
		expectForbidden(t, kc, nobody, "get", "federatedaccesspoints", "", "get", "fap", "existing", "-n", ns)
		expectForbidden(t, kc, nobody, "list", "memberclusters", "", "get", "mc")
		expectForbidden(t, kc, nobody, "create", "federatedaccesspoints", newFAP, "create")
	})

	t.Run("viewer", func(t *testing.T) {
		kc := kubeconfigs[viewer]
		if out := mustKubectlAs(t, kc, "get", "fap", "-A"); !strings.Contains(out, "existing") {
			t.Errorf("viewer's list: %s", out)
		}
		mustKubectlAs(t, kc, "get", "fap", "existing", "-n", ns)
		mustKubectlAs(t, kc, "get", "mc,lbg,lbn,vippools,virtualips,dnsproviders,certificateissuers")
		mustKubectlAs(t, kc, "get", "nsvc", "-A")
		// ClusterAccessPoints carry certificate keys: not for viewers.
		expectForbidden(t, kc, viewer, "list", "clusteraccesspoints", "", "get", "cap", "-A")
		// Watch.
		cfg, err := e.hub.UserRestConfig(viewer, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := versioned.NewForConfigOrDie(cfg)
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		w, err := c.TrafficV1alpha1().FederatedAccessPoints(ns).Watch(wctx, metav1.ListOptions{})
		if err != nil {
			t.Fatalf("viewer's watch: %v", err)
		}
		select {
		case ev := <-w.ResultChan():
			if ev.Type != "ADDED" {
				t.Errorf("viewer's watch: first event %s %v", ev.Type, ev.Object)
			}
		case <-wctx.Done():
			t.Errorf("viewer's watch delivered nothing")
		}
		w.Stop()

		expectForbidden(t, kc, viewer, "create", "federatedaccesspoints", newFAP, "create")
		expectForbidden(t, kc, viewer, "patch", "federatedaccesspoints", "", "patch", "fap", "existing", "-n", ns, "--type=merge", "-p", `{"spec":{"hosts":["x.rbac.example.com"]}}`)
		expectForbidden(t, kc, viewer, "delete", "federatedaccesspoints", "", "delete", "fap", "existing", "-n", ns)
		expectForbidden(t, kc, viewer, "get|patch", "federatedaccesspoints/status", "", "patch", "fap", "existing", "-n", ns, "--subresource=status", "--type=merge", "-p", `{"status":{"revision":"x"}}`)
		expectForbidden(t, kc, viewer, "create", "memberclusters", "apiVersion: cluster.portico.dev/v1alpha1\nkind: MemberCluster\nmetadata: {name: "+uniqueName("v")+"}\nspec: {zone: z}\n", "create")
	})

	t.Run("editor", func(t *testing.T) {
		kc := kubeconfigs[editor]
		mustKubectlAs(t, kc, "get", "fap", "-A")
		if out, _, err := kubectlStdin(t, kc, newFAP, "create"); err != nil || !strings.Contains(out, "created") {
			t.Fatalf("editor's create: %v %s", err, out)
		}
		mustKubectlAs(t, kc, "patch", "fap", "new", "-n", ns, "--type=merge", "-p", `{"spec":{"hosts":["patched.rbac.example.com"]}}`)
		// Status is written by controllers and agents, not by editors.
		expectForbidden(t, kc, editor, "get|patch", "federatedaccesspoints/status", "", "patch", "fap", "new", "-n", ns, "--subresource=status", "--type=merge", "-p", `{"status":{"revision":"x"}}`)
		// Not through the clientset's UpdateStatus either (kubectl stops at
		// the read of /status above).
		cfg, err := e.hub.UserRestConfig(editor, nil)
		if err != nil {
			t.Fatal(err)
		}
		faps := versioned.NewForConfigOrDie(cfg).TrafficV1alpha1().FederatedAccessPoints(ns)
		fap, err := faps.Get(ctx, "new", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		fap.Status.Revision = "by-editor"
		if _, err := faps.UpdateStatus(ctx, fap, metav1.UpdateOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("editor's UpdateStatus: %v, want Forbidden", err)
		}
		mustKubectlAs(t, kc, "delete", "fap", "new", "-n", ns)
		if _, _, err := framework.Kubectl(t, e.hub.KubeconfigPath, "get", "fap", "new", "-n", ns); err == nil {
			t.Errorf("the editor's delete did not delete")
		}
	})

	t.Run("namespace editor", func(t *testing.T) {
		kc := kubeconfigs[nsEditor]
		mustKubectlAs(t, kc, "get", "fap", "-n", ns)
		if _, stderr, err := kubectlStdin(t, kc, fapYAML(ns, "mine", "mine.rbac.example.com"), "create"); err != nil {
			t.Fatalf("create in the bound namespace: %v %s", err, stderr)
		}
		expectForbidden(t, kc, nsEditor, "create", "federatedaccesspoints", fapYAML(otherNS, "theirs", "theirs.rbac.example.com"), "create")
		expectForbidden(t, kc, nsEditor, "list", "federatedaccesspoints", "", "get", "fap", "-A")
		// Cluster-scoped kinds are out of a RoleBinding's reach.
		expectForbidden(t, kc, nsEditor, "list", "memberclusters", "", "get", "mc")
	})

	t.Run("built-in edit role", func(t *testing.T) {
		kc := kubeconfigs[builtinEditor]
		if _, stderr, err := kubectlStdin(t, kc, fapYAML(ns, "by-edit", "by-edit.rbac.example.com"), "create"); err != nil {
			t.Fatalf("create with the built-in edit role: %v %s", err, stderr)
		}
		mustKubectlAs(t, kc, "patch", "fap", "by-edit", "-n", ns, "--type=merge", "-p", `{"spec":{"hosts":["patched.by-edit.rbac.example.com"]}}`)
		cfg, err := e.hub.UserRestConfig(builtinEditor, nil)
		if err != nil {
			t.Fatal(err)
		}
		faps := versioned.NewForConfigOrDie(cfg).TrafficV1alpha1().FederatedAccessPoints(ns)
		fap, err := faps.Get(ctx, "by-edit", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		fap.Spec.Hosts = []string{"updated.by-edit.rbac.example.com"}
		if _, err := faps.Update(ctx, fap, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("update with the built-in edit role: %v", err)
		}
		got, err := e.pc.TrafficV1alpha1().FederatedAccessPoints(ns).Get(ctx, "by-edit", metav1.GetOptions{})
		if err != nil || len(got.Spec.Hosts) != 1 || got.Spec.Hosts[0] != "updated.by-edit.rbac.example.com" {
			t.Errorf("after the edit user's update: hosts %v (%v)", got.Spec.Hosts, err)
		}
		// edit, unlike admin, does not write status; a RoleBinding stays in
		// its namespace.
		expectForbidden(t, kc, builtinEditor, "get|patch", "federatedaccesspoints/status", "", "patch", "fap", "by-edit", "-n", ns, "--subresource=status", "--type=merge", "-p", `{"status":{"revision":"x"}}`)
		expectForbidden(t, kc, builtinEditor, "create", "federatedaccesspoints", fapYAML(otherNS, "by-edit", "by-edit.rbac.example.com"), "create")
		// Infrastructure is not a tenant's: portico-edit, even bound
		// cluster-wide, writes no pool, VIP or ClusterAccessPoint and never
		// sees the latter (they carry private keys).
		ekc := kubeconfigs[editor]
		expectForbidden(t, ekc, editor, "create", "vippools", `{"apiVersion":"traffic.portico.dev/v1alpha1","kind":"VIPPool","metadata":{"name":"mine"},"spec":{"cidrs":["198.51.100.0/24"]}}`, "create")
		expectForbidden(t, ekc, editor, "create", "virtualips", `{"apiVersion":"traffic.portico.dev/v1alpha1","kind":"VirtualIP","metadata":{"name":"198.51.100.1"},"spec":{"address":"198.51.100.1","pool":"mine"}}`, "create")
		expectForbidden(t, ekc, editor, "list", "clusteraccesspoints", "", "get", "cap", "-A")
		expectForbidden(t, ekc, editor, "create", "clusteraccesspoints", `{"apiVersion":"traffic.portico.dev/v1alpha1","kind":"ClusterAccessPoint","metadata":{"name":"x","namespace":"`+ns+`"},"spec":{}}`, "create")
	})

	t.Run("directly against portico-hub", func(t *testing.T) {
		// portico-hub trusts the hub cluster's client CA (delegated
		// authentication) and asks the hub cluster (SubjectAccessReview)
		// whether the user may do what it asks.
		get := func(user, path string) (int, string) {
			t.Helper()
			client := porticoHubClient(t, e, user, nil)
			resp, err := client.Get(e.ph.URL() + path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(body)
		}
		list := "/apis/traffic.portico.dev/v1alpha1/namespaces/" + ns + "/federatedaccesspoints"
		for _, c := range []struct {
			user string
			path string
			want int
		}{
			{nobody, list, http.StatusForbidden},
			{viewer, list, http.StatusOK},
			{editor, list, http.StatusOK},
			{nsEditor, list, http.StatusOK},
			{nsEditor, "/apis/traffic.portico.dev/v1alpha1/namespaces/" + otherNS + "/federatedaccesspoints", http.StatusForbidden},
			{"", list, http.StatusForbidden}, // anonymous
		} {
			code, body := get(c.user, c.path)
			if code != c.want {
				t.Errorf("GET %s as %q: %d, want %d: %s", c.path, c.user, code, c.want, body)
			}
			if c.want == http.StatusOK && !strings.Contains(body, `"name":"existing"`) {
				t.Errorf("GET %s as %q: %s", c.path, c.user, body)
			}
		}

		// portico-hub asks about the namespace before the named object
		// (--authorization-namespace-first): a grant of one object by name
		// still reaches that object and no other.
		byName := uniqueName("by-name")
		e.mustApplyYAML(t, fapYAML(ns, "other", "other.rbac.example.com"), "apply")
		if _, err := e.kube.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: byName},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{trafficGroup}, Resources: []string{"federatedaccesspoints"},
				Verbs: []string{"get"}, ResourceNames: []string{"existing"}}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.kube.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: byName},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: byName}},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: byName}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		framework.Eventually(t, 15*time.Second, "the by-name grant is not effective", func() (bool, string) {
			sar, err := e.kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
				Spec: authorizationv1.SubjectAccessReviewSpec{User: byName, Groups: []string{"system:authenticated"},
					ResourceAttributes: &authorizationv1.ResourceAttributes{Group: trafficGroup, Resource: "federatedaccesspoints", Verb: "get", Namespace: ns, Name: "existing"}},
			}, metav1.CreateOptions{})
			if err != nil {
				return false, err.Error()
			}
			return sar.Status.Allowed, sar.Status.Reason
		})
		one := "/apis/traffic.portico.dev/v1alpha1/namespaces/" + ns + "/federatedaccesspoints/"
		for _, c := range []struct {
			user, name string
			want       int
		}{
			{byName, "existing", http.StatusOK},
			{byName, "other", http.StatusForbidden},
			{nsEditor, "existing", http.StatusOK},
			{nsEditor, "other", http.StatusOK},
			{viewer, "other", http.StatusOK},
			{nobody, "existing", http.StatusForbidden},
		} {
			if code, body := get(c.user, one+c.name); code != c.want {
				t.Errorf("GET %s as %q: %d, want %d: %s", one+c.name, c.user, code, c.want, body)
			}
		}
		if code, body := get(byName, list); code != http.StatusForbidden {
			t.Errorf("list as %q, who may get one object: %d, want 403: %s", byName, code, body)
		}
	})
}

// TestApproveIsItsOwnVerb: approving a stage of a staged rollout is the verb
// create on federatedaccesspoints/approve. Users bound to portico-edit or to
// the built-in edit role may edit the access point but get 403 on approve; a
// user bound to portico-rollout-approver may approve (and gets 409 while
// nothing waits) but not edit; admin holds the approver's rules through
// aggregation. The approval records the user the hub cluster authenticated.
//
// The shared portico-hub runs no controllers: the test writes the status the
// controller writes while a rollout waits at a stage with pause.
func TestApproveIsItsOwnVerb(t *testing.T) {
	e := hubEnv(t)
	ctx := context.Background()
	ns := e.newNamespace(t, "approve")
	e.mustApplyYAML(t, fapYAML(ns, "gated", "gated.approve.example.com"), "apply")

	editor, builtinEditor, approver, admin := uniqueName("editor"), uniqueName("builtin-editor"), uniqueName("approver"), uniqueName("admin")
	createFAPs := authorizationv1.ResourceAttributes{Group: trafficGroup, Resource: "federatedaccesspoints", Verb: "create", Namespace: ns}
	approveFAPs := authorizationv1.ResourceAttributes{Group: trafficGroup, Resource: "federatedaccesspoints", Subresource: "approve", Verb: "create", Namespace: ns}
	e.bindClusterRole(t, editor, "portico-edit", ns, createFAPs)
	e.bindClusterRole(t, builtinEditor, "edit", ns, createFAPs)
	e.bindClusterRole(t, approver, "portico-rollout-approver", ns, approveFAPs)
	// Waits until kube-controller-manager aggregated the approver's rules
	// into admin.
	e.bindClusterRole(t, admin, "admin", ns, approveFAPs)

	faps := func(user string) trafficv1alpha1client.FederatedAccessPointInterface {
		t.Helper()
		cfg, err := e.hub.UserRestConfig(user, nil)
		if err != nil {
			t.Fatal(err)
		}
		return versioned.NewForConfigOrDie(cfg).TrafficV1alpha1().FederatedAccessPoints(ns)
	}
	approve := func(user string) (*trafficv1alpha1.FederatedAccessPoint, error) {
		return faps(user).Approve(ctx, "gated", &trafficv1alpha1.RolloutApproval{}, metav1.CreateOptions{})
	}
	wantForbidden := func(user string) {
		t.Helper()
		_, err := approve(user)
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `"federatedaccesspoints/approve"`) {
			t.Errorf("approve as %s: %v, want Forbidden on federatedaccesspoints/approve", user, err)
		}
	}

	// Nothing waits: editors are refused before the handler, the approver
	// reaches it.
	wantForbidden(editor)
	wantForbidden(builtinEditor)
	if _, err := approve(approver); !apierrors.IsConflict(err) || !strings.Contains(err.Error(), "is not waiting for approval") {
		t.Errorf("approve as %s while nothing waits: %v, want Conflict", approver, err)
	}
	// The approver reads access points and their revisions but does not edit.
	if _, err := faps(approver).Get(ctx, "gated", metav1.GetOptions{}); err != nil {
		t.Errorf("approver's get: %v", err)
	}
	cfg, err := e.hub.UserRestConfig(approver, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := versioned.NewForConfigOrDie(cfg).TrafficV1alpha1().AccessPointRevisions(ns).List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("approver's list of accesspointrevisions: %v", err)
	}
	if _, err := faps(approver).Patch(ctx, "gated", types.MergePatchType, []byte(`{"spec":{"hosts":["x.approve.example.com"]}}`), metav1.PatchOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("approver's patch of the spec: %v, want Forbidden", err)
	}

	// The rollout of revision 2 waits at stage canary, as the controller
	// marks it.
	fap, err := e.pc.TrafficV1alpha1().FederatedAccessPoints(ns).Get(ctx, "gated", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fap.Status.Rollout = &trafficv1alpha1.RolloutStatus{Revision: 2, StableRevision: 1, Stage: "canary", Phase: trafficv1alpha1.RolloutPaused, TotalClusters: 3}
	fap.Status.Conditions = []metav1.Condition{{Type: trafficv1alpha1.AccessPointRolledOut, Status: metav1.ConditionFalse,
		Reason: trafficv1alpha1.RolledOutReasonAwaitingApproval, Message: "set by the test", LastTransitionTime: metav1.Now()}}
	if _, err := e.pc.TrafficV1alpha1().FederatedAccessPoints(ns).UpdateStatus(ctx, fap, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	wantForbidden(editor)
	wantForbidden(builtinEditor)
	got, err := approve(approver)
	if err != nil {
		t.Fatalf("approve as %s while canary waits: %v", approver, err)
	}
	approvals := got.Status.Rollout.Approvals
	if len(approvals) != 1 || approvals[0].User != approver || approvals[0].Stage != "canary" || approvals[0].Revision != 2 || approvals[0].Time.IsZero() {
		t.Fatalf("approvals after %s approved: %+v", approver, approvals)
	}
	// admin may approve too; the stage is approved already, so nothing new
	// is recorded.
	got, err = approve(admin)
	if err != nil {
		t.Fatalf("approve as %s: %v", admin, err)
	}
	if approvals := got.Status.Rollout.Approvals; len(approvals) != 1 || approvals[0].User != approver {
		t.Errorf("approvals after a second approval: %+v", approvals)
	}
}

// porticoHubClient is an HTTPS client for portico-hub's own port that
// verifies its certificate with its CA and, for a non-empty user, presents a
// client certificate from the hub cluster's client CA.
func porticoHubClient(t *testing.T, e *sharedEnv, user string, groups []string) *http.Client {
	t.Helper()
	return porticoHubClientFor(t, e.hub.ClientCA.IssueClient, e.ph.CA.Cert, user, groups)
}

func porticoHubClientFor(t *testing.T, issue func(string, []string) ([]byte, []byte, error), ca *x509.Certificate, user string, groups []string) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	cfg := &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	if user != "" {
		certPEM, keyPEM, err := issue(user, groups)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	tr := &http.Transport{TLSClientConfig: cfg}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Timeout: 10 * time.Second, Transport: tr}
}
