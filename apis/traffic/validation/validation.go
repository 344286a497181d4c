// Package validation checks traffic.portico.dev objects: pure functions returning
// field errors with full paths. Istio template contents are checked against Istio's
// schemas by the registry, which also applies overrides; this package checks
// Portico's own rules.
package validation

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	clustervalidation "github.com/portico-dev/portico/apis/cluster/validation"
	"github.com/portico-dev/portico/apis/traffic"
)

// TemplateLists are the JSON names of the template's lists of named objects.
var TemplateLists = []string{"virtualServices", "destinationRules", "serviceEntries", "workloadEntries", "workloadGroups",
	"authorizationPolicies", "requestAuthentications", "telemetries"}

// GatewayAPILists are the JSON names of the lists of spec.template.gatewayAPI.
var GatewayAPILists = []string{"gateways", "httpRoutes", "grpcRoutes", "tlsRoutes", "tcpRoutes"}

var nameIsSubdomain = apimachineryvalidation.NameIsDNSSubdomain

// ValidateFederatedAccessPoint checks Portico's rules for an access point.
func ValidateFederatedAccessPoint(fap *traffic.FederatedAccessPoint) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&fap.ObjectMeta, true, nameIsSubdomain, field.NewPath("metadata"))
	spec, specPath := &fap.Spec, field.NewPath("spec")
	allErrs = append(allErrs, validateHosts(spec.Hosts, specPath.Child("hosts"))...)
	if spec.Placement != nil {
		allErrs = append(allErrs, validatePlacement(spec.Placement, specPath.Child("placement"))...)
	}
	allErrs = append(allErrs, validateTemplateNames(&spec.Template, specPath.Child("template"))...)
	allErrs = append(allErrs, validateOverrides(spec.Overrides, specPath.Child("overrides"))...)
	if spec.LoadBalancer != nil {
		allErrs = append(allErrs, validateLoadBalancer(spec.LoadBalancer, specPath.Child("loadBalancer"))...)
	}
	if spec.TLS != nil {
		allErrs = append(allErrs, requiredName(spec.TLS.IssuerRef.Name, specPath.Child("tls", "issuerRef", "name"))...)
		allErrs = append(allErrs, oneOf(spec.TLS.Mode, specPath.Child("tls", "mode"), traffic.TLSModeSimple, traffic.TLSModeMutual)...)
		// Deprecated: certificates go to each member cluster's gateway
		// namespace (MemberCluster.spec.gatewayNamespace), which its admin
		// sets. istio-system, the old default, stays accepted.
		if ns := spec.TLS.SecretNamespace; ns != "" && ns != "istio-system" {
			allErrs = append(allErrs, field.Forbidden(specPath.Child("tls", "secretNamespace"),
				"deprecated: a certificate goes to each member cluster's gateway namespace, MemberCluster.spec.gatewayNamespace, set by the cluster's admin; leave this empty"))
		}
	}
	if spec.Rollout != nil {
		allErrs = append(allErrs, validateRollout(spec.Rollout, specPath.Child("rollout"))...)
	}
	if spec.Locality != nil {
		allErrs = append(allErrs, oneOf(spec.Locality.Mode, specPath.Child("locality", "mode"),
			traffic.LocalityNone, traffic.LocalityFailover, traffic.LocalityWeighted)...)
	}
	return allErrs
}

// ValidateFederatedAccessPointUpdate checks an update of an access point. Limits
// the stored object already broke are not held against the update.
func ValidateFederatedAccessPointUpdate(fap, old *traffic.FederatedAccessPoint) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&fap.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, ratchetLimits(ValidateFederatedAccessPoint(fap), func() field.ErrorList { return ValidateFederatedAccessPoint(old) })...)
}

// ValidateFederatedAccessPointStatus checks a status update of an access point.
func ValidateFederatedAccessPointStatus(fap *traffic.FederatedAccessPoint) field.ErrorList {
	return metav1validation.ValidateConditions(fap.Status.Conditions, field.NewPath("status", "conditions"))
}

func validateHosts(hosts []string, fldPath *field.Path) field.ErrorList {
	if len(hosts) == 0 {
		return field.ErrorList{field.Required(fldPath, "at least one host is required")}
	}
	if len(hosts) > MaxHosts {
		return field.ErrorList{tooMany(fldPath, len(hosts), MaxHosts, "hosts")}
	}
	var allErrs field.ErrorList
	seen := sets.New[string]()
	for i, h := range hosts {
		allErrs = append(allErrs, ValidateHostname(h, fldPath.Index(i))...)
		if seen.Has(h) {
			allErrs = append(allErrs, field.Duplicate(fldPath.Index(i), h))
		}
		seen.Insert(h)
	}
	return allErrs
}

// ValidateHostname checks a DNS name that may start with a "*." wildcard label.
func ValidateHostname(h string, fldPath *field.Path) field.ErrorList {
	var msgs []string
	if strings.HasPrefix(h, "*.") {
		msgs = utilvalidation.IsWildcardDNS1123Subdomain(h)
	} else {
		msgs = utilvalidation.IsDNS1123Subdomain(h)
	}
	if len(msgs) == 0 && !strings.Contains(h, ".") {
		msgs = append(msgs, "must be a fully qualified domain name (with at least one dot)")
	}
	if len(msgs) == 0 {
		for _, label := range strings.Split(strings.TrimPrefix(h, "*."), ".") {
			msgs = append(msgs, utilvalidation.IsDNS1123Label(label)...)
		}
	}
	var allErrs field.ErrorList
	for _, msg := range msgs {
		allErrs = append(allErrs, field.Invalid(fldPath, h, msg))
	}
	return allErrs
}

