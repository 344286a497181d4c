//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// managerFields returns, per field manager and operation, the managed fields
// JSON of an object.
func managerFields(fap *trafficv1alpha1.FederatedAccessPoint) map[string]string {
	m := map[string]string{}
	for _, mf := range fap.ManagedFields {
		fields := ""
		if mf.FieldsV1 != nil {
			fields = string(mf.FieldsV1.Raw)
		}
		key := mf.Manager + "/" + string(mf.Operation)
		if mf.Subresource != "" {
			key += "/" + mf.Subresource
		}
		m[key] = fields
	}
	return m
}

func sortedKeys(m map[string]string) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	slices.Sort(k)
	return k
}

// TestServerSideApply: server-side apply tracks field managers: a second
// manager's conflicting value is refused until --force-conflicts, which moves
// the ownership; hosts is a set that two managers share; status sent to the
// main resource is dropped.
func TestServerSideApply(t *testing.T) {
	e := hubEnv(t)
	ctx := context.Background()
	ns := e.newNamespace(t, "ssa")
	faps := e.pc.TrafficV1alpha1().FederatedAccessPoints(ns)
	get := func() *trafficv1alpha1.FederatedAccessPoint {
		t.Helper()
		fap, err := faps.Get(ctx, "shop", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return fap
	}

	first := fapYAML(ns, "shop", "a.ssa.example.com") + "  loadBalancer:\n    pool: pool-one\n    ports:\n    - {name: http, port: 80}\n"
	out := e.mustApplyYAML(t, first, "apply", "--server-side")
	if !strings.Contains(out, "federatedaccesspoint.traffic.portico.dev/shop serverside-applied") {
		t.Errorf("apply --server-side: %s", out)
	}
	fap := get()
	mf := managerFields(fap)
	if !slices.Equal(sortedKeys(mf), []string{"kubectl/Apply"}) {
		t.Errorf("managers after the first apply: %v", sortedKeys(mf))
	}
	for _, f := range []string{`"f:pool"`, `"v:\"a.ssa.example.com\""`, `"k:{\"port\":80,\"protocol\":\"TCP\"}"`} {
		if !strings.Contains(mf["kubectl/Apply"], f) {
			t.Errorf("kubectl does not own %s: %s", f, mf["kubectl/Apply"])
		}
	}
	rv, generation := fap.ResourceVersion, fap.Generation

	// Another manager applying another pool conflicts with kubectl's.
	conflicting := fapYAML(ns, "shop", "a.ssa.example.com") + "  loadBalancer:\n    pool: pool-two\n"
	out, stderr, err := e.applyYAML(t, conflicting, "apply", "--server-side", "--field-manager=other")
	if err == nil {
		t.Fatalf("a conflicting apply succeeded: %s", out)
	}
	if !strings.Contains(stderr, "conflict") || !strings.Contains(stderr, `conflict with "kubectl"`) || !strings.Contains(stderr, ".spec.loadBalancer.pool") {
		t.Errorf("the conflict error does not name the manager and the field:\n%s", stderr)
	}
	if fap := get(); fap.Spec.LoadBalancer.Pool != "pool-one" || fap.ResourceVersion != rv || fap.Generation != generation || len(managerFields(fap)) != 1 {
		t.Errorf("the refused apply changed the object: pool=%s rv %s -> %s, managers %v", fap.Spec.LoadBalancer.Pool, rv, fap.ResourceVersion, sortedKeys(managerFields(fap)))
	}

	// --force-conflicts takes the field over.
	e.mustApplyYAML(t, conflicting, "apply", "--server-side", "--field-manager=other", "--force-conflicts")
	fap = get()
	if fap.Spec.LoadBalancer.Pool != "pool-two" {
		t.Errorf("pool after --force-conflicts: %s", fap.Spec.LoadBalancer.Pool)
	}
	if fap.Generation != 2 {
		t.Errorf("generation after the spec change: %d, want 2", fap.Generation)
	}
	mf = managerFields(fap)
	if !slices.Equal(sortedKeys(mf), []string{"kubectl/Apply", "other/Apply"}) {
		t.Errorf("managers: %v", sortedKeys(mf))
	}
	if !strings.Contains(mf["other/Apply"], `"f:pool"`) || strings.Contains(mf["kubectl/Apply"], `"f:pool"`) {
		t.Errorf("pool ownership did not move to other:\nkubectl: %s\nother: %s", mf["kubectl/Apply"], mf["other/Apply"])
	}
	// The ports, which other did not apply, stay kubectl's and stay put.
	if !strings.Contains(mf["kubectl/Apply"], `"f:ports"`) || len(fap.Spec.LoadBalancer.Ports) != 1 {
		t.Errorf("ports after other's apply: %v; kubectl owns %s", fap.Spec.LoadBalancer.Ports, mf["kubectl/Apply"])
	}

	// hosts is a set (listType=set): two managers' hosts are merged, not a
	// conflict, and each owns its own.
	e.mustApplyYAML(t, fapYAML(ns, "shop", "b.ssa.example.com")+"  loadBalancer:\n    pool: pool-two\n", "apply", "--server-side", "--field-manager=other")
	fap = get()
	if want := []string{"a.ssa.example.com", "b.ssa.example.com"}; !slices.Equal(fap.Spec.Hosts, want) {
		t.Errorf("hosts after two managers applied: %v, want %v", fap.Spec.Hosts, want)
	}
	mf = managerFields(fap)
	if !strings.Contains(mf["other/Apply"], `b.ssa.example.com`) || strings.Contains(mf["other/Apply"], `a.ssa.example.com`) {
		t.Errorf("other's hosts: %s", mf["other/Apply"])
	}
	// A manager that stops applying a host removes it (it was the only owner).
	e.mustApplyYAML(t, fapYAML(ns, "shop", "c.ssa.example.com")+"  loadBalancer:\n    pool: pool-two\n", "apply", "--server-side", "--field-manager=other")
	if fap = get(); !slices.Equal(fap.Spec.Hosts, []string{"a.ssa.example.com", "c.ssa.example.com"}) {
		t.Errorf("hosts after other replaced its host: %v", fap.Spec.Hosts)
	}

	// managedFields through kubectl.
	out = e.mustKubectl(t, "get", "fap", "shop", "-n", ns, "--show-managed-fields", "-o", "jsonpath={range .metadata.managedFields[*]}{.manager}:{.operation}{\"\\n\"}{end}")
	if got := strings.Fields(out); !slices.Equal(got, []string{"kubectl:Apply", "other:Apply"}) {
		t.Errorf("kubectl lists the managers %v", got)
	}

	// Status applied through the main resource is dropped (status is reset
	// there), also on create.
	withStatus := fapYAML(ns, "with-status", "s.ssa.example.com") + `status:
  observedGeneration: 7
  revision: forged
  conditions:
  - {type: Ready, status: "True", reason: Forged, message: "", lastTransitionTime: "2024-01-01T00:00:00Z"}
`
	e.mustApplyYAML(t, withStatus, "apply", "--server-side")
	ws, err := faps.Get(ctx, "with-status", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ws.Status.Revision != "" || len(ws.Status.Conditions) != 0 || ws.Status.ObservedGeneration != 0 {
		t.Errorf("status applied with the main resource on create was stored: %+v", ws.Status)
	}
	if strings.Contains(managerFields(ws)["kubectl/Apply"], "f:status") {
		t.Errorf("kubectl owns status fields: %s", managerFields(ws)["kubectl/Apply"])
	}
	// And on update, when a status exists.
	ws.Status.Revision = "real"
	ws.Status.Conditions = []metav1.Condition{readyCondition(metav1.ConditionFalse, ws.Generation)}
	if _, err := faps.UpdateStatus(ctx, ws, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.mustApplyYAML(t, strings.Replace(withStatus, "s.ssa.example.com", "s2.ssa.example.com", 1), "apply", "--server-side")
	ws, err = faps.Get(ctx, "with-status", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ws.Spec.Hosts[0] != "s2.ssa.example.com" || ws.Status.Revision != "real" || len(ws.Status.Conditions) != 1 || ws.Status.Conditions[0].Status != metav1.ConditionFalse {
		t.Errorf("after applying spec and status to the main resource: hosts %v, status %+v", ws.Spec.Hosts, ws.Status)
	}

	// Status has its own server-side apply through /status.
	patch := `{"apiVersion":"traffic.portico.dev/v1alpha1","kind":"FederatedAccessPoint","metadata":{"name":"with-status","namespace":"` + ns + `"},` +
		`"spec":{"hosts":["ignored.ssa.example.com"]},"status":{"revision":"from-status-apply"}}`
	res := e.pc.TrafficV1alpha1().RESTClient().Patch("application/apply-patch+yaml").
		Namespace(ns).Resource("federatedaccesspoints").Name("with-status").SubResource("status").
		Param("fieldManager", "status-writer").Param("force", "true").Body([]byte(patch)).Do(ctx)
	if err := res.Error(); err != nil {
		t.Fatalf("server-side apply of /status: %v", err)
	}
	ws, err = faps.Get(ctx, "with-status", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ws.Status.Revision != "from-status-apply" || ws.Spec.Hosts[0] != "s2.ssa.example.com" {
		t.Errorf("after applying /status: hosts %v revision %q", ws.Spec.Hosts, ws.Status.Revision)
	}
	if f, ok := managerFields(ws)["status-writer/Apply/status"]; !ok || !strings.Contains(f, "f:revision") || strings.Contains(f, "f:spec") {
		t.Errorf("status-writer's managed fields: %v", managerFields(ws))
	}
}

// TestServerSideApplyTemplatesAreAtomic: server-side apply owns an Istio
// template (a JSONObject) as one value: the managed fields name the template,
// not its content; another manager's different template is a conflict on the
// whole template, and with --force-conflicts it replaces the template, keeping
// nothing of the previous one.
func TestServerSideApplyTemplatesAreAtomic(t *testing.T) {
	e := hubEnv(t)
	ctx := context.Background()
	ns := e.newNamespace(t, "ssa-atomic")
	withVS := func(http string) string {
		return fapYAML(ns, "shop", "a.ssa-atomic.example.com") + `  template:
    virtualServices:
    - name: vs
      spec:
        hosts: [a.ssa-atomic.example.com]
        http:
` + http
	}
	e.mustApplyYAML(t, withVS("        - timeout: 5s\n          route:\n          - destination: {host: web.shop.svc.cluster.local}\n"), "apply", "--server-side")
	fap, err := e.pc.TrafficV1alpha1().FederatedAccessPoints(ns).Get(ctx, "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	owned := managerFields(fap)["kubectl/Apply"]
	if !strings.Contains(owned, `"k:{\"name\":\"vs\"}":{".":{},"f:name":{},"f:spec":{}}`) {
		t.Errorf("kubectl does not own the template's spec as one value: %s", owned)
	}
	for _, inside := range []string{`"f:http"`, `"f:timeout"`, `"f:route"`} {
		if strings.Contains(owned, inside) {
			t.Errorf("the managed fields list %s inside the template: %s", inside, owned)
		}
	}

	// Another manager's template: a conflict on the template as a whole, even
	// for a field kubectl did not set.
	other := withVS("        - retries: {attempts: 3}\n          route:\n          - destination: {host: web.shop.svc.cluster.local}\n")
	out, stderr, err := e.applyYAML(t, other, "apply", "--server-side", "--field-manager=other")
	if err == nil {
		t.Fatalf("another manager's template was applied without a conflict: %s", out)
	}
	if !strings.Contains(stderr, `conflict with "kubectl"`) || !strings.Contains(stderr, `.spec.template.virtualServices[name="vs"].spec`) {
		t.Errorf("the conflict does not name the manager and the whole template:\n%s", stderr)
	}

	// Forced, it replaces the template: kubectl's timeout is gone.
	e.mustApplyYAML(t, other, "apply", "--server-side", "--field-manager=other", "--force-conflicts")
	fap, err = e.pc.TrafficV1alpha1().FederatedAccessPoints(ns).Get(ctx, "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec := string(fap.Spec.Template.VirtualServices[0].Spec.Raw)
	if strings.Contains(spec, "timeout") || !strings.Contains(spec, `"retries"`) {
		t.Errorf("the template after the forced apply is not other's alone: %s", spec)
	}
	if mf := managerFields(fap); strings.Contains(mf["kubectl/Apply"], `"f:spec":{}`) || !strings.Contains(mf["other/Apply"], `"f:spec":{}`) {
		t.Errorf("the template's ownership did not move to other: %v", mf)
	}
}

// TestClientSideApplyEditPatch: client-side apply creates and updates,
// kubectl edit (with a scripted editor) and kubectl patch in its three types
// change the object; none of them touches the status.
func TestClientSideApplyEditPatch(t *testing.T) {
	e := hubEnv(t)
	ctx := context.Background()
	ns := e.newNamespace(t, "csa")
	faps := e.pc.TrafficV1alpha1().FederatedAccessPoints(ns)
	get := func() *trafficv1alpha1.FederatedAccessPoint {
		t.Helper()
		fap, err := faps.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return fap
	}

	doc := fapYAML(ns, "web", "web.csa.example.com") + "  placement:\n    zones: [zone-x]\n"
	if out := e.mustApplyYAML(t, doc, "apply"); !strings.Contains(out, "federatedaccesspoint.traffic.portico.dev/web created") {
		t.Errorf("apply: %s", out)
	}
	fap := get()
	if _, ok := fap.Annotations["kubectl.kubernetes.io/last-applied-configuration"]; !ok {
		t.Errorf("no last-applied-configuration annotation: %v", fap.Annotations)
	}
	fap.Status.Revision = "r1"
	if _, err := faps.UpdateStatus(ctx, fap, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Changing the file and applying again updates; removing a field from the
	// file removes it from the object.
	doc = fapYAML(ns, "web", "web.csa.example.com", "www.csa.example.com")
	if out := e.mustApplyYAML(t, doc, "apply"); !strings.Contains(out, "federatedaccesspoint.traffic.portico.dev/web configured") {
		t.Errorf("apply: %s", out)
	}
	fap = get()
	if !slices.Equal(fap.Spec.Hosts, []string{"web.csa.example.com", "www.csa.example.com"}) || fap.Spec.Placement != nil || fap.Generation != 2 {
		t.Errorf("after the second apply: hosts %v placement %+v generation %d", fap.Spec.Hosts, fap.Spec.Placement, fap.Generation)
	}
	if out := e.mustApplyYAML(t, doc, "apply"); !strings.Contains(out, "federatedaccesspoint.traffic.portico.dev/web unchanged") {
		t.Errorf("apply of the same file: %s", out)
	}

	// kubectl edit, with an editor that rewrites the file it is given.
	t.Setenv("EDITOR", "sed -i -e s/www.csa.example.com/edited.csa.example.com/")
	out := e.mustKubectl(t, "edit", "fap", "web", "-n", ns)
	if !strings.Contains(out, "federatedaccesspoint.traffic.portico.dev/web edited") {
		t.Errorf("edit: %s", out)
	}
	if fap = get(); !slices.Equal(fap.Spec.Hosts, []string{"web.csa.example.com", "edited.csa.example.com"}) {
		t.Errorf("hosts after edit: %v", fap.Spec.Hosts)
	}

	// kubectl patch: merge, JSON and strategic patches.
	e.mustKubectl(t, "patch", "fap", "web", "-n", ns, "--type=merge", "-p", `{"spec":{"loadBalancer":{"pool":"merge-pool"}}}`)
	e.mustKubectl(t, "patch", "fap", "web", "-n", ns, "--type=json", "-p", `[{"op":"add","path":"/spec/hosts/-","value":"json.csa.example.com"}]`)
	e.mustKubectl(t, "patch", "fap", "web", "-n", ns, "-p", `{"metadata":{"labels":{"patched":"strategic"}}}`)
	fap = get()
	if fap.Spec.LoadBalancer == nil || fap.Spec.LoadBalancer.Pool != "merge-pool" ||
		!slices.Contains(fap.Spec.Hosts, "json.csa.example.com") || fap.Labels["patched"] != "strategic" {
		t.Errorf("after the patches: %+v labels %v", fap.Spec, fap.Labels)
	}
	// The defaults of the patched-in load balancer are filled in.
	if lb := fap.Spec.LoadBalancer; lb.CrossZone == nil || lb.CrossZone.LocalWeight == nil || *lb.CrossZone.LocalWeight != 99 {
		t.Errorf("load balancer defaults missing: %+v", lb)
	}
	// An invalid patch is refused and changes nothing.
	rv := fap.ResourceVersion
	if _, stderr, err := e.kubectl(t, "patch", "fap", "web", "-n", ns, "--type=merge", "-p", `{"spec":{"hosts":["not a host"]}}`); err == nil || !strings.Contains(stderr, "spec.hosts[0]") {
		t.Errorf("invalid patch: err=%v stderr=%s", err, stderr)
	}
	if fap = get(); fap.ResourceVersion != rv {
		t.Errorf("the refused patch changed the object")
	}
	// A patch of status through the main resource changes nothing.
	e.mustKubectl(t, "patch", "fap", "web", "-n", ns, "--type=merge", "-p", `{"status":{"revision":"forged"}}`)
	if fap = get(); fap.Status.Revision != "r1" {
		t.Errorf("status.revision after a patch of the main resource: %q", fap.Status.Revision)
	}
	if fap.Generation != 5 {
		// create, apply, edit, merge patch, json patch: the label patch and
		// the status patch do not count.
		b, _ := json.Marshal(fap.Spec)
		t.Errorf("generation %d, want 5 (spec %s)", fap.Generation, b)
	}

	// And delete.
	if out := e.mustKubectl(t, "delete", "fap", "web", "-n", ns); !strings.Contains(out, `federatedaccesspoint.traffic.portico.dev "web" deleted`) {
		t.Errorf("delete: %s", out)
	}
	if _, err := faps.Get(ctx, "web", metav1.GetOptions{}); err == nil {
		t.Errorf("still there after delete")
	}
}
