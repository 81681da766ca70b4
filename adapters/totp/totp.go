// Package totp is core.TOTP with github.com/pquerna/otp: RFC 6238, SHA-1,
// 6 digits, 30-second steps (what every authenticator app reads from an
// otpauth:// URI).
package totp

import (
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// Period is the TOTP time step.
const Period = 30

// TOTP implements core.TOTP.
type TOTP struct{}

// New returns the TOTP port.
func New() TOTP { return TOTP{} }

// NewKey implements core.TOTP: a 160-bit secret (RFC 4226's recommended
// length) and its otpauth:// URI.
func (TOTP) NewKey(issuer, accountName string) (string, string, error) {
	k, err := totp.Generate(totp.GenerateOpts{
		Issuer: issuer, AccountName: accountName, Period: Period, SecretSize: 20,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return "", "", err
	}
	return k.Secret(), k.URL(), nil
}

var opts = totp.ValidateOpts{Period: Period, Skew: 0, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// MatchStep implements core.TOTP: the current step first, then one step
// back and one ahead (±1 step of skew), each checked on its own so the
// caller learns which step matched (replay refusal records it).
func (TOTP) MatchStep(secret, code string, now time.Time) (int64, bool) {
	for _, d := range []int64{0, -1, 1} {
		t := now.Add(time.Duration(d*Period) * time.Second)
		if ok, err := totp.ValidateCustom(code, secret, t, opts); err == nil && ok {
			return t.Unix() / Period, true
		}
	}
	return 0, false
}

// Code returns the code of secret at t (tests and tools).
func Code(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, opts)
}