func validatePlacement(p *traffic.Placement, fldPath *field.Path) field.ErrorList {
	allErrs := validateClusterRefs(p.Clusters, fldPath.Child("clusters"))
	if p.ClusterSelector != nil {
		allErrs = append(allErrs, metav1validation.ValidateLabelSelector(p.ClusterSelector, metav1validation.LabelSelectorValidationOptions{}, fldPath.Child("clusterSelector"))...)
	}
	allErrs = append(allErrs, labelValues(p.Zones, fldPath.Child("zones"))...)
	if p.Follow != nil {
		allErrs = append(allErrs, validateFollow(p.Follow, fldPath.Child("follow"))...)
	}
	return allErrs
}

// validateFollow checks the reference to a kubefed federated object: a
// group/version (kubefed's federated types live in API groups), a kind, and
// an object name.
func validateFollow(f *traffic.FollowReference, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	switch gv, err := schema.ParseGroupVersion(f.APIVersion); {
	case f.APIVersion == "":
		allErrs = append(allErrs, field.Required(fldPath.Child("apiVersion"), "e.g. types.kubefed.io/v1beta1"))
	case err != nil:
		allErrs = append(allErrs, field.Invalid(fldPath.Child("apiVersion"), f.APIVersion, err.Error()))
	case gv.Group == "" || gv.Version == "":
		allErrs = append(allErrs, field.Invalid(fldPath.Child("apiVersion"), f.APIVersion, "must be GROUP/VERSION, e.g. types.kubefed.io/v1beta1"))
	default:
		for _, msg := range utilvalidation.IsDNS1123Subdomain(gv.Group) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("apiVersion"), f.APIVersion, msg))
		}
	}
	if f.Kind == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("kind"), "e.g. FederatedDeployment"))
	} else if errs := utilvalidation.IsCIdentifier(f.Kind); len(errs) > 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("kind"), f.Kind, "must be a kind name, e.g. FederatedDeployment"))
	}
	if f.Name == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("name"), ""))
	} else {
		for _, msg := range utilvalidation.IsDNS1123Subdomain(f.Name) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("name"), f.Name, msg))
		}
	}
	return allErrs
}

func validateClusterRefs(refs []traffic.ClusterReference, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	seen := sets.New[string]()
	for i, c := range refs {
		namePath := fldPath.Index(i).Child("name")
		allErrs = append(allErrs, clusterName(c.Name, namePath)...)
		if seen.Has(c.Name) {
			allErrs = append(allErrs, field.Duplicate(namePath, c.Name))
		}
		seen.Insert(c.Name)
	}
	return allErrs
}

func clusterName(name string, fldPath *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	var allErrs field.ErrorList
	for _, msg := range clustervalidation.ValidateMemberClusterName(name, false) {
		allErrs = append(allErrs, field.Invalid(fldPath, name, msg))
	}
	return allErrs
}

func labelValues(values []string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	seen := sets.New[string]()
	for i, v := range values {
		if v == "" {
			allErrs = append(allErrs, field.Required(fldPath.Index(i), ""))
		}
		for _, msg := range utilvalidation.IsValidLabelValue(v) {
			allErrs = append(allErrs, field.Invalid(fldPath.Index(i), v, msg))
		}
		if seen.Has(v) {
			allErrs = append(allErrs, field.Duplicate(fldPath.Index(i), v))
		}
		seen.Insert(v)
	}
	return allErrs
}

// NamedTemplates returns the template's lists of named objects by JSON name.
func NamedTemplates(t *traffic.AccessPointTemplate) map[string][]traffic.NamedTemplate {
	return map[string][]traffic.NamedTemplate{
		"virtualServices":        t.VirtualServices,
		"destinationRules":       t.DestinationRules,
		"serviceEntries":         t.ServiceEntries,
		"workloadEntries":        t.WorkloadEntries,
		"workloadGroups":         t.WorkloadGroups,
		"authorizationPolicies":  t.AuthorizationPolicies,
		"requestAuthentications": t.RequestAuthentications,
		"telemetries":            t.Telemetries,
	}
}

// GatewayAPITemplates returns the Gateway API template's lists of named
// objects by JSON name (all empty for nil).
func GatewayAPITemplates(t *traffic.GatewayAPITemplate) map[string][]traffic.NamedTemplate {
	if t == nil {
		return map[string][]traffic.NamedTemplate{}
	}
	return map[string][]traffic.NamedTemplate{
		"gateways":   t.Gateways,
		"httpRoutes": t.HTTPRoutes,
		"grpcRoutes": t.GRPCRoutes,
		"tlsRoutes":  t.TLSRoutes,
		"tcpRoutes":  t.TCPRoutes,
	}
}

// namedList is one list of named template objects and its path.
type namedList struct {
	path  *field.Path
	items []traffic.NamedTemplate
}

