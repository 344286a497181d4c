// Package istioschema validates the Istio specs embedded in Portico objects
// against the structural schemas and CEL rules of Istio's own
// CustomResourceDefinitions (networking.istio.io/v1, security.istio.io/v1 and
// telemetry.istio.io/v1, at the istio.io/api version pinned in go.mod), with
// package crdschema, so that a spec Portico accepts is one the Istio CRDs
// accept too. A few cheap checks that Istio leaves to istiod's
// webhook (port ranges, host names) are added on top.
//
// The schemas are compiled into the binary (zz_generated.schemas.go); nothing
// is read at run time.
package istioschema

//go:generate go run ../../../hack/gen-crd-schemas -source istio -out zz_generated.schemas.go

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	k8svalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portico-dev/portico/registry/traffic/crdschema"
)

// Kinds lists the supported kinds.
var Kinds = []string{"Gateway", "VirtualService", "DestinationRule", "ServiceEntry", "WorkloadEntry", "WorkloadGroup",
	"AuthorizationPolicy", "RequestAuthentication", "Telemetry"}

// validators validates each kind against its CRD schema.
var validators = crdschema.NewSet(Kinds, specSchemas)

// ValidateSpec validates one Istio spec (JSON object bytes) of the given kind. fldPath is the path of the
// spec inside the Portico object, e.g. field.NewPath("spec","template","virtualServices").Index(0).Child("spec").
// Errors carry full paths, e.g. spec.template.virtualServices[0].spec.http[0].timeout for a CEL rule, or
// spec.template.virtualServices[0].spec.http[0].route[0].destination.host for a missing required field.
//
// The checks are those the Kubernetes API server runs for a custom resource
// of Istio's CRD, in the same order (see package crdschema). Portico's own
// checks (ports, hosts) follow; they only report fields the schema checks have
// not already reported.
func ValidateSpec(ctx context.Context, kind string, spec []byte, fldPath *field.Path) field.ErrorList {
	obj, errs := validators.Validate(ctx, kind, spec, fldPath)
	if obj == nil {
		return errs
	}
	reported := make(map[string]bool, len(errs))
	for _, e := range errs {
		reported[e.Field] = true
	}
	for _, e := range porticoChecks(kind, obj, fldPath) {
		if !reported[e.Field] {
			errs = append(errs, e)
		}
	}
	return errs
}

// Portico's own checks. Istio's schemas accept any uint32 as a port and any
// string as a host; istiod's webhook rejects the rest, but Portico objects do
// not go through it, so the most common mistakes are caught here.

// fieldCheck applies check to every value found at path. In path, "[]" stands
// for every item of a list and "{}" for every value of a map.
type fieldCheck struct {
	path  string
	check func(v any) (detail string)
}

var porticoFieldChecks = map[string][]fieldCheck{
	"Gateway": {
		{"servers[].port.number", checkPort},
		{"servers[].port.targetPort", checkPort},
		{"servers[].hosts[]", checkGatewayHost},
	},
	"VirtualService": {
		{"hosts[]", checkVirtualServiceHost},
		{"http[].match[].port", checkPort},
		{"http[].route[].destination.port.number", checkPort},
		{"http[].mirror.port.number", checkPort},
		{"http[].mirrors[].destination.port.number", checkPort},
		{"http[].redirect.port", checkPort},
		{"tcp[].match[].port", checkPort},
		{"tcp[].route[].destination.port.number", checkPort},
		{"tls[].match[].port", checkPort},
		{"tls[].route[].destination.port.number", checkPort},
	},
	"DestinationRule": {
		{"host", checkHost},
		{"trafficPolicy.portLevelSettings[].port.number", checkPort},
		{"trafficPolicy.tunnel.targetPort", checkPort},
		{"subsets[].trafficPolicy.portLevelSettings[].port.number", checkPort},
		{"subsets[].trafficPolicy.tunnel.targetPort", checkPort},
	},
	"ServiceEntry": {
		{"hosts[]", checkHost},
		{"ports[].number", checkPort},
		{"ports[].targetPort", checkPort},
		{"endpoints[].ports{}", checkPort},
	},
	"WorkloadEntry": {
		{"ports{}", checkPort},
	},
	"WorkloadGroup": {
		{"template.ports{}", checkPort},
		{"probe.httpGet.port", checkPort},
		{"probe.tcpSocket.port", checkPort},
		{"probe.grpc.port", checkPort},
	},
	// Istio's schema takes ports of authorization rules as any strings.
	"AuthorizationPolicy": {
		{"rules[].to[].operation.ports[]", checkPortString},
		{"rules[].to[].operation.notPorts[]", checkPortString},
	},
}

