package accesspoint

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/klog/v2"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/traffic"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/apis/traffic/validation"
	"github.com/portico-dev/portico/federation/apstatus"
	"github.com/portico-dev/portico/federation/certsecret"
	"github.com/portico-dev/portico/federation/kubefed"
)

// plan is what one reconcile decided.
type plan struct {
	placed    []*clusterv1alpha1.MemberCluster
	follow    *followResult      // nil without spec.placement.follow
	conflicts map[string]string  // cluster -> why not rendered there
	cert      *certsecret.Stored // issued certificate, nil without spec.tls or before the first issue
	failures  map[string]string  // cluster -> rendering or write error
	// revs are the access point's revisions by number; target is the newest,
	// the spec's content.
	revs   map[int64]*trafficv1alpha1.AccessPointRevision
	target int64
	// hashes identify what each revision renders over all clusters (with
	// the current certificate and locality policy): the target's is
	// status.revision, and a cluster's observedRevision in the status is
	// the hash of the revision whose rendering its agent applied. A
	// ClusterAccessPoint carries a hash of its own cluster's manifests
	// instead (clusterRevision), so that a change that renders the same
	// manifests for a cluster leaves its ClusterAccessPoint as it is.
	hashes map[int64]string
	// revision is the target's hash, status.revision.
	revision string
	rollout  *rolloutDecision
	// assign is the revision each placed cluster is sent.
	assign   map[string]int64
	rendered map[renderKey]renderResult
	// gatewayNamespaces are the placed clusters' gateway namespaces, where
	// certificates are delivered.
	gatewayNamespaces map[string]string
	// locality is spec.locality over the placed clusters (nil: None). Like
	// the VIP, it follows the spec and the clusters' drains at once,
	// whatever revision a cluster is sent.
	locality *LocalityPolicy
	// leaving are clusters no longer placed that keep the access point until
	// the placed ones are healthy (makeBeforeBreak), and waitingFor the
	// placed clusters they wait for; both sorted.
	leaving, waitingFor []string
	// sent tells whether this sync wrote a ClusterAccessPoint.
	sent bool
}

type renderKey struct {
	revision int64
	cluster  string
}

type renderResult struct {
	manifests []trafficv1alpha1.JSONObject
	hash      string // ManifestsRevision of manifests
	err       error
}

// render renders revision n for a cluster, once per reconcile.
func (p *plan) render(fap *trafficv1alpha1.FederatedAccessPoint, n int64, cluster string) renderResult {
	k := renderKey{n, cluster}
	if r, ok := p.rendered[k]; ok {
		return r
	}
	var r renderResult
	if rev := p.revs[n]; rev == nil {
		r.err = fmt.Errorf("revision %d of the access point is gone", n)
	} else {
		r.manifests, r.err = RenderFor(withContent(fap, &rev.Spec.Content),
			Target{Cluster: cluster, GatewayNamespace: p.gatewayNamespaces[cluster], Locality: p.locality}, p.cert)
		r.hash = ManifestsRevision(r.manifests)
	}
	p.rendered[k] = r
	return r
}

// clusterRevision is the spec.revision of the cluster's ClusterAccessPoint
// on revision n: the hash of what n renders for that cluster. A cluster is on
// revision n when its ClusterAccessPoint carries it, whichever revision last
// changed what it renders; "" when n does not render there.
func (p *plan) clusterRevision(fap *trafficv1alpha1.FederatedAccessPoint, n int64, cluster string) string {
	if r := p.render(fap, n, cluster); r.err == nil {
		return r.hash
	}
	return ""
}

// heldRevision is the revision a cluster's ClusterAccessPoint holds: the
// target or the stable revision when it carries their rendering for the
// cluster (a revision that renders the same there leaves it as it was),
// else the one it was written for.
func (p *plan) heldRevision(fap *trafficv1alpha1.FederatedAccessPoint, cluster string, cap *trafficv1alpha1.ClusterAccessPoint) int64 {
	for _, n := range []int64{p.target, p.rollout.status.StableRevision} {
		if n > 0 && cap.Spec.Revision == p.clusterRevision(fap, n, cluster) {
			return n
		}
	}
	return cap.Spec.AccessPointRevision
}

