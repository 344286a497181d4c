package accesspoint

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-dev/portico/apis/traffic/overrides"
	trafficv1alpha1 "github.com/portico-dev/portico/apis/traffic/v1alpha1"
	"github.com/portico-dev/portico/federation/certsecret"
)

// DefaultGatewaySelector selects Istio's default ingress gateway.
var DefaultGatewaySelector = map[string]any{"istio": "ingressgateway"}

// Revision is a hash of everything rendering depends on, the same for every
// cluster of an access point: status.revision. cert is the access point's
// issued certificate (nil when it has none yet).
func Revision(spec *trafficv1alpha1.FederatedAccessPointSpec, cert *certsecret.Stored) string {
	var lb any
	if spec.LoadBalancer != nil {
		lb = spec.LoadBalancer.Ports
	}
	var certID any
	if cert != nil {
		certID = []any{cert.Version, cert.Serial}
	}
	data, _ := json.Marshal([]any{spec.Hosts, spec.Template, spec.Overrides, lb, spec.TLS, certID})
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])[:16]
}

// ManifestsRevision is a ClusterAccessPoint's spec.revision: a hash of the
// manifests rendered for its cluster, everything its agent is sent. Agents
// report it back as observedRevision.
func ManifestsRevision(manifests []trafficv1alpha1.JSONObject) string {
	h := sha256.New()
	for _, m := range manifests {
		fmt.Fprintf(h, "%d:", len(m.Raw))
		h.Write(m.Raw)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// withPolicy adds the locality policy to a revision's hash: what a cluster
// renders changes with it (nil leaves the hash as it is).
func withPolicy(hash string, p *LocalityPolicy) string {
	if p == nil {
		return hash
	}
	sum := sha256.Sum256([]byte(hash + p.digest()))
	return hex.EncodeToString(sum[:])[:16]
}

// Render returns the complete objects of an access point for one cluster: its
// template with that cluster's overrides applied, a Gateway (defaults from the
// hosts and load-balancer ports when the template leaves them out; with
// spec.template.gatewayAPI, the Gateway API objects instead, see
// gatewayAPIObjects) and the other
// Istio objects, in the access point's namespace, scoped to that Gateway
// (gatewayScope: VirtualServices bound to it, exportTo limited to its proxies,
// policies without a selector on its workload). With spec.tls, the
// Gateway's HTTPS servers reference the certificate by credentialName and, once
// cert is issued, its Secret comes first, in the gateway workload's namespace
// of a cluster whose MemberCluster leaves spec.gatewayNamespace at its default
// (RenderFor delivers it to another, and applies spec.locality).
func Render(fap *trafficv1alpha1.FederatedAccessPoint, cluster string, cert *certsecret.Stored) ([]trafficv1alpha1.JSONObject, error) {
	return RenderFor(fap, Target{Cluster: cluster, GatewayNamespace: certsecret.DeliveryNamespace(nil)}, cert)
}

// Target is the cluster an access point is rendered for.
type Target struct {
	// Cluster is the MemberCluster's name.
	Cluster string
	// GatewayNamespace is where the cluster's gateway runs
	// (MemberCluster.spec.gatewayNamespace, set by the cluster's admin): the
	// certificate Secret goes there, where Istio reads it, and nowhere else.
	GatewayNamespace string
	// Locality is the access point's spec.locality over its placed clusters
	// (nil: none). The DestinationRules of the hosts the VirtualServices route
	// to get its setting for Cluster, after the template's objects come those
	// Portico renders for the hosts no template DestinationRule covers.
	Locality *LocalityPolicy
}

// RenderFor is Render for target.
func RenderFor(fap *trafficv1alpha1.FederatedAccessPoint, target Target, cert *certsecret.Stored) ([]trafficv1alpha1.JSONObject, error) {
	tmpl, err := clusterTemplate(fap, target.Cluster)
	if err != nil {
		return nil, err
	}
	var out []trafficv1alpha1.JSONObject
	if fap.Spec.TLS != nil && cert != nil {
		secret, err := tlsSecret(fap, target.GatewayNamespace, cert)
		if err != nil {
			return nil, err
		}
		out = append(out, secret)
	}
	// The gateway: Istio's, or the Gateway API's objects, whose Gateways are
	// served by the gateway workload of the default selector.
	selector := any(DefaultGatewaySelector)
	if tmpl.GatewayAPI == nil {
		var gw trafficv1alpha1.JSONObject
		if gw, selector, err = gateway(fap, tmpl.Gateway); err != nil {
			return nil, err
		}
		out = append(out, gw)
	} else {
		objs, err := gatewayAPIObjects(fap, tmpl.GatewayAPI, target.GatewayNamespace)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	scope := newGatewayScope(fap, selector, target.GatewayNamespace)
	loc := newLocalityRender(fap, tmpl, target)
	lists := tmpl.Lists()
	for _, k := range trafficv1alpha1.TemplateKinds {
		for _, item := range lists[k.List] {
			spec := item.Spec.Raw
			if k.Kind == "DestinationRule" {
				if spec, err = loc.apply(spec); err != nil {
					return nil, fmt.Errorf("DestinationRule %s: %w", item.Name, err)
				}
			}
			placed, err := scope.place(k.Kind, item.Name, spec)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", k.Kind, item.Name, err)
			}
			obj, err := istioObject(k.Group, k.Kind, placed.name, placed.namespace, placed.spec)
			if err != nil {
				return nil, err
			}
			out = append(out, obj)
		}
	}
	extra, err := loc.uncovered(fap, scope.exportTo(true))
	return append(out, extra...), err
}

// tlsSecret is the certificate as the kubernetes.io/tls Secret the Gateway
// reads (with ca.crt in MUTUAL mode, to verify clients).
func tlsSecret(fap *trafficv1alpha1.FederatedAccessPoint, namespace string, cert *certsecret.Stored) (trafficv1alpha1.JSONObject, error) {
	s := &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: certsecret.CredentialName(fap.Namespace, fap.Name), Namespace: namespace,
			Annotations: map[string]string{
				certsecret.AnnotationVersion: strconv.FormatInt(cert.Version, 10),
				certsecret.AnnotationSerial:  cert.Serial,
			}},
		Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{certsecret.KeyCert: cert.CertPEM, certsecret.KeyKey: cert.KeyPEM},
	}
	if fap.Spec.TLS.Mode == trafficv1alpha1.TLSModeMutual && len(cert.CAPEM) > 0 {
		s.Data[certsecret.KeyCA] = cert.CAPEM
	}
	raw, err := json.Marshal(s)
	return trafficv1alpha1.JSONObject{Raw: raw}, err
}

