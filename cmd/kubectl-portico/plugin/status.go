package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// StatusRow is one access point in `kubectl portico status`. Every field is
// one word; "-" stands for what does not apply.
type StatusRow struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Ready is the Ready condition's status: True, False or Unknown.
	Ready string `json:"ready"`
	// VIP is the address, "pending" before one is allocated, "-" without spec.loadBalancer.
	VIP string `json:"vip"`
	// Announced is announcing LoadBalancerNodes/nodes of the VIP's groups ("N/?" when those cannot be read).
	Announced string `json:"announced"`
	// Cert is the certificate version (v3), "pending", or "-" without spec.tls.
	Cert string `json:"cert"`
	// DNS is "published", "pending", or "-" when no NameService targets the access point.
	DNS string `json:"dns"`
	// Clusters is applied/placed.
	Clusters string `json:"clusters"`
	// Reason is the first condition that is not True ("-" when Ready).
	Reason string `json:"reason"`
}

// statusConditionOrder is the order Reason looks at the conditions in.
var statusConditionOrder = []string{
	trafficv1alpha1.AccessPointPlaced, trafficv1alpha1.AccessPointVIPAllocated, trafficv1alpha1.AccessPointApplied,
	trafficv1alpha1.AccessPointLoadBalancerReady, trafficv1alpha1.AccessPointCertificateReady, trafficv1alpha1.AccessPointDNSReady,
}

// loadBalancers indexes VirtualIPs and LoadBalancerNodes for the ANNOUNCED
// column; err is why they could not be read.
type loadBalancers struct {
	vips         map[string]*trafficv1alpha1.VirtualIP
	nodesByGroup map[string][]string
	err          error
}

func fetchLoadBalancers(ctx context.Context, c versioned.Interface) *loadBalancers {
	lb := &loadBalancers{vips: map[string]*trafficv1alpha1.VirtualIP{}, nodesByGroup: map[string][]string{}}
	vips, err := c.TrafficV1alpha1().VirtualIPs().List(ctx, metav1.ListOptions{})
	if err != nil {
		lb.err = err
		return lb
	}
	for i := range vips.Items {
		lb.vips[vips.Items[i].Name] = &vips.Items[i]
	}
	nodes, err := c.ClusterV1alpha1().LoadBalancerNodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		lb.err = err
		return lb
	}
	for _, n := range nodes.Items {
		lb.nodesByGroup[n.Spec.Group] = append(lb.nodesByGroup[n.Spec.Group], n.Name)
	}
	return lb
}

// announced is "announcing/expected": the nodes announcing the VIP out of
// those announcing it or in its groups.
func (lb *loadBalancers) announced(vip *trafficv1alpha1.VIPStatus) string {
	n := len(vip.AnnouncedBy)
	if lb == nil || lb.err != nil || lb.vips[vip.Address] == nil {
		return fmt.Sprintf("%d/?", n)
	}
	obj := lb.vips[vip.Address]
	nodes := slices.Clone(vip.AnnouncedBy)
	for _, g := range obj.Spec.Groups {
		nodes = append(nodes, lb.nodesByGroup[g]...)
	}
	slices.Sort(nodes)
	return fmt.Sprintf("%d/%d", n, len(slices.Compact(nodes)))
}

// accessPointStatusRow summarizes fap; lb may be nil when fap has no VIP.
func accessPointStatusRow(fap *trafficv1alpha1.FederatedAccessPoint, lb *loadBalancers) StatusRow {
	r := StatusRow{Namespace: fap.Namespace, Name: fap.Name, VIP: "-", Announced: "-", Cert: "-", DNS: "-"}
	st := &fap.Status
	r.Ready, r.Reason = readyAndReason(st.Conditions)
	if fap.Spec.LoadBalancer != nil {
		r.VIP = "pending"
		if st.VIP != nil && st.VIP.Address != "" {
			r.VIP, r.Announced = st.VIP.Address, lb.announced(st.VIP)
		}
	}
	if fap.Spec.TLS != nil {
		r.Cert = "pending"
		if st.Certificate != nil && st.Certificate.Version > 0 {
			r.Cert = "v" + strconv.FormatInt(st.Certificate.Version, 10)
		}
	}
	if st.DNS != nil {
		r.DNS = "pending"
		if st.DNS.Published {
			r.DNS = "published"
		}
	}
	applied := 0
	for _, c := range st.Clusters {
		if c.Phase == trafficv1alpha1.ClusterPhaseApplied {
			applied++
		}
	}
	r.Clusters = fmt.Sprintf("%d/%d", applied, len(st.Clusters))
	return r
}

