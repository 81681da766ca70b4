package postgres_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sessiond/sessiond/adapters/postgres"
	"github.com/sessiond/sessiond/adapters/postgres/pgtest"
	"github.com/sessiond/sessiond/core"
)

// Tenant isolation, in the database: row-level security (RLS-01 … RLS-07,
// SECURITY.md) and the SECURITY DEFINER functions that are the only way
// around it (the pre-tenant lookups, the purge). Tenant transactions are
// scoped as the store scopes them, with SET LOCAL (postgres.SetLocalTenant).

var now = time.Date(2031, 3, 1, 9, 0, 0, 0, time.UTC)

// seeded is a tenant made by seedTenant: its account, user and session.
type seeded struct{ account, user, session uuid.UUID }

// seedTenant creates an account with one user and one session through the
// real store (as the runtime role) and returns their ids.
func seedTenant(t *testing.T, store *postgres.Store) seeded {
	t.Helper()
	ctx := context.Background()
	tn := seeded{account: uuid.New(), user: uuid.New(), session: uuid.New()}
	err := store.InTenantTx(ctx, tn.account, func(tx core.TenantTx) error {
		if err := tx.AccountCreate(ctx, core.Account{ID: tn.account, Name: "acct", CreatedAt: now}); err != nil {
			return err
		}
		if err := tx.UserCreate(ctx, core.User{ID: tn.user, Email: "u-" + tn.user.String() + "@example.com", Name: "U", Role: core.RoleOwner, Active: true, CreatedAt: now}, "$argon2id$x"); err != nil {
			return err
		}
		return tx.SessionCreate(ctx, core.NewSession{
			ID: tn.session, UserID: tn.user, Client: core.Client{IP: netip.MustParseAddr("192.0.2.1")},
			AuthTime: now, Snapshot: core.Snapshot{IdleSeconds: 60, AbsoluteSeconds: 120}, Now: now,
			IdleExpiresAt: now.Add(time.Minute), AbsoluteExpiresAt: now.Add(2 * time.Minute),
			JTIHash: core.HashJTI(core.NewJTI()), TokenExpiresAt: now.Add(time.Minute),
		})
	})
	if err != nil {
		t.Fatalf("seed tenant: %v", err)
	}
	return tn
}

// selectSessionsAs runs a plain `SELECT * FROM sessions` (no WHERE) in a
// transaction scoped to accountID (uuid.Nil: no tenant set) on conn.
// selectSessionAccounts runs a plain `SELECT * FROM sessions` (no WHERE) in
// a transaction scoped to accountID the way the store scopes it (SET LOCAL,
// postgres.SetLocalTenant; uuid.Nil: no tenant set) on conn, and returns the
// account of each row it sees.
func selectSessionAccounts(t *testing.T, conn *pgx.Conn, accountID uuid.UUID) []uuid.UUID {
	t.Helper()
	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if accountID != uuid.Nil {
		if _, err := tx.Exec(ctx, postgres.SetLocalTenant(accountID)); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := tx.Query(ctx, "SELECT * FROM sessions")
	if err != nil {
		t.Fatalf("select: %v", err)
	}
	defer rows.Close()
	var out []uuid.UUID
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, uuid.UUID(vals[0].([16]byte)))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func appConn(t *testing.T, db *pgtest.DB) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), db.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestRLS_PlainSelect_SeesOnlyTheScopedTenant_AndNothingWithoutOne(t *testing.T) {
	db := pgtest.Fresh(t) // a database of its own: the test counts every row
	store := postgres.NewStore(db.AppPool(t, 4))
	a, b := seedTenant(t, store), seedTenant(t, store)
	conn := appConn(t, db)

	got := selectSessionAccounts(t, conn, a.account)
	if len(got) != 1 || got[0] != a.account {
		t.Fatalf("scoped to A, SELECT * FROM sessions returned accounts %v; want only %v", got, a.account)
	}
	got = selectSessionAccounts(t, conn, b.account)
	if len(got) != 1 || got[0] != b.account {
		t.Fatalf("scoped to B: %v", got)
	}
	// RLS-02: no tenant at all, and on a connection whose earlier LOCAL
	// setting committed (the setting then reads '' rather than NULL).
	if got := selectSessionAccounts(t, conn, uuid.Nil); len(got) != 0 {
		t.Fatalf("no tenant set: %d rows, want 0", len(got))
	}
	fresh := appConn(t, db)
	if got := selectSessionAccounts(t, fresh, uuid.Nil); len(got) != 0 {
		t.Fatalf("fresh connection, no tenant: %d rows, want 0", len(got))
	}
}

