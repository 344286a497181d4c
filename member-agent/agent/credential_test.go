package agent

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

const user = "portico-cluster-zone-a-1-member-agent"

func hubKubeconfig(t *testing.T, token string) []byte {
	t.Helper()
	data, err := clientcmd.Write(clientcmdapi.Config{
		Clusters:       map[string]*clientcmdapi.Cluster{"portico-hub": {Server: "https://hub:6443"}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{user: {Token: token}},
		Contexts:       map[string]*clientcmdapi.Context{"portico-cluster-zone-a-1": {Cluster: "portico-hub", AuthInfo: user}},
		CurrentContext: "portico-cluster-zone-a-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func tokenOf(t *testing.T, kubeconfig []byte) string {
	t.Helper()
	cfg, err := clientcmd.Load(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.AuthInfos[user].Token
}

// TestPersistTokenInSecret: with --hub-kubeconfig-secret the renewed token
// replaces the one in the Secret's kubeconfig, retrying a conflicting write;
// the file is left alone.
func TestPersistTokenInSecret(t *testing.T) {
	file := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(file, hubKubeconfig(t, "old"), 0o600); err != nil {
		t.Fatal(err)
	}
	kube := kubefake.NewClientset(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "member-agent-hub", Namespace: "portico-system", Labels: map[string]string{"app.kubernetes.io/name": "member-agent"}},
		Data:       map[string][]byte{"kubeconfig": hubKubeconfig(t, "old")},
	})
	conflicts := 0
	kube.PrependReactor("update", "secrets", func(clienttesting.Action) (bool, runtime.Object, error) {
		if conflicts++; conflicts == 1 {
			return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "secrets"}, "member-agent-hub", errors.New("changed"))
		}
		return false, nil, nil
	})
	o := &Options{HubKubeconfig: file, HubKubeconfigSecret: "portico-system/member-agent-hub"}
	if err := o.persistToken(&clientsets{kube: kube})(context.Background(), "new"); err != nil {
		t.Fatal(err)
	}
	secret, err := kube.CoreV1().Secrets("portico-system").Get(context.Background(), "member-agent-hub", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := tokenOf(t, secret.Data["kubeconfig"]); got != "new" {
		t.Errorf("the Secret's token is %q, want new", got)
	}
	if secret.Labels["app.kubernetes.io/name"] != "member-agent" {
		t.Errorf("the Secret lost its labels: %v", secret.Labels)
	}
	data, _ := os.ReadFile(file)
	if got := tokenOf(t, data); got != "old" {
		t.Errorf("the file's token is %q, want it untouched", got)
	}
}

// TestPersistTokenInFile: without --hub-kubeconfig-secret the file is
// rewritten.
func TestPersistTokenInFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(file, hubKubeconfig(t, "old"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := &Options{HubKubeconfig: file}
	if err := o.persistToken(&clientsets{})(context.Background(), "new"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(file)
	if got := tokenOf(t, data); got != "new" {
		t.Errorf("the file's token is %q, want new", got)
	}
}

func TestValidateCredentialFlags(t *testing.T) {
	for _, tc := range []struct {
		secret   string
		fraction float64
		want     string
	}{
		{"portico-system/member-agent-hub", 0.8, ""},
		{"", 0.01, ""},
		{"member-agent-hub", 0.8, `--hub-kubeconfig-secret "member-agent-hub" must be NAMESPACE/NAME`},
		{"a/b/c", 0.8, "must be NAMESPACE/NAME"},
		{"/b", 0.8, "must be NAMESPACE/NAME"},
		{"", 0, "--hub-token-renew-fraction 0 must be between 0 and 1"},
		{"", 1, "--hub-token-renew-fraction 1 must be between 0 and 1"},
	} {
		o := NewOptions()
		o.HubKubeconfig, o.ClusterName = "hub.kubeconfig", "zone-a-1"
		o.HubKubeconfigSecret, o.HubTokenRenewFraction = tc.secret, tc.fraction
		err := o.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("--hub-kubeconfig-secret %q, --hub-token-renew-fraction %v: %v, want %q", tc.secret, tc.fraction, err, tc.want)
		}
	}
}
