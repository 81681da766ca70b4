package core

// The second factor (TOTP, RFC 6238) and recent authentication
// (docs/session-rules.md §11; adapters/http/mfa.go): enrolment, its
// confirmation, recovery codes, the sign-in challenge and its answer,
// disabling, reauthentication, and the recent-auth check every sensitive
// change runs in its tenant transaction.

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// RFC 8176 authentication method references carried in amr.
const (
	AMRPassword = "pwd"
	AMROTP      = "otp"
)

// Second-factor tunables.
const (
	// MFAChallengeTTL is how long a sign-in challenge may be answered.
	MFAChallengeTTL = 5 * time.Minute
	// MFAChallengeMaxAttempts wrong answers spend a challenge.
	MFAChallengeMaxAttempts = 5
	// RecoveryCodeCount codes are issued at a time, each usable once.
	RecoveryCodeCount = 10
	// ReauthMaxAgeDefault, ReauthMaxAgeMin and ReauthMaxAgeMax bound the
	// recent-authentication window (minutes).
	ReauthMaxAgeDefault = 15
	ReauthMaxAgeMin     = 1
	ReauthMaxAgeMax     = 1440
)

// MFARequirement is the policy's mfa_required: who must have a second
// factor.
type MFARequirement string

const (
	MFARequiredOff    MFARequirement = "off"
	MFARequiredOwners MFARequirement = "owners"
	MFARequiredAll    MFARequirement = "all"
)

// Valid reports whether m is a known requirement.
func (m MFARequirement) Valid() bool {
	return m == MFARequiredOff || m == MFARequiredOwners || m == MFARequiredAll
}

// MFARequiredFor reports whether the policy requires a second factor of a
// user with role r.
func (p EffectivePolicy) MFARequiredFor(r Role) bool {
	return p.MFARequired == MFARequiredAll || (p.MFARequired == MFARequiredOwners && r == RoleOwner)
}

// MFARequirementChange is the nullable mfa_required field of a PolicyPatch.
type MFARequirementChange struct {
	Set   bool
	Value *MFARequirement
}

func validateMFAPolicy(o PolicyOverride) error {
	if m := o.MFARequired; m != nil && !m.Valid() {
		return FieldError(CodeValidation, "mfa_required", "mfa_required must be %q, %q or %q",
			MFARequiredOff, MFARequiredOwners, MFARequiredAll)
	}
	if r := o.ReauthMaxAgeMinutes; r != nil && (*r < ReauthMaxAgeMin || *r > ReauthMaxAgeMax) {
		return FieldError(CodePolicyOutOfBounds, "reauth_max_age_minutes",
			"reauth_max_age_minutes must be between %d and %d (got %d)", ReauthMaxAgeMin, ReauthMaxAgeMax, *r)
	}
	return nil
}

func sameMFAPolicy(a, b PolicyOverride) bool {
	eqI := func(x, y *int) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	eqM := func(x, y *MFARequirement) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	return eqI(a.ReauthMaxAgeMinutes, b.ReauthMaxAgeMinutes) && eqM(a.MFARequired, b.MFARequired)
}

func mfaPolicyDetails(m map[string]any, o PolicyOverride) {
	m["mfa_required"], m["reauth_max_age_minutes"] = nil, nil
	if o.MFARequired != nil {
		m["mfa_required"] = string(*o.MFARequired)
	}
	if o.ReauthMaxAgeMinutes != nil {
		m["reauth_max_age_minutes"] = *o.ReauthMaxAgeMinutes
	}
}

// AuthLevel is how a session last proved who it is: the assurance level
// (1: password; 2: password and a second factor), the RFC 8176 methods,
// when, and whether the session may only enrol a second factor (signed in
// under a policy that requires one the user does not have yet).
type AuthLevel struct {
	AAL        int
	AMR        []string
	LastAuthAt time.Time
	EnrolOnly  bool
}

// Methods is the amr claim (never empty: a session always had a password).
func (a AuthLevel) Methods() []string {
	if len(a.AMR) == 0 {
		return []string{AMRPassword}
	}
	return a.AMR
}

// ACR is the acr claim: "aal1" or "aal2".
func (a AuthLevel) ACR() string {
	if a.AAL >= 2 {
		return "aal2"
	}
	return "aal1"
}

// SessionAuth is a session's authentication state with the account's
// recent-auth window override (nil = the default).
type SessionAuth struct {
	AuthLevel
	ReauthMaxAgeMinutes *int
}

