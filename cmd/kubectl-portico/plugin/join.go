package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/cluster/validation"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	"github.com/portico-dev/portico/manifests"
)

// Output formats of join.
const (
	OutputManifest   = "manifest"
	OutputKubeconfig = "kubeconfig"
)

// Defaults of join.
const (
	// DefaultTokenDuration is the lifetime of the token join and join-edge
	// issue: the agents renew it themselves before it expires.
	DefaultTokenDuration = 24 * time.Hour
	DefaultWaitTimeout   = 60 * time.Second
	// MinTokenDuration is the shortest token the TokenRequest API issues.
	MinTokenDuration = 10 * time.Minute
)

// HubEndpoint is how the member-agent reaches the hub cluster.
type HubEndpoint struct {
	// Server is the hub cluster's URL as seen from the member cluster.
	Server string
	// CAData is the PEM CA bundle that verifies the hub's serving certificate.
	CAData []byte
	// TLSServerName, when set, is the name verified instead of Server's host.
	TLSServerName string
	// InsecureSkipTLSVerify copies an insecure kubeconfig (not recommended).
	InsecureSkipTLSVerify bool
}

// HubEndpointFromConfig takes the hub's URL, CA and TLS server name from the
// client configuration the plugin uses itself.
func HubEndpointFromConfig(cfg *rest.Config) (HubEndpoint, error) {
	ep := HubEndpoint{
		Server:                cfg.Host,
		CAData:                cfg.CAData,
		TLSServerName:         cfg.ServerName,
		InsecureSkipTLSVerify: cfg.Insecure,
	}
	if len(ep.CAData) == 0 && cfg.CAFile != "" {
		data, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return ep, fmt.Errorf("reading the hub's CA: %w", err)
		}
		ep.CAData = data
	}
	return ep, nil
}

// JoinOptions are the inputs of Join.
type JoinOptions struct {
	// Name of the MemberCluster (a DNS label). Required.
	Name string
	// Zone and Region of the cluster; Zone is required.
	Zone, Region string
	// Labels are set on a created MemberCluster and added to a reused one
	// that lacks them; a reused one with another value of one is an error.
	Labels map[string]string
	// TokenDuration is the requested lifetime of the agent's hub token
	// (default DefaultTokenDuration; at least MinTokenDuration).
	TokenDuration time.Duration
	// WaitTimeout bounds the wait for the hub controller (default DefaultWaitTimeout).
	WaitTimeout time.Duration
	// Hub is written into the agent's kubeconfig.
	Hub HubEndpoint
	// Log receives progress messages (may be nil).
	Log io.Writer
}

// JoinResult is what Join produced.
type JoinResult struct {
	// MemberCluster as last read from the hub.
	MemberCluster *clusterv1alpha1.MemberCluster
	// Created is false when an existing MemberCluster was reused.
	Created bool
	// Namespace is the cluster's hub namespace (portico-cluster-<name>).
	Namespace string
	// Kubeconfig authenticates as the agent's ServiceAccount in Namespace.
	Kubeconfig []byte
	// TokenExpiration is when the token in Kubeconfig expires.
	TokenExpiration time.Time
}

