package core

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCleanText_HDR01(t *testing.T) {
	cjk := strings.Repeat("端", 100)                   // 300 bytes, 100 characters
	longUA := strings.Repeat("a", 511) + "é" + "tail" // the 512th character is two bytes
	cases := []struct {
		name, in string
		max      int
		want     string
	}{
		{"clean ASCII is untouched", "Mozilla/5.0", 512, "Mozilla/5.0"},
		{"an invalid byte becomes U+FFFD", "\xff", 512, "\uFFFD"},
		{"invalid bytes inside text", "Mozilla\xc3(\xff)", 512, "Mozilla\uFFFD(\uFFFD)"},
		{"NUL is dropped", "a\x00b", 512, "ab"},
		{"100 CJK characters fit a 200-character limit", cjk, 200, cjk},
		{"cut by characters, never inside one", longUA, 512, strings.Repeat("a", 511) + "é"},
		{"cut after multibyte characters", "ééé", 2, "éé"},
		{"a zero limit keeps nothing", "abc", 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := CleanText(c.in, c.max)
			if got != c.want {
				t.Fatalf("CleanText(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
			}
		})
	}
}

func TestClient_Clean_CapsHeadersInCharacters(t *testing.T) {
	c := Client{UserAgent: strings.Repeat("€", 600), DeviceID: strings.Repeat("端", 250) + "\xff"}.Clean()
	if n := utf8.RuneCountInString(c.UserAgent); n != MaxUserAgentChars {
		t.Errorf("user agent: %d characters, want %d", n, MaxUserAgentChars)
	}
	if n := utf8.RuneCountInString(c.DeviceID); n != MaxDeviceIDChars || !utf8.ValidString(c.DeviceID) {
		t.Errorf("device id: %d characters (valid %v), want %d", n, utf8.ValidString(c.DeviceID), MaxDeviceIDChars)
	}
}

// FuzzCleanText: whatever the bytes, the result is storable text (valid
// UTF-8, no NUL) of at most max characters, and cleaning is idempotent.
func FuzzCleanText(f *testing.F) {
	for _, s := range []string{"", "\xff", "a\x00b", strings.Repeat("端", 100), strings.Repeat("a", 511) + "é", "\xc3", "\xed\xa0\x80", "Mozilla/5.0 (X11; Linux x86_64)"} {
		f.Add(s, 512)
		f.Add(s, 200)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max < 0 || max > 4096 {
			return
		}
		got := CleanText(s, max)
		if !utf8.ValidString(got) || strings.IndexByte(got, 0) >= 0 || utf8.RuneCountInString(got) > max {
			t.Fatalf("CleanText(%q, %d) = %q: not storable", s, max, got)
		}
		if again := CleanText(got, max); again != got {
			t.Fatalf("not idempotent: %q then %q", got, again)
		}
	})
}
