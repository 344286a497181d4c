package plugin

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// newPorticoClient builds the Portico clientset of describe and status;
// tests replace it with a fake.
var newPorticoClient = func(cfg *rest.Config) (versioned.Interface, error) {
	return versioned.NewForConfig(cfg)
}

// nowFunc is the clock of describe and status; tests replace it.
var nowFunc = time.Now

// accessPointObjects is everything describe shows about one access point, as
// read from the hub. A nil object was not found; an error is kept where
// reading it failed otherwise, and shown in its place.
type accessPointObjects struct {
	AccessPoint *trafficv1alpha1.FederatedAccessPoint

	// VirtualIP named by status.vip.address.
	VirtualIP    *trafficv1alpha1.VirtualIP
	VirtualIPErr error
	// Nodes announcing the VIP or in one of its groups, by name.
	Nodes    []clusterv1alpha1.LoadBalancerNode
	NodesErr error
	// NameServices of the namespace that target the access point.
	NameServices    []trafficv1alpha1.NameService
	NameServicesErr error
	// ClusterAccessPoints by cluster name, and errors other than NotFound.
	ClusterAccessPoints    map[string]*trafficv1alpha1.ClusterAccessPoint
	ClusterAccessPointErrs map[string]error
	// MemberClusters by name.
	MemberClusters    map[string]*clusterv1alpha1.MemberCluster
	MemberClustersErr error
	// ReadAt is when the objects were read; ages are computed from it.
	ReadAt time.Time
}

// fetchAccessPoint reads the access point namespace/name and the objects it
// is made of. Only reading the access point itself can fail it.
func fetchAccessPoint(ctx context.Context, c versioned.Interface, namespace, name string) (*accessPointObjects, error) {
	fap, err := c.TrafficV1alpha1().FederatedAccessPoints(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	o := &accessPointObjects{AccessPoint: fap, ReadAt: nowFunc()}
	o.fetchVIP(ctx, c)
	o.fetchNameServices(ctx, c)
	o.fetchClusters(ctx, c)
	return o, nil
}

func (o *accessPointObjects) fetchVIP(ctx context.Context, c versioned.Interface) {
	fap := o.AccessPoint
	if fap.Spec.LoadBalancer == nil || fap.Status.VIP == nil || fap.Status.VIP.Address == "" {
		return
	}
	vip, err := c.TrafficV1alpha1().VirtualIPs().Get(ctx, fap.Status.VIP.Address, metav1.GetOptions{})
	switch {
	case err == nil:
		o.VirtualIP = vip
	case !apierrors.IsNotFound(err):
		o.VirtualIPErr = err
	}
	nodes, err := c.ClusterV1alpha1().LoadBalancerNodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		o.NodesErr = err
		return
	}
	var groups []string
	if vip != nil {
		groups = vip.Spec.Groups
	}
	for _, n := range nodes.Items {
		if slices.Contains(fap.Status.VIP.AnnouncedBy, n.Name) || slices.Contains(groups, n.Spec.Group) {
			o.Nodes = append(o.Nodes, n)
		}
	}
	slices.SortFunc(o.Nodes, func(a, b clusterv1alpha1.LoadBalancerNode) int { return strings.Compare(a.Name, b.Name) })
}

func (o *accessPointObjects) fetchNameServices(ctx context.Context, c versioned.Interface) {
	fap := o.AccessPoint
	list, err := c.TrafficV1alpha1().NameServices(fap.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		o.NameServicesErr = err
		return
	}
	for _, ns := range list.Items {
		if ref := ns.Spec.Target.AccessPointRef; ref != nil && ref.Name == fap.Name {
			o.NameServices = append(o.NameServices, ns)
		}
	}
	slices.SortFunc(o.NameServices, func(a, b trafficv1alpha1.NameService) int {
		return strings.Compare(a.Spec.FQDN+"/"+a.Name, b.Spec.FQDN+"/"+b.Name)
	})
}

