package storetest

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/core"
)

// The account's own data: its policy, its members, its users' sessions
// (docs/session-rules.md §2, §5).

// policyOf reads the tenant's override, plain and locked; they must agree.
func (e *env) policyOf(account uuid.UUID) core.PolicyOverride {
	e.t.Helper()
	var plain, locked core.PolicyOverride
	e.tx(account, func(tx core.TenantTx) error {
		var err error
		if plain, err = tx.AccountPolicy(e.ctx); err != nil {
			return err
		}
		locked, err = tx.AccountPolicyForUpdate(e.ctx)
		return err
	})
	if !reflect.DeepEqual(plain, locked) {
		e.t.Errorf("AccountPolicy = %+v, AccountPolicyForUpdate = %+v; want the same", plain, locked)
	}
	return plain
}

// testAccountPolicy: a new account has no override (every field "the
// default", the limit action reading as evict_oldest); AccountSetPolicy
// replaces the whole override and nil fields clear it; the database CHECK
// (idle ≤ absolute) is a conflict; an unknown account is ErrNotFound; one
// tenant's override is not another's (docs/session-rules.md §2, §7).
func testAccountPolicy(t *testing.T, e *env) {
	a, b := e.newTenant(), e.newTenant()
	none := func(p core.PolicyOverride) bool {
		return p.IdleMinutes == nil && p.AbsoluteMinutes == nil && p.MaxSessionsPerUser == nil && p.MFARequired == nil &&
			p.ReauthMaxAgeMinutes == nil && p.AuditRetentionDays == nil && p.EffectiveSessionLimitAction() == core.SessionLimitEvictOldest
	}
	if p := e.policyOf(a.account); !none(p) {
		t.Errorf("new account's policy = %+v, want no override", p)
	}
	full := core.PolicyOverride{IdleMinutes: ptr(15), AbsoluteMinutes: ptr(120), MaxSessionsPerUser: ptr(3),
		SessionLimitAction: core.SessionLimitDeny, MFARequired: ptr(core.MFARequiredOwners), ReauthMaxAgeMinutes: ptr(10),
		AuditRetentionDays: ptr(30)}
	e.tx(a.account, func(tx core.TenantTx) error { return tx.AccountSetPolicy(e.ctx, full, t0) })
	if p := e.policyOf(a.account); !reflect.DeepEqual(p, full) {
		t.Errorf("policy after AccountSetPolicy = %+v, want %+v", p, full)
	}
	if p := e.policyOf(b.account); !none(p) {
		t.Errorf("B's policy after A's change = %+v, want no override", p)
	}

	// idle > absolute: the CHECK refuses it, as a conflict; nothing changes.
	err := e.s.InTenantTx(e.ctx, a.account, func(tx core.TenantTx) error {
		return tx.AccountSetPolicy(e.ctx, core.PolicyOverride{IdleMinutes: ptr(120), AbsoluteMinutes: ptr(60)}, t0)
	})
	if core.ErrorCode(err) != core.CodeConflict {
		t.Errorf("AccountSetPolicy(idle > absolute): err = %v, want a conflict", err)
	}
	if p := e.policyOf(a.account); !reflect.DeepEqual(p, full) {
		t.Errorf("policy after a refused change = %+v, want %+v", p, full)
	}

	// The whole override is replaced: the zero override clears every field.
	e.tx(a.account, func(tx core.TenantTx) error { return tx.AccountSetPolicy(e.ctx, core.PolicyOverride{}, t0) })
	if p := e.policyOf(a.account); !none(p) {
		t.Errorf("policy after AccountSetPolicy(zero) = %+v, want no override", p)
	}

	unknown := uuid.New()
	wantErr(t, "AccountSetPolicy(unknown account)", e.s.InTenantTx(e.ctx, unknown, func(tx core.TenantTx) error {
		return tx.AccountSetPolicy(e.ctx, full, t0)
	}), core.ErrNotFound)
	wantErr(t, "AccountPolicy(unknown account)", e.s.InTenantTx(e.ctx, unknown, func(tx core.TenantTx) error {
		_, err := tx.AccountPolicy(e.ctx)
		return err
	}), core.ErrNotFound)
}

