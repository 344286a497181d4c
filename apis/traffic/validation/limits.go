package validation

import (
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portico-dev/portico/apis/traffic"
)

// Limits of the traffic API. They bound the work one object can cause on the hub
// (schema checks, overrides), in the member clusters and on the edge nodes, and
// keep an access point and each cluster's rendered slice of it well inside what
// the API server accepts (3 MiB request bodies) and etcd stores (1.5 MiB values).
// docs/api.md lists them; errors name them.
const (
	// MaxHosts is the most hosts of an access point (and of a HostGrant).
	MaxHosts = 100
	// MaxTemplatesPerKind is the most objects of one list of spec.template.
	MaxTemplatesPerKind = 100
	// MaxTemplates is the most objects of spec.template, the gateway included.
	MaxTemplates = 200
	// MaxTemplateSpecBytes is the largest JSON size of one template spec.
	MaxTemplateSpecBytes = 256 * 1024
	// MaxTemplateBytes is the largest JSON size of all template specs together.
	MaxTemplateBytes = 512 * 1024
	// MaxOverrides is the most entries of spec.overrides (one per cluster).
	MaxOverrides = 100
	// MaxPatchesPerOverride is the most clusterOverrides of one cluster.
	MaxPatchesPerOverride = 50
	// MaxPatches is the most clusterOverrides of all clusters together: every one
	// is applied to the whole template at write time.
	MaxPatches = 250
	// MaxPatchPathLength is the longest JSON pointer of a patch, in bytes.
	MaxPatchPathLength = 1024
	// MaxOverrideValueBytes is the largest JSON size of all patch values together.
	MaxOverrideValueBytes = 256 * 1024
	// MaxPorts is the most ports of a load balancer (an access point's or a
	// VirtualIP's): each is an IPVS service on every edge node.
	MaxPorts = 32
	// MaxPoolCIDRs is the most CIDRs or ranges of a VIPPool.
	MaxPoolCIDRs = 64
	// MaxBackends is the most backends of a VirtualIP (as many as the endpoints of
	// an EndpointSlice).
	MaxBackends = 1000
	// MaxNameServiceAddresses is the most addresses of a NameService target, and
	// of records in its status.
	MaxNameServiceAddresses = 64
	// MinHealthCheckInterval is the shortest health-check interval of an access
	// point: every edge node checks every backend at that interval.
	MinHealthCheckInterval = time.Second
	// MinVirtualIPHealthCheckInterval is the shortest health-check interval of a
	// VirtualIP. VirtualIPs are written by the hub, which copies the access
	// point's check, and by admins (tests use short intervals).
	MinVirtualIPHealthCheckInterval = 100 * time.Millisecond
)

// Origins of limit errors, named as JSON Schema and declarative validation name
// them. ratchetLimits recognizes limit errors by them.
const (
	originMaxItems  = "maxItems"
	originMaxLength = "maxLength"
	originMinimum   = "minimum"
)

// tooMany is field.TooMany with a detail that says what is counted.
func tooMany(fldPath *field.Path, actual, limit int, what string) *field.Error {
	e := field.TooMany(fldPath, actual, limit).WithOrigin(originMaxItems)
	e.Detail = fmt.Sprintf("must have at most %d %s", limit, what)
	return e
}

// tooLarge is field.TooLong for JSON documents: the detail gives the limit and
// the size found.
func tooLarge(fldPath *field.Path, size, limit int, what string) *field.Error {
	e := field.TooLong(fldPath, nil, limit).WithOrigin(originMaxLength)
	e.Detail = fmt.Sprintf("%s may not be more than %d bytes (%d KiB); it is %d bytes", what, limit, limit/1024, size)
	return e
}

// isLimitError reports whether e is the violation of a limit.
func isLimitError(e *field.Error) bool {
	return e.Origin == originMaxItems || e.Origin == originMaxLength || e.Origin == originMinimum
}

// ratchetLimits drops from the errors of an update the limit errors that the
// stored object already had, unchanged (old gives its errors): an object stored
// before a limit existed, or while it was higher, can still be updated (labels
// changed, finalizers removed when it is deleted) as long as the update leaves
// each violation exactly as it was or removes it. Kubernetes ratchets tightened
// validation the same way.
func ratchetLimits(errs field.ErrorList, old func() field.ErrorList) field.ErrorList {
	if !slices.ContainsFunc(errs, isLimitError) {
		return errs
	}
	had := sets.New[string]()
	for _, e := range old() {
		if isLimitError(e) {
			had.Insert(e.Error())
		}
	}
	return slices.DeleteFunc(errs, func(e *field.Error) bool {
		return isLimitError(e) && had.Has(e.Error())
	})
}

// validateTemplateSize checks the number of template objects, per list and in
// total, and the JSON size of each spec and of all of them.
func validateTemplateSize(t *traffic.AccessPointTemplate, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	count, size := 0, 0
	if t.Gateway != nil {
		count, size = 1, len(t.Gateway.Raw)
		if len(t.Gateway.Raw) > MaxTemplateSpecBytes {
			allErrs = append(allErrs, tooLarge(fldPath.Child("gateway"), len(t.Gateway.Raw), MaxTemplateSpecBytes, "a template spec"))
		}
	}
	for _, list := range namedLists(t, fldPath) {
		items := list.items
		count += len(items)
		if len(items) > MaxTemplatesPerKind {
			allErrs = append(allErrs, tooMany(list.path, len(items), MaxTemplatesPerKind, "objects"))
		}
		for i, item := range items {
			size += len(item.Spec.Raw)
			if len(item.Spec.Raw) > MaxTemplateSpecBytes {
				allErrs = append(allErrs, tooLarge(list.path.Index(i).Child("spec"), len(item.Spec.Raw), MaxTemplateSpecBytes, "a template spec"))
			}
		}
	}
	if count > MaxTemplates {
		allErrs = append(allErrs, tooMany(fldPath, count, MaxTemplates, "objects (the gateway and all lists together)"))
	}
	if size > MaxTemplateBytes {
		allErrs = append(allErrs, tooLarge(fldPath, size, MaxTemplateBytes, "the template specs together"))
	}
	return allErrs
}

// validateOverridesSize checks the number of overrides, of patches per cluster
// and in total, and the JSON size of all patch values. The length of each path
// is checked with the path.
func validateOverridesSize(overrides []traffic.ClusterOverride, fldPath *field.Path) field.ErrorList {
	if len(overrides) > MaxOverrides {
		return field.ErrorList{tooMany(fldPath, len(overrides), MaxOverrides, "entries (one per cluster)")}
	}
	var allErrs field.ErrorList
	patches, size := 0, 0
	for i, o := range overrides {
		patches += len(o.ClusterOverrides)
		if len(o.ClusterOverrides) > MaxPatchesPerOverride {
			allErrs = append(allErrs, tooMany(fldPath.Index(i).Child("clusterOverrides"), len(o.ClusterOverrides), MaxPatchesPerOverride, "patches"))
		}
		for _, p := range o.ClusterOverrides {
			if p.Value != nil {
				size += len(p.Value.Raw)
			}
		}
	}
	if patches > MaxPatches {
		allErrs = append(allErrs, tooMany(fldPath, patches, MaxPatches, "patches (clusterOverrides of all clusters together)"))
	}
	if size > MaxOverrideValueBytes {
		allErrs = append(allErrs, tooLarge(fldPath, size, MaxOverrideValueBytes, "the patch values together"))
	}
	return allErrs
}
