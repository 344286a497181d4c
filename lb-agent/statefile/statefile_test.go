package statefile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

func sample() State {
	return State{
		Group: "zone-a",
		LoadBalancerGroup: &clusterv1alpha1.LoadBalancerGroup{
			ObjectMeta: metav1.ObjectMeta{Name: "zone-a"},
			Spec: clusterv1alpha1.LoadBalancerGroupSpec{Zone: "zone-a", BGP: clusterv1alpha1.BGPConfig{
				LocalASN: 64512, Peers: []clusterv1alpha1.BGPPeer{{Address: "10.0.0.1", ASN: 64500,
					HoldTime:          &metav1.Duration{Duration: 30 * time.Second},
					PasswordSecretRef: &clusterv1alpha1.SecretKeyReference{Name: "bgp-zone-a"}}},
			}},
		},
		VirtualIPs: []trafficv1alpha1.VirtualIP{{
			ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: trafficv1alpha1.VirtualIPSpec{
				Address: "203.0.113.10", Pool: "public", Groups: []string{"zone-a"},
				Ports:     []trafficv1alpha1.Port{{Name: "https", Port: 443, Protocol: "TCP"}},
				Backends:  []trafficv1alpha1.Backend{{Address: "10.0.0.10", Zone: "zone-a"}, {Address: "10.1.0.10", Zone: "zone-b"}},
				CrossZone: &trafficv1alpha1.CrossZone{LocalWeight: ptr.To(int32(90)), RemoteWeight: ptr.To(int32(10))},
				HealthCheck: &trafficv1alpha1.HealthCheck{Type: "http", Path: "/healthz", Port: 8080,
					Interval: &metav1.Duration{Duration: time.Second}, HealthyThreshold: ptr.To(int32(2))},
			},
		}},
		BGPPasswords: []BGPPassword{{Secret: "bgp-zone-a", Key: "password", Password: "s3cret"}},
		HubIdentity:  "2f0c7f4e-0000-4000-8000-000000000001",
	}
}

func TestRoundTrip(t *testing.T) {
	path := Path(filepath.Join(t.TempDir(), "new", "dir"), "edge-a-1")
	saved := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := Save(path, sample(), saved); err != nil {
		t.Fatal(err)
	}
	got, at, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(got, sample()) || !at.Equal(saved) {
		t.Errorf("loaded %+v saved at %v, want %+v saved at %v", got, at, sample(), saved)
	}
	// It holds BGP passwords: only the agent may read it.
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		if info, err := os.Stat(p); err != nil || info.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v), want %v", p, info.Mode().Perm(), err, want)
		}
	}
}

func TestSaveReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	path := Path(dir, "edge-a-1")
	if err := Save(path, sample(), time.Now()); err != nil {
		t.Fatal(err)
	}
	// A write that crashed before its rename leaves a temporary file and the
	// previous state intact.
	crashed := filepath.Join(dir, tempPrefix("edge-a-1.json")+"123")
	if err := os.WriteFile(crashed, []byte(`{"version": 1, "group": "zo`), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, _, err := Load(path); err != nil || !equality.Semantic.DeepEqual(got, sample()) {
		t.Fatalf("after a crashed write: %+v, %v", got, err)
	}
	next := sample()
	next.VirtualIPs = nil
	if err := Save(path, next, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got, _, err := Load(path); err != nil || len(got.VirtualIPs) != 0 {
		t.Errorf("after replacing: %+v, %v", got, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "edge-a-1.json" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("the directory holds %v, want the state file only", names)
	}
}

func TestSaveFailureLeavesNoTemporaryFile(t *testing.T) {
	dir := t.TempDir()
	// A directory in place of the file: the rename fails.
	blocked := Path(dir, "blocked")
	if err := os.MkdirAll(filepath.Join(blocked, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := Save(blocked, sample(), time.Now()); err == nil {
		t.Fatal("saving over a directory succeeded")
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(left) != 0 {
		t.Errorf("a failed write left %v", left)
	}
}

func TestLoadRejects(t *testing.T) {
	for name, tc := range map[string]struct {
		content string
		want    string
	}{
		"truncated":       {`{"version": 1, "group": "zone-a", "virtualIPs": [`, "is corrupt"},
		"not JSON":        {"\x00\x01garbage", "is corrupt"},
		"unknown version": {`{"version": 2, "group": "zone-a"}`, "has format version 2; this lb-agent reads version 1 only"},
		"no version":      {`{"group": "zone-a"}`, "has format version none"},
		"bad field":       {`{"version": 1, "virtualIPs": "web"}`, "is corrupt"},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "edge-a-1.json")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, _, err := Load(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %v, want one naming %s and saying %q", err, path, tc.want)
			}
		})
	}
}

func TestLoadMissing(t *testing.T) {
	_, _, err := Load(Path(t.TempDir(), "edge-a-1"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v, want fs.ErrNotExist", err)
	}
}