// memberOrder is the member list's documented order for sort: the key,
// then the id, both descending for a "-" sort.
func memberOrder(sort core.MemberSort) func(a, b core.User) int {
	return func(a, b core.User) int {
		c := a.CreatedAt.Compare(b.CreatedAt)
		if sort.ByName() {
			c = cmp.Compare(a.Name, b.Name)
		}
		if c == 0 {
			c = compareIDs(a.ID, b.ID)
		}
		if sort.Desc() {
			return -c
		}
		return c
	}
}

// memberPages walks the member list page by page (limit users each, each
// page after the last user of the previous one) and returns the pages.
func (e *env) memberPages(account uuid.UUID, q core.MemberQuery) [][]core.User {
	e.t.Helper()
	var pages [][]core.User
	for len(pages) <= 20 {
		page := e.memberPage(account, q)
		pages = append(pages, page)
		if len(page) < q.Limit {
			return pages
		}
		last := page[len(page)-1]
		q.After = &core.MemberPosition{CreatedAt: last.CreatedAt, Name: last.Name, ID: last.ID}
	}
	e.t.Fatalf("UserListPage: more than 20 pages")
	return nil
}

// memberPage reads one page of the member list.
func (e *env) memberPage(account uuid.UUID, q core.MemberQuery) (page []core.User) {
	e.t.Helper()
	e.tx(account, func(tx core.TenantTx) (err error) { page, err = tx.UserListPage(e.ctx, q); return err })
	return page
}

// checkPages checks a walk of pages of limit against want, in order: every
// page but the last full, none over the limit, no user twice or missing.
func checkPages(t *testing.T, what string, pages [][]core.User, limit int, want []core.User) {
	t.Helper()
	var got []core.User
	for i, p := range pages {
		if len(p) > limit || (i < len(pages)-1 && len(p) != limit) {
			t.Errorf("%s: page %d has %d users, limit %d", what, i+1, len(p), limit)
		}
		got = append(got, p...)
	}
	if !slices.Equal(userIDs(got), userIDs(want)) {
		t.Errorf("%s: pages list\n%v\nwant\n%v", what, userIDs(got), userIDs(want))
	}
}

// testMemberPaging: UserListPage in each of the four orders (the key,
// then id; ties on the key broken by id), walked in pages: each at most
// the limit, together every user of the tenant once, in order, and no
// other tenant's user (ADM-03).
func testMemberPaging(t *testing.T, e *env) {
	a, b := e.newTenant(), e.newTenant()
	// Names are one capital then lower case, so any collation orders them
	// as the bytes do; two ties on the name and two on the creation time.
	users := []core.User{a.owner}
	for i, n := range []string{"Ada", "Ada", "Bea", "Cy", "Zed", "Bea"} {
		users = append(users, e.newUserAs(a, n, t0.Add(time.Duration(1+i/2)*time.Minute)))
	}
	e.newUserAs(b, "Ada", t0.Add(time.Minute))
	for _, sort := range core.MemberSorts {
		want := slices.Clone(users)
		slices.SortFunc(want, memberOrder(sort))
		for _, limit := range []int{2, 3, len(users), len(users) + 1} {
			pages := e.memberPages(a.account, core.MemberQuery{Sort: sort, Limit: limit})
			checkPages(t, fmt.Sprintf("%s, limit %d", sort, limit), pages, limit, want)
		}
		// Fields come back as created.
		first := e.memberPage(a.account, core.MemberQuery{Sort: sort, Limit: 1})
		if len(first) != 1 || first[0].Email != want[0].Email || first[0].Role != want[0].Role ||
			!first[0].CreatedAt.Equal(want[0].CreatedAt) || first[0].AccountID != a.account || !first[0].Active {
			t.Errorf("%s: first user %+v, want %+v", sort, first, want[0])
		}
	}
}

