package plugin

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	fedv1b1 "sigs.k8s.io/kubefed/pkg/apis/core/v1beta1"
	"sigs.k8s.io/yaml"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	porticofake "github.com/portico-dev/portico/apis/generated/clientset/versioned/fake"
	"github.com/portico-dev/portico/federation/kubefed"
	"github.com/portico-dev/portico/manifests"
)

// kfc is a KubeFedCluster with status zones and region (nil: none).
func kfc(name string, labels map[string]string, zones []string, region *string) *fedv1b1.KubeFedCluster {
	return &fedv1b1.KubeFedCluster{
		TypeMeta:   metav1.TypeMeta{APIVersion: fedv1b1.SchemeGroupVersion.String(), Kind: "KubeFedCluster"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: kubefed.DefaultNamespace, Labels: labels},
		Spec:       fedv1b1.KubeFedClusterSpec{APIEndpoint: "https://" + strings.ToLower(name) + ".example:6443"},
		Status:     fedv1b1.KubeFedClusterStatus{Zones: zones, Region: region},
	}
}

// fakeKubefed is a kubefed host cluster holding clusters.
func fakeKubefed(t *testing.T, clusters ...*fedv1b1.KubeFedCluster) *dynamicfake.FakeDynamicClient {
	t.Helper()
	var objs []runtime.Object
	for _, c := range clusters {
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(c)
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, &unstructured.Unstructured{Object: u})
	}
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{kubefed.ClustersResource: "KubeFedClusterList"}, objs...)
}

// testImportFlags are import kubefed's defaults.
func testImportFlags() *importKubefedFlags {
	return &importKubefedFlags{namespace: kubefed.DefaultNamespace, image: manifests.DefaultMemberAgentImage,
		tokenDuration: DefaultTokenDuration, waitTimeout: 5 * time.Second}
}

type importRun struct {
	out, errOut string
	err         error
}

func runImport(t *testing.T, fed *dynamicfake.FakeDynamicClient, pc *porticofake.Clientset, kc *kubefake.Clientset, f *importKubefedFlags) importRun {
	t.Helper()
	var out, errOut bytes.Buffer
	im := &kubefedImporter{kubefed: fed, portico: pc, kube: kc, hub: testHub, flags: f,
		streams: IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}}
	err := im.run(context.Background())
	t.Logf("stderr:\n%s", errOut.String())
	return importRun{out: out.String(), errOut: errOut.String(), err: err}
}

// preparedMemberCluster is an existing MemberCluster the hub has prepared
// (status.namespace set; hubWith creates its agent's ServiceAccount).
func preparedMemberCluster(name, zone, region string, labels map[string]string) *clusterv1alpha1.MemberCluster {
	return &clusterv1alpha1.MemberCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), Labels: labels},
		Spec:       clusterv1alpha1.MemberClusterSpec{Zone: zone, Region: region},
		Status:     clusterv1alpha1.MemberClusterStatus{Namespace: clusterv1alpha1.ClusterNamespace(name)},
	}
}

