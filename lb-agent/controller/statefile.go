package controller

import (
	"errors"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/lb-agent/metrics"
	"github.com/portico-dev/portico/lb-agent/statefile"
)

// saveInterval is the least time between two writes of the state file: the
// changes of a burst are written together.
const saveInterval = time.Second

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
	c.disk, c.served = &disk, disk
	c.saver.holds(disk, st.BGPPasswords, st.HubIdentity)
	c.guard.learn(st.HubIdentity)
	metrics.ServingFromDisk.Set(1)
	klog.InfoS("Serving the desired state of the state file until the hub's caches sync (health checks still gate announcements)",
		"path", path, "saved", saved, "groupExists", st.LoadBalancerGroup != nil, "virtualIPs", len(st.VirtualIPs))
}

// saver keeps the state file: the hub's state that the node serves (the
// group and its VirtualIPs: name and spec), the BGP passwords last read for
// the group's peers and the hub identity accepted. The worker hands it what
// changed, at the cost of what changed; it writes the file off the
// synchronization path (run), when what the file holds changed, as soon as
// it can and at most every saveInterval. A failure is logged, counted and
// retried after saveInterval; serving goes on.
type saver struct {
	path, group string
	now         func() time.Time
	wake        chan struct{}

	mu      sync.Mutex
	pending pendingState

	// Owned by run: what the file holds.
	vips map[string]*trafficv1alpha1.VirtualIP // by name
	// extra are VirtualIPs sharing a name with one of vips: a held
	// withdrawal serves a VirtualIP that the hub changed as it was.
	extra     []*trafficv1alpha1.VirtualIP
	lbGroup   *clusterv1alpha1.LoadBalancerGroup
	passwords []statefile.BGPPassword
	identity  string
	dirty     bool // the file does not hold it yet
}

// pendingState is what the worker handed over since the saver last looked:
// all the VirtualIPs (when all was set), then changes by name (nil: no longer
// served), and the latest group, passwords and identity.
type pendingState struct {
	handed    bool // anything: identity is set
	set       bool // all, group and passwords are set
	all       []*trafficv1alpha1.VirtualIP
	changes   map[string]*trafficv1alpha1.VirtualIP
	group     *clusterv1alpha1.LoadBalancerGroup
	passwords []statefile.BGPPassword
	identity  string
}

func newSaver(path, group string, now func() time.Time) *saver {
	return &saver{path: path, group: group, now: now, wake: make(chan struct{}, 1)}
}

// holds records what the file holds, as loaded.
func (s *saver) holds(st hubState, passwords []statefile.BGPPassword, identity string) {
	if s == nil {
		return
	}
	s.vips, s.extra = byNameAndExtra(st.vips, s.serves)
	s.lbGroup, s.passwords, s.identity = st.group, passwords, identity
}

// replace hands over the hub's state served: in, the passwords of its
// group's peers and the hub identity accepted. The objects are never
// modified.
func (s *saver) replace(in hubState, passwords []statefile.BGPPassword, identity string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.pending = pendingState{handed: true, set: true, all: in.vips, group: in.group, passwords: passwords, identity: identity}
	s.mu.Unlock()
	s.signal()
}

// update hands over the VirtualIPs changed (by name, nil: no longer served)
// and the hub identity accepted.
func (s *saver) update(changes map[string]*trafficv1alpha1.VirtualIP, identity string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	if s.pending.changes == nil {
		s.pending.changes = map[string]*trafficv1alpha1.VirtualIP{}
	}
	for name, v := range changes {
		s.pending.changes[name] = v
	}
	s.pending.handed, s.pending.identity = true, identity
	s.mu.Unlock()
	s.signal()
}

func (s *saver) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run writes the file when it changed, at most every saveInterval, until
// stop is closed; then it writes what is pending.
func (s *saver) run(stop <-chan struct{}) {
	if s == nil {
		return
	}
	for {
		select {
		case <-stop:
			s.save()
			return
		case <-s.wake:
		}
		s.save()
		select {
		case <-stop:
			s.save()
			return
		case <-time.After(saveInterval):
		}
	}
}

