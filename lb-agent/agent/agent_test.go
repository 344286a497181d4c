package agent

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // substring of the error; empty for valid
	}{
		{[]string{"--hub-kubeconfig=k", "--group=zone-a", "--address=10.0.0.2", "--node-name=n"}, ""},
		{[]string{"--group=zone-a", "--address=10.0.0.2"}, "--hub-kubeconfig is required"},
		{[]string{"--hub-kubeconfig=k", "--address=10.0.0.2"}, "--group is required"},
		{[]string{"--hub-kubeconfig=k", "--group=g"}, "--address is required"},
		{[]string{"--hub-kubeconfig=k", "--group=g", "--address=2001:db8::1"}, "not an IPv4 address"},
		{[]string{"--hub-kubeconfig=k", "--group=g", "--address=10.0.0.2", "--resync-period=0s"}, "--resync-period must be positive"},
		{[]string{"--hub-kubeconfig=k", "--group=g", "--address=10.0.0.2", "--hub-kubeconfig-secret=portico-system/lb-agent-hub-n"}, ""},
		{[]string{"--hub-kubeconfig=k", "--group=g", "--address=10.0.0.2", "--hub-kubeconfig-secret=lb-agent-hub-n"}, `--hub-kubeconfig-secret "lb-agent-hub-n" must be NAMESPACE/NAME`},
		{[]string{"--hub-kubeconfig=k", "--group=g", "--address=10.0.0.2", "--hub-kubeconfig-secret=a/b/c"}, "must be NAMESPACE/NAME"},
		{[]string{"--hub-kubeconfig=k", "--group=g", "--address=10.0.0.2", "--kubeconfig=edge"}, "--kubeconfig is only used with --hub-kubeconfig-secret"},
		{[]string{"--hub-kubeconfig=k", "--group=g", "--address=10.0.0.2", "--hub-token-renew-fraction=1"}, "--hub-token-renew-fraction 1 must be between 0 and 1"},
		{[]string{"--hub-kubeconfig=k", "--group=g", "--address=10.0.0.2", "--node-name=a/b"}, `--node-name "a/b" names the state file`},
		{[]string{"--hub-kubeconfig=k", "--group=g", "--address=10.0.0.2", "--node-name=a/b", "--state-dir="}, ""},
		{[]string{"--hub-kubeconfig=k", "--group=g", "--address=10.0.0.2", "--withdraw-hold-fraction=1", "--withdraw-hold-min=1"}, ""},
		{[]string{"--hub-kubeconfig=k", "--group=g", "--address=10.0.0.2", "--withdraw-hold-fraction=0"}, "--withdraw-hold-fraction 0 must be more than 0"},
		{[]string{"--hub-kubeconfig=k", "--group=g", "--address=10.0.0.2", "--withdraw-hold-fraction=1.5"}, "--withdraw-hold-fraction 1.5 must be more than 0"},
		{[]string{"--hub-kubeconfig=k", "--group=g", "--address=10.0.0.2", "--withdraw-hold-min=0"}, "--withdraw-hold-min 0 must be at least 1"},
	} {
		o := NewOptions()
		fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
		o.AddFlags(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		err := o.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}