// readyAndReason is the Ready status and, when not True, the reason of the
// first False condition (else the first Unknown one, else Ready's).
func readyAndReason(conds []metav1.Condition) (string, string) {
	ready := meta.FindStatusCondition(conds, trafficv1alpha1.ConditionReady)
	if ready == nil {
		return string(metav1.ConditionUnknown), reasonNotReconciled
	}
	if ready.Status == metav1.ConditionTrue {
		return string(ready.Status), "-"
	}
	for _, want := range []metav1.ConditionStatus{metav1.ConditionFalse, metav1.ConditionUnknown} {
		for _, typ := range statusConditionOrder {
			if c := meta.FindStatusCondition(conds, typ); c != nil && c.Status == want && c.Reason != "" {
				return string(ready.Status), c.Reason
			}
		}
	}
	return string(ready.Status), ready.Reason
}

// Output formats of status.
const (
	OutputTable = ""
	OutputJSON  = "json"
)

type statusFlags struct {
	namespace     string
	allNamespaces bool
	noHeaders     bool
	output        string
	failNotReady  bool
}

func newStatusCommand(streams IOStreams, kf *kubeFlags) *cobra.Command {
	f := &statusFlags{}
	cmd := &cobra.Command{
		Use:   "status [NAME...]",
		Short: "Print one line per access point: ready, VIP, certificate, DNS, clusters",
		Long: `Print one line per FederatedAccessPoint of the namespace (-n, default the
kubeconfig context's), of all namespaces (-A), or the ones named, for scripts.
Every column is a single word, "-" where something does not apply:

  NAMESPACE, NAME
  READY      the Ready condition: True, False or Unknown (no status yet)
  VIP        the VirtualIP's address; "pending" before one is allocated;
             "-" without spec.loadBalancer
  ANNOUNCED  LoadBalancerNodes announcing the VIP / the nodes of its
             LoadBalancerGroups ("N/?" when those cannot be read)
  CERT       the certificate's version (v3); "pending" before the first is
             issued; "-" without spec.tls
  DNS        "published" when every NameService targeting the access point is
             published, "pending" when not, "-" when there is none
  CLUSTERS   placed clusters that applied the current revision / placed clusters
  REASON     "-" when Ready; else the reason of the first False condition (in
             the order Placed, VIPAllocated, Applied, LoadBalancerReady,
             CertificateReady, DNSReady), else of the first Unknown one, else
             Ready's own (NotReconciled when portico-hub has not reported yet)

-o json prints a JSON array of the same rows (keys namespace, name, ready, vip,
announced, cert, dns, clusters, reason; the same values).

The exit code is 0 whatever the access points' state, and 1 when a named one
does not exist or the hub cannot be read. With --fail-not-ready it is also 1
when any listed access point is not Ready (after printing every row): handy in
scripts and CI. kubectl portico describe fap NAME shows why one is not ready.`,
		Example: `  # The access points of namespace shop:
  kubectl portico status -n shop

  # Of every namespace, without the header, for awk:
  kubectl portico status -A --no-headers | awk '$3 != "True" {print $1 "/" $2 ": " $9}'

  # Fail a deployment script until checkout is ready:
  until kubectl portico status checkout -n shop --fail-not-ready >/dev/null 2>&1; do sleep 5; done

  # As JSON:
  kubectl portico status -A -o json | jq -r '.[] | select(.ready != "True") | .name'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStatus(cmd.Context(), streams, kf, f, args)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&f.namespace, "namespace", "n", "", "Namespace of the access points (default: the kubeconfig context's namespace).")
	fs.BoolVarP(&f.allNamespaces, "all-namespaces", "A", false, "List the access points of every namespace.")
	fs.BoolVar(&f.noHeaders, "no-headers", false, "Do not print the header line.")
	fs.StringVarP(&f.output, "output", "o", OutputTable, "Output format: empty for the table, or json (an array of the rows).")
	fs.BoolVar(&f.failNotReady, "fail-not-ready", false, "Exit with code 1 when any listed access point is not Ready.")
	return cmd
}

func (f *statusFlags) validate(names []string) error {
	if f.output != OutputTable && f.output != OutputJSON {
		return fmt.Errorf("--output must be json (or not given, for the table), not %q", f.output)
	}
	if f.allNamespaces && len(names) > 0 {
		return errors.New("NAME and --all-namespaces cannot be combined: named access points are looked up in one namespace (-n)")
	}
	if f.allNamespaces && f.namespace != "" {
		return errors.New("--namespace and --all-namespaces cannot be combined")
	}
	return nil
}

func runStatus(ctx context.Context, streams IOStreams, kf *kubeFlags, f *statusFlags, names []string) error {
	if err := f.validate(names); err != nil {
		return err
	}
	client, namespace, err := porticoClient(kf, f.namespace)
	if err != nil {
		return err
	}
	if f.allNamespaces {
		namespace = metav1.NamespaceAll
	}
	faps, lookupErr := fetchAccessPoints(ctx, client, namespace, names, streams.ErrOut)
	if faps == nil {
		return lookupErr
	}
	rows := statusRows(ctx, client, faps)
	if err := printStatus(streams, f, namespace, rows); err != nil {
		return err
	}
	if lookupErr != nil {
		return lookupErr
	}
	if notReady := notReadyRows(rows); f.failNotReady && len(notReady) > 0 {
		return fmt.Errorf("%d of %d access points not ready: %s", len(notReady), len(rows), listNames(notReady, 10))
	}
	return nil
}

// fetchAccessPoints lists the access points of namespace (all when empty),
// or gets the named ones: those not found are reported to errOut and make
// the returned error. A nil slice means nothing could be read.
func fetchAccessPoints(ctx context.Context, c versioned.Interface, namespace string, names []string,
	errOut io.Writer) ([]trafficv1alpha1.FederatedAccessPoint, error) {
	client := c.TrafficV1alpha1().FederatedAccessPoints(namespace)
	if len(names) == 0 {
		list, err := client.List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("listing FederatedAccessPoints: %w", err)
		}
		slices.SortFunc(list.Items, func(a, b trafficv1alpha1.FederatedAccessPoint) int {
			return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
		})
		return append([]trafficv1alpha1.FederatedAccessPoint{}, list.Items...), nil
	}
	faps := []trafficv1alpha1.FederatedAccessPoint{}
	var missing []string
	for _, name := range names {
		fap, err := client.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			fmt.Fprintf(errOut, "error: %v\n", notFoundHint(err, namespace))
			missing = append(missing, name)
			continue
		}
		faps = append(faps, *fap)
	}
	if len(missing) > 0 {
		return faps, fmt.Errorf("could not read %s", strings.Join(missing, ", "))
	}
	return faps, nil
}

// statusRows summarizes faps, reading VirtualIPs and LoadBalancerNodes when
// any has a VIP.
func statusRows(ctx context.Context, c versioned.Interface, faps []trafficv1alpha1.FederatedAccessPoint) []StatusRow {
	var lb *loadBalancers
	if slices.ContainsFunc(faps, func(f trafficv1alpha1.FederatedAccessPoint) bool {
		return f.Spec.LoadBalancer != nil && f.Status.VIP != nil && f.Status.VIP.Address != ""
	}) {
		lb = fetchLoadBalancers(ctx, c)
	}
	rows := make([]StatusRow, 0, len(faps))
	for i := range faps {
		rows = append(rows, accessPointStatusRow(&faps[i], lb))
	}
	return rows
}

func notReadyRows(rows []StatusRow) []string {
	var out []string
	for _, r := range rows {
		if r.Ready != string(metav1.ConditionTrue) {
			out = append(out, r.Namespace+"/"+r.Name)
		}
	}
	return out
}

var statusHeader = []string{"NAMESPACE", "NAME", "READY", "VIP", "ANNOUNCED", "CERT", "DNS", "CLUSTERS", "REASON"}

func printStatus(streams IOStreams, f *statusFlags, namespace string, rows []StatusRow) error {
	if f.output == OutputJSON {
		data, err := json.MarshalIndent(rows, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(streams.Out, "%s\n", data)
		return err
	}
	if len(rows) == 0 {
		if namespace == metav1.NamespaceAll {
			fmt.Fprintln(streams.ErrOut, "No FederatedAccessPoints found.")
		} else {
			fmt.Fprintf(streams.ErrOut, "No FederatedAccessPoints found in namespace %s.\n", namespace)
		}
		return nil
	}
	return writeStatusTable(streams.Out, rows, !f.noHeaders)
}

// writeStatusTable aligns rows like kubectl get.
func writeStatusTable(w io.Writer, rows []StatusRow, header bool) error {
	tw := tabwriter.NewWriter(w, 6, 4, 3, ' ', 0)
	if header {
		fmt.Fprintln(tw, strings.Join(statusHeader, "\t"))
	}
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join([]string{r.Namespace, r.Name, r.Ready, r.VIP, r.Announced, r.Cert, r.DNS, r.Clusters, r.Reason}, "\t"))
	}
	return tw.Flush()
}
