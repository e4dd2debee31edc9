package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crosstalk-dev/crosstalk/targets/portal"
)

// TestFranceTravailOracles covers each of the three France Travail oracles
// both ways: caught when its control is broken (one defect at a time, the
// other oracles silent) and silent on the correct portal, which also alerts
// on the mass read in time.
func TestFranceTravailOracles(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the France Travail scenario four times")
	}
	cases := []struct {
		defect string
		caught string // the oracle that must fire; "" for the correct portal
	}{
		{portal.DefectAdviserReadsAnyFile, "breadth"},
		{portal.DefectWeakAdviserAuth, "auth"},
		{portal.DefectBlindAuditLog, "audit"},
		{"none", ""},
	}
	for _, tc := range cases {
		t.Run(tc.defect, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			code, out, errOut := crosstalk(t, "run", "france-travail-2024", "--defects", tc.defect, "--duration", "15s", "--out", dir, "--quiet")
			r := report(t, dir)
			by := r["violations_by_oracle"].(map[string]any)
			adv := r["advisers"].(map[string]any)
			for _, o := range []string{"breadth", "auth", "audit"} {
				if o == tc.caught {
					assert.Greater(t, by[o], 0.0, "%s must be caught\n%s", o, out)
				} else {
					assert.Equal(t, 0.0, by[o], "%s must stay silent\n%s", o, out)
				}
			}
			for _, o := range []string{"isolation", "session", "writes", "fail-closed"} {
				assert.Equal(t, 0.0, by[o], "%s: no routing defect is on\n%s", o, out)
			}
			switch tc.caught {
			case "":
				require.Equal(t, exitPass, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
				assert.Equal(t, adv["mass_reads"], adv["mass_reads_alerted"], "the mass read was alerted on")
				assert.NotNil(t, adv["alert_after_s"])
				assert.Greater(t, adv["accounts_locked"], 0.0, "credential stuffing hit the lockout")
				assert.Contains(t, out, "mass read alerted: after")
				assert.Greater(t, adv["second_factors_passed"], 0.0, "advisers passed a TOTP second factor")
				assert.Contains(t, out, "adviser logins through a TOTP second factor")
			case "breadth":
				require.Equal(t, exitFail, code)
				assert.Greater(t, adv["files_read_outside_caseloads"], 0.0)
			case "auth":
				require.Equal(t, exitFail, code)
				assert.NotNil(t, adv["attempts_before_takeover"])
				assert.Contains(t, out, "taken over after")
				assert.Equal(t, 0.0, adv["second_factors_passed"], "the weak portal asks for no second factor")
			case "audit":
				require.Equal(t, exitFail, code)
				assert.Greater(t, adv["accesses_missing_from_log"], 0.0)
				assert.Nil(t, adv["alert_after_s"], "no alert ever came")
				assert.Contains(t, out, "mass read alerted: never")
			}
		})
	}
}

// TestFranceTravailAsShipped checks the scenario's acceptance: every one of
// the three failures is reported, and counted, in one run.
func TestFranceTravailAsShipped(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the France Travail scenario")
	}
	dir := t.TempDir()
	code, out, _ := crosstalk(t, "run", "../../scenarios/france-travail-2024.yaml", "--duration", "10s", "--out", dir, "--quiet")
	require.Equal(t, exitFail, code, out)
	by := report(t, dir)["violations_by_oracle"].(map[string]any)
	for _, o := range []string{"breadth", "auth", "audit"} {
		assert.Greater(t, by[o], 0.0, o)
	}
	assert.Contains(t, out, "files read outside caseloads")
	assert.Contains(t, out, "missing from the audit log")
}
