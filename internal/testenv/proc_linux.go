package testenv

import "syscall"

// sysProcAttr puts a server in its own process group and has the kernel kill
// it if the test binary dies without running its cleanups (a panic, a -timeout).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
