package localfed

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	fedv1b1 "sigs.k8s.io/kubefed/pkg/apis/core/v1beta1"

	"github.com/portico-dev/portico/federation/kubefed"
)

// KubefedNamespace is where kubefed keeps its KubeFedClusters (kubefed's
// default system namespace).
const KubefedNamespace = kubefed.DefaultNamespace

// KubefedCRDs returns the CRD bundles published in the sigs.k8s.io/kubefed
// module this repository requires: kubefed's own kinds (KubeFedCluster,
// FederatedTypeConfig, ...) and the federated types (FederatedDeployment, ...),
// as its Helm chart installs them; and that module's version.
func KubefedCRDs() (files []string, version string, err error) {
	dir, version, err := moduleDir("sigs.k8s.io/kubefed")
	if err != nil {
		return nil, "", err
	}
	for _, rel := range []string{"charts/kubefed/charts/controllermanager/crds/crds.yaml", "charts/kubefed/crds/crds.yaml"} {
		f := filepath.Join(dir, filepath.FromSlash(rel))
		if _, err := os.Stat(f); err != nil {
			return nil, "", fmt.Errorf("kubefed CRDs of sigs.k8s.io/kubefed %s: %w", version, err)
		}
		files = append(files, f)
	}
	return files, version, nil
}

// InstallKubefedCRDs installs kubefed's CRDs (KubefedCRDs) in the cluster of
// kubeconfig, waits until they are Established, and creates the namespace
// KubefedNamespace.
func InstallKubefedCRDs(ctx context.Context, kubectl, kubeconfig string) error {
	files, _, err := KubefedCRDs()
	if err != nil {
		return err
	}
	if err := installCRDs(ctx, kubectl, kubeconfig, "kubefed", files...); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	return ensureNamespace(ctx, cfg, KubefedNamespace)
}

// ensureNamespace creates the namespace name unless it exists.
func ensureNamespace(ctx context.Context, cfg *rest.Config, name string) error {
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	_, err = kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return nil
}

// KubeFedCluster is what CreateKubeFedCluster registers.
type KubeFedCluster struct {
	// Name of the KubeFedCluster (by default the MemberCluster of that name).
	Name string
	// APIEndpoint and CABundle of the member cluster's kube-apiserver.
	APIEndpoint string
	CABundle    []byte
	// Labels select the cluster in placements' clusterSelector.
	Labels map[string]string
	// Zones and Region are written into its status by CreateKubeFedCluster,
	// as kubefed's cluster controller does from the member's nodes
	// (JoinKubefedCluster leaves the status to that controller).
	Zones  []string
	Region string
}

// CreateKubeFedCluster creates (or updates) a KubeFedCluster in
// KubefedNamespace of the cluster of cfg and writes its status as kubefed's
// cluster controller would: Ready, with zones and region. Its spec.secretRef
// names a Secret that is not created: without kubefed's controllers nothing
// reads it (JoinKubefedCluster registers a cluster for a running
// controller-manager).
func CreateKubeFedCluster(ctx context.Context, cfg *rest.Config, c KubeFedCluster) error {
	u, err := applyKubeFedCluster(ctx, cfg, c)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	status := map[string]any{"conditions": []any{map[string]any{
		"type": "Ready", "status": "True", "lastProbeTime": time.Now().UTC().Format(time.RFC3339)}}}
	if len(c.Zones) > 0 {
		zones := make([]any, len(c.Zones))
		for i, z := range c.Zones {
			zones[i] = z
		}
		status["zones"] = zones
	}
	if c.Region != "" {
		status["region"] = c.Region
	}
	u.Object["status"] = status
	if _, err := dyn.Resource(kubefed.ClustersResource).Namespace(KubefedNamespace).UpdateStatus(ctx, u, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("KubeFedCluster %s status: %w", c.Name, err)
	}
	return nil
}

// applyKubeFedCluster applies the spec and labels of the KubeFedCluster c
// (server-side) and returns it.
func applyKubeFedCluster(ctx context.Context, cfg *rest.Config, c KubeFedCluster) (*unstructured.Unstructured, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	kfc := &fedv1b1.KubeFedCluster{
		TypeMeta:   metav1.TypeMeta{APIVersion: fedv1b1.SchemeGroupVersion.String(), Kind: "KubeFedCluster"},
		ObjectMeta: metav1.ObjectMeta{Name: c.Name, Namespace: KubefedNamespace, Labels: c.Labels},
		Spec: fedv1b1.KubeFedClusterSpec{APIEndpoint: c.APIEndpoint, CABundle: c.CABundle,
			SecretRef: fedv1b1.LocalSecretReference{Name: c.Name + "-token"}},
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(kfc)
	if err != nil {
		return nil, err
	}
	u, err := dyn.Resource(kubefed.ClustersResource).Namespace(KubefedNamespace).Apply(ctx, c.Name, &unstructured.Unstructured{Object: obj}, metav1.ApplyOptions{FieldManager: "localfed", Force: true})
	if err != nil {
		return nil, fmt.Errorf("KubeFedCluster %s: %w", c.Name, err)
	}
	return u, nil
}
