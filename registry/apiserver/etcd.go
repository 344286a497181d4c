package apiserver

import (
	"fmt"
	"net/url"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// EmbeddedEtcd is an etcd server inside portico-hub's process, listening on
// 127.0.0.1 only, with its data in one directory.
type EmbeddedEtcd struct {
	etcd *embed.Etcd
	// ClientURL is where the storage connects.
	ClientURL string
}

// embeddedCatchUpEntries is how many applied raft entries the embedded etcd
// keeps in memory after a compaction of its raft log.
const embeddedCatchUpEntries = 100

// StartEmbeddedEtcd starts etcd with its data in dir and waits until it serves.
func StartEmbeddedEtcd(dir string) (*EmbeddedEtcd, error) {
	cfg := embed.NewConfig()
	cfg.Name = "portico-hub"
	cfg.Dir = dir
	cfg.Logger = "zap"
	cfg.LogLevel = "warn"
	// Port 0: the kernel picks free ports; the client listener's address is read back.
	local := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{local}, []url.URL{local}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{local}, []url.URL{local}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ListenMetricsUrls = nil
	// A single member has no follower to catch up: keep only the raft
	// entries etcd snapshots in memory anyway (every 100) instead of the
	// 5000 it keeps by default for slow followers. Each entry holds a copy of
	// one write (an object of a few KB), so the default keeps ~20 MB on the
	// heap at all times.
	cfg.SnapshotCatchUpEntries = embeddedCatchUpEntries

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("starting embedded etcd in %s: %w", dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd: %w", err)
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, fmt.Errorf("embedded etcd in %s did not become ready within 60s", dir)
	}
	return &EmbeddedEtcd{etcd: e, ClientURL: "http://" + e.Clients[0].Addr().String()}, nil
}

// Close stops etcd after the API server is done with it.
func (e *EmbeddedEtcd) Close() { e.etcd.Close() }
