package install

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/apitesting/roundtrip"

	clusterfuzzer "github.com/portico-dev/portico/apis/cluster/fuzzer"
)

func TestRoundTripTypes(t *testing.T) {
	roundtrip.RoundTripTestForAPIGroup(t, Install, clusterfuzzer.Funcs)
}
