package core

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Member administration (docs/session-rules.md §5, owner only): change a member's role or
// active flag, remove a member, end all of a member's sessions. The account
// always keeps at least one active owner.

var errMemberNotFound = &Error{Code: CodeNotFound, Message: "member not found"}

var errLastOwner = &Error{Code: CodeLastOwner,
	Message: "the account must keep at least one active owner; promote another member to owner first"}

// MemberPatch is a partial update of a member: nil fields are unchanged.
type MemberPatch struct {
	Role   *Role
	Active *bool
	// Name is the member's display name (trimmed, validateName).
	Name *string
}

// Member listing page sizes.
const (
	MemberPageDefault = 50
	MemberPageMax     = 200
)

// MemberSort is the order of the member list: a key, ascending, or
// descending with a leading "-". The id breaks ties.
type MemberSort string

const (
	MemberSortCreated     MemberSort = "created_at"
	MemberSortCreatedDesc MemberSort = "-created_at"
	MemberSortName        MemberSort = "name"
	MemberSortNameDesc    MemberSort = "-name"
)

// MemberSorts are the orders ListMembers accepts.
var MemberSorts = []MemberSort{MemberSortCreated, MemberSortCreatedDesc, MemberSortName, MemberSortNameDesc}

// ByName reports whether the order is by name (else by creation time).
func (s MemberSort) ByName() bool { return s == MemberSortName || s == MemberSortNameDesc }

// Desc reports whether the order is descending.
func (s MemberSort) Desc() bool { return s == MemberSortCreatedDesc || s == MemberSortNameDesc }

// MemberFilter selects users of the account; zero fields select everyone.
type MemberFilter struct {
	Role   *Role
	Active *bool
	// EmailPrefix: emails starting with it (compared lower-case).
	EmailPrefix string
}

// MemberPosition is a place in the member list's order: the sort key
// (CreatedAt or Name), then the id.
type MemberPosition struct {
	CreatedAt time.Time
	Name      string
	ID        uuid.UUID
}

// MemberQuery selects a page of members (see TenantTx.UserListPage).
type MemberQuery struct {
	MemberFilter
	Sort  MemberSort
	Limit int
	After *MemberPosition
}

// MemberPage is one page of members. NextCursor is "" on the last page.
type MemberPage struct {
	Users      []User
	NextCursor string
	// MFAEnabled marks the users of the page with a confirmed second
	// factor (docs/session-rules.md §11).
	MFAEnabled map[uuid.UUID]bool
}

func (f MemberFilter) values(sort MemberSort) url.Values {
	v := url.Values{"sort": {string(sort)}, "email_prefix": {f.EmailPrefix}}
	if f.Role != nil {
		v.Set("role", string(*f.Role))
	}
	if f.Active != nil {
		v.Set("active", fmt.Sprint(*f.Active))
	}
	return v
}

