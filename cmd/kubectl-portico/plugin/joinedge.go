package plugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/spf13/cobra"
	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	"github.com/portico-dev/portico/federation/lblease"
	"github.com/portico-dev/portico/manifests"
)

// Names of the edge nodes' identities in the hub cluster.
const (
	// EdgeNamespace holds each edge node's ServiceAccount and Lease, and
	// nothing else (no controller's Lease, no Secret).
	EdgeNamespace = lblease.Namespace
	// EdgeClusterRole is what every lb-agent may read (VirtualIPs,
	// LoadBalancerGroups), bound to all ServiceAccounts of EdgeNamespace by
	// the ClusterRoleBinding of the same name (manifests/lb-agent/hub).
	EdgeClusterRole = "portico:lb-agent"
	// edgeGroup is the group of every ServiceAccount of EdgeNamespace.
	edgeGroup     = "system:serviceaccounts:" + EdgeNamespace
	edgeLabelName = "lb-agent"
)

// EdgeServiceAccount is the ServiceAccount of node's lb-agent in EdgeNamespace;
// it has the name of the node's Lease.
func EdgeServiceAccount(node string) string { return lblease.Name(node) }

// EdgeNodeRole names the ClusterRole (its own LoadBalancerNode) and the Role
// in EdgeNamespace (its own Lease) of node, and their bindings.
func EdgeNodeRole(node string) string { return EdgeClusterRole + ":" + node }

// JoinEdgeOptions are the inputs of JoinEdge.
type JoinEdgeOptions struct {
	// Node is the LoadBalancerNode's name (the lb-agent's --node-name). Required.
	Node string
	// Group is the node's LoadBalancerGroup. Required.
	Group string
	// Address is the node's IPv4 address (spec.address). Required.
	Address string
	// TokenDuration is the requested lifetime of the node's hub token
	// (default DefaultTokenDuration; at least MinTokenDuration).
	TokenDuration time.Duration
	// Hub is written into the node's kubeconfig.
	Hub HubEndpoint
	// Log receives progress messages (may be nil).
	Log io.Writer
}

// JoinEdgeResult is what JoinEdge produced.
type JoinEdgeResult struct {
	// Node is the LoadBalancerNode as created or found.
	Node *clusterv1alpha1.LoadBalancerNode
	// Kubeconfig authenticates as the node's ServiceAccount.
	Kubeconfig []byte
	// TokenExpiration is when the token in Kubeconfig expires.
	TokenExpiration time.Time
}

// JoinEdge gives an edge node its own identity in the hub cluster: the
// ServiceAccount lb-agent-<node> in portico-edge, which may read VirtualIPs
// and LoadBalancerGroups, and update only the node's LoadBalancerNode (and its
// status) and the node's Lease. Both are created here, so the node never needs
// create permission (which RBAC cannot limit by name). It returns a kubeconfig
// with a token of that ServiceAccount. Repeating it is harmless: existing
// objects are kept, the node's roles are set again, a new token is issued.
func JoinEdge(ctx context.Context, portico versioned.Interface, kube kubernetes.Interface, o JoinEdgeOptions) (*JoinEdgeResult, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.TokenDuration == 0 {
		o.TokenDuration = DefaultTokenDuration
	}
	logf := func(format string, args ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, format+"\n", args...)
		}
	}
	res := &JoinEdgeResult{}
	node, err := ensureLoadBalancerNode(ctx, portico, o)
	if err != nil {
		return nil, err
	}
	res.Node = node
	logf("LoadBalancerNode %s ready (group %s, address %s).", node.Name, node.Spec.Group, node.Spec.Address)
	if _, err := portico.ClusterV1alpha1().LoadBalancerGroups().Get(ctx, o.Group, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		logf("Warning: LoadBalancerGroup %s does not exist yet: the node serves nothing until it does.", o.Group)
	}
	if err := ensureEdgeShared(ctx, kube); err != nil {
		return nil, err
	}
	sa := EdgeServiceAccount(o.Node)
	if err := ensureEdgeIdentity(ctx, kube, o.Node); err != nil {
		return nil, err
	}
	logf("ServiceAccount %s/%s may update only LoadBalancerNode %s and Lease %s/%s, and renew its own token.", EdgeNamespace, sa, o.Node, EdgeNamespace, sa)

	seconds := int64(o.TokenDuration / time.Second)
	tr, err := kube.CoreV1().ServiceAccounts(EdgeNamespace).CreateToken(ctx, sa,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds}}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("requesting a token for ServiceAccount %s/%s (needs create on serviceaccounts/token in %s): %w",
			EdgeNamespace, sa, EdgeNamespace, err)
	}
	if tr.Status.Token == "" {
		return nil, fmt.Errorf("the hub cluster returned an empty token for ServiceAccount %s/%s", EdgeNamespace, sa)
	}
	res.TokenExpiration = tr.Status.ExpirationTimestamp.Time
	logf("Issued a token for ServiceAccount %s/%s, valid until %s.", EdgeNamespace, sa, res.TokenExpiration.UTC().Format(time.RFC3339))
	if res.Kubeconfig, err = EdgeKubeconfig(o.Hub, o.Node, tr.Status.Token); err != nil {
		return nil, err
	}
	return res, nil
}

