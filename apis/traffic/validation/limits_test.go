package validation

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portico-dev/portico/apis/traffic"
)

func wantTooMany(f string) wantErr { return wantErr{field.ErrorTypeTooMany, f} }
func wantTooLong(f string) wantErr { return wantErr{field.ErrorTypeTooLong, f} }

// sizedObject is a JSON object of exactly n bytes (n >= 32).
func sizedObject(n int) traffic.JSONObject {
	const head, tail = `{"hosts":["shop.example.com"],"x":"`, `"}`
	return object(head + strings.Repeat("a", n-len(head)-len(tail)) + tail)
}

func sizedValue(n int) *traffic.JSONValue {
	return value(`"` + strings.Repeat("a", n-2) + `"`)
}

func hostList(n int) []string {
	hosts := make([]string, n)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("h%d.shop.example.com", i)
	}
	return hosts
}

func named(n int) []traffic.NamedTemplate {
	items := make([]traffic.NamedTemplate, n)
	for i := range items {
		items[i] = traffic.NamedTemplate{Name: fmt.Sprintf("t-%d", i), Spec: object(`{"host":"web"}`)}
	}
	return items
}

// overridesOf returns n overrides (clusters c-0...) of patches patches each.
func overridesOf(n, patches int) []traffic.ClusterOverride {
	out := make([]traffic.ClusterOverride, n)
	for i := range out {
		out[i].ClusterName = fmt.Sprintf("c-%d", i)
		for j := 0; j < patches; j++ {
			out[i].ClusterOverrides = append(out[i].ClusterOverrides, traffic.OverridePatch{
				Op: traffic.OverrideReplace, Path: fmt.Sprintf("/virtualServices/0/spec/http/%d/timeout", j), Value: value(`"5s"`)})
		}
	}
	return out
}

func portList(n int) []traffic.Port {
	ports := make([]traffic.Port, n)
	for i := range ports {
		ports[i] = traffic.Port{Name: fmt.Sprintf("p-%d", i), Port: int32(1000 + i), Protocol: traffic.ProtocolTCP}
	}
	return ports
}

func fapErrs(mutate func(*traffic.FederatedAccessPoint)) func() field.ErrorList {
	return func() field.ErrorList {
		fap := validFAP()
		mutate(fap)
		return ValidateFederatedAccessPoint(fap)
	}
}

func vipErrs(mutate func(*traffic.VirtualIP)) func() field.ErrorList {
	return func() field.ErrorList {
		vip := validVirtualIP()
		mutate(vip)
		return ValidateVirtualIP(vip)
	}
}

