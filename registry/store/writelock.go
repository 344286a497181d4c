package store

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/storage/storagebackend"
)

// WriteLockTTL is how long a replica that stopped (kill -9, or cut off from
// etcd) keeps a kind's write lock before etcd releases it: the lock is held by
// an etcd lease the live process renews every third of it.
const WriteLockTTL = 10 * time.Second

// writeLock serializes the writes of one kind across every hub replica that
// shares the etcd: one write at a time in the process (a semaphore), then an
// etcd mutex (go.etcd.io/etcd/client/v3/concurrency) between processes, held
// until the write is stored. Checks that look at the other objects of the kind
// (VIPPool overlap) then see every write another replica acknowledged.
type writeLock struct {
	client *clientv3.Client
	key    string
	local  chan struct{}

	mu      sync.Mutex
	session *concurrency.Session
}

// newWriteLock connects to the etcd the kind is stored in; key is the lock's
// key prefix in etcd.
func newWriteLock(cfg storagebackend.TransportConfig, key string) (*writeLock, error) {
	client, err := EtcdClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcd client for the write lock %s: %w", key, err)
	}
	return &writeLock{client: client, key: key, local: make(chan struct{}, 1)}, nil
}

// EtcdClient connects to the etcd of a storage configuration, as the API
// server's storage does (the same servers and TLS files).
func EtcdClient(cfg storagebackend.TransportConfig) (*clientv3.Client, error) {
	tlsInfo := transport.TLSInfo{CertFile: cfg.CertFile, KeyFile: cfg.KeyFile, TrustedCAFile: cfg.TrustedCAFile}
	tlsConfig, err := tlsInfo.ClientConfig()
	if err != nil {
		return nil, err
	}
	if cfg.CertFile == "" && cfg.KeyFile == "" && cfg.TrustedCAFile == "" {
		tlsConfig = nil
	}
	return clientv3.New(clientv3.Config{
		Endpoints:   cfg.ServerList,
		TLS:         tlsConfig,
		DialTimeout: 20 * time.Second,
		Logger:      zap.NewNop(),
	})
}

// Lock waits for the lock until ctx is done and returns the function that
// releases it.
func (l *writeLock) Lock(ctx context.Context) (unlock func(), err error) {
	select {
	case l.local <- struct{}{}:
	case <-ctx.Done():
		return nil, l.unavailable(ctx.Err())
	}
	defer func() {
		if err != nil {
			<-l.local
		}
	}()
	s, err := l.currentSession(ctx)
	if err != nil {
		return nil, l.unavailable(err)
	}
	m := concurrency.NewMutex(s, l.key)
	if err := m.Lock(ctx); err != nil {
		return nil, l.unavailable(err)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// A failed unlock leaves the key to the lease, which the next
		// session replaces (see currentSession).
		if err := m.Unlock(ctx); err != nil {
			l.dropSession(s)
		}
		<-l.local
	}, nil
}

// currentSession returns the replica's etcd session, creating one when there
// is none or the last one's lease expired. The lease is granted under ctx, so
// an unreachable etcd fails the request instead of blocking it.
func (l *writeLock) currentSession(ctx context.Context) (*concurrency.Session, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.session != nil {
		select {
		case <-l.session.Done():
			l.session = nil
		default:
			return l.session, nil
		}
	}
	lease, err := l.client.Grant(ctx, int64(WriteLockTTL/time.Second))
	if err != nil {
		return nil, err
	}
	s, err := concurrency.NewSession(l.client, concurrency.WithLease(lease.ID))
	if err != nil {
		return nil, err
	}
	l.session = s
	return s, nil
}

func (l *writeLock) dropSession(s *concurrency.Session) {
	l.mu.Lock()
	if l.session == s {
		l.session = nil
	}
	l.mu.Unlock()
	_ = s.Close()
}

func (l *writeLock) unavailable(err error) error {
	return apierrors.NewServiceUnavailable(fmt.Sprintf("waiting for the write lock %s in etcd: %v", l.key, err))
}

// Close ends the session (releasing the lock at once for other replicas) and
// the client.
func (l *writeLock) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.session != nil {
		_ = l.session.Close()
		l.session = nil
	}
	_ = l.client.Close()
}