// namedLists returns every list of named objects of the template, Istio's
// then the Gateway API's, with their paths under fldPath.
func namedLists(t *traffic.AccessPointTemplate, fldPath *field.Path) []namedList {
	var out []namedList
	lists := NamedTemplates(t)
	for _, list := range TemplateLists {
		out = append(out, namedList{fldPath.Child(list), lists[list]})
	}
	gwLists := GatewayAPITemplates(t.GatewayAPI)
	for _, list := range GatewayAPILists {
		out = append(out, namedList{fldPath.Child("gatewayAPI", list), gwLists[list]})
	}
	return out
}

func validateTemplateNames(t *traffic.AccessPointTemplate, fldPath *field.Path) field.ErrorList {
	allErrs := validateTemplateSize(t, fldPath)
	allErrs = append(allErrs, validateGatewayChoice(t, fldPath)...)
	for _, list := range namedLists(t, fldPath) {
		seen := sets.New[string]()
		for i, item := range list.items {
			itemPath := list.path.Index(i)
			allErrs = append(allErrs, requiredName(item.Name, itemPath.Child("name"))...)
			if seen.Has(item.Name) {
				allErrs = append(allErrs, field.Duplicate(itemPath.Child("name"), item.Name))
			}
			seen.Insert(item.Name)
			if len(item.Spec.Raw) == 0 {
				allErrs = append(allErrs, field.Required(itemPath.Child("spec"), ""))
			}
		}
	}
	return allErrs
}

// validateGatewayChoice checks that an access point uses Istio networking or
// the Gateway API for its gateway, not both, and that a Gateway API one has a
// Gateway.
func validateGatewayChoice(t *traffic.AccessPointTemplate, fldPath *field.Path) field.ErrorList {
	if t.GatewayAPI == nil {
		return nil
	}
	const both = "an access point uses Istio networking or the Gateway API for its gateway, not both: " +
		"remove %s or spec.template.gatewayAPI"
	var allErrs field.ErrorList
	if t.Gateway != nil {
		allErrs = append(allErrs, field.Forbidden(fldPath.Child("gateway"), fmt.Sprintf(both, "spec.template.gateway")))
	}
	if len(t.VirtualServices) > 0 {
		allErrs = append(allErrs, field.Forbidden(fldPath.Child("virtualServices"),
			fmt.Sprintf(both, "spec.template.virtualServices")+" (routes are httpRoutes, grpcRoutes, tlsRoutes and tcpRoutes there)"))
	}
	if len(t.GatewayAPI.Gateways) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("gatewayAPI", "gateways"), "the access point's Gateway"))
	}
	return allErrs
}

func validateOverrides(overrides []traffic.ClusterOverride, fldPath *field.Path) field.ErrorList {
	allErrs := validateOverridesSize(overrides, fldPath)
	if len(overrides) > MaxOverrides {
		return allErrs
	}
	clusters := sets.New[string]()
	for i, o := range overrides {
		oPath := fldPath.Index(i)
		allErrs = append(allErrs, clusterName(o.ClusterName, oPath.Child("clusterName"))...)
		if clusters.Has(o.ClusterName) {
			allErrs = append(allErrs, field.Duplicate(oPath.Child("clusterName"), o.ClusterName))
		}
		clusters.Insert(o.ClusterName)
		paths := sets.New[string]()
		for j, p := range o.ClusterOverrides {
			pPath := oPath.Child("clusterOverrides").Index(j)
			allErrs = append(allErrs, validatePatch(&p, pPath)...)
			if paths.Has(p.Path) {
				allErrs = append(allErrs, field.Duplicate(pPath.Child("path"), p.Path))
			}
			paths.Insert(p.Path)
		}
	}
	return allErrs
}

func validatePatch(p *traffic.OverridePatch, fldPath *field.Path) field.ErrorList {
	allErrs := oneOf(p.Op, fldPath.Child("op"), traffic.OverrideAdd, traffic.OverrideRemove, traffic.OverrideReplace)
	allErrs = append(allErrs, validatePatchPath(p.Path, fldPath.Child("path"))...)
	hasValue := p.Value != nil && len(p.Value.Raw) > 0
	switch {
	case p.Op == traffic.OverrideRemove && hasValue:
		allErrs = append(allErrs, field.Forbidden(fldPath.Child("value"), "must not be set for remove"))
	case p.Op != traffic.OverrideRemove && !hasValue:
		allErrs = append(allErrs, field.Required(fldPath.Child("value"), "required for "+p.Op))
	}
	return allErrs
}

func validatePatchPath(path string, fldPath *field.Path) field.ErrorList {
	if path == "" {
		return field.ErrorList{field.Required(fldPath, "a JSON pointer into spec.template, e.g. /virtualServices/0/spec/http/0/timeout")}
	}
	if len(path) > MaxPatchPathLength {
		return field.ErrorList{field.TooLong(fldPath, path, MaxPatchPathLength).WithOrigin(originMaxLength)}
	}
	tokens := strings.Split(path, "/")
	if tokens[0] != "" || len(tokens) < 2 {
		return field.ErrorList{field.Invalid(fldPath, path, "must be a JSON pointer starting with /")}
	}
	root := tokens[1]
	if root == "gatewayAPI" {
		if len(tokens) < 3 || !slices.Contains(GatewayAPILists, tokens[2]) {
			return field.ErrorList{field.Invalid(fldPath, path, fmt.Sprintf("must go into one of the lists of gatewayAPI: %s",
				strings.Join(GatewayAPILists, ", ")))}
		}
		tokens = tokens[1:] // /gatewayAPI/<list>/<index>/name is a name like /<list>/<index>/name
	} else if root != "gateway" && !sets.New(TemplateLists...).Has(root) {
		return field.ErrorList{field.NotSupported(fldPath, root, append([]string{"gateway", "gatewayAPI"}, TemplateLists...))}
	}
	if root != "gateway" && len(tokens) >= 4 && tokens[3] == "name" {
		return field.ErrorList{field.Forbidden(fldPath, "the names of templates may not be overridden")}
	}
	return nil
}