// clusterTemplate applies the cluster's overrides to the template, with the
// function the hub's write-time validation uses.
func clusterTemplate(fap *trafficv1alpha1.FederatedAccessPoint, cluster string) (*trafficv1alpha1.AccessPointTemplate, error) {
	tmpl, err := overrides.ForCluster(&fap.Spec, cluster)
	if err != nil {
		return nil, fmt.Errorf("overrides of cluster %s: %w", cluster, err)
	}
	return tmpl, nil
}

// gateway renders the Gateway, named after the access point, filling the selector
// and the servers when the template leaves them out. It returns the selector
// too: the labels of the gateway workload's pods.
func gateway(fap *trafficv1alpha1.FederatedAccessPoint, spec *trafficv1alpha1.JSONObject) (trafficv1alpha1.JSONObject, any, error) {
	gw := map[string]any{}
	if spec != nil && len(spec.Raw) > 0 {
		if err := json.Unmarshal(spec.Raw, &gw); err != nil {
			return trafficv1alpha1.JSONObject{}, nil, err
		}
	}
	if _, ok := gw["selector"]; !ok {
		gw["selector"] = DefaultGatewaySelector
	}
	if _, ok := gw["servers"]; !ok {
		gw["servers"] = defaultServers(fap)
	}
	if fap.Spec.TLS != nil {
		withCredential(gw["servers"], fap)
	}
	raw, err := json.Marshal(gw)
	if err != nil {
		return trafficv1alpha1.JSONObject{}, nil, err
	}
	obj, err := istioObject(trafficv1alpha1.IstioNetworkingGroup, "Gateway", fap.Name, fap.Namespace, raw)
	return obj, gw["selector"], err
}

// defaultServers serves the hosts over HTTP on every load-balancer port (80 when
// there is none).
func defaultServers(fap *trafficv1alpha1.FederatedAccessPoint) []any {
	ports := []trafficv1alpha1.Port{{Name: "http", Port: 80, Protocol: trafficv1alpha1.ProtocolTCP}}
	if fap.Spec.LoadBalancer != nil && len(fap.Spec.LoadBalancer.Ports) > 0 {
		ports = fap.Spec.LoadBalancer.Ports
	}
	var servers []any
	for _, p := range ports {
		if p.Protocol == trafficv1alpha1.ProtocolUDP {
			continue
		}
		protocol := "HTTP"
		if fap.Spec.TLS != nil && (p.Port == 443 || strings.HasPrefix(p.Name, "https")) {
			protocol = "HTTPS"
		}
		name := p.Name
		if name == "" {
			name = fmt.Sprintf("%s-%d", strings.ToLower(protocol), p.Port)
		}
		servers = append(servers, map[string]any{
			"port":  map[string]any{"number": p.Port, "name": name, "protocol": protocol},
			"hosts": fap.Spec.Hosts,
		})
	}
	return servers
}

// withCredential makes every HTTPS server terminate TLS with the access
// point's certificate: tls.credentialName and tls.mode are filled in where the
// template leaves them out.
func withCredential(servers any, fap *trafficv1alpha1.FederatedAccessPoint) {
	list, _ := servers.([]any)
	for _, s := range list {
		server, _ := s.(map[string]any)
		port, _ := server["port"].(map[string]any)
		if server == nil || port == nil || !strings.EqualFold(fmt.Sprint(port["protocol"]), "HTTPS") {
			continue
		}
		tls, _ := server["tls"].(map[string]any)
		if tls == nil {
			tls = map[string]any{}
			server["tls"] = tls
		}
		if _, ok := tls["credentialName"]; !ok {
			tls["credentialName"] = certsecret.CredentialName(fap.Namespace, fap.Name)
		}
		if _, ok := tls["mode"]; !ok {
			tls["mode"] = fap.Spec.TLS.Mode
		}
	}
}

// istioObject is an Istio object of group/v1.
func istioObject(group, kind, name, namespace string, spec []byte) (trafficv1alpha1.JSONObject, error) {
	raw, err := json.Marshal(map[string]any{
		"apiVersion": group + "/v1",
		"kind":       kind,
		"metadata":   map[string]any{"name": name, "namespace": namespace},
		"spec":       json.RawMessage(spec),
	})
	return trafficv1alpha1.JSONObject{Raw: raw}, err
}