// Factor is a user's stored second factor (TOTP; one per kind).
type Factor struct {
	ID           uuid.UUID
	UserID       uuid.UUID
	SecretSealed []byte
	ConfirmedAt  *time.Time
	LastUsedStep *int64
	CreatedAt    time.Time
}

// Confirmed reports whether the enrolment was confirmed with a code.
func (f Factor) Confirmed() bool { return f.ConfirmedAt != nil }

// MFAChallenge is a stored sign-in challenge (only the token's hash).
type MFAChallenge struct {
	ID        uuid.UUID
	UserID    uuid.UUID
	TokenHash []byte
	ExpiresAt time.Time
	UsedAt    *time.Time
	Attempts  int
	Client    Client
	CreatedAt time.Time
}

// MFAChallengeIssued is what a sign-in that needs a second factor answers.
type MFAChallengeIssued struct {
	Token     string
	ExpiresAt time.Time
	Methods   []string
}

// TOTPEnrolment is a started enrolment: the secret and its otpauth:// URI,
// shown once.
type TOTPEnrolment struct {
	Secret string
	URI    string
}

// TOTP is the one-time-password port (adapters/totp): RFC 6238, SHA-1,
// 6 digits, 30-second steps.
type TOTP interface {
	// NewKey returns a fresh secret (base32) and its otpauth:// URI.
	NewKey(issuer, accountName string) (secret, uri string, err error)
	// MatchStep returns the time step (Unix time / 30 s) whose code for
	// secret is code, among now's step and one step either side; ok is
	// false when none matches.
	MatchStep(secret, code string, now time.Time) (step int64, ok bool)
}

// Problem codes of the second factor and recent authentication.
var (
	errReauthRequired = &Error{Code: CodeReauthRequired,
		Message: "this change needs a recent authentication; call POST /auth/reauthenticate first"}
	errEnrolmentRequired = &Error{Code: CodeMFAEnrollmentRequired,
		Message: "the account's policy requires a second factor: enrol one first"}
	errInvalidMFACode      = &Error{Code: CodeInvalidMFACode, Message: "the code is not valid"}
	errInvalidMFAChallenge = &Error{Code: CodeInvalidMFAChallenge, Message: "the sign-in challenge is invalid, used or expired; sign in again"}
	errNoPendingEnrolment  = &Error{Code: CodeNotFound, Message: "there is no enrolment to confirm; start one first"}
	errAlreadyEnrolled     = &Error{Code: CodeConflict, Message: "the second factor is already confirmed"}
	errNotEnrolled         = &Error{Code: CodeNotFound, Message: "no second factor is enrolled"}
	errCannotRevokeCurrent = &Error{Code: CodeCannotRevokeCurrent,
		Message: "this is the session making the request: sign out with POST /auth/logout instead"}
)

// MFAThrottleKey is the brute-force counter of one user's second-factor
// codes (sign-in challenge, confirmation, reauthentication): per user, so
// that a thief holding the password gets ThrottleRule.Threshold guesses and
// then waits, whichever client or challenge they use.
func MFAThrottleKey(userID uuid.UUID) []byte {
	return keyOf("sessiond/login-throttle/mfa/v1", userID.String())
}

// EnrolmentRequired is the refusal of an enrol-only session's request for
// anything but enrolment (adapters/http decides which operations those are).
func EnrolmentRequired() error { return errEnrolmentRequired }

// ---- sealing ---------------------------------------------------------

func (s *Service) mfaAEAD() (cipher.AEAD, error) { return mfaAEAD(s.cfg.MFAKey) }

func mfaAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, errors.New("mfa: MFA_ENCRYPTION_KEY is not set (32 bytes)")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealSecret encrypts a TOTP secret for storage, bound to its user
// (additional data), so a sealed secret copied to another row does not open.
func (s *Service) sealSecret(userID uuid.UUID, secret string) ([]byte, error) {
	return SealTOTPSecret(s.cfg.MFAKey, userID, secret)
}

// SealTOTPSecret is the stored form of a user's TOTP secret
// (auth_factors.secret_sealed): AES-256-GCM under key (MFA_ENCRYPTION_KEY),
// nonce || ciphertext, the user id as additional data. Enrolment uses it;
// so does cmd/authbench, which seeds confirmed factors directly.
func SealTOTPSecret(key []byte, userID uuid.UUID, secret string) ([]byte, error) {
	aead, err := mfaAEAD(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	return aead.Seal(nonce, nonce, []byte(secret), userID[:]), nil
}

func (s *Service) openSecret(userID uuid.UUID, sealed []byte) (string, error) {
	aead, err := s.mfaAEAD()
	if err != nil {
		return "", err
	}
	if len(sealed) < aead.NonceSize() {
		return "", errors.New("mfa: sealed secret too short")
	}
	pt, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], userID[:])
	if err != nil {
		return "", fmt.Errorf("mfa: secret does not open: %w", err)
	}
	return string(pt), nil
}