func validateLoadBalancer(lb *traffic.LoadBalancerSpec, fldPath *field.Path) field.ErrorList {
	allErrs := requiredName(lb.Pool, fldPath.Child("pool"))
	if lb.Address != "" {
		if a, err := netip.ParseAddr(lb.Address); err != nil || !a.Is4() {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("address"), lb.Address, "must be an IPv4 address"))
		}
	}
	allErrs = append(allErrs, ValidatePorts(lb.Ports, fldPath.Child("ports"))...)
	if lb.CrossZone != nil {
		allErrs = append(allErrs, validateCrossZone(lb.CrossZone, fldPath.Child("crossZone"))...)
	}
	if lb.HealthCheck != nil {
		allErrs = append(allErrs, validateHealthCheck(lb.HealthCheck, MinHealthCheckInterval, fldPath.Child("healthCheck"))...)
	}
	return allErrs
}

// ValidatePorts checks load-balancer ports: at most MaxPorts, numbers 1-65535,
// unique names and unique port/protocol pairs.
func ValidatePorts(ports []traffic.Port, fldPath *field.Path) field.ErrorList {
	if len(ports) > MaxPorts {
		return field.ErrorList{tooMany(fldPath, len(ports), MaxPorts, "ports")}
	}
	var allErrs field.ErrorList
	names, numbers := sets.New[string](), sets.New[string]()
	for i, p := range ports {
		pPath := fldPath.Index(i)
		if p.Name != "" {
			for _, msg := range utilvalidation.IsValidPortName(p.Name) {
				allErrs = append(allErrs, field.Invalid(pPath.Child("name"), p.Name, msg))
			}
			if names.Has(p.Name) {
				allErrs = append(allErrs, field.Duplicate(pPath.Child("name"), p.Name))
			}
			names.Insert(p.Name)
		}
		for _, msg := range utilvalidation.IsValidPortNum(int(p.Port)) {
			allErrs = append(allErrs, field.Invalid(pPath.Child("port"), p.Port, msg))
		}
		allErrs = append(allErrs, oneOf(p.Protocol, pPath.Child("protocol"), traffic.ProtocolTCP, traffic.ProtocolUDP)...)
		key := p.Protocol + "/" + strconv.Itoa(int(p.Port))
		if numbers.Has(key) {
			allErrs = append(allErrs, field.Duplicate(pPath.Child("port"), p.Port))
		}
		numbers.Insert(key)
	}
	return allErrs
}

// maxWeight bounds IPVS weights.
const maxWeight = 65535

func validateCrossZone(cz *traffic.CrossZone, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, w := range []struct {
		name  string
		value *int32
	}{{"localWeight", cz.LocalWeight}, {"remoteWeight", cz.RemoteWeight}} {
		if w.value != nil && (*w.value < 0 || *w.value > maxWeight) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child(w.name), *w.value, "must be between 0 and 65535"))
		}
	}
	if cz.LocalWeight != nil && cz.RemoteWeight != nil && *cz.LocalWeight == 0 && *cz.RemoteWeight == 0 {
		allErrs = append(allErrs, field.Invalid(fldPath, "0/0", "localWeight and remoteWeight must not both be 0"))
	}
	allErrs = append(allErrs, labelValues(cz.RemoteZones, fldPath.Child("remoteZones"))...)
	return append(allErrs, labelValues(cz.DrainedZones, fldPath.Child("drainedZones"))...)
}

// validateHealthCheck checks a health check whose interval must be at least
// minInterval.
func validateHealthCheck(hc *traffic.HealthCheck, minInterval time.Duration, fldPath *field.Path) field.ErrorList {
	allErrs := oneOf(hc.Type, fldPath.Child("type"), traffic.HealthCheckTCP, traffic.HealthCheckHTTP)
	if hc.Port != 0 {
		for _, msg := range utilvalidation.IsValidPortNum(int(hc.Port)) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("port"), hc.Port, msg))
		}
	}
	switch {
	case hc.Type == traffic.HealthCheckHTTP && !strings.HasPrefix(hc.Path, "/"):
		allErrs = append(allErrs, field.Invalid(fldPath.Child("path"), hc.Path, "must be an absolute URL path for http checks"))
	case hc.Type == traffic.HealthCheckTCP && hc.Path != "":
		allErrs = append(allErrs, field.Forbidden(fldPath.Child("path"), "only for http checks"))
	}
	if hc.Interval != nil && hc.Interval.Duration < minInterval {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("interval"), hc.Interval.Duration.String(), "must be at least "+minInterval.String()).WithOrigin(originMinimum))
	}
	if hc.Timeout != nil && hc.Timeout.Duration <= 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("timeout"), hc.Timeout.Duration.String(), "must be positive"))
	}
	if hc.Interval != nil && hc.Timeout != nil && hc.Timeout.Duration > hc.Interval.Duration {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("timeout"), hc.Timeout.Duration.String(), "must not exceed interval"))
	}
	for _, t := range []struct {
		name  string
		value *int32
	}{{"healthyThreshold", hc.HealthyThreshold}, {"unhealthyThreshold", hc.UnhealthyThreshold}} {
		if t.value != nil && *t.value < 1 {
			allErrs = append(allErrs, field.Invalid(fldPath.Child(t.name), *t.value, "must be at least 1"))
		}
	}
	return allErrs
}