func (o *accessPointObjects) fetchClusters(ctx context.Context, c versioned.Interface) {
	fap := o.AccessPoint
	o.ClusterAccessPoints = map[string]*trafficv1alpha1.ClusterAccessPoint{}
	o.ClusterAccessPointErrs = map[string]error{}
	for _, s := range fap.Status.Clusters {
		capName := fap.Namespace + "." + fap.Name
		cap, err := c.TrafficV1alpha1().ClusterAccessPoints(clusterv1alpha1.ClusterNamespace(s.Name)).Get(ctx, capName, metav1.GetOptions{})
		switch {
		case err == nil:
			o.ClusterAccessPoints[s.Name] = cap
		case !apierrors.IsNotFound(err):
			o.ClusterAccessPointErrs[s.Name] = err
		}
	}
	if len(fap.Status.Clusters) == 0 {
		return
	}
	mcs, err := c.ClusterV1alpha1().MemberClusters().List(ctx, metav1.ListOptions{})
	if err != nil {
		o.MemberClustersErr = err
		return
	}
	o.MemberClusters = map[string]*clusterv1alpha1.MemberCluster{}
	for i := range mcs.Items {
		o.MemberClusters[mcs.Items[i].Name] = &mcs.Items[i]
	}
}

// Reasons describe shows for what is missing or unreadable.
const (
	reasonNotFound      = "NotFound"
	reasonUnreadable    = "Unreadable"
	reasonPending       = "Pending"
	reasonNotReconciled = "NotReconciled"
	reasonNotAnnouncing = "NotAnnouncing"
	reasonApplied       = "Applied"
	reasonNotApplied    = "NotApplied"
)

// buildAccessPointTree is the full tree of an access point: the access point
// (its Ready condition), its VIP and the LoadBalancerNodes, its certificate,
// its DNS names, and its clusters with their ClusterAccessPoints and objects.
// Every condition is a child of its object; Collapse makes the default view.
func buildAccessPointTree(o *accessPointObjects) *Node {
	fap := o.AccessPoint
	root := &Node{Kind: "FederatedAccessPoint", Name: fap.Name, Label: "FederatedAccessPoint/" + fap.Namespace + "/" + fap.Name}
	setFromCondition(root, fap.Status.Conditions, trafficv1alpha1.ConditionReady, reasonNotReconciled,
		"portico-hub has not reported a status yet")
	if root.OK() {
		root.Message = ""
	}
	if g := fap.Status.ObservedGeneration; g != 0 && g < fap.Generation {
		root.Message = joinMessages(root.Message, fmt.Sprintf("status is of generation %d, the spec is at %d: portico-hub is catching up", g, fap.Generation))
	}
	// Every other condition of the access point is the state of one of the
	// rows below: show them only with --show-all.
	for _, c := range conditionNodes(fap.Status.Conditions, trafficv1alpha1.ConditionReady) {
		c.Role = RoleShownElsewhere
		root.Children = append(root.Children, c)
	}
	if fap.Spec.LoadBalancer != nil {
		root.Children = append(root.Children, vipNode(o))
	}
	if fap.Spec.TLS != nil {
		root.Children = append(root.Children, certificateNode(fap))
	}
	root.Children = append(root.Children, dnsNodes(o)...)
	if n := rolloutNode(o); n != nil {
		root.Children = append(root.Children, n)
	}
	root.Children = append(root.Children, clustersNode(o))
	return root
}

// setFromCondition copies condition typ of conds into n, or makes n Unknown
// with reason and message when there is none.
func setFromCondition(n *Node, conds []metav1.Condition, typ, reason, message string) {
	c := meta.FindStatusCondition(conds, typ)
	if c == nil {
		n.Status, n.Reason, n.Message = metav1.ConditionUnknown, reason, message
		return
	}
	since := c.LastTransitionTime
	n.Status, n.Reason, n.Message, n.Since = c.Status, c.Reason, c.Message, &since
}

