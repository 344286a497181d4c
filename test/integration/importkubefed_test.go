//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/apis/generated/clientset/versioned"
	"github.com/portico-dev/portico/test/framework"
	"github.com/portico-dev/portico/test/localfed"
)

// TestImportKubefed runs `kubectl portico import kubefed` against a hub
// cluster that is also kubefed's host cluster: kubefed's CRDs and three
// KubeFedClusters, kf-east-1 with zone and region in its status (as kubefed's
// cluster controller writes them), kf-west-1 with them in its topology labels,
// and kf.legacy, whose name is no MemberCluster name. A dry run changes
// nothing; the import creates the two MemberClusters, labelled with their
// KubeFedCluster, writes their member-agent manifests, skips kf.legacy and
// fails for it. Then the clusters join: a member-agent per member cluster,
// with the hub kubeconfig of its manifest, makes its MemberCluster
// Available. It has its own hub cluster and portico-hub, as the hub's
// controllers must run.
func TestImportKubefed(t *testing.T) {
	framework.RequireKubeBinaries(t)
	plugin, err := localfed.BuildBinary("kubectl-portico")
	if err != nil {
		t.Fatal(err)
	}
	agent, err := localfed.BuildBinary("member-agent")
	if err != nil {
		t.Fatal(err)
	}
	hub := framework.NewHubCluster(t)
	framework.NewPorticoHub(t, hub, framework.PorticoHubOptions{})
	members := map[string]*framework.MemberCluster{
		"kf-east-1": framework.NewMemberCluster(t, "kf-east-1"),
		"kf-west-1": framework.NewMemberCluster(t, "kf-west-1"),
	}
	ctx := context.Background()
	admin, err := versioned.NewForConfig(hub.RestConfig)
	if err != nil {
		t.Fatal(err)
	}

	if err := localfed.InstallKubefedCRDs(ctx, hub.KubectlPath(), hub.KubeconfigPath); err != nil {
		t.Fatal(err)
	}
	east, west := members["kf-east-1"], members["kf-west-1"]
	for _, c := range []localfed.KubeFedCluster{
		{Name: "kf-east-1", APIEndpoint: east.URL, CABundle: east.RestConfig.CAData, Zones: []string{"zone-east"}, Region: "r-east"},
		{Name: "kf-west-1", APIEndpoint: west.URL, CABundle: west.RestConfig.CAData,
			Labels: map[string]string{corev1.LabelTopologyZone: "zone-west", corev1.LabelTopologyRegion: "r-west"}},
		{Name: "kf.legacy", APIEndpoint: "https://legacy.example:6443", Zones: []string{"zone-east"}},
	} {
		if err := localfed.CreateKubeFedCluster(ctx, hub.RestConfig, c); err != nil {
			t.Fatal(err)
		}
	}
	importKubefed := func(t *testing.T, args ...string) joinRun {
		t.Helper()
		r := runJoinPlugin(t, plugin, hub.KubeconfigPath, append([]string{"import", "kubefed"}, args...)...)
		t.Logf("stderr:\n%s", r.stderr)
		// kf.legacy is skipped: exit code 1, after the others.
		var exit *exec.ExitError
		if !errors.As(r.err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("import kubefed %v: %v, want exit code 1 for kf.legacy", args, r.err)
		}
		if !strings.Contains(r.stderr, "1 of 3 KubeFedClusters") || !strings.Contains(r.stderr, `kf.legacy: "kf.legacy" is not a valid MemberCluster name`) {
			t.Errorf("stderr does not list kf.legacy as skipped")
		}
		return r
	}

	t.Run("dry run changes nothing", func(t *testing.T) {
		r := importKubefed(t, "--dry-run")
		for _, want := range []string{
			"kf-east-1: create MemberCluster kf-east-1, zone zone-east (status.zones), region r-east (status.region), label portico.dev/kubefed-cluster=kf-east-1\n",
			"kf-west-1: create MemberCluster kf-west-1, zone zone-west (label topology.kubernetes.io/zone), region r-west (label topology.kubernetes.io/region), label portico.dev/kubefed-cluster=kf-west-1\n",
			`kf.legacy: skip: "kf.legacy" is not a valid MemberCluster name`,
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("dry run output lacks %q:\n%s", want, r.stdout)
			}
		}
		mcs, err := admin.ClusterV1alpha1().MemberClusters().List(ctx, metav1.ListOptions{})
		if err != nil || len(mcs.Items) != 0 {
			t.Errorf("MemberClusters after a dry run: %v, %v", mcs, err)
		}
	})

	dir := filepath.Join(t.TempDir(), "agents")
	if !t.Run("import", func(t *testing.T) {
		r := importKubefed(t, "--output-dir", dir)
		if r.stdout != "" {
			t.Errorf("stdout with --output-dir: %q", r.stdout)
		}
		for name, want := range map[string]clusterv1alpha1.MemberClusterSpec{
			"kf-east-1": {Zone: "zone-east", Region: "r-east"},
			"kf-west-1": {Zone: "zone-west", Region: "r-west"},
		} {
			mc, err := admin.ClusterV1alpha1().MemberClusters().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("MemberCluster %s: %v", name, err)
			}
			if mc.Spec.Zone != want.Zone || mc.Spec.Region != want.Region || mc.Labels[clusterv1alpha1.LabelKubefedCluster] != name {
				t.Errorf("MemberCluster %s: spec %+v, labels %v; want zone %s, region %s, label %s=%s",
					name, mc.Spec, mc.Labels, want.Zone, want.Region, clusterv1alpha1.LabelKubefedCluster, name)
			}
			fi, err := os.Stat(filepath.Join(dir, name+".yaml"))
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("manifest of %s: %v, %v", name, fi, err)
			}
		}
		mcs, err := admin.ClusterV1alpha1().MemberClusters().List(ctx, metav1.ListOptions{})
		if err != nil || len(mcs.Items) != 2 {
			t.Errorf("MemberClusters: %v, %v; want kf-east-1 and kf-west-1 only", mcs, err)
		}
	}) {
		t.FailNow()
	}

	t.Run("the clusters join", func(t *testing.T) {
		for name, member := range members {
			data, err := os.ReadFile(filepath.Join(dir, name+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			header := fmt.Sprintf("whose API server is %s (the KubeFedCluster's spec.apiEndpoint)", member.URL)
			if !strings.Contains(string(data), header) {
				t.Errorf("manifest of %s does not name its API server %s", name, member.URL)
			}
			kubeconfig := joinCheckManifest(t, joinParseManifest(t, string(data)), name, "portico/member-agent:latest")
			joinAgentConfig(t, kubeconfig, hub.URL, clusterv1alpha1.ClusterNamespace(name))
			startImportedAgent(t, agent, name, member, kubeconfig)
		}
		for name := range members {
			framework.Eventually(t, 90*time.Second, "MemberCluster "+name+" Available", func() (bool, string) {
				mc, err := admin.ClusterV1alpha1().MemberClusters().Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return false, err.Error()
				}
				return meta.IsStatusConditionTrue(mc.Status.Conditions, clusterv1alpha1.MemberClusterAvailable), fmt.Sprintf("%+v", mc.Status.Conditions)
			})
		}
	})

	t.Run("again, to stdout", func(t *testing.T) {
		r := importKubefed(t)
		for _, name := range []string{"kf-east-1", "kf-west-1"} {
			if !strings.Contains(r.stderr, name+": reuse MemberCluster "+name) {
				t.Errorf("stderr does not report %s reused", name)
			}
			if !strings.Contains(r.stdout, "# member-agent of the Portico member cluster "+name) {
				t.Errorf("stdout lacks the manifest of %s", name)
			}
		}
		// Two manifests, one after the other, each complete.
		objs := joinParseManifest(t, r.stdout)
		if len(objs)%2 != 0 {
			t.Fatalf("%d objects in two manifests", len(objs))
		}
		joinCheckManifest(t, objs[:len(objs)/2], "kf-east-1", "portico/member-agent:latest")
		joinCheckManifest(t, objs[len(objs)/2:], "kf-west-1", "portico/member-agent:latest")
	})
}

// startImportedAgent runs the member-agent of cluster as a process against
// member, with the hub kubeconfig of its manifest.
func startImportedAgent(t *testing.T, agent, cluster string, member *framework.MemberCluster, hubKubeconfig []byte) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "hub.kubeconfig")
	if err := os.WriteFile(path, hubKubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	port, err := localfed.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	proc, err := localfed.StartProcess(localfed.ProcessOptions{Name: "member-agent-" + cluster, Path: agent, LogPath: filepath.Join(dir, "member-agent.log"),
		Args: []string{
			"--hub-kubeconfig=" + path, "--kubeconfig=" + member.KubeconfigPath, "--cluster-name=" + cluster,
			"--metrics-bind-address=127.0.0.1:" + strconv.Itoa(port), "--heartbeat-interval=2s",
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- member-agent %s log (tail) ---\n%s", cluster, proc.LogTail(40))
		}
		if err := proc.Stop(); err != nil {
			t.Errorf("stopping the member-agent of %s: %v", cluster, err)
		}
	})
}
