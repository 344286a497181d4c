package accesspoint

import (
	"errors"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/kubefed"
)

// Follower reads where a kubefed federated object is placed
// (spec.placement.follow): the names of the KubeFedClusters, or a
// *kubefed.FollowError.
type Follower interface {
	Placed(apiVersion, kind, namespace, name string, propagated bool) ([]string, error)
}

// ReasonUnmappedClusters: the followed object is placed on KubeFedClusters
// that no MemberCluster maps.
const ReasonUnmappedClusters = "UnmappedClusters"

// followPendingRetry is how soon an access point whose followed kind is still
// being cached is looked at again.
const followPendingRetry = time.Second

// followResult is what spec.placement.follow resolved to.
type followResult struct {
	// err (a *kubefed.FollowError) leaves the last placement in place.
	err *kubefed.FollowError
	// unmapped are KubeFedClusters with no MemberCluster.
	unmapped []string
}

// place selects the access point's clusters: Place, intersected with the
// clusters a followed kubefed object is placed on. When the followed
// object's placement cannot be read, the clusters that have the access point
// keep it (existing) and nothing is added.
func (c *Controller) place(fap *trafficv1alpha1.FederatedAccessPoint, all []*clusterv1alpha1.MemberCluster,
	existing map[string]*trafficv1alpha1.ClusterAccessPoint) ([]*clusterv1alpha1.MemberCluster, *followResult, error) {
	placed, err := Place(fap.Spec.Placement, all)
	if err != nil || fap.Spec.Placement == nil || fap.Spec.Placement.Follow == nil {
		return placed, nil, err
	}
	f := fap.Spec.Placement.Follow
	res := &followResult{}
	var names []string
	if c.follower == nil {
		res.err = &kubefed.FollowError{Reason: kubefed.ReasonKindNotFound, Message: "this portico-hub does not follow kubefed objects"}
	} else if kfcs, err := c.follower.Placed(f.APIVersion, f.Kind, fap.Namespace, f.Name, f.Propagated); err != nil {
		if !errors.As(err, &res.err) {
			return nil, nil, err
		}
	} else {
		names, res.unmapped = kubefed.MemberClusters(kfcs, all)
	}
	if res.err != nil {
		names = nil
		for name := range existing {
			names = append(names, name)
		}
	}
	placed = slices.DeleteFunc(placed, func(mc *clusterv1alpha1.MemberCluster) bool { return !slices.Contains(names, mc.Name) })
	return placed, res, nil
}

// followKey indexes access points by the object they follow.
func followKey(gk schema.GroupKind, namespace, name string) string {
	return gk.String() + "/" + namespace + "/" + name
}

// followsIndex is the index of access points by followKey.
const followsIndex = "follows"

func followsKeys(obj any) ([]string, error) {
	fap, ok := obj.(*trafficv1alpha1.FederatedAccessPoint)
	if !ok || fap.Spec.Placement == nil || fap.Spec.Placement.Follow == nil {
		return nil, nil
	}
	f := fap.Spec.Placement.Follow
	gvk, err := kubefed.GroupVersionKind(f.APIVersion, f.Kind)
	if err != nil {
		return nil, nil
	}
	return []string{followKey(gvk.GroupKind(), fap.Namespace, f.Name), "*"}, nil
}

// EnqueueFollowers wakes the access points that follow the federated object
// namespace/name of gk; with an empty name, every access point that follows
// anything (a KubeFedCluster changed).
func (c *Controller) EnqueueFollowers(gk schema.GroupKind, namespace, name string) {
	key := "*"
	if name != "" {
		key = followKey(gk, namespace, name)
	}
	objs, _ := c.fapIndex.ByIndex(followsIndex, key)
	for _, o := range objs {
		c.enqueueAccessPoint(o)
	}
}