func TestRLS03_PooledConnection_DoesNotCarryTenantScope(t *testing.T) {
	db := pgtest.Shared(t)
	pool := db.AppPool(t, 1) // one connection: B must reuse A's
	store := postgres.NewStore(pool)
	a := seedTenant(t, store)
	ctx := context.Background()

	err := store.InTenantTx(ctx, a.account, func(tx core.TenantTx) error {
		_, err := tx.SessionOwner(ctx, a.session)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var setting string
	if err := pool.QueryRow(ctx, "SELECT count(*), coalesce(current_setting('app.account_id', true), '') FROM sessions").Scan(&n, &setting); err != nil {
		t.Fatal(err)
	}
	if n != 0 || setting != "" {
		t.Fatalf("after A's transaction the pooled connection sees %d rows with setting %q", n, setting)
	}
}

func TestRLS03_Lint_NoSessionLevelTenantSetting(t *testing.T) {
	out, err := exec.Command("git", "-C", "../..", "ls-files", "*.go", "*.sql").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	bad := regexp.MustCompile(`set_config\([^)]*,\s*false\)|(?i)\bSET\s+(SESSION\s+)?app\.`)
	for _, f := range strings.Fields(string(out)) {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile("../../" + f)
		if err != nil {
			t.Fatal(err)
		}
		if loc := bad.FindIndex(b); loc != nil {
			t.Errorf("%s: session-level tenant setting %q", f, b[loc[0]:loc[1]])
		}
	}
}

func TestRLS04_CrossTenantWrites_AffectNothing_AndInsertsAreRefused(t *testing.T) {
	db := pgtest.Shared(t)
	store := postgres.NewStore(db.AppPool(t, 4))
	a, b := seedTenant(t, store), seedTenant(t, store)
	conn := appConn(t, db)
	ctx := context.Background()

	scoped := func(fn func(pgx.Tx) error) error {
		return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, postgres.SetLocalTenant(a.account)); err != nil {
				return err
			}
			return fn(tx)
		})
	}
	for _, q := range []string{
		"UPDATE sessions SET revoked_at = now() WHERE id = $1",
		"DELETE FROM sessions WHERE id = $1",
	} {
		err := scoped(func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, q, b.session)
			if err == nil && tag.RowsAffected() != 0 {
				t.Errorf("%q on B's row affected %d rows", q, tag.RowsAffected())
			}
			return err
		})
		if err != nil {
			t.Errorf("%q: %v", q, err)
		}
	}
	for _, q := range []string{
		"UPDATE users SET name = 'x' WHERE id = $1",
		"DELETE FROM users WHERE id = $1",
	} {
		_ = scoped(func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, q, b.user)
			if err != nil || tag.RowsAffected() != 0 {
				t.Errorf("%q on B's user: %v, %d rows", q, err, tag.RowsAffected())
			}
			return nil
		})
	}
	// Writing a row into B while scoped to A violates the policy's WITH CHECK.
	err := scoped(func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO audit_events (account_id, id, action, resource_type, created_at) VALUES ($1, $2, 'x', 'y', now())`, b.account, uuid.New())
		return err
	})
	var pg *pgconn.PgError
	if !errors.As(err, &pg) || pg.Code != "42501" || !strings.Contains(pg.Message, "row-level security") {
		t.Fatalf("insert into B scoped to A: %v, want a row-level security violation", err)
	}
	err = scoped(func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "UPDATE sessions SET account_id = $1 WHERE id = $2", b.account, a.session)
		return err
	})
	switch {
	case db.Citus && errors.As(err, &pg) && pg.Code == "0A000" && strings.Contains(pg.Message, "partition value"):
		// Citus variant: account_id is the distribution column, which
		// Citus refuses to change at all, before row-level security
		// would refuse the new value.
	case !errors.As(err, &pg) || pg.Code != "42501":
		t.Fatalf("moving A's row to B: %v, want a row-level security violation", err)
	}
}

func TestAUD01_RuntimeRole_CannotRewriteAuditTrail(t *testing.T) {
	db := pgtest.Shared(t)
	ctx := context.Background()
	conn := appConn(t, db)
	for _, q := range []string{"UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events"} {
		_, err := conn.Exec(ctx, q)
		var pg *pgconn.PgError
		if !errors.As(err, &pg) || pg.Code != "42501" {
			t.Errorf("%q as the runtime role: %v, want permission denied", q, err)
		}
	}
}

func TestRLS01_RuntimeRole_IsNotPrivileged_AndEveryTenantTableForcesRLS(t *testing.T) {
	db := pgtest.Shared(t)
	admin := db.Admin(t)
	ctx := context.Background()

	var super, bypass bool
	if err := admin.QueryRow(ctx, "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'sessiond_app'").Scan(&super, &bypass); err != nil {
		t.Fatal(err)
	}
	if super || bypass {
		t.Fatalf("sessiond_app: superuser=%v bypassrls=%v", super, bypass)
	}
	var owned int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
		WHERE r.rolname IN ('sessiond_app', 'sessiond_definer') AND c.relkind IN ('r', 'v', 'm', 'p')`).Scan(&owned); err != nil {
		t.Fatal(err)
	}
	if owned != 0 {
		t.Fatalf("runtime roles own %d relations", owned)
	}

	// Every table with an account_id column (and accounts itself) has RLS
	// enabled and forced, and (RLS-07) a policy for ALL commands with both
	// USING and WITH CHECK.
	rows, err := admin.Query(ctx, `
		SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
		       EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polcmd = '*'
		               AND p.polqual IS NOT NULL AND p.polwithcheck IS NOT NULL)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') -- partitioned tables and each partition
		  AND (c.relname = 'accounts' OR EXISTS (SELECT 1 FROM pg_attribute a
		       WHERE a.attrelid = c.oid AND a.attname = 'account_id' AND NOT a.attisdropped))`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var name string
		var enabled, forced, allPolicy bool
		if err := rows.Scan(&name, &enabled, &forced, &allPolicy); err != nil {
			t.Fatal(err)
		}
		seen++
		if !enabled || !forced || !allPolicy {
			t.Errorf("%s: rls=%v force=%v all-command policy with USING+CHECK=%v", name, enabled, forced, allPolicy)
		}
	}
	if seen < 5 {
		t.Fatalf("only %d tenant tables found", seen)
	}
}