// ---- codes ------------------------------------------------------------

// newRecoveryCodes returns RecoveryCodeCount fresh codes (xxxxx-xxxxx,
// 50 random bits each, lower-case base32) and their hashes.
func newRecoveryCodes() (codes []string, hashes [][]byte) {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	for range RecoveryCodeCount {
		b := make([]byte, 10)
		_, _ = rand.Read(b)
		var sb strings.Builder
		for i, c := range b {
			if i == 5 {
				sb.WriteByte('-')
			}
			sb.WriteByte(alphabet[int(c)%32])
		}
		code := sb.String()
		codes = append(codes, code)
		hashes = append(hashes, hashRecoveryCode(code))
	}
	return codes, hashes
}

// hashRecoveryCode is how a recovery code is stored: SHA-256 of its
// normalised text (case and separators ignored).
func hashRecoveryCode(code string) []byte {
	code = strings.ToLower(strings.TrimSpace(code))
	code = strings.NewReplacer("-", "", " ", "").Replace(code)
	return keyOf("sessiond/recovery-code/v1", code)
}

// spendTOTP accepts code for the factor f (matchTOTP) and records its step
// on the factor, so the same code is refused next time; a wrong code is
// CodeInvalidMFACode.
func (s *Service) spendTOTP(ctx context.Context, tx mfaTx, f Factor, code string, now time.Time) error {
	step, ok, err := s.matchTOTP(f, code, now)
	if err != nil {
		return err
	}
	if !ok {
		return errInvalidMFACode
	}
	return tx.FactorMarkUsed(ctx, f.ID, step, now)
}

// matchTOTP checks code against the factor: a step within ±1 of now, newer
// than the last step accepted (a code is accepted once). It returns the
// step to record.
func (s *Service) matchTOTP(f Factor, code string, now time.Time) (int64, bool, error) {
	secret, err := s.openSecret(f.UserID, f.SecretSealed)
	if err != nil {
		return 0, false, err
	}
	code = strings.TrimSpace(code)
	if len(code) != 6 {
		return 0, false, nil
	}
	step, ok := s.cfg.TOTP.MatchStep(secret, code, now)
	if !ok || (f.LastUsedStep != nil && step <= *f.LastUsedStep) {
		return 0, false, nil
	}
	return step, true, nil
}

// errCounted is returned from a tenant transaction that must commit (a
// challenge's attempt counted) although the request fails with err.
type errCounted struct{ err error }

func (e errCounted) Error() string { return e.err.Error() }

// ---- recent authentication --------------------------------------------

// RequireRecentAuth is the recent-authentication ("sudo mode") check, run
// inside the tenant transaction tx of the change it guards: the caller's
// session must be live and have authenticated (signed in or
// reauthenticated) at most the account's effective reauth_max_age_minutes
// ago, else CodeReauthRequired (403). Every owner write and every
// sensitive self-service change calls it; mark new ones
// `// recent-auth: owner write`.
func (s *Service) RequireRecentAuth(ctx context.Context, tx recentAuthTx, p Principal) error {
	now := s.clock.Now()
	st, err := tx.SessionAuthState(ctx, p.SessionID, now)
	if errors.Is(err, ErrNotFound) {
		return errSessionEnded
	}
	if err != nil {
		return err
	}
	window := time.Duration(s.cfg.Policy.Effective(PolicyOverride{ReauthMaxAgeMinutes: st.ReauthMaxAgeMinutes}).ReauthMaxAgeMinutes) * time.Minute
	if now.Sub(st.LastAuthAt) > window {
		return errReauthRequired
	}
	return nil
}

// ---- enrolment ----------------------------------------------------------

