package portal

import (
	"errors"
	"strconv"
	"strings"
)

// Session encodings. Version 1 (the current release) writes
// "account|mustchange|migration"; version 2 (the next release) puts the flags
// first and tags the format: "mustchange|migration|account|v2". A replica of
// either version reads both when it validates the shape; see
// defect_session_format_skew.go for one that does not.
const (
	V1 = "v1"
	V2 = "v2"
)

var errBadSession = errors.New("malformed session")

func encodeSession(version string, s Session) string {
	b := func(v bool) string {
		if v {
			return "1"
		}
		return "0"
	}
	if s.IsAdviser {
		return "adv|" + strconv.Itoa(s.Adviser) + "|" + b(s.MFAPending)
	}
	if version == V2 {
		return b(s.MustChange) + "|" + b(s.Migration) + "|" + strconv.Itoa(s.Account) + "|v2"
	}
	return strconv.Itoa(s.Account) + "|" + b(s.MustChange) + "|" + b(s.Migration)
}

// decodeSession reads either version, refusing any other shape.
func decodeSession(v string) (Session, error) {
	f := strings.Split(v, "|")
	switch {
	case len(f) == 3 && f[0] == "adv":
		id, err := strconv.Atoi(f[1])
		if err != nil || id < 0 || (f[2] != "0" && f[2] != "1") {
			return Session{}, errBadSession
		}
		return Session{IsAdviser: true, Adviser: id, MFAPending: f[2] == "1"}, nil
	case len(f) == 3:
		return sessionFields(f[0], f[1], f[2])
	case len(f) == 4 && f[3] == "v2":
		return sessionFields(f[2], f[0], f[1])
	}
	return Session{}, errBadSession
}

func sessionFields(account, mustChange, migration string) (Session, error) {
	id, err := strconv.Atoi(account)
	if err != nil || id < 0 || (mustChange != "0" && mustChange != "1") || (migration != "0" && migration != "1") {
		return Session{}, errBadSession
	}
	return Session{Account: id, MustChange: mustChange == "1", Migration: migration == "1"}, nil
}
