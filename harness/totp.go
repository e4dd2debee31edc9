package harness

import (
	"fmt"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// totpNow is the {{totp .User}} and {{totp .Adviser}} template helper: the
// actor's current time-based one-time password (RFC 6238: 30 s steps, six
// digits, SHA-1), as its authenticator app shows it. It is computed with
// pquerna/otp from the secret the population derives from the seed.
func totpNow(who any) (string, error) {
	var secret string
	switch w := who.(type) {
	case flowUser:
		secret = w.TOTPSecret
	case adviserData:
		secret = w.TOTPSecret
	default:
		return "", fmt.Errorf("totp: want .User or .Adviser, not %T", who)
	}
	return totp.GenerateCodeCustom(secret, time.Now(), totp.ValidateOpts{
		Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
}
