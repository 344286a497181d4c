package localfed

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// EtcdClusterOptions configures StartEtcdCluster.
type EtcdClusterOptions struct {
	// Dir holds one directory per member (member-0, member-1, ...). Required.
	Dir string
	// Members is the cluster size (default 3).
	Members int
	// BinDir holds the etcd binary (default: KubeBinDir()).
	BinDir string
	// UnsafeNoFsync trades durability for speed (tests only).
	UnsafeNoFsync bool
}

// EtcdCluster is an etcd cluster of several members on 127.0.0.1, as portico-hub
// replicas share in a highly available hub.
type EtcdCluster struct {
	Options EtcdClusterOptions
	Members []*Etcd
	// memberOptions start each member again on its own data (Restart).
	memberOptions []EtcdOptions
}

// StartEtcdCluster starts every member at once (a member reports healthy only
// when the cluster has a leader) and waits until each is healthy.
func StartEtcdCluster(ctx context.Context, opts EtcdClusterOptions) (*EtcdCluster, error) {
	if opts.Dir == "" {
		return nil, errors.New("StartEtcdCluster: Dir is required")
	}
	if opts.Members == 0 {
		opts.Members = 3
	}
	c := &EtcdCluster{Options: opts, Members: make([]*Etcd, opts.Members)}
	var peers []string
	for i := 0; i < opts.Members; i++ {
		client, err := FreePort()
		if err != nil {
			return nil, err
		}
		peer, err := FreePort()
		if err != nil {
			return nil, err
		}
		name := "member-" + strconv.Itoa(i)
		peers = append(peers, name+"=http://127.0.0.1:"+strconv.Itoa(peer))
		c.memberOptions = append(c.memberOptions, EtcdOptions{
			Dir: filepath.Join(opts.Dir, name), BinDir: opts.BinDir, Name: name,
			ClientPort: client, PeerPort: peer, UnsafeNoFsync: opts.UnsafeNoFsync,
		})
	}
	for i := range c.memberOptions {
		c.memberOptions[i].InitialCluster = strings.Join(peers, ",")
	}
	errs := make([]error, opts.Members)
	var wg sync.WaitGroup
	for i := range c.memberOptions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Members[i], errs[i] = StartEtcd(ctx, c.memberOptions[i])
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		_ = c.Stop()
		return nil, fmt.Errorf("etcd cluster of %d members: %w", opts.Members, err)
	}
	return c, nil
}

// ClientURLs are every member's client URL, for --etcd-servers.
func (c *EtcdCluster) ClientURLs() []string {
	urls := make([]string, len(c.memberOptions))
	for i, o := range c.memberOptions {
		urls[i] = "http://127.0.0.1:" + strconv.Itoa(o.ClientPort)
	}
	return urls
}

// Kill stops member i at once (SIGKILL, no grace), as a crash would.
func (c *EtcdCluster) Kill(i int) error {
	m := c.Members[i]
	if m == nil || m.Process == nil {
		return nil
	}
	return m.Process.Kill()
}

// Restart starts member i again on its data and ports, and waits until it is
// healthy (which needs a quorum).
func (c *EtcdCluster) Restart(ctx context.Context, i int) error {
	if err := c.Members[i].Stop(); err != nil {
		return err
	}
	m, err := StartEtcd(ctx, c.memberOptions[i])
	if err != nil {
		return err
	}
	c.Members[i] = m
	return nil
}

// Stop stops every member.
func (c *EtcdCluster) Stop() error {
	var errs []error
	for _, m := range c.Members {
		if err := m.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
