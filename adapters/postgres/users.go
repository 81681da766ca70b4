package postgres

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/adapters/postgres/internal/dbsqlc"
	"github.com/sessiond/sessiond/core"
)

// The users of a tenant transaction (queries/users.sql): sign-up, members,
// credentials.

// UserCreate writes the user row and its global email key (user_emails,
// migrations/00007) in one round trip, two statements of this transaction.
// A duplicate email, of this tenant or another, fails on user_emails_pkey
// (23505 → core.ErrConflict).
func (t *tenantTx) UserCreate(ctx context.Context, u core.User, passwordHash string) error {
	verified := u.CreatedAt
	return t.userCreate(ctx, u, passwordHash, &verified)
}

// UserCreateUnverified implements core.TenantTx: UserCreate with the
// email not verified (a registration awaiting its link).
func (t *tenantTx) UserCreateUnverified(ctx context.Context, u core.User, passwordHash string) error {
	return t.userCreate(ctx, u, passwordHash, nil)
}

func (t *tenantTx) userCreate(ctx context.Context, u core.User, passwordHash string, verifiedAt *time.Time) error {
	return mapErr(t.db.execPipelined(ctx, func(q *dbsqlc.Queries) error {
		if err := q.UserCreate(ctx, dbsqlc.UserCreateParams{
			AccountID: t.accountID, ID: u.ID, Email: u.Email, Name: u.Name,
			PasswordHash: passwordHash, AccountRole: string(u.Role), Now: u.CreatedAt, EmailVerifiedAt: verifiedAt,
		}); err != nil {
			return err
		}
		return q.UserEmailCreate(ctx, dbsqlc.UserEmailCreateParams{Email: u.Email, AccountID: t.accountID, UserID: u.ID})
	}))
}

func (t *tenantTx) UserGet(ctx context.Context, id uuid.UUID) (core.User, error) {
	r, err := t.q.UserGetByID(ctx, dbsqlc.UserGetByIDParams{AccountID: t.accountID, ID: id})
	if err != nil {
		return core.User{}, mapErr(err)
	}
	return userFromRow(r), nil
}

func (t *tenantTx) UserAccess(ctx context.Context, id uuid.UUID) (core.Role, bool, error) {
	r, err := t.q.UserGetAccess(ctx, dbsqlc.UserGetAccessParams{AccountID: t.accountID, ID: id})
	if err != nil {
		return "", false, mapErr(err)
	}
	return core.Role(r.AccountRole), r.IsActive, nil
}

// UserListPage reads one page of members with the query of q.Sort's order,
// planned for its own parameters (customPlans).
func (t *tenantTx) UserListPage(ctx context.Context, q core.MemberQuery) ([]core.User, error) {
	if q.Limit < 0 || q.Limit > math.MaxInt32 {
		return nil, fmt.Errorf("postgres: member list limit %d out of range", q.Limit)
	}
	var role, from, to *string
	if q.Role != nil {
		r := string(*q.Role)
		role = &r
	}
	if q.EmailPrefix != "" {
		f, t := prefixRange(q.EmailPrefix)
		from, to = &f, &t
	}
	var afterAt *time.Time
	var afterName *string
	var afterID *uuid.UUID
	if q.After != nil {
		at, name, id := q.After.CreatedAt, q.After.Name, q.After.ID
		afterAt, afterName, afterID = &at, &name, &id
	}
	db := t.customPlans()
	var rows []dbsqlc.UserGetByIDRow
	err := func() error {
		switch q.Sort {
		case core.MemberSortName, core.MemberSortNameDesc:
			p := dbsqlc.UserListByNameParams{AccountID: t.accountID, Role: role, Active: q.Active, EmailFrom: from, EmailTo: to,
				AfterName: afterName, AfterID: afterID, MaxRows: int32(q.Limit)}
			if q.Sort == core.MemberSortName {
				rs, err := db.UserListByName(ctx, p)
				for _, r := range rs {
					rows = append(rows, dbsqlc.UserGetByIDRow(r))
				}
				return err
			}
			rs, err := db.UserListByNameDesc(ctx, dbsqlc.UserListByNameDescParams(p))
			for _, r := range rs {
				rows = append(rows, dbsqlc.UserGetByIDRow(r))
			}
			return err
		case core.MemberSortCreated, core.MemberSortCreatedDesc, "":
			p := dbsqlc.UserListByCreatedParams{AccountID: t.accountID, Role: role, Active: q.Active, EmailFrom: from, EmailTo: to,
				AfterCreatedAt: afterAt, AfterID: afterID, MaxRows: int32(q.Limit)}
			if q.Sort == core.MemberSortCreatedDesc {
				rs, err := db.UserListByCreatedDesc(ctx, dbsqlc.UserListByCreatedDescParams(p))
				for _, r := range rs {
					rows = append(rows, dbsqlc.UserGetByIDRow(r))
				}
				return err
			}
			rs, err := db.UserListByCreated(ctx, p)
			for _, r := range rs {
				rows = append(rows, dbsqlc.UserGetByIDRow(r))
			}
			return err
		}
		return fmt.Errorf("postgres: unknown member sort %q", q.Sort)
	}()
	if err != nil {
		return nil, mapErr(err)
	}
	users := make([]core.User, len(rows))
	for i, r := range rows {
		users[i] = userFromRow(r)
	}
	return users, nil
}

