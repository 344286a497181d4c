package controller

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/lb-agent/bgp"
	"github.com/portico-dev/portico/lb-agent/metrics"
)

// fieldManager names what the lb-agent writes.
const fieldManager = "lb-agent"

// lastSyncRefresh bounds how stale status.dataplane.lastSyncTime may get: it is
// rewritten when the counts change and otherwise at most this often, so that a
// periodic resync does not turn into a status write.
const lastSyncRefresh = 5 * time.Minute

// Condition reasons.
const (
	ReasonSynced            = "Synced"
	ReasonInvalidVirtualIPs = "InvalidVirtualIPs"
	ReasonSyncFailed        = "SyncFailed"
	ReasonGroupNotFound     = "GroupNotFound"
	ReasonEstablished       = "Established"
	ReasonNotEstablished    = "NotEstablished"
	ReasonNoPeers           = "NoPeers"
	ReasonBGPError          = "ConfigurationError"
	ReasonReady             = "Ready"
	ReasonDraining          = "Draining"
)

// Status writing happens off the synchronization path, with a timeout per call
// and retries with backoff, so a slow or unreachable hub never delays the
// dataplane or BGP.
const (
	hubTimeout     = 10 * time.Second
	statusRetryMin = time.Second
	statusRetryMax = 30 * time.Second
)

// publish hands obs to the status writer, replacing an observation it has not
// written yet.
func (c *Controller) publish(obs observed) {
	select {
	case <-c.latest:
	default:
	}
	c.latest <- obs
}

// writeStatus writes the latest observation until ctx is done.
func (c *Controller) writeStatus(ctx context.Context) {
	backoff := statusRetryMin
	for {
		var obs observed
		select {
		case <-ctx.Done():
			return
		case obs = <-c.latest:
		}
		for {
			wctx, cancel := context.WithTimeout(ctx, hubTimeout)
			err := c.report(wctx, obs)
			cancel()
			if err == nil || ctx.Err() != nil {
				backoff = statusRetryMin
				break
			}
			metrics.SyncErrors.WithLabelValues("status").Inc()
			klog.ErrorS(err, "Reporting the node's status; retrying", "after", backoff)
			select {
			case <-ctx.Done():
				return
			case obs = <-c.latest:
			case <-time.After(backoff):
				backoff = min(2*backoff, statusRetryMax)
			}
		}
	}
}

// report registers the node when needed and writes its status if it changed.
func (c *Controller) report(ctx context.Context, obs observed) error {
	node, err := c.ensureNode(ctx)
	if err != nil {
		return fmt.Errorf("registering LoadBalancerNode %s: %w", c.opts.Node, err)
	}
	if c.guard.learn(node.Annotations[clusterv1alpha1.AnnotationHubIdentity]) {
		c.requeue() // to keep the identity in the state file
	}
	status := c.nodeStatus(node, obs)
	if statusEqual(status, node.Status) {
		return nil
	}
	updated := *node
	updated.Status = clusterv1alpha1.LoadBalancerNodeStatus{} // replaced: not worth a copy
	updated = *updated.DeepCopy()
	updated.Status = status
	res, err := c.portico.ClusterV1alpha1().LoadBalancerNodes().UpdateStatus(ctx, &updated,
		metav1.UpdateOptions{FieldManager: fieldManager})
	if err != nil {
		c.node = nil // read it again next time
		return fmt.Errorf("updating the status of LoadBalancerNode %s: %w", c.opts.Node, err)
	}
	c.node = res
	return nil
}