func (o *JoinEdgeOptions) validate() error {
	if o.Node == "" {
		return errors.New("the edge node's NODE name is required")
	}
	// The ServiceAccount and the Lease are named lb-agent-<node>.
	if errs := validation.IsDNS1123Subdomain(EdgeServiceAccount(o.Node)); len(errs) > 0 {
		return fmt.Errorf("invalid edge node name %q: %s", o.Node, strings.Join(errs, "; "))
	}
	if o.Group == "" {
		return errors.New("--group is required")
	}
	if errs := validation.IsDNS1123Subdomain(o.Group); len(errs) > 0 {
		return fmt.Errorf("invalid --group %q: %s", o.Group, strings.Join(errs, "; "))
	}
	if o.Address == "" {
		return errors.New("--address is required (the node's IPv4 address: BGP next hop and IPIP tunnel source)")
	}
	if a, err := netip.ParseAddr(o.Address); err != nil || !a.Is4() {
		return fmt.Errorf("invalid --address %q: must be an IPv4 address", o.Address)
	}
	if o.TokenDuration != 0 && o.TokenDuration < MinTokenDuration {
		return fmt.Errorf("--token-duration must be at least %v", MinTokenDuration)
	}
	if o.Hub.Server == "" {
		return errors.New("the hub server URL is empty (set --hub-server)")
	}
	return nil
}

func edgeLabels() map[string]string {
	return map[string]string{"app.kubernetes.io/name": edgeLabelName, "app.kubernetes.io/part-of": "portico"}
}

// ensureLoadBalancerNode creates the node's LoadBalancerNode, or returns the
// existing one when it is in the same group.
func ensureLoadBalancerNode(ctx context.Context, portico versioned.Interface, o JoinEdgeOptions) (*clusterv1alpha1.LoadBalancerNode, error) {
	client := portico.ClusterV1alpha1().LoadBalancerNodes()
	node, err := client.Create(ctx, &clusterv1alpha1.LoadBalancerNode{
		ObjectMeta: metav1.ObjectMeta{Name: o.Node, Labels: edgeLabels()},
		Spec:       clusterv1alpha1.LoadBalancerNodeSpec{Group: o.Group, Address: o.Address},
	}, metav1.CreateOptions{})
	switch {
	case err == nil:
		return node, nil
	case apierrors.IsAlreadyExists(err):
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("creating LoadBalancerNode %s: %w (is portico-hub installed and registered with this hub cluster? "+
			"`kubectl api-resources --api-group=cluster.portico.dev` lists its resources)", o.Node, err)
	default:
		return nil, fmt.Errorf("creating LoadBalancerNode %s: %w", o.Node, err)
	}
	if node, err = client.Get(ctx, o.Node, metav1.GetOptions{}); err != nil {
		return nil, fmt.Errorf("LoadBalancerNode %s exists but cannot be read: %w", o.Node, err)
	}
	if node.Spec.Group != o.Group {
		return nil, fmt.Errorf("LoadBalancerNode %s already exists in group %q, not %q: choose another name, or delete it first (kubectl delete lbn %s)",
			o.Node, node.Spec.Group, o.Group, o.Node)
	}
	return node, nil
}

