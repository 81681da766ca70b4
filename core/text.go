package core

import (
	"strings"
	"unicode/utf8"
)

// Limits, in characters, of the client-supplied header values that are
// stored with a session and its audit rows.
const (
	MaxUserAgentChars = 512
	MaxDeviceIDChars  = 200
)

// CleanText makes a client-supplied string storable: valid UTF-8 (each
// invalid byte sequence becomes U+FFFD), without NUL (PostgreSQL text
// cannot hold it), and at most maxChars characters, cut between characters,
// never inside one.
//
// SECURITY: headers such as User-Agent and X-Device-Id arrive as raw bytes.
// Stored as they came, one invalid byte makes PostgreSQL refuse the row and
// roll back the whole transaction with its audit event — which turned a
// sign-in into an account-existence oracle (401 for an unknown email, 422
// for a known one) and let a replayed refresh token escape reuse detection
// (the family's revocation rolled back). Every such value goes through here
// at the edge, before any core rule sees it.
func CleanText(s string, maxChars int) string {
	if maxChars <= 0 {
		return ""
	}
	if len(s) <= maxChars && utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s // the common case: short, clean ASCII or UTF-8
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "")
	n := 0
	for i := range s {
		if n == maxChars {
			return s[:i]
		}
		n++
	}
	return s
}

// Clean returns the client description with its stored strings made safe
// by CleanText.
func (c Client) Clean() Client {
	c.UserAgent = CleanText(c.UserAgent, MaxUserAgentChars)
	c.DeviceID = CleanText(c.DeviceID, MaxDeviceIDChars)
	return c
}