func (c *Controller) reconcile(ctx context.Context, fap *trafficv1alpha1.FederatedAccessPoint) (time.Duration, error) {
	all, err := c.clusters.List(labels.Everything())
	if err != nil {
		return 0, err
	}
	p := &plan{cert: c.certificate(fap), failures: map[string]string{}, rendered: map[renderKey]renderResult{}}
	existing := c.rendered(fap)
	if p.placed, p.follow, err = c.place(fap, all, existing); err != nil {
		return 0, err
	}
	if p.follow != nil && p.follow.err != nil && p.follow.err.Reason == kubefed.ReasonPending {
		// The hub's cache of the followed kind is filling (it just started,
		// or the kind was just followed): change nothing until it is full.
		return followPendingRetry, nil
	}
	p.conflicts = c.hostConflicts(fap, p.placed, all)
	p.gatewayNamespaces = map[string]string{}
	var localities []Locality
	for _, mc := range p.placed {
		p.gatewayNamespaces[mc.Name] = certsecret.DeliveryNamespace(mc)
		localities = append(localities, Locality{Cluster: mc.Name, Region: mc.Spec.Region, Zone: mc.Spec.Zone, Drained: mc.Spec.Drain})
	}
	p.locality = NewLocalityPolicy(&fap.Spec, localities)
	p.revs = c.revisions(fap)
	var newRevision *trafficv1alpha1.AccessPointRevision // to create, the spec's new content
	p.target, newRevision = targetRevision(fap, p.revs)
	p.hashes = map[int64]string{}
	for n, rev := range p.revs {
		p.hashes[n] = withPolicy(Revision(&withContent(fap, &rev.Spec.Content).Spec, p.cert), p.locality)
	}
	p.revision = p.hashes[p.target]
	vip, failure, err := c.ensureVIP(ctx, fap, p)
	if err != nil {
		return 0, err
	}
	if p.rollout, err = c.decideRollout(fap, p, existing, vip); err != nil {
		return 0, err
	}
	p.assign = p.rollout.assign
	p.leaving, p.waitingFor = c.makeBeforeBreak(fap, p, existing, vip)
	if p.rollout.frozen {
		p.assign = map[string]int64{}
		for cluster, cap := range existing {
			p.assign[cluster] = p.heldRevision(fap, cluster, cap)
		}
		if err := c.createRevisionOf(ctx, p, newRevision, nil); err != nil {
			return 0, err
		}
	} else {
		// A new revision is created while its ClusterAccessPoints are
		// written, not before: a change reaches the clusters one write
		// sooner. Should the create fail, the sync fails and the next one
		// creates it again: the same content gets the same number, and a
		// newer one renders and writes its own. Nothing a cluster holds
		// depends on the revision object, only on what it renders.
		err := c.createRevisionOf(ctx, p, newRevision, func() { c.writeCAPs(ctx, fap, p, existing) })
		if err != nil {
			return 0, err
		}
		if err := c.pruneCAPs(ctx, fap, p, existing); err != nil {
			return 0, err
		}
	}
	if wait := c.holdStatus(fap, p); wait > 0 {
		return wait, nil
	}
	if err := c.updateStatus(ctx, fap, p, vip, failure); err != nil {
		return 0, err
	}
	inUse := map[int64]bool{p.target: true, p.rollout.status.StableRevision: true}
	for _, n := range p.assign {
		inUse[n] = true
	}
	if err := c.pruneRevisions(ctx, fap, p.revs, inUse); err != nil {
		return 0, err
	}
	if len(p.failures) > 0 {
		// Reported in status; retried with backoff.
		return 0, fmt.Errorf("rendering %s/%s: %s", fap.Namespace, fap.Name, joinSorted(p.failures))
	}
	return p.rollout.requeue, nil
}

