// Package agent runs the member-agent: it pulls its cluster's ClusterAccessPoints
// from the hub (its own namespace only), applies them to the member cluster,
// repairs drift, renews its Lease and its hub token, and reports status.
package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/portico-dev/portico/apis/cachetrim"
	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	"github.com/portico-dev/portico/apis/generated/informers/externalversions"
	"github.com/portico-dev/portico/apis/hubtoken"
	"github.com/portico-dev/portico/member-agent/apply"
	"github.com/portico-dev/portico/member-agent/endpoints"
	"github.com/portico-dev/portico/member-agent/heartbeat"
	"github.com/portico-dev/portico/member-agent/reconciler"
)

// Version is the agent's version, set at build time.
var Version = "v0.1.0-dev"

// Options are the member-agent's flags.
type Options struct {
	HubKubeconfig      string
	Kubeconfig         string
	ClusterName        string
	GatewayNamespace   string
	MetricsBindAddress string
	// Profiling serves Go's profiles (net/http/pprof) on MetricsBindAddress.
	Profiling bool
	// GCPercent is the Go runtime's GOGC; the GOGC environment variable,
	// when set, replaces it.
	GCPercent int
	// MemoryLimit is the Go runtime's soft memory limit; 0 sets none. The
	// GOMEMLIMIT environment variable, when set, replaces it.
	MemoryLimit resource.QuantityValue
	// HubQPS and MemberQPS limit the requests per second to the hub and to
	// the member cluster (bursts: twice that).
	HubQPS, MemberQPS float32
	HeartbeatInterval time.Duration
	Resync            time.Duration
	Workers           int

	// HubKubeconfigSecret (NAMESPACE/NAME in the member cluster) receives
	// each renewed hub token; empty rewrites the HubKubeconfig file instead.
	HubKubeconfigSecret string
	// HubTokenRenewFraction of the hub token's lifetime passes before it is
	// renewed (a hidden flag: tests shorten it).
	HubTokenRenewFraction float64
	// RemovalHoldFraction and RemovalHoldMin configure the removal guard
	// (reconciler.Guard).
	RemovalHoldFraction float64
	RemovalHoldMin      int
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{GatewayNamespace: "istio-system", MetricsBindAddress: ":8080", HeartbeatInterval: 10 * time.Second, Resync: 10 * time.Minute, Workers: 16,
		HubQPS: 200, MemberQPS: 500, GCPercent: 50,
		HubTokenRenewFraction: hubtoken.DefaultRenewFraction, RemovalHoldFraction: 0.5, RemovalHoldMin: 3}
}

