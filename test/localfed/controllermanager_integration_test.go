//go:build integration

package localfed_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/portico-dev/portico/test/framework"
	"github.com/portico-dev/portico/test/localfed"
)

// TestControllerManager: kube-controller-manager runs beside the hub cluster's
// kube-apiserver, its controllers each with their own ServiceAccount, and the
// cluster behaves accordingly; Stop stops it.
func TestControllerManager(t *testing.T) {
	hub := framework.NewHubCluster(t)
	kc := kubernetes.NewForConfigOrDie(hub.RestConfig)
	ctx := context.Background()
	kcm := hub.ControllerManager
	if !localfed.PIDRunsBinary(kcm.PID, kcm.Path) || !slices.Contains(hub.PIDs(), kcm.PID) {
		t.Fatalf("kube-controller-manager pid %d not running or not in PIDs() %v", kcm.PID, hub.PIDs())
	}

	t.Run("controllers use their own ServiceAccounts", func(t *testing.T) {
		want := []string{"namespace-controller", "generic-garbage-collector", "clusterrole-aggregation-controller", "service-account-controller"}
		framework.Eventually(t, 30*time.Second, "the controllers' ServiceAccounts in kube-system", func() (bool, string) {
			list, err := kc.CoreV1().ServiceAccounts(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err.Error()
			}
			var have []string
			for _, sa := range list.Items {
				have = append(have, sa.Name)
			}
			for _, w := range want {
				if !slices.Contains(have, w) {
					return false, fmt.Sprintf("have %v", have)
				}
			}
			return true, ""
		})
	})

	ns := "kcm-test"
	if _, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Run("serviceaccount: a default ServiceAccount per namespace", func(t *testing.T) {
		framework.Eventually(t, 30*time.Second, "ServiceAccount "+ns+"/default", func() (bool, string) {
			_, err := kc.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
			return err == nil, fmt.Sprint(err)
		})
	})

	t.Run("serviceaccount-token: legacy token Secrets are filled in", func(t *testing.T) {
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "default-token", Annotations: map[string]string{corev1.ServiceAccountNameKey: "default"}},
			Type:       corev1.SecretTypeServiceAccountToken,
		}
		if _, err := kc.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		var token string
		framework.Eventually(t, 30*time.Second, "a token in Secret "+ns+"/default-token", func() (bool, string) {
			s, err := kc.CoreV1().Secrets(ns).Get(ctx, "default-token", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			token = string(s.Data[corev1.ServiceAccountTokenKey])
			return token != "", fmt.Sprintf("keys %d", len(s.Data))
		})
		cfg := rest.AnonymousClientConfig(hub.RestConfig)
		cfg.BearerToken = token
		review, err := kubernetes.NewForConfigOrDie(cfg).AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("SelfSubjectReview with the legacy token: %v", err)
		}
		if got, want := review.Status.UserInfo.Username, "system:serviceaccount:"+ns+":default"; got != want {
			t.Errorf("legacy token authenticates as %q, want %q", got, want)
		}
	})

	t.Run("clusterrole-aggregation: labelled rules reach edit", func(t *testing.T) {
		rule := rbacv1.PolicyRule{APIGroups: []string{"test.portico.dev"}, Resources: []string{"gizmos"}, Verbs: []string{"create"}}
		if _, err := kc.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: "gizmo-edit", Labels: map[string]string{"rbac.authorization.k8s.io/aggregate-to-edit": "true"}},
			Rules:      []rbacv1.PolicyRule{rule},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		framework.Eventually(t, 30*time.Second, "ClusterRole edit aggregates gizmo-edit", func() (bool, string) {
			edit, err := kc.RbacV1().ClusterRoles().Get(ctx, "edit", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			for _, r := range edit.Rules {
				if slices.Equal(r.APIGroups, rule.APIGroups) && slices.Equal(r.Resources, rule.Resources) {
					return true, ""
				}
			}
			return false, fmt.Sprintf("%d rules", len(edit.Rules))
		})
	})

	t.Run("namespace: kubectl delete namespace completes", func(t *testing.T) {
		if _, err := kc.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "content"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if out, stderr, err := framework.Kubectl(t, hub.KubeconfigPath, "delete", "namespace", ns, "--wait=true", "--timeout=60s"); err != nil {
			t.Fatalf("kubectl delete namespace: %v\n%s%s", err, out, stderr)
		}
		if _, err := kc.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("namespace %s after kubectl delete --wait: %v, want NotFound", ns, err)
		}
	})

	if err := hub.Stop(); err != nil {
		t.Fatal(err)
	}
	if localfed.PIDRunsBinary(kcm.PID, kcm.Path) {
		t.Errorf("kube-controller-manager pid %d still runs after Stop", kcm.PID)
	}
}

// TestMemberClusterControllerManager: a member cluster runs
// kube-controller-manager too: a namespace holding Istio objects (custom
// resources) is deleted completely.
func TestMemberClusterControllerManager(t *testing.T) {
	m := framework.NewMemberCluster(t, "kcm-member")
	ns := "shop"
	gateway := fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: %[1]s}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [web.example.com]}]
`, ns)
	if out, stderr, err := framework.KubectlWithInput(t, m.KubeconfigPath, strings.NewReader(gateway), "apply", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply: %v\n%s%s", err, out, stderr)
	}
	if out, stderr, err := framework.Kubectl(t, m.KubeconfigPath, "delete", "namespace", ns, "--wait=true", "--timeout=60s"); err != nil {
		t.Fatalf("kubectl delete namespace: %v\n%s%s", err, out, stderr)
	}
	kc := kubernetes.NewForConfigOrDie(m.RestConfig)
	if _, err := kc.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace %s after kubectl delete --wait: %v, want NotFound", ns, err)
	}
}