// ListMembers returns one page of the caller's account's users, owners
// included, filtered by f and ordered by sort ("" = oldest first). cursor
// is "" for the first page, else a previous page's NextCursor under the
// same filter and sort; limit 0 means the default.
// Errors: CodeForbidden, CodeValidation (limit, filter, sort),
// CodeInvalidCursor.
func (s *Service) ListMembers(ctx context.Context, p Principal, f MemberFilter, sort MemberSort, limit int, cursor string) (MemberPage, error) {
	limit, err := pageLimit(limit, MemberPageDefault, MemberPageMax)
	if err != nil {
		return MemberPage{}, err
	}
	if sort == "" {
		sort = MemberSortCreated
	}
	if !slices.Contains(MemberSorts, sort) {
		return MemberPage{}, FieldError(CodeValidation, "sort", "sort must be one of: created_at, -created_at, name, -name")
	}
	if f.Role != nil && !f.Role.Valid() {
		return MemberPage{}, FieldError(CodeValidation, "role", "role must be %q or %q", RoleOwner, RoleMember)
	}
	f.EmailPrefix = NormalizeEmail(f.EmailPrefix)
	if len(f.EmailPrefix) > EmailMaxLen || strings.ContainsRune(f.EmailPrefix, 0) {
		return MemberPage{}, FieldError(CodeValidation, "email_prefix", "email_prefix must be at most %d characters, without NUL", EmailMaxLen)
	}
	q := MemberQuery{MemberFilter: f, Sort: sort, Limit: limit + 1} // one more: is there a next page?
	if cursor != "" {
		pos, err := decodeCursor(cursor, listMembers, f.values(sort), sort.ByName())
		if err != nil {
			return MemberPage{}, err
		}
		q.After = &MemberPosition{CreatedAt: pos.T, Name: pos.S, ID: pos.ID}
	}
	var users []User
	var mfa map[uuid.UUID]bool
	err = asOwnerIn(ctx, s, p, s.members.inMemberTx, func(tx memberTx) error {
		var err error
		if users, err = tx.UserListPage(ctx, q); err != nil {
			return err
		}
		ids := make([]uuid.UUID, len(users))
		for i, u := range users {
			ids[i] = u.ID
		}
		mfa, err = tx.UsersWithMFA(ctx, ids)
		return err
	})
	if err != nil {
		return MemberPage{}, err
	}
	page := MemberPage{Users: users, MFAEnabled: mfa}
	if len(users) > limit {
		page.Users = users[:limit]
		last := page.Users[limit-1]
		pos := cursorPos{T: last.CreatedAt, ID: last.ID}
		if sort.ByName() {
			pos = cursorPos{S: last.Name, ID: last.ID}
		}
		page.NextCursor = encodeCursor(listMembers, f.values(sort), pos)
	}
	return page, nil
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
func (s *Service) lockMemberChange(ctx context.Context, tx memberTx, p Principal, target uuid.UUID, keepsOwner func(User) bool) (User, error) {
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
	// asOwnerIn checked the caller before the locks; a concurrent change may
	// have demoted or removed them since.
	if !slices.Contains(owners, p.UserID) {
		return User{}, errOwnerOnly
	}
	return u, nil
}

// UpdateMember changes a member's role, active flag and/or name.
// Deactivating revokes every session of the member in the same transaction
// (their access tokens stop at once; sign-in then fails with the generic
// 401); reactivating lets them sign in again. Audited member.updated with
// the old and new role and active flag (and name, when it
// changed); a patch that changes nothing writes nothing and records no
// event (ADM-04). Errors: CodeForbidden, CodeNotFound, CodeValidation
// (unknown role, bad name), CodeLastOwner.
func (s *Service) UpdateMember(ctx context.Context, p Principal, userID uuid.UUID, patch MemberPatch, client Client) (User, error) {
	if patch.Role != nil && !patch.Role.Valid() {
		return User{}, FieldError(CodeValidation, "role", "role must be %q or %q", RoleOwner, RoleMember)
	}
	if patch.Name != nil {
		name := strings.TrimSpace(*patch.Name)
		if err := validateName("name", name); err != nil {
			return User{}, err
		}
		patch.Name = &name
	}
	apply := func(u User) User {
		if patch.Role != nil {
			u.Role = *patch.Role
		}
		if patch.Active != nil {
			u.Active = *patch.Active
		}
		if patch.Name != nil {
			u.Name = *patch.Name
		}
		return u
	}
	now := s.clock.Now()
	var updated User
	err := asOwnerWriteIn(ctx, s, p, s.members.inMemberTx, func(tx memberTx) error {
		old, err := s.lockMemberChange(ctx, tx, p, userID, func(u User) bool {
			n := apply(u)
			return n.Role == RoleOwner && n.Active
		})
		if err != nil {
			return err
		}
		updated = apply(old)
		if updated == old {
			return nil // nothing changes: nothing to write or audit
		}
		if err := tx.UserUpdate(ctx, updated, now); err != nil {
			return err
		}
		var revoked int64
		if old.Active && !updated.Active {
			if revoked, err = tx.SessionRevokeAllForUser(ctx, userID, nil, now, ReasonMemberDeactivated); err != nil {
				return err
			}
		}
		oldD := map[string]any{"role": string(old.Role), "is_active": old.Active}
		newD := map[string]any{"role": string(updated.Role), "is_active": updated.Active}
		if updated.Name != old.Name {
			oldD["name"], newD["name"] = old.Name, updated.Name
		}
		return tx.Audit(ctx, s.event(p.AccountID, &p.UserID, ActionMemberUpdated, "user", userID.String(),
			map[string]any{
				"user_id": userID.String(),
				"old":     oldD,
				"new":     newD,
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
	return asOwnerWriteIn(ctx, s, p, s.members.inMemberTx, func(tx memberTx) error {
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
	err := asOwnerWriteIn(ctx, s, p, s.members.inMemberTx, func(tx memberTx) error {
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
