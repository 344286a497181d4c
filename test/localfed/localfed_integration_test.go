//go:build integration

package localfed_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/portico-dev/portico/test/framework"
	"github.com/portico-dev/portico/test/localfed"
)

func TestEtcdStartStop(t *testing.T) {
	e := framework.NewEtcd(t)
	resp, err := http.Get(e.ClientURL + "/health")
	if err != nil {
		t.Fatal(err)
	}
	var health struct {
		Health string `json:"health"`
	}
	err = json.NewDecoder(resp.Body).Decode(&health)
	resp.Body.Close()
	if err != nil || health.Health != "true" {
		t.Fatalf("etcd /health: %+v, %v", health, err)
	}
	if err := e.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(e.PID, 0); err == nil {
		t.Fatalf("etcd pid %d still alive after Stop", e.PID)
	}
}

func TestHubClusterAuthn(t *testing.T) {
	hub := framework.NewHubClusterWithOptions(t, framework.HubClusterOptions{
		StaticTokens: []localfed.StaticToken{{Token: "bob-token", User: "bob", Groups: []string{"team-b"}}},
	})
	out, _, err := framework.Kubectl(t, hub.KubeconfigPath, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username} {.status.userInfo.groups}")
	if err != nil || !strings.HasPrefix(out, "admin ") || !strings.Contains(out, "system:masters") {
		t.Fatalf("admin whoami = %q, %v", out, err)
	}
	if _, _, err := framework.Kubectl(t, hub.KubeconfigPath, "get", "--raw", "/apis/apiregistration.k8s.io/v1"); err != nil {
		t.Fatalf("aggregator API not served: %v", err)
	}

	// A user kubeconfig: authenticated, but RBAC denies until bound.
	alice, err := hub.UserKubeconfig("alice", []string{"team-a"})
	if err != nil {
		t.Fatal(err)
	}
	out, _, err = framework.Kubectl(t, alice, "auth", "can-i", "list", "secrets", "-n", "default")
	if strings.TrimSpace(out) != "no" {
		t.Fatalf("alice can-i list secrets before binding = %q (%v)", out, err)
	}
	kc := kubernetes.NewForConfigOrDie(hub.RestConfig)
	ctx := context.Background()
	if _, err := kc.RbacV1().Roles("default").Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "secret-reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = kc.RbacV1().RoleBindings("default").Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "team-a-secret-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "secret-reader"},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "Group", Name: "team-a"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The RBAC authorizer sees the binding through an informer.
	framework.Eventually(t, 15*time.Second, "alice may list secrets after the binding", func() (bool, string) {
		out, _, err := framework.Kubectl(t, alice, "auth", "can-i", "list", "secrets", "-n", "default")
		return strings.TrimSpace(out) == "yes" && err == nil, fmt.Sprintf("can-i = %q (%v)", out, err)
	})

	// The static token authenticates too.
	cfg := rest.AnonymousClientConfig(hub.RestConfig)
	cfg.BearerToken = "bob-token"
	review, err := kubernetes.NewForConfigOrDie(cfg).AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("SelfSubjectReview with a static token: %v", err)
	}
	if u := review.Status.UserInfo; u.Username != "bob" || !strings.Contains(strings.Join(u.Groups, ","), "team-b") {
		t.Errorf("token user = %q %v", u.Username, u.Groups)
	}
}

// fakeAggregatedServer serves test.portico.dev/v1alpha1 like an aggregated
// API server: it requires the aggregator's front-proxy client certificate and
// reads the user from the request headers.
type fakeAggregatedServer struct {
	mu       sync.Mutex
	lastUser string
	lastGrps []string
}