// AddFlags adds the flags with their help.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.HubKubeconfig, "hub-kubeconfig", o.HubKubeconfig,
		"Kubeconfig of the hub cluster for this cluster's agent (printed by 'kubectl portico join'). Required.")
	fs.StringVar(&o.HubKubeconfigSecret, "hub-kubeconfig-secret", o.HubKubeconfigSecret,
		"Secret NAMESPACE/NAME in the member cluster whose 'kubeconfig' key is the hub kubeconfig: the agent writes each renewed hub token "+
			"there. Empty: the agent rewrites the --hub-kubeconfig file instead.")
	fs.Float64Var(&o.HubTokenRenewFraction, "hub-token-renew-fraction", o.HubTokenRenewFraction,
		"Fraction of the hub token's lifetime after which the agent requests a new one (for tests).")
	_ = fs.MarkHidden("hub-token-renew-fraction")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig,
		"Kubeconfig of the member cluster; empty uses the in-cluster configuration.")
	fs.StringVar(&o.ClusterName, "cluster-name", o.ClusterName, "Name of this cluster's MemberCluster on the hub. Required.")
	fs.StringVar(&o.GatewayNamespace, "gateway-namespace", o.GatewayNamespace,
		"The member cluster's gateway namespace (its MemberCluster's spec.gatewayNamespace): the only namespace where the agent writes Secrets (certificates).")
	fs.StringVar(&o.MetricsBindAddress, "metrics-bind-address", o.MetricsBindAddress, "Address serving /healthz and /metrics.")
	fs.BoolVar(&o.Profiling, "profiling", o.Profiling,
		"Also serve Go's runtime profiles under /debug/pprof/ on --metrics-bind-address (CPU, heap, goroutines: 'go tool pprof http://ADDRESS/debug/pprof/heap').")
	fs.IntVar(&o.GCPercent, "gc-percent", o.GCPercent,
		"How much the Go heap may grow, in percent of what is live after a garbage collection, before the next one (Go's GOGC). "+
			"The agent's memory is mostly its caches, live for good; less than Go's default of 100 keeps it nearer to them "+
			"for a little more CPU while applying. The GOGC environment variable, when set, replaces it.")
	fs.Var(&o.MemoryLimit, "memory-limit",
		"Soft limit of the memory the Go runtime holds (heap, stacks; not the program's code): nearing it, the agent collects garbage more often. "+
			"Set it well above what the agent keeps live (about 4 MiB, and 6 KiB more per ClusterAccessPoint of 5 objects): near or below that, "+
			"garbage collection takes up to half of the agent's CPU. 0: no limit. The GOMEMLIMIT environment variable, when set, replaces it.")
	fs.DurationVar(&o.HeartbeatInterval, "heartbeat-interval", o.HeartbeatInterval, "How often the agent renews its Lease on the hub.")
	fs.DurationVar(&o.Resync, "resync", o.Resync, "How often every ClusterAccessPoint is reconciled even without changes.")
	fs.IntVar(&o.Workers, "workers", o.Workers,
		"Concurrent ClusterAccessPoint reconciles. Each waits on the member cluster for most of its time (one request per object), so this, more than CPU, bounds how fast many access points are applied.")
	fs.Float32Var(&o.HubQPS, "hub-qps", o.HubQPS,
		"Requests per second the agent may send to the hub (burst: twice that); the hub is shared by every cluster's agent.")
	fs.Float32Var(&o.MemberQPS, "member-qps", o.MemberQPS,
		"Requests per second the agent may send to its member cluster (burst: twice that): one per object applied, so this bounds how fast a cluster's objects are (re)applied.")
	fs.Float64Var(&o.RemovalHoldFraction, "removal-hold-fraction", o.RemovalHoldFraction,
		"When the hub stops listing more than this fraction of the access points whose objects the agent applied (and at least "+
			"--removal-hold-min of them), as after a wiped or wrongly restored hub, the agent keeps their objects and reports the "+
			"MemberCluster condition PruneHeld until the removal is confirmed ('kubectl portico confirm-removal CLUSTER') or the "+
			"access points come back. 1 never holds.")
	fs.IntVar(&o.RemovalHoldMin, "removal-hold-min", o.RemovalHoldMin,
		"Fewest access points whose removal at once can be held (see --removal-hold-fraction).")
}

// Validate checks the options.
func (o *Options) Validate() error {
	var errs []error
	if o.HubKubeconfig == "" {
		errs = append(errs, errors.New("--hub-kubeconfig is required"))
	}
	if o.ClusterName == "" {
		errs = append(errs, errors.New("--cluster-name is required"))
	}
	if msgs := validation.IsDNS1123Label(o.GatewayNamespace); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("--gateway-namespace %q: %s", o.GatewayNamespace, strings.Join(msgs, "; ")))
	}
	if o.HeartbeatInterval <= 0 {
		errs = append(errs, errors.New("--heartbeat-interval must be positive"))
	}
	if o.GCPercent <= 0 {
		errs = append(errs, fmt.Errorf("--gc-percent %d must be positive", o.GCPercent))
	}
	if o.MemoryLimit.Sign() < 0 {
		errs = append(errs, fmt.Errorf("--memory-limit %s must not be negative", o.MemoryLimit.String()))
	}
	if o.HubQPS <= 0 || o.MemberQPS <= 0 {
		errs = append(errs, fmt.Errorf("--hub-qps (%v) and --member-qps (%v) must be positive", o.HubQPS, o.MemberQPS))
	}
	if o.HubKubeconfigSecret != "" {
		if ns, name, ok := strings.Cut(o.HubKubeconfigSecret, "/"); !ok || ns == "" || name == "" || strings.Contains(name, "/") {
			errs = append(errs, fmt.Errorf("--hub-kubeconfig-secret %q must be NAMESPACE/NAME", o.HubKubeconfigSecret))
		}
	}
	if o.RemovalHoldFraction <= 0 || o.RemovalHoldFraction > 1 {
		errs = append(errs, fmt.Errorf("--removal-hold-fraction %v must be more than 0 and at most 1", o.RemovalHoldFraction))
	}
	if o.RemovalHoldMin < 1 {
		errs = append(errs, fmt.Errorf("--removal-hold-min %d must be at least 1", o.RemovalHoldMin))
	}
	if o.HubTokenRenewFraction <= 0 || o.HubTokenRenewFraction >= 1 {
		errs = append(errs, fmt.Errorf("--hub-token-renew-fraction %v must be between 0 and 1", o.HubTokenRenewFraction))
	}
	return errors.Join(errs...)
}

