package plugin

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/clientcmd"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	porticofake "github.com/portico-dev/portico/apis/generated/clientset/versioned/fake"
)

var testHub = HubEndpoint{Server: "https://hub.example:6443", CAData: []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")}

// fakeHub is a fake hub cluster whose "controller" prepares each new
// MemberCluster after delay (never when delay < 0), and whose TokenRequest
// answers with a fixed token.
func fakeHub(t *testing.T, delay time.Duration, objs ...runtime.Object) (*porticofake.Clientset, *kubefake.Clientset) {
	t.Helper()
	pc := porticofake.NewSimpleClientset(objs...)
	kc := kubefake.NewClientset()
	kc.PrependReactor("create", "serviceaccounts", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "token" {
			return false, nil, nil
		}
		req := a.(clienttesting.CreateAction).GetObject().(*authenticationv1.TokenRequest)
		out := req.DeepCopy()
		out.Status = authenticationv1.TokenRequestStatus{
			Token:               "token-of-" + a.GetNamespace(),
			ExpirationTimestamp: metav1.NewTime(time.Now().Add(time.Duration(*req.Spec.ExpirationSeconds) * time.Second)),
		}
		return true, out, nil
	})
	if delay >= 0 {
		pc.PrependReactor("create", "memberclusters", func(a clienttesting.Action) (bool, runtime.Object, error) {
			mc := a.(clienttesting.CreateAction).GetObject().(*clusterv1alpha1.MemberCluster)
			name := mc.Name
			go func() {
				time.Sleep(delay)
				ctx := context.Background()
				ns := clusterv1alpha1.ClusterNamespace(name)
				_, _ = kc.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{
					ObjectMeta: metav1.ObjectMeta{Name: clusterv1alpha1.AgentServiceAccount, Namespace: ns}}, metav1.CreateOptions{})
				cur, err := pc.ClusterV1alpha1().MemberClusters().Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return
				}
				cur.Status.Namespace = ns
				_, _ = pc.ClusterV1alpha1().MemberClusters().UpdateStatus(ctx, cur, metav1.UpdateOptions{})
			}()
			return false, nil, nil
		})
	}
	return pc, kc
}

