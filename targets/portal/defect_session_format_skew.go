package portal

import (
	"strconv"
	"strings"
)

// DefectSessionFormatSkew reproduces the rolling-deploy class of session
// mix-ups: a new version changes the session format and old replicas, still
// serving during the rollout, misread it. Here version 2 writes
// "mustchange|migration|account|v2"; a version-1 replica with the defect
// reads fields positionally without checking the shape, takes the
// must-change flag (0 or 1) for the account id, and serves account 0's or 1's
// dossier to everyone whose session a version-2 replica wrote.
const DefectSessionFormatSkew = "session-format-skew"

func init() {
	registerDefect(Defect{
		Name:      DefectSessionFormatSkew,
		Incident:  "rolling-deploy",
		Mechanism: "version-1 replicas read version-2 sessions positionally, taking a flag for the account id",
		Trigger:   "rolling-deploy",
	})
}

// decode reads a stored session the way this replica's version does.
func (r *Replica) decode(raw string) (Session, error) {
	if r.Version() == V1 && r.defects.Has(DefectSessionFormatSkew) {
		f := strings.Split(raw, "|")
		if len(f) < 3 {
			return Session{}, errBadSession
		}
		id, err := strconv.Atoi(f[0])
		if err != nil {
			return Session{}, errBadSession
		}
		return Session{Account: id, MustChange: f[1] == "1", Migration: f[2] == "1"}, nil
	}
	return decodeSession(raw)
}