// AnnotationKnownHubIdentity on the hub kubeconfig Secret is the hub identity
// the agent last accepted, so that a restarted agent still knows it.
const AnnotationKnownHubIdentity = "cluster.portico.dev/known-hub-identity"

// rememberHubIdentity makes the guard load and store the hub identity it
// accepted on the hub kubeconfig Secret (--hub-kubeconfig-secret), the one
// object of the member cluster the agent may write. Without that Secret the
// agent remembers it only while it runs.
func (o *Options) rememberHubIdentity(ctx context.Context, kube kubernetes.Interface, g *reconciler.Guard) {
	if o.HubKubeconfigSecret == "" {
		return
	}
	ns, name, _ := strings.Cut(o.HubKubeconfigSecret, "/")
	secrets := kube.CoreV1().Secrets(ns)
	if s, err := secrets.Get(ctx, name, metav1.GetOptions{}); err == nil {
		g.Known = s.Annotations[AnnotationKnownHubIdentity]
	} else {
		klog.FromContext(ctx).Error(err, "Reading the known hub identity", "secret", o.HubKubeconfigSecret)
	}
	g.Persist = func(identity string) error {
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, AnnotationKnownHubIdentity, identity)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := secrets.Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
		return err
	}
}

// clientsets the agent uses.
type clientsets struct {
	portico versioned.Interface
	hubKube kubernetes.Interface
	kube    kubernetes.Interface
	dynamic dynamic.Interface
	meta    metadata.Interface
	// token renews the hub token; nil when the hub kubeconfig has none that
	// can be renewed.
	token *hubtoken.Renewer
}

func (o *Options) clients() (*clientsets, error) {
	hub, err := clientcmd.BuildConfigFromFlags("", o.HubKubeconfig)
	if err != nil {
		return nil, fmt.Errorf("hub kubeconfig: %w", err)
	}
	member, err := clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("member cluster config: %w", err)
	}
	for c, qps := range map[*rest.Config]float32{hub: o.HubQPS, member: o.MemberQPS} {
		c.UserAgent = "portico-member-agent/" + Version
		c.QPS, c.Burst = qps, 2*int(qps)
	}
	// The member cluster is the agent's own: gzip on its watch streams would
	// cost CPU on both sides and the agent a 32 KiB window per stream, to
	// save no bandwidth worth it.
	member.DisableCompression = true
	cs := &clientsets{}
	// Every hub client below uses the renewer's current token.
	cs.token, err = hubtoken.ForConfig(hub, hubtoken.Options{RenewFraction: o.HubTokenRenewFraction, Persist: o.persistToken(cs)})
	switch {
	case errors.Is(err, hubtoken.ErrNoToken):
		klog.InfoS("The hub kubeconfig has no token of its own: the agent does not renew its hub credential")
	case err != nil:
		klog.ErrorS(err, "The agent does not renew its hub credential: it works until that credential expires")
	}
	if cs.portico, err = versioned.NewForConfig(hub); err != nil {
		return nil, err
	}
	if cs.hubKube, err = kubernetes.NewForConfig(hub); err != nil {
		return nil, err
	}
	if cs.kube, err = kubernetes.NewForConfig(member); err != nil {
		return nil, err
	}
	if cs.dynamic, err = dynamic.NewForConfig(member); err != nil {
		return nil, err
	}
	cs.meta, err = metadata.NewForConfig(member)
	return cs, err
}

// tuneGC sets the Go runtime's GOGC and soft memory limit from --gc-percent
// and --memory-limit, unless the environment set them.
func (o *Options) tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(o.GCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" && o.MemoryLimit.Sign() > 0 {
		debug.SetMemoryLimit(o.MemoryLimit.Value())
	}
}

