// Package validation checks cluster.portico.dev objects. Pure functions returning
// field errors with full paths.
package validation

import (
	"net/netip"
	"time"

	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portico-dev/portico/apis/cluster"
	"github.com/portico-dev/portico/apis/cluster/v1alpha1"
)

// maxClusterNameLength keeps portico-cluster-<name> a valid namespace name.
const maxClusterNameLength = utilvalidation.DNS1123LabelMaxLength - len(v1alpha1.ClusterNamespacePrefix)

// ValidateMemberClusterName checks that the name makes a valid hub namespace.
func ValidateMemberClusterName(name string, prefix bool) []string {
	errs := apimachineryvalidation.NameIsDNSLabel(name, prefix)
	if len(name) > maxClusterNameLength {
		errs = append(errs, utilvalidation.MaxLenError(maxClusterNameLength))
	}
	return errs
}

// ValidateMemberCluster checks a new MemberCluster.
func ValidateMemberCluster(mc *cluster.MemberCluster) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&mc.ObjectMeta, false, ValidateMemberClusterName, field.NewPath("metadata"))
	specPath := field.NewPath("spec")
	allErrs = append(allErrs, requiredLabelValue(mc.Spec.Zone, specPath.Child("zone"))...)
	allErrs = append(allErrs, labelValue(mc.Spec.Region, specPath.Child("region"))...)
	allErrs = append(allErrs, validateGatewayCIDRs(mc.Spec.GatewayCIDRs, specPath.Child("gatewayCIDRs"))...)
	return allErrs
}

// MaxGatewayCIDRs bounds spec.gatewayCIDRs of a MemberCluster.
const MaxGatewayCIDRs = 64

// validateGatewayCIDRs checks the CIDRs gateway endpoints must lie in: at most
// MaxGatewayCIDRs IPv4 or IPv6 prefixes in canonical form (no bits set after the
// prefix length), none twice.
func validateGatewayCIDRs(cidrs []string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(cidrs) > MaxGatewayCIDRs {
		return append(allErrs, field.TooMany(fldPath, len(cidrs), MaxGatewayCIDRs))
	}
	seen := map[netip.Prefix]bool{}
	for i, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		switch {
		case err != nil:
			allErrs = append(allErrs, field.Invalid(fldPath.Index(i), c, "must be an IPv4 or IPv6 CIDR, e.g. 10.0.0.0/16 or fd00::/64"))
		case p != p.Masked():
			allErrs = append(allErrs, field.Invalid(fldPath.Index(i), c, "must have no bits set after the prefix length: "+p.Masked().String()))
		case seen[p]:
			allErrs = append(allErrs, field.Duplicate(fldPath.Index(i), c))
		}
		seen[p] = true
	}
	return allErrs
}

// ValidateMemberClusterUpdate checks an update of a MemberCluster.
func ValidateMemberClusterUpdate(mc, old *cluster.MemberCluster) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&mc.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, ValidateMemberCluster(mc)...)
}

// ValidateMemberClusterStatus checks a status update of a MemberCluster.
func ValidateMemberClusterStatus(mc *cluster.MemberCluster) field.ErrorList {
	return ValidateConditions(mc.Status.Conditions, field.NewPath("status", "conditions"))
}

// ValidateLoadBalancerGroup checks a LoadBalancerGroup.
func ValidateLoadBalancerGroup(g *cluster.LoadBalancerGroup) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&g.ObjectMeta, false, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	specPath := field.NewPath("spec")
	allErrs = append(allErrs, requiredLabelValue(g.Spec.Zone, specPath.Child("zone"))...)
	return append(allErrs, validateBGP(&g.Spec.BGP, specPath.Child("bgp"))...)
}

func validateBGP(bgp *cluster.BGPConfig, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(bgp.Peers) > 0 && bgp.LocalASN == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("localASN"), "required when peers are given"))
	}
	if len(bgp.Peers) > MaxBGPPeers {
		return append(allErrs, field.TooMany(fldPath.Child("peers"), len(bgp.Peers), MaxBGPPeers))
	}
	seen := map[netip.Addr]bool{}
	for i, p := range bgp.Peers {
		peerPath := fldPath.Child("peers").Index(i)
		addr, err := netip.ParseAddr(p.Address)
		switch {
		case err != nil:
			allErrs = append(allErrs, field.Invalid(peerPath.Child("address"), p.Address, "must be an IP address"))
		case seen[addr]:
			allErrs = append(allErrs, field.Duplicate(peerPath.Child("address"), p.Address))
		}
		seen[addr] = true
		if p.ASN == 0 {
			allErrs = append(allErrs, field.Required(peerPath.Child("asn"), ""))
		}
		allErrs = append(allErrs, validateTimers(&p, peerPath)...)
		if p.PasswordSecretRef != nil {
			allErrs = append(allErrs, ValidateSecretName(p.PasswordSecretRef.Name, peerPath.Child("passwordSecretRef", "name"))...)
		}
	}
	return allErrs
}

