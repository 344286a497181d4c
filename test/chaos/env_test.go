//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/json"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	traffic "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/test/framework"
)

// env is the topology under test.
type env struct {
	hub *framework.HubCluster
	ha  *framework.HAHub
	// pc reaches the hub through the hub cluster, as users do.
	pc      versioned.Interface
	members []*member
}

// member is a member cluster, its agent, and the front the agent reaches the
// hub through (cut to partition the agent from the hub).
type member struct {
	name  string
	agent *framework.MemberAgent
	link  *framework.Front
	istio istioclient.Interface
}

func newEnv(t *testing.T) *env {
	t.Helper()
	start := time.Now()
	e := &env{hub: framework.NewHubCluster(t)}
	e.ha = framework.NewHAHub(t, e.hub, 3, 2, framework.PorticoHubOptions{})
	e.pc = fastClient(e.hub.RestConfig)
	for _, c := range clusters {
		mc := framework.NewMemberCluster(t, c.name)
		link := framework.NewFront(t)
		link.Add(e.hub.Port)
		agent := framework.NewMemberAgent(t, e.hub, mc, framework.MemberAgentOptions{
			Zone: c.zone, Region: "r1", HeartbeatInterval: time.Second,
			HubServer: fmt.Sprintf("https://127.0.0.1:%d", link.Port),
		})
		e.members = append(e.members, &member{name: c.name, agent: agent, link: link, istio: istioclient.NewForConfigOrDie(mc.RestConfig)})
	}
	t.Logf("topology up in %v: hub cluster, 3 etcd members, 2 portico-hub replicas, %d member clusters with agents",
		time.Since(start).Round(time.Millisecond), len(e.members))
	return e
}

func (e *env) waitMembersAvailable(t *testing.T) {
	t.Helper()
	framework.Eventually(t, 90*time.Second, "every MemberCluster Available", func() (bool, string) {
		return e.membersAvailable(context.Background())
	})
}

func (e *env) membersAvailable(ctx context.Context) (bool, string) {
	l, err := e.pc.ClusterV1alpha1().MemberClusters().List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, err.Error()
	}
	var missing []string
	for _, m := range e.members {
		i := slices.IndexFunc(l.Items, func(mc clusterv1alpha1.MemberCluster) bool { return mc.Name == m.name })
		if i < 0 || !meta.IsStatusConditionTrue(l.Items[i].Status.Conditions, clusterv1alpha1.MemberClusterAvailable) {
			missing = append(missing, m.name)
		}
	}
	return len(missing) == 0, fmt.Sprintf("not available: %v", missing)
}

// probe reads, directly from a member cluster, the VirtualService timeouts
// (by name) and the access points that have objects there (by the agent's
// label).
func (m *member) probe(ctx context.Context) (timeouts map[string]string, owners map[string]bool, err error) {
	vss, err := m.istio.NetworkingV1().VirtualServices(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, err
	}
	drs, err := m.istio.NetworkingV1().DestinationRules(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, err
	}
	timeouts, owners = map[string]string{}, map[string]bool{}
	for _, vs := range vss.Items {
		if len(vs.Spec.Http) > 0 {
			timeouts[vs.Name] = durationString(vs.Spec.Http[0].Timeout)
		}
		owners[vs.Labels[accessPointLabel]] = true
	}
	for _, dr := range drs.Items {
		owners[dr.Labels[accessPointLabel]] = true
	}
	return timeouts, owners, nil
}

// accessPointLabel marks the objects the member-agent applies; its value is
// <namespace>.<name> of the access point.
const accessPointLabel = "portico.dev/access-point"

func durationString(d *durationpb.Duration) string {
	if d == nil {
		return ""
	}
	return d.AsDuration().String()
}

// vsTimeout is the first route's timeout of a VirtualService template, as
// durationString prints it.
func vsTimeout(raw []byte) string {
	var vs struct {
		HTTP []struct {
			Timeout string `json:"timeout"`
		} `json:"http"`
	}
	if err := json.Unmarshal(raw, &vs); err != nil || len(vs.HTTP) == 0 {
		return ""
	}
	d, err := time.ParseDuration(vs.HTTP[0].Timeout)
	if err != nil {
		return vs.HTTP[0].Timeout
	}
	return d.String()
}

