package apiserver

import (
	"context"
	"fmt"
	"path"

	"github.com/google/uuid"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apiserver/pkg/storage/storagebackend"

	"github.com/portico-dev/portico/registry/store"
)

// EnsureHubIdentity returns the hub's identity: a UUID created once and stored
// with the hub's data (<prefix>/hub-identity in etcd), and the ID of the etcd
// cluster that holds it. A wiped etcd gets a new UUID, and a restored snapshot
// a new etcd cluster, so both change the identity; restarts and new replicas
// keep it.
func EnsureHubIdentity(ctx context.Context, cfg storagebackend.TransportConfig, prefix string) (string, error) {
	client, err := store.EtcdClient(cfg)
	if err != nil {
		return "", err
	}
	defer client.Close()
	key := path.Join("/", prefix, "hub-identity")
	_, err = client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, uuid.NewString())).
		Commit()
	if err != nil {
		return "", fmt.Errorf("hub identity in etcd: %w", err)
	}
	get, err := client.Get(ctx, key)
	if err != nil {
		return "", fmt.Errorf("hub identity in etcd: %w", err)
	}
	if len(get.Kvs) == 0 {
		return "", fmt.Errorf("hub identity in etcd: %s is missing", key)
	}
	return fmt.Sprintf("%s.%x", get.Kvs[0].Value, get.Header.ClusterId), nil
}