// TestLimits checks every limit at its value (valid) and one above it (an error
// at the field that names the limit).
func TestLimits(t *testing.T) {
	tests := []struct {
		name string
		errs func() field.ErrorList
		want []wantErr
		// limit must appear in the detail of the error.
		limit int
	}{
		{
			name: "hosts at the limit",
			errs: fapErrs(func(f *traffic.FederatedAccessPoint) { f.Spec.Hosts = hostList(MaxHosts) }),
		},
		{
			name:  "too many hosts",
			errs:  fapErrs(func(f *traffic.FederatedAccessPoint) { f.Spec.Hosts = hostList(MaxHosts + 1) }),
			want:  []wantErr{wantTooMany("spec.hosts")},
			limit: MaxHosts,
		},
		{
			name: "too many hosts in a revision",
			errs: func() field.ErrorList {
				r := &traffic.AccessPointRevision{
					ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop"},
					Spec: traffic.AccessPointRevisionSpec{AccessPointRef: traffic.AccessPointReference{Name: "web"}, Revision: 1, Hash: "abc",
						Content: traffic.RevisionContent{Hosts: hostList(MaxHosts + 1)}},
				}
				return ValidateAccessPointRevision(r)
			},
			want:  []wantErr{wantTooMany("spec.content.hosts")},
			limit: MaxHosts,
		},
		{
			name: "templates of one kind at the limit",
			errs: fapErrs(func(f *traffic.FederatedAccessPoint) { f.Spec.Template.DestinationRules = named(MaxTemplatesPerKind) }),
		},
		{
			name: "too many templates of one kind",
			errs: fapErrs(func(f *traffic.FederatedAccessPoint) {
				f.Spec.Template.DestinationRules = named(MaxTemplatesPerKind + 1)
			}),
			want:  []wantErr{wantTooMany("spec.template.destinationRules")},
			limit: MaxTemplatesPerKind,
		},
		{
			name: "templates in total at the limit (the gateway counts)",
			errs: fapErrs(func(f *traffic.FederatedAccessPoint) {
				t := &f.Spec.Template
				t.VirtualServices, t.DestinationRules, t.ServiceEntries, t.WorkloadEntries = named(49), named(50), named(50), named(50)
				t.AuthorizationPolicies, t.RequestAuthentications, t.Telemetries = nil, nil, nil
			}),
		},
		{
			name: "too many templates in total",
			errs: fapErrs(func(f *traffic.FederatedAccessPoint) {
				t := &f.Spec.Template
				t.VirtualServices, t.DestinationRules, t.ServiceEntries, t.WorkloadEntries = named(50), named(50), named(50), named(50)
			}),
			want:  []wantErr{wantTooMany("spec.template")},
			limit: MaxTemplates,
		},
		{
			name: "a template spec at the limit",
			errs: fapErrs(func(f *traffic.FederatedAccessPoint) {
				f.Spec.Template.VirtualServices[0].Spec = sizedObject(MaxTemplateSpecBytes)
			}),
		},
		{
			name: "a template spec too large",
			errs: fapErrs(func(f *traffic.FederatedAccessPoint) {
				f.Spec.Template.VirtualServices[0].Spec = sizedObject(MaxTemplateSpecBytes + 1)
			}),
			want:  []wantErr{wantTooLong("spec.template.virtualServices[0].spec")},
			limit: MaxTemplateSpecBytes,
		},
		{
			name: "the gateway spec too large",
			errs: fapErrs(func(f *traffic.FederatedAccessPoint) {
				gw := sizedObject(MaxTemplateSpecBytes + 1)
				f.Spec.Template.Gateway = &gw
			}),
			want:  []wantErr{wantTooLong("spec.template.gateway")},
			limit: MaxTemplateSpecBytes,
		},
		{
			name: "the template too large",
			errs: fapErrs(func(f *traffic.FederatedAccessPoint) {
				// Each spec is within its limit, together they are not.
				f.Spec.Template.VirtualServices[0].Spec = sizedObject(MaxTemplateSpecBytes)
				f.Spec.Template.VirtualServices[1].Spec = sizedObject(MaxTemplateSpecBytes)
			}),
			want:  []wantErr{wantTooLong("spec.template")},
			limit: MaxTemplateBytes,
		},
		{
			name: "overrides at the limit",
			errs: fapErrs(func(f *traffic.FederatedAccessPoint) { f.Spec.Overrides = overridesOf(MaxOverrides, 1) }),
		},
		{
			name:  "too many overrides",
			errs:  fapErrs(func(f *traffic.FederatedAccessPoint) { f.Spec.Overrides = overridesOf(MaxOverrides+1, 1) }),
			want:  []wantErr{wantTooMany("spec.overrides")},
			limit: MaxOverrides,
		},
		{
			name: "patches of one cluster at the limit",
			errs: fapErrs(func(f *traffic.FederatedAccessPoint) { f.Spec.Overrides = overridesOf(1, MaxPatchesPerOverride) }),
		},
		{
			name:  "too many patches for one cluster",
			errs:  fapErrs(func(f *traffic.FederatedAccessPoint) { f.Spec.Overrides = overridesOf(1, MaxPatchesPerOverride+1) }),
			want:  []wantErr{wantTooMany("spec.overrides[0].clusterOverrides")},
			limit: MaxPatchesPerOverride,
		},
		{
			name: "patches in total at the limit",
			errs: fapErrs(func(f *traffic.FederatedAccessPoint) {
				f.Spec.Overrides = overridesOf(MaxPatches/MaxPatchesPerOverride, MaxPatchesPerOverride)
			}),
		},
		{
			name: "too many patches in total",
			errs: fapErrs(func(f *traffic.FederatedAccessPoint) {
				f.Spec.Overrides = overridesOf(MaxPatches/MaxPatchesPerOverride+1, MaxPatchesPerOverride)
			}),
			want:  []wantErr{wantTooMany("spec.overrides")},
			limit: MaxPatches,
		},
		{
			name: "a patch path at the limit",
			errs: fapErrs(func(f *traffic.FederatedAccessPoint) {
				p := &f.Spec.Overrides[0].ClusterOverrides[0]
				p.Path = "/gateway/" + strings.Repeat("a", MaxPatchPathLength-len("/gateway/"))
			}),
		},
		{
			name: "a patch path too long",
			errs: fapErrs(func(f *traffic.FederatedAccessPoint) {
				p := &f.Spec.Overrides[0].ClusterOverrides[0]
				p.Path = "/gateway/" + strings.Repeat("a", MaxPatchPathLength)
			}),
			want:  []wantErr{wantTooLong("spec.overrides[0].clusterOverrides[0].path")},
			limit: MaxPatchPathLength,
		},
		{
			name: "patch values at the limit",
			errs: fapErrs(func(f *traffic.FederatedAccessPoint) {
				o := f.Spec.Overrides
				// The remove patch has no value; the others share the limit.
				o[0].ClusterOverrides[0].Value = sizedValue(MaxOverrideValueBytes - len(`{}`) - len(`8443`))
			}),
		},
		{
			name: "patch values too large together",
			errs: fapErrs(func(f *traffic.FederatedAccessPoint) {
				o := f.Spec.Overrides
				o[0].ClusterOverrides[0].Value = sizedValue(MaxOverrideValueBytes / 2)
				o[1].ClusterOverrides[0].Value = sizedValue(MaxOverrideValueBytes / 2)
			}),
			want:  []wantErr{wantTooLong("spec.overrides")},
			limit: MaxOverrideValueBytes,
		},
		{
			name: "load-balancer ports at the limit",
			errs: fapErrs(func(f *traffic.FederatedAccessPoint) { f.Spec.LoadBalancer.Ports = portList(MaxPorts) }),
		},
		{
			name:  "too many load-balancer ports",
			errs:  fapErrs(func(f *traffic.FederatedAccessPoint) { f.Spec.LoadBalancer.Ports = portList(MaxPorts + 1) }),
			want:  []wantErr{wantTooMany("spec.loadBalancer.ports")},
			limit: MaxPorts,
		},
		{
			name: "health-check interval at the minimum",
			errs: fapErrs(func(f *traffic.FederatedAccessPoint) {
				f.Spec.LoadBalancer.HealthCheck.Interval = duration(MinHealthCheckInterval)
				f.Spec.LoadBalancer.HealthCheck.Timeout = duration(MinHealthCheckInterval)
			}),
		},
		{
			name: "health-check interval below the minimum",
			errs: fapErrs(func(f *traffic.FederatedAccessPoint) {
				f.Spec.LoadBalancer.HealthCheck.Interval = duration(MinHealthCheckInterval - time.Millisecond)
				f.Spec.LoadBalancer.HealthCheck.Timeout = duration(100 * time.Millisecond)
			}),
			want: []wantErr{invalid("spec.loadBalancer.healthCheck.interval")},
		},
		{
			name: "VirtualIP ports at the limit",
			errs: vipErrs(func(v *traffic.VirtualIP) { v.Spec.Ports = portList(MaxPorts) }),
		},
		{
			name:  "too many VirtualIP ports",
			errs:  vipErrs(func(v *traffic.VirtualIP) { v.Spec.Ports = portList(MaxPorts + 1) }),
			want:  []wantErr{wantTooMany("spec.ports")},
			limit: MaxPorts,
		},
		{
			name: "backends at the limit",
			errs: vipErrs(func(v *traffic.VirtualIP) { v.Spec.Backends = backendList(MaxBackends) }),
		},
		{
			name:  "too many backends",
			errs:  vipErrs(func(v *traffic.VirtualIP) { v.Spec.Backends = backendList(MaxBackends + 1) }),
			want:  []wantErr{wantTooMany("spec.backends")},
			limit: MaxBackends,
		},
		{
			name: "VirtualIP health-check interval at its minimum",
			errs: vipErrs(func(v *traffic.VirtualIP) {
				v.Spec.HealthCheck.Interval = duration(MinVirtualIPHealthCheckInterval)
				v.Spec.HealthCheck.Timeout = duration(MinVirtualIPHealthCheckInterval)
			}),
		},
		{
			name: "VirtualIP health-check interval below its minimum",
			errs: vipErrs(func(v *traffic.VirtualIP) {
				v.Spec.HealthCheck.Interval = duration(MinVirtualIPHealthCheckInterval - time.Millisecond)
				v.Spec.HealthCheck.Timeout = duration(10 * time.Millisecond)
			}),
			want: []wantErr{invalid("spec.healthCheck.interval")},
		},
		{
			name: "pool CIDRs at the limit",
			errs: func() field.ErrorList { return ValidateVIPPool(poolOf(MaxPoolCIDRs)) },
		},
		{
			name:  "too many pool CIDRs",
			errs:  func() field.ErrorList { return ValidateVIPPool(poolOf(MaxPoolCIDRs + 1)) },
			want:  []wantErr{wantTooMany("spec.cidrs")},
			limit: MaxPoolCIDRs,
		},
		{
			name: "NameService addresses at the limit",
			errs: func() field.ErrorList { return ValidateNameService(nameServiceOf(MaxNameServiceAddresses)) },
		},
		{
			name:  "too many NameService addresses",
			errs:  func() field.ErrorList { return ValidateNameService(nameServiceOf(MaxNameServiceAddresses + 1)) },
			want:  []wantErr{wantTooMany("spec.target.addresses")},
			limit: MaxNameServiceAddresses,
		},
		{
			name: "NameService records at the limit",
			errs: func() field.ErrorList {
				return ValidateNameServiceStatus(nameServiceWithRecords(MaxNameServiceAddresses))
			},
		},
		{
			name: "too many NameService records",
			errs: func() field.ErrorList {
				return ValidateNameServiceStatus(nameServiceWithRecords(MaxNameServiceAddresses + 1))
			},
			want:  []wantErr{wantTooMany("status.records")},
			limit: MaxNameServiceAddresses,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := tt.errs()
			expectErrors(t, errs, tt.want...)
			for _, e := range errs {
				if tt.limit > 0 && !strings.Contains(e.Detail, strconv.Itoa(tt.limit)) {
					t.Errorf("%s: the detail %q does not name the limit %d", e.Field, e.Detail, tt.limit)
				}
			}
		})
	}
}