// ensureEdgeShared creates, when missing, what all edge nodes share (the
// objects of manifests/lb-agent/hub): the namespace, and the read-only
// ClusterRole bound to every ServiceAccount of the namespace.
func ensureEdgeShared(ctx context.Context, kube kubernetes.Interface) error {
	ns, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: EdgeNamespace, Labels: map[string]string{"app.kubernetes.io/part-of": "portico"}},
	}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		ns, err = kube.CoreV1().Namespaces().Get(ctx, EdgeNamespace, metav1.GetOptions{})
	}
	if err != nil {
		return fmt.Errorf("namespace %s: %w", EdgeNamespace, err)
	}
	if ns.DeletionTimestamp != nil {
		return fmt.Errorf("namespace %s is being deleted: wait until it is gone (kubectl wait --for=delete namespace/%s), then join again",
			EdgeNamespace, EdgeNamespace)
	}
	meta := metav1.ObjectMeta{Name: EdgeClusterRole, Labels: edgeLabels()}
	if _, err := kube.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: meta, Rules: EdgeReadRules()},
		metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("ClusterRole %s: %w", EdgeClusterRole, err)
	}
	if _, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: meta,
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: EdgeClusterRole},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: edgeGroup}},
	}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("ClusterRoleBinding %s: %w", EdgeClusterRole, err)
	}
	return nil
}

// EdgeReadRules are the rules of EdgeClusterRole (as in
// manifests/lb-agent/hub/rbac.yaml).
func EdgeReadRules() []rbacv1.PolicyRule {
	read := []string{"get", "list", "watch"}
	return []rbacv1.PolicyRule{
		{APIGroups: []string{"traffic.portico.dev"}, Resources: []string{"virtualips"}, Verbs: read},
		{APIGroups: []string{clusterv1alpha1.GroupName}, Resources: []string{"loadbalancergroups"}, Verbs: read},
	}
}

// EdgeNodeRules are the rules of node's ClusterRole: its own LoadBalancerNode.
func EdgeNodeRules(node string) []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{{
		APIGroups: []string{clusterv1alpha1.GroupName}, Resources: []string{"loadbalancernodes", "loadbalancernodes/status"},
		ResourceNames: []string{node}, Verbs: []string{"get", "update", "patch"},
	}}
}

// EdgeLeaseRules are the rules of node's Role in EdgeNamespace: its own Lease,
// and tokens of its own ServiceAccount (the lb-agent renews its hub token).
func EdgeLeaseRules(node string) []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{{
		APIGroups: []string{coordinationv1.GroupName}, Resources: []string{"leases"},
		ResourceNames: []string{lblease.Name(node)}, Verbs: []string{"get", "update", "patch"},
	}, {
		APIGroups: []string{corev1.GroupName}, Resources: []string{"serviceaccounts/token"},
		ResourceNames: []string{EdgeServiceAccount(node)}, Verbs: []string{"create"},
	}}
}

// ensureEdgeIdentity creates node's ServiceAccount and Lease when missing, and
// creates or sets again its ClusterRole, Role and their bindings.
func ensureEdgeIdentity(ctx context.Context, kube kubernetes.Interface, node string) error {
	sa := EdgeServiceAccount(node)
	if _, err := kube.CoreV1().ServiceAccounts(EdgeNamespace).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: sa, Namespace: EdgeNamespace, Labels: edgeLabels()},
	}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("ServiceAccount %s/%s: %w", EdgeNamespace, sa, err)
	}
	// Not renewed yet: the hub counts the node once its agent renews it.
	if _, err := kube.CoordinationV1().Leases(EdgeNamespace).Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: lblease.Name(node), Namespace: EdgeNamespace, Labels: edgeLabels()},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To(node)},
	}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("Lease %s/%s: %w", EdgeNamespace, lblease.Name(node), err)
	}
	name := EdgeNodeRole(node)
	subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: EdgeNamespace}}
	meta := metav1.ObjectMeta{Name: name, Labels: edgeLabels()}
	nsMeta := metav1.ObjectMeta{Name: name, Namespace: EdgeNamespace, Labels: edgeLabels()}
	steps := []struct {
		what string
		do   func() error
	}{
		{"ClusterRole " + name, func() error {
			return createOrUpdate(ctx, kube.RbacV1().ClusterRoles(), &rbacv1.ClusterRole{ObjectMeta: meta, Rules: EdgeNodeRules(node)},
				func(cur, want *rbacv1.ClusterRole) { cur.Rules = want.Rules })
		}},
		{"ClusterRoleBinding " + name, func() error {
			return createOrUpdate(ctx, kube.RbacV1().ClusterRoleBindings(), &rbacv1.ClusterRoleBinding{ObjectMeta: meta, Subjects: subjects,
				RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}},
				func(cur, want *rbacv1.ClusterRoleBinding) { cur.Subjects = want.Subjects })
		}},
		{"Role " + EdgeNamespace + "/" + name, func() error {
			return createOrUpdate(ctx, kube.RbacV1().Roles(EdgeNamespace), &rbacv1.Role{ObjectMeta: nsMeta, Rules: EdgeLeaseRules(node)},
				func(cur, want *rbacv1.Role) { cur.Rules = want.Rules })
		}},
		{"RoleBinding " + EdgeNamespace + "/" + name, func() error {
			return createOrUpdate(ctx, kube.RbacV1().RoleBindings(EdgeNamespace), &rbacv1.RoleBinding{ObjectMeta: nsMeta, Subjects: subjects,
				RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name}},
				func(cur, want *rbacv1.RoleBinding) { cur.Subjects = want.Subjects })
		}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			return fmt.Errorf("%s: %w", s.what, err)
		}
	}
	return nil
}