// hubWith is fakeHub, whose controller prepares new MemberClusters at once,
// holding the prepared MemberClusters existing and their ServiceAccounts.
func hubWith(t *testing.T, existing ...*clusterv1alpha1.MemberCluster) (*porticofake.Clientset, *kubefake.Clientset) {
	t.Helper()
	var objs []runtime.Object
	for _, mc := range existing {
		objs = append(objs, mc)
	}
	pc, kc := fakeHub(t, 0, objs...)
	for _, mc := range existing {
		ns := clusterv1alpha1.ClusterNamespace(mc.Name)
		if _, err := kc.CoreV1().ServiceAccounts(ns).Create(context.Background(), &corev1.ServiceAccount{
			ObjectMeta: metav1.ObjectMeta{Name: clusterv1alpha1.AgentServiceAccount, Namespace: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return pc, kc
}

func TestKubefedTopology(t *testing.T) {
	zoneLabel := map[string]string{corev1.LabelTopologyZone: "zone-l", corev1.LabelTopologyRegion: "region-l"}
	for _, c := range []struct {
		name                 string
		cluster              *fedv1b1.KubeFedCluster
		flagZone, flagRegion string
		zone, zoneFrom       string
		region, regionFrom   string
		skip                 string
	}{
		{name: "status wins over labels and flags", cluster: kfc("c1", zoneLabel, []string{"zone-s", "zone-t"}, ptr.To("region-s")),
			flagZone: "zone-f", flagRegion: "region-f",
			zone: "zone-s", zoneFrom: "status.zones", region: "region-s", regionFrom: "status.region"},
		{name: "labels win over flags", cluster: kfc("c1", zoneLabel, nil, nil), flagZone: "zone-f", flagRegion: "region-f",
			zone: "zone-l", zoneFrom: "label topology.kubernetes.io/zone", region: "region-l", regionFrom: "label topology.kubernetes.io/region"},
		{name: "empty status values fall through", cluster: kfc("c1", zoneLabel, []string{""}, ptr.To("")),
			zone: "zone-l", zoneFrom: "label topology.kubernetes.io/zone", region: "region-l", regionFrom: "label topology.kubernetes.io/region"},
		{name: "flags last", cluster: kfc("c1", nil, nil, nil), flagZone: "zone-f", flagRegion: "region-f",
			zone: "zone-f", zoneFrom: "--zone", region: "region-f", regionFrom: "--region"},
		{name: "zone from status, region from flag", cluster: kfc("c1", nil, []string{"zone-s"}, nil), flagRegion: "region-f",
			zone: "zone-s", zoneFrom: "status.zones", region: "region-f", regionFrom: "--region"},
		{name: "no region is fine", cluster: kfc("c1", nil, []string{"zone-s"}, nil), zone: "zone-s", zoneFrom: "status.zones"},
		{name: "no zone", cluster: kfc("c1", map[string]string{corev1.LabelTopologyRegion: "r"}, nil, ptr.To("r")),
			skip: "no zone: its status.zones is empty, it has no label topology.kubernetes.io/zone, and --zone is not set"},
		{name: "invalid name", cluster: kfc("Cluster_1", nil, []string{"zone-s"}, nil), flagZone: "z",
			skip: `"Cluster_1" is not a valid MemberCluster name`},
		{name: "name too long", cluster: kfc(strings.Repeat("c", 48), nil, []string{"zone-s"}, nil),
			skip: "is not a valid MemberCluster name: must be no more than 47 characters"},
		{name: "zone not a label value", cluster: kfc("c1", nil, []string{"zone a"}, nil),
			skip: `its zone "zone a" (status.zones) is not a valid MemberCluster zone`},
		{name: "region not a label value", cluster: kfc("c1", map[string]string{corev1.LabelTopologyZone: "z"}, nil, ptr.To("-r-")),
			skip: `its region "-r-" (status.region) is not a valid MemberCluster region`},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := kubefedTopology(c.cluster, c.flagZone, c.flagRegion)
			if c.skip != "" {
				if !strings.Contains(p.Skip, c.skip) {
					t.Errorf("skip %q, want %q", p.Skip, c.skip)
				}
				return
			}
			want := kubefedPlan{Cluster: c.cluster.Name, APIEndpoint: c.cluster.Spec.APIEndpoint,
				Zone: c.zone, ZoneFrom: c.zoneFrom, Region: c.region, RegionFrom: c.regionFrom}
			if *p != want {
				t.Errorf("plan %+v, want %+v", *p, want)
			}
		})
	}
}

// importFixture is a kubefed federation of five clusters: c1 with zone and
// region in its status, c2 with its zone in a label and an existing
// unlabelled MemberCluster, c3 with a label only for the region, Bad_Name,
// and c5 whose zone is not a label value.
func importFixture(t *testing.T) (*dynamicfake.FakeDynamicClient, *porticofake.Clientset, *kubefake.Clientset) {
	t.Helper()
	fed := fakeKubefed(t,
		kfc("c1", nil, []string{"zone-a"}, ptr.To("r1")),
		kfc("c2", map[string]string{corev1.LabelTopologyZone: "zone-b"}, nil, nil),
		kfc("c3", map[string]string{corev1.LabelTopologyRegion: "r3"}, nil, nil),
		kfc("Bad_Name", nil, []string{"zone-a"}, nil),
		kfc("c5", nil, []string{"zone a"}, nil),
	)
	pc, kc := hubWith(t, preparedMemberCluster("c2", "zone-b", "r2", map[string]string{"team": "edge"}))
	return fed, pc, kc
}

func TestImportKubefed(t *testing.T) {
	fed, pc, kc := importFixture(t)
	f := testImportFlags()
	f.zone = "zone-f"
	r := runImport(t, fed, pc, kc, f)
	ctx := context.Background()

	// c1: created from status; c2: reused and labelled; c3: zone from --zone.
	for _, want := range []struct{ name, zone, region string }{{"c1", "zone-a", "r1"}, {"c2", "zone-b", "r2"}, {"c3", "zone-f", "r3"}} {
		mc, err := pc.ClusterV1alpha1().MemberClusters().Get(ctx, want.name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("MemberCluster %s: %v", want.name, err)
		}
		if mc.Spec.Zone != want.zone || mc.Spec.Region != want.region || mc.Labels[clusterv1alpha1.LabelKubefedCluster] != want.name {
			t.Errorf("MemberCluster %s: spec %+v, labels %v; want zone %s, region %s, label %s=%s", want.name, mc.Spec, mc.Labels,
				want.zone, want.region, clusterv1alpha1.LabelKubefedCluster, want.name)
		}
	}
	if mc, _ := pc.ClusterV1alpha1().MemberClusters().Get(ctx, "c2", metav1.GetOptions{}); mc.Labels["team"] != "edge" {
		t.Errorf("the reused MemberCluster lost its labels: %v", mc.Labels)
	}
	var created []string
	for _, a := range pc.Actions() {
		if a.GetVerb() == "create" {
			created = append(created, a.(clienttesting.CreateAction).GetObject().(*clusterv1alpha1.MemberCluster).Name)
		}
	}
	if want := []string{"c1", "c2", "c3"}; !slices.Equal(created, want) {
		t.Errorf("created %v, want %v (c2's create is refused as it exists; skipped clusters are not created)", created, want)
	}

	// The skipped ones are listed, and the command fails.
	if r.err == nil {
		t.Fatal("no error though two KubeFedClusters were skipped")
	}
	for _, want := range []string{"2 of 5 KubeFedClusters were not imported:", `Bad_Name: "Bad_Name" is not a valid MemberCluster name`,
		`c5: its zone "zone a" (status.zones) is not a valid MemberCluster zone`} {
		if !strings.Contains(r.err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, r.err)
		}
	}
	for _, want := range []string{"c2: reuse MemberCluster c2, zone zone-b (label topology.kubernetes.io/zone), region r2 (the existing MemberCluster's); add label portico.dev/kubefed-cluster=c2",
		"Labelled MemberCluster c2 portico.dev/kubefed-cluster=c2.", "Imported 3 KubeFedCluster(s): c1, c2, c3."} {
		if !strings.Contains(r.errOut, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}

	// stdout: three manifests, each with its header, separated by ---.
	const header = "# member-agent of the Portico member cluster "
	parts := strings.Split(r.out, header)
	if len(parts) != 4 || parts[0] != "" {
		t.Fatalf("stdout is not 3 manifests with a header each:\n%s", r.out)
	}
	for i, c := range []struct{ name, want string }{
		{"c1", "c1 (zone zone-a, region r1), imported from the KubeFedCluster kube-federation-system/c1 by kubectl portico import kubefed"},
		{"c2", "c2 (zone zone-b, region r2), imported"},
		{"c3", "c3 (zone zone-f, region r3), imported"},
	} {
		m := header + parts[i+1]
		if i < 2 && !strings.HasSuffix(m, "\n---\n") {
			t.Errorf("manifest %s is not followed by ---", c.name)
		}
		for _, w := range []string{c.want, "whose API server is https://" + c.name + ".example:6443 (the KubeFedCluster's spec.apiEndpoint)",
			"kubectl --context " + c.name + " apply", "- --cluster-name=" + c.name, "Hub: " + testHub.Server} {
			if !strings.Contains(m, w) {
				t.Errorf("manifest %s lacks %q:\n%s", c.name, w, m)
			}
		}
		if got, want := manifestToken(t, m), "token-of-portico-cluster-"+c.name; got != want {
			t.Errorf("manifest %s holds the token %q, want %q", c.name, got, want)
		}
	}
}

// manifestToken returns the token of the hub kubeconfig in a member-agent
// manifest's Secret.
func manifestToken(t *testing.T, manifest string) string {
	t.Helper()
	for _, doc := range strings.Split(manifest, "\n---\n") {
		var sec corev1.Secret
		if err := yaml.Unmarshal([]byte(doc), &sec); err != nil {
			t.Fatalf("manifest document: %v\n%s", err, doc)
		}
		if sec.Kind != "Secret" || sec.Name != manifests.MemberAgentHubSecret {
			continue
		}
		cfg, err := clientcmd.Load(sec.Data[manifests.MemberAgentHubKubeconfigKey])
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range cfg.AuthInfos {
			return u.Token
		}
	}
	t.Fatalf("no hub kubeconfig in\n%s", manifest)
	return ""
}

func TestImportKubefedDryRun(t *testing.T) {
	fed, pc, kc := importFixture(t)
	pc.ClearActions()
	kc.ClearActions()
	f := testImportFlags()
	f.dryRun = true
	r := runImport(t, fed, pc, kc, f)
	for _, a := range pc.Actions() {
		if a.GetVerb() != "list" && a.GetVerb() != "get" {
			t.Errorf("dry run wrote to the hub: %v %v", a.GetVerb(), a.GetResource())
		}
	}
	if acts := kc.Actions(); len(acts) != 0 {
		t.Errorf("dry run used the hub cluster's API: %v", acts)
	}
	for _, a := range fed.Actions() {
		if a.GetVerb() != "list" {
			t.Errorf("dry run did %s on kubefed's host cluster", a.GetVerb())
		}
	}
	want := []string{
		`Bad_Name: skip: "Bad_Name" is not a valid MemberCluster name: a lowercase RFC 1123 label must consist of`,
		"c1: create MemberCluster c1, zone zone-a (status.zones), region r1 (status.region), label portico.dev/kubefed-cluster=c1",
		"c2: reuse MemberCluster c2, zone zone-b (label topology.kubernetes.io/zone), region r2 (the existing MemberCluster's); add label portico.dev/kubefed-cluster=c2",
		"c3: skip: no zone: its status.zones is empty, it has no label topology.kubernetes.io/zone, and --zone is not set",
		`c5: skip: its zone "zone a" (status.zones) is not a valid MemberCluster zone: a valid label must be`,
	}
	lines := strings.Split(strings.TrimSuffix(r.out, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("dry run printed %d lines, want %d:\n%s", len(lines), len(want), r.out)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("dry run line %d:\n%s\nwant\n%s...", i, lines[i], w)
		}
	}
	if r.err == nil || !strings.Contains(r.err.Error(), "3 of 5 KubeFedClusters would not be imported:\n  Bad_Name: ") {
		t.Errorf("err %v", r.err)
	}
	if mcs, _ := pc.ClusterV1alpha1().MemberClusters().List(context.Background(), metav1.ListOptions{}); len(mcs.Items) != 1 {
		t.Errorf("%d MemberClusters after a dry run, want the 1 there was", len(mcs.Items))
	}

	// With everything importable, a dry run succeeds.
	fed = fakeKubefed(t, kfc("c1", nil, []string{"zone-a"}, nil))
	if r := runImport(t, fed, pc, kc, f); r.err != nil || !strings.Contains(r.errOut, "Dry run: nothing was changed.") {
		t.Errorf("dry run: %v, stderr %q", r.err, r.errOut)
	}
}

func TestImportKubefedExistingConflicts(t *testing.T) {
	fed := fakeKubefed(t,
		kfc("c1", nil, []string{"zone-a"}, nil),
		kfc("c2", nil, []string{"zone-a"}, ptr.To("r1")),
		kfc("c3", nil, []string{"zone-a"}, nil),
		kfc("c4", nil, []string{"zone-a"}, nil),
		kfc("c5", nil, []string{"zone-a"}, nil),
	)
	now := metav1.Now()
	deleting := preparedMemberCluster("c4", "zone-a", "", nil)
	deleting.DeletionTimestamp, deleting.Finalizers = &now, []string{clusterv1alpha1.MemberClusterFinalizer}
	pc, kc := hubWith(t,
		preparedMemberCluster("c1", "zone-b", "", nil),
		preparedMemberCluster("c2", "zone-a", "r2", nil),
		preparedMemberCluster("c3", "zone-a", "", map[string]string{clusterv1alpha1.LabelKubefedCluster: "other"}),
		deleting,
		preparedMemberCluster("c5", "zone-a", "", map[string]string{clusterv1alpha1.LabelKubefedCluster: "c5"}),
	)
	r := runImport(t, fed, pc, kc, testImportFlags())
	for _, want := range []string{
		"4 of 5 KubeFedClusters were not imported:",
		`c1: MemberCluster c1 already exists in zone "zone-b", not "zone-a" (status.zones)`,
		`c2: MemberCluster c2 already exists in region "r2", not "r1" (status.region)`,
		"c3: MemberCluster c3 already exists with label portico.dev/kubefed-cluster=other: it is another KubeFedCluster's",
		"c4: MemberCluster c4 is being deleted",
	} {
		if r.err == nil || !strings.Contains(r.err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, r.err)
		}
	}
	// c5 is already labelled: reused, not patched.
	if !strings.Contains(r.errOut, "c5: reuse MemberCluster c5, zone zone-a (status.zones), no region\n") || !strings.Contains(r.out, "member cluster c5") {
		t.Errorf("c5 not reused: stdout %q", r.out)
	}
	for _, a := range pc.Actions() {
		// (fakeHub's controller updates the status of every cluster created.)
		if v := a.GetVerb(); a.GetSubresource() == "" && (v == "patch" || v == "update" || v == "delete") {
			t.Errorf("%s %v", v, a)
		}
	}
}

func TestImportKubefedJoinFailureContinues(t *testing.T) {
	fed := fakeKubefed(t, kfc("c1", nil, []string{"zone-a"}, nil), kfc("c2", nil, []string{"zone-b"}, nil))
	pc, kc := hubWith(t)
	pc.PrependReactor("create", "memberclusters", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if a.(clienttesting.CreateAction).GetObject().(*clusterv1alpha1.MemberCluster).Name != "c1" {
			return false, nil, nil
		}
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "cluster.portico.dev", Resource: "memberclusters"}, "c1", nil)
	})
	r := runImport(t, fed, pc, kc, testImportFlags())
	if r.err == nil || !strings.Contains(r.err.Error(), "1 of 2 KubeFedClusters were not imported:\n  c1: creating MemberCluster c1: ") {
		t.Errorf("err %v", r.err)
	}
	if !strings.HasPrefix(r.out, "# member-agent of the Portico member cluster c2 (zone zone-b)") || strings.Count(r.out, "# member-agent of") != 1 {
		t.Errorf("stdout should hold c2's manifest only:\n%s", r.out)
	}
}

