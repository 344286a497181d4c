package agent

import (
	"context"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/portico-dev/portico/apis/hubtoken"
)

// hubKubeconfigKey is the key of the hub kubeconfig in the Secret of
// --hub-kubeconfig-secret (manifests/member-agent/30-secret.yaml.tmpl).
const hubKubeconfigKey = "kubeconfig"

// persistToken returns how a renewed hub token is kept for the agent's next
// start: in the Secret of --hub-kubeconfig-secret when set (the Deployment
// mounts that Secret read-only), otherwise in the --hub-kubeconfig file. cs is
// read when a token is persisted, once the clients exist.
func (o *Options) persistToken(cs *clientsets) func(context.Context, string) error {
	if o.HubKubeconfigSecret == "" {
		return hubtoken.PersistFile(o.HubKubeconfig)
	}
	ns, name, _ := strings.Cut(o.HubKubeconfigSecret, "/")
	return func(ctx context.Context, token string) error {
		return persistSecret(ctx, cs.kube, ns, name, token)
	}
}

// persistSecret writes token into the hub kubeconfig of the Secret ns/name of
// the member cluster, keeping the rest of the kubeconfig.
func persistSecret(ctx context.Context, kube kubernetes.Interface, ns, name, token string) error {
	secrets := kube.CoreV1().Secrets(ns)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		secret, err := secrets.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("reading the hub kubeconfig Secret %s/%s: %w", ns, name, err)
		}
		if len(secret.Data[hubKubeconfigKey]) == 0 {
			return fmt.Errorf("the hub kubeconfig Secret %s/%s has no key %s", ns, name, hubKubeconfigKey)
		}
		data, err := hubtoken.SetKubeconfigToken(secret.Data[hubKubeconfigKey], token)
		if err != nil {
			return fmt.Errorf("Secret %s/%s, key %s: %w", ns, name, hubKubeconfigKey, err)
		}
		secret.Data[hubKubeconfigKey] = data
		_, err = secrets.Update(ctx, secret, metav1.UpdateOptions{})
		return err
	})
}
