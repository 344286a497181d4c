//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	traffic "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/member-agent/apply"
	"github.com/portico-dev/portico/test/framework"
)

// A service of the mesh whose endpoints are VMs: a ServiceEntry selecting
// WorkloadEntries by label, the VM registered by hand as a WorkloadEntry.
const (
	hybridVS = `{"hosts":["legacy.hybrid.example.com"],"gateways":["legacy"],
	  "http":[{"route":[{"destination":{"host":"legacy.hybrid.internal","port":{"number":8080}}}]}]}`
	hybridSE = `{"hosts":["legacy.hybrid.internal"],"location":"MESH_INTERNAL","resolution":"STATIC",
	  "ports":[{"number":8080,"name":"http","protocol":"HTTP"}],"workloadSelector":{"labels":{"app":"legacy"}}}`
	hybridWE = `{"address":"192.0.2.50","labels":{"app":"legacy","version":"v1"},"ports":{"http":8080},
	  "serviceAccount":"legacy","locality":"r1/zone-a"}`
	// VMs of version v2 register themselves: istiod makes their
	// WorkloadEntries from this template.
	hybridWG = `{"metadata":{"labels":{"app":"legacy","version":"v2"}},
	  "template":{"ports":{"http":8080},"serviceAccount":"legacy"},
	  "probe":{"periodSeconds":5,"httpGet":{"path":"/ready","port":8080}}}`
)

// hybridObject is one registry object of the access point, where it is found
// in member clusters, a valid edit of its spec (path, value) and, when the
// rendering adds to the template's spec, the spec in member clusters.
type hybridObject struct {
	gvr        schema.GroupVersionResource
	name, spec string
	editPath   []string
	editValue  any
	rendered   string
}

// memberSpec is the object's spec in member clusters.
func (o hybridObject) memberSpec() string {
	if o.rendered != "" {
		return o.rendered
	}
	return o.spec
}

var hybridObjects = []hybridObject{
	// Exported to the access point's namespace and the gateway's.
	{istioGVR("serviceentries"), "legacy", hybridSE, []string{"location"}, "MESH_EXTERNAL",
		strings.Replace(hybridSE, `{"hosts"`, `{"exportTo":[".","istio-system"],"hosts"`, 1)},
	{istioGVR("workloadentries"), "legacy-vm-1", hybridWE, []string{"address"}, "192.0.2.99", ""},
	{istioGVR("workloadgroups"), "legacy-v2", hybridWG, []string{"probe", "periodSeconds"}, int64(30), ""},
}

func istioGVR(resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: resource}
}

