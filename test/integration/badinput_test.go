//go:build integration

package integration

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// TestBadInputRejected: malformed YAML, unknown fields (strict validation)
// and values of the wrong type get an error that says what is wrong, and the
// object is not stored.
func TestBadInputRejected(t *testing.T) {
	e := hubEnv(t)
	ctx := context.Background()
	ns := e.newNamespace(t, "bad")
	faps := e.pc.TrafficV1alpha1().FederatedAccessPoints(ns)

	cases := []struct {
		name    string
		doc     string
		args    []string
		wantErr []string
	}{
		{
			name: "malformed",
			doc:  fapYAML(ns, "malformed", "a.bad.example.com") + "  placement: {zones: [zone-a\n",
			args: []string{"apply"}, wantErr: []string{"error converting YAML to JSON", "yaml: line"},
		},
		{
			name: "unknown-field",
			doc:  fapYAML(ns, "unknown-field", "a.bad.example.com") + "  loadBalancer:\n    pool: p\n    poool: q\n",
			// kubectl reports it from the server (strict field validation) or,
			// when it cannot tell that the server supports that, from its own
			// schema check: either way the field is named.
			args: []string{"apply", "--validate=strict"}, wantErr: []string{"unknown field", "poool"},
		},
		{
			name: "unknown-field-ssa",
			doc:  fapYAML(ns, "unknown-field-ssa", "a.bad.example.com") + "  hostz: [b.bad.example.com]\n",
			args: []string{"apply", "--server-side", "--validate=strict"}, wantErr: []string{"hostz"},
		},
		{
			name: "hosts-string",
			doc:  strings.Replace(fapYAML(ns, "hosts-string", "x"), "hosts: [x]", `hosts: "x"`, 1),
			args: []string{"apply"}, wantErr: []string{"spec.hosts", "cannot unmarshal string"},
		},
		{
			name: "port-string",
			doc:  fapYAML(ns, "port-string", "a.bad.example.com") + "  loadBalancer:\n    pool: p\n    ports:\n    - {name: http, port: eighty}\n",
			args: []string{"apply"}, wantErr: []string{"spec.loadBalancer.ports", "port", "int32"},
		},
		{
			name: "port-string-ssa",
			doc:  fapYAML(ns, "port-string-ssa", "a.bad.example.com") + "  loadBalancer:\n    pool: p\n    ports:\n    - {name: http, port: eighty}\n",
			args: []string{"apply", "--server-side"}, wantErr: []string{".spec.loadBalancer.ports", "expected numeric"},
		},
		{
			name: "template-not-an-object",
			doc:  fapYAML(ns, "template-not-an-object", "a.bad.example.com") + "  template:\n    gateway: [a, b]\n",
			// The error should say where the non-object is.
			args: []string{"apply"}, wantErr: []string{"cannot unmarshal array", "spec.template.gateway"},
		},
		{
			name: "not-a-fqdn",
			doc:  fapYAML(ns, "not-a-fqdn", "localhost"),
			args: []string{"apply"}, wantErr: []string{"spec.hosts[0]", "fully qualified"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, err := e.applyYAML(t, tc.doc, tc.args...)
			if err == nil {
				t.Fatalf("accepted:\n%s", out)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(stderr, want) {
					t.Errorf("the error does not mention %q:\n%s", want, stderr)
				}
			}
			if _, err := faps.Get(ctx, tc.name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("%s exists after it was rejected (get: %v)", tc.name, err)
			}
		})
	}

	// The server decides: with fieldValidation=Strict an unknown field is an
	// error, with Ignore it is dropped and not stored.
	t.Run("server-side field validation", func(t *testing.T) {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(fapYAML(ns, "strict", "a.bad.example.com")), &obj); err != nil {
			t.Fatal(err)
		}
		obj["spec"].(map[string]any)["colour"] = "blue"
		u := &unstructured.Unstructured{Object: obj}
		_, err := e.dyn.Resource(fapGVR).Namespace(ns).Create(ctx, u, metav1.CreateOptions{FieldValidation: "Strict"})
		if !apierrors.IsBadRequest(err) || !strings.Contains(fmt.Sprint(err), `unknown field "spec.colour"`) {
			t.Errorf("strict create with an unknown field: %v", err)
		}
		if _, err := faps.Get(ctx, "strict", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("the strictly rejected object exists: %v", err)
		}
		created, err := e.dyn.Resource(fapGVR).Namespace(ns).Create(ctx, u, metav1.CreateOptions{FieldValidation: "Ignore"})
		if err != nil {
			t.Fatalf("create with fieldValidation=Ignore: %v", err)
		}
		if _, found, _ := unstructured.NestedFieldNoCopy(created.Object, "spec", "colour"); found {
			t.Errorf("the unknown field was stored: %v", created.Object["spec"])
		}
	})
}

