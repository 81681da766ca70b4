package core

import (
	"math"
	"time"
)

// Hard limits of the configurable policy settings, whatever the
// configuration says: what the database can hold (a test compares them
// with its CHECK constraints and column types).
const (
	// PolicyMinutesCeiling bounds the idle and absolute maxima: a session
	// stores its snapshot in seconds in an integer column
	// (sessions.idle_seconds, absolute_seconds), so minutes × 60 must fit
	// in an int32 (about 68 years).
	PolicyMinutesCeiling = math.MaxInt32 / 60
	// AuditRetentionFloorDays and AuditRetentionCeilingDays bound the audit
	// retention settings (accounts_audit_retention_days_bounds).
	AuditRetentionFloorDays   = 1
	AuditRetentionCeilingDays = 3660
)

// PolicySettings are the system-wide session-policy settings: the defaults
// used where an account has no override, and the bounds an override must
// respect. All values are minutes.
type PolicySettings struct {
	IdleDefault     int
	AbsoluteDefault int
	IdleMin         int
	IdleMax         int
	AbsoluteMin     int
	AbsoluteMax     int
	// Audit retention in days: the default where an account has no
	// setting, and the bounds of its setting (the maximum is the server's).
	AuditRetentionDefault int
	AuditRetentionMin     int
	AuditRetentionMax     int
}

// DefaultPolicySettings are the product defaults (docs/session-rules.md §2): idle 3 days (the
// "Strict" preset), absolute 14 days.
func DefaultPolicySettings() PolicySettings {
	return PolicySettings{
		IdleDefault:     4320,
		AbsoluteDefault: 20160,
		IdleMin:         15,
		IdleMax:         43200,
		AbsoluteMin:     60,
		AbsoluteMax:     129600,

		AuditRetentionDefault: 90,
		AuditRetentionMin:     7,
		AuditRetentionMax:     365,
	}
}

// Validate checks the settings themselves: bounds ordered and defaults
// inside them, default idle ≤ default absolute, maxima within the hard
// limits above.
func (s PolicySettings) Validate() error {
	switch {
	case s.IdleMin <= 0 || s.AbsoluteMin <= 0:
		return Errorf(CodeValidation, "policy minimums must be positive")
	case s.IdleMax > PolicyMinutesCeiling || s.AbsoluteMax > PolicyMinutesCeiling:
		return Errorf(CodeValidation, "policy maximums must be at most %d minutes", PolicyMinutesCeiling)
	case s.IdleMin > s.IdleMax:
		return Errorf(CodeValidation, "idle bounds are inverted (%d > %d)", s.IdleMin, s.IdleMax)
	case s.AbsoluteMin > s.AbsoluteMax:
		return Errorf(CodeValidation, "absolute bounds are inverted (%d > %d)", s.AbsoluteMin, s.AbsoluteMax)
	case s.IdleDefault < s.IdleMin || s.IdleDefault > s.IdleMax:
		return Errorf(CodeValidation, "idle default %d is outside %d..%d", s.IdleDefault, s.IdleMin, s.IdleMax)
	case s.AbsoluteDefault < s.AbsoluteMin || s.AbsoluteDefault > s.AbsoluteMax:
		return Errorf(CodeValidation, "absolute default %d is outside %d..%d", s.AbsoluteDefault, s.AbsoluteMin, s.AbsoluteMax)
	case s.IdleDefault > s.AbsoluteDefault:
		return Errorf(CodeValidation, "idle default %d exceeds absolute default %d", s.IdleDefault, s.AbsoluteDefault)
	case s.AuditRetentionMin < AuditRetentionFloorDays || s.AuditRetentionMin > s.AuditRetentionDefault ||
		s.AuditRetentionDefault > s.AuditRetentionMax || s.AuditRetentionMax > AuditRetentionCeilingDays:
		return Errorf(CodeValidation, "audit retention: want %d ≤ min %d ≤ default %d ≤ max %d ≤ %d days",
			AuditRetentionFloorDays, s.AuditRetentionMin, s.AuditRetentionDefault, s.AuditRetentionMax, AuditRetentionCeilingDays)
	}
	return nil
}

// PolicyOverride is an account's session policy as stored: the timeout
// overrides (nil means "system default") and the per-user session limit
// (see session_limit.go).
type PolicyOverride struct {
	IdleMinutes     *int
	AbsoluteMinutes *int
	// MaxSessionsPerUser: nil = unlimited.
	MaxSessionsPerUser *int
	// SessionLimitAction: "" reads as SessionLimitEvictOldest.
	SessionLimitAction SessionLimitAction
	// MFARequired and ReauthMaxAgeMinutes: second factor and recent
	// authentication (mfa.go); nil = the default.
	MFARequired         *MFARequirement
	ReauthMaxAgeMinutes *int
	// AuditRetentionDays: nil = the server's default.
	AuditRetentionDays *int
}

// EffectiveAuditRetention is the audit retention in force, in days.
func (s PolicySettings) EffectiveAuditRetention(o PolicyOverride) int {
	if o.AuditRetentionDays != nil {
		return *o.AuditRetentionDays
	}
	return s.AuditRetentionDefault
}

// EffectivePolicy is the policy in force for an account: override if set,
// else default.
type EffectivePolicy struct {
	IdleMinutes         int
	AbsoluteMinutes     int
	MFARequired         MFARequirement
	ReauthMaxAgeMinutes int
}

