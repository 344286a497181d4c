package plugin

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	porticofake "github.com/portico-dev/portico/apis/generated/clientset/versioned/fake"
)

// fakeEdgeHub is a fake hub cluster whose TokenRequest answers with
// "token-of-<namespace>/<name>".
func fakeEdgeHub(objs ...runtime.Object) (*porticofake.Clientset, *kubefake.Clientset) {
	pc := porticofake.NewSimpleClientset(objs...)
	kc := kubefake.NewClientset()
	kc.PrependReactor("create", "serviceaccounts", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "token" {
			return false, nil, nil
		}
		req := a.(clienttesting.CreateAction).GetObject().(*authenticationv1.TokenRequest)
		out := req.DeepCopy()
		out.Status = authenticationv1.TokenRequestStatus{
			Token:               "token-of-" + a.GetNamespace() + "/" + a.(clienttesting.CreateActionImpl).Name,
			ExpirationTimestamp: metav1.NewTime(time.Now().Add(time.Duration(*req.Spec.ExpirationSeconds) * time.Second)),
		}
		return true, out, nil
	})
	return pc, kc
}

func TestJoinEdgeCreatesOneIdentityPerNode(t *testing.T) {
	ctx := context.Background()
	pc, kc := fakeEdgeHub()
	var log bytes.Buffer
	res, err := JoinEdge(ctx, pc, kc, JoinEdgeOptions{Node: "edge-a-1", Group: "zone-a", Address: "192.0.2.11", Hub: testHub,
		TokenDuration: 2 * time.Hour, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	// The LoadBalancerNode and the Lease exist before the agent runs: it never creates.
	lbn, err := pc.ClusterV1alpha1().LoadBalancerNodes().Get(ctx, "edge-a-1", metav1.GetOptions{})
	if err != nil || lbn.Spec.Group != "zone-a" || lbn.Spec.Address != "192.0.2.11" {
		t.Errorf("LoadBalancerNode %+v, %v", lbn, err)
	}
	lease, err := kc.CoordinationV1().Leases("portico-edge").Get(ctx, "lb-agent-edge-a-1", metav1.GetOptions{})
	if err != nil || lease.Spec.RenewTime != nil {
		t.Errorf("Lease %+v, %v (must exist, never renewed)", lease, err)
	}
	if _, err := kc.CoreV1().ServiceAccounts("portico-edge").Get(ctx, "lb-agent-edge-a-1", metav1.GetOptions{}); err != nil {
		t.Errorf("ServiceAccount: %v", err)
	}

	// The node's write permissions name only its own objects; it creates
	// nothing but tokens of its own ServiceAccount.
	cr, err := kc.RbacV1().ClusterRoles().Get(ctx, "portico:lb-agent:edge-a-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	role, err := kc.RbacV1().Roles("portico-edge").Get(ctx, "portico:lb-agent:edge-a-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range append(cr.Rules, role.Rules...) {
		if len(r.ResourceNames) != 1 || (r.ResourceNames[0] != "edge-a-1" && r.ResourceNames[0] != "lb-agent-edge-a-1") {
			t.Errorf("rule %+v is not limited to the node's own objects", r)
		}
		tokens := len(r.Resources) == 1 && r.Resources[0] == "serviceaccounts/token"
		for _, v := range r.Verbs {
			if tokens && v != "create" || !tokens && v != "get" && v != "update" && v != "patch" {
				t.Errorf("rule %+v grants %q", r, v)
			}
		}
	}
	if !strings.Contains(strings.Join(role.Rules[0].Resources, ","), "leases") || !strings.Contains(strings.Join(cr.Rules[0].Resources, ","), "loadbalancernodes/status") {
		t.Errorf("rules: %+v %+v", cr.Rules, role.Rules)
	}
	renew := rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"serviceaccounts/token"},
		ResourceNames: []string{"lb-agent-edge-a-1"}, Verbs: []string{"create"}}
	if len(role.Rules) != 2 || !apiequality.Semantic.DeepEqual(role.Rules[1], renew) {
		t.Errorf("Role rules %+v, want the Lease rule and %+v (the agent renews its own token)", role.Rules, renew)
	}
	sa := rbacv1.Subject{Kind: "ServiceAccount", Name: "lb-agent-edge-a-1", Namespace: "portico-edge"}
	crb, err := kc.RbacV1().ClusterRoleBindings().Get(ctx, "portico:lb-agent:edge-a-1", metav1.GetOptions{})
	if err != nil || crb.RoleRef.Name != "portico:lb-agent:edge-a-1" || len(crb.Subjects) != 1 || crb.Subjects[0] != sa {
		t.Errorf("ClusterRoleBinding %+v, %v", crb, err)
	}
	rb, err := kc.RbacV1().RoleBindings("portico-edge").Get(ctx, "portico:lb-agent:edge-a-1", metav1.GetOptions{})
	if err != nil || rb.RoleRef.Kind != "Role" || len(rb.Subjects) != 1 || rb.Subjects[0] != sa {
		t.Errorf("RoleBinding %+v, %v", rb, err)
	}
	// The shared read-only role, bound to the namespace's ServiceAccounts.
	shared, err := kc.RbacV1().ClusterRoleBindings().Get(ctx, "portico:lb-agent", metav1.GetOptions{})
	if err != nil || shared.Subjects[0].Kind != "Group" || shared.Subjects[0].Name != "system:serviceaccounts:portico-edge" {
		t.Errorf("shared ClusterRoleBinding %+v, %v", shared, err)
	}

	cfg, err := clientcmd.Load(res.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	kctx := cfg.Contexts[cfg.CurrentContext]
	if kctx == nil || kctx.Namespace != "portico-edge" || cfg.AuthInfos[kctx.AuthInfo].Token != "token-of-portico-edge/lb-agent-edge-a-1" ||
		cfg.Clusters[kctx.Cluster].Server != testHub.Server {
		t.Errorf("kubeconfig %+v", cfg)
	}
	if d := time.Until(res.TokenExpiration); d < time.Hour || d > 2*time.Hour {
		t.Errorf("token expires in %v", d)
	}
	for _, want := range []string{"LoadBalancerNode edge-a-1 ready (group zone-a", "LoadBalancerGroup zone-a does not exist yet", "valid until"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
}

func TestJoinEdgeRepeatsAndRepairsRoles(t *testing.T) {
	ctx := context.Background()
	pc, kc := fakeEdgeHub(&clusterv1alpha1.LoadBalancerGroup{ObjectMeta: metav1.ObjectMeta{Name: "zone-a"}})
	o := JoinEdgeOptions{Node: "edge-a-1", Group: "zone-a", Address: "192.0.2.11", Hub: testHub}
	if _, err := JoinEdge(ctx, pc, kc, o); err != nil {
		t.Fatal(err)
	}
	// Someone widened the node's role; joining again narrows it back.
	cr, _ := kc.RbacV1().ClusterRoles().Get(ctx, "portico:lb-agent:edge-a-1", metav1.GetOptions{})
	cr.Rules[0].ResourceNames = nil
	if _, err := kc.RbacV1().ClusterRoles().Update(ctx, cr, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	o.Log = &log
	if _, err := JoinEdge(ctx, pc, kc, o); err != nil {
		t.Fatal(err)
	}
	cr, _ = kc.RbacV1().ClusterRoles().Get(ctx, "portico:lb-agent:edge-a-1", metav1.GetOptions{})
	if !apiequality.Semantic.DeepEqual(cr.Rules, EdgeNodeRules("edge-a-1")) {
		t.Errorf("rules after a second join: %+v", cr.Rules)
	}
	if strings.Contains(log.String(), "does not exist yet") {
		t.Errorf("warned about an existing group:\n%s", log.String())
	}
}

func TestJoinEdgeRefusesOtherGroup(t *testing.T) {
	pc, kc := fakeEdgeHub(&clusterv1alpha1.LoadBalancerNode{ObjectMeta: metav1.ObjectMeta{Name: "edge-a-1"},
		Spec: clusterv1alpha1.LoadBalancerNodeSpec{Group: "zone-b", Address: "192.0.2.11"}})
	_, err := JoinEdge(context.Background(), pc, kc, JoinEdgeOptions{Node: "edge-a-1", Group: "zone-a", Address: "192.0.2.11", Hub: testHub})
	if err == nil || !strings.Contains(err.Error(), `LoadBalancerNode edge-a-1 already exists in group "zone-b", not "zone-a"`) {
		t.Errorf("err %v", err)
	}
	if _, err := kc.CoreV1().ServiceAccounts("portico-edge").Get(context.Background(), "lb-agent-edge-a-1", metav1.GetOptions{}); err == nil {
		t.Error("an identity was created for a node of another group")
	}
}

func TestJoinEdgeValidates(t *testing.T) {
	pc, kc := fakeEdgeHub()
	for _, c := range []struct {
		o    JoinEdgeOptions
		want string
	}{
		{JoinEdgeOptions{Group: "g", Address: "192.0.2.1", Hub: testHub}, "NODE name is required"},
		{JoinEdgeOptions{Node: "Edge_1", Group: "g", Address: "192.0.2.1", Hub: testHub}, "invalid edge node name"},
		{JoinEdgeOptions{Node: "e", Address: "192.0.2.1", Hub: testHub}, "--group is required"},
		{JoinEdgeOptions{Node: "e", Group: "g"}, "--address is required"},
		{JoinEdgeOptions{Node: "e", Group: "g", Address: "2001:db8::1", Hub: testHub}, "must be an IPv4 address"},
		{JoinEdgeOptions{Node: "e", Group: "g", Address: "192.0.2.1", Hub: testHub, TokenDuration: time.Minute}, "at least 10m"},
		{JoinEdgeOptions{Node: "e", Group: "g", Address: "192.0.2.1"}, "hub server URL is empty"},
	} {
		if _, err := JoinEdge(context.Background(), pc, kc, c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err %v, want %q", c.o, err, c.want)
		}
	}
}

// TestEdgeReadRulesMatchManifest: join-edge creates the shared ClusterRole
// with the rules of manifests/lb-agent/hub/rbac.yaml.
func TestEdgeReadRulesMatchManifest(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "manifests", "lb-agent", "hub", "rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var cr rbacv1.ClusterRole
		if err := yaml.Unmarshal([]byte(doc), &cr); err != nil {
			t.Fatal(err)
		}
		if cr.Kind != "ClusterRole" || cr.Name != EdgeClusterRole {
			continue
		}
		found = true
		if !apiequality.Semantic.DeepEqual(cr.Rules, EdgeReadRules()) {
			t.Errorf("manifest rules %+v, join-edge creates %+v", cr.Rules, EdgeReadRules())
		}
	}
	if !found {
		t.Errorf("no ClusterRole %s in manifests/lb-agent/hub/rbac.yaml", EdgeClusterRole)
	}
}

func TestJoinEdgeCommandErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"join-edge", "--group", "g", "--address", "192.0.2.1"}, "exactly one argument"},
		{[]string{"join-edge", "e", "--address", "192.0.2.1"}, `required flag(s) "group" not set`},
		{[]string{"join-edge", "e", "--group", "g"}, `required flag(s) "address" not set`},
		{[]string{"join-edge", "e", "--group", "g", "--address", "192.0.2.1", "-o", "yaml"}, `--output must be "manifest" or "kubeconfig"`},
	} {
		var out, errOut bytes.Buffer
		code := Main(context.Background(), IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, c.args)
		if code != 1 || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("%v: code %d, stderr %q, want %q", c.args, code, errOut.String(), c.want)
		}
	}
}