// everywhere says whether every member cluster has the VirtualService name
// with the timeout.
func (e *env) everywhere(name, timeout string) (bool, string) {
	want := timeout
	if d, err := time.ParseDuration(timeout); err == nil {
		want = d.String()
	}
	var state []string
	ok := true
	for _, m := range e.members {
		timeouts, _, err := m.probe(context.Background())
		if err != nil {
			return false, err.Error()
		}
		ok = ok && timeouts[name] == want
		state = append(state, fmt.Sprintf("%s: %q", m.name, timeouts[name]))
	}
	return ok, strings.Join(state, ", ")
}

// confirmHeldRemovals confirms, as an operator would, the mass removals the
// member-agents hold (PruneHeld): clients may delete most access points while
// an agent is down or cut off, and the agent then holds their removal. A hold
// naming an access point that exists is a bug, not something to confirm.
// It returns what it confirmed.
func (e *env) confirmHeldRemovals(ctx context.Context, want map[string]spec) ([]string, error) {
	l, err := e.pc.ClusterV1alpha1().MemberClusters().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var confirmed []string
	for _, mc := range l.Items {
		c := meta.FindStatusCondition(mc.Status.Conditions, clusterv1alpha1.MemberClusterPruneHeld)
		if c == nil || c.Status != metav1.ConditionTrue {
			continue
		}
		id := holdID(c.Message)
		if id == "" || mc.Annotations[confirmRemoval] == id {
			continue
		}
		for name := range want {
			if strings.Contains(c.Message, namespace+"."+name+",") || strings.Contains(c.Message, namespace+"."+name+")") {
				return nil, fmt.Errorf("%s holds the removal of %s, which exists: %s", mc.Name, name, c.Message)
			}
		}
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, confirmRemoval, id)
		if _, err := e.pc.ClusterV1alpha1().MemberClusters().Patch(ctx, mc.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			return nil, err
		}
		confirmed = append(confirmed, mc.Name+": "+c.Message)
	}
	return confirmed, nil
}

// confirmRemoval is the annotation that confirms a held removal
// (kubectl portico confirm-removal sets it).
const confirmRemoval = "cluster.portico.dev/confirm-removal"

// holdID reads the hold's ID from the PruneHeld message.
func holdID(message string) string {
	_, rest, ok := strings.Cut(message, confirmRemoval+"=")
	if !ok {
		return ""
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return !strings.ContainsRune("0123456789abcdef", r) })
	if end < 0 {
		end = len(rest)
	}
	return rest[:end]
}