func porticoChecks(kind string, obj map[string]any, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, c := range porticoFieldChecks[kind] {
		visit(obj, c.path, fldPath, func(v any, p *field.Path) {
			if detail := c.check(v); detail != "" {
				errs = append(errs, field.Invalid(p, v, detail))
			}
		})
	}
	return errs
}

// visit calls fn for each value of obj at path (see fieldCheck). Absent and
// null values are skipped, as are values of an unexpected type, which the
// schema checks have reported already.
func visit(obj any, path string, p *field.Path, fn func(any, *field.Path)) {
	if obj == nil {
		return
	}
	if path == "" {
		fn(obj, p)
		return
	}
	var rest string
	if path[0] == '.' {
		path = path[1:]
	}
	switch {
	case strings.HasPrefix(path, "[]"):
		rest = path[2:]
		l, _ := obj.([]any)
		for i, item := range l {
			visit(item, rest, p.Index(i), fn)
		}
	case strings.HasPrefix(path, "{}"):
		rest = path[2:]
		m, _ := obj.(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(m)) {
			visit(m[k], rest, p.Key(k), fn)
		}
	default:
		name := path
		if i := strings.IndexAny(path, ".[{"); i >= 0 {
			name, rest = path[:i], path[i:]
		}
		if m, ok := obj.(map[string]any); ok {
			visit(m[name], rest, p.Child(name), fn)
		}
	}
}

func checkPort(v any) string {
	var n float64
	switch v := v.(type) {
	case int64:
		n = float64(v)
	case float64:
		n = v
	default:
		return "" // reported by the schema checks
	}
	if n < 1 || n > 65535 {
		return "must be a port number between 1 and 65535, inclusive"
	}
	return ""
}

// checkPortString checks a port given as a string ("8080"), as istiod does.
func checkPortString(v any) string {
	s, ok := v.(string)
	if !ok {
		return ""
	}
	if n, err := strconv.ParseUint(s, 10, 16); err != nil || n == 0 {
		return "must be a port number between 1 and 65535, inclusive, as a string"
	}
	return ""
}

// checkHost accepts a DNS name, optionally with a wildcard as its first label
// ("*.example.com"), or the single wildcard "*" matching every host.
func checkHost(v any) string {
	s, ok := v.(string)
	if !ok {
		return ""
	}
	if s == "*" {
		return ""
	}
	if len(s) > 255 {
		return "must be no more than 255 characters"
	}
	return checkDNSName(strings.TrimPrefix(s, "*."))
}

// checkVirtualServiceHost also accepts IP addresses, which Istio allows in
// VirtualService hosts (for services exposed through a gateway).
func checkVirtualServiceHost(v any) string {
	if s, ok := v.(string); ok {
		if _, err := netip.ParseAddr(s); err == nil {
			return ""
		}
	}
	return checkHost(v)
}

// checkGatewayHost accepts an optional namespace prefix, "<namespace>/",
// "./" (the Gateway's namespace) or "*/" (any namespace), before the host.
func checkGatewayHost(v any) string {
	s, ok := v.(string)
	if !ok {
		return ""
	}
	if ns, host, found := strings.Cut(s, "/"); found {
		if ns != "*" && ns != "." && len(k8svalidation.IsDNS1123Label(ns)) > 0 {
			return fmt.Sprintf("namespace %q before %q must be \"*\", \".\" or a namespace name", ns, "/")
		}
		return checkHost(host)
	}
	return checkHost(s)
}

// checkDNSName accepts names made of RFC 1123 labels (case-insensitively, as
// Istio does), whose last label is not all digits (no IP addresses).
func checkDNSName(name string) string {
	const msg = "must be a DNS name, optionally with a leading wildcard label (\"*.example.com\"), or \"*\""
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return msg
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return msg
			}
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return msg + "; its top-level label must not be all digits"
	}
	return ""
}
