package localfed

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// APIServiceGVR is apiregistration.k8s.io/v1 apiservices.
var APIServiceGVR = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}

const fieldManager = "portico-test-framework"

// AggregatedAPI describes an aggregated API server running on the host
// (127.0.0.1:Port) that the hub cluster should serve through APIServices.
//
// The hub's aggregator dials the Service's ExternalName ("localhost") at Port
// but verifies the server's certificate for the name
// "<ServiceName>.<Namespace>.svc" (see AggregatedServerName) against
// CABundle: the aggregated server's serving certificate must carry that DNS
// SAN.
type AggregatedAPI struct {
	Namespace   string
	ServiceName string
	Port        int
	// CABundle is the PEM CA that signed the aggregated server's serving cert.
	CABundle      []byte
	GroupVersions []schema.GroupVersion
	// GroupPriorityMinimum (default 1000) and VersionPriority (default 15).
	GroupPriorityMinimum int32
	VersionPriority      int32
}

// AggregatedServerName is the TLS server name the aggregator verifies for a
// service: "<service>.<namespace>.svc".
func AggregatedServerName(service, namespace string) string {
	return service + "." + namespace + ".svc"
}

// APIServiceName is the name of the APIService of a group-version:
// "<version>.<group>".
func APIServiceName(gv schema.GroupVersion) string { return gv.Version + "." + gv.Group }

// APIServiceNames returns the APIService names RegisterAggregatedAPI creates.
func (a AggregatedAPI) APIServiceNames() []string {
	names := make([]string, 0, len(a.GroupVersions))
	for _, gv := range a.GroupVersions {
		names = append(names, APIServiceName(gv))
	}
	return names
}

// RegisterAggregatedAPI creates (or updates, by server-side apply) the
// namespace, a Service of type ExternalName pointing at localhost:Port and
// one APIService per group-version. It is idempotent.
//
// ExternalName and not a ClusterIP Service with Endpoints: the aggregator
// resolves an ExternalName Service to "<externalName>:<port>" without
// Endpoints, while Endpoints may not point at 127.0.0.0/8. (This needs the
// kube-apiserver's default --enable-aggregator-routing=false: with endpoint
// routing the aggregator refuses ExternalName Services.) The Service's port
// is informational: the aggregator dials the APIService's port.
func (h *HubCluster) RegisterAggregatedAPI(ctx context.Context, api AggregatedAPI) error {
	if api.Namespace == "" || api.ServiceName == "" || api.Port <= 0 || api.Port > 65535 {
		return fmt.Errorf("RegisterAggregatedAPI: Namespace, ServiceName and a valid Port are required (got %q, %q, %d)", api.Namespace, api.ServiceName, api.Port)
	}
	if len(api.CABundle) == 0 {
		return errors.New("RegisterAggregatedAPI: CABundle is required")
	}
	if len(api.GroupVersions) == 0 {
		return errors.New("RegisterAggregatedAPI: no GroupVersions")
	}
	groupPriority, versionPriority := api.GroupPriorityMinimum, api.VersionPriority
	if groupPriority == 0 {
		groupPriority = 1000
	}
	if versionPriority == 0 {
		versionPriority = 15
	}
	kc, err := kubernetes.NewForConfig(h.RestConfig)
	if err != nil {
		return err
	}
	dc, err := dynamic.NewForConfig(h.RestConfig)
	if err != nil {
		return err
	}
	apply := metav1.ApplyOptions{FieldManager: fieldManager, Force: true}

	if _, err := kc.CoreV1().Namespaces().Apply(ctx, corev1ac.Namespace(api.Namespace), apply); err != nil {
		return fmt.Errorf("namespace %s: %w", api.Namespace, err)
	}
	port := int32(api.Port)
	svc := corev1ac.Service(api.ServiceName, api.Namespace).
		WithSpec(corev1ac.ServiceSpec().
			WithType(corev1.ServiceTypeExternalName).
			WithExternalName("localhost").
			WithPorts(corev1ac.ServicePort().
				WithName("https").
				WithProtocol(corev1.ProtocolTCP).
				WithPort(port).
				WithTargetPort(intstr.FromInt32(port))))
	if _, err := kc.CoreV1().Services(api.Namespace).Apply(ctx, svc, apply); err != nil {
		return fmt.Errorf("service %s/%s: %w", api.Namespace, api.ServiceName, err)
	}
	for _, gv := range api.GroupVersions {
		obj := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apiregistration.k8s.io/v1",
			"kind":       "APIService",
			"metadata":   map[string]any{"name": APIServiceName(gv)},
			"spec": map[string]any{
				"group":   gv.Group,
				"version": gv.Version,
				"service": map[string]any{
					"namespace": api.Namespace,
					"name":      api.ServiceName,
					"port":      int64(port),
				},
				"caBundle":             base64.StdEncoding.EncodeToString(api.CABundle),
				"groupPriorityMinimum": int64(groupPriority),
				"versionPriority":      int64(versionPriority),
			},
		}}
		if _, err := dc.Resource(APIServiceGVR).Apply(ctx, obj.GetName(), obj, apply); err != nil {
			return fmt.Errorf("APIService %s: %w", obj.GetName(), err)
		}
	}
	return nil
}

// WaitForAPIServicesAvailable waits until every named APIService has the
// condition Available=True, for up to 2 minutes (or ctx's deadline, when
// sooner). The error names the APIServices still unavailable and why.
func (h *HubCluster) WaitForAPIServicesAvailable(ctx context.Context, names ...string) error {
	dc, err := dynamic.NewForConfig(h.RestConfig)
	if err != nil {
		return err
	}
	available := func(ctx context.Context) error {
		var pending []string
		for _, name := range names {
			obj, err := dc.Resource(APIServiceGVR).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				pending = append(pending, name+": "+err.Error())
				continue
			}
			if ok, why := apiServiceAvailable(obj); !ok {
				pending = append(pending, name+": "+why)
			}
		}
		if len(pending) > 0 {
			sort.Strings(pending)
			return fmt.Errorf("APIServices not available: %s", strings.Join(pending, "; "))
		}
		return nil
	}
	return WaitUntil(ctx, 2*time.Minute, available)
}

func apiServiceAvailable(obj *unstructured.Unstructured) (bool, string) {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok || m["type"] != "Available" {
			continue
		}
		if m["status"] == "True" {
			return true, ""
		}
		return false, fmt.Sprintf("Available=%v %v: %v", m["status"], m["reason"], m["message"])
	}
	return false, "no Available condition yet"
}
