package certificate

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/certsecret"
)

// report runs one status sync against the access point as the fake API server
// holds it (the cache is refreshed first) and returns the result.
func (f *fixture) report(t *testing.T, c *Controller) *trafficv1alpha1.FederatedAccessPoint {
	t.Helper()
	ctx := context.Background()
	cur, err := f.pc.TrafficV1alpha1().FederatedAccessPoints("shop").Get(ctx, "checkout", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_ = f.portico.Traffic().V1alpha1().FederatedAccessPoints().Informer().GetIndexer().Update(cur)
	f.refreshSecrets()
	if _, err := c.syncStatus(ctx, "shop", "checkout"); err != nil {
		t.Fatal(err)
	}
	out, err := f.pc.TrafficV1alpha1().FederatedAccessPoints("shop").Get(ctx, "checkout", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func certReady(fap *trafficv1alpha1.FederatedAccessPoint) metav1.Condition {
	if c := meta.FindStatusCondition(fap.Status.Conditions, trafficv1alpha1.AccessPointCertificateReady); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// TestFailureSurvivesLeaderChange: a failed issue is written into the access
// point's status under this controller's field manager; a new controller
// (another leader, nothing in memory) reports the same reason from the object
// and writes nothing.
func TestFailureSurvivesLeaderChange(t *testing.T) {
	f := newFixture(t, tlsFAP())
	f.fail = errors.New("CA expired")
	f.sync(t)
	fap := f.report(t, f.c)
	cond := certReady(fap)
	if cond.Status != metav1.ConditionFalse || cond.Reason != ReasonIssuanceFailed || cond.Message != "CertificateIssuer ca: CA expired" {
		t.Fatalf("CertificateReady = %+v", cond)
	}
	// (The fake does not record the subresource; the integration tier checks
	// that the write went through /status.)
	if !slices.ContainsFunc(fap.ManagedFields, func(m metav1.ManagedFieldsEntry) bool { return m.Manager == FieldManager }) {
		t.Fatalf("status not written by field manager %s: %v", FieldManager, fap.ManagedFields)
	}

	leader := f.newController()
	if got := leader.failureOf(fap); got == nil || got.Reason != ReasonIssuanceFailed {
		t.Fatalf("new leader reads failure %+v from the object", got)
	}
	writes := len(f.pc.Actions())
	again := f.report(t, leader)
	if c := certReady(again); c.Reason != ReasonIssuanceFailed || !c.LastTransitionTime.Equal(&cond.LastTransitionTime) {
		t.Fatalf("new leader reports %+v, want the recorded failure unchanged", c)
	}
	for _, a := range f.pc.Actions()[writes:] {
		if a.GetVerb() == "patch" {
			t.Fatalf("new leader rewrote an unchanged status: %v", a)
		}
	}
}

// TestRenewalFailureKeepsIssued: a failed renewal of a valid certificate keeps
// CertificateReady True and says why in the message, also for a new leader.
func TestRenewalFailureKeepsIssued(t *testing.T) {
	f := newFixture(t, tlsFAP())
	f.sync(t)
	f.now = f.now.Add(61 * 24 * 3600e9) // past two thirds of 90 days
	f.fail = errors.New("rate limited")
	f.sync(t)
	cond := certReady(f.report(t, f.c))
	if cond.Status != metav1.ConditionTrue || cond.Reason != ReasonIssued || !strings.Contains(cond.Message, "reissue failed (IssuanceFailed): CertificateIssuer ca: rate limited") {
		t.Fatalf("CertificateReady = %+v", cond)
	}
	fap, _ := f.pc.TrafficV1alpha1().FederatedAccessPoints("shop").Get(context.Background(), "checkout", metav1.GetOptions{})
	if got := f.newController().failureOf(fap); got == nil || *got != (Failure{Reason: ReasonIssuanceFailed, Message: "CertificateIssuer ca: rate limited"}) {
		t.Fatalf("new leader reads %+v", got)
	}
}

// TestInstalledClusters: the certificate counts as installed on a placed
// cluster once its agent applied the ClusterAccessPoint revision that delivers
// this version.
func TestInstalledClusters(t *testing.T) {
	fap := tlsFAP()
	fap.Status.Clusters = []trafficv1alpha1.ClusterStatus{{Name: "a"}, {Name: "b"}}
	f := newFixture(t, fap)
	f.sync(t)
	cond := certReady(f.report(t, f.c))
	if cond.Reason != ReasonInstalling || !strings.Contains(cond.Message, "not installed yet on a, b") {
		t.Fatalf("CertificateReady = %+v", cond)
	}
	caps := f.portico.Traffic().V1alpha1().ClusterAccessPoints().Informer().GetIndexer()
	_ = caps.Add(deliveringCAP(t, "a", 1, true))
	_ = caps.Add(deliveringCAP(t, "b", 1, false)) // not applied yet
	got := f.report(t, f.c)
	if c := certReady(got); c.Reason != ReasonInstalling || !strings.Contains(c.Message, "on b") {
		t.Fatalf("CertificateReady = %+v", c)
	}
	if ic := got.Status.Certificate.InstalledClusters; len(ic) != 1 || ic[0] != "a" {
		t.Fatalf("installedClusters = %v", ic)
	}
	_ = caps.Update(deliveringCAP(t, "b", 1, true))
	got = f.report(t, f.c)
	if c := certReady(got); c.Status != metav1.ConditionTrue || c.Reason != ReasonIssued {
		t.Fatalf("CertificateReady = %+v", c)
	}
	if got.Status.Certificate.Version != 1 || len(got.Status.Certificate.InstalledClusters) != 2 {
		t.Fatalf("certificate status = %+v", got.Status.Certificate)
	}
}

// deliveringCAP is cluster's ClusterAccessPoint delivering certificate version
// v, applied by its agent or not.
func deliveringCAP(t *testing.T, cluster string, v int64, applied bool) *trafficv1alpha1.ClusterAccessPoint {
	t.Helper()
	secret, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{
		"name": "shop.checkout-tls", "namespace": "istio-system",
		"annotations": map[string]string{certsecret.AnnotationVersion: strconv.FormatInt(v, 10)}}})
	if err != nil {
		t.Fatal(err)
	}
	cap := &trafficv1alpha1.ClusterAccessPoint{
		ObjectMeta: metav1.ObjectMeta{Name: "shop.checkout", Namespace: "portico-cluster-" + cluster},
		Spec: trafficv1alpha1.ClusterAccessPointSpec{Revision: "r1", Manifests: []trafficv1alpha1.JSONObject{{Raw: secret}},
			AccessPointRef: trafficv1alpha1.AccessPointReference{Namespace: "shop", Name: "checkout"}},
	}
	if applied {
		cap.Status.ObservedRevision = "r1"
		cap.Status.Objects = []trafficv1alpha1.ObjectStatus{{Kind: "Secret", Namespace: "istio-system", Name: "shop.checkout-tls", Applied: true}}
	}
	return cap
}