// EnrolTOTP starts a TOTP enrolment: a fresh secret, stored sealed and
// unconfirmed, returned once with its otpauth:// URI. A user who already
// has a confirmed factor needs a recent authentication, and the new
// enrolment replaces it at once. Audited auth.mfa_enrollment_started.
func (s *Service) EnrolTOTP(ctx context.Context, p Principal, client Client) (TOTPEnrolment, error) {
	now := s.clock.Now()
	var out TOTPEnrolment
	err := s.mfas.inMFATx(ctx, p.AccountID, func(tx mfaTx) error {
		u, err := tx.UserGet(ctx, p.UserID)
		if err != nil {
			return err
		}
		old, err := tx.FactorLock(ctx, p.UserID)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return err
		case old.Confirmed():
			if err := s.RequireRecentAuth(ctx, tx, p); err != nil {
				return err
			}
		}
		if _, err := tx.FactorsDelete(ctx, p.UserID); err != nil {
			return err
		}
		secret, uri, err := s.cfg.TOTP.NewKey(s.cfg.MFAIssuer, u.Email)
		if err != nil {
			return err
		}
		sealed, err := s.sealSecret(p.UserID, secret)
		if err != nil {
			return err
		}
		f := Factor{ID: uuid.New(), UserID: p.UserID, SecretSealed: sealed, CreatedAt: now}
		if err := tx.FactorCreate(ctx, f); err != nil {
			return err
		}
		out = TOTPEnrolment{Secret: secret, URI: uri}
		return tx.Audit(ctx, s.event(p.AccountID, &p.UserID, ActionMFAEnrollmentStarted, "user", p.UserID.String(),
			map[string]any{"factor_id": f.ID.String(), "kind": "totp", "replaced_confirmed": old.Confirmed()}, client, now))
	})
	return out, err
}

// MFAConfirmation is a confirmed enrolment: the recovery codes, shown
// once, and, when the session was enrol-only, a fresh access token of the
// now full session.
type MFAConfirmation struct {
	RecoveryCodes []string
	AccessToken   string
	AccessTTL     time.Duration
}

// ConfirmTOTP confirms a pending enrolment with a first code and issues
// the recovery codes. The session becomes aal2 (amr pwd+otp) and, if it
// was enrol-only, a full session, with a fresh access token. Wrong codes
// count on MFAThrottleKey. Audited auth.mfa_enabled.
func (s *Service) ConfirmTOTP(ctx context.Context, p Principal, code string, client Client) (MFAConfirmation, error) {
	key := MFAThrottleKey(p.UserID)
	throttle, err := s.throttleCheck(ctx, key, s.clock.Now())
	if err != nil {
		return MFAConfirmation{}, err
	}
	now := s.clock.Now()
	var out MFAConfirmation
	var auth AuthLevel
	err = s.mfas.inMFATx(ctx, p.AccountID, func(tx mfaTx) error {
		f, err := tx.FactorLock(ctx, p.UserID)
		if errors.Is(err, ErrNotFound) {
			return errNoPendingEnrolment
		}
		if err != nil {
			return err
		}
		if f.Confirmed() {
			return errAlreadyEnrolled
		}
		if err := s.spendTOTP(ctx, tx, f, code, now); err != nil {
			return err
		}
		codes, hashes := newRecoveryCodes()
		if err := tx.RecoveryCodesReplace(ctx, p.UserID, hashes, now); err != nil {
			return err
		}
		out.RecoveryCodes = codes
		auth = AuthLevel{AAL: 2, AMR: []string{AMRPassword, AMROTP}, LastAuthAt: now.Truncate(time.Second)}
		if err := tx.SessionSetAuth(ctx, p.SessionID, auth); err != nil {
			return err
		}
		return tx.Audit(ctx, s.event(p.AccountID, &p.UserID, ActionMFAEnabled, "user", p.UserID.String(),
			map[string]any{"factor_id": f.ID.String(), "kind": "totp", "recovery_codes": RecoveryCodeCount,
				"session_id": p.SessionID.String(), "was_enrol_only": p.EnrolOnly}, client, now))
	})
	if errors.Is(err, errInvalidMFACode) {
		return MFAConfirmation{}, s.mfaFailure(ctx, p.AccountID, p.UserID, key, "confirm", client, now)
	}
	if err != nil {
		return MFAConfirmation{}, err
	}
	if err := s.throttleSuccess(ctx, key, throttle); err != nil {
		s.log.WarnContext(ctx, "mfa throttle not reset", "err", err)
	}
	if out.AccessToken, err = s.signAccess(p.AccountID, p.UserID, p.SessionID, p.Role, auth, now); err != nil {
		return MFAConfirmation{}, err
	}
	out.AccessTTL = s.cfg.AccessTTL
	return out, nil
}

// mfaFailure counts and audits a wrong second-factor code.
func (s *Service) mfaFailure(ctx context.Context, accountID, userID uuid.UUID, key []byte, step string, client Client, now time.Time) error {
	e := s.event(accountID, &userID, ActionMFAFailed, "user", userID.String(), map[string]any{"step": step}, client, now)
	if err := s.recordFailure(ctx, [][]byte{key}, &e, now); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "second factor refused", "step", step, "account_id", accountID, "user_id", userID)
	return errInvalidMFACode
}

