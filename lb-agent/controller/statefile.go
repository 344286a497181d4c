package controller

import (
	"errors"
	"io/fs"
	"slices"
	"strings"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/lb-agent/metrics"
	"github.com/portico-dev/portico/lb-agent/statefile"
)

// load reads the state file, if any, to serve it until the hub's caches have
// synced. A file that cannot be used is logged and ignored: the agent then
// waits for the hub before programming anything.
func (c *Controller) load() {
	metrics.ServingFromDisk.Set(0)
	path := c.opts.StateFile
	if path == "" {
		return
	}
	st, saved, err := statefile.Load(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		klog.InfoS("No state file yet: nothing is served before the hub answers", "path", path)
		return
	case err != nil:
		klog.ErrorS(err, "Ignoring the state file: nothing is served before the hub answers")
		return
	case st.Group != c.opts.Group:
		klog.InfoS("Ignoring the state file of another group: nothing is served before the hub answers",
			"path", path, "fileGroup", st.Group, "group", c.opts.Group)
		return
	}
	disk := hubState{group: st.LoadBalancerGroup}
	for i := range st.VirtualIPs {
		disk.vips = append(disk.vips, &st.VirtualIPs[i])
	}
	for _, p := range st.BGPPasswords {
		if c.passwords == nil {
			c.passwords = map[clusterv1alpha1.SecretKeyReference]password{}
		}
		c.passwords[clusterv1alpha1.SecretKeyReference{Name: p.Secret, Key: p.Key}] = password{value: p.Password, read: c.now()}
	}
	c.disk, c.saved, c.served = &disk, &st, disk
	c.guard.learn(st.HubIdentity)
	metrics.ServingFromDisk.Set(1)
	klog.InfoS("Serving the desired state of the state file until the hub's caches sync (health checks still gate announcements)",
		"path", path, "saved", saved, "groupExists", st.LoadBalancerGroup != nil, "virtualIPs", len(st.VirtualIPs))
}

// save writes the hub's state to the state file when it differs from what the
// file holds. A failure is logged, counted and retried at the next
// synchronization; serving goes on.
func (c *Controller) save(in hubState) {
	if c.opts.StateFile == "" {
		return
	}
	st := c.fileState(in)
	if c.saved != nil && apiequality.Semantic.DeepEqual(*c.saved, st) {
		return
	}
	if err := statefile.Save(c.opts.StateFile, st, c.now()); err != nil {
		metrics.SyncErrors.WithLabelValues("state").Inc()
		klog.ErrorS(err, "Saving the desired state: an agent restarted while the hub is unreachable would serve an older one")
		return
	}
	c.saved = &st
	klog.V(2).InfoS("Saved the desired state", "path", c.opts.StateFile, "virtualIPs", len(st.VirtualIPs))
}

// fileState is what the state file keeps of the hub's objects: copies of the
// group and of the VirtualIPs naming it (name and spec), the BGP passwords
// last read for the group's peers, and the hub identity accepted.
func (c *Controller) fileState(in hubState) statefile.State {
	st := statefile.State{Group: c.opts.Group, HubIdentity: c.guard.identity()}
	if g := in.group; g != nil {
		st.LoadBalancerGroup = &clusterv1alpha1.LoadBalancerGroup{ObjectMeta: metav1.ObjectMeta{Name: g.Name}, Spec: *g.Spec.DeepCopy()}
		st.BGPPasswords = c.groupPasswords(g)
	}
	for _, v := range in.vips {
		if v.DeletionTimestamp == nil && slices.Contains(v.Spec.Groups, c.opts.Group) {
			st.VirtualIPs = append(st.VirtualIPs, trafficv1alpha1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: v.Name}, Spec: *v.Spec.DeepCopy()})
		}
	}
	slices.SortFunc(st.VirtualIPs, func(a, b trafficv1alpha1.VirtualIP) int { return strings.Compare(a.Name, b.Name) })
	return st
}

// groupPasswords lists the passwords read for the group's peers.
func (c *Controller) groupPasswords(g *clusterv1alpha1.LoadBalancerGroup) []statefile.BGPPassword {
	var out []statefile.BGPPassword
	for _, p := range g.Spec.BGP.Peers {
		if p.PasswordSecretRef == nil {
			continue
		}
		ref := *p.PasswordSecretRef
		if ref.Key == "" {
			ref.Key = defaultPasswordKey
		}
		pw, ok := c.passwords[ref]
		entry := statefile.BGPPassword{Secret: ref.Name, Key: ref.Key, Password: pw.value}
		if ok && !slices.Contains(out, entry) {
			out = append(out, entry)
		}
	}
	return out
}
