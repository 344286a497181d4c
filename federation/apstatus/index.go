package apstatus

import (
	"k8s.io/client-go/tools/cache"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// ByAccessPoint indexes ClusterAccessPoints by the access point they render
// ("namespace/name").
const ByAccessPoint = "accessPoint"

// AddIndex adds the ByAccessPoint index to a ClusterAccessPoint informer; the
// controllers sharing that informer may each call it.
func AddIndex(informer cache.SharedIndexInformer) {
	if _, ok := informer.GetIndexer().GetIndexers()[ByAccessPoint]; ok {
		return
	}
	_ = informer.AddIndexers(cache.Indexers{ByAccessPoint: AccessPointKeys})
}

// AccessPointKeys is the ByAccessPoint index function.
func AccessPointKeys(obj any) ([]string, error) {
	cap, ok := obj.(*trafficv1alpha1.ClusterAccessPoint)
	if !ok || cap.Spec.AccessPointRef.Name == "" {
		return nil, nil
	}
	return []string{cap.Spec.AccessPointRef.Namespace + "/" + cap.Spec.AccessPointRef.Name}, nil
}

// CAPName is the name of an access point's ClusterAccessPoints (one per
// cluster namespace).
func CAPName(fap *trafficv1alpha1.FederatedAccessPoint) string { return fap.Namespace + "." + fap.Name }

// ClusterAccessPoints returns the access point's ClusterAccessPoints by cluster.
func ClusterAccessPoints(indexer cache.Indexer, fap *trafficv1alpha1.FederatedAccessPoint) map[string]*trafficv1alpha1.ClusterAccessPoint {
	objs, _ := indexer.ByIndex(ByAccessPoint, fap.Namespace+"/"+fap.Name)
	out := map[string]*trafficv1alpha1.ClusterAccessPoint{}
	for _, o := range objs {
		cap := o.(*trafficv1alpha1.ClusterAccessPoint)
		if cluster, ok := clusterv1alpha1.ClusterOfNamespace(cap.Namespace); ok && cap.Name == CAPName(fap) {
			out[cluster] = cap
		}
	}
	return out
}
