//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	kubefake "k8s.io/client-go/kubernetes/fake"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	"github.com/portico-dev/portico/apis/generated/informers/externalversions"
	"github.com/portico-dev/portico/cmd/kubectl-portico/plugin"
	"github.com/portico-dev/portico/member-agent/apply"
	"github.com/portico-dev/portico/member-agent/endpoints"
	"github.com/portico-dev/portico/member-agent/heartbeat"
	"github.com/portico-dev/portico/member-agent/reconciler"
	"github.com/portico-dev/portico/test/framework"
)

// A SIMULATED member cluster runs the member-agent's own code in the test
// process — member-agent/heartbeat (the Lease and the MemberCluster status),
// member-agent/reconciler (apply, prune, status with gateway endpoints) and
// member-agent/endpoints (the gateway endpoints from a Service and an
// EndpointSlice) — against the real hub, with the credentials that
// `kubectl portico join` issues (plugin.Join, one ServiceAccount token and one
// hub clientset per cluster). Only the member cluster is in memory.
//
// Why an in-memory apply.Applier and not apply.NewClient over client-go fakes:
// apply.NewClient applies every kind with a server-side apply patch through
// the metadata and dynamic clients, and reads and prunes through metadata
// informers. client-go's metadata and dynamic fakes each keep their own
// object tracker: what one applied the other never sees, so pruning and the
// caches would not work. simApplier below is the replacement: it
// keeps the applied objects by kind, namespace and name with their access
// point label, which is everything the reconciler's apply/prune/sweep logic
// relies on.

// simCluster is one simulated member cluster.
type simCluster struct {
	Name, Zone string
	// Portico and HubKube are this cluster's own hub clients (its agent token).
	Portico versioned.Interface
	HubKube kubernetes.Interface
	Applier *simApplier
	// GatewayAddresses are the ready endpoints of its istio-ingressgateway.
	GatewayAddresses []string
	cancel           context.CancelFunc
	done             chan struct{}
}

// simOptions configure startSimClusters.
type simOptions struct {
	// Heartbeat is the Lease renewal interval (the agent's default is 10s).
	Heartbeat time.Duration
	// Workers per cluster reconciler (the agent's default is 4).
	Workers int
	// Parallel joins.
	JoinParallelism int
	// JoinTimeout bounds the wait for the hub to prepare each cluster
	// (default 90s).
	JoinTimeout time.Duration
}

// startSimClusters joins the clusters (name -> zone) to the hub with
// plugin.Join and starts a simulated member-agent for each. They stop in
// cleanup.
func startSimClusters(tb testing.TB, hub *framework.HubCluster, zones map[string]string, o simOptions) map[string]*simCluster {
	tb.Helper()
	if o.Heartbeat == 0 {
		o.Heartbeat = time.Second
	}
	if o.Workers == 0 {
		o.Workers = 4
	}
	if o.JoinParallelism == 0 {
		o.JoinParallelism = 8
	}
	if o.JoinTimeout == 0 {
		o.JoinTimeout = 90 * time.Second
	}
	admin := versioned.NewForConfigOrDie(hub.RestConfig)
	adminKube := kubernetes.NewForConfigOrDie(hub.RestConfig)
	endpoint, err := plugin.HubEndpointFromConfig(hub.RestConfig)
	if err != nil {
		tb.Fatal(err)
	}
	names := make([]string, 0, len(zones))
	for n := range zones {
		names = append(names, n)
	}
	sort.Strings(names)

	// Join all first (as an operator would, one `kubectl portico join` per
	// cluster), then start the agents.
	out := map[string]*simCluster{}
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		sem      = make(chan struct{}, o.JoinParallelism)
	)
	for _, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			sc, err := joinSimCluster(admin, adminKube, endpoint, name, zones[name], o)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			if sc != nil {
				out[name] = sc
			}
		}()
	}
	wg.Wait()
	for _, sc := range out {
		sc.start(o)
	}
	tb.Cleanup(func() {
		for _, sc := range out {
			sc.cancel()
		}
		for _, sc := range out {
			<-sc.done
		}
	})
	if firstErr != nil {
		tb.Fatalf("starting simulated member clusters: %v", firstErr)
	}
	return out
}

var simAddresses atomic.Uint32

