package http

import (
	"context"

	"github.com/oapi-codegen/nullable"
	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/sessiond/sessiond/adapters/http/api"
	"github.com/sessiond/sessiond/core"
)

// Account administration (owner only). The owner check is core's: a
// member's call reaches the service and is refused there with 403.

// GetAccountSecurity returns the account's session policy.
func (s *Server) GetAccountSecurity(ctx context.Context, _ api.GetAccountSecurityRequestObject) (api.GetAccountSecurityResponseObject, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	sec, err := s.svc.AccountSecurity(ctx, p)
	if err != nil {
		return nil, err
	}
	return api.GetAccountSecurity200JSONResponse(accountSecurityBody(sec)), nil
}

// UpdateAccountSecurity sets or clears the account's policy override.
func (s *Server) UpdateAccountSecurity(ctx context.Context, req api.UpdateAccountSecurityRequestObject) (api.UpdateAccountSecurityResponseObject, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	var patch core.PolicyPatch
	if req.Body != nil {
		patch.Idle = intChange(req.Body.IdleMinutes)
		patch.Absolute = intChange(req.Body.AbsoluteMinutes)
		patch.MaxSessions = intChange(req.Body.MaxSessionsPerUser)
		patch.AuditRetention = intChange(req.Body.AuditRetentionDays)
		if a := req.Body.SessionLimitAction; a != nil {
			action := core.SessionLimitAction(*a)
			patch.LimitAction = &action
		}
		patch.MFARequired = mfaRequirementChange(req.Body.MfaRequired)
		patch.ReauthMaxAge = intChange(req.Body.ReauthMaxAgeMinutes)
	}
	sec, err := s.svc.UpdateAccountSecurity(ctx, p, patch, requestFrom(ctx).client)
	if err != nil {
		return nil, err
	}
	return api.UpdateAccountSecurity200JSONResponse(accountSecurityBody(sec)), nil
}

// intChange maps a JSON merge-patch field: absent = unchanged, null =
// clear, a number = set. The field is nullable.Nullable twice over: the spec
// types it `x-go-type: nullable.Nullable[int]` so that every oapi-codegen
// client can send null, and this server's nullable-type option wraps
// nullable fields once more. JSON null lands in the outer layer, a number in
// the inner one.
func intChange(v nullable.Nullable[nullable.Nullable[int]]) core.IntChange {
	if !v.IsSpecified() {
		return core.IntChange{}
	}
	if v.IsNull() {
		return core.IntChange{Set: true}
	}
	inner := v.MustGet()
	if !inner.IsSpecified() || inner.IsNull() {
		return core.IntChange{Set: true}
	}
	n := inner.MustGet()
	return core.IntChange{Set: true, Value: &n}
}

// accountSecurityBody is the policy in the seed's flat shape.
func accountSecurityBody(sec core.AccountSecurity) api.AccountSecurity {
	ps := sec.Settings
	return api.AccountSecurity{
		// Nullable fields are always set explicitly: an unset one would
		// serialise as 0, which reads as an override.
		IdleMinutes:                  nullableInt(sec.Override.IdleMinutes),
		AbsoluteMinutes:              nullableInt(sec.Override.AbsoluteMinutes),
		EffectiveIdleMinutes:         sec.Effective.IdleMinutes,
		EffectiveAbsoluteMinutes:     sec.Effective.AbsoluteMinutes,
		IdleMinutesMin:               ps.IdleMin,
		IdleMinutesMax:               ps.IdleMax,
		AbsoluteMinutesMin:           ps.AbsoluteMin,
		AbsoluteMinutesMax:           ps.AbsoluteMax,
		MaxSessionsPerUser:           nullableInt(sec.Override.MaxSessionsPerUser),
		MaxSessionsPerUserMin:        core.MaxSessionsPerUserMin,
		MaxSessionsPerUserMax:        core.MaxSessionsPerUserMax,
		SessionLimitAction:           api.SessionLimitAction(sec.Override.EffectiveSessionLimitAction()),
		AuditRetentionDays:           nullableInt(sec.Override.AuditRetentionDays),
		EffectiveAuditRetentionDays:  ps.EffectiveAuditRetention(sec.Override),
		AuditRetentionDaysMin:        ps.AuditRetentionMin,
		AuditRetentionDaysMax:        ps.AuditRetentionMax,
		MfaRequired:                  nullableMFARequirement(sec.Override.MFARequired),
		EffectiveMfaRequired:         api.MfaRequirement(sec.Effective.MFARequired),
		ReauthMaxAgeMinutes:          nullableInt(sec.Override.ReauthMaxAgeMinutes),
		EffectiveReauthMaxAgeMinutes: sec.Effective.ReauthMaxAgeMinutes,
		ReauthMaxAgeMinutesMin:       core.ReauthMaxAgeMin,
		ReauthMaxAgeMinutesMax:       core.ReauthMaxAgeMax,
	}
}