// conditionNodes are rows of conds, without those of the types in skip.
func conditionNodes(conds []metav1.Condition, skip ...string) []*Node {
	var out []*Node
	for _, c := range conds {
		if !slices.Contains(skip, c.Type) {
			out = append(out, conditionNode(c, negativePolarity(c.Type)))
		}
	}
	return out
}

// negativePolarity tells the conditions that are fine when False.
func negativePolarity(conditionType string) bool {
	return conditionType == trafficv1alpha1.ClusterAccessPointDegraded || conditionType == clusterv1alpha1.MemberClusterCredentialExpiring ||
		conditionType == clusterv1alpha1.MemberClusterPruneHeld || conditionType == clusterv1alpha1.LoadBalancerNodeWithdrawHeld
}

// plural is "1 thing" or "n things".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

func joinMessages(a, b string) string {
	if a == "" || b == "" {
		return a + b
	}
	return a + "; " + b
}

// vipNode is the VirtualIP row: its state is the access point's
// LoadBalancerReady (VIPAllocated while that is not True); below it the
// VirtualIP's conditions and the LoadBalancerNodes.
func vipNode(o *accessPointObjects) *Node {
	fap := o.AccessPoint
	status := fap.Status.VIP
	if status == nil {
		status = &trafficv1alpha1.VIPStatus{Pool: fap.Spec.LoadBalancer.Pool}
	}
	n := &Node{Kind: "VirtualIP", Name: status.Address, Label: fmt.Sprintf("VirtualIP %s (pool %s)", status.Address, status.Pool)}
	if status.Address == "" {
		n.Label = fmt.Sprintf("VirtualIP <none> (pool %s)", fap.Spec.LoadBalancer.Pool)
		setFromCondition(n, fap.Status.Conditions, trafficv1alpha1.AccessPointVIPAllocated, reasonPending, "no address allocated yet")
		return n
	}
	if c := meta.FindStatusCondition(fap.Status.Conditions, trafficv1alpha1.AccessPointVIPAllocated); c != nil && c.Status != metav1.ConditionTrue {
		setFromCondition(n, fap.Status.Conditions, trafficv1alpha1.AccessPointVIPAllocated, "", "")
	} else {
		setFromCondition(n, fap.Status.Conditions, trafficv1alpha1.AccessPointLoadBalancerReady, reasonPending,
			"portico-hub has not reported the load balancer yet")
	}
	if n.OK() {
		n.Message = fmt.Sprintf("announced by %s; %d/%d backends healthy",
			listNames(status.AnnouncedBy, groupNamesShown), status.HealthyBackends, status.TotalBackends)
		for _, z := range status.Zones {
			if z.DrainedBackends > 0 {
				n.Message += fmt.Sprintf("; %s: %d/%d backends drained", z.Zone, z.DrainedBackends, z.Backends)
			}
		}
	}
	switch {
	case o.VirtualIPErr != nil:
		n.Children = append(n.Children, unreadableNode("VirtualIP", status.Address, o.VirtualIPErr))
	case o.VirtualIP == nil:
		n.Status, n.Reason = metav1.ConditionFalse, reasonNotFound
		n.Message = "the VirtualIP " + status.Address + " named by status.vip does not exist"
	default:
		n.Children = append(n.Children, conditionNodes(o.VirtualIP.Status.Conditions)...)
	}
	n.Children = append(n.Children, loadBalancerNodes(o, status)...)
	return n
}

// loadBalancerNodes are the rows of the nodes announcing the VIP or in its
// groups, and of announcing nodes that do not exist.
func loadBalancerNodes(o *accessPointObjects, status *trafficv1alpha1.VIPStatus) []*Node {
	if o.NodesErr != nil {
		return []*Node{unreadableNode("LoadBalancerNodes", "", o.NodesErr)}
	}
	var out []*Node
	for i := range o.Nodes {
		out = append(out, nodeNode(&o.Nodes[i], status))
	}
	for _, name := range status.AnnouncedBy {
		if !slices.ContainsFunc(o.Nodes, func(n clusterv1alpha1.LoadBalancerNode) bool { return n.Name == name }) {
			out = append(out, &Node{Kind: "LoadBalancerNode", Name: name, Label: "LoadBalancerNode " + name,
				Role: RoleDetail, Status: metav1.ConditionFalse, Reason: reasonNotFound, Message: "announces the VIP but does not exist"})
		}
	}
	return out
}

