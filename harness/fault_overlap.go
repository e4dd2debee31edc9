package harness

import (
	"time"
)

// Two faults that act on one resource at once fight: two toxics on one
// store link share a name, so the second replaces the first and either
// heal removes both; two edge reloads each heal to the rules they found;
// two load spikes each restore the rate they saw. Such schedules are
// refused when the scenario loads, naming both.

// resourcer is a fault that says what it acts on; a fault that is not one
// acts on nothing another fault does.
type resourcer interface {
	resources() []string
}

func (f *storeLatency) resources() []string { return []string{"the " + f.Store + " store's links"} }
func (f *storeTimeout) resources() []string { return []string{"the " + f.Store + " store's links"} }
func (f *storeReset) resources() []string   { return []string{"the " + f.Store + " store's links"} }
func (f *storeDown) resources() []string    { return []string{"the " + f.Store + " store's links"} }
func (f *edgeReload) resources() []string   { return []string{"the edge's rules"} }
func (f *loadSpike) resources() []string    { return []string{"the request rate"} }
func (f *rollingDeploy) resources() []string {
	return []string{"the replicas' release"}
}
func (f *serviceAction) resources() []string {
	if f.heal == "" {
		return nil // nothing to heal: it cannot undo another fault's work
	}
	return []string{"service " + f.Service}
}
func (f *rollingRestart) resources() []string {
	var out []string
	for _, s := range f.Services {
		out = append(out, "service "+s)
	}
	return out
}

// checkOverlaps returns an error for each pair of faults that act on one
// resource at overlapping times.
func checkOverlaps(faults []FaultSpec, total time.Duration) []error {
	type window struct {
		spec     FaultSpec
		from, to time.Duration
		res      []string
	}
	var ws []window
	for _, f := range faults {
		r, ok := f.Fault.(resourcer)
		if !ok {
			continue
		}
		from := f.At.Resolve(total)
		to := total // a fault with no end lasts to the end of the run
		if f.For.Set {
			to = from + f.For.Resolve(total)
		}
		ws = append(ws, window{f, from, to, r.resources()})
	}
	var errs []error
	for j := range ws {
		for i := range j {
			a, b := ws[i], ws[j]
			if !(a.from < b.to && b.from < a.to) {
				continue
			}
			if shared := common(a.res, b.res); shared != "" {
				errs = append(errs, fieldErr(b.spec.Path, "%s from %s to %s overlaps %s (%s, from %s to %s) on %s: "+
					"the faults would undo each other's work when they heal; schedule them apart",
					b.spec.Type, b.from, b.to, a.spec.Path, a.spec.Type, a.from, a.to, shared))
			}
		}
	}
	return errs
}

func common(a, b []string) string {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return x
			}
		}
	}
	return ""
}
