package core_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond/core"
)

func intp(v int) *int { return &v }

// wantError asserts that err is a *core.Error with exactly code, field and
// message.
func wantError(t *testing.T, err error, code core.Code, field, message string) {
	t.Helper()
	var e *core.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *core.Error with code %q", err, err, code)
	}
	if e.Code != code || e.Field != field || e.Message != message {
		t.Fatalf("error = {Code:%q Field:%q Message:%q}\nwant    {Code:%q Field:%q Message:%q}",
			e.Code, e.Field, e.Message, code, field, message)
	}
}

func TestDefaultPolicySettings_MatchSpecDefaultsAndBounds(t *testing.T) {
	got := core.DefaultPolicySettings()
	want := core.PolicySettings{
		IdleDefault: 4320, AbsoluteDefault: 20160,
		IdleMin: 15, IdleMax: 43200,
		AbsoluteMin: 60, AbsoluteMax: 129600,
		AuditRetentionDefault: 90, AuditRetentionMin: 7, AuditRetentionMax: 365,
	}
	if got != want {
		t.Fatalf("DefaultPolicySettings() = %+v, want %+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
}

func TestPolicySettingsEffective_OverrideWinsPerField(t *testing.T) {
	s := core.DefaultPolicySettings()
	tests := []struct {
		name string
		o    core.PolicyOverride
		want core.EffectivePolicy
	}{
		{"no override uses both defaults", core.PolicyOverride{}, core.EffectivePolicy{IdleMinutes: 4320, AbsoluteMinutes: 20160}},
		{"idle only keeps default absolute", core.PolicyOverride{IdleMinutes: intp(60)}, core.EffectivePolicy{IdleMinutes: 60, AbsoluteMinutes: 20160}},
		{"absolute only keeps default idle", core.PolicyOverride{AbsoluteMinutes: intp(30000)}, core.EffectivePolicy{IdleMinutes: 4320, AbsoluteMinutes: 30000}},
		{"full override replaces both", core.PolicyOverride{IdleMinutes: intp(30), AbsoluteMinutes: intp(120)}, core.EffectivePolicy{IdleMinutes: 30, AbsoluteMinutes: 120}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The second-factor fields take their defaults (mfa_test.go).
			tt.want.MFARequired, tt.want.ReauthMaxAgeMinutes = core.MFARequiredOff, core.ReauthMaxAgeDefault
			if got := s.Effective(tt.o); got != tt.want {
				t.Fatalf("Effective(%+v) = %+v, want %+v", tt.o, got, tt.want)
			}
		})
	}
}

func TestPolicySettingsValidateOverride_BoundsThenEffectiveInvariant(t *testing.T) {
	s := core.DefaultPolicySettings()
	type wantErr struct {
		code    core.Code
		field   string
		message string
	}
	tests := []struct {
		name string
		o    core.PolicyOverride
		want *wantErr // nil: accepted
	}{
		{name: "no override accepted", o: core.PolicyOverride{}},
		{name: "idle exactly at min accepted", o: core.PolicyOverride{IdleMinutes: intp(15)}},
		{name: "idle exactly at max with absolute at max accepted", o: core.PolicyOverride{IdleMinutes: intp(43200), AbsoluteMinutes: intp(129600)}},
		{name: "absolute exactly at min with idle at min accepted", o: core.PolicyOverride{IdleMinutes: intp(15), AbsoluteMinutes: intp(60)}},
		{name: "absolute exactly at max accepted", o: core.PolicyOverride{AbsoluteMinutes: intp(129600)}},
		{name: "idle equal to absolute accepted", o: core.PolicyOverride{IdleMinutes: intp(720), AbsoluteMinutes: intp(720)}},
		{name: "partial idle equal to default absolute accepted", o: core.PolicyOverride{IdleMinutes: intp(20160)}},
		{
			name: "idle below min out of bounds",
			o:    core.PolicyOverride{IdleMinutes: intp(14)},
			want: &wantErr{core.CodePolicyOutOfBounds, "idle_minutes", "idle_minutes must be between 15 and 43200 (got 14)"},
		},
		{
			name: "idle above max out of bounds",
			o:    core.PolicyOverride{IdleMinutes: intp(43201), AbsoluteMinutes: intp(129600)},
			want: &wantErr{core.CodePolicyOutOfBounds, "idle_minutes", "idle_minutes must be between 15 and 43200 (got 43201)"},
		},
		{
			name: "idle zero out of bounds",
			o:    core.PolicyOverride{IdleMinutes: intp(0)},
			want: &wantErr{core.CodePolicyOutOfBounds, "idle_minutes", "idle_minutes must be between 15 and 43200 (got 0)"},
		},
		{
			name: "absolute below min out of bounds",
			o:    core.PolicyOverride{IdleMinutes: intp(15), AbsoluteMinutes: intp(59)},
			want: &wantErr{core.CodePolicyOutOfBounds, "absolute_minutes", "absolute_minutes must be between 60 and 129600 (got 59)"},
		},
		{
			name: "absolute above max out of bounds",
			o:    core.PolicyOverride{AbsoluteMinutes: intp(129601)},
			want: &wantErr{core.CodePolicyOutOfBounds, "absolute_minutes", "absolute_minutes must be between 60 and 129600 (got 129601)"},
		},
		{
			name: "both out of bounds reports idle first",
			o:    core.PolicyOverride{IdleMinutes: intp(1), AbsoluteMinutes: intp(1)},
			want: &wantErr{core.CodePolicyOutOfBounds, "idle_minutes", "idle_minutes must be between 15 and 43200 (got 1)"},
		},
		{
			name: "both set idle greater than absolute violates invariant",
			o:    core.PolicyOverride{IdleMinutes: intp(121), AbsoluteMinutes: intp(120)},
			want: &wantErr{core.CodePolicyInvariant, "idle_minutes", "effective idle (121 min) cannot exceed effective absolute (120 min)"},
		},
		{
			name: "partial idle 43200 against default absolute 20160 violates invariant",
			o:    core.PolicyOverride{IdleMinutes: intp(43200)},
			want: &wantErr{core.CodePolicyInvariant, "idle_minutes", "effective idle (43200 min) cannot exceed effective absolute (20160 min)"},
		},
		{
			name: "partial absolute 60 against default idle 4320 violates invariant on absolute_minutes",
			o:    core.PolicyOverride{AbsoluteMinutes: intp(60)},
			want: &wantErr{core.CodePolicyInvariant, "absolute_minutes", "effective idle (4320 min) cannot exceed effective absolute (60 min)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.ValidateOverride(tt.o)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("ValidateOverride() = %v, want nil", err)
				}
				return
			}
			wantError(t, err, tt.want.code, tt.want.field, tt.want.message)
		})
	}
}