func appendChild(n, child *Node) *Node {
	n.Children = append(n.Children, child)
	return n
}

func unreadableNode(kind, name string, err error) *Node {
	return &Node{Kind: kind, Name: name, Label: strings.TrimSpace(kind + " " + name), Role: RoleDetail,
		Status: metav1.ConditionUnknown, Reason: reasonUnreadable, Message: err.Error()}
}

// nodeNode is a LoadBalancerNode row: its Ready condition, and whether it
// announces the VIP.
func nodeNode(lbn *clusterv1alpha1.LoadBalancerNode, vip *trafficv1alpha1.VIPStatus) *Node {
	n := &Node{Kind: "LoadBalancerNode", Name: lbn.Name, Label: fmt.Sprintf("LoadBalancerNode %s (group %s)", lbn.Name, lbn.Spec.Group),
		Role: RoleObject}
	setFromCondition(n, lbn.Status.Conditions, clusterv1alpha1.ConditionReady, reasonPending, "its lb-agent has not reported yet")
	announces := slices.Contains(vip.AnnouncedBy, lbn.Name)
	switch {
	case n.OK() && !announces:
		n.Status, n.Reason = metav1.ConditionUnknown, reasonNotAnnouncing
		n.Message = "Ready, but does not announce " + vip.Address
	case n.OK():
		n.Message = "announces " + vip.Address
		if i := slices.IndexFunc(lbn.Status.VIPs, func(h clusterv1alpha1.VIPHealth) bool { return h.Address == vip.Address }); i >= 0 {
			n.Message += fmt.Sprintf("; sees %d healthy backends", lbn.Status.VIPs[i].HealthyBackends)
			var weights []string
			for _, w := range lbn.Status.VIPs[i].Weights {
				weights = append(weights, fmt.Sprintf("%d×%d", w.Weight, len(w.Backends)))
			}
			if len(weights) > 0 {
				n.Message += "; weights " + strings.Join(weights, " ")
			}
		}
	}
	n.Children = conditionNodes(lbn.Status.Conditions, clusterv1alpha1.ConditionReady)
	return n
}

// serialShown is how many hex digits of a serial the collapsed view shows.
const serialShown = 8

// certificateNode is the certificate row: the access point's
// CertificateReady, and the issued version.
func certificateNode(fap *trafficv1alpha1.FederatedAccessPoint) *Node {
	issuer := fap.Spec.TLS.IssuerRef.Name
	n := &Node{Kind: "Certificate", Label: fmt.Sprintf("Certificate (%s)", issuer)}
	cert := fap.Status.Certificate
	if cert == nil || cert.Version == 0 {
		setFromCondition(n, fap.Status.Conditions, trafficv1alpha1.AccessPointCertificateReady, reasonPending, "no certificate issued yet")
		return n
	}
	setFromCondition(n, fap.Status.Conditions, trafficv1alpha1.AccessPointCertificateReady, reasonPending, "")
	n.Name = fmt.Sprintf("v%d", cert.Version)
	n.Label = fmt.Sprintf("Certificate v%d serial %s (%s)", cert.Version, cert.Serial, issuer)
	if len(cert.Serial) > serialShown {
		n.ShortLabel = fmt.Sprintf("Certificate v%d serial %s… (%s)", cert.Version, cert.Serial[:serialShown], issuer)
	}
	info := certificateInfo(fap, cert)
	if n.OK() {
		n.Message = info
	} else {
		n.Message = joinMessages(n.Message, fmt.Sprintf("current: v%d, %s", cert.Version, info))
	}
	return n
}

