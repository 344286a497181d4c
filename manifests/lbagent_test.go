package manifests

import (
	"bytes"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"
)

func TestRenderLBAgentNode(t *testing.T) {
	kubeconfig := []byte("apiVersion: v1\nkind: Config\n")
	var buf bytes.Buffer
	if err := RenderLBAgentNode(&buf, LBAgentNodeValues{Node: "edge-a-1", Group: "zone-a", Address: "192.0.2.11", HubKubeconfig: kubeconfig}); err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(buf.String(), "\n---\n")
	if len(docs) != 6 {
		t.Fatalf("%d documents:\n%s", len(docs), buf.String())
	}
	var secret corev1.Secret
	if err := yaml.UnmarshalStrict([]byte(docs[1]), &secret); err != nil {
		t.Fatal(err)
	}
	if secret.Name != "lb-agent-hub-edge-a-1" || secret.Namespace != "portico-system" || !bytes.Equal(secret.Data["kubeconfig"], kubeconfig) {
		t.Errorf("Secret %+v", secret)
	}
	// The agent's ServiceAccount in the edge cluster may rewrite its own hub
	// kubeconfig Secret and nothing else.
	var sa corev1.ServiceAccount
	var role rbacv1.Role
	var binding rbacv1.RoleBinding
	for i, obj := range []any{&sa, &role, &binding} {
		if err := yaml.UnmarshalStrict([]byte(docs[2+i]), obj); err != nil {
			t.Fatal(err)
		}
	}
	if sa.Name != "lb-agent-edge-a-1" || sa.Namespace != "portico-system" {
		t.Errorf("ServiceAccount %s/%s, want portico-system/lb-agent-edge-a-1", sa.Namespace, sa.Name)
	}
	wantRules := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "update", "patch"}, ResourceNames: []string{secret.Name}}}
	if role.Namespace != "portico-system" || !equality.Semantic.DeepEqual(role.Rules, wantRules) {
		t.Errorf("Role %s/%s rules %+v, want %+v", role.Namespace, role.Name, role.Rules, wantRules)
	}
	if binding.Namespace != "portico-system" || binding.RoleRef.Name != role.Name || binding.RoleRef.Kind != "Role" ||
		len(binding.Subjects) != 1 || binding.Subjects[0].Name != sa.Name || binding.Subjects[0].Namespace != "portico-system" {
		t.Errorf("RoleBinding %+v, want Role %s bound to the ServiceAccount %s only", binding, role.Name, sa.Name)
	}
	var ds appsv1.DaemonSet
	if err := yaml.UnmarshalStrict([]byte(docs[5]), &ds); err != nil {
		t.Fatal(err)
	}
	spec := ds.Spec.Template.Spec
	if ds.Name != "lb-agent-edge-a-1" || spec.NodeSelector["kubernetes.io/hostname"] != "edge-a-1" ||
		spec.Volumes[0].Secret.SecretName != secret.Name || spec.Containers[0].Image != DefaultLBAgentImage || spec.ServiceAccountName != sa.Name {
		t.Errorf("DaemonSet %+v", ds)
	}
	args := strings.Join(spec.Containers[0].Args, " ")
	for _, want := range []string{"--group=zone-a", "--node-name=edge-a-1", "--hub-kubeconfig=/etc/portico/hub/kubeconfig", "--address=192.0.2.11",
		"--hub-kubeconfig-secret=portico-system/lb-agent-hub-edge-a-1", "--state-dir=/var/lib/portico/lb-agent"} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
	// The state directory outlives the pod: a host directory, mounted where
	// --state-dir points.
	var stateVolume *corev1.Volume
	for i := range spec.Volumes {
		if spec.Volumes[i].Name == "state" {
			stateVolume = &spec.Volumes[i]
		}
	}
	if stateVolume == nil || stateVolume.HostPath == nil || stateVolume.HostPath.Path != "/var/lib/portico/lb-agent" {
		t.Errorf("volume state %+v: want the host directory /var/lib/portico/lb-agent", stateVolume)
	}
	mounted := false
	for _, m := range spec.Containers[0].VolumeMounts {
		mounted = mounted || (m.Name == "state" && m.MountPath == "/var/lib/portico/lb-agent" && !m.ReadOnly)
	}
	if !mounted {
		t.Errorf("mounts %+v: the state volume must be mounted read-write at /var/lib/portico/lb-agent", spec.Containers[0].VolumeMounts)
	}
	if len(ds.Spec.Selector.MatchLabels) != 2 || ds.Spec.Template.Labels["cluster.portico.dev/edge-node"] != "edge-a-1" {
		t.Errorf("selector %+v, labels %+v: must select this node's pods only", ds.Spec.Selector, ds.Spec.Template.Labels)
	}
}

func TestRenderLBAgentNodeRejects(t *testing.T) {
	for _, v := range []LBAgentNodeValues{
		{Group: "zone-a", Address: "192.0.2.11", HubKubeconfig: []byte("x")},
		{Node: "Edge_1", Group: "zone-a", Address: "192.0.2.11", HubKubeconfig: []byte("x")},
		{Node: "edge-a-1", Address: "192.0.2.11", HubKubeconfig: []byte("x")},
		{Node: "edge-a-1", Group: "zone-a", HubKubeconfig: []byte("x")},
		{Node: "edge-a-1", Group: "zone-a", Address: "192.0.2.11"},
		{Node: "edge-a-1", Group: "zone-a", Address: "192.0.2.11", HubKubeconfig: []byte("x"), Image: "a b"},
	} {
		if err := RenderLBAgentNode(&bytes.Buffer{}, v); err == nil {
			t.Errorf("%+v accepted", v)
		}
	}
}
