package core

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

func TestAuditEventNormalized_DropsSecretDetailsKeepsHashes(t *testing.T) {
	e := AuditEvent{Action: ActionLogout, ResourceType: "session", Details: map[string]any{
		"password":         "hunter2",
		"new_Password":     "x",
		"refresh_token":    "rt",
		"client_secret":    "s",
		"jti":              "j",
		"Authorization":    "Bearer x",
		"cookie":           "c",
		"token_hash":       "kept",
		"jti_hash":         "kept",
		"reason":           "logout",
		"sessions_revoked": 3,
	}}
	got := e.Normalized().Details
	want := map[string]any{"token_hash": "kept", "jti_hash": "kept", "reason": "logout", "sessions_revoked": 3}
	if len(got) != len(want) {
		t.Fatalf("details = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("details[%q] = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
	if _, ok := e.Details["password"]; !ok {
		t.Fatal("Normalized changed the caller's details map")
	}
}

func TestAuditEventNormalized_CleansAndCapsUserAgent(t *testing.T) {
	ua := "Mozilla\x00\xff" + strings.Repeat("a", 2*MaxUserAgentChars)
	got := AuditEvent{UserAgent: ua}.Normalized().UserAgent
	if !utf8.ValidString(got) || strings.IndexByte(got, 0) >= 0 {
		t.Fatalf("user agent not cleaned: %q", got)
	}
	if n := utf8.RuneCountInString(got); n != MaxUserAgentChars {
		t.Fatalf("user agent has %d characters, want %d", n, MaxUserAgentChars)
	}
	if !strings.HasPrefix(got, "Mozilla\uFFFD") {
		t.Fatalf("user agent = %q…", got[:12])
	}
}

func TestAuditEventNormalized_NilDetailsAndIDFilled(t *testing.T) {
	n := AuditEvent{}.Normalized()
	if n.Details == nil || len(n.Details) != 0 {
		t.Fatalf("details = %#v, want {}", n.Details)
	}
	if n.ID == uuid.Nil {
		t.Fatal("no ID filled in")
	}
	id := uuid.New()
	if got := (AuditEvent{ID: id}).Normalized().ID; got != id {
		t.Fatalf("ID replaced: %s, want %s", got, id)
	}
}

func TestServiceEvent_IsNormalized(t *testing.T) {
	var s Service
	e := s.event(uuid.New(), nil, ActionLogout, "session", "x", map[string]any{"access_token": "t", "ok": true},
		Client{UserAgent: strings.Repeat("b", MaxUserAgentChars+10)}, time.Unix(1_700_000_000, 0))
	if _, ok := e.Details["access_token"]; ok || e.Details["ok"] != true {
		t.Fatalf("details = %v", e.Details)
	}
	if utf8.RuneCountInString(e.UserAgent) != MaxUserAgentChars {
		t.Fatalf("user agent not capped: %d characters", utf8.RuneCountInString(e.UserAgent))
	}
}