func TestRLS06_DefinerFunctions_OwnedByNonBypassRole_WithSearchPath(t *testing.T) {
	db := pgtest.Shared(t)
	admin := db.Admin(t)
	rows, err := admin.Query(context.Background(), `
		SELECT p.proname, r.rolname, r.rolsuper OR r.rolbypassrls, coalesce(array_to_string(p.proconfig, ','), ''), p.proleakproof
		FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_roles r ON r.oid = p.proowner
		WHERE n.nspname = 'public' AND p.prosecdef`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var name, owner, config string
		var privileged, leakproof bool
		if err := rows.Scan(&name, &owner, &privileged, &config, &leakproof); err != nil {
			t.Fatal(err)
		}
		n++
		if privileged || !strings.Contains(config, "search_path=") || leakproof {
			t.Errorf("%s: owner %s privileged=%v config=%q leakproof=%v", name, owner, privileged, config, leakproof)
		}
	}
	if n == 0 {
		t.Fatal("no SECURITY DEFINER functions found")
	}
	// Our views, not an extension's: Citus puts citus_tables and
	// citus_schemas into public (catalog views of the extension; they
	// read no table of ours: TestRLS06_CitusViews_ReadNoTableOfOurs).
	var views []string
	if err := admin.QueryRow(context.Background(), `SELECT coalesce(array_agg(c.relname::text), '{}') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind = 'v' AND NOT coalesce('security_invoker=true' = ANY (c.reloptions), false)
		  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`).Scan(&views); err != nil {
		t.Fatal(err)
	}
	if len(views) != 0 {
		t.Errorf("views without security_invoker: %v", views)
	}
}