// certificateInfo says when cert expires and where it is installed.
func certificateInfo(fap *trafficv1alpha1.FederatedAccessPoint, cert *trafficv1alpha1.CertificateStatus) string {
	var parts []string
	if cert.NotAfter != nil {
		parts = append(parts, "expires "+cert.NotAfter.UTC().Format("2006-01-02"))
	}
	installed := slices.Sorted(slices.Values(cert.InstalledClusters))
	if len(installed) > 0 {
		parts = append(parts, "installed on "+listNames(installed, groupNamesShown))
	}
	var missing []string
	for _, s := range fap.Status.Clusters {
		if !slices.Contains(installed, s.Name) {
			missing = append(missing, s.Name)
		}
	}
	if len(missing) > 0 {
		parts = append(parts, "not yet on "+listNames(missing, groupNamesShown))
	}
	return strings.Join(parts, "; ")
}

// dnsNodes are one row per NameService publishing the access point (or, when
// they cannot be read, one from status.dns).
func dnsNodes(o *accessPointObjects) []*Node {
	fap := o.AccessPoint
	if o.NameServicesErr != nil {
		if fap.Status.DNS == nil {
			return []*Node{unreadableNode("NameServices", "", o.NameServicesErr)}
		}
		n := &Node{Kind: "DNS", Label: fmt.Sprintf("DNS %s (%s)", strings.Join(fap.Status.DNS.FQDNs, ", "), fap.Status.DNS.Provider)}
		setFromCondition(n, fap.Status.Conditions, trafficv1alpha1.AccessPointDNSReady, reasonPending, "")
		return []*Node{n, unreadableNode("NameServices", "", o.NameServicesErr)}
	}
	var out []*Node
	for i := range o.NameServices {
		out = append(out, nameServiceNode(&o.NameServices[i]))
	}
	return out
}

func nameServiceNode(ns *trafficv1alpha1.NameService) *Node {
	n := &Node{Kind: "DNS", Name: ns.Spec.FQDN, Label: fmt.Sprintf("DNS %s (%s)", ns.Spec.FQDN, ns.Spec.ProviderRef.Name)}
	setFromCondition(n, ns.Status.Conditions, trafficv1alpha1.NameServicePublished, reasonPending, "not published yet")
	if n.OK() {
		var records []string
		for _, r := range ns.Status.Records {
			records = append(records, r.Type+" "+r.Value)
		}
		n.Message = strings.Join(records, ", ")
	}
	n.Children = conditionNodes(ns.Status.Conditions, trafficv1alpha1.NameServicePublished)
	return n
}

// clustersNode is the Clusters row (Placed while not True, else Applied) and
// a row per placed cluster.
func clustersNode(o *accessPointObjects) *Node {
	fap := o.AccessPoint
	n := &Node{Kind: "Clusters", Label: "Clusters"}
	if c := meta.FindStatusCondition(fap.Status.Conditions, trafficv1alpha1.AccessPointPlaced); c != nil && c.Status != metav1.ConditionTrue {
		setFromCondition(n, fap.Status.Conditions, trafficv1alpha1.AccessPointPlaced, "", "")
	} else {
		setFromCondition(n, fap.Status.Conditions, trafficv1alpha1.AccessPointApplied, reasonPending, "no cluster placed yet")
	}
	if o.MemberClustersErr != nil {
		n.Children = append(n.Children, unreadableNode("MemberClusters", "", o.MemberClustersErr))
	}
	clusters := slices.Clone(fap.Status.Clusters)
	slices.SortFunc(clusters, func(a, b trafficv1alpha1.ClusterStatus) int { return strings.Compare(a.Name, b.Name) })
	for i := range clusters {
		n.Children = append(n.Children, clusterNode(o, &clusters[i]))
	}
	return n
}