// Join registers a member cluster with the hub: it creates the MemberCluster (or
// reuses one with the same zone), waits until the hub controller has prepared
// the cluster's hub namespace and the agent's ServiceAccount, requests a token
// for that ServiceAccount and returns a kubeconfig with it.
func Join(ctx context.Context, portico versioned.Interface, kube kubernetes.Interface, o JoinOptions) (*JoinResult, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.TokenDuration == 0 {
		o.TokenDuration = DefaultTokenDuration
	}
	if o.WaitTimeout == 0 {
		o.WaitTimeout = DefaultWaitTimeout
	}
	logf := func(format string, args ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, format+"\n", args...)
		}
	}
	res := &JoinResult{Namespace: clusterv1alpha1.ClusterNamespace(o.Name)}

	if err := namespaceNotTerminating(ctx, kube, res.Namespace, o.Name); err != nil {
		return nil, err
	}
	mc, created, err := ensureMemberCluster(ctx, portico, o)
	if err != nil {
		return nil, err
	}
	res.Created = created
	if created {
		logf("MemberCluster %s created (zone %s%s).", o.Name, mc.Spec.Zone, regionSuffix(mc.Spec.Region))
	} else {
		logf("MemberCluster %s already exists with zone %s%s: reusing it.", o.Name, mc.Spec.Zone, regionSuffix(mc.Spec.Region))
	}

	start := time.Now()
	if mc, err = waitForHubAccess(ctx, portico, kube, mc, o.WaitTimeout); err != nil {
		return nil, err
	}
	res.MemberCluster = mc
	logf("Hub namespace %s and ServiceAccount %s ready (%v).", res.Namespace, clusterv1alpha1.AgentServiceAccount,
		time.Since(start).Round(time.Millisecond))

	seconds := int64(o.TokenDuration / time.Second)
	tr, err := kube.CoreV1().ServiceAccounts(res.Namespace).CreateToken(ctx, clusterv1alpha1.AgentServiceAccount,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds}}, metav1.CreateOptions{})
	if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		return nil, fmt.Errorf("the hub namespace %s of an earlier MemberCluster %s is still being deleted, so no token can be issued: "+
			"join again once it is gone (kubectl wait --for=delete namespace/%s; the hub cluster's namespace controller removes it): %w",
			res.Namespace, o.Name, res.Namespace, err)
	}
	if err != nil {
		return nil, fmt.Errorf("requesting a token for ServiceAccount %s/%s (needs create on serviceaccounts/token in %s): %w",
			res.Namespace, clusterv1alpha1.AgentServiceAccount, res.Namespace, err)
	}
	if tr.Status.Token == "" {
		return nil, fmt.Errorf("the hub cluster returned an empty token for ServiceAccount %s/%s", res.Namespace, clusterv1alpha1.AgentServiceAccount)
	}
	res.TokenExpiration = tr.Status.ExpirationTimestamp.Time
	logf("Issued a token for ServiceAccount %s/%s, valid until %s.", res.Namespace, clusterv1alpha1.AgentServiceAccount,
		res.TokenExpiration.UTC().Format(time.RFC3339))
	if granted := time.Until(res.TokenExpiration); !res.TokenExpiration.IsZero() && granted < o.TokenDuration*9/10 {
		logf("Warning: the hub cluster shortened the token's lifetime to %v (requested %v; see kube-apiserver's --service-account-max-token-expiration).",
			granted.Round(time.Minute), o.TokenDuration)
	}
	if o.Hub.InsecureSkipTLSVerify {
		logf("Warning: the current kubeconfig skips TLS verification of the hub; so will the agent's.")
	} else if len(o.Hub.CAData) == 0 {
		logf("Warning: the current kubeconfig has no CA for the hub; the agent will trust its system's CAs.")
	}
	if res.Kubeconfig, err = AgentKubeconfig(o.Hub, o.Name, tr.Status.Token); err != nil {
		return nil, err
	}
	return res, nil
}

func (o *JoinOptions) validate() error {
	if o.Name == "" {
		return errors.New("the member cluster's NAME is required")
	}
	if errs := validation.ValidateMemberClusterName(o.Name, false); len(errs) > 0 {
		return fmt.Errorf("invalid member cluster name %q: %s", o.Name, strings.Join(errs, "; "))
	}
	if o.Zone == "" {
		return errors.New("--zone is required")
	}
	if errs := metav1validation.ValidateLabels(o.Labels, field.NewPath("metadata", "labels")); len(errs) > 0 {
		return fmt.Errorf("invalid labels for MemberCluster %s: %w", o.Name, errs.ToAggregate())
	}
	if o.TokenDuration != 0 && o.TokenDuration < MinTokenDuration {
		return fmt.Errorf("--token-duration must be at least %v", MinTokenDuration)
	}
	if o.Hub.Server == "" {
		return errors.New("the hub server URL is empty (set --hub-server)")
	}
	return nil
}

