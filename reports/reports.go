// Package reports renders one run Record: a terminal summary, report.json,
// JUnit XML, a self-contained HTML page and human-readable evidence files.
// Every renderer is a func(io.Writer, *harness.Record) error; WriteAll writes
// them all to a directory, each file atomically, so a report on disk is
// never half written.
package reports

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/crosstalk-dev/crosstalk/harness"
)

// Renderer writes one form of a record.
type Renderer func(io.Writer, *harness.Record) error

// Files are the reports WriteAll writes, by file name.
var Files = []struct {
	Name   string
	Render Renderer
}{
	{"report.json", JSON},
	{"junit.xml", JUnit},
	{"report.html", HTML},
	{"summary.txt", Summary},
}

// JSON writes the record as report.json: the CLI contract's fields and more.
func JSON(w io.Writer, r *harness.Record) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Paths returns the files WriteAll writes in dir, and its evidence
// folder, as a run prints them.
func Paths(dir string) []string {
	var out []string
	for _, f := range Files {
		if f.Name != "summary.txt" {
			out = append(out, filepath.Join(dir, f.Name))
		}
	}
	return append(out, filepath.Join(dir, "evidence")+string(filepath.Separator))
}

// WriteAll writes every report and the evidence files into dir.
func WriteAll(dir string, r *harness.Record) error {
	if err := os.MkdirAll(filepath.Join(dir, "evidence"), 0o755); err != nil {
		return err
	}
	for _, f := range Files {
		if err := writeFile(filepath.Join(dir, f.Name), r, f.Render); err != nil {
			return err
		}
	}
	for i, v := range r.Examples {
		name := filepath.Join(dir, "evidence", fmt.Sprintf("violation-%03d.txt", i+1))
		if err := writeFile(name, r, func(w io.Writer, r *harness.Record) error { return evidenceText(w, r, v) }); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, r *harness.Record, render Renderer) error {
	return WriteAtomic(path, func(w io.Writer) error {
		if err := render(w, r); err != nil {
			return fmt.Errorf("rendering %s: %w", filepath.Base(path), err)
		}
		return nil
	})
}

// WriteAtomic writes path through a temporary file beside it, renamed into
// place once complete, so that readers never see a partial file.
func WriteAtomic(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
