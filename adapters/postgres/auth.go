package postgres

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/adapters/postgres/internal/dbsqlc"
	"github.com/sessiond/sessiond/core"
)

// The lookups before a tenant is known (queries/auth.sql): each one
// statement through a SECURITY DEFINER function, outside any tenant
// transaction.

// UserForLogin implements core.Store through the SECURITY DEFINER lookup.
func (s *Store) UserForLogin(ctx context.Context, email string) (core.LoginUser, error) {
	r, err := s.q.AuthUserForLogin(ctx, email)
	if err != nil {
		return core.LoginUser{}, mapErr(err)
	}
	return core.LoginUser{UserID: r.UserID, AccountID: r.AccountID, PasswordHash: r.PasswordHash, Active: r.IsActive, Role: core.Role(r.AccountRole),
		EmailVerified: r.EmailVerified}, nil
}

// SessionAccount implements core.Store through the SECURITY DEFINER lookup
// (legacy refresh tokens without tid; migrations/00004).
func (s *Store) SessionAccount(ctx context.Context, sessionID uuid.UUID) (uuid.UUID, error) {
	id, err := s.q.AuthSessionAccount(ctx, sessionID)
	if err != nil {
		return uuid.Nil, mapErr(err)
	}
	if id == uuid.Nil {
		return uuid.Nil, core.ErrNotFound
	}
	return id, nil
}

// SessionIsLive implements core.Store through the SECURITY DEFINER check.
func (s *Store) SessionIsLive(ctx context.Context, accountID, sessionID uuid.UUID, now time.Time) (bool, error) {
	live, err := s.q.AuthSessionIsLive(ctx, dbsqlc.AuthSessionIsLiveParams{AccountID: accountID, SessionID: sessionID, Now: now})
	return live, mapErr(err)
}

// PasswordResetAccount implements core.Store through the SECURITY DEFINER lookup.
func (s *Store) PasswordResetAccount(ctx context.Context, tokenHash []byte) (uuid.UUID, error) {
	id, err := s.q.AuthPasswordResetAccount(ctx, tokenHash)
	if err != nil {
		return uuid.Nil, mapErr(err)
	}
	if id == uuid.Nil { // the function answers NULL for an unknown hash
		return uuid.Nil, core.ErrNotFound
	}
	return id, nil
}

// EmailVerificationAccount implements core.Store through the SECURITY
// DEFINER lookup (migrations/00014), as PasswordResetAccount.
func (s *Store) EmailVerificationAccount(ctx context.Context, tokenHash []byte) (uuid.UUID, error) {
	id, err := s.q.AuthEmailVerificationAccount(ctx, tokenHash)
	if err != nil {
		return uuid.Nil, mapErr(err)
	}
	if id == uuid.Nil {
		return uuid.Nil, core.ErrNotFound
	}
	return id, nil
}

// InvitationAccount implements core.Store through the SECURITY DEFINER
// lookup (migrations/00014), as PasswordResetAccount.
func (s *Store) InvitationAccount(ctx context.Context, tokenHash []byte) (uuid.UUID, error) {
	id, err := s.q.AuthInvitationAccount(ctx, tokenHash)
	if err != nil {
		return uuid.Nil, mapErr(err)
	}
	if id == uuid.Nil {
		return uuid.Nil, core.ErrNotFound
	}
	return id, nil
}

// MFAChallengeOwner implements core.Store through the SECURITY DEFINER
// lookup (migrations/00015).
func (s *Store) MFAChallengeOwner(ctx context.Context, tokenHash []byte) (uuid.UUID, uuid.UUID, error) {
	r, err := s.q.AuthMFAChallengeOwner(ctx, tokenHash)
	if err != nil {
		return uuid.Nil, uuid.Nil, mapErr(err) // no row for an unknown hash: ErrNotFound
	}
	if r.AccountID == uuid.Nil {
		return uuid.Nil, uuid.Nil, core.ErrNotFound
	}
	return r.AccountID, r.UserID, nil
}
