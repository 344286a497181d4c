package localfed

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/portico-dev/portico/manifests"
)

// MemberAgentOptions configure a member-agent process.
type MemberAgentOptions struct {
	// Dir holds the hub kubeconfig and the log.
	Dir string
	// Zone and Region of the MemberCluster that `kubectl portico join` creates.
	Zone, Region string
	// Detach lets the agent outlive the caller (make up).
	Detach bool
	// HeartbeatInterval of the Lease (default 10s, the agent's default).
	HeartbeatInterval time.Duration
	// MetricsPort serves /healthz and /metrics on 127.0.0.1 (0: a free port).
	MetricsPort int
	// HubServer, when set, replaces the hub cluster's URL in the agent's hub
	// kubeconfig (e.g. a Front that a test can cut).
	HubServer string
}

// MemberAgent is a member-agent joined to a hub and running against a member
// cluster.
type MemberAgent struct {
	Options       MemberAgentOptions
	Name          string
	HubKubeconfig string
	// Kubeconfig reaches the member cluster as the ServiceAccount
	// portico-system/member-agent of the member-agent manifest.
	Kubeconfig string
	// GatewayNamespace is the --gateway-namespace of the manifest's Deployment.
	GatewayNamespace string
	Process          *Process
	hub              *HubCluster
	member           *MemberCluster
}

// JoinCluster runs `kubectl portico join NAME --zone Z --region R -o kubeconfig`
// against the hub cluster and writes the agent's hub kubeconfig to path.
func JoinCluster(ctx context.Context, hub *HubCluster, name, zone, region, path string) error {
	plugin, err := BuildBinary("kubectl-portico")
	if err != nil {
		return err
	}
	args := []string{"join", name, "--zone", zone, "-o", "kubeconfig", "--kubeconfig", hub.KubeconfigPath}
	if region != "" {
		args = append(args, "--region", region)
	}
	cmd := exec.CommandContext(ctx, plugin, args...)
	var stderr []byte
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = ee.Stderr
	}
	if err != nil {
		return fmt.Errorf("kubectl portico join %s: %v\n%s", name, err, stderr)
	}
	return WriteFile(path, out, 0o600)
}

// StartMemberAgent joins member to the hub with the plugin and starts a
// member-agent for it; it returns once the agent serves /healthz.
func StartMemberAgent(ctx context.Context, hub *HubCluster, member *MemberCluster, opts MemberAgentOptions) (*MemberAgent, error) {
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, err
	}
	a := &MemberAgent{Options: opts, Name: member.Name, hub: hub, member: member, HubKubeconfig: filepath.Join(opts.Dir, "hub.kubeconfig"),
		Kubeconfig: filepath.Join(opts.Dir, "member.kubeconfig")}
	// Joining is idempotent and gives a fresh token for the hub as it is now.
	manifest, err := JoinManifest(ctx, hub, member.Name, opts.Zone, opts.Region)
	if err != nil {
		return nil, err
	}
	if err := a.install(ctx, manifest); err != nil {
		return nil, err
	}
	return a, a.start(ctx)
}

// JoinManifest runs `kubectl portico join NAME --zone Z --region R` against the
// hub cluster and returns the member-agent manifest it prints.
func JoinManifest(ctx context.Context, hub *HubCluster, name, zone, region string) ([]byte, error) {
	plugin, err := BuildBinary("kubectl-portico")
	if err != nil {
		return nil, err
	}
	args := []string{"join", name, "--zone", zone, "--kubeconfig", hub.KubeconfigPath}
	if region != "" {
		args = append(args, "--region", region)
	}
	out, err := exec.CommandContext(ctx, plugin, args...).Output()
	if ee, ok := err.(*exec.ExitError); ok {
		return nil, fmt.Errorf("kubectl portico join %s: %v\n%s", name, err, ee.Stderr)
	}
	return out, err
}

