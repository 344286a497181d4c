//go:build integration

package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/yaml"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// fapYAML is a small valid FederatedAccessPoint.
func fapYAML(ns, name string, hosts ...string) string {
	return fmt.Sprintf(`apiVersion: traffic.portico.dev/v1alpha1
kind: FederatedAccessPoint
metadata:
  name: %s
  namespace: %s
spec:
  hosts: [%s]
`, name, ns, strings.Join(hosts, ", "))
}

func readyCondition(status metav1.ConditionStatus, generation int64) metav1.Condition {
	return metav1.Condition{
		Type: "Ready", Status: status, Reason: "Test" + string(status), Message: "set by the test",
		ObservedGeneration: generation, LastTransitionTime: metav1.Now(),
	}
}

type cmdResult struct {
	stdout string
	err    error
}

// runAsync starts kubectl and delivers its stdout and exit error once it exits.
func runAsync(t *testing.T, ctx context.Context, kubeconfig string, args ...string) (<-chan cmdResult, func() string) {
	t.Helper()
	cmd, stdout, stderr := startKubectl(t, ctx, kubeconfig, args...)
	done := make(chan cmdResult, 1)
	go func() {
		b, _ := io.ReadAll(stdout)
		err := cmd.Wait()
		done <- cmdResult{string(b), err}
	}()
	return done, stderr.String
}

// TestKubectlWait: kubectl wait --for=condition=Ready blocks while the access
// point has no Ready=True condition (timing out with a non-zero exit) and
// returns as soon as one is written through the status subresource; -o yaml
// then shows spec and status.
func TestKubectlWait(t *testing.T) {
	e := hubEnv(t)
	ctx := context.Background()
	ns := e.newNamespace(t, "wait")
	e.mustApplyYAML(t, fapYAML(ns, "checkout", "checkout.wait.example.com"), "apply")

	start := time.Now()
	out, stderr, err := e.kubectl(t, "wait", "fap/checkout", "-n", ns, "--for=condition=Ready", "--timeout=2s")
	if err == nil {
		t.Fatalf("kubectl wait succeeded for an access point without status:\n%s", out)
	}
	if _, ok := err.(*exec.ExitError); !ok || !strings.Contains(stderr, "timed out") {
		t.Errorf("kubectl wait: err=%v, want a non-zero exit and a time-out message; stderr:\n%s", err, stderr)
	}
	if d := time.Since(start); d < 2*time.Second {
		t.Errorf("kubectl wait gave up after %v, before its 2s timeout", d)
	}

	waitCtx, cancel := context.WithTimeout(ctx, 40*time.Second)
	defer cancel()
	done, waitStderr := runAsync(t, waitCtx, e.hub.KubeconfigPath, "wait", "fap/checkout", "-n", ns, "--for=condition=Ready", "--timeout=20s")
	stillWaiting := func(when string) {
		t.Helper()
		select {
		case r := <-done:
			t.Fatalf("kubectl wait returned %s: err=%v stdout=%q stderr=%q", when, r.err, r.stdout, waitStderr())
		case <-time.After(1500 * time.Millisecond):
		}
	}
	stillWaiting("before any status was written")

	// Ready=False (through the clientset's UpdateStatus) does not satisfy it.
	faps := e.pc.TrafficV1alpha1().FederatedAccessPoints(ns)
	fap, err := faps.Get(ctx, "checkout", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fap.Status.ObservedGeneration = fap.Generation
	fap.Status.Conditions = []metav1.Condition{readyCondition(metav1.ConditionFalse, fap.Generation)}
	if _, err := faps.UpdateStatus(ctx, fap, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	stillWaiting("for Ready=False")

	// Ready=True through kubectl patch --subresource=status ends the wait.
	patch := fmt.Sprintf(`{"status":{"conditions":[{"type":"Ready","status":"True","reason":"Reconciled","message":"all good","observedGeneration":%d,"lastTransitionTime":%q}]}}`,
		fap.Generation, time.Now().UTC().Format(time.RFC3339))
	written := time.Now()
	e.mustKubectl(t, "patch", "fap", "checkout", "-n", ns, "--subresource=status", "--type=merge", "-p", patch)
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("kubectl wait failed after Ready=True: %v\n%s\n%s", r.err, r.stdout, waitStderr())
		}
		if !strings.Contains(r.stdout, "condition met") {
			t.Errorf("kubectl wait output: %q", r.stdout)
		}
		t.Logf("kubectl wait returned %v after the status write", time.Since(written).Round(time.Millisecond))
	case <-time.After(15 * time.Second):
		t.Fatalf("kubectl wait did not return within 15s of Ready=True")
	}

	// -o yaml shows spec and status.
	var obj struct {
		APIVersion string                                     `json:"apiVersion"`
		Kind       string                                     `json:"kind"`
		Metadata   metav1.ObjectMeta                          `json:"metadata"`
		Spec       map[string]any                             `json:"spec"`
		Status     trafficv1alpha1.FederatedAccessPointStatus `json:"status"`
	}
	y := e.mustKubectl(t, "get", "fap", "checkout", "-n", ns, "-o", "yaml")
	if err := yaml.Unmarshal([]byte(y), &obj); err != nil {
		t.Fatalf("-o yaml: %v\n%s", err, y)
	}
	if obj.APIVersion != "traffic.portico.dev/v1alpha1" || obj.Kind != "FederatedAccessPoint" || obj.Metadata.Name != "checkout" || obj.Metadata.Namespace != ns {
		t.Errorf("-o yaml type and metadata: %s %s %s/%s", obj.APIVersion, obj.Kind, obj.Metadata.Namespace, obj.Metadata.Name)
	}
	if hosts, _ := obj.Spec["hosts"].([]any); len(hosts) != 1 || hosts[0] != "checkout.wait.example.com" {
		t.Errorf("-o yaml spec: %v", obj.Spec)
	}
	if len(obj.Status.Conditions) != 1 || obj.Status.Conditions[0].Type != "Ready" || obj.Status.Conditions[0].Status != metav1.ConditionTrue ||
		obj.Status.Conditions[0].Reason != "Reconciled" || obj.Status.ObservedGeneration != fap.Generation {
		t.Errorf("-o yaml status: %+v", obj.Status)
	}
	tb := parseTable(t, e.mustKubectl(t, "get", "fap", "checkout", "-n", ns))
	if row := tb.row("checkout"); row == nil || row["READY"] != "True" || row["VIP"] != "<none>" {
		t.Errorf("get fap after Ready=True: %v", row)
	}
}