// createRevisionOf creates rev (nil: none to create) while meanwhile runs (nil:
// nothing), and puts the created object in p.revs once both are done.
func (c *Controller) createRevisionOf(ctx context.Context, p *plan, rev *trafficv1alpha1.AccessPointRevision, meanwhile func()) error {
	if rev == nil {
		if meanwhile != nil {
			meanwhile()
		}
		return nil
	}
	var created *trafficv1alpha1.AccessPointRevision
	var err error
	var wg sync.WaitGroup
	wg.Go(func() { created, err = c.createRevision(ctx, rev) })
	if meanwhile != nil {
		meanwhile()
	}
	wg.Wait()
	if err != nil {
		return err
	}
	p.revs[rev.Spec.Revision] = created
	return nil
}

// holdStatus tells how long to hold the status write back: after a sync sent
// the clusters a change, until every cluster it was sent to reported it, for
// at most the controller's statusHold from the first send. Agents usually
// report within tens of milliseconds, and the status is then written once
// ("Applied"), instead of "0 of 3 applied" first, which the sync that writes
// Applied would wait behind. Not under a Staged rollout (its status records
// its steps), nor when the sync met a failure or the rollout is frozen.
func (c *Controller) holdStatus(fap *trafficv1alpha1.FederatedAccessPoint, p *plan) time.Duration {
	key := fap.Namespace + "/" + fap.Name
	staged := fap.Spec.Rollout != nil && fap.Spec.Rollout.Strategy == trafficv1alpha1.RolloutStaged
	if c.statusHold <= 0 || len(p.failures) > 0 || p.rollout.frozen || staged {
		c.firstSent.Delete(key)
		return 0
	}
	now := c.now()
	v, ok := c.firstSent.Load(key)
	if !ok {
		if !p.sent {
			return 0
		}
		v, _ = c.firstSent.LoadOrStore(key, now)
	}
	left := v.(time.Time).Add(c.statusHold).Sub(now)
	if left <= 0 || c.allReported(fap, p) {
		c.firstSent.Delete(key)
		return 0
	}
	return left
}

// allReported tells whether the agent of every cluster that takes the access
// point (placed, available, no host conflict) reported its ClusterAccessPoint's
// current spec.
func (c *Controller) allReported(fap *trafficv1alpha1.FederatedAccessPoint, p *plan) bool {
	existing := c.rendered(fap)
	for _, mc := range p.placed {
		if _, conflict := p.conflicts[mc.Name]; conflict || !Available(mc) {
			continue
		}
		if cap := existing[mc.Name]; cap == nil || cap.Status.ObservedGeneration != cap.Generation {
			return false
		}
	}
	return true
}

// capWriters bounds the ClusterAccessPoint writes of one sync in flight at once.
const capWriters = 8

// writeCAPs writes the ClusterAccessPoints of the placed clusters that can take
// one (available, no host conflict), several at once: an update reaches every
// cluster after about one write's time, not one per cluster. Failures are
// recorded in p.failures.
func (c *Controller) writeCAPs(ctx context.Context, fap *trafficv1alpha1.FederatedAccessPoint, p *plan,
	existing map[string]*trafficv1alpha1.ClusterAccessPoint) {
	var clusters []string
	for _, mc := range p.placed {
		if _, conflict := p.conflicts[mc.Name]; conflict || !Available(mc) {
			continue // unavailable clusters keep what they had
		}
		// Render here, one at a time: the writers only read p.
		p.render(fap, p.assign[mc.Name], mc.Name)
		clusters = append(clusters, mc.Name)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	slots := make(chan struct{}, capWriters)
	for _, cluster := range clusters {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			wrote, err := c.writeCAP(ctx, fap, cluster, p, existing[cluster])
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				p.failures[cluster] = err.Error()
			}
			p.sent = p.sent || wrote
		})
	}
	wg.Wait()
}

