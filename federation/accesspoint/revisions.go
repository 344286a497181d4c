package accesspoint

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-dev/portico/apis/traffic/rollout"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// withContent returns a copy of the access point whose spec carries content.
func withContent(fap *trafficv1alpha1.FederatedAccessPoint, c *trafficv1alpha1.RevisionContent) *trafficv1alpha1.FederatedAccessPoint {
	out := fap.DeepCopy()
	out.Spec.Hosts, out.Spec.Template, out.Spec.Overrides = c.Hosts, *c.Template.DeepCopy(), nil
	for _, o := range c.Overrides {
		out.Spec.Overrides = append(out.Spec.Overrides, *o.DeepCopy())
	}
	out.Spec.LoadBalancer, out.Spec.TLS = c.LoadBalancer.DeepCopy(), c.TLS.DeepCopy()
	return out
}

// RevisionName is the name of an access point's revision number n.
func RevisionName(fap *trafficv1alpha1.FederatedAccessPoint, n int64) string {
	return fmt.Sprintf("%s-%d", fap.Name, n)
}

// revisionsByAccessPoint indexes AccessPointRevisions by "namespace/name" of
// their access point.
const revisionsByAccessPoint = "accessPoint"

func revisionKeys(obj any) ([]string, error) {
	r, ok := obj.(*trafficv1alpha1.AccessPointRevision)
	if !ok {
		return nil, nil
	}
	return []string{r.Namespace + "/" + r.Spec.AccessPointRef.Name}, nil
}

// revisions returns the access point's AccessPointRevisions by number: the
// cache's, and the last one this controller created while the cache does not
// show it or a newer one yet (for at most createdRevisionTTL: a revision
// deleted before the cache saw it is then created again).
func (c *Controller) revisions(fap *trafficv1alpha1.FederatedAccessPoint) map[int64]*trafficv1alpha1.AccessPointRevision {
	objs, _ := c.revs.ByIndex(revisionsByAccessPoint, fap.Namespace+"/"+fap.Name)
	out := map[int64]*trafficv1alpha1.AccessPointRevision{}
	for _, o := range objs {
		r := o.(*trafficv1alpha1.AccessPointRevision)
		if r.Spec.AccessPointRef.UID == fap.UID && r.DeletionTimestamp == nil {
			out[r.Spec.Revision] = r
		}
	}
	key := fap.Namespace + "/" + fap.Name
	if v, ok := c.createdRevisions.Load(key); ok {
		cr := v.(createdRevision)
		if cr.rev.Spec.AccessPointRef.UID != fap.UID || newest(out) >= cr.rev.Spec.Revision || c.now().Sub(cr.at) > createdRevisionTTL {
			c.createdRevisions.CompareAndDelete(key, v)
		} else {
			out[cr.rev.Spec.Revision] = cr.rev
		}
	}
	return out
}

// createdRevision is the last AccessPointRevision this controller created for
// an access point, and when.
type createdRevision struct {
	rev *trafficv1alpha1.AccessPointRevision
	at  time.Time
}

// createdRevisionTTL bounds how long revisions trusts a created revision the
// cache does not show.
const createdRevisionTTL = 30 * time.Second

func newest(revs map[int64]*trafficv1alpha1.AccessPointRevision) int64 {
	var n int64
	for k := range revs {
		n = max(n, k)
	}
	return n
}

// targetRevision returns the number of the revision holding the spec's
// content: the newest one when its content is the same, else a new one, which
// it adds to revs and returns, not yet created, for createRevision.
func targetRevision(fap *trafficv1alpha1.FederatedAccessPoint, revs map[int64]*trafficv1alpha1.AccessPointRevision) (int64, *trafficv1alpha1.AccessPointRevision) {
	content := rollout.Content(&fap.Spec)
	canonicalize(&content)
	hash := rollout.ContentHash(&content)
	n := newest(revs)
	if n > 0 && revs[n].Spec.Hash == hash {
		return n, nil
	}
	rev := &trafficv1alpha1.AccessPointRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name: RevisionName(fap, n+1), Namespace: fap.Namespace,
			Labels: map[string]string{trafficv1alpha1.RevisionLabel: fap.Name},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: trafficv1alpha1.SchemeGroupVersion.String(), Kind: "FederatedAccessPoint",
				Name: fap.Name, UID: fap.UID, Controller: ptrTrue(),
			}},
		},
		Spec: trafficv1alpha1.AccessPointRevisionSpec{
			AccessPointRef: trafficv1alpha1.AccessPointReference{Namespace: fap.Namespace, Name: fap.Name, UID: fap.UID},
			Revision:       n + 1, Hash: hash, Content: content,
		},
	}
	revs[n+1] = rev
	return n + 1, rev
}

