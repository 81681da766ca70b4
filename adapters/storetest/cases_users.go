package storetest

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/core"
)

// Member administration (docs/session-rules.md §5), emailed tokens, and
// a session's authentication state (§11).

// testUserAdministration: UserLockActiveOwners returns the active owners
// in id order; UserUpdate writes role, active flag and name (UserAccess,
// UserLockForUpdate and UserLockForSignIn read them); UserDelete takes the
// user's sessions and reset tokens with them, frees the email (sign-in
// finds no one, it can be used again) and leaves the audit events that
// name the user.
func testUserAdministration(t *testing.T, e *env) {
	tn := e.newTenant()
	o2, o3, m := e.newUser(tn), e.newUser(tn), e.newUser(tn)
	now := t0.Add(time.Minute)
	e.tx(tn.account, func(tx core.TenantTx) error {
		if err := tx.UserUpdate(e.ctx, core.User{ID: o2.ID, Role: core.RoleOwner, Active: true, Name: "Second"}, now); err != nil {
			return err
		}
		return tx.UserUpdate(e.ctx, core.User{ID: o3.ID, Role: core.RoleOwner, Active: false, Name: "Third"}, now)
	})
	want := []uuid.UUID{tn.owner.ID, o2.ID}
	slices.SortFunc(want, compareIDs)
	e.tx(tn.account, func(tx core.TenantTx) error {
		owners, err := tx.UserLockActiveOwners(e.ctx)
		if !slices.Equal(owners, want) {
			t.Errorf("UserLockActiveOwners = %v, want the active owners in id order %v", owners, want)
		}
		if role, active, err := tx.UserAccess(e.ctx, o3.ID); err != nil || role != core.RoleOwner || active {
			t.Errorf("UserAccess(inactive owner) = %s, %v, %v", role, active, err)
		}
		if u, err := tx.UserLockForUpdate(e.ctx, o2.ID); err != nil || u.Name != "Second" || u.Role != core.RoleOwner || !u.Active || u.Email != o2.Email {
			t.Errorf("UserLockForUpdate = %+v, %v", u, err)
		}
		if active, err := tx.UserLockForSignIn(e.ctx, o3.ID); err != nil || active {
			t.Errorf("UserLockForSignIn(inactive) = %v, %v; want false", active, err)
		}
		return err
	})

	// The member goes, with their session and reset token; the event that
	// names them stays.
	s := e.newSession(tn.account, m.ID, defaultSpec)
	reset := core.HashJTI(core.NewJTI())
	e.tx(tn.account, func(tx core.TenantTx) error {
		if err := tx.PasswordResetTokenCreate(e.ctx, core.PasswordResetToken{Hash: reset, UserID: m.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
			return err
		}
		if err := tx.Audit(e.ctx, core.AuditEvent{AccountID: tn.account, ActorUserID: &m.ID, Action: core.ActionLogout,
			ResourceType: "session", ResourceID: s.ID.String(), At: t0}.Normalized()); err != nil {
			return err
		}
		return tx.UserDelete(e.ctx, m.ID)
	})
	e.tx(tn.account, func(tx core.TenantTx) error {
		_, err := tx.UserGet(e.ctx, m.ID)
		wantErr(t, "UserGet(deleted)", err, core.ErrNotFound)
		_, err = tx.SessionOwner(e.ctx, s.ID)
		wantErr(t, "SessionOwner(deleted user's session)", err, core.ErrNotFound)
		_, err = tx.PasswordResetTokenLock(e.ctx, reset)
		wantErr(t, "PasswordResetTokenLock(deleted user's token)", err, core.ErrNotFound)
		wantErr(t, "UserDelete(deleted)", tx.UserDelete(e.ctx, m.ID), core.ErrNotFound)
		evs, err := tx.AuditList(e.ctx, core.AuditQuery{ActorUserID: &m.ID, Limit: 10})
		if len(evs) != 1 {
			t.Errorf("AuditList(deleted actor) = %d events, want the one they did", len(evs))
		}
		return err
	})
	if _, err := e.s.UserForLogin(e.ctx, m.Email); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("UserForLogin(deleted): err = %v, want ErrNotFound", err)
	}
	again := core.User{ID: uuid.New(), AccountID: tn.account, Email: m.Email, Name: "Again", Role: core.RoleMember, Active: true, CreatedAt: now}
	e.tx(tn.account, func(tx core.TenantTx) error { return tx.UserCreate(e.ctx, again, "$argon2id$stub") })
	if lu, err := e.s.UserForLogin(e.ctx, m.Email); err != nil || lu.UserID != again.ID {
		t.Errorf("UserForLogin(email reused) = %+v, %v; want the new user", lu, err)
	}
}