func TestPreTenantLookups_ReturnOnlyWhatIsNeeded(t *testing.T) {
	db := pgtest.Shared(t)
	store := postgres.NewStore(db.AppPool(t, 4))
	a := seedTenant(t, store)
	ctx := context.Background()

	lu, err := store.UserForLogin(ctx, "u-"+a.user.String()+"@example.com")
	if err != nil || lu.UserID != a.user || lu.AccountID != a.account {
		t.Fatalf("UserForLogin: %+v %v", lu, err)
	}
	if _, err := store.UserForLogin(ctx, "nobody@example.com"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("unknown email: %v", err)
	}
	if _, err := store.SessionAccount(ctx, uuid.New()); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("unknown session: %v", err)
	}
	if id, err := store.SessionAccount(ctx, a.session); err != nil || id != a.account {
		t.Fatalf("SessionAccount = %v, %v; want %v", id, err, a.account)
	}
	live, err := store.SessionIsLive(ctx, a.account, a.session, now)
	if err != nil || !live {
		t.Fatalf("live session: %v %v", live, err)
	}
	live, _ = store.SessionIsLive(ctx, a.account, a.session, now.Add(time.Hour))
	if live {
		t.Fatal("session past its idle deadline reported live")
	}
	live, _ = store.SessionIsLive(ctx, uuid.New(), a.session, now)
	if live {
		t.Fatal("session reported live under another tenant")
	}
	// The runtime role cannot read the users table outside a tenant: the
	// lookup function is the only way.
	conn := appConn(t, db)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil || n != 0 {
		t.Fatalf("users visible without tenant: %d %v", n, err)
	}
}

// RLS-06 for the definer functions of migrations/00002: each is owned by
// its narrow role (the janitor can neither log in nor bypass RLS; on Citus
// it logs in, see TestRLS06_CIT04_OnlyTheRuntimeRoleAndDefinerOwnersLogIn),
// pins search_path and is not executable by PUBLIC.
func TestRLS06_Migration00002_DefinerFunctionsAreNarrow(t *testing.T) {
	db := pgtest.Shared(t)
	admin := db.Admin(t)
	ctx := context.Background()
	for fn, owner := range map[string]string{
		"auth_password_reset_account": "sessiond_definer",
		"maintenance_purge_expired":   "sessiond_janitor",
	} {
		var gotOwner string
		var super, bypass, login bool
		var config []string
		if err := admin.QueryRow(ctx, `SELECT r.rolname, r.rolsuper, r.rolbypassrls, r.rolcanlogin, coalesce(p.proconfig, '{}')
			FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner WHERE p.proname = $1 AND p.prosecdef`, fn).
			Scan(&gotOwner, &super, &bypass, &login, &config); err != nil {
			t.Fatalf("%s: %v", fn, err)
		}
		if gotOwner != owner || super || bypass || login != db.Citus {
			t.Errorf("%s owned by %s (super=%v bypassrls=%v login=%v), want %s without privileges (login on Citus only: %v)", fn, gotOwner, super, bypass, login, owner, db.Citus)
		}
		if len(config) == 0 || config[0] != "search_path=pg_catalog, pg_temp" {
			t.Errorf("%s config %v: search_path not pinned", fn, config)
		}
		var public bool
		if err := admin.QueryRow(ctx, `SELECT has_function_privilege('public', p.oid, 'EXECUTE') FROM pg_proc p WHERE p.proname = $1`, fn).Scan(&public); err != nil {
			t.Fatal(err)
		}
		if public {
			t.Errorf("%s is executable by PUBLIC", fn)
		}
	}
	var rls, force bool
	if err := admin.QueryRow(ctx, `SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = 'password_reset_tokens'`).Scan(&rls, &force); err != nil {
		t.Fatal(err)
	}
	if !rls || !force {
		t.Errorf("password_reset_tokens: RLS enabled=%v forced=%v", rls, force)
	}
}

