package localfed_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portico-dev/portico/test/framework"
	"github.com/portico-dev/portico/test/localfed"
)

// sessionID reads the session id (field 6) of /proc/<pid>/stat.
func sessionID(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		t.Skipf("no procfs: %v", err)
	}
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	sid, err := strconv.Atoi(fields[3]) // state ppid pgrp session
	if err != nil {
		t.Fatal(err)
	}
	return sid
}

func startSleep(t *testing.T, detach bool) *localfed.Process {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	p, err := localfed.StartProcess(localfed.ProcessOptions{Path: sleep, Args: []string{"300"}, LogPath: filepath.Join(t.TempDir(), "sleep.log"), Detach: detach})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop() })
	return p
}

func TestProcessStop(t *testing.T) {
	p := startSleep(t, false)
	if sid := sessionID(t, p.PID); sid == p.PID {
		t.Error("child process got its own session")
	}
	start := time.Now()
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if exited, _ := p.Exited(); !exited {
		t.Fatal("not exited after Stop")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("SIGTERM stop took %v", d)
	}
	if err := p.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if log := p.LogTail(5); !strings.Contains(log, "starting") {
		t.Errorf("log has no start line: %q", log)
	}
}

func TestProcessDetachedAndStopPID(t *testing.T) {
	p := startSleep(t, true)
	if sid := sessionID(t, p.PID); sid != p.PID {
		t.Errorf("detached process session %d, want its own (%d)", sid, p.PID)
	}
	// StopPID refuses a PID that runs another binary.
	if err := localfed.StopPID(p.PID, "/nonexistent/binary", time.Second); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(p.PID, 0); err != nil {
		t.Fatalf("StopPID signalled a process of another binary: %v", err)
	}
	if err := localfed.StopPID(p.PID, p.Path, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("process still running after StopPID")
	}
	// Gone: not an error.
	if err := localfed.StopPID(p.PID, p.Path, time.Second); err != nil {
		t.Errorf("StopPID of an exited process: %v", err)
	}
}

func TestProcessKillAfterGrace(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	// A shell that ignores SIGTERM.
	p, err := localfed.StartProcess(localfed.ProcessOptions{Path: sh, Args: []string{"-c", "trap '' TERM; echo trapped; while :; do sleep 1; done"}, LogPath: filepath.Join(t.TempDir(), "sh.log")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop() })
	framework.Eventually(t, 5*time.Second, "the shell ignoring SIGTERM", func() (bool, string) {
		log := p.LogTail(1)
		return log == "trapped", log
	})
	start := time.Now()
	if err := p.StopWithTimeout(500 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if exited, _ := p.Exited(); !exited {
		t.Fatal("not exited after SIGKILL")
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("stopped after %v, before the grace period", d)
	}
}

func TestKubeBinDirMissing(t *testing.T) {
	t.Setenv(localfed.KubeBinDirEnv, t.TempDir())
	_, err := localfed.KubeBinDir()
	if err == nil || !strings.Contains(err.Error(), "hack/build-kube.sh") {
		t.Fatalf("err = %v", err)
	}
}

func TestRepoRoot(t *testing.T) {
	root, err := localfed.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "test", "localfed", "doc.go")); err != nil {
		t.Errorf("root %s: %v", root, err)
	}
}