// ensureNode returns the node's LoadBalancerNode, creating it or fixing its spec.
func (c *Controller) ensureNode(ctx context.Context) (*clusterv1alpha1.LoadBalancerNode, error) {
	spec := clusterv1alpha1.LoadBalancerNodeSpec{Group: c.opts.Group, Address: c.opts.Address.String()}
	if c.node != nil && c.node.Spec == spec {
		return c.node, nil
	}
	client := c.portico.ClusterV1alpha1().LoadBalancerNodes()
	node, err := client.Get(ctx, c.opts.Node, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		node, err = client.Create(ctx, &clusterv1alpha1.LoadBalancerNode{
			ObjectMeta: metav1.ObjectMeta{Name: c.opts.Node},
			Spec:       spec,
		}, metav1.CreateOptions{FieldManager: fieldManager})
	case err == nil && node.Spec != spec:
		node = node.DeepCopy()
		node.Spec = spec
		node, err = client.Update(ctx, node, metav1.UpdateOptions{FieldManager: fieldManager})
	}
	if apierrors.IsForbidden(err) {
		return nil, fmt.Errorf("%w (an edge node may only read and update its own LoadBalancerNode, which "+
			"`kubectl portico join-edge %s --group %s` creates with its identity)", err, c.opts.Node, c.opts.Group)
	}
	if err != nil {
		return nil, err
	}
	c.node = node
	return node, nil
}

// nodeStatus computes the status from what the last synchronization observed.
func (c *Controller) nodeStatus(node *clusterv1alpha1.LoadBalancerNode, obs observed) clusterv1alpha1.LoadBalancerNodeStatus {
	cur := node.Status
	cur.VIPs = nil // replaced: not worth a copy
	st := *cur.DeepCopy()
	st.ObservedGeneration = node.Generation
	st.BGP.Sessions = toSessions(obs.sessions)
	st.Announced = c.announcedStrings(obs.announced)
	if len(obs.vips) > 0 {
		st.VIPs = make([]clusterv1alpha1.VIPHealth, len(obs.vips))
		for i, v := range obs.vips {
			st.VIPs[i] = v.health
		}
	}
	if !obs.dataplaneSkipped {
		st.Dataplane = c.dataplaneStatus(st.Dataplane, obs)
		c.setCondition(&st, node, dataplaneCondition(obs))
		c.setCondition(&st, node, withdrawHeldCondition(obs.hold, c.opts.Node))
	}
	c.setCondition(&st, node, bgpCondition(obs.sessions, obs.bgpErr))
	c.setCondition(&st, node, readyCondition(st.Conditions, obs.draining))
	return st
}

func (c *Controller) setCondition(st *clusterv1alpha1.LoadBalancerNodeStatus, node *clusterv1alpha1.LoadBalancerNode, cond metav1.Condition) {
	cond.ObservedGeneration = node.Generation
	if len(cond.Message) > 1024 {
		cond.Message = cond.Message[:1021] + "..."
	}
	meta.SetStatusCondition(&st.Conditions, cond)
}

func (c *Controller) dataplaneStatus(cur clusterv1alpha1.DataplaneStatus, obs observed) clusterv1alpha1.DataplaneStatus {
	d := clusterv1alpha1.DataplaneStatus{
		Type:         c.opts.DataplaneType,
		Services:     int32(obs.dataplane.Services),
		Destinations: int32(obs.dataplane.Destinations),
		LastSyncTime: cur.LastSyncTime,
	}
	if obs.dataplaneErr != nil {
		return d
	}
	now := c.now().Truncate(time.Second)
	if d.LastSyncTime == nil || d.Services != cur.Services || d.Destinations != cur.Destinations ||
		now.Sub(d.LastSyncTime.Time) >= lastSyncRefresh {
		d.LastSyncTime = &metav1.Time{Time: now}
	}
	return d
}

func dataplaneCondition(obs observed) metav1.Condition {
	cond := metav1.Condition{Type: clusterv1alpha1.LoadBalancerNodeDataplaneReady, Status: metav1.ConditionTrue, Reason: ReasonSynced,
		Message: fmt.Sprintf("%d services, %d destinations", obs.dataplane.Services, obs.dataplane.Destinations)}
	switch {
	case obs.groupMissing:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, ReasonGroupNotFound, "the LoadBalancerGroup does not exist: serving nothing"
	case obs.dataplaneErr != nil:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, ReasonSyncFailed, obs.dataplaneErr.Error()
	case obs.modelErr != nil:
		cond.Reason, cond.Message = ReasonInvalidVirtualIPs, cond.Message+"; not served: "+obs.modelErr.Error()
	}
	return cond
}

