package hubtoken

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
)

// SecretKey is the key of the hub kubeconfig in an agent's hub kubeconfig
// Secret (manifests/member-agent, manifests/lb-agent/edge).
const SecretKey = "kubeconfig"

// SetKubeconfigToken returns kubeconfig with token as the bearer token of the
// user of its current context; everything else is kept.
func SetKubeconfigToken(kubeconfig []byte, token string) ([]byte, error) {
	cfg, err := clientcmd.Load(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig: %w", err)
	}
	current, ok := cfg.Contexts[cfg.CurrentContext]
	if !ok {
		return nil, fmt.Errorf("the kubeconfig has no current context (current-context %q)", cfg.CurrentContext)
	}
	user, ok := cfg.AuthInfos[current.AuthInfo]
	if !ok {
		return nil, fmt.Errorf("the kubeconfig's context %q names the missing user %q", cfg.CurrentContext, current.AuthInfo)
	}
	user.Token = token
	return clientcmd.Write(*cfg)
}

// PersistFile returns a Persist function that rewrites the kubeconfig file at
// path with each new token: a temporary file in the same directory, renamed
// over the old one, so that a reader sees either the old or the new file.
func PersistFile(path string) func(context.Context, string) error {
	return func(_ context.Context, token string) error {
		old, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		data, err := SetKubeconfigToken(old, token)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return writeFileAtomic(path, data)
	}
}

// PersistSecret writes token into the hub kubeconfig (key SecretKey) of the
// Secret name of secrets, keeping the rest of the kubeconfig and of the
// Secret, and retrying conflicting writes.
func PersistSecret(ctx context.Context, secrets corev1client.SecretInterface, name, token string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		secret, err := secrets.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("reading the hub kubeconfig Secret %s: %w", name, err)
		}
		if len(secret.Data[SecretKey]) == 0 {
			return fmt.Errorf("the hub kubeconfig Secret %s/%s has no key %s", secret.Namespace, name, SecretKey)
		}
		data, err := SetKubeconfigToken(secret.Data[SecretKey], token)
		if err != nil {
			return fmt.Errorf("Secret %s/%s, key %s: %w", secret.Namespace, name, SecretKey, err)
		}
		secret.Data[SecretKey] = data
		_, err = secrets.Update(ctx, secret, metav1.UpdateOptions{})
		return err
	})
}

// writeFileAtomic replaces path with data, keeping its permissions.
func writeFileAtomic(path string, data []byte) (err error) {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	_, err = tmp.Write(data)
	err = errors.Join(err, tmp.Chmod(info.Mode().Perm()), tmp.Sync(), tmp.Close())
	if err != nil {
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	return os.Rename(tmp.Name(), path)
}