// tokenKind is one kind of emailed token: password reset or email
// verification, the same operations under two names.
type tokenKind struct {
	name   string
	create func(tx core.TenantTx, p core.PasswordResetToken) error
	lock   func(tx core.TenantTx, h []byte) (core.PasswordResetToken, error)
	// consume returns how many it marked, or -1 when the port does not say.
	consume func(tx core.TenantTx, user uuid.UUID, now time.Time) (int64, error)
}

func (e *env) tokenKinds() []tokenKind {
	return []tokenKind{
		{"PasswordReset", func(tx core.TenantTx, p core.PasswordResetToken) error { return tx.PasswordResetTokenCreate(e.ctx, p) },
			func(tx core.TenantTx, h []byte) (core.PasswordResetToken, error) {
				return tx.PasswordResetTokenLock(e.ctx, h)
			},
			func(tx core.TenantTx, u uuid.UUID, now time.Time) (int64, error) {
				return tx.PasswordResetTokensConsume(e.ctx, u, now)
			}},
		{"EmailVerification", func(tx core.TenantTx, p core.PasswordResetToken) error {
			return tx.EmailVerificationTokenCreate(e.ctx, p)
		},
			func(tx core.TenantTx, h []byte) (core.PasswordResetToken, error) {
				return tx.EmailVerificationTokenLock(e.ctx, h)
			},
			func(tx core.TenantTx, u uuid.UUID, now time.Time) (int64, error) {
				return -1, tx.EmailVerificationTokensConsume(e.ctx, u, now)
			}},
	}
}

// testTokensConsume: consuming a user's reset (or verification) tokens
// marks every unused one used at now and counts them — not one used
// before (it keeps its time), not another user's; the lock reads a token
// as it is.
func testTokensConsume(t *testing.T, e *env) {
	tn := e.newTenant()
	u, other := tn.owner.ID, e.newUser(tn).ID
	tok := func(user uuid.UUID) core.PasswordResetToken {
		return core.PasswordResetToken{Hash: core.HashJTI(core.NewJTI()), UserID: user, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	}
	used, now := t0.Add(time.Minute), t0.Add(2*time.Minute)
	for _, kind := range e.tokenKinds() {
		first, later, theirs := tok(u), []core.PasswordResetToken{tok(u), tok(u)}, tok(other)
		consume := func(tx core.TenantTx, at time.Time, want int64) error {
			n, err := kind.consume(tx, u, at)
			if n != want && n != -1 {
				t.Errorf("%sTokensConsume at %v = %d, want %d (the unused ones)", kind.name, at, n, want)
			}
			return err
		}
		e.tx(tn.account, func(tx core.TenantTx) error {
			for _, p := range []core.PasswordResetToken{first, theirs} {
				if err := kind.create(tx, p); err != nil {
					return err
				}
			}
			if err := consume(tx, used, 1); err != nil {
				return err
			}
			for _, p := range later {
				if err := kind.create(tx, p); err != nil {
					return err
				}
			}
			return consume(tx, now, 2)
		})
		e.tx(tn.account, func(tx core.TenantTx) error {
			for _, c := range []struct {
				p    core.PasswordResetToken
				used *time.Time
			}{{first, &used}, {later[0], &now}, {later[1], &now}, {theirs, nil}} {
				got, err := kind.lock(tx, c.p.Hash)
				if err != nil || !bytes.Equal(got.Hash, c.p.Hash) || got.UserID != c.p.UserID || !got.ExpiresAt.Equal(c.p.ExpiresAt) || !timeEqual(got.UsedAt, c.used) {
					t.Errorf("%sTokenLock = %+v, %v; want %+v used at %v", kind.name, got, err, c.p, c.used)
				}
			}
			return nil
		})
	}
}

// testSessionAuth: SessionSetAuth writes a session's authentication
// state, SessionAuthState reads it back with the account's reauth
// override, only while the session is live (ErrNotFound after).
func testSessionAuth(t *testing.T, e *env) {
	tn := e.newTenant()
	s := e.newSession(tn.account, tn.owner.ID, defaultSpec)
	e.tx(tn.account, func(tx core.TenantTx) error {
		return tx.AccountSetPolicy(e.ctx, core.PolicyOverride{ReauthMaxAgeMinutes: ptr(7)}, t0)
	})
	set := core.AuthLevel{AAL: 2, AMR: []string{core.AMRPassword, core.AMROTP}, LastAuthAt: t0.Add(time.Minute)}
	state := func(now time.Time) (a core.SessionAuth, err error) {
		_ = e.s.InTenantTx(e.ctx, tn.account, func(tx core.TenantTx) error { a, err = tx.SessionAuthState(e.ctx, s.ID, now); return nil })
		return a, err
	}
	if a, err := state(t0); err != nil || a.AAL != 1 || !slices.Equal(a.AMR, []string{core.AMRPassword}) || !a.LastAuthAt.Equal(t0) {
		t.Errorf("SessionAuthState(as signed in) = %+v, %v", a, err)
	}
	e.tx(tn.account, func(tx core.TenantTx) error { return tx.SessionSetAuth(e.ctx, s.ID, set) })
	a, err := state(t0.Add(2 * time.Minute))
	if err != nil || a.AAL != 2 || !slices.Equal(a.AMR, set.AMR) || !a.LastAuthAt.Equal(set.LastAuthAt) || a.EnrolOnly ||
		a.ReauthMaxAgeMinutes == nil || *a.ReauthMaxAgeMinutes != 7 {
		t.Errorf("SessionAuthState after SessionSetAuth = %+v, %v; want %+v with reauth 7", a, err, set)
	}
	if _, err := state(s.IdleExpiresAt); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("SessionAuthState(at the idle deadline): err = %v, want ErrNotFound", err)
	}
	wantErr(t, "SessionSetAuth(unknown)", e.s.InTenantTx(e.ctx, tn.account, func(tx core.TenantTx) error {
		return tx.SessionSetAuth(e.ctx, uuid.New(), set)
	}), core.ErrNotFound)
}

