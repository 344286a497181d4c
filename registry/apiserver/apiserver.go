// Package apiserver is portico-hub's aggregated API server: the storage of both
// Portico groups on etcd (embedded or external), behind the hub cluster's
// delegated authentication and authorization.
package apiserver

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/portico-dev/portico/apis/cluster"
	"github.com/portico-dev/portico/apis/traffic"
	"github.com/portico-dev/portico/registry/cluster/loadbalancergroup"
	"github.com/portico-dev/portico/registry/cluster/loadbalancernode"
	"github.com/portico-dev/portico/registry/cluster/membercluster"
	"github.com/portico-dev/portico/registry/store"
	"github.com/portico-dev/portico/registry/traffic/accesspointrevision"
	"github.com/portico-dev/portico/registry/traffic/certificateissuer"
	"github.com/portico-dev/portico/registry/traffic/clusteraccesspoint"
	"github.com/portico-dev/portico/registry/traffic/dnsprovider"
	"github.com/portico-dev/portico/registry/traffic/federatedaccesspoint"
	"github.com/portico-dev/portico/registry/traffic/hostgrant"
	"github.com/portico-dev/portico/registry/traffic/nameservice"
	"github.com/portico-dev/portico/registry/traffic/vippool"
	"github.com/portico-dev/portico/registry/traffic/virtualip"
)

// Config is the configuration of portico-hub's API server.
type Config struct {
	GenericConfig *genericapiserver.RecommendedConfig
	// HostGrants is enforce (access points and NameServices need a HostGrant
	// for their hosts) or off.
	HostGrants string
	// HubIdentity is set on every MemberCluster and LoadBalancerNode written
	// (see EnsureHubIdentity).
	HubIdentity string
	// AccessPointFinalizer: the access point controller runs beside this
	// server, so new access points get its finalizer when they are created.
	AccessPointFinalizer bool
}

// CompletedConfig is a Config with its defaults filled in.
type CompletedConfig struct {
	GenericConfig genericapiserver.CompletedConfig
	HostGrants    string
	HubIdentity   string
	// AccessPointFinalizer as in Config.
	AccessPointFinalizer bool
}

// Server is portico-hub's API server.
type Server struct {
	GenericAPIServer *genericapiserver.GenericAPIServer
}

// Complete fills in the defaults.
func (c *Config) Complete() CompletedConfig {
	return CompletedConfig{GenericConfig: c.GenericConfig.Complete(), HostGrants: c.HostGrants, HubIdentity: c.HubIdentity,
		AccessPointFinalizer: c.AccessPointFinalizer}
}

// New builds the server with both API groups installed.
func (c CompletedConfig) New() (*Server, error) {
	genericServer, err := c.GenericConfig.New("portico-hub", genericapiserver.NewEmptyDelegate())
	if err != nil {
		return nil, err
	}
	optsGetter := c.GenericConfig.RESTOptionsGetter
	clusterStorage, err := storageMap(optsGetter, map[string]storageFunc{
		"memberclusters":     kindStorage(membercluster.WithHubIdentity(c.HubIdentity)),
		"loadbalancergroups": kindStorage(loadbalancergroup.Kind),
		"loadbalancernodes":  kindStorage(loadbalancernode.WithHubIdentity(c.HubIdentity)),
	})
	if err != nil {
		return nil, err
	}
	// Access points and NameServices need a HostGrant for their hosts.
	grants, _, err := store.New(Scheme, optsGetter, hostgrant.Kind)
	if err != nil {
		return nil, err
	}
	fapKind, nsKind := federatedaccesspoint.Kind, nameservice.Kind
	claims := &federatedaccesspoint.HostClaims{}
	if c.HostGrants != hostgrant.Off {
		var namespaces corelisters.NamespaceLister
		if f := c.GenericConfig.SharedInformerFactory; f != nil {
			namespaces = f.Core().V1().Namespaces().Lister()
		}
		checker := hostgrant.NewChecker(grants, namespaces)
		fapKind, nsKind = federatedaccesspoint.WithHostGrants(checker, claims), nameservice.WithHostGrants(checker)
	}
	if c.AccessPointFinalizer {
		fapKind = federatedaccesspoint.WithFinalizer(fapKind)
	}
	trafficStorage, err := storageMap(optsGetter, map[string]storageFunc{
		"clusteraccesspoints":  kindStorage(clusteraccesspoint.Kind),
		"vippools":             vippool.NewREST,
		"virtualips":           kindStorage(virtualip.Kind),
		"nameservices":         kindStorage(nsKind),
		"dnsproviders":         kindStorage(dnsprovider.Kind),
		"certificateissuers":   kindStorage(certificateissuer.Kind),
		"accesspointrevisions": kindStorage(accesspointrevision.Kind),
	})
	if err != nil {
		return nil, err
	}
	// Access points also have the approve subresource, which writes their status.
	fap, fapStatus, err := store.New(Scheme, optsGetter, fapKind)
	if err != nil {
		return nil, err
	}
	if c.HostGrants != hostgrant.Off {
		claims.SetStorage(fap)
		genericServer.AddPostStartHookOrDie("portico-host-claims-index", func(ctx genericapiserver.PostStartHookContext) error {
			go claims.Run(ctx)
			return nil
		})
	}
	trafficStorage["hostgrants"] = grants
	trafficStorage["federatedaccesspoints"] = fap
	trafficStorage["federatedaccesspoints/status"] = fapStatus
	trafficStorage["federatedaccesspoints/approve"] = federatedaccesspoint.NewApproveREST(fapStatus)
	groups := []*genericapiserver.APIGroupInfo{
		apiGroup(cluster.GroupName, clusterStorage),
		apiGroup(traffic.GroupName, trafficStorage),
	}
	if err := genericServer.InstallAPIGroups(groups...); err != nil {
		return nil, err
	}
	return &Server{GenericAPIServer: genericServer}, nil
}

// storageFunc builds the storage of one resource and its /status (nil for a kind
// without status).
type storageFunc func(*runtime.Scheme, generic.RESTOptionsGetter) (*store.REST, *store.StatusREST, error)

func kindStorage[T store.Object](kind *store.Kind[T]) storageFunc {
	return func(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter) (*store.REST, *store.StatusREST, error) {
		return store.New(scheme, optsGetter, kind)
	}
}

func storageMap(optsGetter generic.RESTOptionsGetter, resources map[string]storageFunc) (map[string]rest.Storage, error) {
	m := map[string]rest.Storage{}
	for resource, build := range resources {
		main, status, err := build(Scheme, optsGetter)
		if err != nil {
			return nil, err
		}
		m[resource] = main
		if status != nil {
			m[resource+"/status"] = status
		}
	}
	return m, nil
}

func apiGroup(group string, storage map[string]rest.Storage) *genericapiserver.APIGroupInfo {
	info := genericapiserver.NewDefaultAPIGroupInfo(group, Scheme, metav1.ParameterCodec, Codecs)
	info.NegotiatedSerializer = withoutProtobuf{Codecs}
	info.VersionedResourcesStorageMap["v1alpha1"] = storage
	return &info
}