// TestHealthCheckIntervalMessage checks that the error says what the minimum is.
func TestHealthCheckIntervalMessage(t *testing.T) {
	fap := validFAP()
	fap.Spec.LoadBalancer.HealthCheck.Interval = duration(500 * time.Millisecond)
	fap.Spec.LoadBalancer.HealthCheck.Timeout = duration(100 * time.Millisecond)
	errs := ValidateFederatedAccessPoint(fap)
	if len(errs) != 1 || !strings.Contains(errs[0].Detail, "at least 1s") {
		t.Fatalf("errors = %v, want one saying the interval must be at least 1s", errs)
	}
}

func backendList(n int) []traffic.Backend {
	backends := make([]traffic.Backend, n)
	for i := range backends {
		backends[i] = traffic.Backend{Address: fmt.Sprintf("10.%d.%d.10", i/256, i%256), Cluster: "east-1", Zone: "zone-a"}
	}
	return backends
}

func poolOf(n int) *traffic.VIPPool {
	pool := validVIPPool()
	pool.Spec.CIDRs = nil
	for i := 0; i < n; i++ {
		pool.Spec.CIDRs = append(pool.Spec.CIDRs, fmt.Sprintf("198.51.%d.%d/32", i/256, i%256))
	}
	return pool
}

func nameServiceOf(addresses int) *traffic.NameService {
	ns := validNameService()
	ns.Spec.Target = traffic.NameServiceTarget{}
	for i := 0; i < addresses; i++ {
		ns.Spec.Target.Addresses = append(ns.Spec.Target.Addresses, fmt.Sprintf("203.0.113.%d", i))
	}
	return ns
}

