package membercluster

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
)

// Reasons of the CredentialExpiring condition.
const (
	// ReasonCredentialNotReported: the agent has not reported when its hub
	// credential expires (it has not connected, or does not renew it).
	ReasonCredentialNotReported = "NotReported"
	// ReasonCredentialValid: more than a tenth of the credential's lifetime remains.
	ReasonCredentialValid = "Valid"
	// ReasonCredentialExpiresSoon: less than a tenth of the lifetime remains,
	// so the agent's renewal (due at 80% of it) has not happened.
	ReasonCredentialExpiresSoon = "ExpiresSoon"
	// ReasonCredentialExpired: the credential expired; the agent can no
	// longer reach the hub.
	ReasonCredentialExpired = "Expired"
)

// credentialWarningDivisor: CredentialExpiring turns True when less than
// 1/credentialWarningDivisor of the credential's lifetime remains.
const credentialWarningDivisor = 10

// applyCredential sets CredentialExpiring from the credential lifetime the
// agent reported in status.agent and returns how long until the condition
// would change (0: never by time alone).
func (c *Controller) applyCredential(status *clusterv1alpha1.MemberClusterStatus, cluster string) time.Duration {
	const typ = clusterv1alpha1.MemberClusterCredentialExpiring
	agent := status.Agent
	if agent.CredentialExpirationTime == nil {
		setCondition(status, typ, metav1.ConditionUnknown, ReasonCredentialNotReported,
			"the member-agent has not reported when its hub credential expires")
		return 0
	}
	expires := agent.CredentialExpirationTime.Time
	var lifetime time.Duration
	if agent.CredentialIssueTime != nil {
		lifetime = max(expires.Sub(agent.CredentialIssueTime.Time), 0)
	}
	warnAt := expires.Add(-lifetime / credentialWarningDivisor)
	at := expires.UTC().Format(time.RFC3339)
	now := c.now()
	switch {
	case !now.Before(expires):
		setCondition(status, typ, metav1.ConditionTrue, ReasonCredentialExpired, fmt.Sprintf(
			"the member-agent's hub credential expired at %s and the agent did not renew it: it can no longer reach the hub; "+
				"check the agent's log, or run `kubectl portico join %s` again and apply its output", at, cluster))
		return 0
	case !now.Before(warnAt):
		setCondition(status, typ, metav1.ConditionTrue, ReasonCredentialExpiresSoon, fmt.Sprintf(
			"the member-agent's hub credential expires at %s and the agent has not renewed it (it renews at 80%% of the lifetime): "+
				"check the agent's log; it needs create on serviceaccounts/token for its own ServiceAccount", at))
		return expires.Sub(now)
	default:
		setCondition(status, typ, metav1.ConditionFalse, ReasonCredentialValid,
			fmt.Sprintf("the member-agent's hub credential expires at %s; the agent renews it before", at))
		return warnAt.Sub(now)
	}
}
