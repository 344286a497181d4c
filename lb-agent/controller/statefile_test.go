package controller

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/lb-agent/metrics"
	"github.com/portico-dev/portico/lb-agent/model"
	"github.com/portico-dev/portico/lb-agent/statefile"
)

func withStateFile(path string) func(*Options) {
	return func(o *Options) { o.StateFile = path }
}

func loadState(t *testing.T, path string) (statefile.State, time.Time, bool) {
	t.Helper()
	st, saved, err := statefile.Load(path)
	return st, saved, err == nil
}

func vipNames(st statefile.State) []string {
	var out []string
	for _, v := range st.VirtualIPs {
		out = append(out, v.Name)
	}
	return out
}

// TestSavesTheHubState: every new desired state from the hub is written to
// the state file (the group, the VirtualIPs of the group, the BGP passwords),
// and only when it changed.
func TestSavesTheHubState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "edge-a-1.json")
	g := group()
	g.Spec.BGP.Peers[0].PasswordSecretRef = &clusterv1alpha1.SecretKeyReference{Name: "bgp-zone-a"}
	e := startWith(t, withStateFile(path), false, g, virtualIP("203.0.113.10", "zone-a"),
		virtualIP("203.0.113.11", "zone-b"), virtualIP("203.0.113.12", "zone-a", "zone-b"))
	if _, err := e.kube.CoreV1().Secrets("portico-system").Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "bgp-zone-a", Namespace: "portico-system"},
		Data:       map[string][]byte{"password": []byte("s3cret")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.c.Enqueue()
	eventually(t, "the state file with the password", func() bool {
		st, _, ok := loadState(t, path)
		return ok && len(st.BGPPasswords) == 1
	})
	st, saved, _ := loadState(t, path)
	if st.Group != "zone-a" || st.LoadBalancerGroup == nil || st.LoadBalancerGroup.Spec.BGP.LocalASN != 64512 ||
		!slices.Equal(vipNames(st), []string{"203.0.113.10", "203.0.113.12"}) ||
		st.BGPPasswords[0] != (statefile.BGPPassword{Secret: "bgp-zone-a", Key: "password", Password: "s3cret"}) {
		t.Errorf("state file %+v", st)
	}
	if st.VirtualIPs[0].Spec.Backends[1].Zone != "zone-b" || st.VirtualIPs[0].ResourceVersion != "" {
		t.Errorf("VirtualIP kept as %+v, want its name and spec", st.VirtualIPs[0])
	}

	// Synchronizations that change nothing do not write.
	calls := e.dp.Calls()
	for range 3 {
		e.c.Enqueue()
		eventually(t, "another sync", func() bool { return e.dp.Calls() > calls })
		calls = e.dp.Calls()
	}
	if _, again, _ := loadState(t, path); !again.Equal(saved) {
		t.Errorf("the state file was rewritten (saved %v, then %v) though nothing changed", saved, again)
	}

	if err := e.portico.TrafficV1alpha1().VirtualIPs().Delete(context.Background(), "203.0.113.12", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deletion in the state file", func() bool {
		st, _, ok := loadState(t, path)
		return ok && slices.Equal(vipNames(st), []string{"203.0.113.10"})
	})
}

// TestColdStartServesTheStateFile: started with the hub down, the agent
// serves the state file, health checks gating the announcements as usual; once
// the hub answers its state replaces the file's.
func TestColdStartServesTheStateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge-a-1.json")
	g := group()
	g.Spec.BGP.Peers[0].PasswordSecretRef = &clusterv1alpha1.SecretKeyReference{Name: "bgp-zone-a"}
	disk := statefile.State{Group: "zone-a", LoadBalancerGroup: g,
		VirtualIPs:   []trafficv1alpha1.VirtualIP{*virtualIP("203.0.113.10", "zone-a"), *virtualIP("203.0.113.11", "zone-a")},
		BGPPasswords: []statefile.BGPPassword{{Secret: "bgp-zone-a", Key: "password", Password: "s3cret"}}}
	if err := statefile.Save(path, disk, time.Now()); err != nil {
		t.Fatal(err)
	}
	// The hub no longer has 203.0.113.11.
	e := startWith(t, withStateFile(path), true, g, virtualIP("203.0.113.10", "zone-a"))

	eventually(t, "the state file's services", func() bool { return len(e.dp.Services()) == 2 })
	announced, cfg := e.speaker.state()
	if len(announced) != 0 {
		t.Errorf("announced %v before any backend was healthy", announced)
	}
	if cfg.ASN != 64512 || len(cfg.Peers) != 1 || cfg.Peers[0].Password != "s3cret" {
		t.Errorf("BGP configuration from the state file: %+v", cfg)
	}
	if v := testutil.ToFloat64(metrics.ServingFromDisk); v != 1 {
		t.Errorf("portico_lb_serving_from_disk %v while serving the state file", v)
	}
	e.health.set("10.0.0.10", model.Healthy)
	e.c.HealthChanged(model.Probe{}, model.Healthy)
	eventually(t, "both VIPs of the state file announced", func() bool {
		a, _ := e.speaker.state()
		return slices.Equal(a, addrs("203.0.113.10", "203.0.113.11"))
	})
	e.health.set("10.0.0.10", model.Unhealthy)
	e.c.HealthChanged(model.Probe{}, model.Unhealthy)
	eventually(t, "the withdrawal of VIPs without a healthy backend", func() bool { a, _ := e.speaker.state(); return len(a) == 0 })
	e.health.set("10.0.0.10", model.Healthy)
	e.c.HealthChanged(model.Probe{}, model.Healthy)

	e.hubDown.Store(false)
	eventually(t, "the hub's state", func() bool {
		a, _ := e.speaker.state()
		return len(e.dp.Services()) == 1 && slices.Equal(a, addrs("203.0.113.10"))
	})
	if v := testutil.ToFloat64(metrics.ServingFromDisk); v != 0 {
		t.Errorf("portico_lb_serving_from_disk %v once the hub answered", v)
	}
	eventually(t, "the hub's state in the state file", func() bool {
		st, _, ok := loadState(t, path)
		return ok && slices.Equal(vipNames(st), []string{"203.0.113.10"})
	})
	eventually(t, "the node's status", func() bool {
		n := e.node(t)
		return n != nil && slices.Equal(n.Status.Announced, []string{"203.0.113.10"})
	})
}

