// Package controllers runs portico-hub's controllers, under leader election, so
// that several replicas can share one external etcd.
package controllers

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/portico-dev/portico/apis/cachetrim"
	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	"github.com/portico-dev/portico/apis/generated/informers/externalversions"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/accesspoint"
	"github.com/portico-dev/portico/federation/certificate"
	"github.com/portico-dev/portico/federation/certsecret"
	dnscontroller "github.com/portico-dev/portico/federation/dns"
	"github.com/portico-dev/portico/federation/kubefed"
	"github.com/portico-dev/portico/federation/lblease"
	"github.com/portico-dev/portico/federation/loadbalancergroup"
	"github.com/portico-dev/portico/federation/membercluster"
	"github.com/portico-dev/portico/federation/vipallocator"
	"github.com/portico-dev/portico/federation/vippool"
	"github.com/portico-dev/portico/federation/virtualip"
)

// All names every controller.
var All = []string{"membercluster", "accesspoint", "vippool", "virtualip", "loadbalancergroup", "dns", "certificate"}

// Options select and tune the controllers.
type Options struct {
	Controllers             []string
	ClusterLeaseGrace       time.Duration
	ClusterHeartbeatCopy    time.Duration
	LeaderElect             bool
	LeaderElectionNamespace string
	Workers                 int
	QPS                     float32
	// KubefedNamespace holds the KubeFedClusters that access points following
	// kubefed objects are placed by.
	KubefedNamespace string
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{Controllers: []string{"*"}, ClusterLeaseGrace: 40 * time.Second, ClusterHeartbeatCopy: 5 * time.Minute, LeaderElect: true,
		LeaderElectionNamespace: "portico-system", Workers: 16, QPS: 100, KubefedNamespace: kubefed.DefaultNamespace}
}

// AddFlags adds the controller flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&o.Controllers, "controllers", o.Controllers,
		fmt.Sprintf("Controllers to run: '*' for all, a name to enable one, '-name' to disable one. All: %s. An empty list runs none (API only).", strings.Join(All, ", ")))
	fs.DurationVar(&o.ClusterLeaseGrace, "cluster-lease-grace", o.ClusterLeaseGrace,
		"How long a member-agent's Lease may go unrenewed before its MemberCluster's Available condition becomes Unknown.")
	fs.DurationVar(&o.ClusterHeartbeatCopy, "cluster-heartbeat-copy-period", o.ClusterHeartbeatCopy,
		"How often a member-agent's Lease renewal is copied into its MemberCluster's status.agent.lastHeartbeatTime when nothing else in the status changes (any other status write copies it too). Available follows the Lease itself, whatever this is; a shorter period costs one MemberCluster write per cluster per period.")
	fs.BoolVar(&o.LeaderElect, "leader-elect", o.LeaderElect,
		"Run the controllers only in the replica holding the Lease portico-hub in --leader-election-namespace of the hub cluster.")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", o.LeaderElectionNamespace,
		"Hub cluster namespace of the leader election Lease.")
	fs.IntVar(&o.Workers, "controller-workers", o.Workers,
		"Concurrent reconciles per controller. A reconcile mostly waits on its writes (an access point's first sync writes its revision, VIP, ClusterAccessPoints and status one after another), so this bounds how fast a burst of changes converges.")
	fs.StringVar(&o.KubefedNamespace, "kubefed-namespace", o.KubefedNamespace,
		"Hub cluster namespace of kubefed's KubeFedClusters (kubefed's system namespace), for access points whose spec.placement.follow names a kubefed federated object.")
	fs.Float32Var(&o.QPS, "controller-qps", o.QPS, "Requests per second the controllers may send to the hub cluster (burst: twice that). Their requests to portico-hub itself are not limited on the client side.")
}

// Validate checks the options.
func (o *Options) Validate() error {
	for _, c := range o.Controllers {
		if name := strings.TrimPrefix(c, "-"); name != "*" && !slices.Contains(All, name) {
			return fmt.Errorf("--controllers: unknown controller %q (known: %s)", c, strings.Join(All, ", "))
		}
	}
	if o.ClusterLeaseGrace <= 0 {
		return fmt.Errorf("--cluster-lease-grace must be positive")
	}
	if o.ClusterHeartbeatCopy <= 0 {
		return fmt.Errorf("--cluster-heartbeat-copy-period must be positive")
	}
	return nil
}

// Enabled tells whether a controller runs.
func (o *Options) Enabled(name string) bool {
	if slices.Contains(o.Controllers, "-"+name) {
		return false
	}
	return slices.Contains(o.Controllers, name) || slices.Contains(o.Controllers, "*")
}