// converged checks the end state against the model: acknowledged access
// points exist as written, are Ready (or, with a VIP and no edge node,
// applied everywhere with the VIP allocated and LoadBalancerReady False),
// and every member cluster has exactly their objects at their timeout;
// deleted ones, their ClusterAccessPoints and their VIPs are gone.
func (e *env) converged(ctx context.Context, m *model) (bool, string) {
	want, err := m.resolveAll(ctx, e.pc)
	if err != nil {
		return false, err.Error()
	}
	faps, err := e.pc.TrafficV1alpha1().FederatedAccessPoints(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, err.Error()
	}
	var problems []string
	have := map[string]*traffic.FederatedAccessPoint{}
	for i := range faps.Items {
		have[faps.Items[i].Name] = &faps.Items[i]
	}
	for name, s := range want {
		fap := have[name]
		if fap == nil {
			problems = append(problems, name+": missing")
			continue
		}
		if got := specOf(fap); got != s {
			problems = append(problems, fmt.Sprintf("%s: spec %+v, want %+v", name, got, s))
			continue
		}
		if why := notConverged(fap, len(e.members)); why != "" {
			problems = append(problems, name+": "+why)
		}
	}
	for name, fap := range have {
		if _, ok := want[name]; !ok && name != canary {
			problems = append(problems, fmt.Sprintf("%s: still exists (deleting: %t)", name, fap.DeletionTimestamp != nil))
		}
	}
	for _, mem := range e.members {
		timeouts, owners, err := mem.probe(ctx)
		if err != nil {
			return false, err.Error()
		}
		for name, s := range want {
			if timeouts[name] != s.timeout {
				problems = append(problems, fmt.Sprintf("%s in %s: VirtualService timeout %q, want %q", name, mem.name, timeouts[name], s.timeout))
			}
		}
		for owner := range owners {
			name := strings.TrimPrefix(owner, namespace+".")
			if _, ok := want[name]; !ok && name != canary {
				problems = append(problems, fmt.Sprintf("orphan in %s: objects of %s", mem.name, owner))
			}
		}
		caps, err := e.pc.TrafficV1alpha1().ClusterAccessPoints(clusterv1alpha1.ClusterNamespace(mem.name)).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, c := range caps.Items {
			name := strings.TrimPrefix(c.Name, namespace+".")
			if _, ok := want[name]; !ok && name != canary {
				problems = append(problems, fmt.Sprintf("orphan ClusterAccessPoint %s/%s", c.Namespace, c.Name))
			}
		}
	}
	vips, err := e.pc.TrafficV1alpha1().VirtualIPs().List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, err.Error()
	}
	held := map[string]bool{}
	for _, v := range vips.Items {
		if v.Spec.Owner == nil {
			continue
		}
		if s, ok := want[v.Spec.Owner.Name]; !ok || !s.lb {
			problems = append(problems, fmt.Sprintf("VirtualIP %s (%s) of %s, which has no load balancer", v.Name, v.Spec.Address, v.Spec.Owner.Name))
		}
		held[v.Spec.Owner.Name] = true
	}
	for name, s := range want {
		if s.lb && !held[name] {
			problems = append(problems, name+": no VirtualIP")
		}
	}
	if len(problems) > 8 {
		problems = append(problems[:8], fmt.Sprintf("and %d more", len(problems)-8))
	}
	return len(problems) == 0, strings.Join(problems, "; ")
}

// notConverged says why an access point is not at rest ("" when it is):
// observed, applied on every cluster at its revision, and Ready, except that
// an access point with a VIP cannot be Ready here (no edge node announces
// it), and must say so: LoadBalancerReady False.
func notConverged(fap *traffic.FederatedAccessPoint, clusters int) string {
	if fap.DeletionTimestamp != nil {
		return "deleting"
	}
	if fap.Status.ObservedGeneration != fap.Generation {
		return fmt.Sprintf("observed generation %d of %d", fap.Status.ObservedGeneration, fap.Generation)
	}
	if len(fap.Status.Clusters) != clusters {
		return fmt.Sprintf("%d clusters in status, want %d", len(fap.Status.Clusters), clusters)
	}
	for _, c := range fap.Status.Clusters {
		if c.Phase != traffic.ClusterPhaseApplied || c.ObservedRevision != fap.Status.Revision {
			return fmt.Sprintf("%s: %s at %s, want Applied at %s", c.Name, c.Phase, c.ObservedRevision, fap.Status.Revision)
		}
	}
	ready := meta.FindStatusCondition(fap.Status.Conditions, traffic.ConditionReady)
	if fap.Spec.LoadBalancer == nil {
		if ready == nil || ready.Status != metav1.ConditionTrue || ready.ObservedGeneration != fap.Generation {
			return fmt.Sprintf("not Ready: %v", ready)
		}
		return ""
	}
	if ready != nil && ready.Status == metav1.ConditionTrue {
		return "Ready although no edge node announces its VIP"
	}
	lb := meta.FindStatusCondition(fap.Status.Conditions, traffic.AccessPointLoadBalancerReady)
	if lb == nil || lb.Status != metav1.ConditionFalse || lb.ObservedGeneration != fap.Generation {
		return fmt.Sprintf("LoadBalancerReady %v, want False for this generation (no edge node)", lb)
	}
	alloc := meta.FindStatusCondition(fap.Status.Conditions, traffic.AccessPointVIPAllocated)
	if alloc == nil || alloc.Status != metav1.ConditionTrue {
		return fmt.Sprintf("VIPAllocated %v", alloc)
	}
	return ""
}