// writeCAP creates or updates the cluster's ClusterAccessPoint, with the
// revision the rollout assigns it, when what it renders for the cluster
// changed. A new revision that renders the same manifests there writes
// nothing: spec.accessPointRevision stays the revision that last changed them.
func (c *Controller) writeCAP(ctx context.Context, fap *trafficv1alpha1.FederatedAccessPoint, cluster string, p *plan, cur *trafficv1alpha1.ClusterAccessPoint) (bool, error) {
	n := p.assign[cluster]
	r := p.render(fap, n, cluster)
	if r.err != nil {
		return false, r.err
	}
	spec := trafficv1alpha1.ClusterAccessPointSpec{
		AccessPointRef:      trafficv1alpha1.AccessPointReference{Namespace: fap.Namespace, Name: fap.Name, UID: fap.UID},
		AccessPointRevision: n, Revision: r.hash, Manifests: r.manifests,
	}
	caps := c.client.TrafficV1alpha1().ClusterAccessPoints(clusterv1alpha1.ClusterNamespace(cluster))
	if cur == nil {
		cap := &trafficv1alpha1.ClusterAccessPoint{ObjectMeta: metav1.ObjectMeta{Name: apstatus.CAPName(fap)}, Spec: spec}
		created, err := caps.Create(ctx, cap, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return false, fmt.Errorf("ClusterAccessPoint %s exists in %s but is not in the cache yet", cap.Name, cluster)
		}
		if err != nil {
			return false, err
		}
		c.capWrites.wrote(fap.Namespace+"/"+fap.Name, cluster, created, c.now())
		return true, nil
	}
	if cur.Spec.Revision == spec.Revision {
		spec.AccessPointRevision = cur.Spec.AccessPointRevision
	}
	if apiequality.Semantic.DeepEqual(cur.Spec, spec) {
		return false, nil
	}
	updated := cur.DeepCopy()
	updated.Spec = spec
	written, err := caps.Update(ctx, updated, metav1.UpdateOptions{})
	if err != nil {
		return false, err
	}
	c.capWrites.wrote(fap.Namespace+"/"+fap.Name, cluster, written, c.now())
	return true, nil
}

// pruneCAPs deletes the ClusterAccessPoints of clusters the access point no longer
// uses: no longer placed, or lost to a host conflict. Placed but unavailable
// clusters keep theirs.
func (c *Controller) pruneCAPs(ctx context.Context, fap *trafficv1alpha1.FederatedAccessPoint, p *plan, existing map[string]*trafficv1alpha1.ClusterAccessPoint) error {
	for cluster, cap := range existing {
		_, conflict := p.conflicts[cluster]
		placed := slices.ContainsFunc(p.placed, func(mc *clusterv1alpha1.MemberCluster) bool { return mc.Name == cluster })
		if placed && !conflict || slices.Contains(p.leaving, cluster) {
			continue
		}
		err := c.client.TrafficV1alpha1().ClusterAccessPoints(cap.Namespace).Delete(ctx, cap.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		c.capWrites.forget(fap.Namespace+"/"+fap.Name, cluster)
		klog.FromContext(ctx).Info("Removed access point from cluster", "accessPoint", fap.Namespace+"/"+fap.Name, "cluster", cluster)
	}
	return nil
}

// makeBeforeBreak: under a Staged rollout, the clusters an access point
// leaves (its followed object moved, its placement was edited) keep it until
// every placed cluster that can take it (available, no host conflict) is
// healthy on the target revision, so that a move never has fewer clusters
// serving in between. It returns those leaving clusters and the placed
// clusters they wait for, sorted; nothing when the rollout is not Staged or
// no placed cluster can take the access point.
func (c *Controller) makeBeforeBreak(fap *trafficv1alpha1.FederatedAccessPoint, p *plan,
	existing map[string]*trafficv1alpha1.ClusterAccessPoint, vip *trafficv1alpha1.VirtualIP) (leaving, waitingFor []string) {
	if fap.Spec.Rollout == nil || fap.Spec.Rollout.Strategy != trafficv1alpha1.RolloutStaged {
		return nil, nil
	}
	taking := 0
	for _, mc := range p.placed {
		if _, conflict := p.conflicts[mc.Name]; conflict || !Available(mc) {
			continue
		}
		taking++
		if !c.health(fap, p, mc, existing[mc.Name], vip).Healthy {
			waitingFor = append(waitingFor, mc.Name)
		}
	}
	if taking == 0 || len(waitingFor) == 0 {
		return nil, nil
	}
	for cluster := range existing {
		_, conflict := p.conflicts[cluster]
		if !conflict && !slices.ContainsFunc(p.placed, func(mc *clusterv1alpha1.MemberCluster) bool { return mc.Name == cluster }) {
			leaving = append(leaving, cluster)
		}
	}
	if len(leaving) == 0 {
		return nil, nil
	}
	slices.Sort(leaving)
	slices.Sort(waitingFor)
	return leaving, waitingFor
}

// hostConflicts finds the placed clusters where an older access point already
// claims one of this one's hosts. The older one (by creation, then by name) wins.
func (c *Controller) hostConflicts(fap *trafficv1alpha1.FederatedAccessPoint, placed, all []*clusterv1alpha1.MemberCluster) map[string]string {
	out := map[string]string{}
	others := c.sharingHosts(fap)
	sort.Slice(others, func(i, j int) bool { return older(others[i], others[j]) })
	for _, other := range others {
		if other.DeletionTimestamp != nil || !older(other, fap) {
			continue
		}
		host := sharedHost(fap.Spec.Hosts, other.Spec.Hosts)
		if host == "" {
			continue
		}
		theirs, _, err := c.place(other, all, c.rendered(other))
		if err != nil {
			continue
		}
		for _, mc := range placed {
			if _, done := out[mc.Name]; done {
				continue
			}
			if slices.ContainsFunc(theirs, func(t *clusterv1alpha1.MemberCluster) bool { return t.Name == mc.Name }) {
				out[mc.Name] = "host " + host + " is already claimed on this cluster by " + other.Namespace + "/" + other.Name
			}
		}
	}
	return out
}

func older(a, b *trafficv1alpha1.FederatedAccessPoint) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
}

