//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	"github.com/portico-dev/portico/test/framework"
	"github.com/portico-dev/portico/test/localfed"
)

// storedObject identifies one object of every kind created by
// createOneOfEachKind.
type storedObject struct {
	gvr       schema.GroupVersionResource
	namespace string
	name      string
}

func (o storedObject) String() string {
	if o.namespace == "" {
		return o.gvr.Resource + "/" + o.name
	}
	return o.gvr.Resource + "/" + o.namespace + "/" + o.name
}

// createOneOfEachKind creates one object of each of the ten kinds (with
// kubectl apply, the namespaces with the kube clientset) and returns them.
func createOneOfEachKind(t *testing.T, hub *framework.HubCluster, suffix string) []storedObject {
	t.Helper()
	kube := kubernetes.NewForConfigOrDie(hub.RestConfig)
	ns, capNS := "app-"+suffix, "portico-cluster-mc-"+suffix
	for _, n := range []string{ns, capNS} {
		// The hub's membercluster controller creates portico-cluster-<name>
		// too, maybe first.
		if _, err := kube.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	vip := "198.51.100.10"
	doc := strings.NewReplacer("@SUFFIX@", suffix, "@NS@", ns, "@CAPNS@", capNS, "@VIP@", vip).Replace(`
apiVersion: cluster.portico.dev/v1alpha1
kind: MemberCluster
metadata: {name: mc-@SUFFIX@}
spec: {zone: zone-1, region: region-1}
---
apiVersion: cluster.portico.dev/v1alpha1
kind: LoadBalancerGroup
metadata: {name: lbg-@SUFFIX@}
spec:
  zone: zone-1
  bgp:
    localASN: 64512
    peers: [{address: 10.0.0.1, asn: 64500}]
---
apiVersion: cluster.portico.dev/v1alpha1
kind: LoadBalancerNode
metadata: {name: lbn-@SUFFIX@}
spec: {group: lbg-@SUFFIX@, address: 10.0.0.10}
---
apiVersion: traffic.portico.dev/v1alpha1
kind: VIPPool
metadata: {name: pool-@SUFFIX@}
spec: {cidrs: [198.51.100.0/24], zones: [zone-1]}
---
apiVersion: traffic.portico.dev/v1alpha1
kind: VirtualIP
metadata: {name: "@VIP@"}
spec:
  address: @VIP@
  pool: pool-@SUFFIX@
  ports: [{name: http, port: 80}]
  backends: [{address: 10.1.0.5, cluster: mc-@SUFFIX@, zone: zone-1}]
---
apiVersion: traffic.portico.dev/v1alpha1
kind: DNSProvider
metadata: {name: dns-@SUFFIX@}
spec:
  rfc2136: {server: "192.0.2.53:53", zone: example.com}
---
apiVersion: traffic.portico.dev/v1alpha1
kind: CertificateIssuer
metadata: {name: ca-@SUFFIX@}
spec:
  ca: {secretRef: {name: ca-secret}}
---
apiVersion: traffic.portico.dev/v1alpha1
kind: FederatedAccessPoint
metadata: {name: fap-@SUFFIX@, namespace: @NS@}
spec:
  hosts: [fap-@SUFFIX@.example.com]
  placement: {clusters: [{name: mc-@SUFFIX@}]}
  loadBalancer: {pool: pool-@SUFFIX@, ports: [{name: http, port: 80}]}
  template:
    virtualServices:
    - name: vs
      spec:
        hosts: [fap-@SUFFIX@.example.com]
        http:
        - route:
          - destination: {host: web.@NS@.svc.cluster.local}
---
apiVersion: traffic.portico.dev/v1alpha1
kind: NameService
metadata: {name: nsvc-@SUFFIX@, namespace: @NS@}
spec:
  fqdn: fap-@SUFFIX@.example.com
  providerRef: {name: dns-@SUFFIX@}
  target: {accessPointRef: {name: fap-@SUFFIX@}}
---
apiVersion: traffic.portico.dev/v1alpha1
kind: ClusterAccessPoint
metadata: {name: @NS@.fap-@SUFFIX@, namespace: @CAPNS@}
spec:
  accessPointRef: {namespace: @NS@, name: fap-@SUFFIX@}
  revision: r1
  manifests:
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: vs, namespace: @NS@}
    spec: {hosts: [fap-@SUFFIX@.example.com]}
`)
	if out, stderr, err := framework.KubectlWithInput(t, hub.KubeconfigPath, strings.NewReader(doc), "apply", "-f", "-"); err != nil {
		t.Fatalf("creating one object of each kind: %v\n%s\n%s", err, out, stderr)
	}
	gvr := func(resource string) schema.GroupVersionResource {
		for _, r := range porticoResources {
			if r.resource == resource {
				return schema.GroupVersionResource{Group: r.group, Version: "v1alpha1", Resource: resource}
			}
		}
		t.Fatalf("unknown resource %s", resource)
		return schema.GroupVersionResource{}
	}
	return []storedObject{
		{gvr("memberclusters"), "", "mc-" + suffix},
		{gvr("loadbalancergroups"), "", "lbg-" + suffix},
		{gvr("loadbalancernodes"), "", "lbn-" + suffix},
		{gvr("vippools"), "", "pool-" + suffix},
		{gvr("virtualips"), "", vip},
		{gvr("dnsproviders"), "", "dns-" + suffix},
		{gvr("certificateissuers"), "", "ca-" + suffix},
		{gvr("federatedaccesspoints"), ns, "fap-" + suffix},
		{gvr("nameservices"), ns, "nsvc-" + suffix},
		{gvr("clusteraccesspoints"), capNS, ns + ".fap-" + suffix},
	}
}

func getObjects(t *testing.T, dyn dynamic.Interface, objects []storedObject) map[string]*unstructured.Unstructured {
	t.Helper()
	got := map[string]*unstructured.Unstructured{}
	for _, o := range objects {
		u, err := dyn.Resource(o.gvr).Namespace(o.namespace).Get(context.Background(), o.name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get %s: %v", o, err)
		}
		got[o.String()] = u
	}
	return got
}

// stopGracefully sends SIGTERM (then SIGKILL after the framework's grace
// period) and wants the process to exit 0 before the grace period ends.
func stopGracefully(t *testing.T, proc *localfed.Process) {
	t.Helper()
	start := time.Now()
	if err := proc.Stop(); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	exited, waitErr := proc.Exited()
	t.Logf("portico-hub exited %v after SIGTERM (wait: %v)", took.Round(time.Millisecond), waitErr)
	if !exited {
		t.Fatal("portico-hub has not exited")
	}
	if waitErr != nil {
		t.Errorf("portico-hub did not exit 0 after SIGTERM: %v (after %v; the framework sends SIGKILL after %v)",
			waitErr, took.Round(time.Millisecond), localfed.DefaultStopTimeout)
	}
	if took >= localfed.DefaultStopTimeout {
		t.Errorf("shutdown took %v, the whole grace period", took.Round(time.Millisecond))
	}
	// A Go panic prints "panic: ..." at the start of a line and the stacks.
	if log := proc.LogTail(300); regexp.MustCompile(`(?m)^panic: |^goroutine \d+ \[running\]`).MatchString(log) {
		t.Errorf("panic during shutdown:\n%s", log)
	}
}

// TestPorticoHubRestart: started again on the same --data-dir (embedded
// etcd), portico-hub serves every object of every kind unchanged (uid,
// resourceVersion, generation, spec, status) and continues the
// resourceVersion sequence. It runs without controllers so that nothing but
// the restart could change an object.
func TestPorticoHubRestart(t *testing.T) {
	hub := framework.NewHubCluster(t)
	p := framework.NewPorticoHub(t, hub, framework.PorticoHubOptions{ExtraArgs: []string{"--controllers="}})
	ctx := context.Background()
	dyn := dynamic.NewForConfigOrDie(hub.RestConfig)
	pc := versioned.NewForConfigOrDie(hub.RestConfig)

	objects := createOneOfEachKind(t, hub, "restart")
	// A status too.
	lbgs := pc.ClusterV1alpha1().LoadBalancerGroups()
	lbg, err := lbgs.Get(ctx, "lbg-restart", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lbg.Status.Nodes, lbg.Status.ReadyNodes = 2, 1
	lbg.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: metav1.ConditionFalse, Reason: "NodesNotReady", LastTransitionTime: metav1.Now()}}
	if _, err := lbgs.UpdateStatus(ctx, lbg, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	before := getObjects(t, dyn, objects)
	var lastRV int64
	for _, u := range before {
		rv, err := strconv.ParseInt(u.GetResourceVersion(), 10, 64)
		if err != nil {
			t.Fatalf("resourceVersion %q of %s: %v", u.GetResourceVersion(), u.GetName(), err)
		}
		lastRV = max(lastRV, rv)
	}
	if _, err := os.Stat(filepath.Join(p.Options.Dir, "data", "member")); err != nil {
		t.Errorf("the embedded etcd has no member directory in --data-dir: %v", err)
	}

	old := p.Process
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := p.Restart(rctx); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if exited, err := old.Exited(); !exited || err != nil {
		t.Errorf("the stopped portico-hub: exited=%v, wait error %v", exited, err)
	}
	if p.Process.PID == old.PID {
		t.Fatalf("Restart did not start a new process")
	}

	after := getObjects(t, dyn, objects)
	for key, b := range before {
		a := after[key]
		if a.GetUID() != b.GetUID() || a.GetResourceVersion() != b.GetResourceVersion() || a.GetGeneration() != b.GetGeneration() {
			t.Errorf("%s: uid %s -> %s, resourceVersion %s -> %s, generation %d -> %d", key,
				b.GetUID(), a.GetUID(), b.GetResourceVersion(), a.GetResourceVersion(), b.GetGeneration(), a.GetGeneration())
		}
		for _, part := range []string{"metadata", "spec", "status"} {
			if !reflect.DeepEqual(a.Object[part], b.Object[part]) {
				t.Errorf("%s: %s changed across the restart:\nbefore %v\nafter  %v", key, part, b.Object[part], a.Object[part])
			}
		}
	}
	if got := after["loadbalancergroups/lbg-restart"]; got != nil {
		if n, _, _ := unstructured.NestedInt64(got.Object, "status", "nodes"); n != 2 {
			t.Errorf("status of lbg-restart after restart: %v", got.Object["status"])
		}
	}
	// Lists agree, and new writes continue the resourceVersion sequence.
	for _, o := range objects {
		l, err := dyn.Resource(o.gvr).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Items) != 1 {
			t.Errorf("%s: %d objects after restart, want 1", o.gvr.Resource, len(l.Items))
		}
	}
	created, err := pc.ClusterV1alpha1().MemberClusters().Create(ctx, &clusterv1alpha1.MemberCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "after-restart"}, Spec: clusterv1alpha1.MemberClusterSpec{Zone: "zone-1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rv, _ := strconv.ParseInt(created.ResourceVersion, 10, 64); rv <= lastRV {
		t.Errorf("resourceVersion %d of a new object after restart, not after %d", rv, lastRV)
	}
}