func TestImportKubefedOutputDir(t *testing.T) {
	fed := fakeKubefed(t, kfc("c1", nil, []string{"zone-a"}, nil), kfc("c2", nil, []string{"zone-b"}, nil))
	pc, kc := hubWith(t)
	dir := filepath.Join(t.TempDir(), "agents")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// A file left by an earlier run, readable by all: it gets mode 0600.
	if err := os.WriteFile(filepath.Join(dir, "c1.yaml"), []byte(strings.Repeat("old\n", 10000)), 0o644); err != nil {
		t.Fatal(err)
	}
	f := testImportFlags()
	f.outputDir = dir
	r := runImport(t, fed, pc, kc, f)
	if r.err != nil || r.out != "" {
		t.Fatalf("err %v, stdout %q", r.err, r.out)
	}
	for _, name := range []string{"c1", "c2"} {
		path := filepath.Join(dir, name+".yaml")
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v", path, fi.Mode().Perm())
		}
		data, _ := os.ReadFile(path)
		if !strings.HasPrefix(string(data), "# member-agent of the Portico member cluster "+name) || strings.Contains(string(data), "old\n") ||
			!strings.Contains(string(data), "--cluster-name="+name) || strings.HasPrefix(string(data), "---") {
			t.Errorf("%s:\n%s", path, data)
		}
		if !strings.Contains(r.errOut, "Wrote "+path+".") {
			t.Errorf("stderr does not name %s", path)
		}
	}
}

