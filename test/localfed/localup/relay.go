package localup

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/portico-dev/portico/test/localfed"
)

// RelayConfig is what the relay process (`local-up relay FILE`) serves.
type RelayConfig struct {
	// Forwards make a host address reachable inside a network namespace: the
	// edge VMs reach the hub cluster (127.0.0.1 on the host) at their router's
	// address.
	Forwards []Forward `json:"forwards"`
	// Gateways are the stand-in ingress gateways: an HTTP server on every
	// listed address inside a namespace, answering the lb-agents' health checks.
	Gateways []Gateway `json:"gateways"`
}

// Forward relays TCP connections accepted on Listen inside Netns to To (dialed
// from the host's namespace).
type Forward struct {
	Netns  string `json:"netns"`
	Listen string `json:"listen"`
	To     string `json:"to"`
}

// Gateway serves HTTP on Listen addresses inside Netns.
type Gateway struct {
	Netns   string   `json:"netns"`
	Cluster string   `json:"cluster"`
	Listen  []string `json:"listen"`
}

// RunRelay serves cfg until ctx is done.
func RunRelay(ctx context.Context, cfg RelayConfig) error {
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	listen := func(ns, addr string) (net.Listener, error) {
		l, err := ListenIn(ns, addr)
		if err != nil {
			return nil, fmt.Errorf("listening on %s in %s: %w", addr, ns, err)
		}
		listeners = append(listeners, l)
		return l, nil
	}
	for _, f := range cfg.Forwards {
		l, err := listen(f.Netns, f.Listen)
		if err != nil {
			return err
		}
		go forward(l, f.To)
	}
	for _, g := range cfg.Gateways {
		body := fmt.Sprintf("stand-in ingress gateway of member cluster %s\n", g.Cluster)
		srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, body)
		})}
		for _, addr := range g.Listen {
			l, err := listen(g.Netns, addr)
			if err != nil {
				return err
			}
			go func() { _ = srv.Serve(l) }()
		}
	}
	fmt.Printf("relay: %d forwards, %d gateways\n", len(cfg.Forwards), len(cfg.Gateways))
	<-ctx.Done()
	return nil
}

func forward(l net.Listener, to string) {
	for {
		in, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer in.Close()
			out, err := net.DialTimeout("tcp", to, 5*time.Second)
			if err != nil {
				return
			}
			defer out.Close()
			go func() { _, _ = io.Copy(out, in); out.(*net.TCPConn).CloseWrite() }()
			_, _ = io.Copy(in, out)
		}()
	}
}

// ReadRelayConfig reads a RelayConfig written by startRelay.
func ReadRelayConfig(path string) (RelayConfig, error) {
	var cfg RelayConfig
	b, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(b, &cfg)
	}
	return cfg, err
}

// relayConfig forwards the hub cluster's port from every router address and
// serves each zone's gateway addresses on ports 80 and 443 (the access points'
// load-balancer ports, which the lb-agents health-check).
func relayConfig(n *network, hubPort int) RelayConfig {
	var cfg RelayConfig
	hub := fmt.Sprintf("127.0.0.1:%d", hubPort)
	for _, z := range Zones {
		cfg.Forwards = append(cfg.Forwards, Forward{Netns: n.Router, Listen: fmt.Sprintf("%s:%d", z.RouterAddress(), hubPort), To: hub})
		g := Gateway{Netns: n.Gateways[z.Cluster], Cluster: z.Cluster}
		for _, a := range z.GatewayAddresses() {
			g.Listen = append(g.Listen, a+":80", a+":443")
		}
		cfg.Gateways = append(cfg.Gateways, g)
	}
	return cfg
}

// startRelay builds hack/local-up and runs `local-up relay` with cfg.
func startRelay(ctx context.Context, root, dir string, cfg RelayConfig, detach bool) (*localfed.Process, error) {
	bin := filepath.Join(root, "_output", "bin", "local-up")
	cmd := exec.Command("go", "build", "-o", bin, "./hack/local-up")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./hack/local-up: %v\n%s", err, out)
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "relay.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return nil, err
	}
	p, err := localfed.StartProcess(localfed.ProcessOptions{Name: "relay", Path: bin, Args: []string{"relay", path},
		LogPath: filepath.Join(dir, "relay.log"), Detach: detach})
	if err != nil {
		return nil, err
	}
	listening := func(context.Context) error {
		conn, err := DialIn(cfg.Forwards[0].Netns, cfg.Forwards[0].Listen)
		if err == nil {
			conn.Close()
		}
		return err
	}
	if err := localfed.WaitUntil(ctx, 30*time.Second, listening, p); err != nil {
		_ = p.Stop()
		return nil, fmt.Errorf("the relay did not start: %w\n%s", err, p.LogTail(20))
	}
	return p, nil
}
