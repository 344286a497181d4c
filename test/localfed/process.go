package localfed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultStopTimeout is how long Stop waits after SIGTERM before SIGKILL.
const DefaultStopTimeout = 10 * time.Second

// ProcessOptions describes a process to start.
type ProcessOptions struct {
	// Name is used in messages (e.g. "etcd").
	Name string
	// Path is the binary; Args are its arguments (without argv[0]).
	Path string
	Args []string
	// Env is added to the launcher's environment.
	Env []string
	// Dir is the working directory (default: the launcher's).
	Dir string
	// LogPath receives stdout and stderr (appended). Required.
	LogPath string
	// Detach starts the process in its own session (setsid) so that it
	// outlives the launcher, as `make up` needs. Without it the process is a
	// child that, on Linux, also gets SIGKILL if the launcher dies.
	Detach bool
}

// Process is a process started by StartProcess.
type Process struct {
	Name    string
	Path    string
	Args    []string
	PID     int
	LogPath string

	opts     ProcessOptions
	cmd      *exec.Cmd
	done     chan struct{}
	waitErr  error
	stopOnce sync.Once
	stopErr  error
}

// StartProcess starts a binary with its output going to opts.LogPath.
func StartProcess(opts ProcessOptions) (*Process, error) {
	if opts.Path == "" || opts.LogPath == "" {
		return nil, errors.New("StartProcess: Path and LogPath are required")
	}
	name := opts.Name
	if name == "" {
		name = filepath.Base(opts.Path)
	}
	if err := os.MkdirAll(filepath.Dir(opts.LogPath), 0o755); err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(opts.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	// The child keeps its own copy of the descriptor.
	defer logFile.Close()
	fmt.Fprintf(logFile, "=== %s: starting %s %s\n", time.Now().Format(time.RFC3339), opts.Path, strings.Join(opts.Args, " "))

	cmd := exec.Command(opts.Path, opts.Args...)
	cmd.Dir = opts.Dir
	cmd.Env = append(os.Environ(), opts.Env...)
	cmd.Stdin = nil // /dev/null
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = sysProcAttr(opts.Detach)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &Process{
		Name:    name,
		Path:    opts.Path,
		Args:    opts.Args,
		PID:     cmd.Process.Pid,
		LogPath: opts.LogPath,
		opts:    opts,
		cmd:     cmd,
		done:    make(chan struct{}),
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Done is closed when the process has exited (as seen by this launcher).
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited, and its wait error.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.waitErr
	default:
		return false, nil
	}
}

// Stop sends SIGTERM, waits up to DefaultStopTimeout, then sends SIGKILL. It
// signals only the process it started, and is safe to call more than once.
func (p *Process) Stop() error { return p.StopWithTimeout(DefaultStopTimeout) }

// StopWithTimeout is Stop with another grace period.
func (p *Process) StopWithTimeout(grace time.Duration) error {
	p.stopOnce.Do(func() {
		select {
		case <-p.done:
			return
		default:
		}
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			p.stopErr = fmt.Errorf("SIGTERM to %s (pid %d): %w", p.Name, p.PID, err)
		}
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-p.done:
			return
		case <-timer.C:
		}
		if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			p.stopErr = fmt.Errorf("SIGKILL to %s (pid %d): %w", p.Name, p.PID, err)
			return
		}
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			p.stopErr = fmt.Errorf("%s (pid %d) did not exit after SIGKILL", p.Name, p.PID)
		}
	})
	return p.stopErr
}

// Kill sends SIGKILL at once (a crash: no graceful shutdown) and waits for the
// process to exit. Like Stop, it signals only the process it started.
func (p *Process) Kill() error {
	p.stopOnce.Do(func() {
		if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			p.stopErr = fmt.Errorf("SIGKILL to %s (pid %d): %w", p.Name, p.PID, err)
			return
		}
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			p.stopErr = fmt.Errorf("%s (pid %d) did not exit after SIGKILL", p.Name, p.PID)
		}
	})
	return p.stopErr
}

// Respawn starts the binary again as p was started (arguments, environment,
// log), once p has exited; it returns the new process.
func (p *Process) Respawn() (*Process, error) {
	select {
	case <-p.done:
	default:
		return nil, fmt.Errorf("respawning %s (pid %d): it is still running", p.Name, p.PID)
	}
	return StartProcess(p.opts)
}

// LogTail returns up to the last n lines of the process's log.
func (p *Process) LogTail(n int) string { return LogTail(p.LogPath, n) }

// LogTail returns up to the last n lines of a file ("" if unreadable).
func LogTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const maxRead = 256 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > maxRead {
		_, _ = f.Seek(fi.Size()-maxRead, io.SeekStart)
	}
	data, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// StopPID stops a process started earlier, possibly by another program (for
// `make down`). It first checks that pid still runs the binary exe, so a
// recycled PID is never signalled; a process already gone is not an error.
// Then SIGTERM, up to grace, then SIGKILL.
func StopPID(pid int, exe string, grace time.Duration) error {
	if pid <= 1 {
		return fmt.Errorf("refusing to signal pid %d", pid)
	}
	running, err := pidRunsBinary(pid, exe)
	if err != nil || !running {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return fmt.Errorf("SIGTERM to pid %d: %w", pid, err)
	}
	if waitPIDGone(pid, grace) {
		return nil
	}
	if running, err := pidRunsBinary(pid, exe); err != nil || !running {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("SIGKILL to pid %d: %w", pid, err)
	}
	if !waitPIDGone(pid, 5*time.Second) {
		return fmt.Errorf("pid %d did not exit after SIGKILL", pid)
	}
	return nil
}

// PIDRunsBinary reports whether pid is alive and executes exe.
func PIDRunsBinary(pid int, exe string) bool {
	running, err := pidRunsBinary(pid, exe)
	return err == nil && running
}

// pidRunsBinary reports whether pid is alive and executes exe (compared via
// /proc/<pid>/exe; where /proc is missing only liveness is checked).
func pidRunsBinary(pid int, exe string) (bool, error) {
	if !pidAlive(pid) {
		return false, nil
	}
	target, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "exe"))
	if err != nil {
		if _, statErr := os.Stat("/proc/self/exe"); statErr != nil {
			return true, nil // no procfs: cannot check more
		}
		if !pidAlive(pid) {
			return false, nil
		}
		return false, fmt.Errorf("pid %d: cannot read its executable: %w", pid, err)
	}
	want := exe
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		want = resolved
	}
	target = strings.TrimSuffix(target, " (deleted)")
	if target != want && target != exe {
		return false, nil
	}
	return true, nil
}

// pidAlive reports whether pid exists and is not a zombie.
func pidAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return !os.IsNotExist(err)
	}
	// The state follows the parenthesised command name.
	if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}

// waitPIDGone reports whether pid exits within timeout.
func waitPIDGone(pid int, timeout time.Duration) bool {
	gone := func(context.Context) error {
		if pidAlive(pid) {
			return fmt.Errorf("pid %d is alive", pid)
		}
		return nil
	}
	return WaitUntil(context.Background(), timeout, gone) == nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. The
// starters here retry with new ports when a process loses the race for it.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