// testMFAChallenge: a sign-in challenge is locked by its token's hash as
// stored; MFAChallengeLockForAnswer reads it with its user, TOTP factor
// and the account's policy, and is ErrNotFound once the factor is gone;
// MFAChallengeUpdate counts attempts; MFAChallengeSpend marks it used and
// records the step on the factor (MFA-02, MFA-04).
func testMFAChallenge(t *testing.T, e *env) {
	tn := e.newTenant()
	u := tn.owner.ID
	f := core.Factor{ID: uuid.New(), UserID: u, SecretSealed: []byte("sealed"), CreatedAt: t0}
	c := core.MFAChallenge{ID: uuid.New(), UserID: u, TokenHash: core.HashJTI(core.NewJTI()), ExpiresAt: t0.Add(5 * time.Minute), CreatedAt: t0}
	e.tx(tn.account, func(tx core.TenantTx) error {
		if err := tx.FactorCreate(e.ctx, f); err != nil {
			return err
		}
		if err := tx.AccountSetPolicy(e.ctx, core.PolicyOverride{MFARequired: ptr(core.MFARequiredAll)}, t0); err != nil {
			return err
		}
		return tx.MFAChallengeCreate(e.ctx, c)
	})
	used := t0.Add(time.Minute)
	e.tx(tn.account, func(tx core.TenantTx) error {
		got, err := tx.MFAChallengeLock(e.ctx, c.TokenHash)
		if err != nil || got.ID != c.ID || got.UserID != u || !got.ExpiresAt.Equal(c.ExpiresAt) || got.UsedAt != nil || got.Attempts != 0 {
			t.Errorf("MFAChallengeLock = %+v, %v; want %+v", got, err, c)
		}
		if err := tx.MFAChallengeUpdate(e.ctx, c.ID, 2, nil); err != nil {
			return err
		}
		st, err := tx.MFAChallengeLockForAnswer(e.ctx, c.TokenHash)
		if err != nil || st.Challenge.ID != c.ID || st.Challenge.Attempts != 2 || st.User.ID != u || st.User.Email != tn.owner.Email ||
			st.Factor.ID != f.ID || !bytes.Equal(st.Factor.SecretSealed, f.SecretSealed) ||
			st.Policy.MFARequired == nil || *st.Policy.MFARequired != core.MFARequiredAll {
			t.Errorf("MFAChallengeLockForAnswer = %+v, %v", st, err)
		}
		return tx.MFAChallengeSpend(e.ctx, c.ID, f.ID, ptr(int64(77)), used)
	})
	if got, err := e.factorOf(tn.account, u); err != nil || got.LastUsedStep == nil || *got.LastUsedStep != 77 {
		t.Errorf("factor after MFAChallengeSpend = %+v, %v; want step 77", got, err)
	}
	e.tx(tn.account, func(tx core.TenantTx) error {
		got, err := tx.MFAChallengeLock(e.ctx, c.TokenHash)
		if !timeEqual(got.UsedAt, &used) {
			t.Errorf("challenge after MFAChallengeSpend: used at %v, want %v", got.UsedAt, used)
		}
		if err != nil {
			return err
		}
		_, err = tx.FactorsDelete(e.ctx, u)
		return err
	})
	wantErr(t, "MFAChallengeLockForAnswer(factor gone)", e.s.InTenantTx(e.ctx, tn.account, func(tx core.TenantTx) error {
		_, err := tx.MFAChallengeLockForAnswer(e.ctx, c.TokenHash)
		return err
	}), core.ErrNotFound)
}

