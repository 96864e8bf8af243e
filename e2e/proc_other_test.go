//go:build e2e && !linux

package e2e

import "syscall"

// sysProcAttr gives the daemon its own process group, so a kill reaches
// everything it started.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