func validateRollout(r *traffic.RolloutSpec, fldPath *field.Path) field.ErrorList {
	allErrs := oneOf(r.Strategy, fldPath.Child("strategy"), traffic.RolloutAllAtOnce, traffic.RolloutStaged)
	if r.Strategy != traffic.RolloutStaged && len(r.Stages) > 0 {
		allErrs = append(allErrs, field.Forbidden(fldPath.Child("stages"), "only for strategy Staged"))
	}
	if r.Strategy == traffic.RolloutStaged && len(r.Stages) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("stages"), "strategy Staged needs at least one stage"))
	}
	if r.RevisionHistoryLimit != nil && *r.RevisionHistoryLimit < 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("revisionHistoryLimit"), *r.RevisionHistoryLimit, "must not be negative"))
	}
	names := sets.New[string]()
	for i, s := range r.Stages {
		sPath := fldPath.Child("stages").Index(i)
		switch {
		case s.Name == "":
			allErrs = append(allErrs, field.Required(sPath.Child("name"), ""))
		case names.Has(s.Name):
			allErrs = append(allErrs, field.Duplicate(sPath.Child("name"), s.Name))
		default:
			for _, msg := range utilvalidation.IsDNS1123Label(s.Name) {
				allErrs = append(allErrs, field.Invalid(sPath.Child("name"), s.Name, msg))
			}
		}
		names.Insert(s.Name)
		allErrs = append(allErrs, validateClusterRefs(s.Clusters, sPath.Child("clusters"))...)
		if s.ClusterSelector != nil {
			allErrs = append(allErrs, metav1validation.ValidateLabelSelector(s.ClusterSelector, metav1validation.LabelSelectorValidationOptions{}, sPath.Child("clusterSelector"))...)
		}
		allErrs = append(allErrs, labelValues(s.Zones, sPath.Child("zones"))...)
		if s.Count != nil && *s.Count < 1 {
			allErrs = append(allErrs, field.Invalid(sPath.Child("count"), *s.Count, "must be at least 1"))
		}
		if s.SoakSeconds < 0 {
			allErrs = append(allErrs, field.Invalid(sPath.Child("soakSeconds"), s.SoakSeconds, "must not be negative"))
		}
	}
	return allErrs
}

// ValidateClusterAccessPoint checks a ClusterAccessPoint: every manifest must be a
// complete object.
func ValidateClusterAccessPoint(cap *traffic.ClusterAccessPoint) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&cap.ObjectMeta, true, nameIsSubdomain, field.NewPath("metadata"))
	for i, m := range cap.Spec.Manifests {
		allErrs = append(allErrs, validateManifest(m.Raw, field.NewPath("spec", "manifests").Index(i))...)
	}
	return allErrs
}

// manifestHeader is what every manifest must carry.
type manifestHeader struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

func validateManifest(raw []byte, fldPath *field.Path) field.ErrorList {
	var h manifestHeader
	if err := json.Unmarshal(raw, &h); err != nil {
		return field.ErrorList{field.Invalid(fldPath, "", "must be a Kubernetes object: "+err.Error())}
	}
	var allErrs field.ErrorList
	if h.APIVersion == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("apiVersion"), ""))
	}
	if h.Kind == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("kind"), ""))
	}
	if h.Metadata.Name == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("metadata", "name"), ""))
	}
	return allErrs
}

// ValidateClusterAccessPointUpdate checks an update of a ClusterAccessPoint.
func ValidateClusterAccessPointUpdate(cap, old *traffic.ClusterAccessPoint) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&cap.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, ValidateClusterAccessPoint(cap)...)
}

// ValidateClusterAccessPointStatus checks a status update of a ClusterAccessPoint.
func ValidateClusterAccessPointStatus(cap *traffic.ClusterAccessPoint) field.ErrorList {
	statusPath := field.NewPath("status")
	allErrs := metav1validation.ValidateConditions(cap.Status.Conditions, statusPath.Child("conditions"))
	for i, ep := range cap.Status.Gateway.Endpoints {
		if _, err := netip.ParseAddr(ep.Address); err != nil {
			allErrs = append(allErrs, field.Invalid(statusPath.Child("gateway", "endpoints").Index(i).Child("address"), ep.Address, "must be an IP address"))
		}
	}
	return allErrs
}

