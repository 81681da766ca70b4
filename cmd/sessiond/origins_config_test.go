package main

import (
	"net/netip"
	"strings"
	"testing"
)

// CK-04: ALLOWED_ORIGINS is validated at start-up, each bad entry named in
// the configuration error; one case per rule.
func TestConfig_CK04_AllowedOrigins_ValidatedAtStartup(t *testing.T) {
	for rule, entry := range map[string]string{
		"wildcard":       "*",
		"opaque null":    "null",
		"path":           "https://app.example.test/app",
		"trailing slash": "https://app.example.test/",
		"other scheme":   "ftp://app.example.test",
		"no scheme":      "app.example.test:443",
	} {
		t.Run(rule, func(t *testing.T) {
			t.Setenv("ALLOWED_ORIGINS", "https://ok.example.test,"+entry)
			_, err := loadConfig()
			if err == nil || !strings.Contains(err.Error(), "ALLOWED_ORIGINS") || !strings.Contains(err.Error(), entry) {
				t.Fatalf("ALLOWED_ORIGINS=%q: err = %v, want an ALLOWED_ORIGINS error naming the entry", entry, err)
			}
		})
	}
	t.Setenv("ALLOWED_ORIGINS", "https://app.example.test, http://localhost:5173")
	c, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.HTTP.AllowedOrigins) != 2 {
		t.Errorf("AllowedOrigins = %v", c.HTTP.AllowedOrigins)
	}
}

// TRUSTED_PROXIES takes CIDR prefixes and bare addresses (one-address
// prefixes); anything else is a start-up error.
func TestConfig_TrustedProxies_PrefixesAndAddresses(t *testing.T) {
	t.Setenv("TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1, ::1, 192.168.1.7/24")
	c, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32"),
		netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("192.168.1.0/24")}
	if len(c.HTTP.TrustedProxies) != len(want) {
		t.Fatalf("TrustedProxies = %v, want %v", c.HTTP.TrustedProxies, want)
	}
	for i := range want {
		if c.HTTP.TrustedProxies[i] != want[i] {
			t.Errorf("TrustedProxies[%d] = %v, want %v", i, c.HTTP.TrustedProxies[i], want[i])
		}
	}
	t.Setenv("TRUSTED_PROXIES", "proxy.internal")
	if _, err := loadConfig(); err == nil || !strings.Contains(err.Error(), "TRUSTED_PROXIES") {
		t.Errorf("TRUSTED_PROXIES=proxy.internal: err = %v", err)
	}
}