// Run runs the enabled controllers until ctx is done. portico reaches portico-hub
// itself; hub reaches the hub cluster.
func (o *Options) Run(ctx context.Context, portico, hub *rest.Config) error {
	if !slices.ContainsFunc(All, o.Enabled) {
		return nil
	}
	// client-go's default of 5 QPS cannot keep up with hundreds of clusters.
	// portico is this process's own API server (its loopback): a client-side
	// limit there only queues the controllers' requests behind each other (an
	// access point placed on 3 clusters costs ~15 requests until Applied: a
	// burst of 300 took 44.6 s at 100 QPS with portico-hub at 0.44 cores, and
	// 12.7 s without the limit); the server bounds its own load with its
	// in-flight limits. The hub cluster is shared, so it keeps --controller-qps.
	hub, portico = rest.CopyConfig(hub), rest.CopyConfig(portico)
	hub.QPS, hub.Burst = o.QPS, 2*int(o.QPS)
	portico.QPS, portico.Burst, portico.RateLimiter = -1, 0, nil
	// Nor does gzip pay on the loopback: portico-hub compressed every watch
	// event its own controllers then decompressed (~2.7% of its CPU in a
	// burst).
	portico.DisableCompression = true
	kube, err := kubernetes.NewForConfig(hub)
	if err != nil {
		return err
	}
	pc, err := versioned.NewForConfig(portico)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(hub)
	if err != nil {
		return err
	}
	if !o.LeaderElect {
		o.runControllers(ctx, pc, kube, dyn)
		return nil
	}
	return o.runLeading(ctx, kube, func(ctx context.Context) { o.runControllers(ctx, pc, kube, dyn) })
}

func (o *Options) runLeading(ctx context.Context, kube kubernetes.Interface, run func(context.Context)) error {
	host, _ := os.Hostname()
	id := host + "_" + string(uuid.NewUUID())
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: o.LeaderElectionNamespace, Name: "portico-hub"},
		Client:     kube.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}
	// A replica that loses the lease (its controllers stop with the lease's
	// context) campaigns again, so some replica always leads.
	for ctx.Err() == nil {
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock: lock, LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
			ReleaseOnCancel: true, Name: "portico-hub",
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: run,
				OnStoppedLeading: func() { klog.InfoS("Stopped leading", "identity", id) },
				OnNewLeader:      func(leader string) { klog.InfoS("Leader", "identity", leader) },
			},
		})
		if err != nil {
			return err
		}
		le.Run(ctx)
	}
	return nil
}

func (o *Options) accessPoints(ctx context.Context, pc versioned.Interface, kube kubernetes.Interface, dyn dynamic.Interface,
	f externalversions.SharedInformerFactory, secrets coreinformers.SecretInformer) (func(), error) {
	traffic, cluster := f.Traffic().V1alpha1(), f.Cluster().V1alpha1()
	alloc, err := vipallocator.New(pc, traffic.VIPPools().Lister(), traffic.VirtualIPs().Informer().GetIndexer(), cluster.LoadBalancerGroups().Lister())
	if err != nil {
		return nil, err
	}
	// The kubefed objects access points follow, watched once followed.
	var c *accesspoint.Controller
	follower := kubefed.NewWatcher(dyn, kube.Discovery(), o.KubefedNamespace, func(gk schema.GroupKind, ns, name string) {
		c.EnqueueFollowers(gk, ns, name)
	})
	follower.Start(ctx)
	c = accesspoint.NewController(pc, accesspoint.Informers{
		AccessPoints: traffic.FederatedAccessPoints(), Revisions: traffic.AccessPointRevisions(), ClusterAccessPoints: traffic.ClusterAccessPoints(),
		VirtualIPs: traffic.VirtualIPs(), MemberClusters: cluster.MemberClusters(), Nodes: cluster.LoadBalancerNodes(),
		NameServices: traffic.NameServices(), Secrets: secrets, Follower: follower,
		// The allocator reads pools and groups from these caches.
		Pools: traffic.VIPPools(), Groups: cluster.LoadBalancerGroups(),
	}, alloc, eventRecorder(ctx, kube))
	return func() { c.Run(ctx, o.Workers) }, nil
}

// eventRecorder records Events in the hub cluster, in the namespace of the object.
func eventRecorder(ctx context.Context, kube kubernetes.Interface) record.EventRecorder {
	scheme := runtime.NewScheme()
	utilruntime.Must(trafficv1alpha1.AddToScheme(scheme))
	utilruntime.Must(clusterv1alpha1.AddToScheme(scheme))
	b := record.NewBroadcasterWithCorrelatorOptions(record.CorrelatorOptions{})
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kube.CoreV1().Events("")})
	go func() {
		<-ctx.Done()
		b.Shutdown()
	}()
	return b.NewRecorder(scheme, corev1.EventSource{Component: "portico-hub"})
}