// clusterNode is one placed cluster: its phase, below it the MemberCluster's
// conditions and the ClusterAccessPoint.
func clusterNode(o *accessPointObjects, s *trafficv1alpha1.ClusterStatus) *Node {
	n := &Node{Kind: "MemberCluster", Name: s.Name, Label: "MemberCluster " + s.Name,
		Reason: s.Phase, Since: s.LastTransitionTime, Message: s.Message}
	if s.Zone != "" {
		n.Label += " (" + s.Zone + ")"
	}
	switch s.Phase {
	case trafficv1alpha1.ClusterPhaseApplied:
		n.Status = metav1.ConditionTrue
	case trafficv1alpha1.ClusterPhaseFailed, trafficv1alpha1.ClusterPhaseUnavailable:
		n.Status = metav1.ConditionFalse
	default:
		n.Status = metav1.ConditionUnknown
	}
	counts := fmt.Sprintf("%d/%d objects, %s", s.Objects.Applied, s.Objects.Total, plural(int(s.GatewayEndpoints), "gateway endpoint"))
	if n.OK() || n.Message == "" {
		n.Message = counts
	}
	n.Message = joinMessages(clusterRevisionText(o.AccessPoint.Status.Rollout, s), n.Message)
	mc := o.MemberClusters[s.Name]
	switch {
	case mc != nil:
		if s.Phase == trafficv1alpha1.ClusterPhaseUnavailable && mc.Status.Agent.LastHeartbeatTime != nil {
			n.Message = joinMessages(n.Message, "last heartbeat "+since(mc.Status.Agent.LastHeartbeatTime, o.ReadAt)+" ago")
		}
		n.Children = conditionNodes(mc.Status.Conditions)
	case o.MemberClusters != nil:
		n.Children = append(n.Children, &Node{Kind: "MemberCluster", Name: s.Name, Label: "MemberCluster " + s.Name, Role: RoleDetail,
			Status: metav1.ConditionFalse, Reason: reasonNotFound, Message: "the MemberCluster no longer exists"})
	}
	return appendChild(n, clusterAccessPointNode(o, s.Name))
}

// clusterRevisionText is the revision a cluster is sent, and the target
// while that is another: "revision 3 (target 4)". Empty before portico-hub
// numbers revisions.
func clusterRevisionText(ro *trafficv1alpha1.RolloutStatus, s *trafficv1alpha1.ClusterStatus) string {
	switch {
	case s.Revision == 0:
		return ""
	case ro != nil && ro.Revision != 0 && ro.Revision != s.Revision:
		return fmt.Sprintf("revision %d (target %d)", s.Revision, ro.Revision)
	}
	return fmt.Sprintf("revision %d", s.Revision)
}

// clusterAccessPointNode is the cluster's slice of the access point and its
// objects as the cluster's agent reported them.
func clusterAccessPointNode(o *accessPointObjects, cluster string) *Node {
	fap := o.AccessPoint
	ns, name := clusterv1alpha1.ClusterNamespace(cluster), fap.Namespace+"."+fap.Name
	n := &Node{Kind: "ClusterAccessPoint", Name: ns + "/" + name, Label: "ClusterAccessPoint " + ns + "/" + name, Role: RoleDetail}
	if err := o.ClusterAccessPointErrs[cluster]; err != nil {
		n.Status, n.Reason, n.Message = metav1.ConditionUnknown, reasonUnreadable, err.Error()
		return n
	}
	cap := o.ClusterAccessPoints[cluster]
	if cap == nil {
		n.Status, n.Reason = metav1.ConditionFalse, reasonNotFound
		n.Message = "portico-hub has not written the cluster's slice of the access point"
		return n
	}
	setFromCondition(n, cap.Status.Conditions, trafficv1alpha1.ClusterAccessPointApplied, reasonPending, "the cluster's agent has not reported yet")
	if n.OK() {
		n.Message = fmt.Sprintf("revision %s, %d objects", cap.Status.ObservedRevision, len(cap.Status.Objects))
	}
	n.Children = conditionNodes(cap.Status.Conditions, trafficv1alpha1.ClusterAccessPointApplied)
	for _, obj := range cap.Status.Objects {
		n.Children = append(n.Children, objectNode(obj))
	}
	return n
}

