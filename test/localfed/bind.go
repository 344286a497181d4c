package localfed

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// TSIGKey is a TSIG key BIND accepts RFC 2136 updates from (hmac-sha256).
type TSIGKey struct {
	Name   string // e.g. "portico-local."
	Secret string // base64
}

// LookNamed returns BIND's named (Debian puts it in /usr/sbin, not on every
// PATH), installing BIND with hack/install-bind.sh when it is missing.
func LookNamed() (string, error) {
	find := func() (string, bool) {
		if p, err := exec.LookPath("named"); err == nil {
			return p, true
		}
		_, err := os.Stat("/usr/sbin/named")
		return "/usr/sbin/named", err == nil
	}
	if p, ok := find(); ok {
		return p, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	out, err := exec.Command(filepath.Join(root, "hack", "install-bind.sh")).CombinedOutput()
	if p, ok := find(); ok {
		return p, nil
	}
	return "", fmt.Errorf("BIND 9 (named) is missing and hack/install-bind.sh could not install it (apt-get install bind9): %v\n%s", err, out)
}

// NamedConfig is a named.conf for one primary zone (file zone.db in dir) on
// 127.0.0.1:port, accepting updates signed with any of keys; no recursion, no
// rndc port.
func NamedConfig(dir string, port int, zone string, keys ...TSIGKey) string {
	var b strings.Builder
	var grants []string
	for _, k := range keys {
		fmt.Fprintf(&b, "key %q { algorithm hmac-sha256; secret %q; };\n", k.Name, k.Secret)
		grants = append(grants, "grant "+k.Name+" zonesub ANY;")
	}
	fmt.Fprintf(&b, `options {
	directory %q;
	listen-on port %d { 127.0.0.1; };
	listen-on-v6 { none; };
	pid-file none;
	session-keyfile none;
	recursion no;
	notify no;
	dnssec-validation no;
	allow-transfer { none; };
};
controls { };
zone %q {
	type primary;
	file "zone.db";
	update-policy { %s };
};
`, dir, port, zone, strings.Join(grants, " "))
	return b.String()
}

// ZoneFile is the initial zone.db of zone: SOA, NS and the name server's A.
func ZoneFile(zone string) string {
	z := strings.TrimSuffix(zone, ".") + "."
	return fmt.Sprintf("$TTL 300\n@\tIN SOA\tns.%[1]s hostmaster.%[1]s 1 3600 600 86400 60\n@\tIN NS\tns.%[1]s\nns\tIN A\t127.0.0.1\n", z)
}
