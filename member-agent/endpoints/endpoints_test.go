package endpoints

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func TestServes(t *testing.T) {
	svc := map[string]string{"app": "istio-ingressgateway", "istio": "ingressgateway"}
	for _, tc := range []struct {
		gw   map[string]string
		want bool
	}{
		{map[string]string{"istio": "ingressgateway"}, true},
		{map[string]string{"istio": "ingressgateway", "app": "istio-ingressgateway"}, true},
		{map[string]string{"istio": "eastwest"}, false},
		{map[string]string{"istio": "ingressgateway", "zone": "a"}, false},
	} {
		if got := Serves(svc, tc.gw); got != tc.want {
			t.Errorf("Serves(%v) = %v, want %v", tc.gw, got, tc.want)
		}
	}
	if Serves(nil, map[string]string{"istio": "ingressgateway"}) {
		t.Error("a Service without selector serves nothing")
	}
}

func TestResolverFor(t *testing.T) {
	objs := []any{
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "istio-ingressgateway", Namespace: "istio-system"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "istio-ingressgateway", "istio": "ingressgateway"}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "istio-system"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"istio": "eastwestgateway"}}},
		&discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "gw-1", Namespace: "istio-system",
			Labels: map[string]string{discoveryv1.LabelServiceName: "istio-ingressgateway"}},
			Endpoints: []discoveryv1.Endpoint{
				{Addresses: []string{"10.1.0.11"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false)}},
				{Addresses: []string{"10.1.0.10"}},
			}},
		&discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "other-1", Namespace: "istio-system",
			Labels: map[string]string{discoveryv1.LabelServiceName: "other"}},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.9.9.9"}}}},
	}
	f := informers.NewSharedInformerFactory(fake.NewSimpleClientset(), 0) //nolint:staticcheck
	for _, o := range objs {
		// What the agent's informers keep.
		o, _ = Transform(o)
		switch o := o.(type) {
		case *corev1.Service:
			_ = f.Core().V1().Services().Informer().GetIndexer().Add(o)
		case *discoveryv1.EndpointSlice:
			_ = f.Discovery().V1().EndpointSlices().Informer().GetIndexer().Add(o)
		}
	}
	r := &Resolver{Services: f.Core().V1().Services().Lister(), Slices: f.Discovery().V1().EndpointSlices().Lister()}
	eps, err := r.For(map[string]string{"istio": "ingressgateway"})
	if err != nil {
		t.Fatal(err)
	}
	if len(eps) != 2 || eps[0].Address != "10.1.0.10" || !eps[0].Ready || eps[1].Address != "10.1.0.11" || eps[1].Ready {
		t.Fatalf("endpoints = %+v", eps)
	}
	if eps, err := r.ForService("istio-system", "other"); err != nil || len(eps) != 1 || eps[0].Address != "10.9.9.9" {
		t.Fatalf("endpoints of Service other = %+v, %v", eps, err)
	}
}

// TestTransformTrims: the informers keep no more of a Service or an
// EndpointSlice than Resolver reads.
func TestTransformTrims(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "gw", Namespace: "istio-system", Labels: map[string]string{"app": "gw"},
		Annotations: map[string]string{"a": "b"}, ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "m"}}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"istio": "ingressgateway"}, Ports: []corev1.ServicePort{{Port: 80}}}}
	got, _ := Transform(svc)
	s := got.(*corev1.Service)
	if s.Name != "gw" || s.Namespace != "istio-system" || s.Spec.Selector["istio"] != "ingressgateway" ||
		s.Labels != nil || s.Annotations != nil || s.ManagedFields != nil || s.Spec.Ports != nil {
		t.Errorf("trimmed Service %+v", s)
	}
	slice := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "gw-1", Namespace: "istio-system",
		Labels: map[string]string{discoveryv1.LabelServiceName: "gw", "other": "x"}},
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.1.0.10"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			TargetRef: &corev1.ObjectReference{Name: "pod"}}},
		Ports: []discoveryv1.EndpointPort{{Port: ptr.To[int32](80)}}}
	got, _ = Transform(slice)
	es := got.(*discoveryv1.EndpointSlice)
	if len(es.Labels) != 1 || es.Labels[discoveryv1.LabelServiceName] != "gw" || es.Ports != nil || len(es.Endpoints) != 1 ||
		es.Endpoints[0].TargetRef != nil || es.Endpoints[0].Addresses[0] != "10.1.0.10" || !*es.Endpoints[0].Conditions.Ready {
		t.Errorf("trimmed EndpointSlice %+v", es)
	}
}
