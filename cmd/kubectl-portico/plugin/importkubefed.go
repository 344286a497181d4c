package plugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	fedv1b1 "sigs.k8s.io/kubefed/pkg/apis/core/v1beta1"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	clustervalidation "github.com/portico-dev/portico/apis/cluster/validation"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	"github.com/portico-dev/portico/federation/kubefed"
	"github.com/portico-dev/portico/manifests"
)

// Where import kubefed finds a KubeFedCluster's zone and region, in this
// order after status.zones and status.region: the well-known topology labels.
const (
	kubefedZoneLabel   = corev1.LabelTopologyZone
	kubefedRegionLabel = corev1.LabelTopologyRegion
)

// newImportCommand is `kubectl portico import` and its subcommands.
func newImportCommand(streams IOStreams, kf *kubeFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import SOURCE",
		Short: "Bring the member clusters of another federation over to Portico",
		Long: `Bring the member clusters of another multi-cluster federation over to Portico:
each of its clusters becomes a MemberCluster, and gets a member-agent manifest
to install, as with join.`,
		Example: `  # The member clusters of the kubefed federation whose host cluster is the hub:
  kubectl portico import kubefed --output-dir agents/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newImportKubefedCommand(streams, kf))
	return cmd
}

type importKubefedFlags struct {
	kubeconfig, context, namespace string
	zone, region, image, hubServer string
	outputDir                      string
	tokenDuration, waitTimeout     time.Duration
	dryRun                         bool
}

func newImportKubefedCommand(streams IOStreams, kf *kubeFlags) *cobra.Command {
	f := &importKubefedFlags{}
	cmd := &cobra.Command{
		Use:   "kubefed",
		Short: "Make kubefed's KubeFedClusters MemberClusters and print their member-agent manifests",
		Long: `Bring a kubefed federation's member clusters over to Portico.

import kubefed reads the KubeFedClusters of kubefed's host cluster, in the
namespace --kubefed-namespace (default kube-federation-system). The host
cluster is the hub cluster of the current kubeconfig (kubefed's host cluster
is often the hub cluster itself) unless --kubefed-kubeconfig or
--kubefed-context names another. Then, for each KubeFedCluster, as join does:
  1. it creates the MemberCluster of the KubeFedCluster's name, labelled
     portico.dev/kubefed-cluster=NAME (the label that maps a KubeFedCluster to
     its MemberCluster). Its zone is the first of the KubeFedCluster's
     status.zones (kubefed's cluster controller fills them from the member's
     nodes), else its label topology.kubernetes.io/zone, else --zone; its
     region is status.region, else the label topology.kubernetes.io/region,
     else --region. An existing MemberCluster of that name in the same zone
     (and region) is reused, and labelled if it lacks the label;
  2. it waits (up to --wait-timeout) until portico-hub has prepared the
     cluster's hub namespace portico-cluster-NAME and the ServiceAccount
     member-agent in it;
  3. it requests a token for that ServiceAccount (TokenRequest API, lifetime
     --token-duration, default 24h) and builds the agent's hub kubeconfig with
     it (the hub's URL is --hub-server, default the kubeconfig's server);
  4. it prints the member-agent's install manifest for the member cluster to
     stdout, preceded by a comment naming the cluster and its API server (the
     KubeFedCluster's spec.apiEndpoint); with --output-dir it writes it to the
     file DIR/NAME.yaml instead.

A KubeFedCluster is skipped when its name is not a valid MemberCluster name (a
DNS label of at most 47 characters), when no zone is found for it, or when a
MemberCluster of its name exists in another zone or region, with another
portico.dev/kubefed-cluster label, or is being deleted. The other clusters are
imported all the same; then the skipped ones are listed and the command exits
with an error. Running it again is safe: MemberClusters are reused, and every
run issues new tokens (earlier ones stay valid until they expire).

stdout holds one manifest per cluster, one after the other, and each belongs in
its own member cluster: do not apply the whole stream to one cluster; split it,
or use --output-dir. The manifests hold hub credentials: treat them as secrets.
Nothing of kubefed is changed, and its member cluster Secrets are not read:
Portico's agents connect to the hub, not the hub to them.

--dry-run lists what would be done for every KubeFedCluster (create or reuse
which MemberCluster, in which zone and region, or skip it and why) and changes
nothing.

Messages go to stderr. Permissions needed: in kubefed's host cluster, list
kubefedclusters (core.kubefed.io) in --kubefed-namespace; in the hub cluster,
list, create, get and patch memberclusters (cluster.portico.dev), get
serviceaccounts and create serviceaccounts/token in each portico-cluster-NAME.`,
		Example: `  # kubefed's host cluster is the hub (the current context); one manifest per
  # member cluster, then each applied in its cluster (kubefedctl join names a
  # KubeFedCluster after its kubeconfig context by default):
  kubectl portico import kubefed --output-dir agents/
  kubectl --context cluster1 apply -f agents/cluster1.yaml
  kubectl get mc -l portico.dev/kubefed-cluster    # AVAILABLE turns True once the agents run

  # What would happen, without changing anything:
  kubectl portico import kubefed --dry-run

  # kubefed runs in another cluster (context kubefed-host); its clusters have no
  # zone in their status or labels, so they all go to zone-a:
  kubectl portico import kubefed --kubefed-context kubefed-host --zone zone-a > agents.yaml

  # The member clusters reach the hub under another address than yours, and the
  # agent image comes from a private registry:
  kubectl portico import kubefed --output-dir agents/ \
      --hub-server https://hub.example.internal:6443 \
      --image registry.example/portico/member-agent:v0.1.0`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 0 {
				return fmt.Errorf("import kubefed takes no arguments (got %q): it imports every KubeFedCluster of --kubefed-namespace; see --help", args)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runImportKubefed(cmd.Context(), streams, kf, f)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.kubeconfig, "kubefed-kubeconfig", "",
		"Path to the kubeconfig file of kubefed's host cluster (default: the hub cluster's kubeconfig).")
	fs.StringVar(&f.context, "kubefed-context", "",
		"The kubeconfig context of kubefed's host cluster (default: the hub cluster's context, or the current context of --kubefed-kubeconfig).")
	fs.StringVar(&f.namespace, "kubefed-namespace", kubefed.DefaultNamespace, "kubefed's system namespace, which holds its KubeFedClusters.")
	fs.StringVar(&f.zone, "zone", "", "Zone of the KubeFedClusters whose status.zones and label "+kubefedZoneLabel+" are empty.")
	fs.StringVar(&f.region, "region", "", "Region of the KubeFedClusters whose status.region and label "+kubefedRegionLabel+" are empty.")
	fs.StringVar(&f.image, "image", manifests.DefaultMemberAgentImage, "Image of the member-agent in the manifests.")
	fs.StringVar(&f.hubServer, "hub-server", "",
		"URL of the hub cluster as the member clusters reach it (default: the server of the current kubeconfig).")
	fs.DurationVar(&f.tokenDuration, "token-duration", DefaultTokenDuration,
		"Requested lifetime of the agents' hub tokens (at least 10m; the hub cluster may cap it). The agents renew them before they expire.")
	fs.DurationVar(&f.waitTimeout, "wait-timeout", DefaultWaitTimeout,
		"How long to wait, for each cluster, for portico-hub to prepare its hub namespace and ServiceAccount.")
	fs.StringVar(&f.outputDir, "output-dir", "",
		"Write each cluster's manifest to DIR/NAME.yaml (mode 0600; DIR is created if missing) instead of stdout.")
	fs.BoolVar(&f.dryRun, "dry-run", false, "Only list what would be done for each KubeFedCluster; change nothing.")
	return cmd
}

// validate checks the flags before anything is read or changed.
func (f *importKubefedFlags) validate() error {
	if f.namespace == "" {
		return errors.New("--kubefed-namespace must not be empty")
	}
	for _, v := range []struct{ flag, value string }{{"--zone", f.zone}, {"--region", f.region}} {
		if errs := validation.IsValidLabelValue(v.value); len(errs) > 0 {
			return fmt.Errorf("invalid %s %q: %s", v.flag, v.value, strings.Join(errs, "; "))
		}
	}
	if f.image == "" {
		return errors.New("--image must not be empty")
	}
	if f.tokenDuration < MinTokenDuration {
		return fmt.Errorf("--token-duration must be at least %v", MinTokenDuration)
	}
	return nil
}

// kubefedConfig is the client configuration of kubefed's host cluster: the
// hub's, unless --kubefed-kubeconfig or --kubefed-context says otherwise.
func (f *importKubefedFlags) kubefedConfig(kf *kubeFlags, hub *rest.Config) (*rest.Config, error) {
	if f.kubeconfig == "" && f.context == "" {
		return hub, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	switch {
	case f.kubeconfig != "":
		rules.ExplicitPath = f.kubeconfig
	case kf.kubeconfig != "":
		rules.ExplicitPath = kf.kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
		&clientcmd.ConfigOverrides{CurrentContext: f.context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading the kubeconfig of kubefed's host cluster (--kubefed-kubeconfig, --kubefed-context): %w", err)
	}
	cfg.UserAgent = hub.UserAgent
	return cfg, nil
}

func runImportKubefed(ctx context.Context, streams IOStreams, kf *kubeFlags, f *importKubefedFlags) error {
	if err := f.validate(); err != nil {
		return err
	}
	cfg, err := kf.restConfig()
	if err != nil {
		return err
	}
	hub, err := HubEndpointFromConfig(cfg)
	if err != nil {
		return err
	}
	if f.hubServer != "" {
		hub.Server = f.hubServer
	}
	fedCfg, err := f.kubefedConfig(kf, cfg)
	if err != nil {
		return err
	}
	fed, err := dynamic.NewForConfig(fedCfg)
	if err != nil {
		return err
	}
	portico, err := versioned.NewForConfig(cfg)
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	im := &kubefedImporter{kubefed: fed, portico: portico, kube: kube, hub: hub, flags: f, streams: streams}
	return im.run(ctx)
}

// kubefedImporter imports the KubeFedClusters of one kubefed host cluster
// into one hub.
type kubefedImporter struct {
	kubefed dynamic.Interface
	portico versioned.Interface
	kube    kubernetes.Interface
	hub     HubEndpoint
	flags   *importKubefedFlags
	streams IOStreams
}

// kubefedPlan is what import kubefed does with one KubeFedCluster.
type kubefedPlan struct {
	// Cluster is the KubeFedCluster's name, and its MemberCluster's.
	Cluster string
	// APIEndpoint is the member cluster's API server (spec.apiEndpoint).
	APIEndpoint string
	// Zone and Region of the MemberCluster, and where each was found.
	Zone, ZoneFrom, Region, RegionFrom string
	// Reuse is set when the MemberCluster exists; AddLabel when it lacks
	// the label portico.dev/kubefed-cluster.
	Reuse, AddLabel bool
	// Skip is why the KubeFedCluster is not imported ("" when it is).
	Skip string
}

// String is the plan's line in the listing: what is done, or why not.
func (p *kubefedPlan) String() string {
	if p.Skip != "" {
		return fmt.Sprintf("%s: skip: %s", p.Cluster, p.Skip)
	}
	region := "no region"
	if p.Region != "" {
		region = fmt.Sprintf("region %s (%s)", p.Region, p.RegionFrom)
	}
	label := clusterv1alpha1.LabelKubefedCluster + "=" + p.Cluster
	switch {
	case !p.Reuse:
		return fmt.Sprintf("%s: create MemberCluster %s, zone %s (%s), %s, label %s", p.Cluster, p.Cluster, p.Zone, p.ZoneFrom, region, label)
	case p.AddLabel:
		return fmt.Sprintf("%s: reuse MemberCluster %s, zone %s (%s), %s; add label %s", p.Cluster, p.Cluster, p.Zone, p.ZoneFrom, region, label)
	default:
		return fmt.Sprintf("%s: reuse MemberCluster %s, zone %s (%s), %s", p.Cluster, p.Cluster, p.Zone, p.ZoneFrom, region)
	}
}

// run plans the import of every KubeFedCluster, then (unless a dry run)
// joins the clusters not skipped and writes their manifests.
func (im *kubefedImporter) run(ctx context.Context) error {
	f, errOut := im.flags, im.streams.ErrOut
	plans, err := im.plan(ctx)
	if err != nil {
		return err
	}
	if f.dryRun {
		for _, p := range plans {
			fmt.Fprintln(im.streams.Out, p)
		}
		fmt.Fprintln(errOut, "Dry run: nothing was changed.")
		return skippedError(plans, "would not be imported")
	}
	for _, p := range plans {
		fmt.Fprintln(errOut, p)
	}
	if f.outputDir != "" {
		if err := os.MkdirAll(f.outputDir, 0o700); err != nil {
			return fmt.Errorf("--output-dir: %w", err)
		}
	}
	var imported []string
	for _, p := range plans {
		if p.Skip != "" {
			continue
		}
		if err := im.importCluster(ctx, p, len(imported) > 0); err != nil {
			p.Skip = err.Error()
			fmt.Fprintf(errOut, "%s: not imported: %v\n", p.Cluster, err)
			continue
		}
		imported = append(imported, p.Cluster)
	}
	if len(imported) > 0 {
		where := "the comment before each manifest names its cluster"
		if f.outputDir != "" {
			where = "the file " + filepath.Join(f.outputDir, "NAME.yaml") + " in the cluster NAME"
		}
		fmt.Fprintf(errOut, "Imported %d KubeFedCluster(s): %s. Apply each member-agent manifest in its own member cluster (%s); "+
			"`kubectl get mc -l %s` then shows them Available.\n", len(imported), strings.Join(imported, ", "), where, clusterv1alpha1.LabelKubefedCluster)
	}
	return skippedError(plans, "were not imported")
}

// skippedError lists the skipped plans, or is nil when none was.
func skippedError(plans []*kubefedPlan, what string) error {
	var lines []string
	for _, p := range plans {
		if p.Skip != "" {
			lines = append(lines, "  "+p.Cluster+": "+p.Skip)
		}
	}
	if len(lines) == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d KubeFedClusters %s:\n%s", len(lines), len(plans), what, strings.Join(lines, "\n"))
}

// plan reads the KubeFedClusters and the MemberClusters, and decides for
// each KubeFedCluster, in name order. It changes nothing.
func (im *kubefedImporter) plan(ctx context.Context) ([]*kubefedPlan, error) {
	ns := im.flags.namespace
	list, err := im.kubefed.Resource(kubefed.ClustersResource).Namespace(ns).List(ctx, metav1.ListOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("kubefed's host cluster does not serve KubeFedClusters (%s): is kubefed installed there? "+
			"(set its kubeconfig with --kubefed-kubeconfig or --kubefed-context): %w", kubefed.ClustersResource.GroupResource(), err)
	case err != nil:
		return nil, fmt.Errorf("listing the KubeFedClusters in %s of kubefed's host cluster: %w", ns, err)
	case len(list.Items) == 0:
		return nil, fmt.Errorf("kubefed's host cluster has no KubeFedClusters in namespace %s: nothing to import "+
			"(is that kubefed's namespace? set it with --kubefed-namespace)", ns)
	}
	members, err := im.portico.ClusterV1alpha1().MemberClusters().List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("listing MemberClusters: %w (is portico-hub installed and registered with this hub cluster? "+
			"`kubectl api-resources --api-group=cluster.portico.dev` lists its resources)", err)
	}
	if err != nil {
		return nil, fmt.Errorf("listing MemberClusters: %w", err)
	}
	existing := map[string]*clusterv1alpha1.MemberCluster{}
	for i := range members.Items {
		existing[members.Items[i].Name] = &members.Items[i]
	}
	plans := make([]*kubefedPlan, 0, len(list.Items))
	for i := range list.Items {
		c, err := kubefed.ClusterFromUnstructured(&list.Items[i])
		if err != nil {
			plans = append(plans, &kubefedPlan{Cluster: list.Items[i].GetName(), Skip: err.Error()})
			continue
		}
		p := kubefedTopology(c, im.flags.zone, im.flags.region)
		if p.Skip == "" {
			p.checkExisting(existing[p.Cluster])
		}
		if len(c.Status.Zones) > 1 && p.Skip == "" {
			fmt.Fprintf(im.streams.ErrOut, "Note: KubeFedCluster %s has nodes in the zones %s; a MemberCluster has one zone: %s.\n",
				c.Name, strings.Join(c.Status.Zones, ", "), p.Zone)
		}
		plans = append(plans, p)
	}
	slices.SortFunc(plans, func(a, b *kubefedPlan) int { return strings.Compare(a.Cluster, b.Cluster) })
	return plans, nil
}

// kubefedTopology plans a KubeFedCluster's MemberCluster: its name, and its
// zone and region from status.zones (the first) and status.region, which
// kubefed's cluster controller reads from the member's nodes, else from the
// KubeFedCluster's topology labels, else zone and region (--zone, --region).
func kubefedTopology(c *fedv1b1.KubeFedCluster, zone, region string) *kubefedPlan {
	p := &kubefedPlan{Cluster: c.Name, APIEndpoint: c.Spec.APIEndpoint}
	if errs := clustervalidation.ValidateMemberClusterName(c.Name, false); len(errs) > 0 {
		p.Skip = fmt.Sprintf("%q is not a valid MemberCluster name: %s", c.Name, strings.Join(errs, "; "))
		return p
	}
	switch {
	case len(c.Status.Zones) > 0 && c.Status.Zones[0] != "":
		p.Zone, p.ZoneFrom = c.Status.Zones[0], "status.zones"
	case c.Labels[kubefedZoneLabel] != "":
		p.Zone, p.ZoneFrom = c.Labels[kubefedZoneLabel], "label "+kubefedZoneLabel
	case zone != "":
		p.Zone, p.ZoneFrom = zone, "--zone"
	default:
		p.Skip = fmt.Sprintf("no zone: its status.zones is empty, it has no label %s, and --zone is not set", kubefedZoneLabel)
		return p
	}
	switch {
	case c.Status.Region != nil && *c.Status.Region != "":
		p.Region, p.RegionFrom = *c.Status.Region, "status.region"
	case c.Labels[kubefedRegionLabel] != "":
		p.Region, p.RegionFrom = c.Labels[kubefedRegionLabel], "label "+kubefedRegionLabel
	case region != "":
		p.Region, p.RegionFrom = region, "--region"
	}
	for _, v := range []struct{ what, value, from string }{{"zone", p.Zone, p.ZoneFrom}, {"region", p.Region, p.RegionFrom}} {
		if errs := validation.IsValidLabelValue(v.value); len(errs) > 0 {
			p.Skip = fmt.Sprintf("its %s %q (%s) is not a valid MemberCluster %s: %s", v.what, v.value, v.from, v.what, strings.Join(errs, "; "))
			return p
		}
	}
	return p
}

// checkExisting compares the plan with the existing MemberCluster of its name
// (nil when none), as join would: reuse it, or skip.
func (p *kubefedPlan) checkExisting(mc *clusterv1alpha1.MemberCluster) {
	if mc == nil {
		return
	}
	label, labelled := mc.Labels[clusterv1alpha1.LabelKubefedCluster]
	switch {
	case mc.DeletionTimestamp != nil:
		p.Skip = fmt.Sprintf("MemberCluster %s is being deleted; import again once it is gone (kubectl wait --for=delete mc/%s)", mc.Name, mc.Name)
	case mc.Spec.Zone != p.Zone:
		p.Skip = fmt.Sprintf("MemberCluster %s already exists in zone %q, not %q (%s)", mc.Name, mc.Spec.Zone, p.Zone, p.ZoneFrom)
	case p.Region != "" && mc.Spec.Region != p.Region:
		p.Skip = fmt.Sprintf("MemberCluster %s already exists in region %q, not %q (%s)", mc.Name, mc.Spec.Region, p.Region, p.RegionFrom)
	case labelled && label != p.Cluster:
		p.Skip = fmt.Sprintf("MemberCluster %s already exists with label %s=%s: it is another KubeFedCluster's", mc.Name,
			clusterv1alpha1.LabelKubefedCluster, label)
	default:
		p.Reuse, p.AddLabel = true, !labelled
		if p.Region == "" && mc.Spec.Region != "" {
			p.Region, p.RegionFrom = mc.Spec.Region, "the existing MemberCluster's"
		}
	}
}

// importCluster joins one planned cluster and writes its manifest: to stdout
// (separated from an earlier one when more is set) or to --output-dir.
func (im *kubefedImporter) importCluster(ctx context.Context, p *kubefedPlan, more bool) error {
	f := im.flags
	res, err := Join(ctx, im.portico, im.kube, JoinOptions{
		Name: p.Cluster, Zone: p.Zone, Region: p.Region,
		Labels:        map[string]string{clusterv1alpha1.LabelKubefedCluster: p.Cluster},
		TokenDuration: f.tokenDuration, WaitTimeout: f.waitTimeout,
		Hub: im.hub, Log: im.streams.ErrOut,
	})
	if err != nil {
		return err
	}
	if p.AddLabel {
		fmt.Fprintf(im.streams.ErrOut, "Labelled MemberCluster %s %s=%s.\n", p.Cluster, clusterv1alpha1.LabelKubefedCluster, p.Cluster)
	}
	var buf bytes.Buffer
	if more && f.outputDir == "" {
		buf.WriteString("---\n")
	}
	mc := res.MemberCluster
	fmt.Fprintf(&buf, "# member-agent of the Portico member cluster %s (zone %s%s), imported from the KubeFedCluster %s/%s by kubectl portico import kubefed (%s).\n",
		p.Cluster, mc.Spec.Zone, regionSuffix(mc.Spec.Region), f.namespace, p.Cluster, version())
	fmt.Fprintf(&buf, "# Apply it in that member cluster, whose API server is %s (the KubeFedCluster's spec.apiEndpoint), e.g. kubectl --context %s apply -f FILE.\n",
		orUnknown(p.APIEndpoint), p.Cluster)
	fmt.Fprintf(&buf, "# Hub: %s. Holds a hub credential valid until %s: keep this file secret.\n",
		im.hub.Server, res.TokenExpiration.UTC().Format(time.RFC3339))
	if err := manifests.RenderMemberAgent(&buf, manifests.MemberAgentValues{
		ClusterName: p.Cluster, Image: f.image, HubKubeconfig: res.Kubeconfig,
		GatewayNamespace: mc.Spec.GatewayNamespace,
	}); err != nil {
		return err
	}
	if f.outputDir != "" {
		path := filepath.Join(f.outputDir, p.Cluster+".yaml")
		if err := writePrivateFile(path, buf.Bytes()); err != nil {
			return err
		}
		fmt.Fprintf(im.streams.ErrOut, "Wrote %s.\n", path)
		return nil
	}
	_, err = im.streams.Out.Write(buf.Bytes())
	return err
}

func orUnknown(s string) string {
	if s == "" {
		return "(not recorded)"
	}
	return s
}

// writePrivateFile writes data to path, readable by its owner only (also
// when path existed with another mode).
func writePrivateFile(path string, data []byte) error {
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := fh.Chmod(0o600); err != nil {
		fh.Close()
		return err
	}
	if _, err := fh.Write(data); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}