// Effective resolves an override against the defaults.
func (s PolicySettings) Effective(o PolicyOverride) EffectivePolicy {
	p := EffectivePolicy{IdleMinutes: s.IdleDefault, AbsoluteMinutes: s.AbsoluteDefault,
		MFARequired: MFARequiredOff, ReauthMaxAgeMinutes: ReauthMaxAgeDefault}
	if o.MFARequired != nil {
		p.MFARequired = *o.MFARequired
	}
	if o.ReauthMaxAgeMinutes != nil {
		p.ReauthMaxAgeMinutes = *o.ReauthMaxAgeMinutes
	}
	if o.IdleMinutes != nil {
		p.IdleMinutes = *o.IdleMinutes
	}
	if o.AbsoluteMinutes != nil {
		p.AbsoluteMinutes = *o.AbsoluteMinutes
	}
	return p
}

// ValidateOverride checks an override: each set field within its bounds
// first (naming the field), then the invariant on the *effective* values, so
// a partial override that breaks it against a default is rejected too (the
// database CHECK only sees the both-set case).
func (s PolicySettings) ValidateOverride(o PolicyOverride) error {
	if o.IdleMinutes != nil && (*o.IdleMinutes < s.IdleMin || *o.IdleMinutes > s.IdleMax) {
		return FieldError(CodePolicyOutOfBounds, "idle_minutes",
			"idle_minutes must be between %d and %d (got %d)", s.IdleMin, s.IdleMax, *o.IdleMinutes)
	}
	if o.AbsoluteMinutes != nil && (*o.AbsoluteMinutes < s.AbsoluteMin || *o.AbsoluteMinutes > s.AbsoluteMax) {
		return FieldError(CodePolicyOutOfBounds, "absolute_minutes",
			"absolute_minutes must be between %d and %d (got %d)", s.AbsoluteMin, s.AbsoluteMax, *o.AbsoluteMinutes)
	}
	if err := validateMFAPolicy(o); err != nil {
		return err
	}
	if d := o.AuditRetentionDays; d != nil && (*d < s.AuditRetentionMin || *d > s.AuditRetentionMax) {
		return FieldError(CodePolicyOutOfBounds, "audit_retention_days",
			"audit_retention_days must be between %d and %d (got %d)", s.AuditRetentionMin, s.AuditRetentionMax, *d)
	}
	e := s.Effective(o)
	if e.IdleMinutes > e.AbsoluteMinutes {
		field := "idle_minutes"
		if o.IdleMinutes == nil {
			field = "absolute_minutes"
		}
		return FieldError(CodePolicyInvariant, field,
			"effective idle (%d min) cannot exceed effective absolute (%d min)", e.IdleMinutes, e.AbsoluteMinutes)
	}
	return nil
}

// IntChange is one nullable integer field of a PolicyPatch (minutes, days
// or a session count, as the field says). Set false leaves the field
// unchanged; Set with a nil Value clears it.
type IntChange struct {
	Set   bool
	Value *int
}

// PolicyPatch is a partial update of an account's override (JSON merge
// semantics: omitted = unchanged, null = clear).
type PolicyPatch struct {
	Idle     IntChange
	Absolute IntChange
	// MaxSessions is max_sessions_per_user (null = unlimited).
	MaxSessions IntChange
	// LimitAction, when not nil, sets session_limit_action (not nullable).
	LimitAction *SessionLimitAction
	// AuditRetention is audit_retention_days (days; null = default).
	AuditRetention IntChange
	// MFARequired (null = default) and ReauthMaxAge (minutes, null =
	// default): mfa.go.
	MFARequired  MFARequirementChange
	ReauthMaxAge IntChange
}

// Apply returns o with the patch applied.
func (p PolicyPatch) Apply(o PolicyOverride) PolicyOverride {
	if p.Idle.Set {
		o.IdleMinutes = p.Idle.Value
	}
	if p.Absolute.Set {
		o.AbsoluteMinutes = p.Absolute.Value
	}
	if p.MaxSessions.Set {
		o.MaxSessionsPerUser = p.MaxSessions.Value
	}
	if p.LimitAction != nil {
		o.SessionLimitAction = *p.LimitAction
	}
	if p.AuditRetention.Set {
		o.AuditRetentionDays = p.AuditRetention.Value
	}
	if p.MFARequired.Set {
		o.MFARequired = p.MFARequired.Value
	}
	if p.ReauthMaxAge.Set {
		o.ReauthMaxAgeMinutes = p.ReauthMaxAge.Value
	}
	return o
}

// Snapshot is the policy frozen into a session at sign-in and carried by its
// refresh tokens. It never slides.
type Snapshot struct {
	IdleSeconds     int64
	AbsoluteSeconds int64
}

// Snapshot converts the effective policy to the seconds stored in a session
// and its token claims. Should the settings ever have changed so that a
// stored override now breaks the invariant, idle is clamped to absolute: a
// session is never issued with idle > absolute.
func (p EffectivePolicy) Snapshot() Snapshot {
	idle, abs := int64(p.IdleMinutes)*60, int64(p.AbsoluteMinutes)*60
	if idle > abs {
		idle = abs
	}
	return Snapshot{IdleSeconds: idle, AbsoluteSeconds: abs}
}

// Idle and Absolute return the snapshot's windows as durations.
func (s Snapshot) Idle() time.Duration     { return time.Duration(s.IdleSeconds) * time.Second }
func (s Snapshot) Absolute() time.Duration { return time.Duration(s.AbsoluteSeconds) * time.Second }
