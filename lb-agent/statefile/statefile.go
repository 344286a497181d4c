// Package statefile keeps on disk the last desired state an lb-agent received
// from the hub, so that an agent restarted while the hub is unreachable serves
// what it last knew instead of nothing.
//
// The file holds the hub's inputs of the desired state, not the built model:
// the node's LoadBalancerGroup (zone, BGP peers), the VirtualIPs naming it and
// the BGP passwords read for its peers (while the agent holds a mass
// withdrawal, the group and VirtualIPs it keeps serving, as last received), and
// the hub identity the agent accepted. The agent builds its model from them
// exactly as from the hub's objects, so health checks decide the weights and
// the announcements as they always do. Each write replaces the file atomically
// (a temporary file in the same directory, fsync, rename, fsync of the
// directory): a crash leaves the old file or the new one, never a mix. The
// file is JSON with a format version; a file of another version is refused.
package statefile

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
)

// Version of the file format this package writes and reads.
const Version = 1

// State is what the agent last received from the hub.
type State struct {
	// Group is the agent's LoadBalancerGroup when the state was saved: an agent
	// of another group must not serve it.
	Group string `json:"group"`
	// LoadBalancerGroup as the hub had it (name and spec); nil when it did not
	// exist, which serves nothing.
	LoadBalancerGroup *clusterv1alpha1.LoadBalancerGroup `json:"loadBalancerGroup"`
	// VirtualIPs naming Group (name and spec), sorted by name.
	VirtualIPs []trafficv1alpha1.VirtualIP `json:"virtualIPs"`
	// BGPPasswords read from the hub for the group's peers.
	BGPPasswords []BGPPassword `json:"bgpPasswords,omitempty"`
	// HubIdentity is the hub identity the agent accepted (annotation
	// cluster.portico.dev/hub-identity of its LoadBalancerNode); empty when
	// none was seen yet.
	HubIdentity string `json:"hubIdentity,omitempty"`
}

// BGPPassword is the value of one key of a BGP password Secret.
type BGPPassword struct {
	Secret   string `json:"secret"`
	Key      string `json:"key"`
	Password string `json:"password"`
}

// file is the JSON document on disk.
type file struct {
	Version int       `json:"version"`
	Saved   time.Time `json:"saved"`
	State
}

// Path is the state file of node in dir.
func Path(dir, node string) string { return filepath.Join(dir, node+".json") }

// Save replaces the file at path with st, saved at the given time. It creates
// the directory (mode 0700) when missing; the file has mode 0600, for it holds
// BGP passwords. Temporary files left by a write that crashed are removed.
func Save(path string, st State, saved time.Time) error {
	data, err := json.MarshalIndent(file{Version: Version, Saved: saved.UTC(), State: st}, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the state: %w", err)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the state directory: %w", err)
	}
	removeTemporary(dir, base)
	if err := writeAtomic(dir, base, data); err != nil {
		return fmt.Errorf("writing the state file %s: %w", path, err)
	}
	return nil
}

// writeAtomic writes data to a temporary file in dir, syncs it, renames it to
// base and syncs dir, so that the rename itself survives a crash.
func writeAtomic(dir, base string, data []byte) (err error) {
	tmp, err := os.CreateTemp(dir, tempPrefix(base)+"*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	_, err = tmp.Write(data)
	if err = errors.Join(err, tmp.Chmod(0o600), tmp.Sync(), tmp.Close()); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, base)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

func tempPrefix(base string) string { return "." + base + ".tmp-" }

// removeTemporary removes what crashed writes of base left in dir.
func removeTemporary(dir, base string) {
	left, _ := filepath.Glob(filepath.Join(dir, tempPrefix(base)+"*"))
	for _, f := range left {
		_ = os.Remove(f)
	}
}

// Load reads the state file at path and returns its state and when it was
// saved. A missing file is an error satisfying errors.Is(err, fs.ErrNotExist);
// a file that is not valid JSON, or of another format version, is an error
// saying so.
func Load(path string) (State, time.Time, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return State{}, time.Time{}, err
	}
	var version struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(data, &version); err != nil {
		return State{}, time.Time{}, fmt.Errorf("the state file %s is corrupt: %w", path, err)
	}
	if version.Version == nil || *version.Version != Version {
		got := "none"
		if version.Version != nil {
			got = fmt.Sprint(*version.Version)
		}
		return State{}, time.Time{}, fmt.Errorf("the state file %s has format version %s; this lb-agent reads version %d only", path, got, Version)
	}
	var f file
	if err := json.Unmarshal(data, &f); err != nil {
		return State{}, time.Time{}, fmt.Errorf("the state file %s is corrupt: %w", path, err)
	}
	return f.State, f.Saved, nil
}