// TestPorticoHubGracefulShutdown: SIGTERM makes portico-hub (embedded etcd,
// controllers running) exit 0 well within the grace period, with no request
// in flight and with a watch open through the hub cluster.
func TestPorticoHubGracefulShutdown(t *testing.T) {
	hub := framework.NewHubCluster(t)
	p := framework.NewPorticoHub(t, hub, framework.PorticoHubOptions{})
	ctx := context.Background()
	pc := versioned.NewForConfigOrDie(hub.RestConfig)
	createOneOfEachKind(t, hub, "shutdown")

	t.Run("SIGTERM exits 0", func(t *testing.T) {
		stopGracefully(t, p.Process)
	})

	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := p.Restart(rctx); err != nil {
		t.Fatalf("restart: %v", err)
	}

	// With a watch open through the hub cluster (kubectl get -w, the
	// informers of agents: there is always one).
	t.Run("SIGTERM with an open watch exits 0", func(t *testing.T) {
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		w, err := pc.TrafficV1alpha1().FederatedAccessPoints("").Watch(wctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		select {
		case <-w.ResultChan(): // the initial ADDED event: the watch is established
		case <-time.After(10 * time.Second):
			t.Fatal("the watch delivered nothing")
		}
		stopGracefully(t, p.Process)
		// The watch through the hub cluster ends.
		for {
			select {
			case _, ok := <-w.ResultChan():
				if !ok {
					return
				}
			case <-time.After(15 * time.Second):
				t.Fatal("the watch stayed open after portico-hub exited")
			}
		}
	})
}

// TestPorticoHubExternalEtcd: with --etcd-servers portico-hub keeps its
// objects in that etcd under /registry/portico.dev/ and none in the hub
// cluster's etcd or in its --data-dir; deleting a key in etcd deletes the
// object.
func TestPorticoHubExternalEtcd(t *testing.T) {
	etcd := framework.NewEtcd(t)
	hub := framework.NewHubCluster(t)
	p := framework.NewPorticoHub(t, hub, framework.PorticoHubOptions{EtcdServers: []string{etcd.ClientURL}})
	ctx := context.Background()
	dyn := dynamic.NewForConfigOrDie(hub.RestConfig)

	objects := createOneOfEachKind(t, hub, "ext")

	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{etcd.ClientURL}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	const prefix = "/registry/portico.dev/"
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]string{}
	for _, kv := range resp.Kvs {
		values[string(kv.Key)] = string(kv.Value)
	}
	t.Logf("%d keys under %s", len(values), prefix)
	keyOf := map[string]string{}
	for _, o := range objects {
		suffix := "/" + o.gvr.Resource + "/" + o.name
		if o.namespace != "" {
			suffix = "/" + o.gvr.Resource + "/" + o.namespace + "/" + o.name
		}
		for k, v := range values {
			if strings.HasSuffix(k, suffix) {
				keyOf[o.String()] = k
				// ClusterAccessPoints are encrypted at rest (they carry keys).
				if encrypted := o.gvr.Resource == "clusteraccesspoints"; encrypted != strings.HasPrefix(v, localfed.EncryptedPrefix) {
					t.Errorf("the value of %s: encrypted = %v, want %v", k, !encrypted, encrypted)
				} else if !encrypted && !strings.Contains(v, o.name) {
					t.Errorf("the value of %s does not contain the object's name", k)
				}
			}
		}
		if keyOf[o.String()] == "" {
			t.Errorf("no key for %s (…%s) in the external etcd; keys: %v", o, suffix, sortedKeys(values))
		}
	}
	if k := keyOf["federatedaccesspoints/app-ext/fap-ext"]; k != "" && !strings.Contains(values[k], "fap-ext.example.com") {
		t.Errorf("the stored access point does not hold its host: %s", values[k])
	}

	// Nothing in the hub cluster's own etcd, nothing in --data-dir.
	hubEtcd, err := clientv3.New(clientv3.Config{Endpoints: []string{hub.Etcd.ClientURL}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer hubEtcd.Close()
	if r, err := hubEtcd.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil {
		t.Fatal(err)
	} else if r.Count != 0 {
		t.Errorf("%d Portico keys in the hub cluster's etcd", r.Count)
	}
	dataDir := filepath.Join(p.Options.Dir, "data")
	if _, err := os.Stat(filepath.Join(dataDir, "member")); !os.IsNotExist(err) {
		t.Errorf("portico-hub's --data-dir has an etcd member directory with --etcd-servers set (stat: %v)", err)
	}
	if entries, err := os.ReadDir(dataDir); err == nil && len(entries) > 0 {
		t.Errorf("portico-hub's --data-dir is not empty with --etcd-servers set: %v", entries)
	}

	// The objects live there: deleting the key deletes the object.
	key := keyOf["virtualips/198.51.100.10"]
	if key == "" {
		t.Fatal("no key for the VirtualIP")
	}
	if _, err := cli.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	vipGVR := schema.GroupVersionResource{Group: trafficGroup, Version: "v1alpha1", Resource: "virtualips"}
	framework.Eventually(t, 10*time.Second, "the VirtualIP whose key was deleted from etcd is still served", func() (bool, string) {
		_, err := dyn.Resource(vipGVR).Get(ctx, "198.51.100.10", metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
}