func objectNode(obj trafficv1alpha1.ObjectStatus) *Node {
	name := obj.Name
	if obj.Namespace != "" {
		name = obj.Namespace + "/" + obj.Name
	}
	n := &Node{Kind: obj.Kind, Name: name, Label: obj.Kind + " " + name, Role: RoleObject,
		Status: metav1.ConditionTrue, Reason: reasonApplied, Message: obj.Message}
	if !obj.Applied {
		n.Status, n.Reason = metav1.ConditionFalse, reasonNotApplied
	}
	return n
}

// describeKinds are the accepted spellings of the kind.
var describeKinds = []string{
	"fap", "faps", "federatedaccesspoint", "federatedaccesspoints",
	"federatedaccesspoint.traffic.portico.dev", "federatedaccesspoints.traffic.portico.dev",
}

const describeForms = "fap NAME, fap/NAME, federatedaccesspoint NAME or federatedaccesspoints NAME"

// parseDescribeArgs returns the access point names of `describe KIND NAME...`
// or `describe KIND/NAME...`.
func parseDescribeArgs(args []string) ([]string, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("describe needs an access point: %s (see --help)", describeForms)
	}
	isKind := func(s string) bool { return slices.Contains(describeKinds, strings.ToLower(s)) }
	if !strings.Contains(args[0], "/") {
		if !isKind(args[0]) {
			return nil, fmt.Errorf("describe shows FederatedAccessPoints only: %s; not %q", describeForms, args[0])
		}
		if len(args) == 1 {
			return nil, fmt.Errorf("describe %s needs the access point's NAME: %s", args[0], describeForms)
		}
		for _, a := range args[1:] {
			if strings.Contains(a, "/") {
				return nil, fmt.Errorf("%q: give either KIND NAME... or KIND/NAME..., not both", a)
			}
		}
		return args[1:], nil
	}
	var names []string
	for _, a := range args {
		kind, name, _ := strings.Cut(a, "/")
		if !isKind(kind) || name == "" || strings.Contains(name, "/") {
			return nil, fmt.Errorf("describe shows FederatedAccessPoints only: %s; not %q", describeForms, a)
		}
		names = append(names, name)
	}
	return names, nil
}

type describeFlags struct {
	namespace string
	showAll   bool
	color     string
}