// testRegistrationReclaim: a registration's owner is created unverified
// (sign-in reads EmailVerified false, UserLockEmailVerified no time) until
// UserSetEmailVerified; AccountDelete removes an account with its rows
// (sessions, tokens, invitations: the pre-tenant lookups find none) — but
// only once no user is left in it: while one is, it is ErrNotFound and
// nothing goes, which is what core's reclaim relies on
// (docs/session-rules.md §9).
func testRegistrationReclaim(t *testing.T, e *env) {
	acct := uuid.New()
	u := core.User{ID: uuid.New(), AccountID: acct, Email: "r-" + uuid.NewString() + "@example.com", Name: "Registrant",
		Role: core.RoleOwner, Active: true, CreatedAt: t0}
	verify, inv := core.HashJTI(core.NewJTI()), core.HashJTI(core.NewJTI())
	e.tx(acct, func(tx core.TenantTx) error {
		if err := tx.AccountCreate(e.ctx, core.Account{ID: acct, Name: "reg", CreatedAt: t0}); err != nil {
			return err
		}
		if err := tx.UserCreateUnverified(e.ctx, u, "$argon2id$stub"); err != nil {
			return err
		}
		if err := tx.EmailVerificationTokenCreate(e.ctx, core.PasswordResetToken{Hash: verify, UserID: u.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
			return err
		}
		return tx.InvitationCreate(e.ctx, invitationAt(tenant{account: acct, owner: u}, t0, time.Hour), inv)
	})
	s := e.newSession(acct, u.ID, defaultSpec)
	verified := func() (at *time.Time) {
		e.tx(acct, func(tx core.TenantTx) error {
			email, v, created, err := tx.UserLockEmailVerified(e.ctx, u.ID)
			if err == nil && (email != u.Email || !created.Equal(t0)) {
				t.Errorf("UserLockEmailVerified = %s, created %v; want %s, %v", email, created, u.Email, t0)
			}
			at = v
			return err
		})
		if lu, err := e.s.UserForLogin(e.ctx, u.Email); err != nil || lu.EmailVerified != (at != nil) {
			t.Errorf("UserForLogin = %+v, %v; want EmailVerified %v", lu, err, at != nil)
		}
		return at
	}
	if at := verified(); at != nil {
		t.Errorf("unverified user's email verified at %v", at)
	}
	wantErr(t, "AccountDelete(a user left)", e.s.InTenantTx(e.ctx, acct, func(tx core.TenantTx) error { return tx.AccountDelete(e.ctx) }), core.ErrNotFound)
	now := t0.Add(time.Minute)
	e.tx(acct, func(tx core.TenantTx) error { return tx.UserSetEmailVerified(e.ctx, u.ID, now) })
	if at := verified(); !timeEqual(at, &now) {
		t.Errorf("email verified at %v, want %v", at, now)
	}

	e.tx(acct, func(tx core.TenantTx) error {
		if err := tx.UserDelete(e.ctx, u.ID); err != nil {
			return err
		}
		return tx.AccountDelete(e.ctx)
	})
	wantErr(t, "AccountPolicy(deleted account)", e.s.InTenantTx(e.ctx, acct, func(tx core.TenantTx) error {
		_, err := tx.AccountPolicy(e.ctx)
		return err
	}), core.ErrNotFound)
	_, err := e.s.SessionAccount(e.ctx, s.ID)
	wantErr(t, "SessionAccount(deleted account's session)", err, core.ErrNotFound)
	_, err = e.s.EmailVerificationAccount(e.ctx, verify)
	wantErr(t, "EmailVerificationAccount(deleted account's token)", err, core.ErrNotFound)
	_, err = e.s.InvitationAccount(e.ctx, inv)
	wantErr(t, "InvitationAccount(deleted account's invitation)", err, core.ErrNotFound)
	wantErr(t, "AccountDelete(deleted)", e.s.InTenantTx(e.ctx, acct, func(tx core.TenantTx) error { return tx.AccountDelete(e.ctx) }), core.ErrNotFound)
}