func regionSuffix(region string) string {
	if region == "" {
		return ""
	}
	return ", region " + region
}

// ensureMemberCluster creates the MemberCluster, or returns the existing one
// when its zone (and region, if one was asked for) and labels match; the
// labels it lacks are added.
func ensureMemberCluster(ctx context.Context, portico versioned.Interface, o JoinOptions) (*clusterv1alpha1.MemberCluster, bool, error) {
	client := portico.ClusterV1alpha1().MemberClusters()
	want := &clusterv1alpha1.MemberCluster{
		ObjectMeta: metav1.ObjectMeta{Name: o.Name, Labels: maps.Clone(o.Labels)},
		Spec:       clusterv1alpha1.MemberClusterSpec{Zone: o.Zone, Region: o.Region},
	}
	mc, err := client.Create(ctx, want, metav1.CreateOptions{})
	switch {
	case err == nil:
		return mc, true, nil
	case apierrors.IsAlreadyExists(err):
	case apierrors.IsNotFound(err):
		return nil, false, fmt.Errorf("creating MemberCluster %s: %w (is portico-hub installed and registered with this hub cluster? "+
			"`kubectl api-resources --api-group=cluster.portico.dev` lists its resources)", o.Name, err)
	default:
		return nil, false, fmt.Errorf("creating MemberCluster %s: %w", o.Name, err)
	}
	mc, err = client.Get(ctx, o.Name, metav1.GetOptions{})
	if err != nil {
		return nil, false, fmt.Errorf("MemberCluster %s exists but cannot be read: %w", o.Name, err)
	}
	if mc.DeletionTimestamp != nil {
		return nil, false, fmt.Errorf("MemberCluster %s is being deleted; wait until it is gone (kubectl wait --for=delete mc/%s) and join again",
			o.Name, o.Name)
	}
	if mc.Spec.Zone != o.Zone {
		return nil, false, fmt.Errorf("MemberCluster %s already exists in zone %q, not %q: choose another name, or delete it first (kubectl delete mc %s)",
			o.Name, mc.Spec.Zone, o.Zone, o.Name)
	}
	if o.Region != "" && mc.Spec.Region != o.Region {
		return nil, false, fmt.Errorf("MemberCluster %s already exists in region %q, not %q: choose another name, or delete it first (kubectl delete mc %s)",
			o.Name, mc.Spec.Region, o.Region, o.Name)
	}
	if mc, err = ensureLabels(ctx, portico, mc, o.Labels); err != nil {
		return nil, false, err
	}
	return mc, false, nil
}

// ensureLabels adds the labels an existing MemberCluster lacks (one merge
// patch); one it has with another value is an error.
func ensureLabels(ctx context.Context, portico versioned.Interface, mc *clusterv1alpha1.MemberCluster, want map[string]string) (*clusterv1alpha1.MemberCluster, error) {
	missing := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		got, ok := mc.Labels[k]
		switch {
		case !ok:
			missing[k] = want[k]
		case got != want[k]:
			return nil, fmt.Errorf("MemberCluster %s already exists with label %s=%s, not %s: choose another name, or change the label first (kubectl label mc %s %s=%s --overwrite)",
				mc.Name, k, got, want[k], mc.Name, k, want[k])
		}
	}
	if len(missing) == 0 {
		return mc, nil
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": missing}})
	if err != nil {
		return nil, err
	}
	out, err := portico.ClusterV1alpha1().MemberClusters().Patch(ctx, mc.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return nil, fmt.Errorf("adding the labels %v to MemberCluster %s (needs patch on memberclusters): %w", missing, mc.Name, err)
	}
	return out, nil
}