// lineReader delivers the lines kubectl prints.
type lineReader struct {
	lines  chan string
	seen   []string
	stderr func() string
}

func newLineReader(r io.Reader, stderr func() string) *lineReader {
	lr := &lineReader{lines: make(chan string, 100), stderr: stderr}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lr.lines <- sc.Text()
		}
		close(lr.lines)
	}()
	return lr
}

// expect waits for a line matching re and returns it.
func (lr *lineReader) expect(t *testing.T, re string, why string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-lr.lines:
			if !ok {
				t.Fatalf("kubectl exited before printing a line matching %q (%s); printed %q; stderr %q", re, why, lr.seen, lr.stderr())
			}
			lr.seen = append(lr.seen, l)
			if rx.MatchString(l) {
				return l
			}
		case <-timeout:
			t.Fatalf("no line matching %q within 10s (%s); printed %q", re, why, lr.seen)
		}
	}
}

// TestKubectlGetWatch: kubectl get mc -w prints the initial rows and a new
// line for every change (spec patch, status write, creation, deletion) of the
// selected objects.
func TestKubectlGetWatch(t *testing.T) {
	e := hubEnv(t)
	ctx := context.Background()
	label := uniqueName("watch")
	mcs := e.pc.ClusterV1alpha1().MemberClusters()
	newMC := func(name, zone string) {
		t.Helper()
		_, err := mcs.Create(ctx, &clusterv1alpha1.MemberCluster{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"portico-test/watch": label}},
			Spec:       clusterv1alpha1.MemberClusterSpec{Zone: zone},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	first, second := uniqueName("w1"), uniqueName("w2")
	newMC(first, "zone-w")

	watchCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, stdout, stderr := startKubectl(t, watchCtx, e.hub.KubeconfigPath, "get", "mc", "-l", "portico-test/watch="+label, "-w")
	lr := newLineReader(stdout, stderr.String)
	lr.expect(t, `^NAME\s+ZONE\s+REGION\s+AVAILABLE\s+AGENT\s+AGE$`, "header")
	lr.expect(t, `^`+first+`\s+zone-w\s+Unknown\s`, "initial row")

	e.mustKubectl(t, "patch", "mc", first, "--type=merge", "-p", `{"spec":{"region":"region-w2"}}`)
	lr.expect(t, `^`+first+`\s+zone-w\s+region-w2\s+Unknown\s`, "row after the region changed")

	newMC(second, "zone-v")
	lr.expect(t, `^`+second+`\s+zone-v\s+Unknown\s`, "row of a new cluster")

	// The hub's controller writes the status too: retry on conflicts.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		mc, err := mcs.Get(ctx, second, metav1.GetOptions{})
		if err != nil {
			return err
		}
		mc.Status.Agent.Version = "v9.9.9"
		meta.SetStatusCondition(&mc.Status.Conditions, metav1.Condition{Type: "Available", Status: metav1.ConditionTrue, Reason: "LeaseFresh"})
		_, err = mcs.UpdateStatus(ctx, mc, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// The hub's membercluster controller may already have set AVAILABLE
	// back to Unknown (there is no agent Lease); the agent version stays.
	lr.expect(t, `^`+second+`\s+zone-v\s+(True|Unknown)\s+v9\.9\.9\s`, "row after a status write")

	if err := mcs.Delete(ctx, first, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	lr.expect(t, `^`+first+`\s`, "row for the deletion")

	// A cluster without the label never shows up.
	other := uniqueName("w3")
	_, err := mcs.Create(ctx, &clusterv1alpha1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: other}, Spec: clusterv1alpha1.MemberClusterSpec{Zone: "zone-w"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.mustKubectl(t, "patch", "mc", second, "--type=merge", "-p", `{"spec":{"region":"region-last"}}`)
	lr.expect(t, `^`+second+`\s+zone-v\s+region-last\s`, "row after the last change")
	t.Logf("kubectl get -w printed:\n%s", strings.Join(lr.seen, "\n"))
	for _, l := range lr.seen {
		if strings.HasPrefix(l, other) {
			t.Errorf("the watch printed a cluster outside its label selector: %q", l)
		}
	}
}

// TestSelectors: the hub derives the topology labels from spec (overriding
// what the user wrote), label selectors use them, and the field selectors the
// contract names (spec.zone of MemberCluster, spec.pool of VirtualIP,
// spec.group of LoadBalancerNode, spec.loadBalancer.pool of
// FederatedAccessPoint) filter on the server; other fields are rejected.
func TestSelectors(t *testing.T) {
	e := hubEnv(t)
	ctx := context.Background()
	mcs := e.pc.ClusterV1alpha1().MemberClusters()
	zoneA, zoneB := uniqueName("za"), uniqueName("zb")
	s1, s2, s3 := uniqueName("sel1"), uniqueName("sel2"), uniqueName("sel3")
	for _, mc := range []*clusterv1alpha1.MemberCluster{
		{ObjectMeta: metav1.ObjectMeta{Name: s1}, Spec: clusterv1alpha1.MemberClusterSpec{Zone: zoneA}},
		// The hub owns the topology labels: a user's value is replaced.
		{ObjectMeta: metav1.ObjectMeta{Name: s2, Labels: map[string]string{clusterv1alpha1.LabelZone: "bogus", "team": "x"}}, Spec: clusterv1alpha1.MemberClusterSpec{Zone: zoneA, Region: "r-sel"}},
		{ObjectMeta: metav1.ObjectMeta{Name: s3}, Spec: clusterv1alpha1.MemberClusterSpec{Zone: zoneB, Region: "r-sel"}},
	} {
		if _, err := mcs.Create(ctx, mc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := mcs.Get(ctx, s2, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{clusterv1alpha1.LabelZone: zoneA, clusterv1alpha1.LabelRegion: "r-sel", "team": "x"}; !maps.Equal(got.Labels, want) {
		t.Errorf("labels of %s = %v, want %v", s2, got.Labels, want)
	}
	if got, err := mcs.Get(ctx, s1, metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	} else if _, ok := got.Labels[clusterv1alpha1.LabelRegion]; ok || got.Labels[clusterv1alpha1.LabelZone] != zoneA {
		t.Errorf("labels of %s (no region) = %v", s1, got.Labels)
	}

	names := func(args ...string) []string {
		t.Helper()
		out := e.mustKubectl(t, append([]string{"get"}, append(args, "-o", "name")...)...)
		n := strings.Fields(out)
		for i := range n {
			n[i] = n[i][strings.Index(n[i], "/")+1:]
		}
		slices.Sort(n)
		return n
	}
	check := func(got []string, want ...string) {
		t.Helper()
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("selected %v, want %v", got, want)
		}
	}
	check(names("mc", "-l", clusterv1alpha1.LabelZone+"="+zoneA), s1, s2)
	check(names("mc", "-l", clusterv1alpha1.LabelZone+" in ("+zoneA+","+zoneB+"),"+clusterv1alpha1.LabelRegion+"=r-sel"), s2, s3)
	check(names("mc", "--field-selector", "spec.zone="+zoneA), s1, s2)
	check(names("mc", "--field-selector", "spec.zone="+zoneA+",metadata.name="+s1), s1)
	check(names("mc", "--field-selector", "spec.zone="+zoneB+",spec.region=r-sel"), s3)

	// Changing the zone moves the label.
	e.mustKubectl(t, "patch", "mc", s1, "--type=merge", "-p", `{"spec":{"zone":"`+zoneB+`"}}`)
	check(names("mc", "-l", clusterv1alpha1.LabelZone+"="+zoneA), s2)
	check(names("mc", "-l", clusterv1alpha1.LabelZone+"="+zoneB), s1, s3)
	check(names("mc", "--field-selector", "spec.zone="+zoneB), s1, s3)
	// Removing the hub's label by hand does not stick either.
	e.mustKubectl(t, "label", "mc", s3, clusterv1alpha1.LabelZone+"-")
	check(names("mc", "-l", clusterv1alpha1.LabelZone+"="+zoneB), s1, s3)

	// VirtualIPs by pool.
	poolA, poolB := uniqueName("pool-a"), uniqueName("pool-b")
	vips := e.pc.TrafficV1alpha1().VirtualIPs()
	var inA, inB []string
	for _, pool := range []string{poolA, poolA, poolB} {
		addr := nextIPv4()
		if _, err := vips.Create(ctx, &trafficv1alpha1.VirtualIP{
			ObjectMeta: metav1.ObjectMeta{Name: addr},
			Spec:       trafficv1alpha1.VirtualIPSpec{Address: addr, Pool: pool},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if pool == poolA {
			inA = append(inA, addr)
		} else {
			inB = append(inB, addr)
		}
	}
	check(names("virtualips", "--field-selector", "spec.pool="+poolA), inA...)
	check(names("vip", "--field-selector", "spec.pool="+poolB), inB...)

	// LoadBalancerNodes by group.
	groupA, groupB := uniqueName("grp-a"), uniqueName("grp-b")
	lbns := e.pc.ClusterV1alpha1().LoadBalancerNodes()
	var inGroupA []string
	for i, group := range []string{groupA, groupB, groupA} {
		name := uniqueName("lbn")
		if _, err := lbns.Create(ctx, &clusterv1alpha1.LoadBalancerNode{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       clusterv1alpha1.LoadBalancerNodeSpec{Group: group, Address: fmt.Sprintf("10.9.0.%d", i+1)},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if group == groupA {
			inGroupA = append(inGroupA, name)
		}
	}
	check(names("lbn", "--field-selector", "spec.group="+groupA), inGroupA...)

	// Access points by pool, in a namespace and across namespaces.
	ns := e.newNamespace(t, "sel")
	pool := uniqueName("fap-pool")
	e.mustApplyYAML(t, fapYAML(ns, "with-pool", "a.sel.example.com")+"  loadBalancer:\n    pool: "+pool+"\n", "apply")
	e.mustApplyYAML(t, fapYAML(ns, "without-pool", "b.sel.example.com"), "apply")
	check(names("fap", "-n", ns, "--field-selector", "spec.loadBalancer.pool="+pool), "with-pool")
	check(names("fap", "-A", "--field-selector", "spec.loadBalancer.pool="+pool), "with-pool")
	check(names("fap", "-n", ns, "--field-selector", "metadata.name=without-pool"), "without-pool")

	// Fields that are not selectable are rejected, not ignored.
	for _, args := range [][]string{
		{"mc", "--field-selector", "spec.bogus=x"},
		{"mc", "--field-selector", "status.agent.version=v1"},
		{"vippools", "--field-selector", "spec.cidrs=10.0.0.0/8"},
		{"lbn", "--field-selector", "spec.zone=" + zoneA},
		{"fap", "-A", "--field-selector", "spec.hosts=a.sel.example.com"},
	} {
		out, stderr, err := e.kubectl(t, append([]string{"get"}, args...)...)
		field := strings.SplitN(args[len(args)-1], "=", 2)[0]
		if err == nil {
			t.Errorf("kubectl get %v succeeded:\n%s", args, out)
		} else if !strings.Contains(stderr, "field label not supported") || !strings.Contains(stderr, field) {
			t.Errorf("kubectl get %v: error does not say that %s is not supported:\n%s", args, field, stderr)
		}
	}
	// The same through the clientset: a BadRequest.
	if _, err := mcs.List(ctx, metav1.ListOptions{FieldSelector: "spec.bogus=x"}); err == nil || !strings.Contains(err.Error(), "spec.bogus") {
		t.Errorf("list with an unsupported field selector: %v", err)
	}
}