func nameServiceWithRecords(n int) *traffic.NameService {
	ns := validNameService()
	for i := 0; i < n; i++ {
		ns.Status.Records = append(ns.Status.Records, traffic.DNSRecord{Type: "A", Value: fmt.Sprintf("203.0.113.%d", i)})
	}
	return ns
}

// TestUpdatesRatchetLimits checks that an object stored beyond a limit can
// still be updated, unless the update makes the violation new or larger.
func TestUpdatesRatchetLimits(t *testing.T) {
	old := validFAP()
	old.ResourceVersion = "1"
	old.Spec.Hosts = hostList(MaxHosts + 1)
	old.Spec.LoadBalancer.HealthCheck.Interval = duration(500 * time.Millisecond)
	old.Spec.LoadBalancer.HealthCheck.Timeout = duration(100 * time.Millisecond)

	// Labels and finalizers change; the violations stay as they were.
	fap := old.DeepCopy()
	fap.Labels = map[string]string{"team": "a"}
	fap.Finalizers = nil
	expectErrors(t, ValidateFederatedAccessPointUpdate(fap, old))

	// Another field breaks a limit: that error is reported, not the old ones.
	fap.Spec.LoadBalancer.Ports = portList(MaxPorts + 1)
	expectErrors(t, ValidateFederatedAccessPointUpdate(fap, old), wantTooMany("spec.loadBalancer.ports"))

	// A violation that grows or changes is reported.
	fap = old.DeepCopy()
	fap.Spec.Hosts = hostList(MaxHosts + 2)
	fap.Spec.LoadBalancer.HealthCheck.Interval = duration(200 * time.Millisecond)
	expectErrors(t, ValidateFederatedAccessPointUpdate(fap, old),
		wantTooMany("spec.hosts"), invalid("spec.loadBalancer.healthCheck.interval"))

	// Errors that are not limits are never ratcheted.
	fap = old.DeepCopy()
	fap.Spec.LoadBalancer.Pool = ""
	expectErrors(t, ValidateFederatedAccessPointUpdate(fap, old), required("spec.loadBalancer.pool"))

	// The same for the other kinds with limits.
	oldVIP := validVirtualIP()
	oldVIP.ResourceVersion = "1"
	oldVIP.Spec.Backends = backendList(MaxBackends + 1)
	vip := oldVIP.DeepCopy()
	vip.Labels = map[string]string{"a": "b"}
	expectErrors(t, ValidateVirtualIPUpdate(vip, oldVIP))
	vip.Spec.Backends = backendList(MaxBackends + 2)
	expectErrors(t, ValidateVirtualIPUpdate(vip, oldVIP), wantTooMany("spec.backends"))

	oldPool, pool := poolOf(MaxPoolCIDRs+1), poolOf(MaxPoolCIDRs+2)
	oldPool.ResourceVersion, pool.ResourceVersion = "1", "1"
	expectErrors(t, ValidateVIPPoolUpdate(oldPool.DeepCopy(), oldPool))
	expectErrors(t, ValidateVIPPoolUpdate(pool, oldPool), wantTooMany("spec.cidrs"))

	oldNS, ns := nameServiceOf(MaxNameServiceAddresses+1), nameServiceOf(MaxNameServiceAddresses+2)
	oldNS.ResourceVersion, ns.ResourceVersion = "1", "1"
	expectErrors(t, ValidateNameServiceUpdate(oldNS.DeepCopy(), oldNS))
	expectErrors(t, ValidateNameServiceUpdate(ns, oldNS), wantTooMany("spec.target.addresses"))
}