// save writes the file if what was handed over changed what it holds, or
// the last write failed.
func (s *saver) save() {
	s.mu.Lock()
	p := s.pending
	s.pending = pendingState{}
	s.mu.Unlock()
	if s.apply(p) {
		s.dirty = true
	}
	if !s.dirty {
		return
	}
	st := s.state()
	if err := statefile.Save(s.path, st, s.now()); err != nil {
		metrics.SyncErrors.WithLabelValues("state").Inc()
		klog.ErrorS(err, "Saving the desired state: an agent restarted while the hub is unreachable would serve an older one")
		s.signal() // retried after saveInterval
		return
	}
	s.dirty = false
	klog.V(2).InfoS("Saved the desired state", "path", s.path, "virtualIPs", len(st.VirtualIPs))
}

// apply makes p what the file is to hold, and tells whether that changed.
func (s *saver) apply(p pendingState) bool {
	changed := false
	if p.set {
		vips, extra := byNameAndExtra(p.all, s.serves)
		changed = len(vips) != len(s.vips) || len(extra) > 0 || len(s.extra) > 0
		for name, v := range vips {
			if changed {
				break
			}
			old := s.vips[name]
			changed = old == nil || !sameSpec(old, v)
		}
		s.vips, s.extra = vips, extra
	}
	for name, v := range p.changes {
		old := s.vips[name]
		switch {
		case v == nil && old != nil:
			delete(s.vips, name)
			changed = true
		case v != nil && (old == nil || !sameSpec(old, v)):
			s.vips[name] = v
			changed = true
		}
	}
	if p.set {
		changed = changed || !sameGroup(s.lbGroup, p.group) || !slices.Equal(s.passwords, p.passwords)
		s.lbGroup, s.passwords = p.group, p.passwords
	}
	if p.handed && p.identity != s.identity {
		s.identity, changed = p.identity, true
	}
	return changed
}

// state is what the file is to hold: copies of the group and of the
// VirtualIPs (name and spec), sorted by name.
func (s *saver) state() statefile.State {
	st := statefile.State{Group: s.group, HubIdentity: s.identity, BGPPasswords: s.passwords}
	if g := s.lbGroup; g != nil {
		st.LoadBalancerGroup = &clusterv1alpha1.LoadBalancerGroup{ObjectMeta: metav1.ObjectMeta{Name: g.Name}, Spec: g.Spec}
	}
	st.VirtualIPs = make([]trafficv1alpha1.VirtualIP, 0, len(s.vips)+len(s.extra))
	for _, v := range s.vips {
		st.VirtualIPs = append(st.VirtualIPs, trafficv1alpha1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: v.Name}, Spec: v.Spec})
	}
	for _, v := range s.extra {
		st.VirtualIPs = append(st.VirtualIPs, trafficv1alpha1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: v.Name}, Spec: v.Spec})
	}
	slices.SortFunc(st.VirtualIPs, func(a, b trafficv1alpha1.VirtualIP) int { return strings.Compare(a.Name, b.Name) })
	return st
}

// serves tells whether v names the group and is not being deleted.
func (s *saver) serves(v *trafficv1alpha1.VirtualIP) bool {
	return v.DeletionTimestamp == nil && slices.Contains(v.Spec.Groups, s.group)
}

// byNameAndExtra indexes the VirtualIPs of vips that keep says to keep by
// name, those sharing a name with an earlier one apart.
func byNameAndExtra(vips []*trafficv1alpha1.VirtualIP, keep func(*trafficv1alpha1.VirtualIP) bool) (map[string]*trafficv1alpha1.VirtualIP, []*trafficv1alpha1.VirtualIP) {
	byName := make(map[string]*trafficv1alpha1.VirtualIP, len(vips))
	var extra []*trafficv1alpha1.VirtualIP
	for _, v := range vips {
		switch {
		case !keep(v):
		case byName[v.Name] != nil:
			extra = append(extra, v)
		default:
			byName[v.Name] = v
		}
	}
	return byName, extra
}

// sameSpec tells whether a and b are the same VirtualIP for the file.
func sameSpec(a, b *trafficv1alpha1.VirtualIP) bool {
	return a == b || (a.Name == b.Name && apiequality.Semantic.DeepEqual(a.Spec, b.Spec))
}

// sameGroup tells whether a and b are the same group for the file.
func sameGroup(a, b *clusterv1alpha1.LoadBalancerGroup) bool {
	return a == b || (a != nil && b != nil && a.Name == b.Name && apiequality.Semantic.DeepEqual(a.Spec, b.Spec))
}

// groupPasswords lists the passwords read for the group's peers.
func (c *Controller) groupPasswords(g *clusterv1alpha1.LoadBalancerGroup) []statefile.BGPPassword {
	if g == nil {
		return nil
	}
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