// DisableTOTP removes the caller's second factor and recovery codes
// (recent authentication required). Audited auth.mfa_disabled.
func (s *Service) DisableTOTP(ctx context.Context, p Principal, client Client) error {
	now := s.clock.Now()
	return s.mfas.inMFATx(ctx, p.AccountID, func(tx mfaTx) error {
		if err := s.RequireRecentAuth(ctx, tx, p); err != nil {
			return err
		}
		n, err := tx.FactorsDelete(ctx, p.UserID)
		if err != nil {
			return err
		}
		if n == 0 {
			return errNotEnrolled
		}
		if err := tx.RecoveryCodesReplace(ctx, p.UserID, nil, now); err != nil {
			return err
		}
		return tx.Audit(ctx, s.event(p.AccountID, &p.UserID, ActionMFADisabled, "user", p.UserID.String(),
			map[string]any{"user_id": p.UserID.String(), "by": "self"}, client, now))
	})
}

// RegenerateRecoveryCodes replaces the caller's recovery codes (recent
// authentication and a confirmed factor required). Audited
// auth.mfa_recovery_codes_regenerated.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, p Principal, client Client) ([]string, error) {
	now := s.clock.Now()
	var codes []string
	err := s.mfas.inMFATx(ctx, p.AccountID, func(tx mfaTx) error {
		if err := s.RequireRecentAuth(ctx, tx, p); err != nil {
			return err
		}
		f, err := tx.FactorGet(ctx, p.UserID)
		if errors.Is(err, ErrNotFound) || (err == nil && !f.Confirmed()) {
			return errNotEnrolled
		}
		if err != nil {
			return err
		}
		var hashes [][]byte
		codes, hashes = newRecoveryCodes()
		if err := tx.RecoveryCodesReplace(ctx, p.UserID, hashes, now); err != nil {
			return err
		}
		return tx.Audit(ctx, s.event(p.AccountID, &p.UserID, ActionMFARecoveryRegenerated, "user", p.UserID.String(),
			map[string]any{"recovery_codes": RecoveryCodeCount}, client, now))
	})
	return codes, err
}

// MFAStatus is the caller's second-factor state.
type MFAStatus struct {
	Enabled                bool
	RecoveryCodesRemaining int
}

// MFAStatusOf returns the caller's second-factor state.
func (s *Service) MFAStatusOf(ctx context.Context, p Principal) (MFAStatus, error) {
	var st MFAStatus
	err := s.mfas.inMFATx(ctx, p.AccountID, func(tx mfaTx) error {
		f, err := tx.FactorGet(ctx, p.UserID)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		st.Enabled = f.Confirmed()
		if st.Enabled {
			st.RecoveryCodesRemaining, err = tx.RecoveryCodesRemaining(ctx, p.UserID)
		}
		return err
	})
	return st, err
}

// ---- sign-in challenge --------------------------------------------------

// issueChallenge stores a sign-in challenge for lu inside the sign-in's
// tenant transaction and audits auth.mfa_challenge_issued.
func (s *Service) issueChallenge(ctx context.Context, tx signInTx, lu LoginUser, client Client, now time.Time) (*MFAChallengeIssued, error) {
	token := newSecret()
	c := MFAChallenge{ID: uuid.New(), UserID: lu.UserID, TokenHash: digest(token), ExpiresAt: now.Add(MFAChallengeTTL),
		Client: client, CreatedAt: now}
	if err := tx.MFAChallengeCreate(ctx, c); err != nil {
		return nil, err
	}
	if err := tx.Audit(ctx, s.event(lu.AccountID, &lu.UserID, ActionMFAChallengeIssued, "user", lu.UserID.String(),
		map[string]any{"challenge_id": c.ID.String(), "expires_at": c.ExpiresAt.UTC().Format(time.RFC3339)}, client, now)); err != nil {
		return nil, err
	}
	return &MFAChallengeIssued{Token: token, ExpiresAt: c.ExpiresAt, Methods: []string{"totp", "recovery_code"}}, nil
}

// MFAAnswerState is what answering a sign-in challenge reads, locked in
// one statement (TenantTx.MFAChallengeLockForAnswer).
type MFAAnswerState struct {
	Challenge MFAChallenge
	User      User
	Factor    Factor
	Policy    PolicyOverride
}

// MFAAnswer answers a sign-in challenge with a TOTP code or a recovery
// code (exactly one).
type MFAAnswer struct {
	ChallengeToken string
	Code           string
	RecoveryCode   string
}

