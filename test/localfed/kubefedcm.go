package localfed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	fedv1b1 "sigs.k8s.io/kubefed/pkg/apis/core/v1beta1"
)

// KubefedControllerManagerEnv overrides the path KubefedControllerManagerPath
// returns.
const KubefedControllerManagerEnv = "PORTICO_KUBEFED_CONTROLLER_MANAGER"

// ErrKubefedControllerManagerMissing is wrapped by the error
// KubefedControllerManagerPath returns when the binary is not built.
var ErrKubefedControllerManagerMissing = errors.New("kubefed controller-manager missing")

// KubefedControllerManagerPath returns
// <repo root>/_output/kubefed/<version>/controller-manager, version being the
// sigs.k8s.io/kubefed module this repository requires (or the path in
// $PORTICO_KUBEFED_CONTROLLER_MANAGER), after checking that it is an
// executable. hack/build-kubefed.sh builds it.
func KubefedControllerManagerPath() (string, error) {
	path := os.Getenv(KubefedControllerManagerEnv)
	if path == "" {
		root, err := RepoRoot()
		if err != nil {
			return "", err
		}
		_, version, err := moduleDir("sigs.k8s.io/kubefed")
		if err != nil {
			return "", err
		}
		path = filepath.Join(root, "_output", "kubefed", version, "controller-manager")
	}
	fi, err := os.Stat(path)
	if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("%w: no executable %s; build it with hack/build-kubefed.sh (make tools)", ErrKubefedControllerManagerMissing, path)
	}
	return path, nil
}

// kubefedConfig is the KubeFedConfig StartKubefedControllerManager applies:
// kubefed's defaults (its chart's kubefedconfig.yaml), all fields set since
// no defaulting webhook runs, with timings for tests: clusters are probed
// every second and used one second after they turn Ready.
const kubefedConfig = `apiVersion: core.kubefed.io/v1beta1
kind: KubeFedConfig
metadata:
  name: kubefed
  namespace: kube-federation-system
spec:
  scope: Cluster
  controllerDuration:
    availableDelay: 1s
    unavailableDelay: 5s
    cacheSyncTimeout: 1m
  leaderElect:
    leaseDuration: 15s
    renewDeadline: 10s
    retryPeriod: 2s
    resourceLock: configmaps
  clusterHealthCheck:
    period: 1s
    failureThreshold: 3
    successThreshold: 1
    timeout: 3s
  syncController:
    maxConcurrentReconciles: 1
    adoptResources: Enabled
  statusController:
    maxConcurrentReconciles: 1
  featureGates:
  - name: PushReconciler
    configuration: Enabled
  - name: SchedulerPreferences
    configuration: Enabled
`

// DefaultKubefedTypes are the FederatedTypeConfigs StartKubefedControllerManager
// enables when none are given. A namespaced type propagates only into
// namespaces that have a FederatedNamespace, so "namespaces" is always
// enabled.
var DefaultKubefedTypes = []string{"namespaces", "deployments.apps"}

// KubefedControllerManagerOptions configure StartKubefedControllerManager.
type KubefedControllerManagerOptions struct {
	// Path of the binary (default: KubefedControllerManagerPath()).
	Path string
	// LogPath receives its output (default:
	// <hub Dir>/kubefed-controller-manager.log).
	LogPath string
	// Types are the names of the FederatedTypeConfigs to enable, as kubefed's
	// chart defines them (e.g. "deployments.apps"); default DefaultKubefedTypes.
	Types []string
	// Detach lets the process outlive the caller (see ProcessOptions).
	Detach bool
	// StartTimeout bounds the wait until every type's sync controller runs
	// (default 90s).
	StartTimeout time.Duration
}

// KubefedControllerManager is kubefed's controller-manager running against a
// hub cluster: its cluster controller probes the KubeFedClusters, its sync
// controllers propagate the federated objects of the enabled types to them
// and write their status.clusters.
type KubefedControllerManager struct {
	*Process
	// HealthzPort serves /healthz on 127.0.0.1 (plain HTTP).
	HealthzPort int
	// Types are the enabled FederatedTypeConfigs.
	Types []string
	// Startup is how long it took until every type's sync controller ran.
	Startup time.Duration
}