// TestVIPPoolOverlap: a pool that overlaps another is rejected with an error
// naming the other pool and is not stored; an adjacent pool is fine; an
// update into overlap is rejected; of concurrent creations of overlapping
// pools exactly one succeeds.
func TestVIPPoolOverlap(t *testing.T) {
	e := hubEnv(t)
	ctx := context.Background()
	pools := e.pc.TrafficV1alpha1().VIPPools()
	created := []string{}
	t.Cleanup(func() {
		for _, name := range created {
			_ = pools.Delete(context.Background(), name, metav1.DeleteOptions{})
		}
	})
	poolYAML := func(name string, cidrs ...string) string {
		return fmt.Sprintf("apiVersion: traffic.portico.dev/v1alpha1\nkind: VIPPool\nmetadata: {name: %s}\nspec:\n  cidrs: [%s]\n", name, strings.Join(cidrs, ", "))
	}
	first := uniqueName("first")
	e.mustApplyYAML(t, poolYAML(first, "192.0.2.0/25"), "apply")
	created = append(created, first)

	for _, cidr := range []string{"192.0.2.64/26", "192.0.2.100-192.0.2.200", "192.0.2.127/32", "192.0.0.0/16"} {
		name := uniqueName("overlap")
		out, stderr, err := e.applyYAML(t, poolYAML(name, "198.18.0.0/24", cidr), "apply")
		if err == nil {
			created = append(created, name)
			t.Errorf("pool with %s accepted although it overlaps 192.0.2.0/25:\n%s", cidr, out)
			continue
		}
		if !strings.Contains(stderr, `VIPPool "`+first+`"`) || !strings.Contains(stderr, "spec.cidrs[1]") || !strings.Contains(stderr, "overlaps") {
			t.Errorf("the error for %s does not name the overlapping pool %s and the field:\n%s", cidr, first, stderr)
		}
		if strings.Contains(stderr, "spec.cidrs[0]") {
			t.Errorf("the non-overlapping first range was reported:\n%s", stderr)
		}
		if _, stderr, err := e.kubectl(t, "get", "vippool", name); err == nil || !strings.Contains(stderr, "NotFound") && !strings.Contains(stderr, "not found") {
			t.Errorf("kubectl get vippool %s after the rejection: err=%v %s", name, err, stderr)
		}
	}

	// Adjacent ranges do not overlap.
	adjacent := uniqueName("adjacent")
	e.mustApplyYAML(t, poolYAML(adjacent, "192.0.2.128/25"), "apply")
	created = append(created, adjacent)

	// Moving a pool onto another is rejected and leaves it as it was.
	before, err := pools.Get(ctx, adjacent, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := e.kubectl(t, "patch", "vippool", adjacent, "--type=merge", "-p", `{"spec":{"cidrs":["192.0.2.120/29"]}}`); err == nil {
		t.Errorf("update into an overlap accepted")
	} else if !strings.Contains(stderr, `VIPPool "`+first+`"`) {
		t.Errorf("update error does not name %s: %s", first, stderr)
	}
	after, err := pools.Get(ctx, adjacent, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after.Generation != before.Generation || len(after.Spec.CIDRs) != 1 || after.Spec.CIDRs[0] != "192.0.2.128/25" {
		t.Errorf("the rejected update changed the pool: %v", after.Spec.CIDRs)
	}

	// Concurrent creations of overlapping pools: one wins.
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	names := make([]string, n)
	for i := range n {
		names[i] = uniqueName(fmt.Sprintf("race%d", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = pools.Create(ctx, &trafficv1alpha1.VIPPool{
				ObjectMeta: metav1.ObjectMeta{Name: names[i]},
				Spec:       trafficv1alpha1.VIPPoolSpec{CIDRs: []string{fmt.Sprintf("198.19.%d.0/24", 0), fmt.Sprintf("198.19.%d.0/24", 10+i)}},
			}, metav1.CreateOptions{})
		}()
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
			created = append(created, names[i])
		case !apierrors.IsInvalid(err):
			t.Errorf("concurrent create %d: %v, want Invalid", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d of %d concurrent overlapping pools were created, want exactly 1", won, n)
	}
	list, err := pools.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	holders := 0
	for _, p := range list.Items {
		for _, c := range p.Spec.CIDRs {
			if c == "198.19.0.0/24" {
				holders++
			}
		}
	}
	if holders != 1 {
		t.Errorf("%d pools hold 198.19.0.0/24", holders)
	}
}
