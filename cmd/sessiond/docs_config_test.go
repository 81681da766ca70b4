package main

import (
	"strings"
	"testing"
)

func TestConfig_DocsEnabled_DefaultsOn_AndIsValidated(t *testing.T) {
	for _, tc := range []struct {
		env  string
		want bool
		err  bool
	}{
		{"", true, false},
		{"false", false, false},
		{"true", true, false},
		{"maybe", false, true},
	} {
		t.Setenv("DOCS_ENABLED", tc.env)
		c, err := loadConfig()
		if tc.err {
			if err == nil || !strings.Contains(err.Error(), "DOCS_ENABLED") {
				t.Errorf("DOCS_ENABLED=%q: err = %v, want a DOCS_ENABLED error", tc.env, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("DOCS_ENABLED=%q: %v", tc.env, err)
		}
		if c.HTTP.DocsEnabled != tc.want {
			t.Errorf("DOCS_ENABLED=%q: DocsEnabled = %v, want %v", tc.env, c.HTTP.DocsEnabled, tc.want)
		}
	}
}
