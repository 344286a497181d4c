package localup

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/portico-dev/portico/test/localfed"
)

// Settings of the edge VMs.
const (
	// MetricsPort is where each lb-agent serves /healthz and /metrics, on its
	// node address (reachable from the router namespace).
	MetricsPort = 9474
	// DrainPeriod is the lb-agents' --drain-period: after a stop request a node
	// withdraws its routes, keeps serving this long, then powers off.
	DrainPeriod = 3 * time.Second
	vmMemoryMiB = 512
	// vmAccelEnv forces the accelerator (kvm or tcg) instead of probing.
	vmAccelEnv = "PORTICO_VM_ACCEL"
)

// vmAssets is what an edge VM boots.
type vmAssets struct {
	kernel  string
	initrds []string // base.cpio.gz and lb.cpio.gz of hack/vm/build-lb.sh
	accel   string   // kvm or tcg
	agent   string   // lb-agent built with CGO_ENABLED=0
}

// prepareVMs builds (or finds cached) the VM assets and the static lb-agent.
func prepareVMs(root string) (*vmAssets, error) {
	out, err := exec.Command(filepath.Join(root, "hack", "vm", "build-lb.sh")).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		return nil, fmt.Errorf("%w: hack/vm/build-lb.sh: %v\n%s", ErrMissing, err, stderr)
	}
	dir := strings.TrimSpace(string(out))
	a := &vmAssets{kernel: filepath.Join(dir, "vmlinuz"),
		initrds: []string{filepath.Join(dir, "base.cpio.gz"), filepath.Join(dir, "lb.cpio.gz")}}
	if a.accel, err = vmAccel(dir, a.kernel, a.initrds[0]); err != nil {
		return nil, err
	}
	a.agent = filepath.Join(root, "_output", "bin", "static", "lb-agent")
	cmd := exec.Command("go", "build", "-o", a.agent, "./cmd/lb-agent")
	cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./cmd/lb-agent (static): %v\n%s", err, out)
	}
	return a, nil
}

// vmAccel returns kvm when /dev/kvm boots the VM, tcg (software emulation)
// otherwise. /dev/kvm can exist and still fail (nested virtualization without
// the needed features): a VM with an empty workload must power off within a
// few seconds. The answer is cached per host kernel in dir.
func vmAccel(dir, kernel, initrd string) (string, error) {
	if a := os.Getenv(vmAccelEnv); a == "kvm" || a == "tcg" {
		return a, nil
	}
	if _, err := os.Stat("/dev/kvm"); err != nil {
		return "tcg", nil
	}
	uname, _ := exec.Command("uname", "-r").Output()
	cache := filepath.Join(dir, "accel-"+strings.TrimSpace(string(uname)))
	if b, err := os.ReadFile(cache); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	tmp, err := os.CreateTemp("", "portico-kvm-probe-*")
	if err != nil {
		return "", err
	}
	tmp.Close()
	probe := tmp.Name()
	defer os.Remove(probe)
	var buf bytes.Buffer
	if err := writeCPIO(&buf, []cpioFile{{Name: "vm/test.bin", Mode: 0o755, Data: []byte("#!/bin/sh\n")},
		{Name: "vm/args", Mode: 0o644}}); err != nil {
		return "", err
	}
	if err := concatInitrd(probe, []string{initrd}, buf.Bytes()); err != nil {
		return "", err
	}
	cmd := exec.Command("timeout", "-k", "1", "8", "qemu-system-x86_64", "-accel", "kvm", "-cpu", "host", "-m", "256",
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-serial", "stdio",
		"-kernel", kernel, "-initrd", probe, "-append", "console=ttyS0 quiet panic=-1 loglevel=3")
	out, _ := cmd.CombinedOutput()
	accel := "tcg"
	if bytes.Contains(out, []byte("PORTICO_VM_EXIT=0")) {
		accel = "kvm"
	}
	return accel, os.WriteFile(cache, []byte(accel+"\n"), 0o644)
}

