package main

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/adapters/mailer"
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

// MET-01: with nothing configured, the metrics listener binds loopback
// only and the API listener serves no metrics; METRICS_ADDR moves the
// listener, METRICS_ADDR=off turns it off, and only
// METRICS_ON_API_LISTENER=true puts /metrics on the API listener.
func TestConfig_MET01_MetricsPrivateByDefault_LoopbackListener(t *testing.T) {
	for _, tc := range []struct {
		addr, onAPI string
		wantAddr    string
		wantOnAPI   bool
	}{
		{"", "", "127.0.0.1:9090", false},
		{"[::1]:9100", "", "[::1]:9100", false},
		{"off", "", "", false},
		{"off", "true", "", true},
		{"", "true", "127.0.0.1:9090", true},
	} {
		t.Setenv("METRICS_ADDR", tc.addr)
		t.Setenv("METRICS_ON_API_LISTENER", tc.onAPI)
		c, err := loadConfig()
		if err != nil {
			t.Fatalf("METRICS_ADDR=%q METRICS_ON_API_LISTENER=%q: %v", tc.addr, tc.onAPI, err)
		}
		if c.MetricsAddr != tc.wantAddr || c.HTTP.MetricsOnAPI != tc.wantOnAPI {
			t.Errorf("METRICS_ADDR=%q METRICS_ON_API_LISTENER=%q: addr %q on API %v, want %q %v",
				tc.addr, tc.onAPI, c.MetricsAddr, c.HTTP.MetricsOnAPI, tc.wantAddr, tc.wantOnAPI)
		}
	}
	t.Setenv("METRICS_ADDR", "")
	t.Setenv("METRICS_ON_API_LISTENER", "maybe")
	if _, err := loadConfig(); err == nil || !strings.Contains(err.Error(), "METRICS_ON_API_LISTENER") {
		t.Errorf("METRICS_ON_API_LISTENER=maybe: err = %v", err)
	}
}

// LGN-10: production's mailer only queues, whichever mailer is behind it.
func TestMailer_LGN10_ProductionMailerOnlyQueues(t *testing.T) {
	for _, smtp := range []mailer.SMTPConfig{{}, {Addr: "127.0.0.1:1", From: "sessiond@example.com"}} {
		m, cleanup, err := provideMailer(Config{SMTP: smtp}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := m.(*mailer.Queue); !ok {
			t.Errorf("SMTP_ADDR=%q: the mailer is %T, want *mailer.Queue", smtp.Addr, m)
		}
		cleanup()
	}
}
