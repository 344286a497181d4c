package localup

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"

	clusterac "github.com/portico-dev/portico/apis/generated/applyconfiguration/cluster/v1alpha1"
	trafficac "github.com/portico-dev/portico/apis/generated/applyconfiguration/traffic/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	"github.com/portico-dev/portico/cmd/kubectl-portico/plugin"
	"github.com/portico-dev/portico/test/localfed"
)

// Names of what Up creates in the hub cluster.
const (
	// SystemNamespace holds the Secrets of the DNS provider and the issuer.
	SystemNamespace = "portico-system"
	// PoolName is the VIPPool (TEST-NET-2, never routed outside the router
	// namespace), served by the LoadBalancerGroups of every zone.
	PoolName = "local"
	PoolCIDR = "198.51.100.0/24"
	// IssuerName is the CertificateIssuer signing with the local CA, whose
	// certificate and key are in the Secret CASecretName.
	IssuerName   = "local-ca"
	CASecretName = "local-ca"
	fieldManager = "portico-local-up"
)

var apply = metav1.ApplyOptions{FieldManager: fieldManager, Force: true}

// hubClients are the hub cluster's clients (admin).
type hubClients struct {
	kube    kubernetes.Interface
	portico versioned.Interface
}

func newHubClients(hub *localfed.HubCluster) (*hubClients, error) {
	kube, err := kubernetes.NewForConfig(hub.RestConfig)
	if err != nil {
		return nil, err
	}
	pc, err := versioned.NewForConfig(hub.RestConfig)
	if err != nil {
		return nil, err
	}
	return &hubClients{kube: kube, portico: pc}, nil
}

// applyDNSProvider stores the TSIG secret and applies the DNSProvider local.
func (c *hubClients) applyDNSProvider(ctx context.Context, d *DNS) error {
	secret := corev1ac.Secret(DNSSecretName, SystemNamespace).
		WithType(corev1.SecretTypeOpaque).
		WithData(map[string][]byte{"secret": []byte(d.Secret)})
	if _, err := c.kube.CoreV1().Secrets(SystemNamespace).Apply(ctx, secret, apply); err != nil {
		return fmt.Errorf("secret %s/%s: %w", SystemNamespace, DNSSecretName, err)
	}
	p := trafficac.DNSProvider(DNSProviderName).WithSpec(trafficac.DNSProviderSpec().WithRFC2136(
		trafficac.RFC2136Provider().WithServer(d.Addr).WithZone(DNSZone).WithTSIGKeyName(DNSKeyName).
			WithTSIGAlgorithm(DNSAlgorithm).WithTSIGSecretRef(trafficac.SecretKeyReference().WithName(DNSSecretName).WithKey("secret"))))
	if _, err := c.portico.TrafficV1alpha1().DNSProviders().Apply(ctx, p, apply); err != nil {
		return fmt.Errorf("DNSProvider %s: %w", DNSProviderName, err)
	}
	return nil
}

// applyIssuer stores the CA (cert and key, kubernetes.io/tls) and applies the
// CertificateIssuer local-ca.
func (c *hubClients) applyIssuer(ctx context.Context, ca *localfed.CA) error {
	secret := corev1ac.Secret(CASecretName, SystemNamespace).
		WithType(corev1.SecretTypeTLS).
		WithData(map[string][]byte{corev1.TLSCertKey: ca.CertPEM, corev1.TLSPrivateKeyKey: ca.KeyPEM})
	if _, err := c.kube.CoreV1().Secrets(SystemNamespace).Apply(ctx, secret, apply); err != nil {
		return fmt.Errorf("secret %s/%s: %w", SystemNamespace, CASecretName, err)
	}
	ci := trafficac.CertificateIssuer(IssuerName).WithSpec(trafficac.CertificateIssuerSpec().WithCA(
		trafficac.CAIssuer().WithSecretRef(trafficac.LocalReference().WithName(CASecretName))))
	if _, err := c.portico.TrafficV1alpha1().CertificateIssuers().Apply(ctx, ci, apply); err != nil {
		return fmt.Errorf("CertificateIssuer %s: %w", IssuerName, err)
	}
	return nil
}