// TestHybridRegistry: an access point carrying a ServiceEntry, a
// WorkloadEntry (a VM endpoint) and a WorkloadGroup (for VMs that register
// themselves) gets them into both member clusters with the template's
// content, labelled as the access point's (an invalid WorkloadGroup is
// rejected at write time, naming the field); an edit or a deletion made in a
// member cluster is repaired by its member-agent; removing them from the
// template prunes them from both clusters and leaves the other objects.
func TestHybridRegistry(t *testing.T) {
	zones := map[string]string{"zone-a-1": "zone-a", "zone-b-1": "zone-b"}
	f := newFederation(t, zones)
	ctx := context.Background()
	waitAllAvailable(t, f)
	const ns, name = "hybrid", "legacy"
	createHubNamespace(t, f.hub, ns)

	fap := &traffic.FederatedAccessPoint{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: traffic.FederatedAccessPointSpec{
			Hosts: []string{"legacy.hybrid.example.com"},
			Template: traffic.AccessPointTemplate{
				VirtualServices: []traffic.NamedTemplate{{Name: name, Spec: traffic.JSONObject{Raw: []byte(hybridVS)}}},
				ServiceEntries:  []traffic.NamedTemplate{{Name: hybridObjects[0].name, Spec: traffic.JSONObject{Raw: []byte(hybridSE)}}},
				WorkloadEntries: []traffic.NamedTemplate{{Name: hybridObjects[1].name, Spec: traffic.JSONObject{Raw: []byte(hybridWE)}}},
				WorkloadGroups:  []traffic.NamedTemplate{{Name: hybridObjects[2].name, Spec: traffic.JSONObject{Raw: []byte(hybridWG)}}},
			},
		},
	}
	bad := fap.DeepCopy()
	bad.Spec.Template.WorkloadGroups[0].Spec.Raw = []byte(strings.Replace(hybridWG, `"port":8080}`, `"port":99999}`, 1))
	_, err := f.pc.TrafficV1alpha1().FederatedAccessPoints(ns).Create(ctx, bad, metav1.CreateOptions{})
	if want := "spec.template.workloadGroups[0].spec.probe.httpGet.port"; !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), want) {
		t.Fatalf("an access point with a WorkloadGroup probing port 99999: %v; want Invalid naming %s", err, want)
	}
	if _, err := f.pc.TrafficV1alpha1().FederatedAccessPoints(ns).Create(ctx, fap, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	fap = waitFAP(t, f.pc, ns, name, 60*time.Second, "applied in both clusters", func(fap *traffic.FederatedAccessPoint) bool {
		return appliedEverywhere(fap, 2)
	})
	// The Gateway, the VirtualService and the registry objects.
	for _, s := range fap.Status.Clusters {
		if want := int32(2 + len(hybridObjects)); s.Objects.Total != want || s.Objects.Applied != want {
			t.Errorf("%s: objects %+v, want %d applied", s.Name, s.Objects, want)
		}
	}

	members := map[string]dynamic.Interface{}
	for cluster := range zones {
		members[cluster] = dynamic.NewForConfigOrDie(f.members[cluster].RestConfig)
		for _, o := range hybridObjects {
			u, err := members[cluster].Resource(o.gvr).Namespace(ns).Get(ctx, o.name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("%s: %s %s: %v", cluster, o.gvr.Resource, o.name, err)
			}
			if got, want := jsonNormalize(t, u.Object["spec"]), specValue(t, o.memberSpec()); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: %s %s spec\n%s\nwant\n%s", cluster, o.gvr.Resource, o.name, mustJSON(got), mustJSON(want))
			}
			if got := u.GetLabels()[apply.Label]; got != apply.LabelValue(ns+"."+name) {
				t.Errorf("%s: %s %s label %s=%q", cluster, o.gvr.Resource, o.name, apply.Label, got)
			}
		}
	}

	// Drift: each object edited in one cluster and deleted in the other.
	for i, o := range hybridObjects {
		edited, deleted := "zone-a-1", "zone-b-1"
		if i%2 == 1 {
			edited, deleted = deleted, edited
		}
		c := members[edited].Resource(o.gvr).Namespace(ns)
		u, err := c.Get(ctx, o.name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		path := append([]string{"spec"}, o.editPath...)
		if err := unstructured.SetNestedField(u.Object, o.editValue, path...); err != nil {
			t.Fatal(err)
		}
		u, err = c.Update(ctx, u, metav1.UpdateOptions{})
		if err != nil {
			t.Fatalf("%s: editing %s %s: %v", edited, o.gvr.Resource, o.name, err)
		}
		if v, _, _ := unstructured.NestedFieldNoCopy(u.Object, path...); v != o.editValue {
			t.Fatalf("%s: %s %s stored %v at %v, want the edit %v", edited, o.gvr.Resource, o.name, v, path, o.editValue)
		}
		if err := members[deleted].Resource(o.gvr).Namespace(ns).Delete(ctx, o.name, metav1.DeleteOptions{}); err != nil {
			t.Fatalf("%s: deleting %s %s: %v", deleted, o.gvr.Resource, o.name, err)
		}
	}
	for cluster, dc := range members {
		for _, o := range hybridObjects {
			want := specValue(t, o.memberSpec())
			framework.Eventually(t, 30*time.Second, fmt.Sprintf("%s: %s %s repaired", cluster, o.gvr.Resource, o.name), func() (bool, string) {
				u, err := dc.Resource(o.gvr).Namespace(ns).Get(ctx, o.name, metav1.GetOptions{})
				if err != nil {
					return false, err.Error()
				}
				got := jsonNormalize(t, u.Object["spec"])
				return reflect.DeepEqual(got, want), "spec " + mustJSON(got)
			})
		}
	}

	// Removed from the template: pruned from both clusters; the Gateway and
	// the VirtualService stay.
	updateFAP(t, f.pc, ns, name, func(fap *traffic.FederatedAccessPoint) {
		fap.Spec.Template.ServiceEntries, fap.Spec.Template.WorkloadEntries, fap.Spec.Template.WorkloadGroups = nil, nil, nil
	})
	fap = waitFAP(t, f.pc, ns, name, 60*time.Second, "the registry objects' removal applied in both clusters", func(fap *traffic.FederatedAccessPoint) bool {
		return appliedEverywhere(fap, 2) && fap.Status.Clusters[0].Objects.Total == 2 && fap.Status.Clusters[1].Objects.Total == 2
	})
	for cluster, dc := range members {
		for _, o := range hybridObjects {
			framework.Eventually(t, 30*time.Second, fmt.Sprintf("%s: %s %s pruned", cluster, o.gvr.Resource, o.name), func() (bool, string) {
				_, err := dc.Resource(o.gvr).Namespace(ns).Get(ctx, o.name, metav1.GetOptions{})
				return apierrors.IsNotFound(err), fmt.Sprint(err)
			})
		}
		if gw, vs, _ := istioObjectsIn(t, f, cluster, ns, name); !gw || !vs {
			t.Errorf("%s: Gateway %v, VirtualService %v after the registry objects were removed; want both", cluster, gw, vs)
		}
	}
}

// specValue decodes a JSON spec into generic values.
func specValue(t *testing.T, spec string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(spec), &v); err != nil {
		t.Fatal(err)
	}
	return v
}
