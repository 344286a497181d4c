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
// with the hub's data (<prefix>/hub-identity in etcd). Restarts, new replicas
// and a restore of the hub's own backup keep it; a wiped etcd, or another
// hub's data, has another. (etcd's cluster ID would not do: etcd derives it
// from the member names and peer URLs, so a wiped member gets the same one.)
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
	return string(get.Kvs[0].Value), nil
}
