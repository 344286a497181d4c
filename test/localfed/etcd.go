package localfed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// EtcdOptions configures StartEtcd.
type EtcdOptions struct {
	// Dir holds the data directory (<Dir>/data) and the log (<Dir>/etcd.log).
	// Required.
	Dir string
	// BinDir holds the etcd binary (default: KubeBinDir()).
	BinDir string
	// ClientPort and PeerPort on 127.0.0.1 (0: a free port).
	ClientPort, PeerPort int
	// Detach runs etcd in its own session so it outlives the caller.
	Detach bool
	// UnsafeNoFsync trades durability for speed (tests only).
	UnsafeNoFsync bool
	// ExtraArgs are appended to etcd's arguments.
	ExtraArgs []string
	// StartTimeout bounds the wait for /health (default 30s).
	StartTimeout time.Duration
	// Name is the member's name (default "portico"); InitialCluster, for a
	// member of a cluster, is etcd's --initial-cluster (every member's
	// name=peerURL), and then ClientPort and PeerPort are required.
	Name, InitialCluster string
}

// Etcd is a single-member etcd on 127.0.0.1.
type Etcd struct {
	ClientURL string
	PeerURL   string
	DataDir   string
	LogPath   string
	Process   *Process
	PID       int
}

// StartEtcd starts etcd and waits until it reports healthy.
func StartEtcd(ctx context.Context, opts EtcdOptions) (*Etcd, error) {
	if opts.Dir == "" {
		return nil, errors.New("StartEtcd: Dir is required")
	}
	binDir := opts.BinDir
	if binDir == "" {
		var err error
		if binDir, err = KubeBinDir(); err != nil {
			return nil, err
		}
	}
	timeout := opts.StartTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	dataDir := filepath.Join(opts.Dir, "data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	logPath := filepath.Join(opts.Dir, "etcd.log")

	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		clientPort, peerPort := opts.ClientPort, opts.PeerPort
		var err error
		if clientPort == 0 {
			if clientPort, err = FreePort(); err != nil {
				return nil, err
			}
		}
		if peerPort == 0 {
			if peerPort, err = FreePort(); err != nil {
				return nil, err
			}
		}
		e := &Etcd{
			ClientURL: "http://127.0.0.1:" + strconv.Itoa(clientPort),
			PeerURL:   "http://127.0.0.1:" + strconv.Itoa(peerPort),
			DataDir:   dataDir,
			LogPath:   logPath,
		}
		name := opts.Name
		if name == "" {
			name = "portico"
		}
		initialCluster := opts.InitialCluster
		if initialCluster == "" {
			initialCluster = name + "=" + e.PeerURL
		}
		args := []string{
			"--name=" + name,
			"--data-dir=" + dataDir,
			"--listen-client-urls=" + e.ClientURL,
			"--advertise-client-urls=" + e.ClientURL,
			"--listen-peer-urls=" + e.PeerURL,
			"--initial-advertise-peer-urls=" + e.PeerURL,
			"--initial-cluster=" + initialCluster,
			"--initial-cluster-state=new",
			"--log-level=warn",
		}
		if opts.UnsafeNoFsync {
			args = append(args, "--unsafe-no-fsync")
		}
		args = append(args, opts.ExtraArgs...)
		logOffset := fileSize(logPath)
		p, err := StartProcess(ProcessOptions{
			Name:    "etcd",
			Path:    filepath.Join(binDir, EtcdBinary),
			Args:    args,
			LogPath: logPath,
			Detach:  opts.Detach,
		})
		if err != nil {
			return nil, err
		}
		e.Process, e.PID = p, p.PID
		err = WaitUntil(ctx, timeout, e.healthy, p)
		if err == nil {
			return e, nil
		}
		_ = p.Stop()
		lastErr = fmt.Errorf("etcd did not become healthy: %w\n--- %s (tail) ---\n%s", err, logPath, p.LogTail(30))
		portsFixed := opts.ClientPort != 0 && opts.PeerPort != 0
		if portsFixed || !logSinceContains(logPath, logOffset, "address already in use") {
			break
		}
	}
	return nil, lastErr
}

func (e *Etcd) healthy(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.ClientURL+"/health", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var h struct {
		Health string `json:"health"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &h) != nil || h.Health != "true" {
		return fmt.Errorf("/health: %s %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// Stop stops etcd (SIGTERM, then SIGKILL after DefaultStopTimeout).
func (e *Etcd) Stop() error {
	if e == nil || e.Process == nil {
		return nil
	}
	return e.Process.Stop()
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func logSinceContains(path string, offset int64, s string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return false
	}
	data, _ := io.ReadAll(io.LimitReader(f, 4<<20))
	return strings.Contains(string(data), s)
}