func TestJoinCreates(t *testing.T) {
	pc, kc := fakeHub(t, 300*time.Millisecond)
	var log bytes.Buffer
	res, err := Join(context.Background(), pc, kc, JoinOptions{Name: "zone-a-1", Zone: "zone-a", Region: "r1", Hub: testHub, Log: &log,
		TokenDuration: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Created || res.Namespace != "portico-cluster-zone-a-1" || res.MemberCluster.Status.Namespace != res.Namespace {
		t.Errorf("result %+v", res)
	}
	mc, err := pc.ClusterV1alpha1().MemberClusters().Get(context.Background(), "zone-a-1", metav1.GetOptions{})
	if err != nil || mc.Spec.Zone != "zone-a" || mc.Spec.Region != "r1" {
		t.Errorf("MemberCluster %+v, %v", mc, err)
	}
	if d := time.Until(res.TokenExpiration); d < time.Hour || d > 2*time.Hour {
		t.Errorf("token expires in %v", d)
	}
	cfg, err := clientcmd.Load(res.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	if ctx == nil || ctx.Namespace != "portico-cluster-zone-a-1" {
		t.Fatalf("context %+v", ctx)
	}
	if c := cfg.Clusters[ctx.Cluster]; c.Server != testHub.Server || !bytes.Equal(c.CertificateAuthorityData, testHub.CAData) {
		t.Errorf("cluster %+v", c)
	}
	if u := cfg.AuthInfos[ctx.AuthInfo]; u.Token != "token-of-portico-cluster-zone-a-1" {
		t.Errorf("user %+v", u)
	}
	for _, want := range []string{"MemberCluster zone-a-1 created (zone zone-a, region r1)", "ServiceAccount member-agent ready", "valid until"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
}

func TestJoinReusesSameZone(t *testing.T) {
	existing := &clusterv1alpha1.MemberCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "zone-a-1", UID: "u1"},
		Spec:       clusterv1alpha1.MemberClusterSpec{Zone: "zone-a", Region: "r1"},
		Status:     clusterv1alpha1.MemberClusterStatus{Namespace: "portico-cluster-zone-a-1"},
	}
	pc, kc := fakeHub(t, -1, existing)
	if _, err := kc.CoreV1().ServiceAccounts("portico-cluster-zone-a-1").Create(context.Background(), &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "member-agent"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, region := range []string{"r1", ""} {
		var log bytes.Buffer
		res, err := Join(context.Background(), pc, kc, JoinOptions{Name: "zone-a-1", Zone: "zone-a", Region: region, Hub: testHub, Log: &log})
		if err != nil {
			t.Fatalf("region %q: %v", region, err)
		}
		if res.Created || !strings.Contains(log.String(), "already exists with zone zone-a, region r1: reusing it") {
			t.Errorf("region %q: created=%v, log:\n%s", region, res.Created, log.String())
		}
	}
}

func TestJoinRefusesOtherZoneOrRegion(t *testing.T) {
	existing := &clusterv1alpha1.MemberCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "zone-a-1"},
		Spec:       clusterv1alpha1.MemberClusterSpec{Zone: "zone-a", Region: "r1"},
	}
	for _, c := range []struct{ zone, region, want string }{
		{"zone-b", "", `MemberCluster zone-a-1 already exists in zone "zone-a", not "zone-b"`},
		{"zone-a", "r2", `MemberCluster zone-a-1 already exists in region "r1", not "r2"`},
	} {
		pc, kc := fakeHub(t, -1, existing.DeepCopy())
		_, err := Join(context.Background(), pc, kc, JoinOptions{Name: "zone-a-1", Zone: c.zone, Region: c.region, Hub: testHub})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("zone %s region %s: err %v, want %q", c.zone, c.region, err, c.want)
		}
	}
}

func TestJoinRefusesClusterBeingDeleted(t *testing.T) {
	now := metav1.Now()
	existing := &clusterv1alpha1.MemberCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "zone-a-1", DeletionTimestamp: &now, Finalizers: []string{clusterv1alpha1.MemberClusterFinalizer}},
		Spec:       clusterv1alpha1.MemberClusterSpec{Zone: "zone-a"},
	}
	pc, kc := fakeHub(t, -1, existing)
	_, err := Join(context.Background(), pc, kc, JoinOptions{Name: "zone-a-1", Zone: "zone-a", Hub: testHub})
	if err == nil || !strings.Contains(err.Error(), "is being deleted") {
		t.Errorf("err %v", err)
	}
}

func TestJoinTimesOutClearly(t *testing.T) {
	pc, kc := fakeHub(t, -1)
	start := time.Now()
	_, err := Join(context.Background(), pc, kc, JoinOptions{Name: "zone-a-1", Zone: "zone-a", Hub: testHub, WaitTimeout: 500 * time.Millisecond})
	if err == nil {
		t.Fatal("no error without a hub controller")
	}
	for _, want := range []string{"did not prepare MemberCluster zone-a-1 within 500ms", "status.namespace", "portico-hub"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
	// The ServiceAccount is the second thing waited for.
	ctx := context.Background()
	mc, _ := pc.ClusterV1alpha1().MemberClusters().Get(ctx, "zone-a-1", metav1.GetOptions{})
	mc.Status.Namespace = "portico-cluster-zone-a-1"
	if _, err := pc.ClusterV1alpha1().MemberClusters().UpdateStatus(ctx, mc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = Join(ctx, pc, kc, JoinOptions{Name: "zone-a-1", Zone: "zone-a", Hub: testHub, WaitTimeout: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "ServiceAccount portico-cluster-zone-a-1/member-agent to be created") {
		t.Errorf("err %v", err)
	}
}

func TestJoinForbidden(t *testing.T) {
	pc, kc := fakeHub(t, -1)
	pc.PrependReactor("create", "memberclusters", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "cluster.portico.dev", Resource: "memberclusters"}, "zone-a-1", nil)
	})
	_, err := Join(context.Background(), pc, kc, JoinOptions{Name: "zone-a-1", Zone: "zone-a", Hub: testHub})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "creating MemberCluster zone-a-1") {
		t.Errorf("err %v", err)
	}
}

