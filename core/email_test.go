package core_test

import (
	"regexp"
	"testing"

	"github.com/sessiond/sessiond/core"
)

// The `format: email` checks of the validators generated clients use on
// User.email, copied from their sources. Every address the server accepts
// must pass all of them (the server created a user whose address
// the client's validator then rejected in the 201).
var clientEmailFormats = map[string]*regexp.Regexp{
	// zod v3/v4 z.string().email() (the default pattern).
	"zod": regexp.MustCompile(`(?i)^[A-Z0-9_'+\-\.]*[A-Z0-9_+-]@([A-Z0-9][A-Z0-9\-]*\.)+[A-Z]{2,}$`),
	// ajv-formats "email" (fast mode).
	"ajv-formats": regexp.MustCompile(`(?i)^[a-z0-9!#$%&'*+/=?^_` + "`" + `{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_` + "`" + `{|}~-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`),
	// kin-openapi FormatOfStringForEmail.
	"kin-openapi": regexp.MustCompile(`^[^@]+@[^@<>",\s]+$`),
}

// zodExtra are zod's lookaheads, which Go's regexp has no syntax for:
// (?!\.) and (?!.*\.\.).
func zodExtra(s string) bool {
	return len(s) > 0 && s[0] != '.' && !regexp.MustCompile(`\.\.`).MatchString(s)
}

func TestValidateEmailAgreesWithClientFormats(t *testing.T) {
	accepted := []string{
		"alice@example.com", "a.b-c_d+tag@sub.example.co.uk", "o'brien@example.ie",
		"x@xn--bcher-kva.example", "1@2.io", "contract.client+1712345@example.com",
	}
	rejected := []string{
		// Accepted by net/mail, the old check, but refused by zod or
		// ajv-formats.
		"a@localhost", "a!b@example.com", "a@b.c", "a@example.c0m", "{x}@example.com",
		"a@-example.com", "a@example-.com", "a/b@example.com", "a=b@example.com",
		"o'@example.com",
		// Refused everywhere.
		"", "@example.com", "a@", "a..b@example.com", ".a@example.com", "a.@example.com",
		`"a b"@example.com`, "a@[127.0.0.1]", "a b@example.com", "a@@example.com",
		"a@example..com", "alice@example.com\r\nbcc: x@example.com", "bücher@example.com",
	}
	for _, e := range accepted {
		if err := core.ValidateEmail(e); err != nil {
			t.Errorf("ValidateEmail(%q) = %v, want accepted", e, err)
		}
	}
	for _, e := range rejected {
		if err := core.ValidateEmail(e); err == nil {
			t.Errorf("ValidateEmail(%q) accepted, want rejected", e)
		} else if core.ErrorCode(err) != core.CodeValidation {
			t.Errorf("ValidateEmail(%q) code %s", e, core.ErrorCode(err))
		}
	}
	// The property that matters: whatever the server accepts, every client
	// format accepts.
	for _, e := range append(accepted, rejected...) {
		if core.ValidateEmail(e) != nil {
			continue
		}
		for name, re := range clientEmailFormats {
			if !re.MatchString(e) || (name == "zod" && !zodExtra(e)) {
				t.Errorf("server accepts %q but %s's format: email rejects it", e, name)
			}
		}
	}
}

func FuzzValidateEmailImpliesClientFormats(f *testing.F) {
	for _, s := range []string{"alice@example.com", "a@localhost", "o'brien@example.ie", "a.b@c.de"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, e string) {
		if core.ValidateEmail(e) != nil {
			return
		}
		for name, re := range clientEmailFormats {
			if !re.MatchString(e) || (name == "zod" && !zodExtra(e)) {
				t.Fatalf("server accepts %q but %s's format: email rejects it", e, name)
			}
		}
	})
}