// ValidateVIPPool checks a pool on its own; overlap with other pools is checked by
// the registry, which sees them all.
func ValidateVIPPool(pool *traffic.VIPPool) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&pool.ObjectMeta, false, nameIsSubdomain, field.NewPath("metadata"))
	cidrsPath := field.NewPath("spec", "cidrs")
	if len(pool.Spec.CIDRs) == 0 {
		allErrs = append(allErrs, field.Required(cidrsPath, "at least one CIDR or range is required"))
	}
	if len(pool.Spec.CIDRs) > MaxPoolCIDRs {
		return append(allErrs, tooMany(cidrsPath, len(pool.Spec.CIDRs), MaxPoolCIDRs, "CIDRs or ranges"))
	}
	parsed := map[int]AddressRange{}
	for i, c := range pool.Spec.CIDRs {
		r, err := ParseAddressRange(c)
		if err != nil {
			allErrs = append(allErrs, field.Invalid(cidrsPath.Index(i), c, err.Error()))
			continue
		}
		for j := 0; j < i; j++ {
			if other, ok := parsed[j]; ok && r.Overlaps(other) {
				allErrs = append(allErrs, field.Invalid(cidrsPath.Index(i), c, "overlaps "+pool.Spec.CIDRs[j]))
			}
		}
		parsed[i] = r
	}
	return append(allErrs, labelValues(pool.Spec.Zones, field.NewPath("spec", "zones"))...)
}

// PoolRanges parses a valid pool's ranges.
func PoolRanges(pool *traffic.VIPPool) []AddressRange {
	var ranges []AddressRange
	for _, c := range pool.Spec.CIDRs {
		if r, err := ParseAddressRange(c); err == nil {
			ranges = append(ranges, r)
		}
	}
	return ranges
}

// ValidateVIPPoolUpdate checks an update of a pool, with limits ratcheted.
func ValidateVIPPoolUpdate(pool, old *traffic.VIPPool) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&pool.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, ratchetLimits(ValidateVIPPool(pool), func() field.ErrorList { return ValidateVIPPool(old) })...)
}

// ValidateVIPPoolStatus checks a status update of a pool.
func ValidateVIPPoolStatus(pool *traffic.VIPPool) field.ErrorList {
	return metav1validation.ValidateConditions(pool.Status.Conditions, field.NewPath("status", "conditions"))
}

// Schedulers and forwarding methods a VirtualIP may ask for.
var (
	schedulers  = []string{traffic.SchedulerMaglev, "sh", "rr", "wrr", "lc", "wlc"}
	forwardings = []string{traffic.ForwardingTunnel, "route"}
)

// ValidateVirtualIP checks a VirtualIP; its name must be its address.
func ValidateVirtualIP(vip *traffic.VirtualIP) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&vip.ObjectMeta, false, nameIsSubdomain, field.NewPath("metadata"))
	spec, specPath := &vip.Spec, field.NewPath("spec")
	if a, err := netip.ParseAddr(spec.Address); err != nil || !a.Is4() {
		allErrs = append(allErrs, field.Invalid(specPath.Child("address"), spec.Address, "must be an IPv4 address"))
	} else if vip.Name != spec.Address {
		allErrs = append(allErrs, field.Invalid(field.NewPath("metadata", "name"), vip.Name, "must equal spec.address"))
	}
	allErrs = append(allErrs, requiredName(spec.Pool, specPath.Child("pool"))...)
	allErrs = append(allErrs, ValidatePorts(spec.Ports, specPath.Child("ports"))...)
	allErrs = append(allErrs, oneOf(spec.Scheduler, specPath.Child("scheduler"), schedulers...)...)
	allErrs = append(allErrs, oneOf(spec.Forwarding, specPath.Child("forwarding"), forwardings...)...)
	if len(spec.Backends) > MaxBackends {
		allErrs = append(allErrs, tooMany(specPath.Child("backends"), len(spec.Backends), MaxBackends, "backends"))
	}
	seen := sets.New[string]()
	for i, b := range spec.Backends {
		bPath := specPath.Child("backends").Index(i).Child("address")
		if _, err := netip.ParseAddr(b.Address); err != nil {
			allErrs = append(allErrs, field.Invalid(bPath, b.Address, "must be an IP address"))
		}
		if seen.Has(b.Address) {
			allErrs = append(allErrs, field.Duplicate(bPath, b.Address))
		}
		seen.Insert(b.Address)
	}
	if spec.CrossZone != nil {
		allErrs = append(allErrs, validateCrossZone(spec.CrossZone, specPath.Child("crossZone"))...)
	}
	if spec.HealthCheck != nil {
		allErrs = append(allErrs, validateHealthCheck(spec.HealthCheck, MinVirtualIPHealthCheckInterval, specPath.Child("healthCheck"))...)
	}
	return allErrs
}

// ValidateVirtualIPUpdate checks an update of a VirtualIP: the address and pool are
// immutable; limits are ratcheted.
func ValidateVirtualIPUpdate(vip, old *traffic.VirtualIP) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&vip.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, apimachineryvalidation.ValidateImmutableField(vip.Spec.Address, old.Spec.Address, field.NewPath("spec", "address"))...)
	allErrs = append(allErrs, apimachineryvalidation.ValidateImmutableField(vip.Spec.Pool, old.Spec.Pool, field.NewPath("spec", "pool"))...)
	return append(allErrs, ratchetLimits(ValidateVirtualIP(vip), func() field.ErrorList { return ValidateVirtualIP(old) })...)
}

// ValidateVirtualIPStatus checks a status update of a VirtualIP.
func ValidateVirtualIPStatus(vip *traffic.VirtualIP) field.ErrorList {
	return metav1validation.ValidateConditions(vip.Status.Conditions, field.NewPath("status", "conditions"))
}