func TestImportKubefedNothingToImport(t *testing.T) {
	pc, kc := hubWith(t)
	r := runImport(t, fakeKubefed(t), pc, kc, testImportFlags())
	if r.err == nil || !strings.Contains(r.err.Error(), "no KubeFedClusters in namespace kube-federation-system") {
		t.Errorf("err %v", r.err)
	}
	fed := fakeKubefed(t)
	fed.PrependReactor("list", "kubefedclusters", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewNotFound(kubefed.ClustersResource.GroupResource(), "")
	})
	r = runImport(t, fed, pc, kc, testImportFlags())
	if r.err == nil || !strings.Contains(r.err.Error(), "does not serve KubeFedClusters") {
		t.Errorf("err %v", r.err)
	}
}

func TestImportKubefedCommandErrors(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"import", "kubefed", "extra"}, "import kubefed takes no arguments"},
		{[]string{"import", "nope"}, `unknown command "nope" for "kubectl portico import"`},
		{[]string{"import", "kubefed", "--token-duration", "1m"}, "--token-duration must be at least 10m"},
		{[]string{"import", "kubefed", "--zone", "zone a"}, `invalid --zone "zone a"`},
		{[]string{"import", "kubefed", "--image", ""}, "--image must not be empty"},
		{[]string{"import", "kubefed", "--kubeconfig", kubeconfig, "--kubefed-context", "nope"}, `context "nope" does not exist`},
		{[]string{"import", "kubefed", "--kubeconfig", kubeconfig, "--kubefed-kubeconfig", filepath.Join(t.TempDir(), "missing")},
			"loading the kubeconfig of kubefed's host cluster"},
	} {
		var out, errOut bytes.Buffer
		code := Main(context.Background(), IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, c.args)
		if code != 1 || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("%v: code %d, stderr %q, want %q", c.args, code, errOut.String(), c.want)
		}
		if out.Len() != 0 {
			t.Errorf("%v: stdout %q", c.args, out.String())
		}
	}
	var out bytes.Buffer
	if code := Main(context.Background(), IOStreams{Out: &out, ErrOut: &out}, []string{"import", "--help"}); code != 0 ||
		!strings.Contains(out.String(), "kubefed ") {
		t.Errorf("import --help: %d\n%s", code, out.String())
	}
}

func TestKubefedConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, server, current string) string {
		path := filepath.Join(dir, name)
		data := `apiVersion: v1
kind: Config
clusters: [{name: a, cluster: {server: "https://a` + server + `"}}, {name: b, cluster: {server: "https://b` + server + `"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: a, context: {cluster: a, user: u}}, {name: b, context: {cluster: b, user: u}}]
current-context: ` + current + "\n"
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	hubFile, fedFile := write("hub", ".hub", "a"), write("fed", ".fed", "a")
	for _, c := range []struct {
		hubArgs       []string
		fedFile, ctx  string
		want, wantHub string
	}{
		{hubArgs: []string{"--kubeconfig", hubFile}, want: "https://a.hub"},
		{hubArgs: []string{"--kubeconfig", hubFile, "--context", "b"}, wantHub: "https://b.hub", want: "https://b.hub"},
		{hubArgs: []string{"--kubeconfig", hubFile}, ctx: "b", want: "https://b.hub"},
		{hubArgs: []string{"--kubeconfig", hubFile, "--context", "b"}, fedFile: fedFile, want: "https://a.fed"},
		{hubArgs: []string{"--kubeconfig", hubFile}, fedFile: fedFile, ctx: "b", want: "https://b.fed"},
	} {
		kf := &kubeFlags{}
		fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
		kf.addFlags(fs)
		if err := fs.Parse(c.hubArgs); err != nil {
			t.Fatal(err)
		}
		hub, err := kf.restConfig()
		if err != nil {
			t.Fatal(err)
		}
		if c.wantHub != "" && hub.Host != c.wantHub {
			t.Errorf("%+v: hub %s", c, hub.Host)
		}
		f := &importKubefedFlags{kubeconfig: c.fedFile, context: c.ctx}
		cfg, err := f.kubefedConfig(kf, hub)
		if err != nil || cfg.Host != c.want {
			t.Errorf("%+v: kubefed's host cluster %v (%v), want %s", c, cfg, err, c.want)
		}
	}
}