// joinSimCluster joins one cluster with plugin.Join and makes its hub clients
// from the kubeconfig the join returns.
func joinSimCluster(admin versioned.Interface, adminKube kubernetes.Interface, hub plugin.HubEndpoint,
	name, zone string, o simOptions) (*simCluster, error) {
	ctx, cancel := context.WithTimeout(context.Background(), o.JoinTimeout+30*time.Second)
	defer cancel()
	join := func() (*plugin.JoinResult, error) {
		return plugin.Join(ctx, admin, adminKube, plugin.JoinOptions{
			Name: name, Zone: zone, Region: "sim", Hub: hub, TokenDuration: time.Hour, WaitTimeout: o.JoinTimeout,
		})
	}
	res, err := join()
	// The hub cluster answers 503 for a moment while portico-hub's APIService
	// moves to a replica that just started (TestStatusOwnersSurviveLeaderChange
	// failed once so in make test); the join wrote nothing then.
	for deadline := time.Now().Add(30 * time.Second); apierrors.IsServiceUnavailable(err) && time.Now().Before(deadline); {
		time.Sleep(500 * time.Millisecond)
		res, err = join()
	}
	if err != nil {
		return nil, fmt.Errorf("joining %s: %w", name, err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(res.Kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.UserAgent = "portico-member-agent/simulated-" + name
	cfg.QPS, cfg.Burst = 50, 100 // as the real agent
	n := simAddresses.Add(1)
	sc := &simCluster{Name: name, Zone: zone, Applier: newSimApplier(), done: make(chan struct{}),
		GatewayAddresses: []string{fmt.Sprintf("10.%d.%d.10", 200+n/250, n%250), fmt.Sprintf("10.%d.%d.11", 200+n/250, n%250)}}
	if sc.Portico, err = versioned.NewForConfig(cfg); err != nil {
		return nil, err
	}
	if sc.HubKube, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, err
	}
	return sc, nil
}

// start runs the cluster's simulated member-agent: heartbeat and reconciler.
func (sc *simCluster) start(o simOptions) {
	name := sc.Name
	// The member cluster in memory: istiod (for the version report) and the
	// ingress gateway's Service and EndpointSlice (for the endpoints).
	member := kubefake.NewClientset(&appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "istiod", Namespace: "istio-system", Labels: map[string]string{"istio.io/rev": "default"}},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "discovery", Image: "istio/pilot:1.31.1"}}}}},
	})
	services := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	slices := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	_ = services.Add(&corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "istio-ingressgateway", Namespace: "istio-system"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "istio-ingressgateway", "istio": "ingressgateway"}},
	})
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "istio-ingressgateway-sim", Namespace: "istio-system",
			Labels: map[string]string{discoveryv1.LabelServiceName: "istio-ingressgateway"}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for _, a := range sc.GatewayAddresses {
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{Addresses: []string{a}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}})
	}
	_ = slices.Add(slice)
	resolver := &endpoints.Resolver{Services: corelisters.NewServiceLister(services), Slices: discoverylisters.NewEndpointSliceLister(slices)}

	runCtx, stop := context.WithCancel(context.Background())
	sc.cancel = stop
	ns := clusterv1alpha1.ClusterNamespace(name)
	inf := externalversions.NewSharedInformerFactoryWithOptions(sc.Portico, 10*time.Minute, externalversions.WithNamespace(ns))
	capInformer := inf.Traffic().V1alpha1().ClusterAccessPoints()
	r := reconciler.New(sc.Portico.TrafficV1alpha1().ClusterAccessPoints(ns), capInformer.Lister().ClusterAccessPoints(ns),
		capInformer.Informer().HasSynced, sc.Applier, resolver.For, simMetrics{})
	enqueue := func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		if m, ok := obj.(metav1.Object); ok {
			r.Enqueue(m.GetName())
		}
	}
	_, _ = capInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, obj any) { enqueue(obj) }, DeleteFunc: enqueue,
	})
	hb := &heartbeat.Heartbeat{Hub: sc.HubKube, Portico: sc.Portico, Member: member, Cluster: name,
		Identity: "simulated-" + name, Version: "simulated", Interval: o.Heartbeat}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); hb.Run(runCtx) }()
	inf.Start(runCtx.Done())
	go func() { defer wg.Done(); r.Run(runCtx, o.Workers, time.Minute) }()
	go func() {
		wg.Wait()
		inf.Shutdown()
		close(sc.done)
	}()
}

// simMetrics discards the reconciler's metrics.
type simMetrics struct{}

func (simMetrics) ObserveApply(string, time.Duration, error) {}
func (simMetrics) ObserveReconcile(error)                    {}

// simApplier is an in-memory member cluster for the reconciler: applied
// objects by reference with their access point label.
type simApplier struct {
	mu         sync.Mutex
	objects    map[apply.Ref]simObject
	namespaces map[string]bool
	applies    int
}

type simObject struct {
	label string
	raw   []byte
}

func newSimApplier() *simApplier {
	return &simApplier{objects: map[apply.Ref]simObject{}, namespaces: map[string]bool{}}
}

// Apply stores the object (as server-side apply with force would: the
// applied content replaces the manager's).
func (a *simApplier) Apply(_ context.Context, obj apply.Object) error {
	var head struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
		Spec     json.RawMessage   `json:"spec"`
	}
	if err := json.Unmarshal(obj.Raw, &head); err != nil {
		return err
	}
	if head.Metadata.Name == "" {
		return fmt.Errorf("%s: no name", obj.Ref)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.objects[obj.Ref] = simObject{label: head.Metadata.Labels[apply.Label], raw: obj.Raw}
	a.applies++
	return nil
}

func (a *simApplier) EnsureNamespace(_ context.Context, name string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.namespaces[name] = true
	return nil
}

func (a *simApplier) List(_ context.Context, accessPoint string) ([]apply.Labelled, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []apply.Labelled
	for ref, o := range a.objects {
		if o.label == "" || (accessPoint != "" && o.label != apply.LabelValue(accessPoint)) {
			continue
		}
		out = append(out, apply.Labelled{Ref: ref, AccessPoint: o.label})
	}
	return out, nil
}

func (a *simApplier) Delete(_ context.Context, ref apply.Ref) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.objects, ref)
	return nil
}

// Get returns an applied object's JSON (nil when absent).
func (a *simApplier) Get(kind, namespace, name string) []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	for ref, o := range a.objects {
		if ref.GVK.Kind == kind && ref.Namespace == namespace && ref.Name == name {
			return o.raw
		}
	}
	return nil
}

// Len is the number of applied objects.
func (a *simApplier) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.objects)
}