// install applies the member-agent manifest in the member cluster, as its admin
// would, except the Deployment, which a local process replaces: the agent then
// runs as the manifest's ServiceAccount with exactly its RBAC. It writes the
// hub kubeconfig of the manifest's Secret to a.HubKubeconfig, a kubeconfig with
// a token of the ServiceAccount portico-system/member-agent to a.Kubeconfig, and
// keeps the Deployment's --gateway-namespace.
func (a *MemberAgent) install(ctx context.Context, manifest []byte) error {
	var apply [][]byte
	for _, doc := range strings.Split(string(manifest), "\n---\n") {
		var obj struct {
			Kind     string            `json:"kind"`
			Metadata metav1.ObjectMeta `json:"metadata"`
			Data     map[string][]byte `json:"data"`
			Spec     struct {
				Template struct {
					Spec corev1.PodSpec `json:"spec"`
				} `json:"template"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			return fmt.Errorf("member-agent manifest of %s: %w", a.Name, err)
		}
		switch {
		case obj.Kind == "Deployment":
			for _, arg := range obj.Spec.Template.Spec.Containers[0].Args {
				if ns, ok := strings.CutPrefix(arg, "--gateway-namespace="); ok {
					a.GatewayNamespace = ns
				}
			}
			continue
		case obj.Kind == "Secret" && obj.Metadata.Name == manifests.MemberAgentHubSecret:
			if err := a.writeHubKubeconfig(obj.Data[manifests.MemberAgentHubKubeconfigKey]); err != nil {
				return err
			}
		}
		apply = append(apply, []byte(doc))
	}
	kc, err := kubernetes.NewForConfig(a.member.RestConfig)
	if err != nil {
		return err
	}
	// The gateway namespace is the member cluster admin's (the gateway runs there).
	if a.GatewayNamespace != "" {
		_, err := kc.CoreV1().Namespaces().Apply(ctx, corev1ac.Namespace(a.GatewayNamespace), metav1.ApplyOptions{FieldManager: memberFieldManager})
		if err != nil {
			return err
		}
	}
	cmd := exec.CommandContext(ctx, a.member.KubectlPath(), "--kubeconfig", a.member.KubeconfigPath,
		"apply", "--server-side", "--field-manager=portico-local", "-f", "-")
	cmd.Stdin = bytes.NewReader(bytes.Join(apply, []byte("\n---\n")))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("applying the member-agent manifest in %s: %v\n%s", a.Name, err, out)
	}
	tr, err := kc.CoreV1().ServiceAccounts(manifests.MemberAgentNamespace).CreateToken(ctx, manifests.MemberAgentName, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(365 * 24 * 3600))},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("token for %s/%s in %s: %w", manifests.MemberAgentNamespace, manifests.MemberAgentName, a.Name, err)
	}
	return writeTokenKubeconfig(a.Kubeconfig, a.member.URL, a.member.RestConfig.CAData, manifests.MemberAgentName, tr.Status.Token)
}

// writeHubKubeconfig writes the hub kubeconfig of the manifest, pointed at
// Options.HubServer when set.
func (a *MemberAgent) writeHubKubeconfig(data []byte) error {
	if a.Options.HubServer != "" {
		cfg, err := clientcmd.Load(data)
		if err != nil {
			return fmt.Errorf("the hub kubeconfig of %s: %w", a.Name, err)
		}
		for _, c := range cfg.Clusters {
			c.Server = a.Options.HubServer
		}
		if data, err = clientcmd.Write(*cfg); err != nil {
			return err
		}
	}
	return WriteFile(a.HubKubeconfig, data, 0o600)
}

func (a *MemberAgent) start(ctx context.Context) error {
	bin, err := BuildBinary("member-agent")
	if err != nil {
		return err
	}
	if a.Options.MetricsPort == 0 {
		if a.Options.MetricsPort, err = FreePort(); err != nil {
			return err
		}
	}
	args := []string{
		"--hub-kubeconfig=" + a.HubKubeconfig,
		"--kubeconfig=" + a.Kubeconfig,
		"--cluster-name=" + a.Name,
		"--gateway-namespace=" + a.GatewayNamespace,
		"--metrics-bind-address=127.0.0.1:" + strconv.Itoa(a.Options.MetricsPort),
		// Go's profiles beside the metrics, on 127.0.0.1: the benchmarks
		// save them to explain their figures.
		"--profiling",
	}
	if a.Options.HeartbeatInterval > 0 {
		args = append(args, "--heartbeat-interval="+a.Options.HeartbeatInterval.String())
	}
	a.Process, err = StartProcess(ProcessOptions{Name: "member-agent-" + a.Name, Path: bin, Args: args,
		Detach: a.Options.Detach, LogPath: filepath.Join(a.Options.Dir, "member-agent.log")})
	if err != nil {
		return err
	}
	return a.waitHealthy(ctx, time.Minute)
}

func (a *MemberAgent) waitHealthy(ctx context.Context, timeout time.Duration) error {
	healthy := func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.MetricsURL()+"/healthz", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/healthz: %s", resp.Status)
		}
		return nil
	}
	if err := WaitUntil(ctx, timeout, healthy, a.Process); err != nil {
		return fmt.Errorf("member-agent %s not healthy: %w\n%s", a.Name, err, a.Process.LogTail(30))
	}
	return nil
}

// MetricsURL is where the agent serves /healthz and /metrics.
func (a *MemberAgent) MetricsURL() string {
	return "http://127.0.0.1:" + strconv.Itoa(a.Options.MetricsPort)
}

// Stop stops the agent.
func (a *MemberAgent) Stop() error { return a.Process.Stop() }

// Restart starts a stopped agent again with the same credentials.
func (a *MemberAgent) Restart(ctx context.Context) error {
	if err := a.Stop(); err != nil {
		return err
	}
	return a.start(ctx)
}