// Run runs the agent until ctx is done.
func (o *Options) Run(ctx context.Context) error {
	o.tuneGC()
	cs, err := o.clients()
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := newMetrics(reg)
	ns := clusterv1alpha1.ClusterNamespace(o.ClusterName)

	// The hub: only this cluster's namespace.
	hubInformers := externalversions.NewSharedInformerFactoryWithOptions(cs.portico, o.Resync, externalversions.WithNamespace(ns),
		externalversions.WithTransform(cachetrim.StripManagedFields))
	capInformer := hubInformers.Traffic().V1alpha1().ClusterAccessPoints()
	// The member cluster: gateway Services and EndpointSlices, and what the agent applied.
	memberInformers := informers.NewSharedInformerFactoryWithOptions(cs.kube, o.Resync, informers.WithTransform(endpoints.Transform))
	services, slices := memberInformers.Core().V1().Services(), memberInformers.Discovery().V1().EndpointSlices()
	resolver := &endpoints.Resolver{Services: services.Lister(), Slices: slices.Lister()}

	applier := apply.NewClient(cs.kube, cs.dynamic, cs.meta)
	r := reconciler.New(cs.portico.TrafficV1alpha1().ClusterAccessPoints(ns), capInformer.Lister().ClusterAccessPoints(ns),
		capInformer.Informer().HasSynced, applier, resolver.For, m)
	guard := &reconciler.Guard{Fraction: o.RemovalHoldFraction, Min: o.RemovalHoldMin,
		Identity: func(ctx context.Context) string {
			mc, err := cs.portico.ClusterV1alpha1().MemberClusters().Get(ctx, o.ClusterName, metav1.GetOptions{})
			if err != nil {
				return ""
			}
			return mc.Annotations[clusterv1alpha1.AnnotationHubIdentity]
		}}
	o.rememberHubIdentity(ctx, cs.kube, guard)
	r.SetGuard(guard)
	r.SetGatewayAPI(reconciler.GatewayAPIReaders{Observed: applier.Observed, ServiceEndpoints: resolver.ForService})
	_, _ = capInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { r.Enqueue(nameOf(obj)) },
		UpdateFunc: func(old, obj any) {
			// The agent's own status writes do not change what is applied; a spec
			// change bumps the generation, and a periodic resync keeps the version.
			if specChanged(old, obj) {
				r.Enqueue(nameOf(obj))
			}
		},
		DeleteFunc: func(obj any) { r.Enqueue(nameOf(obj)) },
	})
	endpointsChanged := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { r.EnqueueAll() },
		UpdateFunc: func(any, any) { r.EnqueueAll() },
		DeleteFunc: func(any) { r.EnqueueAll() },
	}
	_, _ = services.Informer().AddEventHandler(endpointsChanged)
	_, _ = slices.Informer().AddEventHandler(endpointsChanged)
	// Every object of the kinds it applies, labelled or not (their name,
	// label, owner annotation and resource version: apply.Cached), so that
	// applying a new object needs no read to know that no other object holds
	// its name.
	applied := metadatainformer.NewSharedInformerFactory(cs.meta, o.Resync)
	// Secrets only in the gateway namespace: the agent may read no other.
	appliedSecrets := metadatainformer.NewFilteredSharedInformerFactory(cs.meta, o.Resync, o.GatewayNamespace, nil)
	applier.RestrictSecrets(o.GatewayNamespace)
	stores := map[schema.GroupVersionResource]cache.Store{}
	var appliedSynced []cache.InformerSynced
	resources, err := servedResources(cs.kube.Discovery(), apply.Resources())
	if err != nil {
		return err
	}
	for _, gvr := range resources {
		factory := applied
		if gvr.Group == "" && gvr.Resource == "secrets" {
			factory = appliedSecrets
		}
		inf := factory.ForResource(gvr).Informer()
		if err := inf.SetTransform(apply.Transform); err != nil {
			return err
		}
		if err := inf.AddIndexers(apply.AccessPointIndexers); err != nil {
			return err
		}
		_, _ = inf.AddEventHandler(driftHandler(r.EnqueueLabelled, func(obj any) bool { return applier.Echo(gvr, obj) }))
		stores[gvr], appliedSynced = inf.GetIndexer(), append(appliedSynced, inf.HasSynced)
	}
	// Pruning reads what was applied from these caches instead of listing
	// every kind, and applying does not read an object these caches lack.
	applier.UseCache(&apply.Cache{Stores: stores, Complete: true, Synced: func() bool {
		for _, s := range appliedSynced {
			if !s() {
				return false
			}
		}
		return true
	}})

	hb := &heartbeat.Heartbeat{Hub: cs.hubKube, Portico: cs.portico, Member: cs.kube, Cluster: o.ClusterName,
		Identity: identity(), Version: Version, Interval: o.HeartbeatInterval, OnRenew: m.heartbeat, Guard: guard}
	if cs.token != nil {
		hb.Credential = func() (time.Time, time.Time) {
			c := cs.token.Claims()
			return c.IssuedAt, c.Expires
		}
		go cs.token.Run(ctx, cs.hubKube)
	}
	go hb.Run(ctx)
	go o.serve(ctx, reg)

	hubInformers.Start(ctx.Done())
	memberInformers.Start(ctx.Done())
	applied.Start(ctx.Done())
	appliedSecrets.Start(ctx.Done())
	klog.InfoS("member-agent started", "cluster", o.ClusterName, "hubNamespace", ns, "version", Version)
	r.Run(ctx, o.Workers, time.Minute)
	return nil
}

