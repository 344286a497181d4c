package hubtoken

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// kubeconfig is an agent's hub kubeconfig, as `kubectl portico join` writes it.
func kubeconfig(t *testing.T, token string) []byte {
	t.Helper()
	data, err := clientcmd.Write(clientcmdapi.Config{
		Clusters: map[string]*clientcmdapi.Cluster{"portico-hub": {Server: "https://hub:6443", CertificateAuthorityData: []byte("CA")}},
		AuthInfos: map[string]*clientcmdapi.AuthInfo{
			"portico-cluster-zone-a-1-member-agent": {Token: token},
			"someone-else":                          {Token: "theirs"},
		},
		Contexts: map[string]*clientcmdapi.Context{"portico-cluster-zone-a-1": {
			Cluster: "portico-hub", AuthInfo: "portico-cluster-zone-a-1-member-agent", Namespace: "portico-cluster-zone-a-1"}},
		CurrentContext: "portico-cluster-zone-a-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestPersistFile: the file is replaced, with the same permissions, by one
// whose current user has the new token and that keeps everything else; no
// temporary file is left behind.
func TestPersistFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hub.kubeconfig")
	if err := os.WriteFile(path, kubeconfig(t, "old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := PersistFile(path)(context.Background(), "new"); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.AuthInfos["portico-cluster-zone-a-1-member-agent"].Token; got != "new" {
		t.Errorf("token %q, want new", got)
	}
	if got := cfg.AuthInfos["someone-else"].Token; got != "theirs" {
		t.Errorf("another user's token changed to %q", got)
	}
	if c := cfg.Clusters["portico-hub"]; c.Server != "https://hub:6443" || string(c.CertificateAuthorityData) != "CA" ||
		cfg.Contexts["portico-cluster-zone-a-1"].Namespace != "portico-cluster-zone-a-1" {
		t.Errorf("the rest of the kubeconfig changed: %+v", cfg)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", info.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the directory holds %d files, want only the kubeconfig", len(entries))
	}
}

func TestPersistFileErrors(t *testing.T) {
	dir := t.TempDir()
	if err := PersistFile(filepath.Join(dir, "missing"))(context.Background(), "new"); !os.IsNotExist(err) {
		t.Errorf("a missing file: %v", err)
	}
	path := filepath.Join(dir, "no-context")
	if err := os.WriteFile(path, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := PersistFile(path)(context.Background(), "new"); err == nil || !strings.Contains(err.Error(), "no current context") {
		t.Errorf("a kubeconfig without a context: %v", err)
	}
}

func TestSetKubeconfigTokenMissingUser(t *testing.T) {
	data := []byte(`apiVersion: v1
kind: Config
contexts:
- name: c
  context: {cluster: x, user: nobody}
current-context: c
`)
	if _, err := SetKubeconfigToken(data, "new"); err == nil || !strings.Contains(err.Error(), `missing user "nobody"`) {
		t.Errorf("SetKubeconfigToken = %v, want an error naming the missing user", err)
	}
}

// TestPersistSecret: the Secret's kubeconfig gets the new token and keeps its
// other users; the Secret keeps its labels; a conflicting write is retried.
func TestPersistSecret(t *testing.T) {
	kube := kubefake.NewClientset(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "lb-agent-hub-edge-a-1", Namespace: "portico-system", Labels: map[string]string{"app.kubernetes.io/name": "lb-agent"}},
		Data:       map[string][]byte{SecretKey: kubeconfig(t, "old")},
	})
	conflicts := 0
	kube.PrependReactor("update", "secrets", func(clienttesting.Action) (bool, runtime.Object, error) {
		if conflicts++; conflicts == 1 {
			return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "secrets"}, "lb-agent-hub-edge-a-1", errors.New("changed"))
		}
		return false, nil, nil
	})
	secrets := kube.CoreV1().Secrets("portico-system")
	if err := PersistSecret(context.Background(), secrets, "lb-agent-hub-edge-a-1", "new"); err != nil {
		t.Fatal(err)
	}
	if conflicts != 2 {
		t.Errorf("%d updates, want a conflict and a retry", conflicts)
	}
	secret, err := secrets.Get(context.Background(), "lb-agent-hub-edge-a-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load(secret.Data[SecretKey])
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.AuthInfos["portico-cluster-zone-a-1-member-agent"].Token; got != "new" {
		t.Errorf("the Secret's token is %q, want new", got)
	}
	if got := cfg.AuthInfos["someone-else"].Token; got != "theirs" {
		t.Errorf("another user's token became %q, want it kept", got)
	}
	if secret.Labels["app.kubernetes.io/name"] != "lb-agent" {
		t.Errorf("the Secret lost its labels: %v", secret.Labels)
	}
}

func TestPersistSecretErrors(t *testing.T) {
	kube := kubefake.NewClientset(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "empty", Namespace: "portico-system"}})
	for name, want := range map[string]string{
		"missing": `reading the hub kubeconfig Secret missing`,
		"empty":   `the hub kubeconfig Secret portico-system/empty has no key kubeconfig`,
	} {
		err := PersistSecret(context.Background(), kube.CoreV1().Secrets("portico-system"), name, "new")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Secret %s: %v, want an error with %q", name, err, want)
		}
	}
}
