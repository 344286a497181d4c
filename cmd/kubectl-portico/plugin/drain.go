package plugin

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// drainOptions are the flags of drain and undrain.
type drainOptions struct {
	kf        *kubeFlags
	namespace string
	fap       string
	force     bool
}

func newDrainCommand(streams IOStreams, kf *kubeFlags) *cobra.Command {
	return drainCommand(streams, kf, true)
}

func newUndrainCommand(streams IOStreams, kf *kubeFlags) *cobra.Command {
	return drainCommand(streams, kf, false)
}

// drainCommand is `drain` (drain true) or `undrain`, with the subcommands
// cluster and zone.
func drainCommand(streams IOStreams, kf *kubeFlags, drain bool) *cobra.Command {
	o := &drainOptions{kf: kf}
	cmd := &cobra.Command{
		Use:   "drain (cluster NAME | zone ZONE --fap NAME)",
		Short: "Take a member cluster or a zone out of traffic, keeping established connections",
		Long: `Take a member cluster, or a zone of one access point, out of traffic on purpose
(a release, network work), and undo it with "kubectl portico undrain".

A drained cluster's or zone's gateway endpoints get weight 0 in the IPVS
services of every edge node within seconds: established connections continue,
new connections go to the other backends. Access points with spec.locality
also treat the zone as failed in the mesh (their DestinationRules send it no
requests) once every placed cluster of the zone is drained.

  drain cluster NAME          sets MemberCluster.spec.drain: every access point
                              placed on the cluster.
  drain zone ZONE --fap NAME  adds ZONE to spec.loadBalancer.crossZone.drainedZones
                              of one access point.

A drain that would leave an access point with no backend that takes new
connections (every other one is drained already) is refused unless --force.
Each access point's status.vip.zones shows the effective weight per zone, and
each LoadBalancerNode's status.vips[].weights the weights its kernel uses.`,
		Example: `  # Drain the cluster zone-a-1 before its upgrade, and bring it back:
  kubectl portico drain cluster zone-a-1
  kubectl get lbn -o jsonpath='{range .items[*]}{.metadata.name}{"\t"}{.status.vips[*].weights}{"\n"}{end}'
  kubectl portico undrain cluster zone-a-1

  # Shift checkout's traffic away from zone-b only:
  kubectl portico drain zone zone-b --fap checkout -n shop
  kubectl get fap checkout -n shop -o jsonpath='{.status.vip.zones}'
  kubectl portico undrain zone zone-b --fap checkout -n shop`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	if !drain {
		cmd.Use, cmd.Short = "undrain (cluster NAME | zone ZONE --fap NAME)", "Bring a drained member cluster or zone back into traffic"
		cmd.Long = `Undo "kubectl portico drain": the cluster's or zone's gateway endpoints get their
weights back on every edge node within seconds, and the mesh sends the zone
requests again. See "kubectl portico drain --help".`
		cmd.Example = `  kubectl portico undrain cluster zone-a-1
  kubectl portico undrain zone zone-b --fap checkout -n shop`
	}
	verb := map[bool]string{true: "Drain", false: "Undrain"}[drain]
	cluster := &cobra.Command{
		Use:   "cluster NAME",
		Short: verb + " a member cluster for every access point placed on it",
		Long: verb + ` the member cluster NAME: set its MemberCluster's spec.drain to ` + fmt.Sprint(drain) + `.
` + map[bool]string{true: `Its gateway endpoints get weight 0 on every edge node, for every access point
placed on it (established connections continue); access points with
spec.locality treat its zone as failed once every placed cluster of the zone is
drained. Refused, unless --force, when the cluster holds the last backends
that take new connections of an access point.`, false: `Its gateway endpoints get their weights back on every edge node.`}[drain],
		Example: "  kubectl portico " + map[bool]string{true: "drain", false: "undrain"}[drain] + " cluster zone-a-1",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, _, err := porticoClient(o.kf, "")
			if err != nil {
				return err
			}
			return drainCluster(cmd.Context(), streams.Out, client, args[0], drain, o.force)
		},
	}
	zone := &cobra.Command{
		Use:   "zone ZONE --fap NAME",
		Short: verb + " a zone for one access point",
		Long: map[bool]string{true: `Drain ZONE for the access point --fap: add it to the access point's
spec.loadBalancer.crossZone.drainedZones. The zone's backends of its VIP get
weight 0 on every edge node (established connections continue), and with
spec.locality the mesh treats the zone as failed. Refused, unless --force,
when the zone holds the last backends of the access point that take new
connections.`, false: `Undrain ZONE for the access point --fap: remove it from the access point's
spec.loadBalancer.crossZone.drainedZones.`}[drain],
		Example: "  kubectl portico " + map[bool]string{true: "drain", false: "undrain"}[drain] + " zone zone-b --fap checkout -n shop",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.fap == "" {
				return fmt.Errorf("--fap is required: the access point whose drainedZones change")
			}
			client, ns, err := porticoClient(o.kf, o.namespace)
			if err != nil {
				return err
			}
			return drainZone(cmd.Context(), streams, client, ns, o.fap, args[0], drain, o.force)
		},
	}
	zone.Flags().StringVar(&o.fap, "fap", "", "The FederatedAccessPoint whose spec.loadBalancer.crossZone.drainedZones change (required).")
	zone.Flags().StringVarP(&o.namespace, "namespace", "n", "", "Namespace of the access point (default: the kubeconfig context's namespace).")
	if drain {
		for _, c := range []*cobra.Command{cluster, zone} {
			c.Flags().BoolVar(&o.force, "force", false, "Drain even if an access point is left with no backend that takes new connections.")
		}
	}
	cmd.AddCommand(cluster, zone)
	return cmd
}