// HostGrantName is the HostGrant make up creates: GrantedHosts to the
// quickstart's namespace (portico-hub runs with --host-grants=enforce).
const (
	HostGrantName = "local"
	GrantedHosts  = "*.portico.test"
)

// applyHostGrant lets the quickstart's namespace serve the local zone's names.
func (c *hubClients) applyHostGrant(ctx context.Context) error {
	g := trafficac.HostGrant(HostGrantName).WithSpec(trafficac.HostGrantSpec().WithHosts(GrantedHosts).WithNamespaces(QuickstartNamespace))
	if _, err := c.portico.TrafficV1alpha1().HostGrants().Apply(ctx, g, apply); err != nil {
		return fmt.Errorf("HostGrant %s: %w", HostGrantName, err)
	}
	return nil
}

// applyEdge applies the VIPPool local and one LoadBalancerGroup per zone,
// peering with the zone's router.
func (c *hubClients) applyEdge(ctx context.Context) error {
	var zones []string
	for _, z := range Zones {
		zones = append(zones, z.Name)
		g := clusterac.LoadBalancerGroup(z.Name).WithSpec(clusterac.LoadBalancerGroupSpec().WithZone(z.Name).WithBGP(
			clusterac.BGPConfig().WithLocalASN(EdgeASN).WithPeers(clusterac.BGPPeer().WithAddress(z.RouterAddress()).WithASN(RouterASN))))
		if _, err := c.portico.ClusterV1alpha1().LoadBalancerGroups().Apply(ctx, g, apply); err != nil {
			return fmt.Errorf("LoadBalancerGroup %s: %w", z.Name, err)
		}
	}
	pool := trafficac.VIPPool(PoolName).WithSpec(trafficac.VIPPoolSpec().WithCIDRs(PoolCIDR).WithZones(zones...).WithAvoidBuggyIPs(true))
	if _, err := c.portico.TrafficV1alpha1().VIPPools().Apply(ctx, pool, apply); err != nil {
		return fmt.Errorf("VIPPool %s: %w", PoolName, err)
	}
	return nil
}

// installLBAgentRBAC applies manifests/lb-agent/hub: the namespace
// portico-edge and the read-only role every edge node shares.
func installLBAgentRBAC(ctx context.Context, root string, hub *localfed.HubCluster) error {
	cmd := exec.CommandContext(ctx, hub.KubectlPath(), "--kubeconfig", hub.KubeconfigPath, "apply", "--server-side",
		"--field-manager="+fieldManager, "-k", filepath.Join(root, "manifests", "lb-agent", "hub"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("applying manifests/lb-agent/hub: %v\n%s", err, out)
	}
	return nil
}

// lbAgentKubeconfig gives the edge node of zone z its own hub identity, as
// `kubectl portico join-edge` does (the ServiceAccount portico-edge/lb-agent-<node>,
// which may update only its LoadBalancerNode and its Lease), and returns its
// kubeconfig: the hub cluster at the zone's router address (the relay forwards
// it), verified as "localhost", a name its serving certificate holds.
func (c *hubClients) lbAgentKubeconfig(ctx context.Context, hub *localfed.HubCluster, z Zone) ([]byte, error) {
	res, err := plugin.JoinEdge(ctx, c.portico, c.kube, plugin.JoinEdgeOptions{
		Node: z.Node, Group: z.Name, Address: z.NodeAddress(),
		Hub: plugin.HubEndpoint{Server: fmt.Sprintf("https://%s:%d", z.RouterAddress(), hub.Port),
			CAData: hub.RestConfig.CAData, TLSServerName: "localhost"},
	})
	if err != nil {
		return nil, fmt.Errorf("join-edge %s: %w", z.Node, err)
	}
	return res.Kubeconfig, nil
}