// testMemberFilters: the filters of UserListPage (role, active flag,
// email prefix, compared lower-case) select exactly the matching users,
// also when paged (ADM-03: filters combine).
func testMemberFilters(t *testing.T, e *env) {
	a := e.newTenant()
	tag := "f" + uuid.NewString()[:8]
	var tagged []core.User
	for i := range 3 {
		u := core.User{ID: uuid.New(), AccountID: a.account, Email: tag + "-" + string(rune('a'+i)) + "@example.com",
			Name: "Tagged", Role: core.RoleMember, Active: true, CreatedAt: t0.Add(time.Duration(i) * time.Minute)}
		e.tx(a.account, func(tx core.TenantTx) error { return tx.UserCreate(e.ctx, u, "$argon2id$stub") })
		tagged = append(tagged, u)
	}
	other := e.newUser(a)
	e.tx(a.account, func(tx core.TenantTx) error {
		return tx.UserUpdate(e.ctx, core.User{ID: tagged[1].ID, Role: core.RoleMember, Active: false, Name: "Tagged"}, t0)
	})
	sorted := func(us ...core.User) []core.User {
		us = slices.Clone(us)
		slices.SortFunc(us, memberOrder(core.MemberSortCreated))
		return us
	}
	for name, c := range map[string]struct {
		f    core.MemberFilter
		want []core.User
	}{
		"owners":            {core.MemberFilter{Role: ptr(core.RoleOwner)}, []core.User{a.owner}},
		"members":           {core.MemberFilter{Role: ptr(core.RoleMember)}, sorted(tagged[0], tagged[1], tagged[2], other)},
		"inactive":          {core.MemberFilter{Active: ptr(false)}, []core.User{tagged[1]}},
		"email prefix":      {core.MemberFilter{EmailPrefix: tag + "-"}, tagged},
		"prefix and active": {core.MemberFilter{EmailPrefix: tag, Active: ptr(true)}, []core.User{tagged[0], tagged[2]}},
		"prefix, no match":  {core.MemberFilter{EmailPrefix: tag + "-z"}, nil},
	} {
		pages := e.memberPages(a.account, core.MemberQuery{MemberFilter: c.f, Sort: core.MemberSortCreated, Limit: 1})
		checkPages(t, name, pages, 1, c.want)
	}
}

// testSessionLimit: the per-user session limit's reads and writes
// (docs/session-rules.md §2): SessionCountLive counts only live sessions
// (not a revoked or expired one); SessionEvictBeyond revokes the live
// sessions beyond the keep most recently used, returns their ids and
// leaves revoked, expired and other users' sessions alone.
func testSessionLimit(t *testing.T, e *env) {
	tn := e.newTenant()
	u, other := tn.owner.ID, e.newUser(tn).ID
	var byUse []core.NewSession // oldest use first
	for i := range 4 {
		byUse = append(byUse, e.newSessionAt(tn.account, u, t0.Add(time.Duration(i)*time.Minute), defaultSpec))
	}
	revoked := e.newSessionAt(tn.account, u, t0.Add(4*time.Minute), defaultSpec) // the most recent, but revoked
	expired := e.newSessionAt(tn.account, u, t0, sessionSpec{idle: time.Minute, abs: time.Hour})
	os := e.newSession(tn.account, other, defaultSpec)
	now := t0.Add(5 * time.Minute)
	e.tx(tn.account, func(tx core.TenantTx) error {
		_, err := tx.SessionRevoke(e.ctx, revoked.ID, now, core.ReasonLogout)
		return err
	})
	count := func() (n int) {
		e.tx(tn.account, func(tx core.TenantTx) (err error) { n, err = tx.SessionCountLive(e.ctx, u, now); return err })
		return n
	}
	evict := func(keep int) (ids []uuid.UUID) {
		e.tx(tn.account, func(tx core.TenantTx) (err error) {
			ids, err = tx.SessionEvictBeyond(e.ctx, u, keep, now, core.ReasonEvicted)
			return err
		})
		slices.SortFunc(ids, compareIDs)
		return ids
	}
	if n := count(); n != 4 {
		t.Errorf("SessionCountLive = %d, want 4 (not the revoked or the expired one)", n)
	}
	if got := sessionIDs(e.listLive(tn.account, u, now)); !slices.Equal(got, []uuid.UUID{byUse[3].ID, byUse[2].ID, byUse[1].ID, byUse[0].ID}) {
		t.Errorf("SessionListLive = %v, want the four live ones, most recently used first", got)
	}
	want := []uuid.UUID{byUse[0].ID, byUse[1].ID}
	slices.SortFunc(want, compareIDs)
	if got := evict(2); !slices.Equal(got, want) {
		t.Errorf("SessionEvictBeyond(keep 2) = %v, want the two least recently used %v", got, want)
	}
	if n := count(); n != 2 {
		t.Errorf("SessionCountLive after eviction = %d, want 2", n)
	}
	for _, s := range byUse[:2] {
		if fs := e.lock(tn.account, s.ID); fs.RevokedAt == nil || !fs.RevokedAt.Equal(now) {
			t.Errorf("evicted session revoked_at = %v, want %v", fs.RevokedAt, now)
		}
	}
	if fs := e.lock(tn.account, expired.ID); fs.RevokedAt != nil {
		t.Errorf("expired session revoked at %v by the eviction, want left as it was", fs.RevokedAt)
	}
	if got := evict(2); len(got) != 0 {
		t.Errorf("SessionEvictBeyond(keep 2) again = %v, want none", got)
	}
	if ok, _ := e.s.SessionIsLive(e.ctx, tn.account, os.ID, now); !ok {
		t.Errorf("another user's session evicted")
	}
	want = []uuid.UUID{byUse[2].ID, byUse[3].ID}
	slices.SortFunc(want, compareIDs)
	if got := evict(0); !slices.Equal(got, want) || count() != 0 {
		t.Errorf("SessionEvictBeyond(keep 0) = %v, want %v, and none left", got, want)
	}
}