// createRevision creates a revision targetRevision made and remembers it until
// the cache shows it (revisions).
func (c *Controller) createRevision(ctx context.Context, rev *trafficv1alpha1.AccessPointRevision) (*trafficv1alpha1.AccessPointRevision, error) {
	created, err := c.client.TrafficV1alpha1().AccessPointRevisions(rev.Namespace).Create(ctx, rev, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("AccessPointRevision %s/%s exists but is not in the cache yet", rev.Namespace, rev.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("creating revision %d of %s/%s: %w", rev.Spec.Revision, rev.Namespace, rev.Spec.AccessPointRef.Name, err)
	}
	c.createdRevisions.Store(rev.Namespace+"/"+rev.Spec.AccessPointRef.Name, createdRevision{rev: created, at: c.now()})
	return created, nil
}

func ptrTrue() *bool { t := true; return &t }

// pruneRevisions deletes the revisions beyond the history limit, oldest
// first; the revisions in use (the target, the stable one and any a cluster
// is sent) are kept whatever the limit.
func (c *Controller) pruneRevisions(ctx context.Context, fap *trafficv1alpha1.FederatedAccessPoint, revs map[int64]*trafficv1alpha1.AccessPointRevision, inUse map[int64]bool) error {
	limit := int32(trafficv1alpha1.DefaultRevisionHistoryLimit)
	if r := fap.Spec.Rollout; r != nil && r.RevisionHistoryLimit != nil {
		limit = *r.RevisionHistoryLimit
	}
	var nums []int64
	for n := range revs {
		nums = append(nums, n)
	}
	sort.Slice(nums, func(i, j int) bool { return nums[i] > nums[j] })
	kept := int32(0)
	for _, n := range nums {
		if inUse[n] || kept < limit {
			kept++
			continue
		}
		err := c.client.TrafficV1alpha1().AccessPointRevisions(fap.Namespace).Delete(ctx, revs[n].Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		delete(revs, n)
	}
	return nil
}

// canonicalize writes the content's JSON (the template's objects, the
// overrides' values) in one form: keys sorted, no spacing. What a revision
// renders for a cluster then depends on its content only: the same template
// stored with another key order (a server-side apply sorts the keys, an
// update keeps the client's) or spacing renders the same manifests, and a
// new revision rewrites only the ClusterAccessPoints of the clusters whose
// manifests it changes. JSON that does not parse is left as it is (rendering
// reports it).
func canonicalize(c *trafficv1alpha1.RevisionContent) {
	t := &c.Template
	if t.Gateway != nil {
		t.Gateway.Raw = canonicalJSON(t.Gateway.Raw)
	}
	for _, list := range t.Lists() {
		for i := range list {
			list[i].Spec.Raw = canonicalJSON(list[i].Spec.Raw)
		}
	}
	for _, list := range t.GatewayAPI.Lists() {
		for i := range list {
			list[i].Spec.Raw = canonicalJSON(list[i].Spec.Raw)
		}
	}
	for i := range c.Overrides {
		for j := range c.Overrides[i].ClusterOverrides {
			if v := c.Overrides[i].ClusterOverrides[j].Value; v != nil {
				v.Raw = canonicalJSON(v.Raw)
			}
		}
	}
}

// canonicalJSON is raw with its keys sorted and no spacing; raw itself when
// it does not parse. Numbers keep their digits.
func canonicalJSON(raw []byte) []byte {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil || d.More() {
		return raw
	}
	out, err := json.Marshal(v)
	if err != nil {
		return raw
	}
	return out
}