func validateTimers(p *cluster.BGPPeer, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	var hold, keepalive time.Duration
	if p.HoldTime != nil {
		hold = p.HoldTime.Duration
		if hold != 0 && (hold < 3*time.Second || hold > 65535*time.Second) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("holdTime"), hold.String(), "must be 0 or between 3s and 65535s (RFC 4271)"))
		}
	}
	if p.KeepaliveTime != nil {
		keepalive = p.KeepaliveTime.Duration
		if keepalive < 0 || (hold > 0 && keepalive >= hold) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("keepaliveTime"), keepalive.String(), "must be less than holdTime"))
		}
	}
	return allErrs
}

// ValidateLoadBalancerGroupUpdate checks an update of a LoadBalancerGroup.
func ValidateLoadBalancerGroupUpdate(g, old *cluster.LoadBalancerGroup) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&g.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, ValidateLoadBalancerGroup(g)...)
}

// ValidateLoadBalancerGroupStatus checks a status update of a LoadBalancerGroup.
func ValidateLoadBalancerGroupStatus(g *cluster.LoadBalancerGroup) field.ErrorList {
	return ValidateConditions(g.Status.Conditions, field.NewPath("status", "conditions"))
}

// ValidateLoadBalancerNode checks a LoadBalancerNode.
func ValidateLoadBalancerNode(n *cluster.LoadBalancerNode) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&n.ObjectMeta, false, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	specPath := field.NewPath("spec")
	if n.Spec.Group == "" {
		allErrs = append(allErrs, field.Required(specPath.Child("group"), ""))
	} else {
		for _, msg := range apimachineryvalidation.NameIsDNSSubdomain(n.Spec.Group, false) {
			allErrs = append(allErrs, field.Invalid(specPath.Child("group"), n.Spec.Group, msg))
		}
	}
	if n.Spec.Address == "" {
		allErrs = append(allErrs, field.Required(specPath.Child("address"), "the node's BGP next hop and tunnel source"))
	} else if _, err := netip.ParseAddr(n.Spec.Address); err != nil {
		allErrs = append(allErrs, field.Invalid(specPath.Child("address"), n.Spec.Address, "must be an IP address"))
	}
	return allErrs
}

// ValidateLoadBalancerNodeUpdate checks an update of a LoadBalancerNode.
func ValidateLoadBalancerNodeUpdate(n, old *cluster.LoadBalancerNode) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&n.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, ValidateLoadBalancerNode(n)...)
}

// ValidateLoadBalancerNodeStatus checks a status update of a LoadBalancerNode.
func ValidateLoadBalancerNodeStatus(n *cluster.LoadBalancerNode) field.ErrorList {
	statusPath := field.NewPath("status")
	allErrs := ValidateConditions(n.Status.Conditions, statusPath.Child("conditions"))
	for i, vip := range n.Status.Announced {
		if _, err := netip.ParseAddr(vip); err != nil {
			allErrs = append(allErrs, field.Invalid(statusPath.Child("announced").Index(i), vip, "must be an IP address"))
		}
	}
	for i, vip := range n.Status.VIPs {
		allErrs = append(allErrs, validateWeights(vip.Weights, statusPath.Child("vips").Index(i).Child("weights"))...)
	}
	return allErrs
}

// maxWeight bounds IPVS weights.
const maxWeight = 65535

// validateWeights checks the weights a node reports for a VIP's backends:
// each weight once, in 0-65535, over IP addresses, each address once.
func validateWeights(weights []cluster.BackendWeight, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	seenWeights, seenAddrs := map[int32]bool{}, map[string]bool{}
	for i, w := range weights {
		wPath := fldPath.Index(i)
		switch {
		case w.Weight < 0 || w.Weight > maxWeight:
			allErrs = append(allErrs, field.Invalid(wPath.Child("weight"), w.Weight, "must be between 0 and 65535"))
		case seenWeights[w.Weight]:
			allErrs = append(allErrs, field.Duplicate(wPath.Child("weight"), w.Weight))
		}
		seenWeights[w.Weight] = true
		for j, a := range w.Backends {
			bPath := wPath.Child("backends").Index(j)
			if _, err := netip.ParseAddr(a); err != nil {
				allErrs = append(allErrs, field.Invalid(bPath, a, "must be an IP address"))
			} else if seenAddrs[a] {
				allErrs = append(allErrs, field.Duplicate(bPath, a))
			}
			seenAddrs[a] = true
		}
	}
	return allErrs
}

// ValidateConditions checks metav1.Conditions (types, reasons, statuses, uniqueness).
func ValidateConditions(conditions []metav1.Condition, fldPath *field.Path) field.ErrorList {
	return metav1validation.ValidateConditions(conditions, fldPath)
}

// ValidateSecretName checks the name of a referenced Secret.
func ValidateSecretName(name string, fldPath *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	var allErrs field.ErrorList
	for _, msg := range apimachineryvalidation.NameIsDNSSubdomain(name, false) {
		allErrs = append(allErrs, field.Invalid(fldPath, name, msg))
	}
	return allErrs
}

func requiredLabelValue(v string, fldPath *field.Path) field.ErrorList {
	if v == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	return labelValue(v, fldPath)
}

func labelValue(v string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, msg := range utilvalidation.IsValidLabelValue(v) {
		allErrs = append(allErrs, field.Invalid(fldPath, v, msg))
	}
	return allErrs
}
