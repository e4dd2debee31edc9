package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/crosstalk-dev/crosstalk/harness"
)

// replayLine returns the command line that reproduces a run exactly: the
// scenario as it was named, the target and its own flags, and every value
// the run used (seed, users, duration, peak rate, defects, faults, bounds),
// so that the evidence of a violation can be replayed by pasting one line.
func replayLine(path string, sc *harness.Scenario, f runFlags, defects []string) string {
	args := []string{"crosstalk", "run", path, "--target", f.target}
	add := func(flag, v string) { args = append(args, flag, v) }
	switch f.target {
	case "url":
		add("--base-url", f.baseURL)
	case "compose":
		add("--compose-file", f.composeFile)
		add("--entry", f.entry)
	case "containers":
		for _, im := range f.images {
			add("--image", im)
		}
	}
	if f.target == "embedded" || f.target == "containers" {
		if f.replicas > 0 {
			add("--replicas", strconv.Itoa(f.replicas))
		}
	}
	for _, h := range f.allowHosts {
		add("--allow-host", h)
	}
	if f.caFile != "" {
		add("--ca-file", f.caFile)
	}
	if f.insecure {
		args = append(args, "--insecure")
	}
	if f.http != "" {
		add("--http", f.http)
	}
	if f.workers > 0 {
		add("--workers", strconv.Itoa(f.workers))
		if f.engine != "local" {
			add("--engine", f.engine)
		}
	}
	add("--seed", strconv.FormatUint(sc.Seed, 10))
	add("--users", strconv.Itoa(sc.Users))
	add("--duration", sc.Duration.String())
	if r := sc.Rate.Max(); r > 0 {
		add("--rate", strconv.FormatFloat(r, 'g', -1, 64))
	}
	add("--defects", orNone(defects))
	if f.faults == "none" {
		add("--faults", "none")
	}
	if sc.MaxRequests > 0 {
		add("--max-requests", strconv.FormatUint(sc.MaxRequests, 10))
	}
	if sc.Timeout > 0 && sc.Timeout != harness.DefaultTimeout {
		add("--timeout", sc.Timeout.Round(time.Millisecond).String())
	}
	for i, a := range args {
		args[i] = shellQuote(a)
	}
	return strings.Join(args, " ")
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,@+%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