// VerifyMFA completes a sign-in with a second factor: the challenge is
// found through the narrow pre-tenant lookup, locked and judged in its
// tenant's transaction (single use, unexpired, fewer than
// MFAChallengeMaxAttempts wrong answers), the answer checked (a TOTP code
// once per step, ±1 step; a recovery code once), and the session opened by
// the one session-creating function sign-in uses, at aal2 with amr
// pwd+otp. Wrong answers count on the challenge and on MFAThrottleKey.
// Errors: CodeInvalidMFAChallenge (401), CodeInvalidMFACode (401),
// CodeRateLimited, CodeValidation.
func (s *Service) VerifyMFA(ctx context.Context, in MFAAnswer, client Client) (TokenPair, error) {
	if (in.Code == "") == (in.RecoveryCode == "") {
		return TokenPair{}, FieldError(CodeValidation, "code", "give exactly one of code and recovery_code")
	}
	if in.ChallengeToken == "" {
		return TokenPair{}, errInvalidMFAChallenge
	}
	hash := digest(in.ChallengeToken)
	// Whose challenge it is decides the counter, checked before the tenant
	// transaction; the lookup answers both in one statement.
	accountID, userID, err := s.signIns.MFAChallengeOwner(ctx, hash)
	if errors.Is(err, ErrNotFound) {
		return TokenPair{}, errInvalidMFAChallenge
	}
	if err != nil {
		return TokenPair{}, err
	}
	key := MFAThrottleKey(userID)
	throttle, err := s.throttleCheck(ctx, key, s.clock.Now())
	if err != nil {
		return TokenPair{}, err
	}
	now := s.clock.Now()
	var (
		opened openedSession
		lu     LoginUser
		email  string
		method = "totp"
	)
	if in.RecoveryCode != "" {
		method = "recovery_code"
	}
	err = s.signIns.inChallengeTx(ctx, accountID, func(tx challengeTx) error {
		var err error
		lu, email, opened, err = s.answerChallenge(ctx, tx, accountID, hash, in, method, client, now)
		return err
	})
	var counted errCounted
	if errors.As(err, &counted) {
		// The transaction above rolled back; the wrong answer is counted
		// on the challenge in a transaction of its own.
		if cerr := s.countChallengeAttempt(ctx, accountID, hash); cerr != nil {
			return TokenPair{}, cerr
		}
		return TokenPair{}, s.mfaFailure(ctx, accountID, userID, key, "sign_in_"+method, client, now)
	}
	if err != nil {
		return TokenPair{}, err
	}
	if err := s.throttleSuccess(ctx, key, throttle); err != nil {
		s.log.WarnContext(ctx, "mfa throttle not reset", "err", err)
	}
	return s.signedIn(lu, opened, email, now)
}

// answerChallenge is VerifyMFA's transaction: the challenge still
// answerable (unused, unexpired, attempts left, the factor confirmed), the
// answer checked (a TOTP code once per step, or a recovery code spent), the
// challenge spent, and the session opened at aal2. A wrong answer is
// errCounted (the caller rolls back and counts it).
func (s *Service) answerChallenge(ctx context.Context, tx challengeTx, accountID uuid.UUID, hash []byte, in MFAAnswer, method string,
	client Client, now time.Time) (LoginUser, string, openedSession, error) {
	// The challenge, its user and the factor in one statement; any of
	// them gone (a factor reset meanwhile) ends the challenge.
	st, err := tx.MFAChallengeLockForAnswer(ctx, hash)
	if errors.Is(err, ErrNotFound) {
		return LoginUser{}, "", openedSession{}, errInvalidMFAChallenge
	}
	if err != nil {
		return LoginUser{}, "", openedSession{}, err
	}
	c, u, f := st.Challenge, st.User, st.Factor
	if c.UsedAt != nil || !now.Before(c.ExpiresAt) || c.Attempts >= MFAChallengeMaxAttempts || !f.Confirmed() {
		return LoginUser{}, "", openedSession{}, errInvalidMFAChallenge
	}
	lu := LoginUser{UserID: u.ID, AccountID: accountID, Active: u.Active, Role: u.Role}
	ok := false
	var usedStep *int64 // a TOTP code's step, recorded on the factor
	if in.RecoveryCode != "" {
		if ok, err = tx.RecoveryCodeUse(ctx, c.UserID, hashRecoveryCode(in.RecoveryCode), now); err != nil {
			return LoginUser{}, "", openedSession{}, err
		}
	} else {
		var step int64
		if step, ok, err = s.matchTOTP(f, in.Code, now); err != nil {
			return LoginUser{}, "", openedSession{}, err
		}
		usedStep = &step
	}
	if !ok {
		return LoginUser{}, "", openedSession{}, errCounted{errInvalidMFACode} // rolls back; counted by VerifyMFA
	}
	// The challenge used and the step recorded in one statement.
	if err := tx.MFAChallengeSpend(ctx, c.ID, f.ID, usedStep, now); err != nil {
		return LoginUser{}, "", openedSession{}, err
	}
	override := st.Policy
	auth := AuthLevel{AAL: 2, AMR: []string{AMRPassword, AMROTP}, LastAuthAt: now.Truncate(time.Second)}
	opened, err := s.openSession(ctx, tx, lu, override, auth, client, now,
		map[string]any{"device_id": client.DeviceID, "mfa_method": method, "challenge_id": c.ID.String()})
	return lu, u.Email, opened, err
}