// mfaRequirementChange maps mfa_required like intChange maps the integers.
func mfaRequirementChange(v nullable.Nullable[nullable.Nullable[string]]) core.MFARequirementChange {
	if !v.IsSpecified() {
		return core.MFARequirementChange{}
	}
	if v.IsNull() {
		return core.MFARequirementChange{Set: true}
	}
	inner := v.MustGet()
	if !inner.IsSpecified() || inner.IsNull() {
		return core.MFARequirementChange{Set: true}
	}
	m := core.MFARequirement(inner.MustGet())
	return core.MFARequirementChange{Set: true, Value: &m}
}

func nullableMFARequirement(v *core.MFARequirement) nullable.Nullable[api.AccountSecurityMfaRequired] {
	if v == nil {
		return nullable.NewNullNullable[api.AccountSecurityMfaRequired]()
	}
	return nullable.NewNullableWithValue(api.AccountSecurityMfaRequired(*v))
}

func nullableInt(v *int) nullable.Nullable[int] {
	if v == nil {
		return nullable.NewNullNullable[int]()
	}
	return nullable.NewNullableWithValue(*v)
}

// RevokeAccountSessions revokes sessions across the account.
func (s *Server) RevokeAccountSessions(ctx context.Context, req api.RevokeAccountSessionsRequestObject) (api.RevokeAccountSessionsResponseObject, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	scope := core.RevokeAll // an absent body or scope means all (the contract's default)
	if req.Body != nil && req.Body.Scope != nil {
		scope = core.RevokeScope(*req.Body.Scope)
	}
	n, err := s.svc.RevokeAccountSessions(ctx, p, scope, requestFrom(ctx).client)
	if err != nil {
		return nil, err
	}
	return api.RevokeAccountSessions200JSONResponse{RevokedCount: int(n)}, nil
}

// ListMembers returns one page of the account's users.
func (s *Server) ListMembers(ctx context.Context, req api.ListMembersRequestObject) (api.ListMembersResponseObject, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	prm := req.Params
	var f core.MemberFilter
	if prm.Role != nil {
		r := core.Role(*prm.Role)
		f.Role = &r
	}
	f.Active = prm.Active
	f.EmailPrefix = deref(prm.EmailPrefix)
	var sort core.MemberSort
	if prm.Sort != nil {
		sort = core.MemberSort(*prm.Sort)
	}
	page, err := s.svc.ListMembers(ctx, p, f, sort, deref(prm.Limit), deref(prm.Cursor))
	if err != nil {
		return nil, err
	}
	items := make([]api.User, len(page.Users))
	for i, u := range page.Users {
		items[i] = userBody(u)
		enabled := page.MFAEnabled[u.ID]
		items[i].MfaEnabled = &enabled
	}
	return api.ListMembers200JSONResponse{Items: items, NextCursor: nullableString(page.NextCursor)}, nil
}

// deref is the value of an optional parameter, or its zero value (which
// the service reads as "not given").
func deref[T any](v *T) T {
	var zero T
	if v == nil {
		return zero
	}
	return *v
}

// CreateMember adds a user to the account.
func (s *Server) CreateMember(ctx context.Context, req api.CreateMemberRequestObject) (api.CreateMemberResponseObject, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	b := req.Body
	u, err := s.svc.CreateMember(ctx, p, core.CreateMemberInput{
		NewUser: core.NewUser{Email: b.Email, Password: b.Password, Name: b.Name}, Role: core.Role(b.Role),
	}, requestFrom(ctx).client)
	if err != nil {
		return nil, err
	}
	return api.CreateMember201JSONResponse(userBody(u)), nil
}

// ListAuditEvents returns one page of the account's audit trail.
func (s *Server) ListAuditEvents(ctx context.Context, req api.ListAuditEventsRequestObject) (api.ListAuditEventsResponseObject, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	prm := req.Params
	f := core.AuditFilter{
		ActorUserID: prm.ActorUserId, SubjectUserID: prm.UserId, SessionID: prm.SessionId,
		Action: string(deref(prm.Action)), ActionPrefix: deref(prm.ActionPrefix),
		Since: prm.Since, Until: prm.Until,
	}
	page, err := s.svc.ListAuditEvents(ctx, p, f, deref(prm.Limit), deref(prm.Cursor))
	if err != nil {
		return nil, err
	}
	items := make([]api.AuditEvent, len(page.Events))
	for i, e := range page.Events {
		items[i] = auditEventBody(e)
	}
	return api.ListAuditEvents200JSONResponse{Items: items, NextCursor: nullableString(page.NextCursor)}, nil
}

func auditEventBody(e core.AuditEvent) api.AuditEvent {
	body := api.AuditEvent{
		Id: e.ID, Action: api.AuditAction(e.Action), ResourceType: e.ResourceType, Details: e.Details, CreatedAt: e.At.UTC(),
		ActorUserId: nullable.NewNullNullable[openapi_types.UUID](),
		ResourceId:  nullableString(e.ResourceID),
		IpAddress:   nullable.NewNullNullable[string](),
		UserAgent:   nullableString(e.UserAgent),
	}
	if e.ActorUserID != nil {
		body.ActorUserId = nullable.NewNullableWithValue(*e.ActorUserID)
	}
	if e.IP.IsValid() {
		body.IpAddress = nullable.NewNullableWithValue(e.IP.String())
	}
	if body.Details == nil {
		body.Details = map[string]any{}
	}
	return body
}
