// Package agent wires the lb-agent together: hub clients (whose token it
// renews before it expires), the IPVS dataplane, the BGP speaker, the health
// checker and the controller, plus the /healthz and /metrics endpoints.
// cmd/lb-agent is a thin command around it.
package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	"github.com/portico-dev/portico/apis/hubtoken"
	"github.com/portico-dev/portico/lb-agent/bgp"
	"github.com/portico-dev/portico/lb-agent/controller"
	"github.com/portico-dev/portico/lb-agent/dataplane"
	"github.com/portico-dev/portico/lb-agent/dataplane/ipvs"
	"github.com/portico-dev/portico/lb-agent/healthcheck"
	"github.com/portico-dev/portico/lb-agent/metrics"
	"github.com/portico-dev/portico/lb-agent/model"
	"github.com/portico-dev/portico/lb-agent/statefile"
)

// DefaultStateDir is the default --state-dir.
const DefaultStateDir = "/var/lib/portico/lb-agent"

// Options of the lb-agent.
type Options struct {
	HubKubeconfig       string
	HubKubeconfigSecret string
	Kubeconfig          string
	// HubTokenRenewFraction of the hub token's lifetime passes before it is
	// renewed (a hidden flag, for tests).
	HubTokenRenewFraction float64
	NodeName              string
	Group                 string
	Address               string
	Interface             string
	DrainPeriod           time.Duration
	ResyncPeriod          time.Duration
	LeaseDuration         time.Duration
	SystemNamespace       string
	LeaseNamespace        string
	ListenAddress         string
	IPVSWorkers           int
	IPVSVerifyInterval    time.Duration
	// StateDir holds the node's state file <NodeName>.json; empty: none.
	StateDir string
	// WithdrawHoldFraction and WithdrawHoldMin configure the withdrawal
	// guard (controller.Options).
	WithdrawHoldFraction float64
	WithdrawHoldMin      int

	// NewDataplane builds the dataplane and names its type (default: IPVS). Tests
	// replace it; it is not a flag.
	NewDataplane func(*Options) (dataplane.Dataplane, string, func(), error)

	address netip.Addr
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	host, _ := os.Hostname()
	return &Options{
		NodeName: host, Interface: ipvs.DefaultInterface, DrainPeriod: 10 * time.Second,
		ResyncPeriod: 30 * time.Second, LeaseDuration: 40 * time.Second, SystemNamespace: "portico-system",
		LeaseNamespace: "portico-edge",
		ListenAddress:  ":9474", IPVSWorkers: ipvs.DefaultWorkers, IPVSVerifyInterval: ipvs.DefaultVerifyInterval,
		NewDataplane: newIPVS, HubTokenRenewFraction: hubtoken.DefaultRenewFraction, StateDir: DefaultStateDir,
		WithdrawHoldFraction: controller.DefaultWithdrawHoldFraction, WithdrawHoldMin: controller.DefaultWithdrawHoldMin,
	}
}

