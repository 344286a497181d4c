package membercluster

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/test/framework"
)

// TestCredentialExpiring: the lifetime of the hub credential the agent
// reported, against the controller's clock, decides CredentialExpiring with
// the reasons docs/api.md documents, and sync asks to look again when the
// condition would change.
func TestCredentialExpiring(t *testing.T) {
	reported := func(issued, expires time.Time) *clusterv1alpha1.MemberCluster {
		mc := joined("zone-a-1")
		if !issued.IsZero() {
			mc.Status.Agent.CredentialIssueTime = &metav1.Time{Time: issued}
		}
		mc.Status.Agent.CredentialExpirationTime = &metav1.Time{Time: expires}
		return mc
	}
	for _, tc := range []struct {
		name    string
		cluster *clusterv1alpha1.MemberCluster
		lease   bool // a Lease renewed just now (it expires in a grace)
		status  metav1.ConditionStatus
		reason  string
		message string
		requeue time.Duration
	}{
		{name: "not reported", cluster: joined("zone-a-1"),
			status: metav1.ConditionUnknown, reason: "NotReported", message: "has not reported"},
		{name: "a day's token, issued an hour ago", cluster: reported(t0.Add(-time.Hour), t0.Add(23*time.Hour)),
			status: metav1.ConditionFalse, reason: "Valid", message: "expires at 2026-03-02T11:00:00Z",
			requeue: 23*time.Hour - 144*time.Minute},
		{name: "the Lease expires first", cluster: reported(t0.Add(-time.Hour), t0.Add(23*time.Hour)), lease: true,
			status: metav1.ConditionFalse, reason: "Valid", requeue: grace + time.Second},
		{name: "exactly a tenth left", cluster: reported(t0.Add(-9*time.Hour), t0.Add(time.Hour)),
			status: metav1.ConditionTrue, reason: "ExpiresSoon", message: "expires at 2026-03-01T13:00:00Z and the agent has not renewed it",
			requeue: time.Hour},
		{name: "minutes left, the Lease expires later", cluster: reported(t0.Add(-24*time.Hour), t0.Add(10*time.Second)), lease: true,
			status: metav1.ConditionTrue, reason: "ExpiresSoon", requeue: 10 * time.Second},
		{name: "expires now", cluster: reported(t0.Add(-24*time.Hour), t0),
			status: metav1.ConditionTrue, reason: "Expired", message: "expired at 2026-03-01T12:00:00Z"},
		{name: "expired a minute ago", cluster: reported(t0.Add(-24*time.Hour), t0.Add(-time.Minute)),
			status: metav1.ConditionTrue, reason: "Expired", message: "run `kubectl portico join zone-a-1` again"},
		{name: "no issue time: only expiry counts", cluster: reported(time.Time{}, t0.Add(time.Minute)),
			status: metav1.ConditionFalse, reason: "Valid", requeue: time.Minute},
		{name: "issue time after expiry", cluster: reported(t0.Add(2*time.Hour), t0.Add(time.Hour)),
			status: metav1.ConditionFalse, reason: "Valid", requeue: time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var kubeObjects []runtime.Object
			if tc.lease {
				kubeObjects = append(kubeObjects, newLease("zone-a-1", t0))
			}
			f := newFixture(t, []*clusterv1alpha1.MemberCluster{tc.cluster}, kubeObjects...)
			requeue, err := f.c.sync(f.ctx, "zone-a-1")
			if err != nil {
				t.Fatal(err)
			}
			if requeue != tc.requeue {
				t.Errorf("look again in %v, want %v", requeue, tc.requeue)
			}
			checkCondition(t, f.memberCluster(t, "zone-a-1").Status, clusterv1alpha1.MemberClusterCredentialExpiring, tc.status, tc.reason, tc.message)
		})
	}
}

// TestCredentialConditionFollowsTheClock: the condition turns when the clock
// passes the moment sync asked to look again, and a renewed credential turns
// it back.
func TestCredentialConditionFollowsTheClock(t *testing.T) {
	mc := joined("zone-a-1")
	mc.Status.Agent.CredentialIssueTime = &metav1.Time{Time: t0.Add(-time.Hour)}
	mc.Status.Agent.CredentialExpirationTime = &metav1.Time{Time: t0.Add(9 * time.Hour)}
	f := newFixture(t, []*clusterv1alpha1.MemberCluster{mc})
	after, err := f.c.sync(f.ctx, "zone-a-1")
	if err != nil {
		t.Fatal(err)
	}
	checkCondition(t, f.memberCluster(t, "zone-a-1").Status, clusterv1alpha1.MemberClusterCredentialExpiring, metav1.ConditionFalse, "Valid", "")
	f.clock.Set(t0.Add(after))
	framework.Eventually(t, 10*time.Second, "the informer sees the written condition", func() (bool, string) {
		cached, err := f.c.clusters.Get("zone-a-1")
		if err != nil {
			return false, err.Error()
		}
		return meta.FindStatusCondition(cached.Status.Conditions, clusterv1alpha1.MemberClusterCredentialExpiring) != nil,
			fmt.Sprintf("conditions %+v", cached.Status.Conditions)
	})
	if _, err := f.c.sync(f.ctx, "zone-a-1"); err != nil {
		t.Fatal(err)
	}
	checkCondition(t, f.memberCluster(t, "zone-a-1").Status, clusterv1alpha1.MemberClusterCredentialExpiring, metav1.ConditionTrue, "ExpiresSoon", "")
}