func TestEffectivePolicySnapshot_MinutesToSecondsAndIdleClampedToAbsolute(t *testing.T) {
	tests := []struct {
		name string
		p    core.EffectivePolicy
		want core.Snapshot
	}{
		{"defaults", core.EffectivePolicy{IdleMinutes: 4320, AbsoluteMinutes: 20160}, core.Snapshot{IdleSeconds: 259200, AbsoluteSeconds: 1209600}},
		{"one and four hours", core.EffectivePolicy{IdleMinutes: 60, AbsoluteMinutes: 240}, core.Snapshot{IdleSeconds: 3600, AbsoluteSeconds: 14400}},
		{"maximum bounds do not overflow", core.EffectivePolicy{IdleMinutes: 43200, AbsoluteMinutes: 129600}, core.Snapshot{IdleSeconds: 2592000, AbsoluteSeconds: 7776000}},
		{"idle above absolute clamped", core.EffectivePolicy{IdleMinutes: 43200, AbsoluteMinutes: 20160}, core.Snapshot{IdleSeconds: 1209600, AbsoluteSeconds: 1209600}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.p.Snapshot()
			if got != tt.want {
				t.Fatalf("Snapshot() = %+v, want %+v", got, tt.want)
			}
			if got.Idle() != time.Duration(tt.want.IdleSeconds)*time.Second ||
				got.Absolute() != time.Duration(tt.want.AbsoluteSeconds)*time.Second {
				t.Fatalf("Idle()/Absolute() = %v/%v, want %ds/%ds", got.Idle(), got.Absolute(), tt.want.IdleSeconds, tt.want.AbsoluteSeconds)
			}
		})
	}
	if d := (core.Snapshot{IdleSeconds: 259200, AbsoluteSeconds: 1209600}).Idle(); d != 72*time.Hour {
		t.Fatalf("Idle() of 259200 s = %v, want 72h", d)
	}
}

func TestPolicySettingsValidate_RejectsInconsistentSettings(t *testing.T) {
	mod := func(f func(*core.PolicySettings)) core.PolicySettings {
		s := core.DefaultPolicySettings()
		f(&s)
		return s
	}
	tests := []struct {
		name    string
		s       core.PolicySettings
		message string // "" means valid
	}{
		{"defaults valid", core.DefaultPolicySettings(), ""},
		{"zero idle minimum", mod(func(s *core.PolicySettings) { s.IdleMin = 0 }), "policy minimums must be positive"},
		{"negative absolute minimum", mod(func(s *core.PolicySettings) { s.AbsoluteMin = -1 }), "policy minimums must be positive"},
		{"idle bounds inverted", mod(func(s *core.PolicySettings) { s.IdleMin, s.IdleMax = 500, 400 }), "idle bounds are inverted (500 > 400)"},
		{"absolute bounds inverted", mod(func(s *core.PolicySettings) { s.AbsoluteMin, s.AbsoluteMax = 30000, 20000 }), "absolute bounds are inverted (30000 > 20000)"},
		{"idle default below min", mod(func(s *core.PolicySettings) { s.IdleDefault = 14 }), "idle default 14 is outside 15..43200"},
		{"idle default above max", mod(func(s *core.PolicySettings) { s.IdleDefault = 43201 }), "idle default 43201 is outside 15..43200"},
		{"absolute default below min", mod(func(s *core.PolicySettings) { s.AbsoluteDefault = 59 }), "absolute default 59 is outside 60..129600"},
		{"absolute default above max", mod(func(s *core.PolicySettings) { s.AbsoluteDefault = 129601 }), "absolute default 129601 is outside 60..129600"},
		{"idle default above absolute default", mod(func(s *core.PolicySettings) { s.IdleDefault = 30000 }), "idle default 30000 exceeds absolute default 20160"},
		{"defaults exactly at bounds valid", mod(func(s *core.PolicySettings) { s.IdleDefault, s.AbsoluteDefault = 15, 129600 }), ""},
		// A session stores its snapshot in seconds in integer columns: a
		// maximum whose seconds overflow an int32 would be cut on the way in.
		{"absolute maximum at the ceiling valid", mod(func(s *core.PolicySettings) { s.AbsoluteMax = core.PolicyMinutesCeiling }), ""},
		{"absolute maximum past the ceiling", mod(func(s *core.PolicySettings) { s.AbsoluteMax = core.PolicyMinutesCeiling + 1 }), "policy maximums must be at most 35791394 minutes"},
		{"idle maximum past the ceiling", mod(func(s *core.PolicySettings) { s.IdleMax = core.PolicyMinutesCeiling + 1 }), "policy maximums must be at most 35791394 minutes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Validate()
			if tt.message == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			wantError(t, err, core.CodeValidation, "", tt.message)
		})
	}
}