// objectClient is the part of a typed client createOrUpdate uses.
type objectClient[T metav1.Object] interface {
	Create(context.Context, T, metav1.CreateOptions) (T, error)
	Get(context.Context, string, metav1.GetOptions) (T, error)
	Update(context.Context, T, metav1.UpdateOptions) (T, error)
}

// createOrUpdate creates want, or sets the fields set copies on the existing
// object. A binding's roleRef cannot change: set does not copy it.
func createOrUpdate[T metav1.Object](ctx context.Context, c objectClient[T], want T, set func(cur, want T)) error {
	_, err := c.Create(ctx, want, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	cur, err := c.Get(ctx, want.GetName(), metav1.GetOptions{})
	if err != nil {
		return err
	}
	set(cur, want)
	_, err = c.Update(ctx, cur, metav1.UpdateOptions{})
	return err
}

// EdgeKubeconfig returns a kubeconfig for the lb-agent of node: the hub's
// address and CA, the token, and EdgeNamespace as the context's namespace.
func EdgeKubeconfig(hub HubEndpoint, node, token string) ([]byte, error) {
	if hub.Server == "" || token == "" {
		return nil, errors.New("edge kubeconfig: server and token are required")
	}
	const clusterName = "portico-hub"
	user := EdgeNamespace + "-" + EdgeServiceAccount(node)
	cfg := clientcmdapi.Config{
		Clusters: map[string]*clientcmdapi.Cluster{clusterName: {
			Server:                   hub.Server,
			CertificateAuthorityData: hub.CAData,
			TLSServerName:            hub.TLSServerName,
			InsecureSkipTLSVerify:    hub.InsecureSkipTLSVerify,
		}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{user: {Token: token}},
		Contexts:       map[string]*clientcmdapi.Context{user: {Cluster: clusterName, AuthInfo: user, Namespace: EdgeNamespace}},
		CurrentContext: user,
	}
	return clientcmd.Write(cfg)
}

type joinEdgeFlags struct {
	group, address, image, hubServer, output string
	tokenDuration                            time.Duration
}

func newJoinEdgeCommand(streams IOStreams, kf *kubeFlags) *cobra.Command {
	f := &joinEdgeFlags{}
	cmd := &cobra.Command{
		Use:   "join-edge NODE --group GROUP --address IP",
		Short: "Give an edge node its own hub identity and print its lb-agent manifest",
		Long: `Give an edge L4 node (an lb-agent) its own identity in the Portico hub.

join-edge talks to the hub cluster of the current kubeconfig. It
  1. creates the LoadBalancerNode NODE with spec.group and spec.address (an
     existing one in the same group is reused; one in another group is an error);
  2. creates, when missing, the namespace portico-edge and the ClusterRole and
     ClusterRoleBinding portico:lb-agent, which let every ServiceAccount of
     portico-edge read VirtualIPs and LoadBalancerGroups (the objects of
     manifests/lb-agent/hub);
  3. creates the ServiceAccount lb-agent-NODE and the Lease lb-agent-NODE in
     portico-edge, and the ClusterRole, ClusterRoleBinding, Role and RoleBinding
     portico:lb-agent:NODE that let it get, update and patch only the
     LoadBalancerNode NODE (and its status) and only that Lease, and request
     tokens only for its own ServiceAccount. The node creates no object: RBAC
     cannot limit creation by name, so join-edge creates both for it;
  4. requests a token for the ServiceAccount (TokenRequest API, lifetime
     --token-duration, default 24h) and builds a hub kubeconfig with it. The
     lb-agent renews the token itself at about 80% of its lifetime (with the
     same lifetime) and stores the new one (the DaemonSet: in its Secret; a
     process: in its --hub-kubeconfig file);
  5. prints, to stdout, the lb-agent's manifest for the edge nodes' cluster:
     namespace portico-system, the Secret lb-agent-hub-NODE with the hub
     kubeconfig, the ServiceAccount lb-agent-NODE that may rewrite only that
     Secret, and the DaemonSet lb-agent-NODE that runs the agent on the
     node NODE only; or with -o kubeconfig only the hub kubeconfig (to run the
     agent as a process on the node: lb-agent --hub-kubeconfig FILE
     --node-name NODE --group GROUP --address IP).

Messages go to stderr. The output holds a credential: treat it as a secret.
Every run issues a new token; earlier ones stay valid until they expire or the
ServiceAccount is deleted. An lb-agent that was stopped past its token's
expiry needs a new one: run join-edge again.

BGP passwords (Secrets in the hub's portico-system) are not granted: grant get
on the named Secret to the ServiceAccount portico-edge/lb-agent-NODE if the
group's peers use one.

Permissions needed in the hub cluster: create and get loadbalancernodes; get
loadbalancergroups; create and get namespaces, clusterroles,
clusterrolebindings; create, get and update serviceaccounts, leases, roles and
rolebindings in portico-edge and create serviceaccounts/token there; and,
as RBAC lets nobody grant more than they hold, the permissions it grants (a
cluster admin has all of them).`,
		Example: `  # Node edge-a-1 of group zone-a, installed in the edge nodes' cluster:
  kubectl portico join-edge edge-a-1 --group zone-a --address 192.0.2.11 > edge-a-1.yaml
  kubectl --context edge apply -f edge-a-1.yaml
  kubectl get lbn edge-a-1          # its status fills once the agent runs

  # The edge nodes reach the hub under another address:
  kubectl portico join-edge edge-a-2 --group zone-a --address 192.0.2.12 \
      --hub-server https://hub.example.internal:6443 > edge-a-2.yaml

  # Only the hub kubeconfig, to run the agent as a process on the node:
  kubectl portico join-edge edge-a-1 --group zone-a --address 192.0.2.11 -o kubeconfig > /etc/portico/hub.kubeconfig`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("join-edge takes exactly one argument, the edge node's NODE name (got %d); see --help", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runJoinEdge(cmd.Context(), streams, kf, f, args[0])
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.group, "group", "", "LoadBalancerGroup of the node (spec.group, the lb-agent's --group). Required.")
	fs.StringVar(&f.address, "address", "", "IPv4 address of the node (spec.address, the lb-agent's --address). Required.")
	fs.StringVar(&f.image, "image", manifests.DefaultLBAgentImage, "Image of the lb-agent in the manifest.")
	fs.StringVar(&f.hubServer, "hub-server", "",
		"URL of the hub cluster as the edge node reaches it (default: the server of the current kubeconfig).")
	fs.DurationVar(&f.tokenDuration, "token-duration", DefaultTokenDuration,
		"Requested lifetime of the node's hub token (at least 10m; the hub cluster may cap it). The lb-agent renews it before it expires.")
	fs.StringVarP(&f.output, "output", "o", OutputManifest,
		"What to print: "+OutputManifest+" (the lb-agent manifest) or "+OutputKubeconfig+" (only the node's hub kubeconfig).")
	_ = cmd.MarkFlagRequired("group")
	_ = cmd.MarkFlagRequired("address")
	return cmd
}

func runJoinEdge(ctx context.Context, streams IOStreams, kf *kubeFlags, f *joinEdgeFlags, node string) error {
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
	res, err := JoinEdge(ctx, portico, kube, JoinEdgeOptions{
		Node: node, Group: f.group, Address: f.address, TokenDuration: f.tokenDuration, Hub: hub, Log: streams.ErrOut,
	})
	if err != nil {
		return err
	}
	if f.output == OutputKubeconfig {
		_, err = streams.Out.Write(res.Kubeconfig)
		return err
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# lb-agent of the Portico edge node %s (group %s), from kubectl portico join-edge (%s).\n",
		node, f.group, version())
	fmt.Fprintf(&buf, "# Hub: %s. Holds a hub credential valid until %s: keep this file secret.\n",
		hub.Server, res.TokenExpiration.UTC().Format(time.RFC3339))
	if err := manifests.RenderLBAgentNode(&buf, manifests.LBAgentNodeValues{
		Node: node, Group: f.group, Address: f.address, Image: f.image, HubKubeconfig: res.Kubeconfig,
	}); err != nil {
		return err
	}
	if _, err := streams.Out.Write(buf.Bytes()); err != nil {
		return err
	}
	fmt.Fprintf(streams.ErrOut, "Apply the manifest in the edge nodes' cluster (kubectl apply -f FILE); `kubectl get lbn %s` then shows its status.\n", node)
	return nil
}