// prefixRange is the byte-order range [from, to) of the strings that start
// with prefix, for text_pattern_ops comparisons (~>=~, ~<~): to is prefix
// followed by the greatest code point, whose UTF-8 encoding (F4 8F BF BF)
// no other character's exceeds.
func prefixRange(prefix string) (from, to string) {
	return prefix, prefix + "\U0010FFFF"
}

func (t *tenantTx) UserSetPasswordHash(ctx context.Context, id uuid.UUID, hash string, now time.Time) error {
	return mapErr(t.q.UserUpdatePasswordHash(ctx, dbsqlc.UserUpdatePasswordHashParams{AccountID: t.accountID, ID: id, PasswordHash: hash, Now: now}))
}

func (t *tenantTx) UserLockCredentials(ctx context.Context, id uuid.UUID) (string, bool, error) {
	r, err := t.q.UserLockCredentials(ctx, dbsqlc.UserLockCredentialsParams{AccountID: t.accountID, ID: id})
	if err != nil {
		return "", false, mapErr(err)
	}
	return r.PasswordHash, r.IsActive, nil
}

func (t *tenantTx) UserLockActiveOwners(ctx context.Context) ([]uuid.UUID, error) {
	ids, err := t.q.UserLockActiveOwners(ctx, t.accountID)
	return ids, mapErr(err)
}

func (t *tenantTx) UserLockForUpdate(ctx context.Context, id uuid.UUID) (core.User, error) {
	r, err := t.q.UserLockForUpdate(ctx, dbsqlc.UserLockForUpdateParams{AccountID: t.accountID, ID: id})
	if err != nil {
		return core.User{}, mapErr(err)
	}
	return userFromRow(dbsqlc.UserGetByIDRow(r)), nil
}

func (t *tenantTx) UserUpdate(ctx context.Context, u core.User, now time.Time) error {
	n, err := t.q.UserUpdate(ctx, dbsqlc.UserUpdateParams{
		AccountID: t.accountID, ID: u.ID, AccountRole: string(u.Role), IsActive: u.Active, Name: u.Name, Now: now,
	})
	if err != nil {
		return mapErr(err)
	}
	if n == 0 {
		return core.ErrNotFound
	}
	return nil
}

// UserDelete removes the user and, in the same transaction, their global
// email key (user_emails has no foreign key to users: on Citus the two are
// distributed by different columns), so the email can be registered again.
func (t *tenantTx) UserDelete(ctx context.Context, id uuid.UUID) error {
	email, err := t.q.UserDelete(ctx, dbsqlc.UserDeleteParams{AccountID: t.accountID, ID: id})
	if err != nil {
		return mapErr(err) // no row: core.ErrNotFound
	}
	_, err = t.q.UserEmailDelete(ctx, dbsqlc.UserEmailDeleteParams{Email: email, AccountID: t.accountID, UserID: id})
	return mapErr(err)
}

func (t *tenantTx) UserLockForSignIn(ctx context.Context, id uuid.UUID) (bool, error) {
	active, err := t.q.UserLockForSignIn(ctx, dbsqlc.UserLockForSignInParams{AccountID: t.accountID, ID: id})
	return active, mapErr(err)
}

// userFromRow is the one converter of a user row. The queries that read a
// user (UserGetByID, the UserListBy… pages, UserLockForUpdate,
// UserGetIfSessionLive) select the same columns, so their row types convert
// to this one.
func userFromRow(r dbsqlc.UserGetByIDRow) core.User {
	return core.User{ID: r.ID, AccountID: r.AccountID, Email: r.Email, Name: r.Name, Role: core.Role(r.AccountRole), Active: r.IsActive, CreatedAt: r.CreatedAt}
}
