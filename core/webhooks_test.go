package core_test

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/core"
)

func TestWebhookRetry_ExponentialWithJitter_BoundedPeriod(t *testing.T) {
	r := core.DefaultWebhookRetry()
	first := time.Date(2031, 3, 1, 9, 0, 0, 0, time.UTC)
	now := first
	for n := 1; ; n++ {
		lo, giveLo := r.Next(n, first, now, 0)
		hi, giveHi := r.Next(n, first, now, 0.999999)
		if giveLo || giveHi {
			if now.Sub(first) < r.Period-2*r.Max {
				t.Fatalf("gave up after %d attempts, %s", n, now.Sub(first))
			}
			t.Logf("gave up at attempt %d after %s", n, now.Sub(first))
			break
		}
		step := min(r.Base<<(n-1), r.Max)
		if n > 40 {
			step = r.Max
		}
		if lo.Sub(now) != step/2 || hi.Sub(now) < step-time.Second || hi.Sub(now) > step {
			t.Fatalf("attempt %d: delay %s … %s, want %s … %s", n, lo.Sub(now), hi.Sub(now), step/2, step)
		}
		now = hi
		if n > 100 {
			t.Fatal("never gave up")
		}
	}
	if _, give := r.Next(1, first, first.Add(r.Period), 0.5); !give {
		t.Fatal("a retry past the period")
	}
}

func TestWebhookURL_HTTPSOnly_NoUserInfo_NoFragment(t *testing.T) {
	for _, bad := range []string{"", "http://x.example/", "ftp://x.example/", "https:///path", "https://u:p@x.example/",
		"https://x.example/#f", "/relative", "https://x.example:0/", "https://x.example:99999/", "https://" + strings.Repeat("a", 2100) + ".example/"} {
		if _, err := core.NormalizeWebhookURL(bad); core.ErrorCode(err) != core.CodeValidation {
			t.Errorf("%q accepted", bad)
		}
	}
	if u, err := core.NormalizeWebhookURL(" HTTPS://Hooks.Example.com:8443/in?x=1 "); err != nil || u != "https://hooks.example.com:8443/in?x=1" {
		t.Errorf("normalised %q, %v", u, err)
	}
}

func TestWebhookEventTypes_OnlyAuditActions(t *testing.T) {
	if _, err := core.NormalizeWebhookEventTypes([]string{"auth.logout", "nope"}); err == nil {
		t.Fatal("unknown type accepted")
	}
	got, err := core.NormalizeWebhookEventTypes([]string{"auth.logout", "account.created", "auth.logout"})
	if err != nil || strings.Join(got, ",") != "account.created,auth.logout" {
		t.Fatalf("%v %v", got, err)
	}
}

// What a delivered event may contain: the audit event as the owner reads
// it, never a secret detail, and its sequence.
func TestWebhookMessage_Payload(t *testing.T) {
	actor := uuid.New()
	e := core.AuditEvent{ID: uuid.New(), AccountID: uuid.New(), ActorUserID: &actor, Action: core.ActionLoginFailed,
		ResourceType: "user", Details: map[string]any{"reason": "x", "refresh_token": "secret!"},
		IP: netip.MustParseAddr("203.0.113.1"), At: time.Date(2031, 3, 1, 9, 0, 0, 0, time.UTC)}
	m, err := core.NewWebhookMessage(e, 7)
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != "evt_"+e.ID.String() || strings.Contains(string(m.Payload), "secret!") {
		t.Fatalf("%s %s", m.ID, m.Payload)
	}
	var p struct {
		Type string `json:"type"`
		Data struct {
			Sequence  int64   `json:"sequence"`
			UserAgent *string `json:"user_agent"`
		} `json:"data"`
	}
	if err := json.Unmarshal(m.Payload, &p); err != nil || p.Type != core.ActionLoginFailed || p.Data.Sequence != 7 || p.Data.UserAgent != nil {
		t.Fatalf("%s %v", m.Payload, err)
	}
}

func TestIsPublicAddr(t *testing.T) {
	for _, a := range []string{"127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
		"::1", "fe80::1", "fd00:ec2::254", "::ffff:10.0.0.1", "224.0.0.1", "192.0.2.1", "255.255.255.255"} {
		if core.IsPublicAddr(netip.MustParseAddr(a)) {
			t.Errorf("%s judged public", a)
		}
	}
	for _, a := range []string{"93.184.216.34", "8.8.8.8", "2606:4700::1111", "2001:4860:4860::8888"} {
		if !core.IsPublicAddr(netip.MustParseAddr(a)) {
			t.Errorf("%s judged not public", a)
		}
	}
}

func TestAuditRetention_OverrideBounds(t *testing.T) {
	s := core.DefaultPolicySettings()
	for _, d := range []int{6, 366} {
		err := s.ValidateOverride(core.PolicyOverride{AuditRetentionDays: &d})
		if e, ok := err.(*core.Error); !ok || e.Code != core.CodePolicyOutOfBounds || e.Field != "audit_retention_days" {
			t.Errorf("%d days: %v", d, err)
		}
	}
	d := 30
	if err := s.ValidateOverride(core.PolicyOverride{AuditRetentionDays: &d}); err != nil || s.EffectiveAuditRetention(core.PolicyOverride{AuditRetentionDays: &d}) != 30 {
		t.Fatal(err)
	}
	if s.EffectiveAuditRetention(core.PolicyOverride{}) != 90 {
		t.Fatal("default")
	}
}
