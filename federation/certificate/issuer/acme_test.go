package issuer

import (
	"context"
	"strings"
	"testing"
)

type nopSolver struct{}

func (nopSolver) Present(context.Context, string, string) error { return nil }
func (nopSolver) CleanUp(context.Context, string, string) error { return nil }

func TestNewACMEConfig(t *testing.T) {
	key, _, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	good := ACMEConfig{Server: "https://127.0.0.1:14000/dir", AccountKey: key, Solver: nopSolver{}}
	iss, err := NewACME(good)
	if err != nil {
		t.Fatalf("NewACME: %v", err)
	}
	if a := iss.(*acmeIssuer); a.timeout != DefaultPropagationTimeout {
		t.Errorf("PropagationTimeout defaulted to %v", a.timeout)
	}
	for name, tc := range map[string]struct {
		mutate func(*ACMEConfig)
		want   string
	}{
		"no server":     {func(c *ACMEConfig) { c.Server = "" }, "not an http(s) URL"},
		"relative URL":  {func(c *ACMEConfig) { c.Server = "/dir" }, "not an http(s) URL"},
		"no key":        {func(c *ACMEConfig) { c.AccountKey = nil }, "account key is required"},
		"no solver":     {func(c *ACMEConfig) { c.Solver = nil }, "solver is required"},
		"garbage roots": {func(c *ACMEConfig) { c.CABundle = []byte("not PEM") }, "holds no PEM certificate"},
	} {
		cfg := good
		tc.mutate(&cfg)
		if _, err := NewACME(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, tc.want)
		}
	}
	// Hosts are checked before anything is sent.
	if _, err := iss.Issue(context.Background(), []string{"Bad_Host"}); err == nil || !strings.Contains(err.Error(), "not a DNS name") {
		t.Errorf("Issue with a bad host: %v", err)
	}
}

func TestChallengeName(t *testing.T) {
	for host, want := range map[string]string{
		"shop.example.com":   "_acme-challenge.shop.example.com.",
		"*.shop.example.com": "_acme-challenge.shop.example.com.",
		"example.com.":       "_acme-challenge.example.com.",
	} {
		if got := ChallengeName(host); got != want {
			t.Errorf("ChallengeName(%q) = %q, want %q", host, got, want)
		}
	}
}

func TestRFC2136SolverWithoutClient(t *testing.T) {
	var s DNS01Solver = RFC2136Solver{}
	if err := s.Present(context.Background(), "_acme-challenge.a.example.com.", "v"); err == nil {
		t.Error("Present without a client succeeded")
	}
	if err := s.CleanUp(context.Background(), "_acme-challenge.a.example.com.", "v"); err == nil {
		t.Error("CleanUp without a client succeeded")
	}
}
