//go:build integration

package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	traffic "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/accesspoint"
	"github.com/portico-dev/portico/federation/certificate"
	"github.com/portico-dev/portico/test/framework"
	"github.com/portico-dev/portico/test/localfed"
)

// TestStatusOwnersSurviveLeaderChange: the access point and certificate
// controllers write their parts of an access point's status through /status
// under their own field managers (kubectl shows them); a certificate that
// cannot be issued is reported in CertificateReady, and when the leader is
// stopped the new leader shows the same condition — same reason, message and
// transition time, never "Issuing" in between — because the failure is in the
// object, not in the old leader's memory.
func TestStatusOwnersSurviveLeaderChange(t *testing.T) {
	etcd := framework.NewEtcd(t)
	hub := framework.NewHubCluster(t)
	opts := framework.PorticoHubOptions{EtcdServers: []string{etcd.ClientURL},
		EncryptionConfig: filepath.Join(t.TempDir(), "encryption.yaml")}
	ctx := context.Background()
	kube := kubernetes.NewForConfigOrDie(hub.RestConfig)
	pc := fastClient(hub.RestConfig)
	holder := func() string {
		l, err := kube.CoordinationV1().Leases(localfed.PorticoNamespace).Get(ctx, "portico-hub", metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil {
			return ""
		}
		return *l.Spec.HolderIdentity
	}
	runsControllers := func(p *framework.PorticoHub) bool {
		data, _ := os.ReadFile(p.Process.LogPath)
		return strings.Contains(string(data), "Starting controllers")
	}

	r0 := framework.NewPorticoHub(t, hub, opts)
	framework.Eventually(t, 60*time.Second, "replica 0 leads", func() (bool, string) {
		return holder() != "" && runsControllers(r0), "holder " + holder()
	})
	first := holder()
	r1 := framework.NewPorticoHub(t, hub, opts) // serves the API from now on; follows
	startSimClusters(t, hub, map[string]string{"sim-a": "zone-a", "sim-b": "zone-b"}, simOptions{Heartbeat: time.Second})
	createHubNamespace(t, hub, "shop")

	fap := fedAccessPoint("shop", "checkout", []string{"checkout.example.test"}, "5s")
	fap.Spec.TLS = &traffic.TLSSpec{IssuerRef: traffic.LocalReference{Name: "missing-ca"}}
	if _, err := pc.TrafficV1alpha1().FederatedAccessPoints("shop").Create(ctx, fap, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var failed metav1.Condition
	framework.Eventually(t, 60*time.Second, "CertificateReady False (IssuerNotReady) and Ready False because of it", func() (bool, string) {
		ap, err := getFAP(pc, "shop", "checkout")
		if err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(ap.Status.Conditions, traffic.AccessPointCertificateReady)
		ready := meta.FindStatusCondition(ap.Status.Conditions, traffic.ConditionReady)
		if c == nil || c.Reason != certificate.ReasonIssuerNotReady || ready == nil ||
			!strings.Contains(ready.Message, "CertificateReady (IssuerNotReady)") || !appliedEverywhere(ap, 2) {
			return false, "conditions " + describeConditions(ap.Status.Conditions)
		}
		failed = *c
		return true, ""
	})

	// Each part of the status has its own field manager, written through /status.
	ap, err := getFAP(pc, "shop", "checkout")
	if err != nil {
		t.Fatal(err)
	}
	for _, manager := range []string{accesspoint.FieldManager, certificate.FieldManager} {
		if !managesStatus(ap.ManagedFields, manager) {
			t.Errorf("no /status field manager %s in %+v", manager, ap.ManagedFields)
		}
	}
	out, _, err := framework.Kubectl(t, hub.KubeconfigPath, "get", "fap", "-n", "shop", "checkout", "--show-managed-fields", "-o", "yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"manager: " + accesspoint.FieldManager, "manager: " + certificate.FieldManager, "subresource: status",
		`k:{"type":"CertificateReady"}`, `k:{"type":"Ready"}`, "f:clusters:"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl get --show-managed-fields lacks %q:\n%s", want, out)
		}
	}

	// The leader goes; the other replica takes over and reports the same.
	if err := r0.Stop(); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, 60*time.Second, "replica 1 leads", func() (bool, string) {
		return holder() != first && holder() != "" && runsControllers(r1), "holder " + holder()
	})
	// Not a wait: for 5 s after the take-over (the new leader's certificate
	// controller tries again and fails the same way), the condition must not
	// change at any moment.
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		ap, err := getFAP(pc, "shop", "checkout")
		if err != nil {
			t.Fatal(err)
		}
		c := meta.FindStatusCondition(ap.Status.Conditions, traffic.AccessPointCertificateReady)
		if c == nil || c.Reason != failed.Reason || c.Message != failed.Message || !c.LastTransitionTime.Equal(&failed.LastTransitionTime) {
			t.Fatalf("after the leader change CertificateReady = %+v, want %+v", c, failed)
		}
	}
}

func managesStatus(entries []metav1.ManagedFieldsEntry, manager string) bool {
	for _, e := range entries {
		if e.Manager == manager && e.Subresource == "status" && e.Operation == metav1.ManagedFieldsOperationApply {
			return true
		}
	}
	return false
}

func describeConditions(conds []metav1.Condition) string {
	var parts []string
	for _, c := range conds {
		parts = append(parts, c.Type+"="+string(c.Status)+"("+c.Reason+")")
	}
	return strings.Join(parts, " ")
}
