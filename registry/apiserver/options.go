package apiserver

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apiserver/pkg/endpoints/openapi"
	genericapiserver "k8s.io/apiserver/pkg/server"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/apiserver/pkg/util/compatibility"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	netutils "k8s.io/utils/net"

	generatedopenapi "github.com/portico-dev/portico/apis/generated/openapi"
	"github.com/portico-dev/portico/registry/traffic/hostgrant"
)

// etcdPathPrefix is where Portico's objects live in etcd.
const etcdPathPrefix = "/registry/portico.dev"

// Options are portico-hub's command-line options.
type Options struct {
	RecommendedOptions *genericoptions.RecommendedOptions
	// DataDir holds the embedded etcd's data when no --etcd-servers are given.
	DataDir string
	// ShutdownWatchGrace is how long open watches may drain on shutdown.
	ShutdownWatchGrace time.Duration
	// HostGrants is enforce or off (--host-grants).
	HostGrants string
	// AuthorizationNamespaceFirst asks about a namespace before one of its
	// named objects (--authorization-namespace-first; see NamespaceFirst).
	AuthorizationNamespaceFirst bool
	// RunControllers, when set, runs beside the API server once it serves: portico
	// reaches the server itself, hub the hub cluster.
	RunControllers func(ctx context.Context, portico, hub *rest.Config) error
	// AccessPointFinalizer: RunControllers runs the access point controller
	// (see Config.AccessPointFinalizer).
	AccessPointFinalizer bool

	embedded *EmbeddedEtcd
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	o := &Options{
		RecommendedOptions: genericoptions.NewRecommendedOptions(etcdPathPrefix, Codecs.LegacyCodec(StorageVersions...)),
		DataDir:            "/var/lib/portico",
		ShutdownWatchGrace: 5 * time.Second,
		HostGrants:         hostgrant.Enforce,

		AuthorizationNamespaceFirst: true,
	}
	o.RecommendedOptions.Etcd.StorageConfig.EncodeVersioner = StorageVersions
	o.RecommendedOptions.SecureServing.BindPort = 8443
	// Servers of the hub API group are not required to be present at start: they are ours.
	o.RecommendedOptions.Etcd.StorageConfig.Transport.ServerList = nil
	return o
}

// AddFlags adds every flag with its help text.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	o.RecommendedOptions.AddFlags(fs)
	fs.StringVar(&o.DataDir, "data-dir", o.DataDir,
		"Directory of the embedded etcd's data, used when --etcd-servers is empty. Objects survive restarts as long as this directory does. "+
			"Run several replicas against an external etcd cluster (--etcd-servers) instead.")
	fs.DurationVar(&o.ShutdownWatchGrace, "shutdown-watch-termination-grace-period", o.ShutdownWatchGrace,
		"On SIGTERM, how long open watches may drain before the server closes them and exits.")
	fs.StringVar(&o.HostGrants, "host-grants", o.HostGrants,
		"enforce: an access point's spec.hosts and a NameService's spec.fqdn are accepted only when a HostGrant gives the host to the object's namespace "+
			"(kubectl get hostgrants). off: any namespace may claim any host (a single-tenant hub).")
	fs.BoolVar(&o.AuthorizationNamespaceFirst, "authorization-namespace-first", o.AuthorizationNamespaceFirst,
		"Before asking the hub cluster whether a user may get, update, patch or delete one named object in a namespace, ask whether it may do so "+
			"to every object of that resource in the namespace, and allow when it may. One cached answer then serves every object of the namespace "+
			"(a member-agent writes the status of each of its ClusterAccessPoints) instead of one SubjectAccessReview per object. "+
			"RBAC answers both questions alike; set false when the hub cluster runs an authorizer that denies single objects it allows namespace-wide.")
}

// Complete fills in what depends on other flags.
func (o *Options) Complete() error {
	return nil
}

// Validate checks the options.
func (o *Options) Validate() error {
	etcd := o.RecommendedOptions.Etcd
	servers := etcd.StorageConfig.Transport.ServerList
	if len(servers) == 0 && o.DataDir == "" {
		return fmt.Errorf("either --etcd-servers or --data-dir is required")
	}
	// Validate the rest with a placeholder server list when etcd is embedded.
	if len(servers) == 0 {
		etcd.StorageConfig.Transport.ServerList = []string{"http://127.0.0.1:0"}
		defer func() { etcd.StorageConfig.Transport.ServerList = nil }()
	}
	var errs []error
	if o.HostGrants != hostgrant.Enforce && o.HostGrants != hostgrant.Off {
		errs = append(errs, fmt.Errorf("--host-grants must be %s or %s, not %q", hostgrant.Enforce, hostgrant.Off, o.HostGrants))
	}
	errs = append(errs, o.RecommendedOptions.Validate()...)
	if len(errs) > 0 {
		return fmt.Errorf("invalid options: %v", errs)
	}
	return nil
}

