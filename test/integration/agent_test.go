//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	istioclient "istio.io/client-go/pkg/clientset/versioned"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/generated/clientset/versioned/typed/traffic/v1alpha1"
	traffic "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/test/framework"
)

// federation is a hub cluster, portico-hub, and member clusters with agents.
type federation struct {
	hub     *framework.HubCluster
	portico *framework.PorticoHub
	pc      versioned.Interface
	members map[string]*framework.MemberCluster
	agents  map[string]*framework.MemberAgent
}

const leaseGrace = 6 * time.Second

func newFederation(t *testing.T, zones map[string]string) *federation {
	t.Helper()
	return newFederationTB(t, zones)
}

func newFederationTB(t testing.TB, zones map[string]string) *federation {
	t.Helper()
	f := &federation{members: map[string]*framework.MemberCluster{}, agents: map[string]*framework.MemberAgent{}}
	f.hub = framework.NewHubCluster(t)
	f.portico = framework.NewPorticoHub(t, f.hub, framework.PorticoHubOptions{
		ExtraArgs: []string{"--cluster-lease-grace=" + leaseGrace.String()},
	})
	f.pc = versioned.NewForConfigOrDie(f.hub.RestConfig)
	for name, zone := range zones {
		f.members[name] = framework.NewMemberCluster(t, name)
		f.agents[name] = framework.NewMemberAgent(t, f.hub, f.members[name], framework.MemberAgentOptions{
			Zone: zone, Region: "r1", HeartbeatInterval: time.Second,
		})
	}
	return f
}

func (f *federation) caps(cluster string) trafficv1alpha1.ClusterAccessPointInterface {
	return f.pc.TrafficV1alpha1().ClusterAccessPoints(clusterv1alpha1.ClusterNamespace(cluster))
}

func (f *federation) istio(t *testing.T, cluster string) istioclient.Interface {
	t.Helper()
	return istioclient.NewForConfigOrDie(f.members[cluster].RestConfig)
}

func availability(f *federation, name string) metav1.ConditionStatus {
	mc, err := f.pc.ClusterV1alpha1().MemberClusters().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return ""
	}
	if c := meta.FindStatusCondition(mc.Status.Conditions, clusterv1alpha1.MemberClusterAvailable); c != nil {
		return c.Status
	}
	return ""
}

func obj(apiVersion, kind, name string, spec string) traffic.JSONObject {
	return traffic.JSONObject{Raw: []byte(fmt.Sprintf(`{"apiVersion":%q,"kind":%q,"metadata":{"name":%q,"namespace":"shop"},%s}`,
		apiVersion, kind, name, spec))}
}

func gatewayManifest() traffic.JSONObject {
	return obj("networking.istio.io/v1", "Gateway", "web", `"spec":{"selector":{"istio":"ingressgateway"},"servers":[{"port":{"number":80,"name":"http","protocol":"HTTP"},"hosts":["web.example.com"]}]}`)
}

func vsManifest(name, timeout string) traffic.JSONObject {
	return obj("networking.istio.io/v1", "VirtualService", name, fmt.Sprintf(
		`"spec":{"hosts":["web.example.com"],"gateways":["web"],"http":[{"timeout":%q,"route":[{"destination":{"host":"web.shop.svc.cluster.local"}}]}]}`, timeout))
}

func drManifest() traffic.JSONObject {
	return obj("networking.istio.io/v1", "DestinationRule", "web", `"spec":{"host":"web.shop.svc.cluster.local"}`)
}

