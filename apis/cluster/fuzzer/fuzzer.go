// Package fuzzer fills cluster.portico.dev objects with random values for the
// round-trip tests: every field that v1alpha1 defaulting fills is given a value, so
// internal → v1alpha1 → internal is exact.
package fuzzer

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeserializer "k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/randfill"

	"github.com/portico-dev/portico/apis/cluster"
)

// Funcs returns the fuzzer functions of the cluster API group.
var Funcs = func(codecs runtimeserializer.CodecFactory) []interface{} {
	return []interface{}{
		func(p *cluster.BGPPeer, c randfill.Continue) {
			c.FillNoCustom(p)
			// Defaulted by v1alpha1.SetDefaults_BGPPeer.
			p.HoldTime = &metav1.Duration{Duration: time.Duration(3+c.Intn(300)) * time.Second}
			p.KeepaliveTime = &metav1.Duration{Duration: time.Duration(1+c.Intn(100)) * time.Second}
		},
		func(s *cluster.MemberClusterSpec, c randfill.Continue) {
			c.FillNoCustom(s)
			if s.GatewayNamespace == "" {
				s.GatewayNamespace = "istio-system" // defaulted by v1alpha1
			}
		},
	}
}