func (o *Options) serve(ctx context.Context, reg *prometheus.Registry) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	if o.Profiling {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	srv := &http.Server{Addr: o.MetricsBindAddress, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		klog.ErrorS(err, "Serving metrics")
	}
}

// servedResources returns the resources the member cluster serves: a kind
// whose CRDs are not installed (the Gateway API's, in a cluster that uses
// only Istio's) has no informer, so that the caches still sync; its objects
// fail to apply, saying so, until its CRDs are installed and the agent
// restarted.
func servedResources(disc discovery.DiscoveryInterface, gvrs []schema.GroupVersionResource) ([]schema.GroupVersionResource, error) {
	served := map[schema.GroupVersion]map[string]bool{}
	var out []schema.GroupVersionResource
	for _, gvr := range gvrs {
		gv := gvr.GroupVersion()
		if _, known := served[gv]; !known {
			served[gv] = map[string]bool{}
			list, err := disc.ServerResourcesForGroupVersion(gv.String())
			if err != nil && !apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("discovering the member cluster's %s resources: %w", gv, err)
			}
			if list != nil {
				for _, r := range list.APIResources {
					served[gv][r.Name] = true
				}
			}
		}
		if !served[gv][gvr.Resource] {
			klog.InfoS("The member cluster does not serve a kind the agent applies: its objects cannot be applied until its CRDs are installed and the agent restarted",
				"resource", gvr.String())
			continue
		}
		out = append(out, gvr)
	}
	return out, nil
}

// driftHandler reconciles, through enqueue, the access point of an applied
// object that changed or went: the one it is labelled for, and the one it was
// labelled for before a change. Objects of no access point are not the
// agent's business, and neither is the echo of the agent's own apply (echo).
func driftHandler(enqueue func(accessPoint string), echo func(obj any) bool) cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(old, obj any) {
			if echo(obj) {
				return
			}
			before, after := apply.AccessPointOf(old), apply.AccessPointOf(obj)
			if before != "" && before != after {
				enqueue(before)
			}
			if after != "" {
				enqueue(after)
			}
		},
		DeleteFunc: func(obj any) {
			if ap := apply.AccessPointOf(obj); ap != "" {
				enqueue(ap)
			}
		},
	}
}

func nameOf(obj any) string {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	if m, ok := obj.(metav1.Object); ok {
		return m.GetName()
	}
	return ""
}

func specChanged(old, obj any) bool {
	o, okO := old.(metav1.Object)
	n, okN := obj.(metav1.Object)
	return !okO || !okN || o.GetGeneration() != n.GetGeneration() || o.GetResourceVersion() == n.GetResourceVersion() ||
		(o.GetDeletionTimestamp() == nil) != (n.GetDeletionTimestamp() == nil)
}

func identity() string {
	host, _ := os.Hostname()
	return host + "_" + fmt.Sprint(os.Getpid())
}
