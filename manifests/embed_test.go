package manifests

import (
	"bufio"
	"bytes"
	"io"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
)

// decodeAll decodes every document strictly (unknown or duplicate fields fail)
// into the client-go types.
func decodeAll(t *testing.T, manifest []byte) []runtime.Object {
	t.Helper()
	strict := json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
		json.SerializerOptions{Yaml: true, Strict: true})
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(manifest)))
	var objs []runtime.Object
	for {
		doc, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, _, err := strict.Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("decoding %s: %v", doc, err)
		}
		objs = append(objs, obj)
	}
	return objs
}

func TestRenderMemberAgent(t *testing.T) {
	kubeconfig := []byte("apiVersion: v1\nkind: Config\n# \"quotes\" and: colons\n")
	var buf bytes.Buffer
	if err := RenderMemberAgent(&buf, MemberAgentValues{ClusterName: "zone-a-1", HubKubeconfig: kubeconfig, GatewayNamespace: "gateways"}); err != nil {
		t.Fatal(err)
	}
	objs := decodeAll(t, buf.Bytes())
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetObjectKind().GroupVersionKind().Kind)
	}
	want := []string{"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
		"Role", "RoleBinding", "Role", "RoleBinding", "Secret", "Deployment"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("kinds %v, want %v", kinds, want)
	}
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.Secret:
			if o.Namespace != MemberAgentNamespace || o.Name != MemberAgentHubSecret || !bytes.Equal(o.Data[MemberAgentHubKubeconfigKey], kubeconfig) {
				t.Errorf("Secret %s/%s data %q", o.Namespace, o.Name, o.Data)
			}
		case *rbacv1.Role:
			if len(o.Rules) != 1 {
				t.Errorf("Role %+v", o)
				continue
			}
			r := o.Rules[0]
			switch o.Name {
			case "portico:member-agent": // istiod's version
				if o.Namespace != "istio-system" || !slices.Equal(r.Resources, []string{"deployments"}) || slices.Contains(r.Verbs, "update") {
					t.Errorf("Role %+v", o)
				}
			case "portico:member-agent:secrets": // certificates: the gateway namespace only
				if o.Namespace != "gateways" || !slices.Equal(r.Resources, []string{"secrets"}) || len(r.ResourceNames) != 0 {
					t.Errorf("Role %+v", o)
				}
			case "portico:member-agent:hub-kubeconfig": // its renewed hub token
				if o.Namespace != MemberAgentNamespace || !slices.Equal(r.Resources, []string{"secrets"}) ||
					!slices.Equal(r.ResourceNames, []string{MemberAgentHubSecret}) || slices.Contains(r.Verbs, "list") {
					t.Errorf("Role %+v", o)
				}
			default:
				t.Errorf("unexpected Role %s", o.Name)
			}
		case *rbacv1.ClusterRole:
			var istio, security, telemetry, gatewayAPI, core, slicesRead bool
			for _, r := range o.Rules {
				switch {
				case slices.Equal(r.APIGroups, []string{"networking.istio.io"}):
					istio = slices.Equal(r.Resources, []string{"gateways", "virtualservices", "destinationrules", "serviceentries", "workloadentries", "workloadgroups"}) &&
						slices.Contains(r.Verbs, "delete") && slices.Contains(r.Verbs, "patch")
				case slices.Equal(r.APIGroups, []string{"security.istio.io"}):
					security = slices.Equal(r.Resources, []string{"authorizationpolicies", "requestauthentications"}) &&
						slices.Contains(r.Verbs, "delete") && slices.Contains(r.Verbs, "patch")
				case slices.Equal(r.APIGroups, []string{"telemetry.istio.io"}):
					telemetry = slices.Equal(r.Resources, []string{"telemetries"}) &&
						slices.Contains(r.Verbs, "delete") && slices.Contains(r.Verbs, "patch")
				case slices.Equal(r.APIGroups, []string{"gateway.networking.k8s.io"}):
					gatewayAPI = slices.Equal(r.Resources, []string{"gateways", "httproutes", "grpcroutes", "tlsroutes", "tcproutes", "referencegrants"}) &&
						slices.Contains(r.Verbs, "delete") && slices.Contains(r.Verbs, "patch")
				case slices.Equal(r.APIGroups, []string{""}):
					if slices.Contains(r.Resources, "secrets") || (slices.Contains(r.Resources, "namespaces") && slices.Contains(r.Verbs, "delete")) {
						t.Errorf("cluster-wide rule %+v: no Secrets, no namespace deletion", r)
					}
					core = core || (slices.Equal(r.Resources, []string{"namespaces"}) && slices.Contains(r.Verbs, "create"))
				case slices.Equal(r.APIGroups, []string{"discovery.k8s.io"}):
					slicesRead = slices.Equal(r.Verbs, []string{"get", "list", "watch"})
				default:
					t.Errorf("unexpected rule %+v", r)
				}
			}
			if !istio || !security || !telemetry || !gatewayAPI || !core || !slicesRead {
				t.Errorf("ClusterRole rules %+v", o.Rules)
			}
		case *appsv1.Deployment:
			if *o.Spec.Replicas != 1 || o.Spec.Template.Spec.ServiceAccountName != MemberAgentName {
				t.Errorf("Deployment %+v", o.Spec)
			}
			c := o.Spec.Template.Spec.Containers[0]
			if c.Image != DefaultMemberAgentImage {
				t.Errorf("image %s", c.Image)
			}
			if !slices.Contains(c.Args, "--cluster-name=zone-a-1") || !slices.Contains(c.Args, "--hub-kubeconfig=/etc/portico/hub/kubeconfig") ||
				!slices.Contains(c.Args, "--gateway-namespace=gateways") {
				t.Errorf("args %v", c.Args)
			}
			if !*o.Spec.Template.Spec.SecurityContext.RunAsNonRoot || !*c.SecurityContext.ReadOnlyRootFilesystem || *c.SecurityContext.AllowPrivilegeEscalation {
				t.Errorf("security context %+v %+v", o.Spec.Template.Spec.SecurityContext, c.SecurityContext)
			}
			if c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe.HTTPGet.Path != "/healthz" || c.Ports[0].ContainerPort != 8080 {
				t.Errorf("probes/ports %+v %+v %+v", c.LivenessProbe, c.ReadinessProbe, c.Ports)
			}
			if o.Spec.Template.Spec.Volumes[0].Secret.SecretName != MemberAgentHubSecret || c.VolumeMounts[0].MountPath != "/etc/portico/hub" {
				t.Errorf("volumes %+v mounts %+v", o.Spec.Template.Spec.Volumes, c.VolumeMounts)
			}
		}
	}

	// Another token rolls the Deployment (its pod template changes).
	var other bytes.Buffer
	if err := RenderMemberAgent(&other, MemberAgentValues{ClusterName: "zone-a-1", HubKubeconfig: []byte("other"), Image: "r.example/a:b"}); err != nil {
		t.Fatal(err)
	}
	d1, d2 := objs[11].(*appsv1.Deployment), decodeAll(t, other.Bytes())[11].(*appsv1.Deployment)
	if d1.Spec.Template.Annotations["portico.dev/hub-kubeconfig-sha256"] == d2.Spec.Template.Annotations["portico.dev/hub-kubeconfig-sha256"] {
		t.Error("the pod template does not change with the kubeconfig")
	}
	if d2.Spec.Template.Spec.Containers[0].Image != "r.example/a:b" {
		t.Errorf("image %s", d2.Spec.Template.Spec.Containers[0].Image)
	}
}

func TestRenderMemberAgentRejects(t *testing.T) {
	for _, v := range []MemberAgentValues{
		{ClusterName: "", HubKubeconfig: []byte("x")},
		{ClusterName: "Zone_A", HubKubeconfig: []byte("x")},
		{ClusterName: "a\nkind: Evil", HubKubeconfig: []byte("x")},
		{ClusterName: "a"},
		{ClusterName: "a", HubKubeconfig: []byte("x"), Image: "img\n  evil: true"},
	} {
		var buf bytes.Buffer
		if err := RenderMemberAgent(&buf, v); err == nil {
			t.Errorf("%+v: no error", v)
		}
		if buf.Len() != 0 {
			t.Errorf("%+v: wrote output on error", v)
		}
	}
}

func TestMemberAgentTemplateNames(t *testing.T) {
	names := MemberAgentTemplateNames()
	if len(names) != 5 || !slices.IsSorted(names) {
		t.Errorf("templates %v", names)
	}
}