// drainCluster sets MemberCluster.spec.drain of name.
func drainCluster(ctx context.Context, out io.Writer, client versioned.Interface, name string, drain, force bool) error {
	mcs := client.ClusterV1alpha1().MemberClusters()
	mc, err := mcs.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	what := map[bool]string{true: "drained", false: "not drained"}[drain]
	if mc.Spec.Drain == drain {
		_, err := fmt.Fprintf(out, "membercluster/%s is already %s\n", name, what)
		return err
	}
	if drain && !force {
		last, err := stranded(ctx, client, name)
		if err != nil {
			return err
		}
		if len(last) > 0 {
			return refusal("cluster "+name, last)
		}
	}
	patch := fmt.Sprintf(`{"spec":{"drain":%t}}`, drain)
	if _, err := mcs.Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("setting spec.drain of membercluster/%s: %w", name, err)
	}
	if drain {
		_, err = fmt.Fprintf(out, "membercluster/%s drained: its gateway endpoints get weight 0 on every edge node within seconds "+
			"(established connections continue). Undo: kubectl portico undrain cluster %s\n", name, name)
		return err
	}
	_, err = fmt.Fprintf(out, "membercluster/%s undrained: its gateway endpoints get their weights back within seconds\n", name)
	return err
}

// drainZone adds zone to (or removes it from) an access point's
// crossZone.drainedZones.
func drainZone(ctx context.Context, streams IOStreams, client versioned.Interface, namespace, name, zone string, drain, force bool) error {
	faps := client.TrafficV1alpha1().FederatedAccessPoints(namespace)
	ref := "federatedaccesspoint/" + name + " -n " + namespace
	changed, placedInZone := false, false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		fap, err := faps.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return notFoundHint(err, namespace)
		}
		lb := fap.Spec.LoadBalancer
		if lb == nil {
			return fmt.Errorf("%s has no spec.loadBalancer, where drainedZones are: drain its clusters instead (kubectl portico drain cluster NAME)", ref)
		}
		var zones []string
		if lb.CrossZone != nil {
			zones = lb.CrossZone.DrainedZones
		}
		if changed = slices.Contains(zones, zone) != drain; !changed {
			return nil
		}
		if drain && !force && lastZone(fap, zone) {
			return refusal("zone "+zone+" of "+namespace+"/"+name, []string{fmt.Sprintf("%s/%s (VIP %s)", namespace, name, fap.Status.VIP.Address)})
		}
		updated := fap.DeepCopy()
		if updated.Spec.LoadBalancer.CrossZone == nil {
			updated.Spec.LoadBalancer.CrossZone = &trafficv1alpha1.CrossZone{}
		}
		cz := updated.Spec.LoadBalancer.CrossZone
		placedInZone = slices.ContainsFunc(fap.Status.Clusters, func(c trafficv1alpha1.ClusterStatus) bool { return c.Zone == zone })
		if drain {
			cz.DrainedZones = append(cz.DrainedZones, zone)
		} else {
			cz.DrainedZones = slices.DeleteFunc(cz.DrainedZones, func(z string) bool { return z == zone })
		}
		_, err = faps.Update(ctx, updated, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return err
	}
	if drain && changed && !placedInZone {
		fmt.Fprintf(streams.ErrOut, "warning: no placed cluster of %s is in zone %s\n", ref, zone)
	}
	switch {
	case !changed:
		_, err = fmt.Fprintf(streams.Out, "zone %s of %s is already %s\n", zone, ref, map[bool]string{true: "drained", false: "not drained"}[drain])
	case drain:
		_, err = fmt.Fprintf(streams.Out, "zone %s of %s drained: its backends get weight 0 on every edge node within seconds "+
			"(established connections continue). Undo: kubectl portico undrain zone %s --fap %s -n %s\n", zone, ref, zone, name, namespace)
	default:
		_, err = fmt.Fprintf(streams.Out, "zone %s of %s undrained: its backends get their weights back within seconds\n", zone, ref)
	}
	return err
}