// countChallengeAttempt records one wrong answer on a challenge.
func (s *Service) countChallengeAttempt(ctx context.Context, accountID uuid.UUID, hash []byte) error {
	return s.signIns.inChallengeTx(ctx, accountID, func(tx challengeTx) error {
		c, err := tx.MFAChallengeLock(ctx, hash)
		if err != nil {
			return err
		}
		return tx.MFAChallengeUpdate(ctx, c.ID, c.Attempts+1, c.UsedAt)
	})
}

// ---- reauthentication ---------------------------------------------------

// Reauthenticated is a renewed authentication: a fresh access token whose
// auth_time (and acr, amr) say so. The refresh token is unchanged: its
// next rotation reads the renewed state from the session row.
type Reauthenticated struct {
	AccessToken string
	AccessTTL   time.Duration
	AuthTime    time.Time
}

// Reauthenticate renews the caller's session's authentication with the
// password and, when the user has a confirmed factor, a TOTP code: the
// session's last_auth_at (and aal, amr) become now, which opens the
// recent-auth window again. Wrong passwords and codes are throttled and
// counted like change-password's (the session's and the email's counter)
// and the second factor's. Audited auth.reauthenticated.
func (s *Service) Reauthenticate(ctx context.Context, p Principal, password, code string, client Client) (Reauthenticated, error) {
	cred, err := s.reauthCredentials(ctx, p)
	if err != nil {
		return Reauthenticated{}, err
	}
	email, hash, active, factor := cred.email, cred.hash, cred.active, cred.factor
	key := SessionThrottleKey(p.SessionID)
	keys := [][]byte{key, ThrottleKey(email)}
	throttle, err := s.throttleCheck(ctx, key, s.clock.Now())
	if err != nil {
		return Reauthenticated{}, err
	}
	ok, _, err := s.hasher.Verify(hash, password)
	if err != nil {
		return Reauthenticated{}, fmt.Errorf("verify password: %w", err)
	}
	now := s.clock.Now()
	if !ok || !active {
		e := s.event(p.AccountID, &p.UserID, ActionReauthFailed, "user", p.UserID.String(),
			map[string]any{"reason": "wrong_password", "session_id": p.SessionID.String()}, client, now)
		if err := s.recordFailure(ctx, keys, &e, now); err != nil {
			return Reauthenticated{}, err
		}
		return Reauthenticated{}, errInvalidCredentials
	}
	auth := AuthLevel{AAL: 1, AMR: []string{AMRPassword}, LastAuthAt: now.Truncate(time.Second)}
	mfaKey := MFAThrottleKey(p.UserID)
	var mfaThrottle ThrottleState
	if factor != nil {
		if code == "" {
			return Reauthenticated{}, FieldError(CodeInvalidMFACode, "code", "a TOTP code is required: the second factor is enrolled")
		}
		if mfaThrottle, err = s.throttleCheck(ctx, mfaKey, now); err != nil {
			return Reauthenticated{}, err
		}
		auth = AuthLevel{AAL: 2, AMR: []string{AMRPassword, AMROTP}, LastAuthAt: auth.LastAuthAt}
	}
	err = s.mfas.inMFATx(ctx, p.AccountID, func(tx mfaTx) error {
		return s.renewSessionAuth(ctx, tx, p, &auth, factor, code, client, now)
	})
	if errors.Is(err, errInvalidMFACode) {
		return Reauthenticated{}, s.mfaFailure(ctx, p.AccountID, p.UserID, mfaKey, "reauthenticate", client, now)
	}
	if err != nil {
		return Reauthenticated{}, err
	}
	if err := s.throttleSuccess(ctx, key, throttle); err != nil {
		s.log.WarnContext(ctx, "login throttle not reset", "err", err)
	}
	if factor != nil {
		if err := s.throttleSuccess(ctx, mfaKey, mfaThrottle); err != nil {
			s.log.WarnContext(ctx, "mfa throttle not reset", "err", err)
		}
	}
	at, err := s.signAccess(p.AccountID, p.UserID, p.SessionID, p.Role, auth, now)
	if err != nil {
		return Reauthenticated{}, err
	}
	return Reauthenticated{AccessToken: at, AccessTTL: s.cfg.AccessTTL, AuthTime: auth.LastAuthAt}, nil
}