func newDescribeCommand(streams IOStreams, kf *kubeFlags) *cobra.Command {
	f := &describeFlags{}
	cmd := &cobra.Command{
		Use:   "describe fap NAME [NAME...]",
		Short: "Show an access point and everything it is made of, as a tree",
		Long: `Show a FederatedAccessPoint and everything it is made of as a tree, in the
style of clusterctl describe cluster, with one row per part:

  FederatedAccessPoint  its Ready condition (a status older than the spec is
                        pointed out);
  VirtualIP             its address and pool (spec.loadBalancer), with the
                        access point's LoadBalancerReady condition (VIPAllocated
                        while no address is allocated), the LoadBalancerNodes
                        announcing it and healthy backends; below it the
                        LoadBalancerNodes announcing it or in its groups;
  Certificate           the issued version, serial and issuer (spec.tls), with
                        CertificateReady, expiry and the clusters it is
                        installed on;
  DNS                   one row per NameService of the namespace that targets
                        the access point (spec.target.accessPointRef), with its
                        Published condition and records;
  Rollout               the revision being rolled out and the stable one
                        (status.rollout) and the strategy, with the RolledOut
                        condition, the stage the rollout is at and how many
                        clusters run the revision; with the Staged strategy
                        one row per stage: the clusters it takes, whether it
                        waits for approval, its soak time, and its state
                        (True Done, the phase of the current stage, Pending),
                        below it who approved it and when;
  Clusters              the Placed condition (while not True) or Applied, and
                        one row per placed cluster: its phase (True Applied;
                        Unknown Pending or Applying; False Failed or
                        Unavailable), the revision it is sent (and the target
                        while that is another), applied objects and gateway
                        endpoints; below it the cluster's ClusterAccessPoint
                        (portico-cluster-CLUSTER/NAMESPACE.NAME) and the
                        objects its agent applied.

Parts that do not apply are left out (no VirtualIP row without
spec.loadBalancer, no Certificate row without spec.tls, no DNS row without a
NameService, no Rollout row without spec.rollout or status.rollout); parts
that should exist but do not are shown as NotFound, and parts that cannot be
read as Unreadable.

Columns: READY is the row's condition (True, False, Unknown), REASON its
reason, SINCE the time since its last transition and MESSAGE its message; a
row whose condition is True shows a summary instead.

By default the tree shows the access point, its VirtualIP and each
LoadBalancerNode of its groups, the certificate, the DNS names, and each
placed cluster with its ClusterAccessPoint and the state of every object the
cluster's agent applied; conditions that are fine are left out. What is not
fine is always shown, with its reason and message. --show-all adds every
condition (rows "Condition TYPE").

READY is coloured (green good, red bad, yellow Unknown) when stdout is a
terminal; --color=always or never overrides that, and $NO_COLOR turns it off.`,
		Example: `  # The access point checkout of namespace shop:
  kubectl portico describe fap checkout -n shop

  # The same, every object and condition:
  kubectl portico describe federatedaccesspoint/checkout -n shop --show-all

  # For a file or a pager, with colours:
  kubectl portico describe fap checkout -n shop --color=always | less -R`,
		RunE: func(cmd *cobra.Command, args []string) error {
			names, err := parseDescribeArgs(args)
			if err != nil {
				return err
			}
			return runDescribe(cmd.Context(), streams, kf, f, names)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&f.namespace, "namespace", "n", "", "Namespace of the access point (default: the kubeconfig context's namespace).")
	fs.BoolVar(&f.showAll, "show-all", false, "Show every object and every condition instead of collapsing what is fine.")
	fs.StringVar(&f.color, "color", ColorAuto, "Colour the READY column: auto (when stdout is a terminal), always or never.")
	return cmd
}

func runDescribe(ctx context.Context, streams IOStreams, kf *kubeFlags, f *describeFlags, names []string) error {
	color, err := useColor(f.color, streams.Out)
	if err != nil {
		return err
	}
	client, namespace, err := porticoClient(kf, f.namespace)
	if err != nil {
		return err
	}
	var failed []string
	for i, name := range names {
		o, err := fetchAccessPoint(ctx, client, namespace, name)
		if err != nil {
			fmt.Fprintf(streams.ErrOut, "error: %v\n", notFoundHint(err, namespace))
			failed = append(failed, name)
			continue
		}
		if i > 0 {
			fmt.Fprintln(streams.Out)
		}
		if err := describe(streams.Out, o, f.showAll, color); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("could not describe %s", strings.Join(failed, ", "))
	}
	return nil
}

// describe prints the tree of o: collapsed unless showAll.
func describe(w io.Writer, o *accessPointObjects, showAll, color bool) error {
	tree := buildAccessPointTree(o)
	if !showAll {
		tree = Collapse(tree)
	}
	return RenderTree(w, tree, RenderOptions{Color: color, Now: o.ReadAt})
}

// porticoClient is the Portico clientset of the kubeconfig and the namespace
// to use: namespace, or the kubeconfig context's.
func porticoClient(kf *kubeFlags, namespace string) (versioned.Interface, string, error) {
	cfg, err := kf.restConfig()
	if err != nil {
		return nil, "", err
	}
	if namespace == "" {
		if namespace, _, err = kf.clientConfig().Namespace(); err != nil {
			return nil, "", err
		}
	}
	client, err := newPorticoClient(cfg)
	return client, namespace, err
}

// notFoundHint adds where the access point was looked for.
func notFoundHint(err error, namespace string) error {
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%w in namespace %s (see -n, and kubectl get fap -A)", err, namespace)
	}
	return err
}