// StartKubefedControllerManager runs kubefed's controller-manager against the
// hub cluster, whose kubefed CRDs must be installed (InstallKubefedCRDs): it
// applies the KubeFedConfig kube-federation-system/kubefed and the
// FederatedTypeConfigs of opts.Types from kubefed's chart, starts the binary
// with the hub's admin kubeconfig (healthz on a free port of 127.0.0.1,
// metrics on any) and waits until it reports every type's propagation
// controller Running. ctx bounds the start-up only; Stop stops the process.
func StartKubefedControllerManager(ctx context.Context, hub *HubCluster, opts KubefedControllerManagerOptions) (*KubefedControllerManager, error) {
	path := opts.Path
	if path == "" {
		var err error
		if path, err = KubefedControllerManagerPath(); err != nil {
			return nil, err
		}
	}
	types := opts.Types
	if len(types) == 0 {
		types = DefaultKubefedTypes
	}
	if !slices.Contains(types, "namespaces") {
		types = append([]string{"namespaces"}, types...)
	}
	logPath := opts.LogPath
	if logPath == "" {
		logPath = filepath.Join(hub.Dir, "kubefed-controller-manager.log")
	}
	timeout := opts.StartTimeout
	if timeout == 0 {
		timeout = 90 * time.Second
	}
	start := time.Now()
	dyn, err := dynamic.NewForConfig(hub.RestConfig)
	if err != nil {
		return nil, err
	}
	if err := applyKubefedObjects(ctx, dyn, types); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		logOffset := fileSize(logPath)
		p, err := StartProcess(ProcessOptions{
			Name: "kubefed-controller-manager",
			Path: path,
			Args: []string{
				"--kubeconfig=" + hub.KubeconfigPath,
				"--kubefed-namespace=" + KubefedNamespace,
				"--healthz-addr=127.0.0.1:" + strconv.Itoa(port),
				"--metrics-addr=127.0.0.1:0",
				"--v=2",
			},
			LogPath: logPath,
			Detach:  opts.Detach,
		})
		if err != nil {
			return nil, err
		}
		k := &KubefedControllerManager{Process: p, HealthzPort: port, Types: types}
		waitErr := WaitUntil(ctx, timeout, func(ctx context.Context) error {
			if err := k.healthy(ctx); err != nil {
				return err
			}
			return typesRunning(ctx, dyn, types)
		}, p)
		if waitErr == nil {
			k.Startup = time.Since(start)
			return k, nil
		}
		_ = p.Stop()
		err = fmt.Errorf("kubefed controller-manager did not start its controllers: %w\n--- %s (tail) ---\n%s", waitErr, logPath, p.LogTail(40))
		if attempt >= 2 || !logSinceContains(logPath, logOffset, "address already in use") {
			return nil, err
		}
	}
}

