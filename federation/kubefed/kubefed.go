// Package kubefed reads a kubefed federation: its KubeFedClusters (kubefed's
// own API types) and the placement of its federated objects, with kubefed's
// semantics, and maps kubefed's clusters to MemberClusters.
package kubefed

import (
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	fedv1b1 "sigs.k8s.io/kubefed/pkg/apis/core/v1beta1"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
)

// DefaultNamespace is kubefed's default system namespace, which holds its
// KubeFedClusters.
const DefaultNamespace = "kube-federation-system"

// ClustersResource is the resource of KubeFedClusters.
var ClustersResource = fedv1b1.SchemeGroupVersion.WithResource("kubefedclusters")

// ClusterFromUnstructured converts a KubeFedCluster read with a dynamic client.
func ClusterFromUnstructured(u *unstructured.Unstructured) (*fedv1b1.KubeFedCluster, error) {
	var c fedv1b1.KubeFedCluster
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &c); err != nil {
		return nil, fmt.Errorf("KubeFedCluster %s/%s: %w", u.GetNamespace(), u.GetName(), err)
	}
	return &c, nil
}

// placement is the placement shape every kubefed federated type shares
// (spec.placement), and its propagation status (status.clusters).
type placement struct {
	Spec struct {
		Placement struct {
			Clusters        []clusterRef          `json:"clusters"`
			ClusterSelector *metav1.LabelSelector `json:"clusterSelector,omitempty"`
		} `json:"placement"`
	} `json:"spec"`
	Status struct {
		Clusters []clusterStatus `json:"clusters"`
	} `json:"status"`
}

type clusterRef struct {
	Name string `json:"name"`
}

// clusterStatus is kubefed's propagation status in one cluster; an empty
// Status means propagated.
type clusterStatus struct {
	Name   string `json:"name"`
	Status string `json:"status,omitempty"`
}

// Namespace is what kubefed intersects a namespaced federated object's
// placement with: the FederatedNamespace of the object's namespace (Object;
// nil when there is none), and whether kubefed runs limited to one namespace
// (its KubeFedConfig's spec.scope is Namespaced).
type Namespace struct {
	Object       *unstructured.Unstructured
	LimitedScope bool
}

// Placed returns the names of the KubeFedClusters a federated object is
// placed on, with kubefed's semantics: spec.placement.clusters, when set
// (an empty list places nowhere), else the clusters matching
// spec.placement.clusterSelector (none when absent); only existing
// KubeFedClusters count. A namespaced object (ns not nil) is placed only
// where its namespace's FederatedNamespace is placed too; without one it is
// placed nowhere, unless kubefed is limited to a namespace (then its own
// placement counts). With propagated, only the clusters where kubefed
// reports the object propagated (status.clusters without an error status)
// remain. The result is sorted.
func Placed(obj *unstructured.Unstructured, ns *Namespace, clusters []*fedv1b1.KubeFedCluster, propagated bool) ([]string, error) {
	out, err := selected(obj, clusters)
	if err != nil {
		return nil, err
	}
	if ns != nil && (ns.Object != nil || !ns.LimitedScope) {
		var nsClusters []string
		if ns.Object != nil {
			if nsClusters, err = selected(ns.Object, clusters); err != nil {
				return nil, err
			}
		}
		out = slices.DeleteFunc(out, func(c string) bool { return !slices.Contains(nsClusters, c) })
	}
	if propagated {
		var p placement
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &p); err != nil {
			return nil, fmt.Errorf("%s %s/%s: status: %w", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
		}
		out = slices.DeleteFunc(out, func(c string) bool {
			return !slices.ContainsFunc(p.Status.Clusters, func(s clusterStatus) bool { return s.Name == c && s.Status == "" })
		})
	}
	return out, nil
}

// selected returns the sorted names of the KubeFedClusters obj's own
// spec.placement selects.
func selected(obj *unstructured.Unstructured, clusters []*fedv1b1.KubeFedCluster) ([]string, error) {
	var p placement
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &p); err != nil {
		return nil, fmt.Errorf("%s %s/%s has no kubefed placement: %w", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
	}
	pl := p.Spec.Placement
	selector := labels.Nothing()
	if pl.ClusterSelector != nil {
		s, err := metav1.LabelSelectorAsSelector(pl.ClusterSelector)
		if err != nil {
			return nil, fmt.Errorf("%s %s/%s: spec.placement.clusterSelector: %w", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
		}
		selector = s
	}
	// kubefed tells "clusters: []" (nowhere) from an absent list (use the
	// selector); the converter turns both into nil, so look at the object.
	_, listed, _ := unstructured.NestedFieldNoCopy(obj.Object, "spec", "placement", "clusters")
	var out []string
	for _, c := range clusters {
		var in bool
		if listed {
			in = slices.ContainsFunc(pl.Clusters, func(r clusterRef) bool { return r.Name == c.Name })
		} else {
			in = selector.Matches(labels.Set(c.Labels))
		}
		if in {
			out = append(out, c.Name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// MemberClusters maps KubeFedCluster names to MemberClusters: the one labelled
// portico.dev/kubefed-cluster with the name, else the one of that name that
// has no such label. Names no MemberCluster maps are returned as unmapped.
// Both results are sorted.
func MemberClusters(kubefedClusters []string, members []*clusterv1alpha1.MemberCluster) (mapped, unmapped []string) {
	for _, name := range kubefedClusters {
		found := ""
		for _, mc := range members {
			if l, ok := mc.Labels[clusterv1alpha1.LabelKubefedCluster]; ok {
				if l == name {
					found = mc.Name
					break
				}
			} else if mc.Name == name && found == "" {
				found = mc.Name
			}
		}
		if found == "" {
			unmapped = append(unmapped, name)
		} else {
			mapped = append(mapped, found)
		}
	}
	slices.Sort(mapped)
	slices.Sort(unmapped)
	return slices.Compact(mapped), unmapped
}

// GroupVersionKind parses a followed object's apiVersion and kind.
func GroupVersionKind(apiVersion, kind string) (schema.GroupVersionKind, error) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return schema.GroupVersionKind{}, err
	}
	return gv.WithKind(kind), nil
}