// concatInitrd writes the compressed archives followed by an uncompressed one:
// the kernel unpacks them in order, and wants an uncompressed archive to start
// at a multiple of 4 bytes (zero padding is skipped).
func concatInitrd(path string, compressed []string, last []byte) error {
	var buf bytes.Buffer
	for _, c := range compressed {
		b, err := os.ReadFile(c)
		if err != nil {
			return err
		}
		buf.Write(b)
	}
	buf.Write(make([]byte, (512-buf.Len()%512)%512))
	buf.Write(last)
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// LBNode is an L4 edge node: a qemu VM booting Debian's cloud kernel with IPVS,
// attached to the router's bridge by a tap device, running lb-agent.
type LBNode struct {
	Zone Zone
	// Dir holds the node's initrd, its console log and its control socket.
	Dir string
	// Process is qemu (started through `ip netns exec` in the router namespace).
	Process *localfed.Process
	router  string
	assets  *vmAssets
	detach  bool
}

// Name is the node's LoadBalancerNode name.
func (n *LBNode) Name() string { return n.Zone.Node }

// Address is the node's address on the router's bridge.
func (n *LBNode) Address() string { return n.Zone.NodeAddress() }

// MetricsAddress is where its lb-agent serves /metrics (dial it from the router
// namespace).
func (n *LBNode) MetricsAddress() string {
	return net.JoinHostPort(n.Address(), strconv.Itoa(MetricsPort))
}

// ConsoleLog is the VM's serial console (kernel and lb-agent output).
func (n *LBNode) ConsoleLog() string { return filepath.Join(n.Dir, "console.log") }

func (n *LBNode) ctlSocket() string { return filepath.Join(n.Dir, "ctl.sock") }

// writeInitrd writes the node's initrd: the VM assets plus the lb-agent, its
// hub kubeconfig, its arguments and its network settings.
func (n *LBNode) writeInitrd(kubeconfig []byte) error {
	agent, err := os.ReadFile(n.assets.agent)
	if err != nil {
		return err
	}
	z := n.Zone
	args := []string{"--hub-kubeconfig=/vm/kubeconfig", "--node-name=" + z.Node, "--group=" + z.Name,
		"--address=" + z.NodeAddress(), "--listen-address=:" + strconv.Itoa(MetricsPort),
		"--drain-period=" + DrainPeriod.String(), "-v=2"}
	env := fmt.Sprintf("export LB_CIDR=%s/24 LB_GATEWAY=%s\n", z.NodeAddress(), z.RouterAddress())
	var buf bytes.Buffer
	if err := writeCPIO(&buf, []cpioFile{
		{Name: "vm/lb-agent", Mode: 0o755, Data: agent},
		{Name: "vm/kubeconfig", Mode: 0o600, Data: kubeconfig},
		{Name: "vm/args", Mode: 0o644, Data: []byte(strings.Join(args, "\n") + "\n")},
		{Name: "vm/env", Mode: 0o644, Data: []byte(env)},
	}); err != nil {
		return err
	}
	return concatInitrd(filepath.Join(n.Dir, "initrd"), n.assets.initrds, buf.Bytes())
}

// Start boots the VM. The lb-agent registers its LoadBalancerNode and peers with
// the router within seconds (Federation.WaitLBNodes waits for it).
func (n *LBNode) Start() error {
	_ = os.Remove(n.ctlSocket())
	accel := []string{"-accel", "tcg", "-cpu", "max"}
	if n.assets.accel == "kvm" {
		accel = []string{"-accel", "kvm", "-cpu", "host"}
	}
	third, _ := strconv.Atoi(strings.Split(n.Zone.Subnet, ".")[1])
	mac := fmt.Sprintf("52:54:00:00:%02x:11", third)
	args := append([]string{"netns", "exec", n.router, "qemu-system-x86_64"}, accel...)
	args = append(args, "-smp", "1", "-m", strconv.Itoa(vmMemoryMiB), "-name", n.Name(),
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-serial", "stdio", "-serial", "unix:"+n.ctlSocket()+",server=on,wait=off",
		"-netdev", "tap,id=net0,ifname="+tapName(n.Zone)+",script=no,downscript=no",
		"-device", "virtio-net-pci,netdev=net0,mac="+mac,
		"-device", "virtio-rng-pci",
		"-kernel", n.assets.kernel, "-initrd", filepath.Join(n.Dir, "initrd"),
		"-append", "console=ttyS0 quiet panic=-1 loglevel=3")
	p, err := localfed.StartProcess(localfed.ProcessOptions{
		Name: "vm-" + n.Name(), Path: "ip", Args: args, LogPath: n.ConsoleLog(), Detach: n.detach,
	})
	if err != nil {
		return err
	}
	n.Process = p
	return nil
}

// Stop powers the VM off. Gracefully, it asks the node to stop (a line on its
// second serial port): lb-agent withdraws its routes, reports itself Draining,
// drains for DrainPeriod and exits, and the VM powers off. Otherwise, or when
// that takes too long, qemu is killed: the node vanishes as in a crash.
func (n *LBNode) Stop(graceful bool) error {
	if n.Process == nil {
		return nil
	}
	if exited, _ := n.Process.Exited(); exited {
		return nil
	}
	if graceful {
		if err := n.requestStop(); err != nil {
			return err
		}
		select {
		case <-n.Process.Done():
			return nil
		case <-time.After(DrainPeriod + 30*time.Second):
		}
	}
	return n.Process.StopWithTimeout(5 * time.Second)
}

func (n *LBNode) requestStop() error {
	c, err := net.DialTimeout("unix", n.ctlSocket(), 5*time.Second)
	if err != nil {
		return fmt.Errorf("the control socket of %s: %w", n.Name(), err)
	}
	defer c.Close()
	_, err = c.Write([]byte("stop\n"))
	return err
}