// ValidateNameService checks a NameService: a DNS name and exactly one target.
func ValidateNameService(ns *traffic.NameService) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&ns.ObjectMeta, true, nameIsSubdomain, field.NewPath("metadata"))
	spec, specPath := &ns.Spec, field.NewPath("spec")
	if spec.FQDN == "" {
		allErrs = append(allErrs, field.Required(specPath.Child("fqdn"), ""))
	} else {
		allErrs = append(allErrs, ValidateHostname(spec.FQDN, specPath.Child("fqdn"))...)
	}
	if spec.TTL != nil && (*spec.TTL < 1 || *spec.TTL > 604800) {
		allErrs = append(allErrs, field.Invalid(specPath.Child("ttl"), *spec.TTL, "must be between 1 and 604800 seconds"))
	}
	allErrs = append(allErrs, requiredName(spec.ProviderRef.Name, specPath.Child("providerRef", "name"))...)
	return append(allErrs, validateTarget(&spec.Target, specPath.Child("target"))...)
}

func validateTarget(t *traffic.NameServiceTarget, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	set := 0
	if t.AccessPointRef != nil {
		set++
		allErrs = append(allErrs, requiredName(t.AccessPointRef.Name, fldPath.Child("accessPointRef", "name"))...)
	}
	if len(t.Addresses) > MaxNameServiceAddresses {
		set++
		allErrs = append(allErrs, tooMany(fldPath.Child("addresses"), len(t.Addresses), MaxNameServiceAddresses, "addresses"))
	} else if len(t.Addresses) > 0 {
		set++
		for i, a := range t.Addresses {
			if _, err := netip.ParseAddr(a); err != nil {
				allErrs = append(allErrs, field.Invalid(fldPath.Child("addresses").Index(i), a, "must be an IP address"))
			}
		}
	}
	if t.CNAME != "" {
		set++
		allErrs = append(allErrs, ValidateHostname(t.CNAME, fldPath.Child("cname"))...)
	}
	if set != 1 {
		allErrs = append(allErrs, field.Invalid(fldPath, "", "exactly one of accessPointRef, addresses and cname is required"))
	}
	return allErrs
}

// ValidateNameServiceUpdate checks an update of a NameService, with limits
// ratcheted.
func ValidateNameServiceUpdate(ns, old *traffic.NameService) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&ns.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, ratchetLimits(ValidateNameService(ns), func() field.ErrorList { return ValidateNameService(old) })...)
}

// ValidateNameServiceStatus checks a status update of a NameService.
func ValidateNameServiceStatus(ns *traffic.NameService) field.ErrorList {
	allErrs := metav1validation.ValidateConditions(ns.Status.Conditions, field.NewPath("status", "conditions"))
	if len(ns.Status.Records) > MaxNameServiceAddresses {
		allErrs = append(allErrs, tooMany(field.NewPath("status", "records"), len(ns.Status.Records), MaxNameServiceAddresses, "records"))
	}
	return allErrs
}

// TSIG algorithms accepted by DNSProvider.
var tsigAlgorithms = []string{"hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512"}

// ValidateDNSProvider checks a DNSProvider.
func ValidateDNSProvider(p *traffic.DNSProvider) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&p.ObjectMeta, false, nameIsSubdomain, field.NewPath("metadata"))
	fldPath := field.NewPath("spec", "rfc2136")
	r := p.Spec.RFC2136
	if r == nil {
		return append(allErrs, field.Required(fldPath, "a provider configuration is required"))
	}
	if r.Server == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("server"), "host:port of the DNS server"))
	} else if _, _, err := splitHostPort(r.Server); err != nil {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("server"), r.Server, "must be host:port with a port of 1-65535"))
	}
	if r.Zone == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("zone"), ""))
	} else {
		for _, msg := range utilvalidation.IsDNS1123Subdomain(strings.TrimSuffix(r.Zone, ".")) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("zone"), r.Zone, msg))
		}
	}
	allErrs = append(allErrs, oneOf(r.TSIGAlgorithm, fldPath.Child("tsigAlgorithm"), tsigAlgorithms...)...)
	if (r.TSIGKeyName == "") != (r.TSIGSecretRef == nil) {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("tsigKeyName"), r.TSIGKeyName, "tsigKeyName and tsigSecretRef go together"))
	}
	if r.TSIGSecretRef != nil {
		allErrs = append(allErrs, requiredName(r.TSIGSecretRef.Name, fldPath.Child("tsigSecretRef", "name"))...)
	}
	return allErrs
}

func splitHostPort(s string) (string, string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return "", "", errInvalidHostPort
	}
	if n, err := strconv.Atoi(port); err != nil || len(utilvalidation.IsValidPortNum(n)) > 0 {
		return "", "", errInvalidHostPort
	}
	return host, port, nil
}

// ValidateDNSProviderUpdate checks an update of a DNSProvider.
func ValidateDNSProviderUpdate(p, old *traffic.DNSProvider) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&p.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, ValidateDNSProvider(p)...)
}

// ValidateProbeStatus checks the status of a provider or an issuer.
func ValidateProbeStatus(s *traffic.ProbeStatus) field.ErrorList {
	return metav1validation.ValidateConditions(s.Conditions, field.NewPath("status", "conditions"))
}

// MinCertificateDuration is the shortest validity a CA issuer may be configured
// with: renewal happens after two thirds of it.
const MinCertificateDuration = time.Minute

