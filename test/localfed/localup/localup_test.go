package localup

import (
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestWriteCPIO(t *testing.T) {
	if _, err := exec.LookPath("cpio"); err != nil {
		t.Skip("cpio not installed")
	}
	var buf bytes.Buffer
	files := []cpioFile{
		{Name: "vm/args", Mode: 0o644, Data: []byte("--a\n--b\n")},
		{Name: "vm/lb-agent", Mode: 0o755, Data: []byte("odd length")},
		{Name: "etc/x/y", Mode: 0o600},
	}
	if err := writeCPIO(&buf, files); err != nil {
		t.Fatal(err)
	}
	if buf.Len()%4 != 0 {
		t.Errorf("archive length %d is not a multiple of 4", buf.Len())
	}
	cmd := exec.Command("cpio", "-it", "--quiet")
	cmd.Stdin = &buf
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -it: %v\n%s", err, out)
	}
	got := strings.Fields(string(out))
	want := []string{"etc", "etc/x", "etc/x/y", "vm", "vm/args", "vm/lb-agent"}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("archive lists %v, want %v", got, want)
	}
}

func TestTopology(t *testing.T) {
	n := newNetwork("p")
	if got := n.names(); !slices.Equal(got, []string{"p-router", "p-gw-zone-a-1", "p-gw-zone-b-1"}) {
		t.Errorf("namespaces %v", got)
	}
	for _, z := range Zones {
		for _, name := range []string{tapName(z), vethName(z)} {
			if len(name) > 15 {
				t.Errorf("interface name %q is longer than 15 bytes", name)
			}
		}
	}
	cfg := relayConfig(n, 6443)
	if len(cfg.Forwards) != 2 || cfg.Forwards[1] != (Forward{Netns: "p-router", Listen: "10.1.0.1:6443", To: "127.0.0.1:6443"}) {
		t.Errorf("forwards %+v", cfg.Forwards)
	}
	if g := cfg.Gateways[0]; g.Netns != "p-gw-zone-a-1" || !slices.Equal(g.Listen, []string{"10.0.0.20:80", "10.0.0.20:443", "10.0.0.21:80", "10.0.0.21:443"}) {
		t.Errorf("gateway %+v", g)
	}
	conf := birdConf()
	for _, want := range []string{"local 10.0.0.1 as 64500;", "neighbor range 10.1.0.0/24 external;", "merge paths on;"} {
		if !strings.Contains(conf, want) {
			t.Errorf("bird.conf lacks %q:\n%s", want, conf)
		}
	}
}