func TestJoinLabels(t *testing.T) {
	ctx := context.Background()
	labels := map[string]string{clusterv1alpha1.LabelKubefedCluster: "c1"}
	pc, kc := hubWith(t)
	if _, err := Join(ctx, pc, kc, JoinOptions{Name: "c1", Zone: "zone-a", Labels: labels, Hub: testHub}); err != nil {
		t.Fatal(err)
	}
	if mc, _ := pc.ClusterV1alpha1().MemberClusters().Get(ctx, "c1", metav1.GetOptions{}); mc.Labels[clusterv1alpha1.LabelKubefedCluster] != "c1" {
		t.Errorf("created MemberCluster's labels %v", mc.Labels)
	}

	// Reused: the missing label is added, the others kept.
	pc, kc = hubWith(t, preparedMemberCluster("c1", "zone-a", "", map[string]string{"team": "edge"}))
	if _, err := Join(ctx, pc, kc, JoinOptions{Name: "c1", Zone: "zone-a", Labels: labels, Hub: testHub}); err != nil {
		t.Fatal(err)
	}
	mc, _ := pc.ClusterV1alpha1().MemberClusters().Get(ctx, "c1", metav1.GetOptions{})
	if mc.Labels[clusterv1alpha1.LabelKubefedCluster] != "c1" || mc.Labels["team"] != "edge" {
		t.Errorf("reused MemberCluster's labels %v", mc.Labels)
	}
	// Present: nothing is patched.
	pc.ClearActions()
	if _, err := Join(ctx, pc, kc, JoinOptions{Name: "c1", Zone: "zone-a", Labels: labels, Hub: testHub}); err != nil {
		t.Fatal(err)
	}
	for _, a := range pc.Actions() {
		if a.GetVerb() == "patch" {
			t.Errorf("patched a MemberCluster that has the label: %v", a)
		}
	}
	// Another value: refused, unchanged.
	_, err := Join(ctx, pc, kc, JoinOptions{Name: "c1", Zone: "zone-a", Labels: map[string]string{clusterv1alpha1.LabelKubefedCluster: "c9"}, Hub: testHub})
	if err == nil || !strings.Contains(err.Error(), "MemberCluster c1 already exists with label portico.dev/kubefed-cluster=c1, not c9") {
		t.Errorf("err %v", err)
	}
	// Invalid labels are refused before anything is done.
	pc.ClearActions()
	_, err = Join(ctx, pc, kc, JoinOptions{Name: "c2", Zone: "zone-a", Labels: map[string]string{"a b": "c"}, Hub: testHub})
	if err == nil || !strings.Contains(err.Error(), "invalid labels for MemberCluster c2: metadata.labels: Invalid value: \"a b\"") {
		t.Errorf("err %v", err)
	}
	// (The fake hub may still be writing c1's status from the joins above.)
	for _, a := range pc.Actions() {
		if n, ok := a.(interface{ GetName() string }); ok && n.GetName() == "c2" || a.GetVerb() == "create" {
			t.Errorf("acted on the hub for an invalid join: %v", a)
		}
	}
}
