//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/portico-dev/portico/test/framework"
	"github.com/portico-dev/portico/test/localfed"
)

// hubManifestsDir is <repo>/manifests/hub.
func hubManifestsDir(t *testing.T) string {
	t.Helper()
	root, err := localfed.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "manifests", "hub")
}

// expectedHubObjects are the objects `kubectl apply -k manifests/hub` must
// report, as kubectl prints them.
var expectedHubObjects = []string{
	"namespace/portico-system",
	"serviceaccount/portico-hub",
	"clusterrolebinding.rbac.authorization.k8s.io/portico-hub:system:auth-delegator",
	"rolebinding.rbac.authorization.k8s.io/portico-hub:extension-apiserver-authentication-reader",
	"clusterrole.rbac.authorization.k8s.io/portico-hub",
	"clusterrolebinding.rbac.authorization.k8s.io/portico-hub",
	"clusterrole.rbac.authorization.k8s.io/portico-admin",
	"clusterrole.rbac.authorization.k8s.io/portico-edit",
	"clusterrole.rbac.authorization.k8s.io/portico-view",
	"clusterrole.rbac.authorization.k8s.io/portico-rollout-approver",
	"persistentvolumeclaim/portico-hub-data",
	"deployment.apps/portico-hub",
	"service/portico-hub",
	"apiservice.apiregistration.k8s.io/v1alpha1.cluster.portico.dev",
	"apiservice.apiregistration.k8s.io/v1alpha1.traffic.portico.dev",
}

// TestManifestsKustomizationListsAllFiles needs no cluster: every YAML file
// in manifests/hub is a resource of the kustomization, and every resource
// exists.
func TestManifestsKustomizationListsAllFiles(t *testing.T) {
	dir := hubManifestsDir(t)
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(data, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		base := filepath.Base(f)
		if base != "kustomization.yaml" && !slices.Contains(k.Resources, base) {
			t.Errorf("%s is not listed in kustomization.yaml", base)
		}
	}
	for _, r := range k.Resources {
		if _, err := os.Stat(filepath.Join(dir, r)); err != nil {
			t.Errorf("kustomization resource %s: %v", r, err)
		}
	}
}

