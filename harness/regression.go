package harness

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Regression is how much worse than a baseline run a run may be, for
// release gating (crosstalk compare, crosstalk run --baseline). Latency
// tolerances are relative; rates are absolute points. A field left out is
// not judged; violations are always judged: one the baseline did not have
// is a regression.
type Regression struct {
	// P50 and P99 bound the relative increase of the run's latency
	// percentiles and of every step's (20% or 0.2).
	P50 *Fraction `yaml:"p50,omitempty" json:"p50,omitempty"`
	P99 *Fraction `yaml:"p99,omitempty" json:"p99,omitempty"`
	// MinMs is the noise floor of latency: an increase smaller than this
	// many milliseconds is never a regression (default 1).
	MinMs *float64 `yaml:"min_ms,omitempty" json:"min_ms,omitempty"`
	// ErrorRate bounds the increase of the error rate (0.01: one point).
	ErrorRate *float64 `yaml:"error_rate,omitempty" json:"error_rate,omitempty"`
	// LoginSuccess bounds the drop of the login success rate (0.02: two
	// points).
	LoginSuccess *float64 `yaml:"login_success,omitempty" json:"login_success,omitempty"`
	// Throughput bounds the relative drop of the achieved request rate.
	Throughput *Fraction `yaml:"throughput,omitempty" json:"throughput,omitempty"`
}

// DefaultRegressionMinMs is the latency noise floor of a Regression.
const DefaultRegressionMinMs = 1.0

// Fraction is a share written "20%" or 0.2.
type Fraction float64

// UnmarshalText reads "20%" or "0.2".
func (f *Fraction) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	div := 1.0
	if p, ok := strings.CutSuffix(s, "%"); ok {
		s, div = p, 100
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("%q: want a share such as 20%% or 0.2", string(b))
	}
	*f = Fraction(v / div)
	return nil
}

// MarshalText writes the share as a percentage.
func (f Fraction) MarshalText() ([]byte, error) {
	return []byte(strconv.FormatFloat(float64(f)*100, 'g', -1, 64) + "%"), nil
}

func (r *Regression) validate(path string) []error {
	var errs []error
	for name, v := range map[string]*float64{"error_rate": r.ErrorRate, "login_success": r.LoginSuccess, "min_ms": r.MinMs} {
		if v != nil && (*v < 0 || math.IsNaN(*v)) {
			errs = append(errs, fieldErr(path+"."+name, "%v: want a number ≥ 0", *v))
		}
	}
	return errs
}
