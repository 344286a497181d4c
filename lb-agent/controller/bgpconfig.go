package controller

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	clusterv1alpha1 "github.com/portico-dev/portico/apis/cluster/v1alpha1"
	"github.com/portico-dev/portico/lb-agent/bgp"
)

// defaultPasswordKey is the key of a BGP password Secret when the reference
// names none.
const defaultPasswordKey = "password"

// bgpConfig is the speaker's configuration from the group. A missing group or
// one without a local ASN stops BGP. A peer whose address or password cannot be
// resolved is left out and reported.
func (c *Controller) bgpConfig(ctx context.Context, group *clusterv1alpha1.LoadBalancerGroup) (bgp.Config, error) {
	if group == nil {
		return bgp.Config{}, nil
	}
	spec := group.Spec.BGP
	cfg := bgp.Config{ASN: spec.LocalASN, RouterID: c.opts.Address, NextHop: c.opts.Address}
	if spec.LocalASN == 0 {
		if len(spec.Peers) > 0 {
			return cfg, errors.New("the LoadBalancerGroup has peers but no spec.bgp.localASN")
		}
		return cfg, nil
	}
	var errs []error
	for i, p := range spec.Peers {
		peer, err := c.peer(ctx, p)
		if err != nil {
			errs = append(errs, fmt.Errorf("spec.bgp.peers[%d]: %w", i, err))
			continue
		}
		cfg.Peers = append(cfg.Peers, peer)
	}
	return cfg, errors.Join(errs...)
}

func (c *Controller) peer(ctx context.Context, p clusterv1alpha1.BGPPeer) (bgp.Peer, error) {
	addr, err := netip.ParseAddr(p.Address)
	if err != nil {
		return bgp.Peer{}, fmt.Errorf("address %q: %w", p.Address, err)
	}
	peer := bgp.Peer{Address: addr, ASN: p.ASN, HoldTime: duration(p.HoldTime), Keepalive: duration(p.KeepaliveTime)}
	if ref := p.PasswordSecretRef; ref != nil {
		if peer.Password, err = c.password(ctx, *ref); err != nil {
			return bgp.Peer{}, err
		}
	}
	return peer, nil
}

// password is a BGP password as last read.
type password struct {
	value string
	read  time.Time
}

// passwordRefresh is how long a password read is used before it is read again.
const passwordRefresh = time.Minute

// password reads a BGP password from the hub cluster, at most every
// passwordRefresh. While the hub is unreachable the last value read is used, so
// sessions keep their settings.
func (c *Controller) password(ctx context.Context, ref clusterv1alpha1.SecretKeyReference) (string, error) {
	if ref.Key == "" {
		ref.Key = defaultPasswordKey
	}
	cached, ok := c.passwords[ref]
	if ok && c.now().Sub(cached.read) < passwordRefresh {
		return cached.value, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	secret, err := c.kube.CoreV1().Secrets(c.opts.SystemNamespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if err != nil {
		if ok {
			klog.ErrorS(err, "Reading a BGP password; using the last one read", "secret", ref.Name)
			return cached.value, nil
		}
		return "", fmt.Errorf("reading the password Secret %s/%s: %w", c.opts.SystemNamespace, ref.Name, err)
	}
	pw, found := secret.Data[ref.Key]
	if !found {
		return "", fmt.Errorf("Secret %s/%s has no key %q", c.opts.SystemNamespace, ref.Name, ref.Key)
	}
	if c.passwords == nil {
		c.passwords = map[clusterv1alpha1.SecretKeyReference]password{}
	}
	c.passwords[ref] = password{value: string(pw), read: c.now()}
	return string(pw), nil
}

func duration(d *metav1.Duration) (out time.Duration) {
	if d != nil {
		out = d.Duration
	}
	return out
}
