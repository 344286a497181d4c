package agent

import (
	"context"
	"strings"

	"github.com/portico-dev/portico/apis/hubtoken"
)

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
		return hubtoken.PersistSecret(ctx, cs.kube.CoreV1().Secrets(ns), name, token)
	}
}
