// Command crosstalk is a load and chaos test harness for login and session
// routing: it starts a portal stack, logs in thousands of synthetic users at
// once, breaks the stack on purpose, and proves response by response that no
// user ever received another user's data.
//
// Exit status: 0 the gate passed; 1 the gate failed (a violation, or a
// threshold breached); 2 bad input or usage; 3 the harness or the target
// could not run.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/crosstalk-dev/crosstalk/harness"
)

// Exit statuses of the CLI contract.
const (
	exitPass     = 0
	exitFail     = 1
	exitBadInput = 2
	exitTarget   = 3
)

// errGateFailed is returned when the run completed and the gate failed.
var errGateFailed = errors.New("gate failed")

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The first Ctrl-C or SIGTERM stops the run within its shutdown budget
	// (the report is written, the faults healed, the target stopped); a
	// second one quits at once: crosstalk down removes what is left.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		fmt.Fprintln(os.Stderr, "\ncrosstalk: stopping: healing the faults, writing the report (again to quit at once)")
		cancel()
		<-sigs
		fmt.Fprintln(os.Stderr, "crosstalk: quitting now; crosstalk down removes what this run left")
		os.Exit(exitTarget)
	}()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if err != nil && !errors.Is(err, errGateFailed) {
		fmt.Fprintln(os.Stderr, "crosstalk:", err)
	}
	os.Exit(exitCode(err))
}

func exitCode(err error) int {
	switch {
	case err == nil:
		return exitPass
	case errors.Is(err, errGateFailed):
		return exitFail
	case harness.ClassOf(err) == harness.ClassBadInput:
		return exitBadInput
	default:
		return exitTarget
	}
}

// run executes the command line args; it is main without the process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := &cobra.Command{
		Use:   "crosstalk",
		Short: "Load and chaos test harness that proves no user ever receives another user's data",
		Long: `crosstalk starts a portal stack, logs in thousands of synthetic users at once,
breaks the stack on purpose (cache, configuration, network, process faults)
and proves, response by response, that no user ever received another user's data.

Exit status: 0 the gate passed, 1 the gate failed, 2 bad input, 3 the harness
or the target could not run.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return harness.BadInput("%v (see %s --help)", err, c.CommandPath())
	})
	root.AddCommand(newRunCmd(stdout, stderr), newMatrixCmd(stdout, stderr), newPopulationCmd(stdout, stderr), newListCmd(stdout), newVersionCmd(stdout),
		newUpCmd(stdout, stderr), newDownCmd(stdout), newSelftestCmd(stdout), newCompareCmd(stdout), newReportCmd(stdout),
		newWorkerCmd(stderr), newK8sCmd(stdout))
	root.AddCommand(newServeCmds()...)
	err := root.ExecuteContext(ctx)
	if err != nil && harness.ClassOf(err) == harness.ClassTarget && !errors.Is(err, errGateFailed) {
		var he *harness.Error
		if !errors.As(err, &he) {
			// cobra's own errors (unknown command, wrong arguments) are usage errors.
			return harness.BadInput("%v", err)
		}
	}
	return err
}
