//go:build e2e

package e2e

import "syscall"

// sysProcAttr gives the daemon its own process group (so a kill reaches
// everything it started) and has the kernel kill it if this test binary dies
// without running its cleanups (a panic, a -timeout).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
