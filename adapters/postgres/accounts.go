package postgres

import (
	"context"
	"math"
	"time"

	"github.com/sessiond/sessiond/adapters/postgres/internal/dbsqlc"
	"github.com/sessiond/sessiond/core"
)

// The account of a tenant transaction (queries/accounts.sql): its creation
// and its session policy.

func (t *tenantTx) AccountCreate(ctx context.Context, a core.Account) error {
	return mapErr(t.q.AccountCreate(ctx, dbsqlc.AccountCreateParams{ID: a.ID, Name: a.Name, Now: a.CreatedAt}))
}

func (t *tenantTx) AccountPolicy(ctx context.Context) (core.PolicyOverride, error) {
	r, err := t.q.AccountGetPolicy(ctx, t.accountID)
	if err != nil {
		return core.PolicyOverride{}, mapErr(err)
	}
	return policyFromRow(dbsqlc.AccountGetPolicyForUpdateRow(r)), nil
}

func (t *tenantTx) AccountPolicyForUpdate(ctx context.Context) (core.PolicyOverride, error) {
	r, err := t.q.AccountGetPolicyForUpdate(ctx, t.accountID)
	if err != nil {
		return core.PolicyOverride{}, mapErr(err)
	}
	return policyFromRow(r), nil
}

func (t *tenantTx) AccountSetPolicy(ctx context.Context, o core.PolicyOverride, now time.Time) error {
	idle, err := int32Ptr("idle_minutes", o.IdleMinutes)
	if err != nil {
		return err
	}
	abs, err := int32Ptr("absolute_minutes", o.AbsoluteMinutes)
	if err != nil {
		return err
	}
	maxSessions, err := int32Ptr("max_sessions_per_user", o.MaxSessionsPerUser)
	if err != nil {
		return err
	}
	retention, err := int32Ptr("audit_retention_days", o.AuditRetentionDays)
	if err != nil {
		return err
	}
	reauth, err := int32Ptr("reauth_max_age_minutes", o.ReauthMaxAgeMinutes)
	if err != nil {
		return err
	}
	n, err := t.q.AccountUpdatePolicy(ctx, dbsqlc.AccountUpdatePolicyParams{
		ID: t.accountID, IdleMinutes: idle, AbsoluteMinutes: abs,
		MaxSessionsPerUser: maxSessions, SessionLimitAction: string(o.EffectiveSessionLimitAction()), AuditRetentionDays: retention, Now: now,
		MfaRequired: (*string)(o.MFARequired), ReauthMaxAgeMinutes: reauth,
	})
	if err != nil {
		return mapErr(err)
	}
	if n == 0 {
		return core.ErrNotFound
	}
	return nil
}

// policyFromRow is the one converter of the account's policy columns
// (AccountGetPolicy's row has the same fields and converts to this type).
func policyFromRow(r dbsqlc.AccountGetPolicyForUpdateRow) core.PolicyOverride {
	return core.PolicyOverride{
		IdleMinutes: intPtr(r.SessionIdleMinutes), AbsoluteMinutes: intPtr(r.SessionAbsoluteMinutes),
		MaxSessionsPerUser: intPtr(r.MaxSessionsPerUser), SessionLimitAction: core.SessionLimitAction(r.SessionLimitAction),
		AuditRetentionDays: intPtr(r.AuditRetentionDays),
		MFARequired:        (*core.MFARequirement)(r.MfaRequired), ReauthMaxAgeMinutes: intPtr(r.ReauthMaxAgeMinutes),
	}
}

// int32Ptr converts an override value for its integer column; a value the
// column cannot hold is refused rather than wrapped.
func int32Ptr(field string, v *int) (*int32, error) {
	if v == nil {
		return nil, nil
	}
	if *v < math.MinInt32 || *v > math.MaxInt32 {
		return nil, core.FieldError(core.CodePolicyOutOfBounds, field, "%s is out of range", field)
	}
	n := int32(*v)
	return &n, nil
}

func intPtr(v *int32) *int {
	if v == nil {
		return nil
	}
	n := int(*v)
	return &n
}
