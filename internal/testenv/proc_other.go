//go:build unix && !linux

package testenv

import "syscall"

// sysProcAttr puts a server in its own process group so that stopping it
// reaches every child it forks.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
