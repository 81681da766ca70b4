package core

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Password length limits, in characters (openapi.yaml).
const (
	PasswordMinLen = 8
	PasswordMaxLen = 128
)

// NormalizeEmail trims and lower-cases an email address.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// emailPattern is the address syntax the server accepts: a dot-atom local
// part of [a-z0-9_'+-] (no leading, trailing or doubled dot, not ending in
// an apostrophe) and a domain of at least two LDH labels ending in an
// alphabetic TLD. It is deliberately the intersection of what common
// validators of the spec's `format: email` accept (zod's email(), ajv-formats,
// kin-openapi), so that every address the server stores validates in every
// generated client (openapi.yaml; net/mail accepted "a@localhost" and
// quoted or bang-laden local parts that zod then rejected on the way back).
var emailPattern = regexp.MustCompile(`^[a-z0-9_'+-]+(\.[a-z0-9_'+-]+)*@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)

// EmailMaxLen is the longest email address, in bytes (RFC 5321's path
// limit less its angle brackets; the address syntax is ASCII, so bytes and
// characters agree). openapi.yaml bounds every email field the same.
const EmailMaxLen = 254

// ValidateEmail checks a normalised (trimmed, lower-cased) address: at most
// EmailMaxLen bytes, a local part of at most 64, and emailPattern.
func ValidateEmail(email string) error {
	if email == "" || len(email) > EmailMaxLen {
		return FieldError(CodeValidation, "email", "email must be 1 to %d characters", EmailMaxLen)
	}
	at := strings.LastIndexByte(email, '@')
	if at < 1 || at > 64 || !emailPattern.MatchString(email) || strings.HasSuffix(email[:at], "'") {
		return FieldError(CodeValidation, "email", "email is not a valid address")
	}
	return nil
}

// ValidatePassword checks a new password's length in characters.
func ValidatePassword(field, password string) error {
	n := utf8.RuneCountInString(password)
	if n < PasswordMinLen || n > PasswordMaxLen {
		return FieldError(CodeValidation, field, "%s must be %d to %d characters", field, PasswordMinLen, PasswordMaxLen)
	}
	return nil
}

// NameMaxLen is the longest user or account name, in characters.
const NameMaxLen = 200

// NewUser is what a person is created from, whoever types it: the
// registrant at sign-up (RegisterInput) or an owner adding a member
// (CreateMemberInput). One set of rules for both (openapi.yaml).
type NewUser struct {
	Email    string
	Password string
	Name     string
}

// normalized returns u as it is stored: the email trimmed and lower-cased,
// the name trimmed. The password is taken as typed.
func (u NewUser) normalized() NewUser {
	u.Email, u.Name = NormalizeEmail(u.Email), strings.TrimSpace(u.Name)
	return u
}

// Validate checks normalised input: the email (ValidateEmail), the
// password's length, the name (validateName). Errors: CodeValidation
// naming the field.
func (u NewUser) Validate() error {
	if err := ValidateEmail(u.Email); err != nil {
		return err
	}
	if err := ValidatePassword("password", u.Password); err != nil {
		return err
	}
	return validateName("name", u.Name)
}

// validateName checks a trimmed name (a user's or an account's): 1 to
// NameMaxLen characters, and no NUL, which PostgreSQL text cannot hold —
// refused here, naming the field, rather than failing in the INSERT.
func validateName(field, name string) error {
	if name == "" || utf8.RuneCountInString(name) > NameMaxLen {
		return FieldError(CodeValidation, field, "%s must be 1 to %d characters", field, NameMaxLen)
	}
	if strings.ContainsRune(name, 0) {
		return FieldError(CodeValidation, field, "%s must not contain NUL characters", field)
	}
	return nil
}

// userCreateError maps the store's unique-key refusal of a new user to
// the answer a client can act on: the email is some user's already.
func userCreateError(err error) error {
	if errors.Is(err, ErrConflict) {
		return FieldError(CodeEmailTaken, "email", "an account with this email already exists")
	}
	return err
}

// ProfilePatch is a partial update of the caller's own profile: nil fields
// are unchanged.
type ProfilePatch struct {
	// Name is the display name (trimmed, validateName).
	Name *string
}

// UpdateProfile changes the caller's own profile (their display name) and
// records user.profile_updated with the old and new values, in the same
// transaction; a patch that changes nothing writes nothing and records no
// event (docs/security-checklist.md, ADM-04). A token whose subject is no
// longer a user of its tenant identifies nobody: CodeInvalidToken.
// Errors: CodeValidation naming the field.
func (s *Service) UpdateProfile(ctx context.Context, p Principal, patch ProfilePatch, client Client) (User, error) {
	if patch.Name != nil {
		name := strings.TrimSpace(*patch.Name)
		if err := validateName("name", name); err != nil {
			return User{}, err
		}
		patch.Name = &name
	}
	now := s.clock.Now()
	var updated User
	err := s.profiles.inProfileTx(ctx, p.AccountID, func(tx profileTx) error {
		old, err := tx.UserLockForUpdate(ctx, p.UserID)
		if err != nil {
			return err
		}
		updated = old
		if patch.Name != nil {
			updated.Name = *patch.Name
		}
		if updated == old {
			return nil
		}
		if err := tx.UserUpdate(ctx, updated, now); err != nil {
			return err
		}
		return tx.Audit(ctx, s.event(p.AccountID, &p.UserID, ActionProfileUpdated, "user", p.UserID.String(),
			map[string]any{"user_id": p.UserID.String(), "old": map[string]any{"name": old.Name}, "new": map[string]any{"name": updated.Name}},
			client, now))
	})
	if errors.Is(err, ErrNotFound) {
		return User{}, Errorf(CodeInvalidToken, "the access token does not identify a user")
	}
	if err != nil {
		return User{}, err
	}
	return updated, nil
}