// applyKubefedObjects applies kubefedConfig and the FederatedTypeConfigs
// named in types.
func applyKubefedObjects(ctx context.Context, dyn dynamic.Interface, types []string) error {
	objs, err := decodeYAML(strings.NewReader(kubefedConfig))
	if err != nil {
		return fmt.Errorf("KubeFedConfig: %w", err)
	}
	ftcs, err := kubefedTypeConfigs(types)
	if err != nil {
		return err
	}
	for _, u := range append(objs, ftcs...) {
		gvr := fedv1b1.SchemeGroupVersion.WithResource(strings.ToLower(u.GetKind()) + "s")
		u.SetNamespace(KubefedNamespace)
		_, err := dyn.Resource(gvr).Namespace(KubefedNamespace).Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: "localfed", Force: true})
		if err != nil {
			return fmt.Errorf("applying %s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
	return nil
}

// kubefedTypeConfigs returns the FederatedTypeConfigs named in types from
// kubefed's chart (charts/kubefed/templates/federatedtypeconfig.yaml in the
// sigs.k8s.io/kubefed module: plain YAML, what `kubefedctl enable` makes).
func kubefedTypeConfigs(types []string) ([]*unstructured.Unstructured, error) {
	dir, version, err := moduleDir("sigs.k8s.io/kubefed")
	if err != nil {
		return nil, err
	}
	file := filepath.Join(dir, "charts", "kubefed", "templates", "federatedtypeconfig.yaml")
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("FederatedTypeConfigs of sigs.k8s.io/kubefed %s: %w", version, err)
	}
	defer f.Close()
	all, err := decodeYAML(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var out []*unstructured.Unstructured
	for _, name := range types {
		i := slices.IndexFunc(all, func(u *unstructured.Unstructured) bool { return u.GetName() == name })
		if i < 0 {
			return nil, fmt.Errorf("no FederatedTypeConfig %q in %s", name, file)
		}
		out = append(out, all[i])
	}
	return out, nil
}

// decodeYAML decodes a multi-document YAML stream, skipping empty documents.
func decodeYAML(r io.Reader) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(r, 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

// typesRunning checks that kubefed reports the propagation controller of
// every FederatedTypeConfig in types Running for its current generation.
func typesRunning(ctx context.Context, dyn dynamic.Interface, types []string) error {
	ftcs := dyn.Resource(fedv1b1.SchemeGroupVersion.WithResource("federatedtypeconfigs")).Namespace(KubefedNamespace)
	for _, name := range types {
		u, err := ftcs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		state, _, _ := unstructured.NestedString(u.Object, "status", "propagationController")
		observed, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
		if state != string(fedv1b1.ControllerStatusRunning) || observed != u.GetGeneration() {
			return fmt.Errorf("FederatedTypeConfig %s: propagation controller %q (observed generation %d of %d)", name, state, observed, u.GetGeneration())
		}
	}
	return nil
}

// healthy checks the controller-manager's /healthz.
func (k *KubefedControllerManager) healthy(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(k.HealthzPort)+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/healthz: %s", resp.Status)
	}
	return nil
}

// Stop stops the controller-manager. Safe to call more than once, and on nil.
func (k *KubefedControllerManager) Stop() error {
	if k == nil || k.Process == nil {
		return nil
	}
	return k.Process.Stop()
}

// kubefedJoinServiceAccount is the ServiceAccount, in KubefedNamespace of a
// member cluster, whose token kubefed uses there.
const kubefedJoinServiceAccount = "kubefed-controller-manager"

// JoinKubefedCluster joins a member cluster to a running kubefed much as
// `kubefedctl join` does: in the member cluster (member, an admin config), a
// ServiceAccount in KubefedNamespace bound to cluster-admin; in the hub
// cluster (hub), a Secret <c.Name>-token holding a token of that
// ServiceAccount (key "token"; from the TokenRequest API, valid for
// tokenTTL, where kubefedctl has a service-account-token Secret filled in)
// and the KubeFedCluster c.Name naming it.
// kubefed's cluster controller writes its status (c.Zones and c.Region are
// not used: kubefed reads them from the member's nodes).
func JoinKubefedCluster(ctx context.Context, hub, member *rest.Config, c KubeFedCluster, tokenTTL time.Duration) error {
	token, err := kubefedMemberToken(ctx, member, tokenTTL)
	if err != nil {
		return fmt.Errorf("joining %s to kubefed: %w", c.Name, err)
	}
	kube, err := kubernetes.NewForConfig(hub)
	if err != nil {
		return err
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: c.Name + "-token", Namespace: KubefedNamespace},
		Data:       map[string][]byte{"token": []byte(token)},
	}
	if _, err := kube.CoreV1().Secrets(KubefedNamespace).Create(ctx, secret, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
		_, err = kube.CoreV1().Secrets(KubefedNamespace).Update(ctx, secret, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("secret %s/%s: %w", KubefedNamespace, secret.Name, err)
		}
	} else if err != nil {
		return fmt.Errorf("secret %s/%s: %w", KubefedNamespace, secret.Name, err)
	}
	_, err = applyKubeFedCluster(ctx, hub, c)
	return err
}

// kubefedMemberToken creates the ServiceAccount kubefed uses in a member
// cluster, bound to cluster-admin, and returns a token for it.
func kubefedMemberToken(ctx context.Context, member *rest.Config, ttl time.Duration) (string, error) {
	if err := ensureNamespace(ctx, member, KubefedNamespace); err != nil {
		return "", err
	}
	kube, err := kubernetes.NewForConfig(member)
	if err != nil {
		return "", err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: kubefedJoinServiceAccount, Namespace: KubefedNamespace}}
	if _, err := kube.CoreV1().ServiceAccounts(KubefedNamespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("service account %s/%s: %w", KubefedNamespace, sa.Name, err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "kubefed-controller-manager"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa.Name, Namespace: KubefedNamespace}},
	}
	if _, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("cluster role binding %s: %w", binding.Name, err)
	}
	tr, err := kube.CoreV1().ServiceAccounts(KubefedNamespace).CreateToken(ctx, sa.Name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(ttl.Seconds()))},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token for %s/%s: %w", KubefedNamespace, sa.Name, err)
	}
	return tr.Status.Token, nil
}