func (o *Options) runControllers(ctx context.Context, pc versioned.Interface, kube kubernetes.Interface, dyn dynamic.Interface) {
	// The caches keep no managedFields: no controller reads them, and with
	// server-side apply they are a large part of every object (the hub's
	// memory with 5000 access points and their ClusterAccessPoints).
	porticoInformers := externalversions.NewSharedInformerFactoryWithOptions(pc, 10*time.Minute,
		externalversions.WithTransform(cachetrim.StripManagedFields))
	leaseInformers := informers.NewSharedInformerFactoryWithOptions(kube, 10*time.Minute,
		informers.WithTransform(cachetrim.StripManagedFields),
		informers.WithTweakListOptions(func(opts *metav1.ListOptions) {
			opts.FieldSelector = fields.OneTermEqualSelector("metadata.name", clusterv1alpha1.AgentLease).String()
		}))
	var runs []func()
	if o.Enabled("membercluster") {
		c := membercluster.NewController(pc, kube, porticoInformers.Cluster().V1alpha1().MemberClusters(),
			leaseInformers.Coordination().V1().Leases(), o.ClusterLeaseGrace, o.ClusterHeartbeatCopy)
		runs = append(runs, func() { c.Run(ctx, o.Workers) })
	}

	if o.Enabled("vippool") {
		c := vippool.NewController(pc, porticoInformers.Traffic().V1alpha1().VIPPools(), porticoInformers.Traffic().V1alpha1().VirtualIPs(),
			eventRecorder(ctx, kube))
		runs = append(runs, func() { c.Run(ctx, o.Workers) })
	}
	// portico-system: DNS TSIG keys, CAs, ACME account keys and issued
	// certificates (Secrets).
	systemInformers := informers.NewSharedInformerFactoryWithOptions(kube, 10*time.Minute,
		informers.WithTransform(cachetrim.StripManagedFields), informers.WithNamespace(certsecret.SecretNamespace))
	secrets := systemInformers.Core().V1().Secrets()
	if o.Enabled("accesspoint") {
		run, err := o.accessPoints(ctx, pc, kube, dyn, porticoInformers, secrets)
		if err != nil {
			// New access points already get this controller's finalizer
			// (the API server adds it when --controllers enables it):
			// without the controller, nothing would remove it.
			klog.ErrorS(err, "Cannot start the accesspoint controller")
			klog.FlushAndExit(klog.ExitFlushTimeout, 1)
		}
		runs = append(runs, run)
	}
	if o.Enabled("certificate") {
		traffic := porticoInformers.Traffic().V1alpha1()
		c := certificate.NewController(pc, kube, certificate.Informers{
			AccessPoints: traffic.FederatedAccessPoints(), Issuers: traffic.CertificateIssuers(),
			Providers: traffic.DNSProviders(), Secrets: secrets, ClusterAccessPoints: traffic.ClusterAccessPoints(),
		}, eventRecorder(ctx, kube))
		runs = append(runs, func() { c.Run(ctx, o.Workers) })
	}
	if o.Enabled("dns") {
		traffic := porticoInformers.Traffic().V1alpha1()
		c := dnscontroller.NewController(pc, dnscontroller.Informers{
			NameServices: traffic.NameServices(), Providers: traffic.DNSProviders(),
			AccessPoints: traffic.FederatedAccessPoints(), Secrets: secrets, Issuers: traffic.CertificateIssuers(),
		}, eventRecorder(ctx, kube))
		runs = append(runs, func() { c.Run(ctx, o.Workers) })
	}
	// portico-edge: the lb-agents' Leases.
	edgeInformers := informers.NewSharedInformerFactoryWithOptions(kube, 10*time.Minute,
		informers.WithTransform(cachetrim.StripManagedFields), informers.WithNamespace(lblease.Namespace))
	if o.Enabled("virtualip") {
		c := virtualip.NewController(pc, porticoInformers.Traffic().V1alpha1().VirtualIPs(), porticoInformers.Cluster().V1alpha1().LoadBalancerNodes(),
			edgeInformers.Coordination().V1().Leases())
		runs = append(runs, func() { c.Run(ctx, o.Workers) })
	}
	if o.Enabled("loadbalancergroup") {
		cluster := porticoInformers.Cluster().V1alpha1()
		c := loadbalancergroup.NewController(pc, cluster.LoadBalancerGroups(), cluster.LoadBalancerNodes(),
			edgeInformers.Coordination().V1().Leases(), porticoInformers.Traffic().V1alpha1().VirtualIPs(), eventRecorder(ctx, kube))
		runs = append(runs, func() { c.Run(ctx, o.Workers) })
	}
	porticoInformers.Start(ctx.Done())
	leaseInformers.Start(ctx.Done())
	systemInformers.Start(ctx.Done())
	edgeInformers.Start(ctx.Done())
	klog.InfoS("Starting controllers", "controllers", o.Controllers)
	for _, run := range runs {
		go run()
	}
	<-ctx.Done()
}
