// Package fuzzer fills traffic.portico.dev objects with random values for the
// round-trip tests: every field that v1alpha1 defaulting fills is given a value and
// the verbatim JSON fields hold valid JSON, so internal → v1alpha1 → internal is exact.
package fuzzer

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeserializer "k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/randfill"

	"github.com/portico-dev/portico/apis/traffic"
)

// Funcs returns the fuzzer functions of the traffic API group.
var Funcs = func(codecs runtimeserializer.CodecFactory) []interface{} {
	return []interface{}{
		fuzzJSONObject,
		fuzzJSONValue,
		fuzzTemplate,
		fuzzOverridePatch,
		fuzzPort,
		fuzzLoadBalancer,
		fuzzCrossZone,
		fuzzHealthCheck,
		func(s *traffic.TLSSpec, c randfill.Continue) {
			c.FillNoCustom(s)
			s.Mode = pick(c, traffic.TLSModeSimple, traffic.TLSModeMutual)
		},
		func(s *traffic.RolloutSpec, c randfill.Continue) {
			c.FillNoCustom(s)
			s.Strategy = pick(c, traffic.RolloutAllAtOnce, traffic.RolloutStaged)
			if s.RevisionHistoryLimit == nil {
				s.RevisionHistoryLimit = int32Ptr(traffic.DefaultRevisionHistoryLimit)
			}
		},
		func(s *traffic.LocalitySpec, c randfill.Continue) {
			s.Mode = pick(c, traffic.LocalityNone, traffic.LocalityFailover, traffic.LocalityWeighted)
		},
		func(s *traffic.VirtualIPSpec, c randfill.Continue) {
			c.FillNoCustom(s)
			s.Scheduler = pick(c, traffic.SchedulerMaglev, "sh", "rr", "wrr", "lc", "wlc")
			s.Forwarding = pick(c, traffic.ForwardingTunnel, "route")
		},
		func(s *traffic.NameServiceSpec, c randfill.Continue) {
			c.FillNoCustom(s)
			s.TTL = int32Ptr(1 + c.Int31n(604800))
		},
		func(ca *traffic.CAIssuer, c randfill.Continue) {
			c.FillNoCustom(ca)
			ca.Duration = &metav1.Duration{Duration: time.Duration(1+c.Int63n(1000)) * time.Hour}
		},
		func(a *traffic.ACMEIssuer, c randfill.Continue) {
			c.FillNoCustom(a)
			if len(a.CABundle) == 0 {
				a.CABundle = nil // omitempty: an empty bundle is no bundle
			}
		},
		func(p *traffic.RFC2136Provider, c randfill.Continue) {
			c.FillNoCustom(p)
			p.TSIGAlgorithm = pick(c, "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512")
		},
	}
}

// fuzzJSONObject makes nil or a small JSON object with random string values. The
// values come from encoding/json, so they are already in the form the JSON
// serializer writes (compact, HTML characters escaped) and survive it verbatim.
func fuzzJSONObject(j *traffic.JSONObject, c randfill.Continue) {
	if c.Intn(4) == 0 {
		j.Raw = nil
		return
	}
	j.Raw = []byte(randomObject(c))
}

// fuzzJSONValue makes nil or any kind of JSON value.
func fuzzJSONValue(j *traffic.JSONValue, c randfill.Continue) {
	var v string
	switch c.Intn(7) {
	case 0:
		j.Raw = nil
		return
	case 1:
		v = jsonString(c.String(0))
	case 2:
		v = strconv.FormatInt(c.Int63()-c.Int63(), 10)
	case 3:
		v = strconv.FormatFloat(c.NormFloat64(), 'g', -1, 64)
	case 4:
		v = strconv.FormatBool(c.Bool())
	case 5:
		v = randomObject(c)
	default:
		v = "[" + jsonString(c.String(0)) + "," + strconv.Itoa(c.Int()) + "]"
	}
	j.Raw = []byte(v)
}

func randomObject(c randfill.Continue) string {
	n := c.Intn(1000)
	switch c.Intn(3) {
	case 0:
		return "{}"
	case 1:
		return fmt.Sprintf(`{"k%d":%s}`, n, jsonString(c.String(0)))
	default:
		return fmt.Sprintf(`{"k%d":%s,"k%d":{"n":%d}}`, n, jsonString(c.String(0)), n+1, c.Int31())
	}
}

func jsonString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// fuzzTemplate drops an empty gateway: a non-nil gateway without content is written
// as "gateway": null, which reads back as no gateway.
func fuzzTemplate(t *traffic.AccessPointTemplate, c randfill.Continue) {
	c.FillNoCustom(t)
	if t.Gateway != nil && len(t.Gateway.Raw) == 0 {
		t.Gateway = nil
	}
}

// fuzzOverridePatch fills the defaulted op and drops an empty value ("value": null
// reads back as no value).
func fuzzOverridePatch(p *traffic.OverridePatch, c randfill.Continue) {
	c.FillNoCustom(p)
	p.Op = pick(c, traffic.OverrideAdd, traffic.OverrideRemove, traffic.OverrideReplace)
	if p.Value != nil && len(p.Value.Raw) == 0 {
		p.Value = nil
	}
}

func fuzzPort(p *traffic.Port, c randfill.Continue) {
	c.FillNoCustom(p)
	p.Protocol = pick(c, traffic.ProtocolTCP, traffic.ProtocolUDP)
}

// fuzzLoadBalancer always sets crossZone and healthCheck, which v1alpha1 defaults.
func fuzzLoadBalancer(lb *traffic.LoadBalancerSpec, c randfill.Continue) {
	c.FillNoCustom(lb)
	if lb.CrossZone == nil {
		lb.CrossZone = &traffic.CrossZone{}
		c.Fill(lb.CrossZone)
	}
	if lb.HealthCheck == nil {
		lb.HealthCheck = &traffic.HealthCheck{}
		c.Fill(lb.HealthCheck)
	}
}

func fuzzCrossZone(cz *traffic.CrossZone, c randfill.Continue) {
	c.FillNoCustom(cz)
	cz.LocalWeight = int32Ptr(c.Int31n(65536))
	cz.RemoteWeight = int32Ptr(c.Int31n(65536))
}

func fuzzHealthCheck(hc *traffic.HealthCheck, c randfill.Continue) {
	c.FillNoCustom(hc)
	hc.Type = pick(c, traffic.HealthCheckTCP, traffic.HealthCheckHTTP)
	hc.Interval = &metav1.Duration{Duration: time.Duration(1+c.Intn(60000)) * time.Millisecond}
	hc.Timeout = &metav1.Duration{Duration: time.Duration(1+c.Intn(60000)) * time.Millisecond}
	hc.HealthyThreshold = int32Ptr(1 + c.Int31n(10))
	hc.UnhealthyThreshold = int32Ptr(1 + c.Int31n(10))
}

func pick(c randfill.Continue, values ...string) string {
	return values[c.Intn(len(values))]
}

func int32Ptr(v int32) *int32 { return &v }
