package harness

import "fmt"

// sloOracle: latency percentiles, error rate and login success stay within
// the scenario's thresholds for the target, and the run did enough to be
// judged at all. It judges the record's figures, once they are counted.
type sloOracle struct{}

// judge returns a result per limit. logins says whether a flow logs in:
// then a run where nobody logged in cannot pass.
func (sloOracle) judge(t Thresholds, r *Record, logins bool) []ThresholdResult {
	out := []ThresholdResult{}
	if t.P99Ms != nil {
		out = append(out, ThresholdResult{Name: "p99_ms", Limit: *t.P99Ms, Value: r.LatencyMS.P99, Pass: r.LatencyMS.P99 <= *t.P99Ms})
	}
	errorRate, name := DefaultErrorRate, "error_rate (default)"
	if t.ErrorRate != nil {
		errorRate, name = *t.ErrorRate, "error_rate"
	}
	v := 0.0
	if r.Requests > 0 {
		v = float64(r.Errors) / float64(r.Requests)
	}
	out = append(out, ThresholdResult{Name: name, Limit: errorRate, Value: v, Pass: v <= errorRate})
	if t.LoginSuccess != nil {
		// Nobody logged in is a login success of 0, not of 1: a portal
		// that refused every login did not pass.
		v := 0.0
		if r.Logins.Attempted > 0 {
			v = float64(r.Logins.Succeeded) / float64(r.Logins.Attempted)
		}
		out = append(out, ThresholdResult{Name: "login_success", Limit: *t.LoginSuccess, Value: v, Pass: v >= *t.LoginSuccess})
	}
	minReq := uint64(1)
	if t.MinRequests != nil {
		minReq = *t.MinRequests
	}
	out = append(out, ThresholdResult{Name: "min_requests", Limit: float64(minReq), Value: float64(r.Requests),
		Pass: r.Requests >= minReq, Min: true})
	if t.MinLogins != nil || logins {
		minLogins := uint64(1)
		if t.MinLogins != nil {
			minLogins = *t.MinLogins
		}
		out = append(out, ThresholdResult{Name: "min_logins", Limit: float64(minLogins), Value: float64(r.Logins.Succeeded),
			Pass: r.Logins.Succeeded >= minLogins, Min: true})
	}
	return out
}

// incomplete says why a run ended before its schedule did, or "".
func incomplete(sc *Scenario, load *loadResult, requests uint64) string {
	if load.interrupted {
		return ""
	}
	maxReq := sc.MaxRequests
	if maxReq == 0 {
		maxReq = DefaultMaxRequests
	}
	if requests < maxReq || load.elapsed >= sc.Duration*99/100 {
		return ""
	}
	return fmt.Sprintf("the run stopped at max_requests (%d) after %.1fs of its %s: the load and the fault schedule after that never ran "+
		"(raise max_requests, or set thresholds.allow_incomplete for a soak bounded in count)", maxReq, load.elapsed.Seconds(), sc.Duration)
}
