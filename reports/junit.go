package reports

import (
	"encoding/xml"
	"fmt"
	"io"

	"github.com/crosstalk-dev/crosstalk/harness"
)

type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Error     *junitFailure `xml:"error,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// JUnit writes the record as JUnit XML: one test case per oracle and per
// threshold, so that a CI system shows which invariant broke.
func JUnit(w io.Writer, r *harness.Record) error {
	s := junitSuite{Name: "crosstalk." + r.Scenario, Time: fmt.Sprintf("%.3f", r.DurationS)}
	class := "crosstalk." + r.Scenario
	if r.Verdict == harness.VerdictError {
		s.Cases = append(s.Cases, junitCase{Name: "run", Classname: class, Error: &junitFailure{Message: r.Reason, Text: r.Reason}})
		s.Errors++
	}
	for _, o := range harness.Oracles {
		c := junitCase{Name: "oracle " + o, Classname: class}
		if n := r.ViolationsByOracle[o]; n > 0 {
			msg := fmt.Sprintf("%d violations of %s", n, o)
			text := msg
			for _, v := range r.Examples {
				if v.Oracle == o {
					text += "\n" + Sentence(v)
				}
			}
			c.Failure = &junitFailure{Message: msg, Text: text}
			s.Failures++
		}
		s.Cases = append(s.Cases, c)
	}
	for _, t := range r.Thresholds {
		c := junitCase{Name: "threshold " + t.Name, Classname: class}
		if !t.Pass {
			msg := fmt.Sprintf("%s = %.4g, limit %.4g", t.Name, t.Value, t.Limit)
			c.Failure = &junitFailure{Message: msg, Text: msg}
			s.Failures++
		}
		s.Cases = append(s.Cases, c)
	}
	s.Tests = len(s.Cases)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(junitSuites{Suites: []junitSuite{s}}); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
