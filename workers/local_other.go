//go:build !linux

package workers

import "syscall"

// workerProcAttr puts a worker in its own process group: Ctrl-C reaches the
// coordinator, which stops the workers itself, in order.
func workerProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