// ValidateCertificateIssuer checks a CertificateIssuer: exactly one of ca and acme.
func ValidateCertificateIssuer(ci *traffic.CertificateIssuer) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&ci.ObjectMeta, false, nameIsSubdomain, field.NewPath("metadata"))
	specPath := field.NewPath("spec")
	switch {
	case (ci.Spec.CA == nil) == (ci.Spec.ACME == nil):
		allErrs = append(allErrs, field.Invalid(specPath, "", "exactly one of ca and acme is required"))
	case ci.Spec.CA != nil:
		allErrs = append(allErrs, requiredName(ci.Spec.CA.SecretRef.Name, specPath.Child("ca", "secretRef", "name"))...)
		if d := ci.Spec.CA.Duration; d != nil && d.Duration < MinCertificateDuration {
			allErrs = append(allErrs, field.Invalid(specPath.Child("ca", "duration"), d.Duration.String(),
				"must be at least "+MinCertificateDuration.String()))
		}
	default:
		acmePath := specPath.Child("acme")
		if ci.Spec.ACME.Server == "" {
			allErrs = append(allErrs, field.Required(acmePath.Child("server"), "URL of the ACME directory"))
		} else if u, err := url.Parse(ci.Spec.ACME.Server); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			allErrs = append(allErrs, field.Invalid(acmePath.Child("server"), ci.Spec.ACME.Server, "must be an http(s) URL of an ACME directory"))
		}
		allErrs = append(allErrs, requiredName(ci.Spec.ACME.PrivateKeySecretRef.Name, acmePath.Child("privateKeySecretRef", "name"))...)
		allErrs = append(allErrs, requiredName(ci.Spec.ACME.DNS01.ProviderRef.Name, acmePath.Child("dns01", "providerRef", "name"))...)
		if len(ci.Spec.ACME.CABundle) > 0 && !x509.NewCertPool().AppendCertsFromPEM(ci.Spec.ACME.CABundle) {
			allErrs = append(allErrs, field.Invalid(acmePath.Child("caBundle"), "<PEM>", "must hold PEM-encoded CA certificates"))
		}
	}
	return allErrs
}

// ValidateCertificateIssuerUpdate checks an update of a CertificateIssuer.
func ValidateCertificateIssuerUpdate(ci, old *traffic.CertificateIssuer) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&ci.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, ValidateCertificateIssuer(ci)...)
}

func requiredName(name string, fldPath *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	var allErrs field.ErrorList
	for _, msg := range nameIsSubdomain(name, false) {
		allErrs = append(allErrs, field.Invalid(fldPath, name, msg))
	}
	return allErrs
}

func oneOf(v string, fldPath *field.Path, allowed ...string) field.ErrorList {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	if v == "" {
		return field.ErrorList{field.Required(fldPath, "one of "+strings.Join(allowed, ", "))}
	}
	return field.ErrorList{field.NotSupported(fldPath, v, allowed)}
}

// ValidateAccessPointRevision checks a new AccessPointRevision.
func ValidateAccessPointRevision(r *traffic.AccessPointRevision) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&r.ObjectMeta, true, nameIsSubdomain, field.NewPath("metadata"))
	specPath := field.NewPath("spec")
	allErrs = append(allErrs, requiredName(r.Spec.AccessPointRef.Name, specPath.Child("accessPointRef", "name"))...)
	if r.Spec.AccessPointRef.Namespace != "" && r.Spec.AccessPointRef.Namespace != r.Namespace {
		allErrs = append(allErrs, field.Invalid(specPath.Child("accessPointRef", "namespace"), r.Spec.AccessPointRef.Namespace, "must be the revision's namespace"))
	}
	if r.Spec.Revision < 1 {
		allErrs = append(allErrs, field.Invalid(specPath.Child("revision"), r.Spec.Revision, "must be at least 1"))
	}
	if r.Spec.Hash == "" {
		allErrs = append(allErrs, field.Required(specPath.Child("hash"), ""))
	}
	contentPath := specPath.Child("content")
	allErrs = append(allErrs, validateHosts(r.Spec.Content.Hosts, contentPath.Child("hosts"))...)
	allErrs = append(allErrs, validateTemplateNames(&r.Spec.Content.Template, contentPath.Child("template"))...)
	return append(allErrs, validateOverrides(r.Spec.Content.Overrides, contentPath.Child("overrides"))...)
}

// ValidateAccessPointRevisionUpdate allows metadata changes only: a revision is
// an immutable snapshot.
func ValidateAccessPointRevisionUpdate(r, old *traffic.AccessPointRevision) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&r.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, apimachineryvalidation.ValidateImmutableField(r.Spec, old.Spec, field.NewPath("spec"))...)
}

// ValidateRolloutApproval checks the body of an approval.
func ValidateRolloutApproval(a *traffic.RolloutApproval) field.ErrorList {
	var allErrs field.ErrorList
	if a.Revision < 0 {
		allErrs = append(allErrs, field.Invalid(field.NewPath("revision"), a.Revision, "must not be negative"))
	}
	if a.Stage != "" {
		for _, msg := range utilvalidation.IsDNS1123Label(a.Stage) {
			allErrs = append(allErrs, field.Invalid(field.NewPath("stage"), a.Stage, msg))
		}
	}
	return allErrs
}