func secretManifest() traffic.JSONObject {
	// In the gateway namespace: the only one where the agent may write Secrets.
	return traffic.JSONObject{Raw: []byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"web-cert","namespace":"istio-system"},"type":"Opaque","stringData":{"note":"hello"}}`)}
}

func newCAP(name, revision string, manifests ...traffic.JSONObject) *traffic.ClusterAccessPoint {
	return &traffic.ClusterAccessPoint{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: traffic.ClusterAccessPointSpec{
			AccessPointRef: traffic.AccessPointReference{Namespace: "shop", Name: "web"},
			Revision:       revision, Manifests: manifests,
		},
	}
}

// waitApplied waits for the agent to report revision with every object applied.
func waitApplied(t *testing.T, f *federation, cluster, name, revision string) *traffic.ClusterAccessPoint {
	t.Helper()
	var cap *traffic.ClusterAccessPoint
	framework.Eventually(t, 30*time.Second, fmt.Sprintf("%s applied in %s at %s", name, cluster, revision), func() (bool, string) {
		var err error
		cap, err = f.caps(cluster).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return cap.Status.ObservedRevision == revision &&
			meta.IsStatusConditionTrue(cap.Status.Conditions, traffic.ClusterAccessPointApplied), ""
	})
	return cap
}

func TestMemberAgentAppliesPrunesRepairsAndReports(t *testing.T) {
	f := newFederation(t, map[string]string{"zone-a-1": "zone-a", "zone-b-1": "zone-b"})
	ctx := context.Background()
	for name := range f.members {
		framework.Eventually(t, 30*time.Second, name+" Available", func() (bool, string) {
			a := availability(f, name)
			return a == metav1.ConditionTrue, "Available=" + string(a)
		})
	}
	// The agent reports versions on its own schedule, independently of the
	// Lease that makes the cluster Available.
	framework.Eventually(t, 30*time.Second, "zone-a-1's agent reports its versions", func() (bool, string) {
		mc, err := f.pc.ClusterV1alpha1().MemberClusters().Get(ctx, "zone-a-1", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return mc.Status.KubernetesVersion == "v1.37.1" && mc.Status.Istio.Version != "" && mc.Status.Agent.Version != "",
			fmt.Sprintf("status %+v", mc.Status)
	})

	// A ClusterAccessPoint written into zone-a-1's namespace appears in zone-a-1 only.
	cap := newCAP("shop.web", "r1", gatewayManifest(), vsManifest("web", "5s"), drManifest(), secretManifest())
	if _, err := f.caps("zone-a-1").Create(ctx, cap, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got := waitApplied(t, f, "zone-a-1", "shop.web", "r1")
	if len(got.Status.Objects) != 4 || len(got.Status.Gateway.Endpoints) != len(f.members["zone-a-1"].GatewayAddresses) {
		t.Fatalf("status = %+v", got.Status)
	}
	ia, ib := f.istio(t, "zone-a-1"), f.istio(t, "zone-b-1")
	vs, err := ia.NetworkingV1().VirtualServices("shop").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if vs.Labels["portico.dev/access-point"] != "shop.web" || vs.Spec.Http[0].Timeout.AsDuration() != 5*time.Second {
		t.Fatalf("VirtualService in zone-a-1: labels %v, spec %v", vs.Labels, vs.Spec.Http)
	}
	if _, err := ib.NetworkingV1().Gateways("shop").Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("zone-b-1 must not get zone-a-1's objects: %v", err)
	}
	kubeA, _ := f.members["zone-a-1"].Kubernetes()
	if _, err := kubeA.CoreV1().Secrets("istio-system").Get(ctx, "web-cert", metav1.GetOptions{}); err != nil {
		t.Fatalf("Secret applied through client-go: %v", err)
	}

	// Editing an applied object by hand is repaired; so is deleting it.
	vs.Spec.Http[0].Timeout = nil
	if _, err := ia.NetworkingV1().VirtualServices("shop").Update(ctx, vs, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, 15*time.Second, "edited VirtualService restored", func() (bool, string) {
		vs, err := ia.NetworkingV1().VirtualServices("shop").Get(ctx, "web", metav1.GetOptions{})
		return err == nil && vs.Spec.Http[0].Timeout != nil && vs.Spec.Http[0].Timeout.AsDuration() == 5*time.Second, fmt.Sprint(err)
	})
	if err := ia.NetworkingV1().DestinationRules("shop").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, 15*time.Second, "deleted DestinationRule restored", func() (bool, string) {
		_, err := ia.NetworkingV1().DestinationRules("shop").Get(ctx, "web", metav1.GetOptions{})
		return err == nil, ""
	})

	// An object the member cluster refuses (Istio's CEL rule: timeout >= 1ms) is
	// reported with the member cluster's message; the others are applied; a
	// removed manifest is pruned.
	cap, _ = f.caps("zone-a-1").Get(ctx, "shop.web", metav1.GetOptions{})
	cap.Spec.Revision = "r2"
	cap.Spec.Manifests = []traffic.JSONObject{gatewayManifest(), vsManifest("web", "5s"), vsManifest("bad", "0s"), secretManifest()}
	if _, err := f.caps("zone-a-1").Update(ctx, cap, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, 30*time.Second, "r2 observed with a refused object", func() (bool, string) {
		c, err := f.caps("zone-a-1").Get(ctx, "shop.web", metav1.GetOptions{})
		if err != nil || c.Status.ObservedRevision != "r2" {
			return false, fmt.Sprint(err)
		}
		cap = c
		return true, ""
	})
	bad := cap.Status.Objects[2]
	if bad.Applied || bad.Name != "bad" || !strings.Contains(bad.Message, "timeout") {
		t.Fatalf("refused object status = %+v", bad)
	}
	if !meta.IsStatusConditionTrue(cap.Status.Conditions, traffic.ClusterAccessPointDegraded) || !cap.Status.Objects[0].Applied || !cap.Status.Objects[3].Applied {
		t.Fatalf("status = %+v", cap.Status)
	}
	framework.Eventually(t, 15*time.Second, "removed DestinationRule pruned", func() (bool, string) {
		_, err := ia.NetworkingV1().DestinationRules("shop").Get(ctx, "web", metav1.GetOptions{})
		return apierrors.IsNotFound(err), ""
	})

	// Deleting the ClusterAccessPoint removes everything it applied.
	if err := f.caps("zone-a-1").Delete(ctx, "shop.web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, 15*time.Second, "everything removed", func() (bool, string) {
		_, e1 := ia.NetworkingV1().Gateways("shop").Get(ctx, "web", metav1.GetOptions{})
		_, e2 := ia.NetworkingV1().VirtualServices("shop").Get(ctx, "web", metav1.GetOptions{})
		_, e3 := kubeA.CoreV1().Secrets("istio-system").Get(ctx, "web-cert", metav1.GetOptions{})
		return apierrors.IsNotFound(e1) && apierrors.IsNotFound(e2) && apierrors.IsNotFound(e3), ""
	})
}

func TestMemberAgentLeaseAndFailStatic(t *testing.T) {
	f := newFederation(t, map[string]string{"zone-a-1": "zone-a"})
	ctx := context.Background()
	agent := f.agents["zone-a-1"]
	framework.Eventually(t, 30*time.Second, "Available", func() (bool, string) {
		a := availability(f, "zone-a-1")
		return a == metav1.ConditionTrue, "Available=" + string(a)
	})

	// Stop the agent: Available goes Unknown after the grace; restart: True again.
	if err := agent.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	framework.Eventually(t, leaseGrace+15*time.Second, "Unknown after the grace", func() (bool, string) {
		a := availability(f, "zone-a-1")
		return a == metav1.ConditionUnknown, "Available=" + string(a)
	})
	if waited := time.Since(stopped); waited < leaseGrace-2*time.Second {
		t.Fatalf("Available went Unknown after %v, before the %v grace", waited, leaseGrace)
	}
	if err := agent.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, 30*time.Second, "Available again", func() (bool, string) {
		a := availability(f, "zone-a-1")
		return a == metav1.ConditionTrue, "Available=" + string(a)
	})

	cap := newCAP("shop.web", "r1", gatewayManifest(), vsManifest("web", "5s"))
	if _, err := f.caps("zone-a-1").Create(ctx, cap, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, f, "zone-a-1", "shop.web", "r1")
	ia := f.istio(t, "zone-a-1")

	// With portico-hub stopped the member cluster keeps every object.
	if err := f.portico.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Second) // not a wait: nothing may be removed during it
	for _, name := range []string{"web"} {
		if _, err := ia.NetworkingV1().Gateways("shop").Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Fatalf("Gateway gone while the hub was down: %v", err)
		}
		if _, err := ia.NetworkingV1().VirtualServices("shop").Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Fatalf("VirtualService gone while the hub was down: %v", err)
		}
	}
	// Back up: a change made on the hub reaches the member cluster.
	if err := f.portico.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	cap, err := f.caps("zone-a-1").Get(ctx, "shop.web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cap.Spec.Revision = "r2"
	cap.Spec.Manifests = []traffic.JSONObject{gatewayManifest(), vsManifest("web", "7s")}
	if _, err := f.caps("zone-a-1").Update(ctx, cap, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, f, "zone-a-1", "shop.web", "r2")
	vs, err := ia.NetworkingV1().VirtualServices("shop").Get(ctx, "web", metav1.GetOptions{})
	if err != nil || vs.Spec.Http[0].Timeout.AsDuration() != 7*time.Second {
		t.Fatalf("change after the hub's restart not applied: %v %v", err, vs)
	}
	raw, _ := json.Marshal(vs.Labels)
	if !strings.Contains(string(raw), "shop.web") {
		t.Fatalf("labels = %s", raw)
	}
}