// waitForHubAccess waits until the hub controller has set status.namespace and
// created the agent's ServiceAccount there.
func waitForHubAccess(ctx context.Context, portico versioned.Interface, kube kubernetes.Interface,
	mc *clusterv1alpha1.MemberCluster, timeout time.Duration) (*clusterv1alpha1.MemberCluster, error) {
	name, ns := mc.Name, clusterv1alpha1.ClusterNamespace(mc.Name)
	waiting := "status.namespace to be set"
	var fatal error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		cur, err := portico.ClusterV1alpha1().MemberClusters().Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			fatal = fmt.Errorf("MemberCluster %s was deleted while waiting for the hub", name)
			return false, fatal
		case err != nil:
			if isFatal(err) {
				fatal = fmt.Errorf("reading MemberCluster %s: %w", name, err)
				return false, fatal
			}
			waiting = fmt.Sprintf("MemberCluster %s to be readable (last error: %v)", name, err)
			return false, nil
		case cur.UID != mc.UID:
			fatal = fmt.Errorf("MemberCluster %s was deleted and created again while waiting for the hub", name)
			return false, fatal
		case cur.DeletionTimestamp != nil:
			fatal = fmt.Errorf("MemberCluster %s is being deleted", name)
			return false, fatal
		}
		mc = cur
		if cur.Status.Namespace == "" {
			waiting = "status.namespace to be set"
			return false, nil
		}
		if cur.Status.Namespace != ns {
			fatal = fmt.Errorf("MemberCluster %s reports hub namespace %q, expected %q", name, cur.Status.Namespace, ns)
			return false, fatal
		}
		_, err = kube.CoreV1().ServiceAccounts(ns).Get(ctx, clusterv1alpha1.AgentServiceAccount, metav1.GetOptions{})
		switch {
		case err == nil:
			return true, nil
		case apierrors.IsNotFound(err):
			waiting = fmt.Sprintf("ServiceAccount %s/%s to be created", ns, clusterv1alpha1.AgentServiceAccount)
			return false, nil
		case isFatal(err):
			fatal = fmt.Errorf("reading ServiceAccount %s/%s: %w", ns, clusterv1alpha1.AgentServiceAccount, err)
			return false, fatal
		default:
			waiting = fmt.Sprintf("ServiceAccount %s/%s to be readable (last error: %v)", ns, clusterv1alpha1.AgentServiceAccount, err)
			return false, nil
		}
	})
	switch {
	case err == nil:
		return mc, nil
	case fatal != nil:
		return nil, fatal
	case ctx.Err() != nil:
		return nil, fmt.Errorf("waiting for the hub to prepare MemberCluster %s: %w", name, ctx.Err())
	default:
		return nil, fmt.Errorf("the hub did not prepare MemberCluster %s within %v: still waiting for %s; "+
			"is portico-hub running with its controllers? (check `kubectl get mc %s -o yaml` and portico-hub's log)",
			name, timeout, waiting, name)
	}
}

// isFatal tells errors that retrying will not cure.
func isFatal(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) || apierrors.IsBadRequest(err) || apierrors.IsInvalid(err)
}

// namespaceNotTerminating fails early when the cluster's hub namespace is left
// over from an earlier MemberCluster of the same name and still being deleted:
// nothing can be created in it until the hub cluster finishes the deletion.
func namespaceNotTerminating(ctx context.Context, kube kubernetes.Interface, ns, name string) error {
	got, err := kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil || got.DeletionTimestamp == nil {
		return nil
	}
	return fmt.Errorf("the hub namespace %s of an earlier MemberCluster %s is still being deleted, so no token can be issued: "+
		"wait until it is gone (kubectl get namespace %s), then join again", ns, name, ns)
}

