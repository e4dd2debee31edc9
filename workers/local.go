package workers

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
)

// Local starts the workers as processes of this machine: the same binary,
// `crosstalk worker`, given what a pod of the Indexed Job is given (its
// index and the coordinator's address) and nothing else. Each one's output
// goes to LogDir/worker-I.log.
type Local struct {
	// Exe is the crosstalk binary (default: this process's).
	Exe string
	// LogDir receives each worker's log (default: none).
	LogDir string
	// Status is told of each worker started.
	Status func(string)

	mu    sync.Mutex
	procs []*os.Process
}

// Launch implements Launcher.
func (l *Local) Launch(ctx context.Context, url string, n int, exited func(int, error)) error {
	exe := l.Exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return fmt.Errorf("finding the crosstalk binary: %w", err)
		}
	}
	if l.LogDir != "" {
		if err := os.MkdirAll(l.LogDir, 0o755); err != nil {
			return err
		}
	}
	for i := range n {
		cmd := exec.Command(exe, "worker")
		cmd.Env = append(os.Environ(), EnvIndex+"="+strconv.Itoa(i), EnvCoordinator+"="+url)
		cmd.SysProcAttr = workerProcAttr()
		var log *os.File
		if l.LogDir != "" {
			f, err := os.Create(filepath.Join(l.LogDir, fmt.Sprintf("worker-%d.log", i)))
			if err != nil {
				l.Stop()
				return err
			}
			cmd.Stdout, cmd.Stderr, log = f, f, f
		}
		if err := cmd.Start(); err != nil {
			l.Stop()
			return fmt.Errorf("worker %d: %w", i, err)
		}
		l.mu.Lock()
		l.procs = append(l.procs, cmd.Process)
		l.mu.Unlock()
		if l.Status != nil {
			l.Status(fmt.Sprintf("worker %d started (pid %d)", i, cmd.Process.Pid))
		}
		go func() {
			err := cmd.Wait()
			if log != nil {
				log.Close()
			}
			exited(i, err)
		}()
	}
	return nil
}

// Stop implements Launcher: it kills the workers still running.
func (l *Local) Stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.procs {
		_ = p.Signal(syscall.SIGKILL)
	}
	l.procs = nil
}