// stranded lists the access points (namespace/name (VIP address)) whose VIP
// has backends that take new connections now and would have none once the
// cluster's are drained too.
func stranded(ctx context.Context, client versioned.Interface, cluster string) ([]string, error) {
	vips, err := client.TrafficV1alpha1().VirtualIPs().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing VirtualIPs to check that every access point keeps a backend: %w", err)
	}
	var out []string
	for i := range vips.Items {
		v := &vips.Items[i]
		var drainedZones []string
		if v.Spec.CrossZone != nil {
			drainedZones = v.Spec.CrossZone.DrainedZones
		}
		before, after := 0, 0
		for _, b := range v.Spec.Backends {
			if b.Drained || slices.Contains(drainedZones, b.Zone) {
				continue
			}
			before++
			if b.Cluster != cluster {
				after++
			}
		}
		if before > 0 && after == 0 {
			owner := v.Name
			if o := v.Spec.Owner; o != nil {
				owner = o.Namespace + "/" + o.Name
			}
			out = append(out, fmt.Sprintf("%s (VIP %s)", owner, v.Spec.Address))
		}
	}
	slices.Sort(out)
	return out, nil
}

// lastZone tells whether zone holds the last backends of the access point's
// VIP that take new connections, as its status.vip.zones says (a tenant may
// read its access point, not the cluster-scoped VirtualIPs).
func lastZone(fap *trafficv1alpha1.FederatedAccessPoint, zone string) bool {
	if fap.Status.VIP == nil {
		return false
	}
	before, after := int32(0), int32(0)
	for _, z := range fap.Status.VIP.Zones {
		before += z.Backends - z.DrainedBackends
		if z.Zone != zone {
			after += z.Backends - z.DrainedBackends
		}
	}
	return before > 0 && after == 0
}

func refusal(what string, stranded []string) error {
	return fmt.Errorf("refusing to drain %s: it holds the last backends that take new connections of %s; "+
		"undrain another cluster or zone first, or pass --force to drain anyway (established connections continue, new ones fail)",
		what, strings.Join(stranded, ", "))
}
