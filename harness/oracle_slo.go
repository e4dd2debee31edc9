package harness

// sloOracle: latency percentiles, error rate and login success stay within
// the scenario's thresholds. It judges the record's figures, once they are
// counted.
type sloOracle struct{}

func (sloOracle) judge(t Thresholds, r *Record) []ThresholdResult {
	out := []ThresholdResult{}
	if t.P99Ms != nil {
		out = append(out, ThresholdResult{Name: "p99_ms", Limit: *t.P99Ms, Value: r.LatencyMS.P99, Pass: r.LatencyMS.P99 <= *t.P99Ms})
	}
	if t.ErrorRate != nil {
		v := 0.0
		if r.Requests > 0 {
			v = float64(r.Errors) / float64(r.Requests)
		}
		out = append(out, ThresholdResult{Name: "error_rate", Limit: *t.ErrorRate, Value: v, Pass: v <= *t.ErrorRate})
	}
	if t.LoginSuccess != nil {
		v := 1.0
		if r.Logins.Attempted > 0 {
			v = float64(r.Logins.Succeeded) / float64(r.Logins.Attempted)
		}
		out = append(out, ThresholdResult{Name: "login_success", Limit: *t.LoginSuccess, Value: v, Pass: v >= *t.LoginSuccess})
	}
	return out
}
