package localfed

import "syscall"

func sysProcAttr(detach bool) *syscall.SysProcAttr {
	if detach {
		return &syscall.SysProcAttr{Setsid: true}
	}
	// A child dies with the launcher (e.g. a test binary killed by its
	// timeout) instead of lingering with its ports and files.
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
