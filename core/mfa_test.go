package core_test

// Recent authentication and the second-factor policy, on a fake
// transaction and a fixed clock (docs/security-checklist.md SUDO-03, MFA-09).

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/core"
)

// sudoTx is a tenant transaction as RequireRecentAuth sees it (its port,
// SessionAuthState only): the session's authentication time and the
// account's policy.
type sudoTx struct {
	lastAuth time.Time
	live     bool
	policy   core.PolicyOverride
}

func (t *sudoTx) SessionAuthState(context.Context, uuid.UUID, time.Time) (core.SessionAuth, error) {
	if !t.live {
		return core.SessionAuth{}, core.ErrNotFound
	}
	return core.SessionAuth{AuthLevel: core.AuthLevel{AAL: 1, LastAuthAt: t.lastAuth}, ReauthMaxAgeMinutes: t.policy.ReauthMaxAgeMinutes}, nil
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

func TestSUDO03_RequireRecentAuth_WindowFromThePolicy_FakeClock(t *testing.T) {
	now := time.Unix(2_000_000_000, 0)
	svc, err := core.NewService(nil, nil, nil, fixedClock{now}, core.DefaultConfig(), nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ten := 10
	cases := []struct {
		name   string
		tx     sudoTx
		reauth bool // answered reauthentication_required
		ended  bool // answered invalid_token
	}{
		{"just signed in", sudoTx{lastAuth: now, live: true}, false, false},
		{"exactly the default 15 min", sudoTx{lastAuth: now.Add(-15 * time.Minute), live: true}, false, false},
		{"a second past the default", sudoTx{lastAuth: now.Add(-15*time.Minute - time.Second), live: true}, true, false},
		{"inside 15 but past an override of 10", sudoTx{lastAuth: now.Add(-11 * time.Minute), live: true,
			policy: core.PolicyOverride{ReauthMaxAgeMinutes: &ten}}, true, false},
		{"session ended", sudoTx{lastAuth: now, live: false}, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tx := tc.tx
			err := svc.RequireRecentAuth(context.Background(), &tx, core.Principal{SessionID: uuid.New()})
			switch {
			case tc.reauth:
				if core.ErrorCode(err) != core.CodeReauthRequired {
					t.Fatalf("err %v, want reauthentication_required", err)
				}
			case tc.ended:
				if core.ErrorCode(err) != core.CodeInvalidToken {
					t.Fatalf("err %v, want invalid_token", err)
				}
			case err != nil:
				t.Fatalf("err %v, want none", err)
			}
		})
	}
}

func TestMFA09_Policy_RequirementPerRole_BoundsAndAssurance(t *testing.T) {
	s := core.DefaultPolicySettings()
	for _, tc := range []struct {
		m            core.MFARequirement
		owner, membr bool
	}{
		{core.MFARequiredOff, false, false},
		{core.MFARequiredOwners, true, false},
		{core.MFARequiredAll, true, true},
	} {
		m := tc.m
		e := s.Effective(core.PolicyOverride{MFARequired: &m})
		if e.MFARequiredFor(core.RoleOwner) != tc.owner || e.MFARequiredFor(core.RoleMember) != tc.membr {
			t.Fatalf("%s: owner %v member %v", m, e.MFARequiredFor(core.RoleOwner), e.MFARequiredFor(core.RoleMember))
		}
	}
	if e := s.Effective(core.PolicyOverride{}); e.MFARequired != core.MFARequiredOff || e.ReauthMaxAgeMinutes != core.ReauthMaxAgeDefault {
		t.Fatalf("defaults %+v", e)
	}
	for _, v := range []int{0, 1441, -1} {
		v := v
		if code := core.ErrorCode(s.ValidateOverride(core.PolicyOverride{ReauthMaxAgeMinutes: &v})); code != core.CodePolicyOutOfBounds {
			t.Fatalf("reauth %d: %s", v, code)
		}
	}
	bad := core.MFARequirement("sometimes")
	if code := core.ErrorCode(s.ValidateOverride(core.PolicyOverride{MFARequired: &bad})); code != core.CodeValidation {
		t.Fatalf("mfa_required %q: %s", bad, code)
	}
	if a := (core.AuthLevel{AAL: 2, AMR: []string{"pwd", "otp"}}); a.ACR() != "aal2" {
		t.Fatalf("acr %s", a.ACR())
	}
	if a := (core.AuthLevel{}); a.ACR() != "aal1" || len(a.Methods()) != 1 || a.Methods()[0] != core.AMRPassword {
		t.Fatalf("zero level: %s %v", a.ACR(), a.Methods())
	}
}