func TestJoinValidates(t *testing.T) {
	pc, kc := fakeHub(t, -1)
	for _, c := range []struct {
		o    JoinOptions
		want string
	}{
		{JoinOptions{Zone: "z", Hub: testHub}, "NAME is required"},
		{JoinOptions{Name: "Zone_A", Zone: "z", Hub: testHub}, "invalid member cluster name"},
		{JoinOptions{Name: strings.Repeat("a", 60), Zone: "z", Hub: testHub}, "invalid member cluster name"},
		{JoinOptions{Name: "a", Hub: testHub}, "--zone is required"},
		{JoinOptions{Name: "a", Zone: "z", Hub: testHub, TokenDuration: time.Minute}, "at least 10m"},
		{JoinOptions{Name: "a", Zone: "z"}, "hub server URL is empty"},
	} {
		if _, err := Join(context.Background(), pc, kc, c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err %v, want %q", c.o, err, c.want)
		}
	}
}

func TestHubEndpointFromConfig(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(ca, testHub.CAData, 0o600); err != nil {
		t.Fatal(err)
	}
	ep, err := HubEndpointFromConfig(&rest.Config{Host: "https://10.0.0.1:6443", TLSClientConfig: rest.TLSClientConfig{CAFile: ca, ServerName: "hub"}})
	if err != nil || ep.Server != "https://10.0.0.1:6443" || !bytes.Equal(ep.CAData, testHub.CAData) || ep.TLSServerName != "hub" {
		t.Errorf("%+v, %v", ep, err)
	}
}

func TestCommandErrors(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"join", "--zone", "z"}, "exactly one argument"},
		{[]string{"join", "a", "b", "--zone", "z"}, "exactly one argument"},
		{[]string{"join", "a"}, `required flag(s) "zone" not set`},
		{[]string{"join", "a", "--zone", "z", "-o", "yaml"}, `--output must be "manifest" or "kubeconfig"`},
		{[]string{"join", "a", "--zone", "z", "--kubeconfig", filepath.Join(t.TempDir(), "missing")}, "loading the kubeconfig"},
		{[]string{"join", "a", "--zone", "z", "--kubeconfig", kubeconfig, "--context", "nope"}, `context "nope" does not exist`},
	} {
		var out, errOut bytes.Buffer
		code := Main(context.Background(), IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, c.args)
		if code != 1 || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("%v: code %d, stderr %q, want %q", c.args, code, errOut.String(), c.want)
		}
		if out.Len() != 0 {
			t.Errorf("%v: stdout %q", c.args, out.String())
		}
	}
	var out bytes.Buffer
	if code := Main(context.Background(), IOStreams{Out: &out, ErrOut: &out}, []string{"version"}); code != 0 || !strings.HasPrefix(out.String(), "kubectl-portico ") {
		t.Errorf("version: %d %q", code, out.String())
	}
}

func TestJoinNamespaceTerminating(t *testing.T) {
	pc, kc := fakeHub(t, 0)
	kc.PrependReactor("create", "serviceaccounts", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "token" {
			return false, nil, nil
		}
		err := apierrors.NewForbidden(schema.GroupResource{Resource: "serviceaccounts"}, "member-agent",
			errors.New("unable to create new content in namespace portico-cluster-zone-a-1 because it is being terminated"))
		err.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: corev1.NamespaceTerminatingCause, Field: "portico-cluster-zone-a-1"}}
		return true, nil, err
	})
	_, err := Join(context.Background(), pc, kc, JoinOptions{Name: "zone-a-1", Zone: "zone-a", Hub: testHub})
	if err == nil || !strings.Contains(err.Error(), "hub namespace portico-cluster-zone-a-1 of an earlier MemberCluster zone-a-1 is still being deleted") {
		t.Errorf("err %v", err)
	}
}