func (f *fakeAggregatedServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || r.TLS.PeerCertificates[0].Subject.CommonName != localfed.FrontProxyClientName {
		http.Error(w, "front-proxy client certificate required", http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	var body any
	switch r.URL.Path {
	case "/apis":
		body = map[string]any{"kind": "APIGroupList", "apiVersion": "v1", "groups": []any{testGroup()}}
	case "/apis/test.portico.dev":
		g := testGroup()
		g["kind"], g["apiVersion"] = "APIGroup", "v1"
		body = g
	case "/apis/test.portico.dev/v1alpha1":
		body = map[string]any{
			"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "test.portico.dev/v1alpha1",
			"resources": []any{map[string]any{"name": "things", "singularName": "thing", "namespaced": false, "kind": "Thing", "verbs": []string{"get", "list"}}},
		}
	case "/apis/test.portico.dev/v1alpha1/things":
		user := r.Header.Get("X-Remote-User")
		f.mu.Lock()
		f.lastUser, f.lastGrps = user, r.Header.Values("X-Remote-Group")
		f.mu.Unlock()
		body = map[string]any{
			"kind": "ThingList", "apiVersion": "test.portico.dev/v1alpha1", "metadata": map[string]any{},
			"items": []any{map[string]any{"kind": "Thing", "apiVersion": "test.portico.dev/v1alpha1", "metadata": map[string]any{"name": "seen-" + user}}},
		}
	default:
		http.NotFound(w, r)
		return
	}
	_ = json.NewEncoder(w).Encode(body)
}

func testGroup() map[string]any {
	gv := map[string]any{"groupVersion": "test.portico.dev/v1alpha1", "version": "v1alpha1"}
	return map[string]any{"name": "test.portico.dev", "versions": []any{gv}, "preferredVersion": gv}
}

func TestRegisterAggregatedAPI(t *testing.T) {
	hub := framework.NewHubCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	const ns, svc = "portico-test", "fake-api"
	servingCA, err := localfed.NewCA("fake-api-ca")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := servingCA.IssueServing("fake-api", []string{localfed.AggregatedServerName(svc, ns)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakeAggregatedServer{}
	srv := &http.Server{Handler: fake, TLSConfig: &tls.Config{
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    hub.FrontProxyCA.CertPool(),
	}}
	go func() { _ = srv.ServeTLS(l, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })

	api := localfed.AggregatedAPI{
		Namespace: ns, ServiceName: svc, Port: l.Addr().(*net.TCPAddr).Port, CABundle: servingCA.CertPEM,
		GroupVersions: []schema.GroupVersion{{Group: "test.portico.dev", Version: "v1alpha1"}},
	}
	start := time.Now()
	if err := hub.RegisterAggregatedAPI(ctx, api); err != nil {
		t.Fatal(err)
	}
	if err := hub.RegisterAggregatedAPI(ctx, api); err != nil {
		t.Fatalf("second registration (idempotence): %v", err)
	}
	if err := hub.WaitForAPIServicesAvailable(ctx, api.APIServiceNames()...); err != nil {
		t.Fatal(err)
	}
	t.Logf("APIService available %v after registration", time.Since(start).Round(time.Millisecond))

	// Through the hub cluster as a user: RBAC first, then the proxied request
	// carries the user in X-Remote-User.
	carol, err := hub.UserKubeconfig("carol", []string{"team-c"})
	if err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := framework.Kubectl(t, carol, "get", "things.test.portico.dev"); err == nil || !strings.Contains(stderr, "forbidden") {
		t.Fatalf("carol without RBAC: err=%v stderr=%s", err, stderr)
	}
	kc := kubernetes.NewForConfigOrDie(hub.RestConfig)
	if _, err := kc.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "things-reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"test.portico.dev"}, Resources: []string{"things"}, Verbs: []string{"get", "list"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "things-reader-team-c"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "things-reader"},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "Group", Name: "team-c"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The RBAC authorizer sees the binding through an informer.
	framework.Eventually(t, 30*time.Second, "carol gets things through the aggregator", func() (bool, string) {
		out, stderr, err := framework.Kubectl(t, carol, "get", "things.test.portico.dev", "-o", "jsonpath={.items[0].metadata.name}")
		return err == nil && out == "seen-carol", fmt.Sprintf("%q, %v, %s", out, err, stderr)
	})
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if fake.lastUser != "carol" || !strings.Contains(strings.Join(fake.lastGrps, ","), "team-c") {
		t.Errorf("aggregated server saw user %q groups %v", fake.lastUser, fake.lastGrps)
	}
}
