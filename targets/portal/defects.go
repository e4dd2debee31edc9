package portal

import (
	"fmt"
	"sort"
	"strings"
)

// Defect is a latent bug of the reference portal, off by default. Each one
// reproduces an incident class of INCIDENTS.md and lives in its own file
// (defect_*.go) with the code it switches.
type Defect struct {
	Name       string `json:"name"`
	Incident   string `json:"incident"`  // the row of INCIDENTS.md it reproduces
	Mechanism  string `json:"mechanism"` // what goes wrong, in one sentence
	Hypothesis bool   `json:"hypothesis"`
	Trigger    string `json:"trigger"` // the fault that reveals it
}

var defects = map[string]Defect{}

func registerDefect(d Defect) { defects[d.Name] = d }

// AllDefects returns every defect, sorted by name.
func AllDefects() []Defect {
	out := make([]Defect, 0, len(defects))
	for _, d := range defects {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// DefectNames returns the names of every defect, sorted.
func DefectNames() []string {
	var names []string
	for _, d := range AllDefects() {
		names = append(names, d.Name)
	}
	return names
}

// DefectSet is the set of defects switched on. The zero value has none.
type DefectSet struct{ on map[string]bool }

// NewDefectSet returns the set of the named defects; an unknown name is an
// error that lists the known ones.
func NewDefectSet(names ...string) (DefectSet, error) {
	s := DefectSet{on: map[string]bool{}}
	for _, n := range names {
		if _, ok := defects[n]; !ok {
			return DefectSet{}, fmt.Errorf("unknown defect %q (known: %s)", n, strings.Join(DefectNames(), ", "))
		}
		s.on[n] = true
	}
	return s, nil
}

// Has reports whether defect name is on.
func (s DefectSet) Has(name string) bool { return s.on[name] }

// Names returns the defects switched on, sorted.
func (s DefectSet) Names() []string {
	var out []string
	for n := range s.on {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