func TestManifestsHub(t *testing.T) {
	hub := framework.NewHubCluster(t)
	dir := hubManifestsDir(t)
	kc := kubernetes.NewForConfigOrDie(hub.RestConfig)

	// Even a server-side dry run of a namespaced object needs its namespace
	// to exist (NamespaceLifecycle admission), so create that one for real.
	if _, stderr, err := framework.Kubectl(t, hub.KubeconfigPath, "apply", "-f", filepath.Join(dir, "namespace.yaml")); err != nil {
		t.Fatalf("creating the namespace: %v\n%s", err, stderr)
	}

	t.Run("server dry run", func(t *testing.T) {
		stdout, stderr, err := framework.Kubectl(t, hub.KubeconfigPath, "apply", "--dry-run=server", "--validate=strict", "-k", dir)
		if err != nil {
			t.Fatalf("kubectl apply --dry-run=server -k %s: %v\nstdout:\n%s\nstderr:\n%s", dir, err, stdout, stderr)
		}
		if strings.Contains(stderr, "Warning") {
			t.Errorf("warnings from the server:\n%s", stderr)
		}
		for _, obj := range expectedHubObjects {
			re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(obj) + ` (created|configured|unchanged) \(server dry run\)$`)
			if !re.MatchString(stdout) {
				t.Errorf("no dry-run result for %s in:\n%s", obj, stdout)
			}
		}
		// A dry run stores nothing.
		if _, err := kc.AppsV1().Deployments("portico-system").Get(context.Background(), "portico-hub", metav1.GetOptions{}); err == nil {
			t.Error("the dry run created the Deployment")
		}
	})

	// Broken copies of the manifests must be rejected, or the test above
	// proves nothing.
	broken := []struct {
		name, file, old, new, wantErr string
	}{
		{
			name: "unknown field in the Deployment",
			file: "deployment.yaml", old: "serviceAccountName: portico-hub", new: "serviceAccountNam: portico-hub",
			wantErr: `unknown field "spec.template.spec.serviceAccountNam"`,
		},
		{
			name: "invalid APIService priority",
			file: "apiservice.yaml", old: "groupPriorityMinimum: 1000", new: "groupPriorityMinimum: 0",
			wantErr: "groupPriorityMinimum",
		},
		{
			name: "Service port out of range",
			file: "service.yaml", old: "port: 443", new: "port: 70000",
			wantErr: "spec.ports[0].port",
		},
	}
	for _, tc := range broken {
		t.Run("rejects "+tc.name, func(t *testing.T) {
			copyDir := copyManifests(t, dir)
			path := filepath.Join(copyDir, tc.file)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(data), tc.old) {
				t.Fatalf("%s does not contain %q", tc.file, tc.old)
			}
			if err := os.WriteFile(path, []byte(strings.Replace(string(data), tc.old, tc.new, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			stdout, stderr, err := framework.Kubectl(t, hub.KubeconfigPath, "apply", "--dry-run=server", "--validate=strict", "-k", copyDir)
			if err == nil {
				t.Fatalf("broken manifests accepted:\n%s", stdout)
			}
			t.Logf("rejected as expected:\n%s", stderr)
			if !strings.Contains(stderr, tc.wantErr) {
				t.Errorf("error does not mention %q:\n%s", tc.wantErr, stderr)
			}
		})
	}

	t.Run("apply and permissions", func(t *testing.T) {
		if stdout, stderr, err := framework.Kubectl(t, hub.KubeconfigPath, "apply", "--validate=strict", "-k", dir); err != nil {
			t.Fatalf("kubectl apply -k: %v\n%s\n%s", err, stdout, stderr)
		}
		const sa = "system:serviceaccount:portico-system:portico-hub"
		saGroups := []string{"system:serviceaccounts", "system:serviceaccounts:portico-system", "system:authenticated"}
		checks := []struct {
			attrs authorizationv1.ResourceAttributes
			want  bool
		}{
			// Delegated authentication and authorization.
			{authorizationv1.ResourceAttributes{Group: "authorization.k8s.io", Resource: "subjectaccessreviews", Verb: "create"}, true},
			{authorizationv1.ResourceAttributes{Group: "authentication.k8s.io", Resource: "tokenreviews", Verb: "create"}, true},
			{authorizationv1.ResourceAttributes{Namespace: "kube-system", Resource: "configmaps", Name: "extension-apiserver-authentication", Verb: "get"}, true},
			// Admission and flow control of the generic apiserver.
			{authorizationv1.ResourceAttributes{Resource: "namespaces", Verb: "watch"}, true},
			{authorizationv1.ResourceAttributes{Group: "admissionregistration.k8s.io", Resource: "validatingadmissionpolicies", Verb: "list"}, true},
			{authorizationv1.ResourceAttributes{Group: "admissionregistration.k8s.io", Resource: "mutatingwebhookconfigurations", Verb: "watch"}, true},
			{authorizationv1.ResourceAttributes{Group: "flowcontrol.apiserver.k8s.io", Resource: "flowschemas", Verb: "list"}, true},
			// Cluster joins.
			{authorizationv1.ResourceAttributes{Resource: "namespaces", Verb: "create"}, true},
			{authorizationv1.ResourceAttributes{Namespace: "portico-cluster-a", Group: "rbac.authorization.k8s.io", Resource: "rolebindings", Verb: "create"}, true},
			{authorizationv1.ResourceAttributes{Namespace: "portico-cluster-a", Group: "coordination.k8s.io", Resource: "leases", Verb: "watch"}, true},
			// Its own leader-election Lease, by name.
			{authorizationv1.ResourceAttributes{Namespace: "portico-system", Group: "coordination.k8s.io", Resource: "leases", Name: "portico-hub", Verb: "update"}, true},
			{authorizationv1.ResourceAttributes{Namespace: "portico-system", Group: "coordination.k8s.io", Resource: "leases", Name: "other", Verb: "update"}, false},
			{authorizationv1.ResourceAttributes{Namespace: "portico-cluster-a", Group: "coordination.k8s.io", Resource: "leases", Verb: "update"}, false},
			// The hub's controllers reach its own API through loopback: no
			// rules on its own objects beyond what it grants the agents.
			{authorizationv1.ResourceAttributes{Namespace: "shop", Group: "traffic.portico.dev", Resource: "accesspointrevisions", Verb: "create"}, false},
			{authorizationv1.ResourceAttributes{Group: "cluster.portico.dev", Resource: "memberclusters", Name: "a", Verb: "get"}, true},
			// Not more than that.
			{authorizationv1.ResourceAttributes{Namespace: "default", Resource: "secrets", Verb: "delete"}, false},
			{authorizationv1.ResourceAttributes{Namespace: "default", Resource: "pods", Verb: "create"}, false},
			{authorizationv1.ResourceAttributes{Namespace: "portico-cluster-a", Resource: "serviceaccounts", Subresource: "token", Name: "member-agent", Verb: "create"}, false},
			// Each agent's ClusterRole and binding for its own MemberCluster;
			// bind only the agents' ClusterRole portico-hub:member-agent.
			{authorizationv1.ResourceAttributes{Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings", Verb: "create"}, true},
			{authorizationv1.ResourceAttributes{Group: "rbac.authorization.k8s.io", Resource: "clusterroles", Name: "portico-hub:member-agent", Verb: "bind"}, true},
			{authorizationv1.ResourceAttributes{Group: "rbac.authorization.k8s.io", Resource: "clusterroles", Name: "cluster-admin", Verb: "bind"}, false},
			{authorizationv1.ResourceAttributes{Group: "rbac.authorization.k8s.io", Resource: "roles", Verb: "escalate"}, false},
		}
		for _, c := range checks {
			attrs := c.attrs
			// The RBAC authorizer reads through an informer: new bindings
			// apply after a moment.
			what := fmt.Sprintf("portico-hub %s %s/%s in %q: allowed=%v", attrs.Verb, attrs.Group, attrs.Resource, attrs.Namespace, c.want)
			framework.Eventually(t, 15*time.Second, what, func() (bool, string) {
				sar, err := kc.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), &authorizationv1.SubjectAccessReview{
					Spec: authorizationv1.SubjectAccessReviewSpec{User: sa, Groups: saGroups, ResourceAttributes: &attrs},
				}, metav1.CreateOptions{})
				if err != nil {
					return false, err.Error()
				}
				return sar.Status.Allowed == c.want, "allowed=" + boolString(sar.Status.Allowed) + " " + sar.Status.Reason
			})
		}

		// The aggregated roles carry their aggregation labels, and
		// kube-controller-manager merges their rules into the built-in roles.
		for role, label := range map[string]string{
			"portico-admin":            "rbac.authorization.k8s.io/aggregate-to-admin",
			"portico-edit":             "rbac.authorization.k8s.io/aggregate-to-edit",
			"portico-view":             "rbac.authorization.k8s.io/aggregate-to-view",
			"portico-rollout-approver": "rbac.authorization.k8s.io/aggregate-to-admin",
		} {
			cr, err := kc.RbacV1().ClusterRoles().Get(context.Background(), role, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if cr.Labels[label] != "true" {
				t.Errorf("ClusterRole %s lacks label %s=true", role, label)
			}
		}
		aggregated := []struct {
			role, resource, verb string
			want                 bool
		}{
			{"view", "federatedaccesspoints", "list", true},
			{"view", "clusteraccesspoints", "list", false},
			{"edit", "federatedaccesspoints", "create", true},
			{"edit", "federatedaccesspoints/status", "update", false},
			{"admin", "federatedaccesspoints/status", "update", true},
			{"view", "accesspointrevisions", "list", true},
			{"edit", "accesspointrevisions", "create", false},
			{"edit", "federatedaccesspoints/approve", "create", false},
			// A tenant edits its access points and names; infrastructure is admin's.
			{"edit", "nameservices", "create", true},
			{"edit", "vippools", "create", false},
			{"edit", "virtualips", "update", false},
			{"edit", "clusteraccesspoints", "create", false},
			{"edit", "certificateissuers", "create", false},
			{"edit", "hostgrants", "create", false},
			{"view", "hostgrants", "list", true},
			{"admin", "hostgrants", "create", true},
			{"admin", "federatedaccesspoints/approve", "create", true},
		}
		framework.Eventually(t, 30*time.Second, "Portico's rules aggregated into admin, edit and view", func() (bool, string) {
			for _, a := range aggregated {
				cr, err := kc.RbacV1().ClusterRoles().Get(context.Background(), a.role, metav1.GetOptions{})
				if err != nil {
					return false, err.Error()
				}
				if got := ruleGrants(cr.Rules, "traffic.portico.dev", a.resource, a.verb); got != a.want {
					return false, fmt.Sprintf("ClusterRole %s grants %s %s: %v, want %v", a.role, a.verb, a.resource, got, a.want)
				}
			}
			return true, ""
		})
	})
}

// ruleGrants reports whether one of rules allows verb on resource of group.
func ruleGrants(rules []rbacv1.PolicyRule, group, resource, verb string) bool {
	for _, r := range rules {
		if slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb) {
			return true
		}
	}
	return false
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// copyManifests copies the YAML files of dir into a new temporary directory.
func copyManifests(t *testing.T, dir string) string {
	t.Helper()
	out := t.TempDir()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, filepath.Base(f)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return out
}