// AddFlags adds the options' flags to fs.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.HubKubeconfig, "hub-kubeconfig", o.HubKubeconfig,
		"Kubeconfig of the hub cluster (required). The agent reads VirtualIPs and its LoadBalancerGroup, and writes its LoadBalancerNode and Lease. "+
			"The agent renews its token before it expires and rewrites this file with each new one, unless --hub-kubeconfig-secret is set.")
	fs.StringVar(&o.HubKubeconfigSecret, "hub-kubeconfig-secret", o.HubKubeconfigSecret,
		"Secret NAMESPACE/NAME, in the cluster the agent runs in, whose 'kubeconfig' key is the hub kubeconfig: the agent writes each renewed "+
			"hub token there (the DaemonSet mounts that Secret read-only). Empty: the agent rewrites the --hub-kubeconfig file instead.")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig,
		"Kubeconfig of the cluster holding --hub-kubeconfig-secret. Empty: the in-cluster ServiceAccount of the agent's pod.")
	fs.Float64Var(&o.HubTokenRenewFraction, "hub-token-renew-fraction", o.HubTokenRenewFraction,
		"Fraction of the hub token's lifetime after which the agent requests a new one (for tests).")
	_ = fs.MarkHidden("hub-token-renew-fraction")
	fs.StringVar(&o.NodeName, "node-name", o.NodeName,
		"Name of this node's LoadBalancerNode (created if missing). Defaults to the host name.")
	fs.StringVar(&o.Group, "group", o.Group,
		"LoadBalancerGroup of this node (required): it serves the VirtualIPs whose spec.groups names it and peers with the group's routers.")
	fs.StringVar(&o.Address, "address", o.Address,
		"IPv4 address of this node (required): BGP router ID and next hop of every announced VIP, and source of the IPIP tunnels.")
	fs.StringVar(&o.Interface, "interface", o.Interface,
		"Dummy interface the VIPs are bound on (created if missing). Its /32 addresses are the record of the VIPs this agent owns: "+
			"IPVS services on other addresses are never touched.")
	fs.DurationVar(&o.DrainPeriod, "drain-period", o.DrainPeriod,
		"On SIGTERM the agent withdraws every route, then keeps serving for this long while routers converge, then exits. "+
			"IPVS is left programmed, so a restarted agent takes over without breaking connections.")
	fs.DurationVar(&o.ResyncPeriod, "resync-period", o.ResyncPeriod,
		"How often the whole desired state is applied again (IPVS, BGP announcements, the node's status). "+
			"IPVS itself is read back from the kernel only every --ipvs-verify-interval.")
	fs.DurationVar(&o.LeaseDuration, "lease-duration", o.LeaseDuration,
		"Duration of the node's Lease (lb-agent-<node-name> in --lease-namespace of the hub cluster), renewed every quarter of it.")
	fs.StringVar(&o.SystemNamespace, "system-namespace", o.SystemNamespace,
		"Hub cluster namespace of the BGP password Secrets.")
	fs.StringVar(&o.LeaseNamespace, "lease-namespace", o.LeaseNamespace,
		"Hub cluster namespace of the node's Lease lb-agent-<node-name> (kubectl portico join-edge creates it and lets the node renew only it).")
	fs.StringVar(&o.ListenAddress, "listen-address", o.ListenAddress, "Address serving /healthz and /metrics.")
	fs.IntVar(&o.IPVSWorkers, "ipvs-workers", o.IPVSWorkers,
		"IPVS kernel handles (netlink sockets) used in parallel to read and program IPVS; the writes go in batches over them.")
	fs.DurationVar(&o.IPVSVerifyInterval, "ipvs-verify-interval", o.IPVSVerifyInterval,
		"How often the agent reads every IPVS service, destination and bound VIP back from the kernel and repairs what differs: "+
			"drift made behind the agent's back (ipvsadm, another tool) is repaired within this interval, at the agent's next synchronization after it "+
			"(see --resync-period). In between, the agent applies only what its desired state changed, from its own record of what it programmed, "+
			"without reading the kernel. 0 reads everything back on every synchronization.")
	fs.StringVar(&o.StateDir, "state-dir", o.StateDir,
		"Directory (created with mode 0700) of the node's state file <node-name>.json: the last desired state received from the hub "+
			"(the LoadBalancerGroup, its VirtualIPs and the BGP passwords of its peers; mode 0600), replaced atomically whenever it changes. "+
			"An agent starting while the hub is unreachable serves it, health checks still deciding what is announced, "+
			"until the hub answers and its state replaces it. Empty: no state file (nothing is served before the hub answers).")
	fs.Float64Var(&o.WithdrawHoldFraction, "withdraw-hold-fraction", o.WithdrawHoldFraction,
		"When the hub stops listing more than this fraction of the VIPs the node serves (and at least --withdraw-hold-min of them) "+
			"in one go, as after a wiped or wrongly restored hub, the agent holds the withdrawal: it keeps serving and announcing "+
			"those VIPs from their last state and reports the LoadBalancerNode condition WithdrawHeld until the withdrawal is confirmed "+
			"('kubectl portico confirm-withdrawal NODE') or the VIPs come back. It also holds when the LoadBalancerGroup disappears "+
			"while the node serves VIPs, and any withdrawal when the hub's identity changed. 1 never holds by fraction.")
	fs.IntVar(&o.WithdrawHoldMin, "withdraw-hold-min", o.WithdrawHoldMin,
		"Fewest VIPs whose withdrawal at once can be held (see --withdraw-hold-fraction).")
}