// reauthRead is what Reauthenticate checks the password and code against.
type reauthRead struct {
	email, hash string
	active      bool
	factor      *Factor // the confirmed factor; nil when none
}

// reauthCredentials reads the caller's email, password hash, active flag
// and confirmed factor in one short transaction: no lock is held while the
// password is hashed.
func (s *Service) reauthCredentials(ctx context.Context, p Principal) (reauthRead, error) {
	var r reauthRead
	err := s.mfas.inMFATx(ctx, p.AccountID, func(tx mfaTx) error {
		u, err := tx.UserGet(ctx, p.UserID)
		if err != nil {
			return err
		}
		r.email, r.active = u.Email, u.Active
		if r.hash, _, err = tx.UserLockCredentials(ctx, p.UserID); err != nil {
			return err
		}
		f, err := tx.FactorGet(ctx, p.UserID)
		if err == nil && f.Confirmed() {
			r.factor = &f
		} else if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		return nil
	})
	return r, err
}

// renewSessionAuth is Reauthenticate's write: the session still live
// (errSessionEnded), its enrol-only flag kept in auth, the TOTP code spent
// when there is a factor (errInvalidMFACode), the new authentication state
// written and audited.
func (s *Service) renewSessionAuth(ctx context.Context, tx mfaTx, p Principal, auth *AuthLevel, factor *Factor,
	code string, client Client, now time.Time) error {
	st, err := tx.SessionAuthState(ctx, p.SessionID, now)
	if errors.Is(err, ErrNotFound) {
		return errSessionEnded
	}
	if err != nil {
		return err
	}
	auth.EnrolOnly = st.EnrolOnly
	if factor != nil {
		f, err := tx.FactorLock(ctx, p.UserID)
		if err != nil {
			return err
		}
		if err := s.spendTOTP(ctx, tx, f, code, now); err != nil {
			return err
		}
	}
	if err := tx.SessionSetAuth(ctx, p.SessionID, *auth); err != nil {
		return err
	}
	return tx.Audit(ctx, s.event(p.AccountID, &p.UserID, ActionReauthenticated, "session", p.SessionID.String(),
		map[string]any{"aal": auth.AAL, "amr": auth.Methods()}, client, now))
}

// ---- owners -----------------------------------------------------------------

// ResetMemberMFA removes a member's second factor and recovery codes and
// ends every session of theirs (recent authentication required). Audited
// auth.mfa_reset. Errors: CodeForbidden, CodeNotFound (no such member, or
// no factor), CodeReauthRequired.
func (s *Service) ResetMemberMFA(ctx context.Context, p Principal, userID uuid.UUID, client Client) (int64, error) {
	now := s.clock.Now()
	var revoked int64
	err := asOwnerWriteIn(ctx, s, p, s.mfaResets.inMFAResetTx, func(tx mfaResetTx) error {
		if _, err := tx.UserGet(ctx, userID); errors.Is(err, ErrNotFound) {
			return errMemberNotFound
		} else if err != nil {
			return err
		}
		n, err := tx.FactorsDelete(ctx, userID)
		if err != nil {
			return err
		}
		if n == 0 {
			return errNotEnrolled
		}
		if err := tx.RecoveryCodesReplace(ctx, userID, nil, now); err != nil {
			return err
		}
		if revoked, err = tx.SessionRevokeAllForUser(ctx, userID, nil, now, ReasonMFAReset); err != nil {
			return err
		}
		return tx.Audit(ctx, s.event(p.AccountID, &p.UserID, ActionMFAReset, "user", userID.String(),
			map[string]any{"user_id": userID.String(), "revoked_count": revoked}, client, now))
	})
	return revoked, err
}

// asOwnerWriteIn is asOwnerIn for an owner write: the recent-auth check
// runs first in the same transaction.
func asOwnerWriteIn[T ownerWriteTx](ctx context.Context, s *Service, p Principal,
	inTx func(context.Context, uuid.UUID, func(T) error) error, fn func(T) error) error {
	return asOwnerIn(ctx, s, p, inTx, func(tx T) error {
		if err := s.RequireRecentAuth(ctx, tx, p); err != nil {
			return err
		}
		return fn(tx)
	})
}