// startStorage starts the embedded etcd when no external one is configured.
func (o *Options) startStorage() error {
	transport := &o.RecommendedOptions.Etcd.StorageConfig.Transport
	if len(transport.ServerList) > 0 {
		klog.InfoS("Using external etcd", "servers", transport.ServerList)
		return nil
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return err
	}
	e, err := StartEmbeddedEtcd(o.DataDir)
	if err != nil {
		return err
	}
	klog.InfoS("Started embedded etcd", "dataDir", o.DataDir, "url", e.ClientURL)
	o.embedded = e
	transport.ServerList = []string{e.ClientURL}
	return nil
}

// Config builds the server configuration. It starts the embedded etcd if needed.
func (o *Options) Config() (*Config, error) {
	if err := o.RecommendedOptions.SecureServing.MaybeDefaultWithSelfSignedCerts("localhost", nil, []net.IP{netutils.ParseIPSloppy("127.0.0.1")}); err != nil {
		return nil, fmt.Errorf("creating self-signed certificates: %w", err)
	}
	if err := o.startStorage(); err != nil {
		return nil, err
	}
	etcd := o.RecommendedOptions.Etcd.StorageConfig
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	identity, err := EnsureHubIdentity(ctx, etcd.Transport, etcd.Prefix)
	cancel()
	if err != nil {
		o.stopStorage()
		return nil, err
	}
	klog.InfoS("Hub identity", "identity", identity)
	serverConfig := genericapiserver.NewRecommendedConfig(Codecs)
	namer := openapi.NewDefinitionNamer(Scheme)
	serverConfig.OpenAPIConfig = genericapiserver.DefaultOpenAPIConfig(OpenAPIDefinitions(generatedopenapi.GetOpenAPIDefinitions), namer)
	serverConfig.OpenAPIConfig.Info.Title = "Portico"
	serverConfig.OpenAPIConfig.Info.Version = "v1alpha1"
	serverConfig.OpenAPIV3Config = genericapiserver.DefaultOpenAPIV3Config(OpenAPIDefinitions(generatedopenapi.GetOpenAPIDefinitions), namer)
	serverConfig.OpenAPIV3Config.Info.Title = "Portico"
	serverConfig.OpenAPIV3Config.Info.Version = "v1alpha1"
	serverConfig.FeatureGate = utilfeature.DefaultFeatureGate
	serverConfig.EffectiveVersion = compatibility.DefaultBuildEffectiveVersion()
	serverConfig.ShutdownWatchTerminationGracePeriod = o.ShutdownWatchGrace
	if err := o.RecommendedOptions.ApplyTo(serverConfig); err != nil {
		o.stopStorage()
		return nil, err
	}
	if o.AuthorizationNamespaceFirst && serverConfig.Authorization.Authorizer != nil {
		serverConfig.Authorization.Authorizer = NamespaceFirst(serverConfig.Authorization.Authorizer)
	}
	return &Config{GenericConfig: serverConfig, HostGrants: o.HostGrants, HubIdentity: identity,
		AccessPointFinalizer: o.RunControllers != nil && o.AccessPointFinalizer}, nil
}

func (o *Options) stopStorage() {
	if o.embedded != nil {
		o.embedded.Close()
		o.embedded = nil
	}
}

// Run serves until ctx is done, then shuts down gracefully: the API server drains
// its requests before the embedded etcd stops.
func (o *Options) Run(ctx context.Context) error {
	config, err := o.Config()
	if err != nil {
		return err
	}
	defer o.stopStorage()
	server, err := config.Complete().New()
	if err != nil {
		return err
	}
	if o.RunControllers != nil {
		hub := config.GenericConfig.ClientConfig
		server.GenericAPIServer.AddPostStartHookOrDie("portico-controllers", func(hookCtx genericapiserver.PostStartHookContext) error {
			go func() {
				if err := o.RunControllers(hookCtx, hookCtx.LoopbackClientConfig, hub); err != nil {
					klog.ErrorS(err, "Controllers stopped")
				}
			}()
			return nil
		})
	}
	return server.GenericAPIServer.PrepareRun().RunWithContext(ctx)
}
