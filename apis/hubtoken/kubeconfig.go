package hubtoken

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
)

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
