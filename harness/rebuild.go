package harness

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/crosstalk-dev/crosstalk/harness/evidence"
)

// RunStartFile is written into the output directory when a run starts: the
// record as far as it is known before the load (the scenario, the seed, the
// target, the planned fault schedule). With results.jsonl and the evidence,
// which are written as the run goes, it lets Rebuild make the report of a
// run that was killed before it could write one.
const RunStartFile = "run.json"

// writeRunStart writes the start record of a run, with its planned fault
// schedule, and removes the reports of an earlier run in the same
// directory: a killed run must not leave another run's verdict behind.
func writeRunStart(dir string, rec *Record, sc *Scenario) error {
	start := *rec
	start.Faults = plannedFaults(sc)
	start.DurationS = sc.Duration.Seconds()
	start.Interrupted = true // until the run's own report says otherwise
	b, err := json.MarshalIndent(&start, "", "  ")
	if err != nil {
		return err
	}
	for _, f := range []string{"report.json", "junit.xml", "report.html", "summary.txt"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, RunStartFile), append(b, '\n'), 0o644)
}

// plannedFaults is the scenario's fault schedule as the nemesis will run
// it, if nothing stops it.
func plannedFaults(sc *Scenario) []FaultEvent {
	out := []FaultEvent{}
	for _, f := range sc.Faults {
		at := f.At.Resolve(sc.Duration)
		end := at
		if d := f.For.Resolve(sc.Duration); d > 0 {
			end = at + d
		} else if !f.For.Set {
			end = sc.Duration
		}
		out = append(out, FaultEvent{Name: f.Name(), Type: f.Type, StartS: at.Seconds(), EndS: end.Seconds()})
	}
	return out
}

// resultLine is one line of results.jsonl, as resultSink writes it.
type resultLine struct {
	Seq   uint64  `json:"seq"`
	T     float64 `json:"t"`
	User  int     `json:"user"`
	Step  string  `json:"step"`
	Code  int     `json:"code"`
	LatMs float64 `json:"lat_ms"`
	Error string  `json:"error"`
	Login *bool   `json:"login"`
}

// maxLine bounds one line of results.jsonl or violations.jsonl when read
// back (an excerpt is at most a few hundred bytes).
const maxLine = 1 << 20

// Rebuild makes the record of a run that died before writing its report
// (SIGKILL, the OOM killer, a CI timeout) from what it left in dir: the
// start record, results.jsonl and evidence/violations.jsonl. The record is
// marked interrupted; a fault of the schedule that was active when the run
// died is named as possibly not healed. The after-run oracles (writes,
// audit, fingerprints) did not run and are not judged.
func Rebuild(dir string) (*Record, error) {
	b, err := os.ReadFile(filepath.Join(dir, RunStartFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, BadInput("%s: no %s: not the output directory of a crosstalk run", dir, RunStartFile)
	}
	if err != nil {
		return nil, BadInput("%v", err)
	}
	rec := &Record{}
	if err := json.Unmarshal(b, rec); err != nil {
		return nil, BadInput("%s: %v", filepath.Join(dir, RunStartFile), err)
	}
	planned := rec.Faults

	st := newStats()
	var kinds []string
	byName := map[string]kind{}
	var requests uint64
	var last float64
	cut, err := readLines(filepath.Join(dir, "results.jsonl"), func(line []byte) error {
		var l resultLine
		if err := json.Unmarshal(line, &l); err != nil {
			return err
		}
		k, ok := byName[l.Step]
		if !ok {
			k = kind(len(kinds))
			byName[l.Step] = k
			kinds = append(kinds, l.Step)
			st.kinds(len(kinds))
		}
		st.observe(k, time.Duration(l.T*float64(time.Second)), time.Duration(l.LatMs*float64(time.Millisecond)), l.Error != "" || l.Code >= 500, false)
		requests++
		last = max(last, l.T)
		if l.Login != nil {
			rec.Logins.Attempted++
			if *l.Login {
				rec.Logins.Succeeded++
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	rec.Notes = append(rec.Notes, fmt.Sprintf("rebuilt by crosstalk report from %s, results.jsonl and evidence/violations.jsonl after the run died %.1f s into the load%s; the after-run oracles (writes, audit, fingerprints) did not run",
		RunStartFile, last, cutNote(cut)))

	size := max(rec.Users, 1)
	recd := evidence.NewRecorder(size, nil, 20, Oracles)
	vcut, err := readLines(filepath.Join(dir, "evidence", "violations.jsonl"), func(line []byte) error {
		var v evidence.Violation
		if err := json.Unmarshal(line, &v); err != nil {
			return err
		}
		recd.Add(v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if vcut {
		rec.Notes = append(rec.Notes, "the last line of evidence/violations.jsonl was cut when the run died and is not counted")
	}
	sum, _ := recd.Close()
	elapsed := time.Duration(last * float64(time.Second))
	rec.setFigures(st, kinds, requests, elapsed, sum)

	rec.Faults = []FaultEvent{}
	for _, f := range planned {
		if f.StartS > last {
			continue // never applied
		}
		if f.EndS > last {
			f.EndS = last
			f.Error = "active when the run died: possibly not healed (crosstalk down removes a dead run's containers)"
		}
		rec.Faults = append(rec.Faults, f)
	}
	rec.Interrupted = true
	rec.Thresholds = []ThresholdResult{}
	if rec.Violations > 0 {
		rec.Verdict = VerdictFail
		rec.Reason = fmt.Sprintf("%d violations before the run died", rec.Violations)
	} else {
		rec.Verdict = VerdictError
		rec.Reason = fmt.Sprintf("the run died %.1f s into the load, before its report: no verdict", last)
	}
	return rec, nil
}

func cutNote(cut bool) string {
	if cut {
		return " (its last line was cut and is not counted)"
	}
	return ""
}

// readLines calls f with each complete line of path. A last line without
// its newline (the process died while writing it) is skipped and reported
// as cut; a malformed complete line is an error naming the file and line.
func readLines(path string, f func([]byte) error) (cut bool, err error) {
	file, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, BadInput("%v", err)
	}
	defer file.Close()
	r := bufio.NewReaderSize(file, maxLine)
	for n := 1; ; n++ {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return false, BadInput("%s:%d: a line longer than %d bytes", path, n, r.Size())
		}
		if err != nil { // io.EOF: what is left has no newline
			return len(line) > 0, nil
		}
		if ferr := f(line); ferr != nil {
			return false, BadInput("%s:%d: %v", path, n, ferr)
		}
	}
}
