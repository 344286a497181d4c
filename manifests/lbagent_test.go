package manifests

import (
	"bytes"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

func TestRenderLBAgentNode(t *testing.T) {
	kubeconfig := []byte("apiVersion: v1\nkind: Config\n")
	var buf bytes.Buffer
	if err := RenderLBAgentNode(&buf, LBAgentNodeValues{Node: "edge-a-1", Group: "zone-a", Address: "192.0.2.11", HubKubeconfig: kubeconfig}); err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(buf.String(), "\n---\n")
	if len(docs) != 3 {
		t.Fatalf("%d documents:\n%s", len(docs), buf.String())
	}
	var secret corev1.Secret
	if err := yaml.UnmarshalStrict([]byte(docs[1]), &secret); err != nil {
		t.Fatal(err)
	}
	if secret.Name != "lb-agent-hub-edge-a-1" || secret.Namespace != "portico-system" || !bytes.Equal(secret.Data["kubeconfig"], kubeconfig) {
		t.Errorf("Secret %+v", secret)
	}
	var ds appsv1.DaemonSet
	if err := yaml.UnmarshalStrict([]byte(docs[2]), &ds); err != nil {
		t.Fatal(err)
	}
	spec := ds.Spec.Template.Spec
	if ds.Name != "lb-agent-edge-a-1" || spec.NodeSelector["kubernetes.io/hostname"] != "edge-a-1" ||
		spec.Volumes[0].Secret.SecretName != secret.Name || spec.Containers[0].Image != DefaultLBAgentImage {
		t.Errorf("DaemonSet %+v", ds)
	}
	args := strings.Join(spec.Containers[0].Args, " ")
	for _, want := range []string{"--group=zone-a", "--node-name=edge-a-1", "--hub-kubeconfig=/etc/portico/hub/kubeconfig", "--address=192.0.2.11"} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %q", args, want)
		}
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
