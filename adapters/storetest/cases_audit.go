package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/core"
)

// auditRow is an event the suite stored, with the user it is about as
// TenantTx.AuditList defines it.
type auditRow struct {
	ev      core.AuditEvent
	subject uuid.UUID
}

// testAuditList: the audit trail newest first (created_at, then id, both
// descending), paged without gap or repeat, under each filter the port
// documents — action, actions, actor, subject (the user resource, else
// details' user_id, else a session event's actor), session, Since
// (inclusive), Until (exclusive), NotBefore — and none of another tenant's
// events (ADM-03, AUD-01).
func testAuditList(t *testing.T, e *env) {
	a, b := e.newTenant(), e.newTenant()
	o, m := a.owner.ID, e.newUser(a).ID
	s1, s2 := uuid.New(), uuid.New()
	ev := func(actor *uuid.UUID, action, rtype, rid string, details map[string]any, at time.Duration) core.AuditEvent {
		return core.AuditEvent{AccountID: a.account, ActorUserID: actor, Action: action, ResourceType: rtype, ResourceID: rid,
			Details: details, At: t0.Add(at)}.Normalized()
	}
	rows := []auditRow{
		{ev(nil, core.ActionLoginFailed, "user", m.String(), nil, 0), m},
		{ev(&m, core.ActionLoginSucceeded, "user", m.String(), nil, time.Minute), m},
		{ev(&m, core.ActionLogout, "session", s1.String(), nil, 2*time.Minute), m},                                           // a user's own session
		{ev(&o, core.ActionSessionRevoked, "session", s2.String(), map[string]any{"user_id": m.String()}, 2*time.Minute), m}, // an owner on m's
		{ev(&o, core.ActionMemberUpdated, "user", o.String(), map[string]any{"user_id": m.String()}, 3*time.Minute), o},      // the resource wins
	}
	e.tx(a.account, func(tx core.TenantTx) error {
		for _, r := range rows {
			if err := tx.Audit(e.ctx, r.ev); err != nil {
				return err
			}
		}
		return nil
	})
	e.tx(b.account, func(tx core.TenantTx) error {
		return tx.Audit(e.ctx, core.AuditEvent{AccountID: b.account, ActorUserID: &m, Action: core.ActionLogout, ResourceType: "session",
			ResourceID: s1.String(), At: t0.Add(2 * time.Minute)}.Normalized())
	})
	slices.SortFunc(rows, func(x, y auditRow) int {
		if c := y.ev.At.Compare(x.ev.At); c != 0 {
			return c
		}
		return compareIDs(y.ev.ID, x.ev.ID)
	})
	at := func(d time.Duration) *time.Time { return ptr(t0.Add(d)) }
	from := func(d time.Duration) func(auditRow) bool {
		return func(r auditRow) bool { return !r.ev.At.Before(t0.Add(d)) }
	}
	about := func(u uuid.UUID) func(auditRow) bool { return func(r auditRow) bool { return r.subject == u } }
	action := func(as ...string) func(auditRow) bool {
		return func(r auditRow) bool { return slices.Contains(as, r.ev.Action) }
	}
	for name, c := range map[string]struct {
		q    core.AuditQuery
		keep func(r auditRow) bool
	}{
		"all":               {core.AuditQuery{}, func(auditRow) bool { return true }},
		"action":            {core.AuditQuery{Action: core.ActionLogout}, action(core.ActionLogout)},
		"actions":           {core.AuditQuery{Actions: []string{core.ActionLogout, core.ActionLoginFailed}}, action(core.ActionLogout, core.ActionLoginFailed)},
		"actor":             {core.AuditQuery{ActorUserID: &o}, func(r auditRow) bool { return r.ev.ActorUserID != nil && *r.ev.ActorUserID == o }},
		"subject m":         {core.AuditQuery{SubjectUserID: &m}, about(m)},
		"subject o":         {core.AuditQuery{SubjectUserID: &o}, about(o)},
		"session":           {core.AuditQuery{SessionID: &s2}, func(r auditRow) bool { return r.ev.ResourceID == s2.String() }},
		"since (inclusive)": {core.AuditQuery{Since: at(2 * time.Minute)}, from(2 * time.Minute)},
		"until (exclusive)": {core.AuditQuery{Until: at(2 * time.Minute)}, func(r auditRow) bool { return !from(2 * time.Minute)(r) }},
		"not before":        {core.AuditQuery{NotBefore: t0.Add(time.Minute)}, from(time.Minute)},
		"subject and since": {core.AuditQuery{SubjectUserID: &m, Since: at(time.Minute)}, func(r auditRow) bool { return about(m)(r) && from(time.Minute)(r) }},
	} {
		var want, got []uuid.UUID
		for _, r := range rows {
			if c.keep(r) {
				want = append(want, r.ev.ID)
			}
		}
		if got = e.auditPages(a.account, c.q, 2); !slices.Equal(got, want) {
			t.Errorf("AuditList(%s) pages = %v, want %v", name, got, want)
		}
	}
}

// auditPages walks AuditList in pages of limit, each after the last event
// of the previous one, and returns the events' ids in the order read.
func (e *env) auditPages(account uuid.UUID, q core.AuditQuery, limit int) (ids []uuid.UUID) {
	e.t.Helper()
	q.Limit = limit
	for range 20 {
		var page []core.AuditEvent
		e.tx(account, func(tx core.TenantTx) (err error) { page, err = tx.AuditList(e.ctx, q); return err })
		if len(page) > limit {
			e.t.Errorf("AuditList returned %d events, limit %d", len(page), limit)
		}
		for _, p := range page {
			ids = append(ids, p.ID)
		}
		if len(page) < limit {
			return ids
		}
		q.After = &core.AuditPosition{CreatedAt: page[len(page)-1].At, ID: page[len(page)-1].ID}
	}
	e.t.Fatalf("AuditList: more than 20 pages")
	return nil
}
