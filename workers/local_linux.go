package workers

import "syscall"

// workerProcAttr puts a worker in its own process group (Ctrl-C reaches the
// coordinator, which stops the workers itself, in order) and kills it if
// the coordinator dies: no worker outlives its run.
func workerProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