// listLive is the tenant transaction's SessionListLive.
func (e *env) listLive(account, user uuid.UUID, now time.Time) (list []core.SessionInfo) {
	e.t.Helper()
	e.tx(account, func(tx core.TenantTx) (err error) { list, err = tx.SessionListLive(e.ctx, user, now); return err })
	return list
}

// testSessionListAccount: the account-wide session list, paged: live
// sessions only, most recent activity first (last_used_at, then id, both
// descending), every page at most the limit, no session twice or missing,
// UserID and UserEmail filled, optionally one user's; another tenant's
// never (docs/session-rules.md §5).
func testSessionListAccount(t *testing.T, e *env) {
	tn, b := e.newTenant(), e.newTenant()
	m := e.newUser(tn)
	type row struct {
		id, user uuid.UUID
		used     time.Time
	}
	var all []row
	for i, u := range []uuid.UUID{tn.owner.ID, m.ID, tn.owner.ID, m.ID, m.ID} {
		at := t0.Add(time.Duration(i/2) * time.Minute) // pairs share a last use: id breaks the tie
		all = append(all, row{e.newSessionAt(tn.account, u, at, defaultSpec).ID, u, at})
	}
	e.newSessionAt(tn.account, m.ID, t0, sessionSpec{idle: time.Minute, abs: time.Hour}) // expired at now
	e.newSession(b.account, b.owner.ID, defaultSpec)
	now := t0.Add(5 * time.Minute)
	slices.SortFunc(all, func(x, y row) int {
		if c := y.used.Compare(x.used); c != 0 {
			return c
		}
		return compareIDs(y.id, x.id)
	})
	email := map[uuid.UUID]string{tn.owner.ID: tn.owner.Email, m.ID: m.Email}
	for _, user := range []*uuid.UUID{nil, &m.ID} {
		var want, got []uuid.UUID
		for _, r := range all {
			if user == nil || r.user == *user {
				want = append(want, r.id)
			}
		}
		q := core.AccountSessionQuery{UserID: user, Now: now, Limit: 2}
		for range 10 {
			var page []core.SessionInfo
			e.tx(tn.account, func(tx core.TenantTx) (err error) { page, err = tx.SessionListAccount(e.ctx, q); return err })
			for _, s := range page {
				if s.UserEmail != email[s.UserID] {
					t.Errorf("session %s: user %s <%s>, want a user of the tenant with their email", s.ID, s.UserID, s.UserEmail)
				}
			}
			got = append(got, sessionIDs(page)...)
			if len(page) > q.Limit {
				t.Errorf("SessionListAccount returned %d sessions, limit %d", len(page), q.Limit)
			}
			if len(page) < q.Limit {
				break
			}
			q.After = &core.SessionPosition{LastUsedAt: page[len(page)-1].LastUsedAt, ID: page[len(page)-1].ID}
		}
		if !slices.Equal(got, want) {
			t.Errorf("SessionListAccount(user %v) pages = %v, want %v", user, got, want)
		}
	}
}