// sharedHost is a host of a that overlaps one of b, with wildcard semantics
// (*.example.com and a.example.com overlap), "" when none does.
func sharedHost(a, b []string) string {
	for _, h := range a {
		for _, o := range b {
			if traffic.HostsOverlap(h, o) {
				return h
			}
		}
	}
	return ""
}

// ensureVIP holds the access point's VIP with backends from the agents' reports.
// A failure may come with the VIP the access point still holds (its pool is
// gone): status.vip keeps reporting that address, where the access point is
// still announced, and VIPAllocated says what is wrong.
func (c *Controller) ensureVIP(ctx context.Context, fap *trafficv1alpha1.FederatedAccessPoint, p *plan) (*trafficv1alpha1.VirtualIP, *vipFailure, error) {
	if fap.Spec.LoadBalancer == nil {
		return nil, nil, c.alloc.Release(ctx, fap)
	}
	vip, failure, err := c.alloc.Ensure(ctx, fap, c.backends(fap, p))
	if failure != nil {
		return vip, &vipFailure{Reason: failure.Reason, Message: failure.Message}, err
	}
	return vip, nil, err
}

type vipFailure struct{ Reason, Message string }

// backends are the ready gateway endpoints the placed clusters' agents report.
// An endpoint outside its cluster's spec.gatewayCIDRs (when set) is dropped: an
// agent may report only addresses its cluster's admin allowed.
func (c *Controller) backends(fap *trafficv1alpha1.FederatedAccessPoint, p *plan) []trafficv1alpha1.Backend {
	existing := c.rendered(fap)
	var drainedZones []string
	if cz := fap.Spec.LoadBalancer.CrossZone; cz != nil {
		drainedZones = cz.DrainedZones
	}
	var out []trafficv1alpha1.Backend
	var dropped []string
	for _, mc := range p.placed {
		cap := existing[mc.Name]
		if cap == nil {
			continue
		}
		allowed := gatewayPrefixes(mc)
		for _, ep := range cap.Status.Gateway.Endpoints {
			if !ep.Ready {
				continue
			}
			if !inPrefixes(ep.Address, allowed) {
				dropped = append(dropped, mc.Name+"/"+ep.Address)
				continue
			}
			out = append(out, trafficv1alpha1.Backend{Address: ep.Address, Cluster: mc.Name, Zone: mc.Spec.Zone,
				Drained: mc.Spec.Drain || slices.Contains(drainedZones, mc.Spec.Zone)})
		}
	}
	if len(dropped) > 0 {
		klog.V(2).InfoS("Gateway endpoints outside their cluster's spec.gatewayCIDRs are not VIP backends",
			"accessPoint", klog.KObj(fap), "dropped", dropped)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	if len(out) > validation.MaxBackends {
		// A VirtualIP holds at most MaxBackends: keep the first by address
		// rather than fail to update it at all.
		klog.Background().Info("Too many gateway endpoints for one VirtualIP; keeping the first by address",
			"accessPoint", fap.Namespace+"/"+fap.Name, "endpoints", len(out), "kept", validation.MaxBackends)
		out = out[:validation.MaxBackends]
	}
	return out
}

// gatewayPrefixes are a cluster's spec.gatewayCIDRs; nil when it sets none (every
// address is allowed). Validation keeps the list well formed; an entry that
// does not parse allows nothing.
func gatewayPrefixes(mc *clusterv1alpha1.MemberCluster) []netip.Prefix {
	if len(mc.Spec.GatewayCIDRs) == 0 {
		return nil
	}
	out := make([]netip.Prefix, 0, len(mc.Spec.GatewayCIDRs))
	for _, cidr := range mc.Spec.GatewayCIDRs {
		if p, err := netip.ParsePrefix(cidr); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// inPrefixes tells whether address lies in one of prefixes; nil prefixes allow
// every address, an address that does not parse is never allowed.
func inPrefixes(address string, prefixes []netip.Prefix) bool {
	if prefixes == nil {
		return true
	}
	addr, err := netip.ParseAddr(address)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	return slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Contains(addr) })
}

// cleanup deletes the ClusterAccessPoints, then, once they are gone, releases the
// VIP and removes the finalizer.
func (c *Controller) cleanup(ctx context.Context, fap *trafficv1alpha1.FederatedAccessPoint) error {
	if !slices.Contains(fap.Finalizers, Finalizer) {
		return nil
	}
	existing := c.rendered(fap)
	for cluster, cap := range existing {
		err := c.client.TrafficV1alpha1().ClusterAccessPoints(cap.Namespace).Delete(ctx, cap.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		c.capWrites.forget(fap.Namespace+"/"+fap.Name, cluster)
	}
	if len(existing) > 0 {
		return fmt.Errorf("waiting for %d ClusterAccessPoints of %s/%s to go away", len(existing), fap.Namespace, fap.Name)
	}
	// The garbage collector deletes the revisions by owner reference too; a
	// hub cluster without one still loses nothing.
	for _, rev := range c.revisions(fap) {
		err := c.client.TrafficV1alpha1().AccessPointRevisions(rev.Namespace).Delete(ctx, rev.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	if err := c.alloc.Release(ctx, fap); err != nil {
		return err
	}
	return c.setFinalizer(ctx, fap, false)
}

func (c *Controller) ensureFinalizer(ctx context.Context, fap *trafficv1alpha1.FederatedAccessPoint) error {
	if slices.Contains(fap.Finalizers, Finalizer) {
		return nil
	}
	return c.setFinalizer(ctx, fap, true)
}

func (c *Controller) setFinalizer(ctx context.Context, fap *trafficv1alpha1.FederatedAccessPoint, present bool) error {
	fap = fap.DeepCopy()
	fap.Finalizers = slices.DeleteFunc(fap.Finalizers, func(f string) bool { return f == Finalizer })
	if present {
		fap.Finalizers = append(fap.Finalizers, Finalizer)
	}
	updated, err := c.client.TrafficV1alpha1().FederatedAccessPoints(fap.Namespace).Update(ctx, fap, metav1.UpdateOptions{})
	if err == nil {
		c.wrote(updated)
	}
	return err
}

func joinSorted(m map[string]string) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, k+": "+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

// certificate returns the access point's issued certificate from its hub
// Secret, or nil.
func (c *Controller) certificate(fap *trafficv1alpha1.FederatedAccessPoint) *certsecret.Stored {
	if fap.Spec.TLS == nil || c.secrets == nil {
		return nil
	}
	s, err := c.secrets.Secrets(certsecret.SecretNamespace).Get(certsecret.SecretName(fap.Namespace, fap.Name))
	if err != nil {
		return nil
	}
	stored, err := certsecret.FromSecret(s)
	if err != nil {
		return nil
	}
	return stored
}