// TestUnusableStateFileIsIgnored: a corrupt file, one of an unknown format
// version or of another group serves nothing; the agent waits for the hub.
func TestUnusableStateFileIsIgnored(t *testing.T) {
	other := statefile.State{Group: "zone-b", LoadBalancerGroup: group(),
		VirtualIPs: []trafficv1alpha1.VirtualIP{*virtualIP("203.0.113.10", "zone-a", "zone-b")}}
	for name, write := range map[string]func(path string) error{
		"corrupt": func(path string) error {
			return os.WriteFile(path, []byte(`{"version": 1, "group": "zone-a", "virtualIPs": [{`), 0o600)
		},
		"unknown version": func(path string) error {
			return os.WriteFile(path, []byte(`{"version": 99, "group": "zone-a"}`), 0o600)
		},
		"other group": func(path string) error { return statefile.Save(path, other, time.Now()) },
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "edge-a-1.json")
			if err := write(path); err != nil {
				t.Fatal(err)
			}
			e := startWith(t, withStateFile(path), true, group(), virtualIP("203.0.113.12", "zone-a"))
			// Not a wait: for a while with the hub down nothing is programmed.
			time.Sleep(300 * time.Millisecond)
			if n := e.dp.Calls(); n != 0 {
				t.Fatalf("%d dataplane calls before the hub answered, with an unusable state file", n)
			}
			if v := testutil.ToFloat64(metrics.ServingFromDisk); v != 0 {
				t.Errorf("portico_lb_serving_from_disk %v", v)
			}
			e.hubDown.Store(false)
			eventually(t, "the hub's state, saved", func() bool {
				st, _, ok := loadState(t, path)
				return len(e.dp.Services()) == 1 && ok && slices.Equal(vipNames(st), []string{"203.0.113.12"})
			})
		})
	}
}

// TestSaverWritesWhatChanged: the state file is written when what it keeps
// changed (a VirtualIP's spec, one added or gone, the hub identity), and not
// for a VirtualIP whose metadata only changed nor for the same state handed
// over again; a write that failed is retried with nothing new handed over.
func TestSaverWritesWhatChanged(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state", "edge-a-1.json")
	if err := os.WriteFile(filepath.Join(dir, "state"), nil, 0o600); err != nil { // a file where the directory goes
		t.Fatal(err)
	}
	clock := time.Unix(1700000000, 0)
	s := newSaver(path, "zone-a", func() time.Time { clock = clock.Add(time.Second); return clock })
	var vips []*trafficv1alpha1.VirtualIP
	for i := range 100 {
		vips = append(vips, virtualIP(fmt.Sprintf("203.0.113.%d", i), "zone-a"))
	}
	vips = append(vips, virtualIP("203.0.113.200", "zone-b"))
	last := time.Time{}
	step := func(what string, written bool, check func(statefile.State) bool) {
		t.Helper()
		s.save()
		st, saved, ok := loadState(t, path)
		switch {
		case !ok && written:
			t.Fatalf("%s: no state file", what)
		case written && !saved.After(last):
			t.Errorf("%s: the state file was not written", what)
		case !written && !saved.Equal(last):
			t.Errorf("%s: the state file was written", what)
		case !check(st):
			t.Errorf("%s: the state file holds %+v", what, st)
		}
		last = saved
	}
	s.replace(hubState{group: group(), vips: vips}, nil, "hub-1")
	s.save() // fails: the directory cannot be made
	if _, _, ok := loadState(t, path); ok {
		t.Fatal("a state file was written where none can be")
	}
	if err := os.Remove(filepath.Join(dir, "state")); err != nil {
		t.Fatal(err)
	}
	step("retried", true, func(st statefile.State) bool {
		return len(st.VirtualIPs) == 100 && st.HubIdentity == "hub-1" && st.LoadBalancerGroup.Spec.Zone == "zone-a"
	})
	relabeled := vips[5].DeepCopy()
	relabeled.Labels = map[string]string{"a": "b"}
	s.update(map[string]*trafficv1alpha1.VirtualIP{relabeled.Name: relabeled}, "hub-1")
	step("metadata only", false, func(statefile.State) bool { return true })
	s.replace(hubState{group: group(), vips: slices.Clone(vips)}, nil, "hub-1")
	step("the same state again", false, func(statefile.State) bool { return true })
	drained := vips[7].DeepCopy()
	drained.Spec.Backends[0].Drained = true
	s.update(map[string]*trafficv1alpha1.VirtualIP{drained.Name: drained, vips[9].Name: nil}, "hub-1")
	step("a drain and a VirtualIP gone", true, func(st statefile.State) bool {
		i := slices.IndexFunc(st.VirtualIPs, func(v trafficv1alpha1.VirtualIP) bool { return v.Name == drained.Name })
		return len(st.VirtualIPs) == 99 && i >= 0 && st.VirtualIPs[i].Spec.Backends[0].Drained
	})
	s.update(nil, "hub-2")
	step("another identity", true, func(st statefile.State) bool { return st.HubIdentity == "hub-2" && len(st.VirtualIPs) == 99 })
}
