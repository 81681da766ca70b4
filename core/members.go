package core

import (
	"context"
	"errors"
	"slices"

	"github.com/google/uuid"
)

// Member administration (SPEC §4, owner only): change a member's role or
// active flag, remove a member, end all of a member's sessions. The account
// always keeps at least one active owner.

var errMemberNotFound = &Error{Code: CodeNotFound, Message: "member not found"}

var errLastOwner = &Error{Code: CodeLastOwner,
	Message: "the account must keep at least one active owner; promote another member to owner first"}

// MemberPatch is a partial update of a member: nil fields are unchanged.
type MemberPatch struct {
	Role   *Role
	Active *bool
}

// lockMemberChange opens a change of member target inside tx: it locks the
// account's active owners, then the target's row, and refuses a change
// that would leave no active owner. keepsOwner says whether the target is
// still an active owner after the change. Errors: errMemberNotFound,
// errLastOwner, errOwnerOnly (the caller stopped being an active owner
// while waiting for the locks: a concurrent change demoted them).
//
// Why this is safe under concurrency: every change that can remove an
// active owner locks the same owner rows first, in id order, so two such
// changes run one after the other, and the second one's lock query
// re-reads the rows the first changed and no longer counts a demoted,
// deactivated or removed owner. Two concurrent demotions of an account's
// two owners therefore end with exactly one of them refused.
func (s *Service) lockMemberChange(ctx context.Context, tx TenantTx, p Principal, target uuid.UUID, keepsOwner func(User) bool) (User, error) {
	owners, err := tx.UserLockActiveOwners(ctx)
	if err != nil {
		return User{}, err
	}
	u, err := tx.UserLockForUpdate(ctx, target)
	if errors.Is(err, ErrNotFound) {
		return User{}, errMemberNotFound
	}
	if err != nil {
		return User{}, err
	}
	isOwner := u.Role == RoleOwner && u.Active
	if isOwner && !keepsOwner(u) && len(owners) <= 1 {
		return User{}, errLastOwner
	}
	// asOwner checked the caller before the locks; a concurrent change may
	// have demoted or removed them since.
	if !slices.Contains(owners, p.UserID) {
		return User{}, errOwnerOnly
	}
	return u, nil
}

// UpdateMember changes a member's role and/or active flag. Deactivating
// revokes every session of the member in the same transaction (their
// access tokens stop at once; sign-in then fails with the generic 401);
// reactivating lets them sign in again. Audited member.updated with the
// old and new role and flag. Errors: CodeForbidden, CodeNotFound,
// CodeValidation (unknown role), CodeLastOwner.
func (s *Service) UpdateMember(ctx context.Context, p Principal, userID uuid.UUID, patch MemberPatch, client Client) (User, error) {
	if patch.Role != nil && !patch.Role.Valid() {
		return User{}, FieldError(CodeValidation, "role", "role must be %q or %q", RoleOwner, RoleMember)
	}
	apply := func(u User) User {
		if patch.Role != nil {
			u.Role = *patch.Role
		}
		if patch.Active != nil {
			u.Active = *patch.Active
		}
		return u
	}
	now := s.clock.Now()
	var updated User
	err := s.asOwner(ctx, p, func(tx TenantTx) error {
		old, err := s.lockMemberChange(ctx, tx, p, userID, func(u User) bool {
			n := apply(u)
			return n.Role == RoleOwner && n.Active
		})
		if err != nil {
			return err
		}
		updated = apply(old)
		if updated.Role == old.Role && updated.Active == old.Active {
			return nil // nothing changes: nothing to write or audit
		}
		if err := tx.UserUpdateMembership(ctx, userID, updated.Role, updated.Active, now); err != nil {
			return err
		}
		var revoked int64
		if old.Active && !updated.Active {
			if revoked, err = tx.SessionRevokeAllForUser(ctx, userID, nil, now, ReasonMemberDeactivated); err != nil {
				return err
			}
		}
		return tx.Audit(ctx, s.event(p.AccountID, &p.UserID, ActionMemberUpdated, "user", userID.String(),
			map[string]any{
				"user_id": userID.String(),
				"old":     map[string]any{"role": string(old.Role), "is_active": old.Active},
				"new":     map[string]any{"role": string(updated.Role), "is_active": updated.Active},
				// Sessions ended by a deactivation (0 otherwise).
				"revoked_count": revoked,
			}, client, now))
	})
	if err != nil {
		return User{}, err
	}
	return updated, nil
}

// RemoveMember deletes a user from the caller's account. The row is
// deleted, not soft-deleted: the user's sessions and reset tokens go with
// it (so every token of theirs stops at once and sign-in finds no such
// user), their email becomes free to register or add again, and the audit
// trail keeps their id wherever they acted (audit events have no foreign
// key to users). Audited member.removed with the email and role it had and
// how many live sessions ended. Removing oneself is allowed while another
// active owner remains. Errors: CodeForbidden, CodeNotFound, CodeLastOwner.
func (s *Service) RemoveMember(ctx context.Context, p Principal, userID uuid.UUID, client Client) error {
	now := s.clock.Now()
	return s.asOwner(ctx, p, func(tx TenantTx) error {
		u, err := s.lockMemberChange(ctx, tx, p, userID, func(User) bool { return false })
		if err != nil {
			return err
		}
		// Counted (and stamped) before the rows go with the user.
		revoked, err := tx.SessionRevokeAllForUser(ctx, userID, nil, now, ReasonMemberRemoved)
		if err != nil {
			return err
		}
		if err := tx.UserDelete(ctx, userID); err != nil {
			return err
		}
		return tx.Audit(ctx, s.event(p.AccountID, &p.UserID, ActionMemberRemoved, "user", userID.String(),
			map[string]any{
				"user_id": userID.String(), "email": u.Email, "role": string(u.Role), "was_active": u.Active,
				"revoked_count": revoked,
			}, client, now))
	})
}

// RevokeMemberSessions ends every live session of one user of the caller's
// account (the caller included, should they name themselves) and returns
// how many. Audited member.sessions_revoked, whatever the count.
// Errors: CodeForbidden, CodeNotFound.
func (s *Service) RevokeMemberSessions(ctx context.Context, p Principal, userID uuid.UUID, client Client) (int64, error) {
	now := s.clock.Now()
	var n int64
	err := s.asOwner(ctx, p, func(tx TenantTx) error {
		if _, err := tx.UserGet(ctx, userID); errors.Is(err, ErrNotFound) {
			return errMemberNotFound
		} else if err != nil {
			return err
		}
		var err error
		if n, err = tx.SessionRevokeAllForUser(ctx, userID, nil, now, ReasonRevokedByOwner); err != nil {
			return err
		}
		return tx.Audit(ctx, s.event(p.AccountID, &p.UserID, ActionMemberSessionsRevoke, "user", userID.String(),
			map[string]any{"user_id": userID.String(), "revoked_count": n}, client, now))
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