// Validate checks the options.
func (o *Options) Validate() error {
	var errs []error
	for flag, v := range map[string]string{"--hub-kubeconfig": o.HubKubeconfig, "--group": o.Group, "--node-name": o.NodeName, "--address": o.Address} {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is required", flag))
		}
	}
	if o.Address != "" {
		a, err := netip.ParseAddr(o.Address)
		if err != nil || !a.Is4() {
			errs = append(errs, fmt.Errorf("--address %q is not an IPv4 address", o.Address))
		}
		o.address = a
	}
	if o.HubKubeconfigSecret != "" {
		if ns, name, ok := strings.Cut(o.HubKubeconfigSecret, "/"); !ok || ns == "" || name == "" || strings.Contains(name, "/") {
			errs = append(errs, fmt.Errorf("--hub-kubeconfig-secret %q must be NAMESPACE/NAME", o.HubKubeconfigSecret))
		}
	} else if o.Kubeconfig != "" {
		errs = append(errs, errors.New("--kubeconfig is only used with --hub-kubeconfig-secret"))
	}
	if o.StateDir != "" && strings.ContainsAny(o.NodeName, `/\`) {
		errs = append(errs, fmt.Errorf("--node-name %q names the state file in --state-dir: it must not contain a slash", o.NodeName))
	}
	if o.HubTokenRenewFraction <= 0 || o.HubTokenRenewFraction >= 1 {
		errs = append(errs, fmt.Errorf("--hub-token-renew-fraction %v must be between 0 and 1", o.HubTokenRenewFraction))
	}
	if o.WithdrawHoldFraction <= 0 || o.WithdrawHoldFraction > 1 {
		errs = append(errs, fmt.Errorf("--withdraw-hold-fraction %v must be more than 0 and at most 1", o.WithdrawHoldFraction))
	}
	if o.WithdrawHoldMin < 1 {
		errs = append(errs, fmt.Errorf("--withdraw-hold-min %d must be at least 1", o.WithdrawHoldMin))
	}
	if o.DrainPeriod < 0 || o.ResyncPeriod <= 0 || o.LeaseDuration < 4*time.Second {
		errs = append(errs, errors.New("--drain-period must not be negative, --resync-period must be positive, --lease-duration at least 4s"))
	}
	return errors.Join(errs...)
}

// persistToken returns how a renewed hub token is kept for the agent's next
// start: in the Secret of --hub-kubeconfig-secret, in the cluster of
// --kubeconfig or the pod's own, when set; otherwise in the --hub-kubeconfig
// file.
func (o *Options) persistToken() (func(context.Context, string) error, error) {
	if o.HubKubeconfigSecret == "" {
		return hubtoken.PersistFile(o.HubKubeconfig), nil
	}
	var local *rest.Config
	var err error
	if o.Kubeconfig != "" {
		local, err = clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
	} else {
		local, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("--hub-kubeconfig-secret: the client of the agent's own cluster (--kubeconfig, or in-cluster): %w", err)
	}
	local.UserAgent = "lb-agent/" + o.NodeName
	kube, err := kubernetes.NewForConfig(local)
	if err != nil {
		return nil, err
	}
	ns, name, _ := strings.Cut(o.HubKubeconfigSecret, "/")
	secrets := kube.CoreV1().Secrets(ns)
	return func(ctx context.Context, token string) error {
		return hubtoken.PersistSecret(ctx, secrets, name, token)
	}, nil
}

// stateFile is the node's state file, empty without --state-dir.
func (o *Options) stateFile() string {
	if o.StateDir == "" {
		return ""
	}
	return statefile.Path(o.StateDir, o.NodeName)
}

func newIPVS(o *Options) (dataplane.Dataplane, string, func(), error) {
	d, err := ipvs.New(ipvs.Options{Interface: o.Interface, Workers: o.IPVSWorkers, VerifyInterval: o.IPVSVerifyInterval})
	if err != nil {
		return nil, "", nil, err
	}
	return d, "ipvs", d.Close, nil
}

// Run runs the agent until ctx is done, then withdraws, drains and returns.
func (o *Options) Run(ctx context.Context) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", o.HubKubeconfig)
	if err != nil {
		return fmt.Errorf("reading --hub-kubeconfig: %w", err)
	}
	cfg.UserAgent = "lb-agent/" + o.NodeName
	persist, err := o.persistToken()
	if err != nil {
		return err
	}
	// Every hub client below uses the renewer's current token, which it
	// writes back to --hub-kubeconfig or --hub-kubeconfig-secret.
	renewer, err := hubtoken.ForConfig(cfg, hubtoken.Options{RenewFraction: o.HubTokenRenewFraction, Persist: persist})
	switch {
	case errors.Is(err, hubtoken.ErrNoToken):
		klog.InfoS("The hub kubeconfig has no token of its own: the agent does not renew its hub credential")
	case err != nil:
		klog.ErrorS(err, "The agent does not renew its hub credential: it works until that credential expires")
	}
	portico, err := versioned.NewForConfig(cfg)
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	dp, typ, closeDP, err := o.NewDataplane(o)
	if err != nil {
		return fmt.Errorf("dataplane: %w", err)
	}
	defer closeDP()
	var c *controller.Controller
	health := healthcheck.New(nil, func(p model.Probe, v model.Verdict) { c.HealthChanged(p, v) })
	defer health.Stop()
	speaker := bgp.New(func() { c.Enqueue() })
	c = controller.New(controller.Options{
		Node: o.NodeName, Group: o.Group, Address: o.address, DataplaneType: typ, ResyncPeriod: o.ResyncPeriod,
		SystemNamespace: o.SystemNamespace, LeaseNamespace: o.LeaseNamespace, LeaseDuration: o.LeaseDuration,
		StateFile: o.stateFile(), WithdrawHoldFraction: o.WithdrawHoldFraction, WithdrawHoldMin: o.WithdrawHoldMin,
	}, portico, kube, dp, speaker, health)
	srv, err := serve(o.ListenAddress, c)
	if err != nil {
		return err
	}
	if renewer != nil {
		go renewer.Run(ctx, kube)
	}
	klog.InfoS("lb-agent started", "node", o.NodeName, "group", o.Group, "address", o.address, "dataplane", typ, "listen", srv.Addr,
		"stateFile", o.stateFile())
	c.Run(ctx, o.DrainPeriod)
	stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	speaker.Stop(stopCtx)
	_ = srv.Shutdown(stopCtx)
	klog.InfoS("lb-agent stopped")
	return nil
}

// serve starts /healthz and /metrics.
func serve(addr string, c *controller.Controller) (*http.Server, error) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics.Handler())
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !c.Healthy() {
			http.Error(w, "synchronization stalled", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--listen-address: %w", err)
	}
	srv := &http.Server{Addr: l.Addr().String(), Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			klog.ErrorS(err, "Serving /healthz and /metrics")
		}
	}()
	return srv, nil
}
