package bgp

import (
	"fmt"
	"sort"
	"strings"

	"github.com/osrg/gobgp/v3/pkg/log"
	"k8s.io/klog/v2"
)

// logger sends gobgp's logs to klog: errors and warnings always, information at
// -v=2, debugging at -v=5.
type logger struct{}

func newLogger() log.Logger { return logger{} }

func format(msg string, fields log.Fields) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("gobgp: " + msg)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%v", k, fields[k])
	}
	return b.String()
}

func (logger) Panic(msg string, f log.Fields) { klog.ErrorDepth(1, format(msg, f)); panic(msg) }
func (logger) Fatal(msg string, f log.Fields) { klog.FatalDepth(1, format(msg, f)) }
func (logger) Error(msg string, f log.Fields) { klog.ErrorDepth(1, format(msg, f)) }
func (logger) Warn(msg string, f log.Fields)  { klog.WarningDepth(1, format(msg, f)) }
func (logger) Info(msg string, f log.Fields)  { klog.V(2).InfoDepth(1, format(msg, f)) }
func (logger) Debug(msg string, f log.Fields) { klog.V(5).InfoDepth(1, format(msg, f)) }
func (logger) SetLevel(log.LogLevel)          {}
func (logger) GetLevel() log.LogLevel {
	if klog.V(5).Enabled() {
		return log.DebugLevel
	}
	return log.InfoLevel
}