// AgentKubeconfig returns a kubeconfig for the member-agent of cluster: the
// hub's address and CA, the token, and the cluster's hub namespace as the
// context's namespace.
func AgentKubeconfig(hub HubEndpoint, cluster, token string) ([]byte, error) {
	if hub.Server == "" || token == "" {
		return nil, errors.New("agent kubeconfig: server and token are required")
	}
	const clusterName = "portico-hub"
	ns := clusterv1alpha1.ClusterNamespace(cluster)
	user := ns + "-" + clusterv1alpha1.AgentServiceAccount
	cfg := clientcmdapi.Config{
		Clusters: map[string]*clientcmdapi.Cluster{clusterName: {
			Server:                   hub.Server,
			CertificateAuthorityData: hub.CAData,
			TLSServerName:            hub.TLSServerName,
			InsecureSkipTLSVerify:    hub.InsecureSkipTLSVerify,
		}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{user: {Token: token}},
		Contexts:       map[string]*clientcmdapi.Context{ns: {Cluster: clusterName, AuthInfo: user, Namespace: ns}},
		CurrentContext: ns,
	}
	return clientcmd.Write(cfg)
}

type joinFlags struct {
	zone, region, image, hubServer, output string
	tokenDuration, waitTimeout             time.Duration
}

func newJoinCommand(streams IOStreams, kf *kubeFlags) *cobra.Command {
	f := &joinFlags{}
	cmd := &cobra.Command{
		Use:   "join NAME --zone ZONE [--region REGION]",
		Short: "Join a member cluster to the hub and print its member-agent manifest",
		Long: `Join a member cluster (a zone's Istio gateway cluster) to the Portico hub.

join talks to the hub cluster of the current kubeconfig. It
  1. creates the MemberCluster NAME with spec.zone and spec.region (an existing
     MemberCluster NAME in the same zone is reused, so join can be repeated; one
     in another zone is an error);
  2. waits (up to --wait-timeout) until portico-hub has created the cluster's hub
     namespace portico-cluster-NAME, the ServiceAccount member-agent in it and
     the RBAC that confines the agent to that namespace and its own MemberCluster;
  3. requests a token for that ServiceAccount (TokenRequest API, lifetime
     --token-duration, default 24h) and builds a hub kubeconfig with it: the hub's URL
     (--hub-server, default the kubeconfig's server), the CA of the current
     kubeconfig, the token, and the namespace portico-cluster-NAME;
  4. prints, to stdout, the member-agent's install manifest for the member cluster
     (namespace portico-system, ServiceAccount and RBAC for the Istio kinds,
     Services, Secrets, Namespaces and EndpointSlices, read access to Deployments
     in istio-system, the Secret member-agent-hub with the hub kubeconfig, and the
     Deployment member-agent), or with -o kubeconfig only the hub kubeconfig (to
     run the agent elsewhere, e.g. as a local process: member-agent
     --hub-kubeconfig FILE --cluster-name NAME --kubeconfig MEMBER-KUBECONFIG).

Messages go to stderr, so stdout can be redirected to a file or piped to kubectl.
The output holds a credential: treat it as a secret. Every join issues a new
token; earlier tokens stay valid until they expire or the MemberCluster is
deleted (which deletes the ServiceAccount's namespace).

The agent renews its token itself: at about 80% of its lifetime it requests a
new one, with the same lifetime, for its own ServiceAccount, and writes it into
the Secret member-agent-hub (a local agent: into its --hub-kubeconfig file).
The MemberCluster shows the expiry in status.agent.credentialExpirationTime;
its condition CredentialExpiring turns True when less than a tenth of the
lifetime remains. An agent that was stopped past its token's expiry needs a
new one: run join again and apply its output.

The manifest's RoleBinding lives in istio-system, which must exist in the member
cluster (it does wherever Istio is installed).

Permissions needed in the hub cluster: create and get memberclusters
(cluster.portico.dev), get serviceaccounts and create serviceaccounts/token in
portico-cluster-NAME.`,
		Example: `  # Join zone-a-1 and install its agent (the member cluster's context is zone-a-1):
  kubectl portico join zone-a-1 --zone zone-a --region r1 > agent.yaml
  kubectl --context zone-a-1 apply -f agent.yaml
  kubectl get mc zone-a-1        # AVAILABLE turns True once the agent runs

  # Or in one go:
  kubectl portico join zone-a-1 --zone zone-a | kubectl --context zone-a-1 apply -f -

  # The member cluster reaches the hub under another address than yours, and the
  # agent image comes from a private registry:
  kubectl portico join zone-b-1 --zone zone-b \
      --hub-server https://hub.example.internal:6443 \
      --image registry.example/portico/member-agent:v0.1.0 > agent.yaml

  # Only the hub kubeconfig, e.g. to run the agent as a local process:
  kubectl portico join zone-a-1 --zone zone-a -o kubeconfig > zone-a-1.hub.kubeconfig`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("join takes exactly one argument, the member cluster's NAME (got %d); see --help", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runJoin(cmd.Context(), streams, kf, f, args[0])
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.zone, "zone", "", "Availability zone of the member cluster (spec.zone). Required.")
	fs.StringVar(&f.region, "region", "", "Region of the member cluster (spec.region).")
	fs.StringVar(&f.image, "image", manifests.DefaultMemberAgentImage, "Image of the member-agent in the manifest.")
	fs.StringVar(&f.hubServer, "hub-server", "",
		"URL of the hub cluster as the member cluster reaches it (default: the server of the current kubeconfig).")
	fs.DurationVar(&f.tokenDuration, "token-duration", DefaultTokenDuration,
		"Requested lifetime of the agent's hub token (at least 10m; the hub cluster may cap it). The agent renews it before it expires.")
	fs.DurationVar(&f.waitTimeout, "wait-timeout", DefaultWaitTimeout,
		"How long to wait for portico-hub to prepare the cluster's hub namespace and ServiceAccount.")
	fs.StringVarP(&f.output, "output", "o", OutputManifest,
		"What to print: "+OutputManifest+" (the member-agent install manifest) or "+OutputKubeconfig+" (only the agent's hub kubeconfig).")
	_ = cmd.MarkFlagRequired("zone")
	return cmd
}

func runJoin(ctx context.Context, streams IOStreams, kf *kubeFlags, f *joinFlags, name string) error {
	if f.output != OutputManifest && f.output != OutputKubeconfig {
		return fmt.Errorf("--output must be %q or %q, not %q", OutputManifest, OutputKubeconfig, f.output)
	}
	if f.image == "" {
		return errors.New("--image must not be empty")
	}
	cfg, err := kf.restConfig()
	if err != nil {
		return err
	}
	hub, err := HubEndpointFromConfig(cfg)
	if err != nil {
		return err
	}
	if f.hubServer != "" {
		hub.Server = f.hubServer
	}
	portico, err := versioned.NewForConfig(cfg)
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	res, err := Join(ctx, portico, kube, JoinOptions{
		Name: name, Zone: f.zone, Region: f.region,
		TokenDuration: f.tokenDuration, WaitTimeout: f.waitTimeout,
		Hub: hub, Log: streams.ErrOut,
	})
	if err != nil {
		return err
	}
	if f.output == OutputKubeconfig {
		_, err = streams.Out.Write(res.Kubeconfig)
		return err
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# member-agent of the Portico member cluster %s (zone %s%s), from kubectl portico join (%s).\n",
		name, res.MemberCluster.Spec.Zone, regionSuffix(res.MemberCluster.Spec.Region), version())
	fmt.Fprintf(&buf, "# Hub: %s. Holds a hub credential valid until %s: keep this file secret.\n",
		hub.Server, res.TokenExpiration.UTC().Format(time.RFC3339))
	if err := manifests.RenderMemberAgent(&buf, manifests.MemberAgentValues{
		ClusterName: name, Image: f.image, HubKubeconfig: res.Kubeconfig,
		GatewayNamespace: res.MemberCluster.Spec.GatewayNamespace,
	}); err != nil {
		return err
	}
	if _, err := streams.Out.Write(buf.Bytes()); err != nil {
		return err
	}
	fmt.Fprintf(streams.ErrOut, "Apply the manifest in member cluster %s (e.g. kubectl --context %s apply -f FILE); `kubectl get mc %s` then shows it Available.\n",
		name, name, name)
	return nil
}