func bgpCondition(sessions []bgp.Session, err error) metav1.Condition {
	cond := metav1.Condition{Type: clusterv1alpha1.LoadBalancerNodeBGPEstablished}
	var up int
	var down []string
	for _, s := range sessions {
		if s.State == bgp.Established {
			up++
		} else {
			down = append(down, s.Peer.String()+" "+s.State)
		}
	}
	switch {
	case err != nil:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, ReasonBGPError, err.Error()
	case len(sessions) == 0:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, ReasonNoPeers, "the LoadBalancerGroup lists no BGP peer"
	case len(down) == 0:
		cond.Status, cond.Reason = metav1.ConditionTrue, ReasonEstablished
		cond.Message = fmt.Sprintf("%d/%d sessions established", up, len(sessions))
	default:
		cond.Status, cond.Reason = metav1.ConditionFalse, ReasonNotEstablished
		cond.Message = fmt.Sprintf("%d/%d sessions established; %s", up, len(sessions), strings.Join(down, ", "))
	}
	return cond
}

// readyCondition: the dataplane is synchronized and every BGP session is up.
func readyCondition(conds []metav1.Condition, draining bool) metav1.Condition {
	cond := metav1.Condition{Type: clusterv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: ReasonReady,
		Message: "the dataplane is synchronized and every BGP session is established"}
	if draining {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, ReasonDraining, "the agent is stopping: announcements withdrawn"
		return cond
	}
	for _, t := range []string{clusterv1alpha1.LoadBalancerNodeDataplaneReady, clusterv1alpha1.LoadBalancerNodeBGPEstablished} {
		if sub := meta.FindStatusCondition(conds, t); sub == nil || sub.Status != metav1.ConditionTrue {
			cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, t+"NotTrue", t+" is not True"
			if sub != nil {
				cond.Reason, cond.Message = sub.Reason, t+": "+sub.Message
			}
			return cond
		}
	}
	return cond
}

// statusEqual tells whether a and b are the same status. The VIPs, which are
// most of it with thousands of VIPs, are compared field by field.
func statusEqual(a, b clusterv1alpha1.LoadBalancerNodeStatus) bool {
	if !slices.EqualFunc(a.VIPs, b.VIPs, vipHealthEqual) {
		return false
	}
	a.VIPs, b.VIPs = nil, nil
	return apiequality.Semantic.DeepEqual(a, b)
}

// vipHealthEqual compares every field of VIPHealth (TestVIPHealthEqualKnowsEveryField).
func vipHealthEqual(a, b clusterv1alpha1.VIPHealth) bool {
	return a.Address == b.Address && a.HealthyBackends == b.HealthyBackends &&
		slices.EqualFunc(a.Weights, b.Weights, func(x, y clusterv1alpha1.BackendWeight) bool {
			return x.Weight == y.Weight && slices.Equal(x.Backends, y.Backends)
		})
}

// announcedStrings is toStrings(announced), remembered for the slice last
// given: the controller replaces it only when the announcements change. The
// strings are shared with the statuses written: never modified.
func (c *Controller) announcedStrings(announced []netip.Addr) []string {
	if len(announced) != len(c.announcedFor) || (len(announced) > 0 && &announced[0] != &c.announcedFor[0]) {
		c.announcedFor, c.announcedStr = announced, toStrings(announced)
	}
	return c.announcedStr
}

func toSessions(in []bgp.Session) []clusterv1alpha1.BGPSession {
	var out []clusterv1alpha1.BGPSession
	for _, s := range in {
		since := metav1.NewTime(s.Since.Truncate(time.Second))
		out = append(out, clusterv1alpha1.BGPSession{Peer: s.Peer.String(), State: s.State, Since: &since})
	}
	return out
}

func toStrings(addrs []netip.Addr) []string {
	var out []string
	for _, a := range addrs {
		out = append(out, a.String())
	}
	slices.Sort(out)
	return out
}