// RLS-06 on Citus (docs/security-checklist.md, CIT-04): the roles of the
// service that can log in are the runtime role and, only where the
// database is distributed, the owners of the SECURITY DEFINER functions
// (Citus connects to the workers as a definer function's owner;
// migrations/citus/distribute.sql grants it). Why that is safe: they stay
// without superuser, BYPASSRLS, CREATEDB, CREATEROLE or role membership,
// own no table, and hold only the narrow grants of their functions, so
// logging in as one gives no more than calling its functions. The one
// exception is sessiond_archivist, which owns audit_events and its weekly
// partitions and nothing else (only a table's owner may create and drop
// its partitions, migrations/00013): logged in on a worker it could alter
// the audit shards, so it is held to the same pg_hba.conf rule; pg_hba.conf
// admits them only on the workers, only from the coordinator (README
// "Scaling out on Citus", worker authentication).
func TestRLS06_CIT04_OnlyTheRuntimeRoleAndDefinerOwnersLogIn(t *testing.T) {
	db := pgtest.Shared(t)
	admin := db.Admin(t)
	ctx := context.Background()
	owners, err := definerOwners(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := admin.Query(ctx, `
		SELECT r.rolname, r.rolcanlogin, r.rolsuper OR r.rolbypassrls OR r.rolcreatedb OR r.rolcreaterole OR r.rolreplication,
		       EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.member = r.oid),
		       (SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid AND c.relkind IN ('r', 'p', 'v', 'm')
		          AND NOT (r.rolname = 'sessiond_archivist'
		                   AND (c.oid = 'audit_events'::regclass
		                        OR EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid AND i.inhparent = 'audit_events'::regclass))))
		FROM pg_roles r WHERE r.rolname LIKE 'sessiond\_%'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var role string
		var login, privileged, member bool
		var owned int
		if err := rows.Scan(&role, &login, &privileged, &member, &owned); err != nil {
			t.Fatal(err)
		}
		seen++
		_, owner := owners[role]
		if want := role == "sessiond_app" || (db.Citus && owner); login != want {
			t.Errorf("%s: login=%v, want %v (definer owner=%v, distributed=%v)", role, login, want, owner, db.Citus)
		}
		if privileged || member || owned != 0 {
			t.Errorf("%s: privileged=%v member of a role=%v owns %d relations", role, privileged, member, owned)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if seen < 4 || len(owners) < 3 {
		t.Fatalf("%d sessiond roles, definer owners %v: is the catalog query wrong?", seen, owners)
	}
}

// Citus's own views in public (citus_tables, citus_schemas) are the
// extension's, not ours, so RLS-06's check of our views leaves them out;
// what RLS-06 guards against, a view that shows tenant rows past row-level
// security, cannot come from them: they read no table of ours, only
// catalogs (names, distribution columns, shard counts, sizes).
func TestRLS06_CitusViews_ReadNoTableOfOurs(t *testing.T) {
	db := pgtest.Shared(t)
	if !db.Citus {
		t.Skip("Citus only: on plain PostgreSQL no extension has views in public")
	}
	rows, err := db.Admin(t).Query(context.Background(), `
		SELECT v.relname, coalesce(array_agg(DISTINCT d.refobjid::regclass::text)
		         FILTER (WHERE d.refobjid <> v.oid AND rn.nspname = 'public'), '{}')
		FROM pg_class v
		JOIN pg_namespace n ON n.oid = v.relnamespace
		JOIN pg_rewrite r ON r.ev_class = v.oid
		LEFT JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid AND d.refclassid = 'pg_class'::regclass
		LEFT JOIN pg_class rc ON rc.oid = d.refobjid
		LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
		WHERE n.nspname = 'public' AND v.relkind = 'v'
		  AND EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_class'::regclass AND e.objid = v.oid AND e.deptype = 'e')
		GROUP BY v.relname`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var seen []string
	for rows.Next() {
		var view string
		var reads []string
		if err := rows.Scan(&view, &reads); err != nil {
			t.Fatal(err)
		}
		seen = append(seen, view)
		if len(reads) != 0 {
			t.Errorf("extension view %s reads tables of public: %v", view, reads)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(seen, "citus_tables") {
		t.Fatalf("extension views in public: %v; want citus_tables among them (is the query wrong?)", seen)
	}
}

// globalUniqueKeys are the unique keys of tenant tables that deliberately
// do not include account_id, each with the product decision behind it.
var globalUniqueKeys = map[string]string{
	// Sign-in takes only an email, so an email is unique across the
	// service (SECURITY.md: RLS-05 does not apply to the email). Since
	// migrations/00007 the key is user_emails (email), its own table
	// distributed by email on Citus; users.email is no longer unique by
	// itself (users_email_key is gone).
	"user_emails_pkey": "email is globally unique (sign-in by email alone)",
}

// RLS-05, from the catalog: every primary key
// and unique index of a table that has account_id includes account_id, but
// the documented global keys. A unique key without the tenant would let one
// tenant learn that a value exists in another (a duplicate-key oracle).
func TestRLS05_EveryUniqueKeyOfATenantTable_IncludesAccountID(t *testing.T) {
	db := pgtest.Shared(t)
	rows, err := db.Admin(t).Query(context.Background(), `
		SELECT c.relname, i.relname,
		       EXISTS (SELECT 1 FROM unnest(x.indkey) k
		               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k
		               WHERE a.attname = 'account_id')
		FROM pg_index x
		JOIN pg_class c ON c.oid = x.indrelid
		JOIN pg_class i ON i.oid = x.indexrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND x.indisunique
		  AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'account_id' AND NOT a.attisdropped)`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var table, index string
		var hasTenant bool
		if err := rows.Scan(&table, &index, &hasTenant); err != nil {
			t.Fatal(err)
		}
		seen++
		if !hasTenant {
			if why, ok := globalUniqueKeys[index]; ok {
				t.Logf("%s.%s is global by decision: %s", table, index, why)
				continue
			}
			t.Errorf("unique key %s on tenant table %s does not include account_id (a cross-tenant existence oracle)", index, table)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if seen < 4 {
		t.Fatalf("only %d unique keys found on tenant tables: is the catalog query wrong?", seen)
	}
}

// RLS-05 from the outside: scoped to tenant A, a session whose jti hash
// equals one of tenant B's is stored like any other (no duplicate-key
// error tells A that the hash exists in B).
func TestRLS05_TenantACanStoreTenantBsJTIHash(t *testing.T) {
	db := pgtest.Shared(t)
	store := newStore(t, db, 4)
	a, b := seedTenant(t, store), seedTenant(t, store)
	ctx := context.Background()
	var bHash []byte
	if err := db.Admin(t).QueryRow(ctx, "SELECT current_jti_hash FROM sessions WHERE id = $1", b.session).Scan(&bHash); err != nil {
		t.Fatal(err)
	}
	err := store.InTenantTx(ctx, a.account, func(tx core.TenantTx) error {
		return tx.SessionCreate(ctx, core.NewSession{
			ID: uuid.New(), UserID: a.user, AuthTime: now, Snapshot: core.Snapshot{IdleSeconds: 60, AbsoluteSeconds: 120}, Now: now,
			IdleExpiresAt: now.Add(time.Minute), AbsoluteExpiresAt: now.Add(2 * time.Minute),
			JTIHash: bHash, TokenExpiresAt: now.Add(time.Minute),
		})
	})
	if err != nil {
		t.Fatalf("tenant A storing a jti hash that tenant B has: %v", err)
	}
}
