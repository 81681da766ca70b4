package postgres_test

// Distributable by tenant (README "Scaling out on Citus"). These tests keep
// the schema and the queries inside the rules that let them run unchanged
// on Citus, distributed by tenant (migrations/citus/distribute.sql), and
// fail when a migration or a query breaks one, on plain PostgreSQL too
// (make test-citus runs the whole suite on Citus as well):
//
//  R1 every primary key, unique index and foreign key includes the
//     distribution column of its table: account_id for tenant tables (the
//     tables with account_id), id for accounts, email for user_emails, the
//     single-column primary key for any other table; a foreign key joins
//     co-located tables on their distribution columns;
//  R2 every SECURITY DEFINER function is PL/pgSQL (Citus cannot plan the
//     parameters of SQL-language ones);
//  R3 no product source sets the tenant with set_config (Citus does not
//     propagate it; SET LOCAL it does), and no Go query string holds more
//     than one statement (Citus replays a whole string on each worker);
//  R4 no data-modifying CTE feeds an INSERT … SELECT (Citus loads such rows
//     with COPY, which row-level security refuses);
//  R5 no row lock (FOR UPDATE, FOR NO KEY UPDATE, FOR SHARE, FOR KEY
//     SHARE) in a statement that does not pin a distribution column by
//     equality (a cross-tenant lock: refused across shards);
//  R6 every tenant table has row-level security enabled and forced, and
//     distribute.sql distributes every table as R1 says;
//  R7 no function that is not IMMUTABLE in the DO UPDATE of an INSERT …
//     ON CONFLICT (its SET or its WHERE): the new values of a distributed
//     row are computed on its worker, and Citus refuses such a function
//     there (timestamptz + interval, now(), …; compute the values in
//     PL/pgSQL variables first). PostgreSQL itself judges each expression:
//     it accepts one as a stored generated column only when immutable;
//  R8 distribute.sql gives LOGIN to every owner of a SECURITY DEFINER
//     function, and to no other role (Citus connects to the workers as the
//     function's owner);
//  R9 SET LOCAL only inside an explicit transaction block: every statement
//     list (batch) that carries the tenant setting starts with BEGIN
//     (Citus forwards SET LOCAL to the workers only inside a transaction
//     block, and PostgreSQL warns outside one), and no savepoints in
//     product sources (Citus drops, for its worker connections, a SET
//     LOCAL made inside a savepoint that was released).
//
// The checkers are functions; TestDistributionRules_* run them on the real
// schema and sources, TestDistributionRules_Bite_* on known-bad input, so
// a checker that silently stopped matching fails too.

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"net/url"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sessiond/sessiond/adapters/postgres"
	"github.com/sessiond/sessiond/adapters/postgres/pgtest"
)

const repoRoot = "../.."

// Tables whose distribution column is not account_id, by decision.
var explicitDistribution = map[string]string{
	"accounts":    "id",    // the tenant itself: distributed by its key
	"user_emails": "email", // the global email key (migrations/00007)
}

// localTables stay local tables of the coordinator.
var localTables = map[string]string{
	"goose_db_version": "the migration bookkeeping; migrations run on the coordinator",
}

// setConfigExempt: files allowed to call set_config, with the reason.
var setConfigExempt = map[string]string{
	// pgbench substitutes its variables as bind parameters in the
	// extended/pipeline protocol it needs, and SET takes no parameter:
	// the floor scripts compute the tenant in SQL. A benchmark floor on
	// plain PostgreSQL, not product code.
	"cmd/authbench/pgbench/": "pgbench floor scripts (cannot SET LOCAL a pgbench variable)",
}

// lockExceptions: named queries allowed to lock without pinning a
// distribution column, with the reason. None today.
var lockExceptions = map[string]string{}

// table is one table of the schema as the rules see it.
type table struct {
	name, distCol, group string // group: the co-location group
	tenant               bool
}

// distribution reads the schema's tables and decides each one's
// distribution column and co-location group (R1), or reports why it has
// none.
func distribution(ctx context.Context, conn *pgx.Conn) (map[string]table, []string, error) {
	rows, err := conn.Query(ctx, `
		SELECT c.relname,
		       EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'account_id' AND NOT a.attisdropped),
		       (SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
		        WHERE i.indrelid = c.oid AND i.indisprimary AND i.indnkeyatts = 1)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
		  AND NOT c.relispartition -- a partition is distributed with its parent
		  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	tables := map[string]table{}
	var bad []string
	for rows.Next() {
		var name string
		var tenant bool
		var pkCol *string
		if err := rows.Scan(&name, &tenant, &pkCol); err != nil {
			return nil, nil, err
		}
		if _, ok := localTables[name]; ok {
			continue
		}
		switch col, ok := explicitDistribution[name]; {
		case name == "accounts":
			tables[name] = table{name: name, distCol: col, group: "tenant"}
		case ok:
			tables[name] = table{name: name, distCol: col, group: name, tenant: tenant}
		case tenant:
			tables[name] = table{name: name, distCol: "account_id", group: "tenant", tenant: true}
		case pkCol != nil:
			// Not a tenant table (e.g. migration 00005's brute-force
			// table, keyed by a hash of the email): distributed by its
			// own key, on its own (distribute.sql's last block).
			tables[name] = table{name: name, distCol: *pkCol, group: name}
		default:
			bad = append(bad, fmt.Sprintf("R1: table %s has no account_id and no single-column primary key: no documented distribution", name))
		}
	}
	return tables, bad, rows.Err()
}

// catalogViolations checks R1, R2, R5 (function bodies) and R6 (RLS) on
// the live schema.
func catalogViolations(ctx context.Context, conn *pgx.Conn) ([]string, map[string]table, error) {
	tables, bad, err := distribution(ctx, conn)
	if err != nil {
		return nil, nil, err
	}
	// R1: unique indexes (primary keys and unique constraints included).
	rows, err := conn.Query(ctx, `
		SELECT c.relname, i.relname,
		       ARRAY(SELECT a.attname::text FROM unnest(x.indkey) k JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k)
		FROM pg_index x
		JOIN pg_class c ON c.oid = x.indrelid
		JOIN pg_class i ON i.oid = x.indexrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND x.indisunique`)
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		var tbl, idx string
		var cols []string
		if err := rows.Scan(&tbl, &idx, &cols); err != nil {
			return nil, nil, err
		}
		if t, ok := tables[tbl]; ok && !slices.Contains(cols, t.distCol) {
			bad = append(bad, fmt.Sprintf("R1: unique key %s on %s (%s) does not include the distribution column %s",
				idx, tbl, strings.Join(cols, ", "), t.distCol))
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	// R1: foreign keys.
	rows, err = conn.Query(ctx, `
		SELECT con.conname, c.relname, r.relname,
		       ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.o),
		       ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.o)
		FROM pg_constraint con
		JOIN pg_class c ON c.oid = con.conrelid
		JOIN pg_class r ON r.oid = con.confrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND con.contype = 'f'`)
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		var name, from, to string
		var cols, refCols []string
		if err := rows.Scan(&name, &from, &to, &cols, &refCols); err != nil {
			return nil, nil, err
		}
		f, okF := tables[from]
		r, okR := tables[to]
		if !okF || !okR {
			continue // a local table: not distributed
		}
		i := slices.Index(cols, f.distCol)
		switch {
		case f.group != r.group:
			bad = append(bad, fmt.Sprintf("R1: foreign key %s from %s to %s joins tables that are not co-located", name, from, to))
		case i < 0 || refCols[i] != r.distCol:
			bad = append(bad, fmt.Sprintf("R1: foreign key %s from %s (%s) to %s (%s) does not pair the distribution columns %s → %s",
				name, from, strings.Join(cols, ", "), to, strings.Join(refCols, ", "), f.distCol, r.distCol))
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	// R2 and R3–R5, R7 on the bodies of the functions as they are now (old
	// migrations are history; what runs is what the catalog holds). Not
	// the functions of an extension (Citus's own).
	rows, err = conn.Query(ctx, `
		SELECT p.oid::regprocedure::text, l.lanname, p.prosecdef, p.prosrc, coalesce(p.proargnames, '{}'),
		       ARRAY(SELECT format_type(x.t, NULL) FROM unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) WITH ORDINALITY x(t, n) ORDER BY x.n)
		FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname = 'public'
		  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')`)
	if err != nil {
		return nil, nil, err
	}
	type body struct {
		fn, src string
		vars    map[string]string
	}
	var bodies []body
	for rows.Next() {
		var fn, lang, src string
		var definer bool
		var argNames, argTypes []string
		if err := rows.Scan(&fn, &lang, &definer, &src, &argNames, &argTypes); err != nil {
			return nil, nil, err
		}
		if definer && lang != "plpgsql" {
			bad = append(bad, fmt.Sprintf("R2: SECURITY DEFINER function %s is written in %s, not PL/pgSQL", fn, lang))
		}
		if lang == "sql" || lang == "plpgsql" {
			for _, v := range sqlViolations(src, tables) {
				bad = append(bad, "function "+fn+": "+v)
			}
			vars := plpgsqlVariables(src)
			for i, name := range argNames {
				if name != "" && i < len(argTypes) {
					vars[name] = argTypes[i]
				}
			}
			bodies = append(bodies, body{fn, src, vars})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	for _, b := range bodies {
		v, err := conflictUpdateViolations(ctx, conn, b.src, b.vars)
		if err != nil {
			return nil, nil, fmt.Errorf("R7 on function %s: %w", b.fn, err)
		}
		for _, x := range v {
			bad = append(bad, "function "+b.fn+": "+x)
		}
	}
	// R6: row-level security on every tenant table.
	rows, err = conn.Query(ctx, `SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')`)
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		var name string
		var rls, force bool
		if err := rows.Scan(&name, &rls, &force); err != nil {
			return nil, nil, err
		}
		if t, ok := tables[name]; ok && (t.tenant || name == "accounts") && !(rls && force) {
			bad = append(bad, fmt.Sprintf("R6: tenant table %s: row-level security enabled=%v forced=%v", name, rls, force))
		}
	}
	sort.Strings(bad)
	return bad, tables, rows.Err()
}

var (
	lineComment = regexp.MustCompile(`--[^\n]*`)
	quoted      = regexp.MustCompile(`'(?:[^']|'')*'`)
	setConfig   = regexp.MustCompile(`(?i)\bset_config\s*\(`)
	rowLock     = regexp.MustCompile(`(?i)\bFOR\s+(?:NO\s+KEY\s+UPDATE|UPDATE|KEY\s+SHARE|SHARE)\b`)
	// A data-modifying CTE: WITH x AS [NOT] [MATERIALIZED] (INSERT|UPDATE|DELETE …
	modifyingCTE = regexp.MustCompile(`(?is)\bAS\s*(?:NOT\s+)?(?:MATERIALIZED\s*)?\(\s*(?:INSERT|UPDATE|DELETE)\b`)
	insertSelect = regexp.MustCompile(`(?is)\bINSERT\s+INTO\s+[\w."]+\s*(?:\([^()]*\))?\s*(?:OVERRIDING\s+\w+\s+VALUE\s*)?(?:SELECT|WITH|TABLE|\(\s*SELECT)\b`)
	tableRef     = regexp.MustCompile(`(?i)\b(?:FROM|JOIN|UPDATE|INTO|USING)\s+(?:ONLY\s+)?(?:public\.)?(\w+)`)
)

// stripSQL removes comments and the contents of quoted literals, so that
// neither can match a rule (nor hide a statement separator).
func stripSQL(s string) string {
	return quoted.ReplaceAllString(lineComment.ReplaceAllString(s, ""), "''")
}

// statements splits SQL text (comments and literals stripped) at semicolons.
func statements(s string) []string {
	var out []string
	for _, st := range strings.Split(stripSQL(s), ";") {
		if strings.TrimSpace(st) != "" {
			out = append(out, st)
		}
	}
	return out
}

// sqlViolations applies R3 (set_config), R4 and R5 to SQL text of one or
// more statements.
func sqlViolations(src string, tables map[string]table) []string {
	var bad []string
	for _, st := range statements(src) {
		short := strings.Join(strings.Fields(st), " ")
		if len(short) > 90 {
			short = short[:90] + "…"
		}
		if setConfig.MatchString(st) {
			bad = append(bad, "R3: sets a setting with set_config (SET LOCAL reaches the Citus workers, set_config does not): "+short)
		}
		if modifyingCTE.MatchString(st) && insertSelect.MatchString(st) {
			bad = append(bad, "R4: a data-modifying CTE feeds an INSERT … SELECT (insert from VALUES): "+short)
		}
		if rowLock.MatchString(st) && !pinsDistribution(st, tables) {
			bad = append(bad, "R5: a row lock that does not pin a distribution column by equality (a cross-tenant lock): "+short)
		}
	}
	return bad
}

// pinsDistribution reports whether the statement compares the
// distribution column of one of the tables it reads, by "=", with a value
// from outside the statement: a query parameter (@name, sqlc.arg, $n), a
// literal, or a PL/pgSQL parameter or variable (p_…, v_…). A join
// (s.account_id = e.account_id) pins nothing.
func pinsDistribution(st string, tables map[string]table) bool {
	for _, m := range tableRef.FindAllStringSubmatch(st, -1) {
		t, ok := tables[strings.ToLower(m[1])]
		if !ok {
			continue
		}
		if regexp.MustCompile(`(?i)(?:^|[^\w])` + regexp.QuoteMeta(t.distCol) + `\s*=\s*(?:@|\$\d|sqlc\.|'|[pv]_\w)`).MatchString(st) {
			return true
		}
	}
	return false
}

// gitFiles lists the repository's tracked files matching the patterns.
func gitFiles(t *testing.T, patterns ...string) []string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", repoRoot, "ls-files", "--"}, patterns...)...).Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	return strings.Fields(string(out))
}

// scanned counts what the source checkers looked at (a scan that finds
// nothing to look at proves nothing).
var scanned struct{ queries, goLiterals int }

var namedQuery = regexp.MustCompile(`(?m)^-- name: (\w+)`)

// queryFileViolations applies R3–R5 to each named query of a queries/*.sql
// file.
func queryFileViolations(file, src string, tables map[string]table) []string {
	var bad []string
	idx := namedQuery.FindAllStringSubmatchIndex(src, -1)
	scanned.queries += len(idx)
	for i, m := range idx {
		end := len(src)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		name := src[m[2]:m[3]]
		body := src[m[0]:end]
		for _, v := range sqlViolations(body, tables) {
			if _, ok := lockExceptions[name]; ok && strings.HasPrefix(v, "R5") {
				continue
			}
			bad = append(bad, fmt.Sprintf("%s %s: %s", file, name, v))
		}
	}
	return bad
}

var sqlStart = regexp.MustCompile(`(?is)^\s*(?:SELECT|INSERT|UPDATE|DELETE|WITH|SET|BEGIN|COMMIT|ROLLBACK|START|VACUUM|CREATE|ALTER|DROP|EXPLAIN|TRUNCATE|COPY|SAVEPOINT|RELEASE)\b`)

// goLiteralViolations applies R3–R5 and the one-statement rule to the SQL
// string literals of a Go file.
func goLiteralViolations(file string, src []byte, tables map[string]table) ([]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), file, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var bad []string
	ast.Inspect(f, func(n ast.Node) bool {
		lit, ok := n.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		s, err := strconv.Unquote(lit.Value)
		if err != nil || !sqlStart.MatchString(lineComment.ReplaceAllString(s, "")) {
			return true
		}
		scanned.goLiterals++
		for _, v := range sqlViolations(s, tables) {
			bad = append(bad, file+": "+v)
		}
		if savepointSQL.MatchString(stripSQL(s)) {
			bad = append(bad, fmt.Sprintf("%s: R9: a savepoint (Citus drops a SET LOCAL made inside a released savepoint for its worker connections): %.60q", file, s))
		}
		if n := len(statements(s)); n > 1 {
			bad = append(bad, fmt.Sprintf("%s: R3: one query string holds %d statements (Citus replays a whole string on each worker; send them separately): %.60q", file, n, s))
		}
		return true
	})
	return bad, nil
}

func exempt(file string, m map[string]string) bool {
	for prefix := range m {
		if strings.HasPrefix(file, prefix) {
			return true
		}
	}
	return false
}

// sourceViolations applies R3–R5 to the repository's product sources:
// queries/*.sql per named query, every other tracked .sql file for
// set_config, and the SQL string literals of every non-test Go file (the
// generated dbsqlc code repeats queries/*.sql and is skipped).
func sourceViolations(t *testing.T, tables map[string]table) []string {
	t.Helper()
	var bad []string
	for _, f := range gitFiles(t, "*.sql") {
		b, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasPrefix(f, "queries/"):
			bad = append(bad, queryFileViolations(f, string(b), tables)...)
		case exempt(f, setConfigExempt):
		case setConfig.MatchString(stripSQL(string(b))):
			bad = append(bad, f+": R3: sets a setting with set_config")
		}
		for _, st := range statements(string(b)) {
			if savepointStmt.MatchString(st) {
				bad = append(bad, f+": R9: a savepoint (Citus drops a SET LOCAL made inside a released savepoint for its worker connections)")
			}
		}
	}
	byDir := map[string]map[string][]byte{} // package directory → file → source
	for _, f := range gitFiles(t, "*.go") {
		if strings.HasSuffix(f, "_test.go") || strings.Contains(f, "/dbsqlc/") || strings.Contains(f, "node_modules/") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		v, err := goLiteralViolations(f, b, tables)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		bad = append(bad, v...)
		if byDir[filepath.Dir(f)] == nil {
			byDir[filepath.Dir(f)] = map[string][]byte{}
		}
		byDir[filepath.Dir(f)][f] = b
	}
	for _, files := range byDir {
		consts := stringConsts(files)
		for f, b := range files {
			v, err := setLocalViolations(f, b, consts)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			bad = append(bad, v...)
		}
	}
	return bad
}

var distributeLine = regexp.MustCompile(`(?i)create_distributed_table\(\s*'(?:public\.)?(\w+)'\s*,\s*'(\w+)'\s*(?:,\s*colocate_with\s*=>\s*'([\w.]+)')?`)

// scriptViolations checks R6's second half: distribute.sql distributes
// every table of the schema by the column R1 gives it, the tenant tables
// co-located with accounts; tables of their own group may be left to the
// script's last block (by their single-column primary key).
func scriptViolations(script string, tables map[string]table) []string {
	lines := map[string][2]string{}
	for _, m := range distributeLine.FindAllStringSubmatch(lineComment.ReplaceAllString(script, ""), -1) {
		lines[m[1]] = [2]string{m[2], strings.TrimPrefix(m[3], "public.")}
	}
	var bad []string
	for _, t := range tables {
		got, ok := lines[t.name]
		switch {
		case !ok && (t.group == "tenant" || t.tenant || explicitDistribution[t.name] != ""):
			bad = append(bad, fmt.Sprintf("R6: distribute.sql does not distribute %s (by %s)", t.name, t.distCol))
		case !ok:
			// Left to the last block: distributed by its primary key.
		case got[0] != t.distCol:
			bad = append(bad, fmt.Sprintf("R6: distribute.sql distributes %s by %s, want %s", t.name, got[0], t.distCol))
		case t.group == "tenant" && t.name != "accounts" && got[1] != "accounts":
			bad = append(bad, fmt.Sprintf("R6: distribute.sql does not co-locate %s with accounts", t.name))
		}
	}
	sort.Strings(bad)
	return bad
}

func TestDistributionRules_Schema(t *testing.T) {
	conn := pgtest.Shared(t).Admin(t)
	bad, tables, err := catalogViolations(context.Background(), conn)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range bad {
		t.Error(v)
	}
	for _, want := range []string{"accounts", "users", "sessions", "password_reset_tokens", "audit_events", "user_emails"} {
		if _, ok := tables[want]; !ok {
			t.Errorf("table %s not seen: is the catalog query wrong?", want)
		}
	}
	for name, tb := range tables {
		t.Logf("%-24s distributed by %-12s group %s", name, tb.distCol, tb.group)
	}
}

func TestDistributionRules_Sources(t *testing.T) {
	conn := pgtest.Shared(t).Admin(t)
	_, tables, err := catalogViolations(context.Background(), conn)
	if err != nil {
		t.Fatal(err)
	}
	scanned.queries, scanned.goLiterals = 0, 0
	for _, v := range sourceViolations(t, tables) {
		t.Error(v)
	}
	// R7 on every named query (the functions' bodies: TestDistributionRules_Schema).
	for _, f := range gitFiles(t, "queries/*.sql") {
		b, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		v, err := queryFileConflictViolations(context.Background(), conn, f, string(b))
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range v {
			t.Error(x)
		}
	}
	t.Logf("scanned %d named queries and %d SQL string literals of Go files", scanned.queries, scanned.goLiterals)
	if scanned.queries < 30 || scanned.goLiterals < 8 {
		t.Errorf("scanned only %d named queries and %d Go SQL literals: is the scan broken?", scanned.queries, scanned.goLiterals)
	}
}

func TestDistributionRules_Script(t *testing.T) {
	_, tables, err := catalogViolations(context.Background(), pgtest.Shared(t).Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join(repoRoot, "migrations/citus/distribute.sql"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range scriptViolations(string(script), tables) {
		t.Error(v)
	}
	owners, err := definerOwners(context.Background(), pgtest.Shared(t).Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(owners) < 3 {
		t.Errorf("definer function owners %v: is the catalog query wrong?", owners)
	}
	for _, v := range loginViolations(string(script), owners) {
		t.Error(v)
	}
}

// The checkers bite: known-bad SQL, from this project's own history where
// there is one, is reported under the right rule.
func TestDistributionRules_Bite_Sources(t *testing.T) {
	tables := map[string]table{
		"accounts":    {name: "accounts", distCol: "id", group: "tenant"},
		"users":       {name: "users", distCol: "account_id", group: "tenant", tenant: true},
		"sessions":    {name: "sessions", distCol: "account_id", group: "tenant", tenant: true},
		"user_emails": {name: "user_emails", distCol: "email", group: "user_emails", tenant: true},
	}
	for _, c := range []struct{ rule, sql string }{
		{"R3", `SELECT set_config('app.account_id', $1, true)`},
		{"R3", `SELECT SET_CONFIG ( 'app.account_id', '` + "00000000-0000-0000-0000-000000000000" + `', true)`},
		// Session create with its first refresh token, before migrations/00004.
		{"R4", `WITH s AS (
			INSERT INTO sessions (account_id, id, user_id) VALUES (@account_id, @id, @user_id)
			RETURNING account_id, id)
		INSERT INTO refresh_tokens (account_id, jti_hash, session_id, issued_at, expires_at)
		SELECT s.account_id, @jti_hash, s.id, @now, @expires_at FROM s`},
		{"R4", `WITH d AS MATERIALIZED (DELETE FROM sessions WHERE account_id = @a RETURNING *) INSERT INTO x TABLE d`},
		// The purge of migrations/00004: a join equality pins no tenant.
		{"R5", `WITH expired_sessions AS (
			SELECT s.account_id, s.id FROM public.sessions s
			WHERE s.absolute_expires_at < pg_catalog.now() - GREATEST(p_retention, interval '1 day')
			ORDER BY s.absolute_expires_at LIMIT GREATEST(p_batch, 0)
			FOR UPDATE SKIP LOCKED
		), deleted_sessions AS (
			DELETE FROM public.sessions s USING expired_sessions e
			WHERE s.account_id = e.account_id AND s.id = e.id RETURNING 1)
		SELECT (SELECT count(*) FROM deleted_sessions)`},
		{"R5", `SELECT id FROM users WHERE id = @id FOR NO KEY UPDATE`},
		{"R5", `SELECT 1 FROM users u JOIN sessions s ON s.account_id = u.account_id WHERE u.email = 'x' FOR SHARE`},
		// Pinned in a comment or a literal only: not pinned.
		{"R5", `SELECT id FROM sessions WHERE note = 'account_id = @x' FOR UPDATE -- account_id = @account_id`},
	} {
		got := sqlViolations(c.sql, tables)
		if len(got) == 0 || !strings.HasPrefix(got[0], c.rule) {
			t.Errorf("want %s for\n%s\ngot %v", c.rule, c.sql, got)
		}
	}
	for _, ok := range []string{
		`SELECT id FROM users WHERE account_id = @account_id AND id = @id FOR UPDATE`,
		`SELECT x FROM accounts WHERE id = @id FOR UPDATE`,
		`SELECT e.user_id FROM public.user_emails e WHERE e.email = p_email FOR UPDATE`,
		`INSERT INTO sessions (account_id, id) VALUES (@account_id, @id)`,
		`WITH s AS (UPDATE sessions SET revoked_at = @now WHERE account_id = @a RETURNING id) SELECT count(*) FROM s`,
		`INSERT INTO users (account_id, id, email) SELECT a.id, gen_random_uuid(), 'x' FROM accounts a`, // no CTE
		`SELECT 'set_config(' AS text_only`,
	} {
		if got := sqlViolations(ok, tables); len(got) != 0 {
			t.Errorf("false positive on\n%s\n%v", ok, got)
		}
	}
	// A named query file and a Go file.
	if got := queryFileViolations("queries/x.sql", "-- name: Good :one\nSELECT 1 FROM users WHERE account_id = @a FOR UPDATE;\n\n-- name: Bad :one\nSELECT 1 FROM users WHERE id = @id FOR UPDATE;\n", tables); len(got) != 1 || !strings.Contains(got[0], "Bad: R5") {
		t.Errorf("query file: %v", got)
	}
	goSrc := "package x\n\nconst (\n\tone = `BEGIN; SET LOCAL app.account_id = 'x'; UPDATE sessions SET n = 1 WHERE account_id = 'x'; COMMIT`\n" +
		"\ttwo = \"SELECT set_config('app.account_id', $1, true)\"\n\tfine = \"UPDATE sessions SET n = 1 WHERE account_id = $1\"\n\tnotSQL = \"first; second\"\n)\n"
	got, err := goLiteralViolations("x.go", []byte(goSrc), tables)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !strings.Contains(got[0], "holds 4 statements") || !strings.Contains(got[1], "set_config") {
		t.Errorf("Go literals: %v", got)
	}
	if got, _ := goLiteralViolations("x.go", []byte("package x\n\nconst sp = \"SAVEPOINT tenant\"\n"), tables); len(got) != 1 || !strings.Contains(got[0], "R9: a savepoint") {
		t.Errorf("savepoint: %v", got)
	}

	// R9: the tenant setting outside a statement list that starts with
	// BEGIN. The first is oneShot's prefix before the transaction block
	// (on Citus the workers saw no tenant: /auth/me answered 401).
	for _, c := range []struct{ name, src string }{
		{"oneShot before", `prefixedDB{conn: c, prefix: []string{setLocalTenant(accountID)}}`},
		{"SET LOCAL first", `[]string{"SET LOCAL app.account_id = 'x'", "BEGIN"}`},
		{"on its own", `conn.Exec(ctx, setLocalTenant(accountID))`},
		{"a literal on its own", `conn.Exec(ctx, "SET LOCAL app.account_id = 'x'")`},
		{"a constant", `[]string{notBegin, setLocal}`},
	} {
		src := "package x\n\nconst (\n\tnotBegin = \"SELECT 1\"\n\tsetLocal = \"SET LOCAL app.account_id = 'x'\"\n)\n\nfunc f() { _ = " + c.src + " }\n"
		got, err := setLocalViolations("x.go", []byte(src), stringConsts(map[string][]byte{"x.go": []byte(src)}))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || !strings.Contains(got[0], "R9:") {
			t.Errorf("%s: want one R9, got %v", c.name, got)
		}
	}
	for _, ok := range []string{
		`prefixedDB{conn: c, prefix: []string{beginReadCommitted, setLocalTenant(accountID)}, suffix: []string{"COMMIT"}}`,
		`[]string{"BEGIN", "SET LOCAL app.account_id = 'x'"}`,
		`[]string{"start transaction", setLocalTenant(id), "SELECT 1"}`,
		`"SET LOCAL app.account_id = '" + id.String() + "'"`, // building the statement
	} {
		src := "package x\n\nconst beginReadCommitted = \"BEGIN ISOLATION LEVEL READ COMMITTED\"\n\nfunc f() { _ = " + ok + " }\n"
		if got, err := setLocalViolations("x.go", []byte(src), stringConsts(map[string][]byte{"x.go": []byte(src)})); err != nil || len(got) != 0 {
			t.Errorf("false positive on %s: %v %v", ok, got, err)
		}
	}

	// R7 on a named query: PostgreSQL types the sqlc parameters.
	conn := pgtest.FreshPlain(t).Admin(t)
	ctx := context.Background()
	got, err = queryFileConflictViolations(ctx, conn, "queries/x.sql", `-- name: Bad :exec
INSERT INTO login_throttle AS t (key_hash, failures, window_start, last_failure_at, expires_at)
VALUES (@key_hash, 1, @now, @now, @now::timestamptz + @window::interval)
ON CONFLICT (key_hash) DO UPDATE SET expires_at = t.last_failure_at + sqlc.arg(window)::interval, failures = t.failures + 1;

-- name: Good :exec
INSERT INTO login_throttle AS t (key_hash, failures, window_start, last_failure_at, expires_at)
VALUES ($1, 1, @now, @now, @until)
ON CONFLICT (key_hash) DO UPDATE SET expires_at = GREATEST(t.expires_at, EXCLUDED.expires_at), last_failure_at = @now;
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !strings.Contains(got[0], "queries/x.sql Bad: R7: INSERT INTO login_throttle … ON CONFLICT DO UPDATE SET expires_at =") {
		t.Errorf("R7 on named queries: %v", got)
	}
}

// The catalog rules bite: the schema before migrations/00007 breaks R1,
// R2 and R5 exactly where Citus failed, and each kind of
// breakage added to a migrated schema is reported.
func TestDistributionRules_Bite_Catalog(t *testing.T) {
	ctx := context.Background()
	old := freshUpTo(t, 6)
	bad, _, err := catalogViolations(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"R1: unique key users_email_key on users (email)",
		"R2: SECURITY DEFINER function auth_user_for_login(text) is written in sql",
		"R2: SECURITY DEFINER function auth_session_is_live(uuid,uuid,timestamp with time zone) is written in sql",
		"R2: SECURITY DEFINER function auth_password_reset_account(bytea) is written in sql",
		"R2: SECURITY DEFINER function auth_session_account(uuid) is written in sql",
		"R2: SECURITY DEFINER function maintenance_purge_expired(interval,integer) is written in sql",
		"function maintenance_purge_expired(interval,integer): R5",
	} {
		if !slices.ContainsFunc(bad, func(v string) bool { return strings.HasPrefix(v, want) }) {
			t.Errorf("schema before 00007: no violation %q in\n%s", want, strings.Join(bad, "\n"))
		}
	}
	// The schema before migrations/00009: the brute-force counter's
	// timestamptz + interval in its DO UPDATE SET, refused by Citus.
	bad, _, err = catalogViolations(ctx, freshUpTo(t, 8))
	if err != nil {
		t.Fatal(err)
	}
	const throttleFailure = "function auth_login_throttle_failure(bytea,timestamp with time zone,integer,interval,interval,interval): "
	for _, want := range []string{
		throttleFailure + "R7: INSERT INTO login_throttle … ON CONFLICT DO UPDATE SET failures = a function that is not IMMUTABLE",
		throttleFailure + "R7: INSERT INTO login_throttle … ON CONFLICT DO UPDATE SET window_start = ",
		throttleFailure + "R7: INSERT INTO login_throttle … ON CONFLICT DO UPDATE SET locked_until = ",
		throttleFailure + "R7: INSERT INTO login_throttle … ON CONFLICT DO UPDATE SET expires_at = ",
	} {
		if !slices.ContainsFunc(bad, func(v string) bool { return strings.HasPrefix(v, want) }) {
			t.Errorf("schema before 00009: no violation %q in\n%s", want, strings.Join(bad, "\n"))
		}
	}
	if len(bad) != 4 {
		t.Errorf("schema before 00009: want the four R7 violations only, got\n%s", strings.Join(bad, "\n"))
	}

	// A schema of its own, not distributed (on Citus too): the DDL below
	// is what Citus would refuse on distributed tables.
	conn := pgtest.FreshPlain(t).Admin(t)
	for _, ddl := range []string{
		`CREATE UNIQUE INDEX bite_users_email ON users (email)`,
		`CREATE TABLE bite_tenant (account_id uuid NOT NULL, id uuid NOT NULL, email text, PRIMARY KEY (account_id, id),
			FOREIGN KEY (email) REFERENCES user_emails (email))`,
		`CREATE TABLE bite_pair (account_id uuid NOT NULL, id uuid NOT NULL, other uuid NOT NULL, PRIMARY KEY (account_id, id),
			FOREIGN KEY (other, account_id) REFERENCES users (account_id, id))`,
		`CREATE TABLE bite_nokey (a int, b int, PRIMARY KEY (a, b))`,
		`CREATE FUNCTION bite_definer(p uuid) RETURNS uuid LANGUAGE sql SECURITY DEFINER AS 'SELECT p'`,
		`CREATE FUNCTION bite_lock() RETURNS void LANGUAGE plpgsql AS $$
		 BEGIN PERFORM 1 FROM public.sessions s WHERE s.revoked_at IS NULL FOR UPDATE SKIP LOCKED; END $$`,
		`ALTER TABLE user_emails NO FORCE ROW LEVEL SECURITY`,
		// R7: now() in the SET, an interval sum in the WHERE; the
		// immutable arithmetic of bite_upsert_ok passes.
		`CREATE FUNCTION bite_upsert(p_key bytea, p_window interval) RETURNS void LANGUAGE plpgsql AS $$
		 DECLARE v_at timestamptz := now();
		 BEGIN
		   INSERT INTO public.login_throttle AS t (key_hash, failures, window_start, last_failure_at, expires_at)
		   VALUES (p_key, 1, v_at, v_at, v_at + p_window)
		   ON CONFLICT (key_hash) DO UPDATE SET failures = t.failures + 1, last_failure_at = pg_catalog.now()
		   WHERE t.expires_at > v_at - p_window;
		 END $$`,
		`CREATE FUNCTION bite_upsert_ok(p_key bytea, p_at timestamptz) RETURNS void LANGUAGE plpgsql AS $$
		 DECLARE
		   v_until timestamptz := p_at + interval '1 hour';
		   v_n     integer;
		 BEGIN
		   INSERT INTO public.login_throttle AS t (key_hash, failures, window_start, last_failure_at, expires_at)
		   VALUES (p_key, 1, p_at, p_at, v_until)
		   ON CONFLICT (key_hash) DO UPDATE SET failures = t.failures + EXCLUDED.failures, last_failure_at = p_at,
		     expires_at = GREATEST(t.expires_at, v_until), window_start = CASE WHEN t.failures > 3 THEN t.window_start ELSE p_at END
		   WHERE t.locked_until IS NULL OR t.locked_until <= p_at
		   RETURNING t.failures INTO v_n;
		 END $$`,
	} {
		if _, err := conn.Exec(ctx, ddl); err != nil {
			t.Fatalf("%s: %v", ddl, err)
		}
	}
	bad, _, err = catalogViolations(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"R1: unique key bite_users_email on users (email)",
		"R1: foreign key bite_tenant_email_fkey from bite_tenant to user_emails joins tables that are not co-located",
		"R1: foreign key bite_pair_other_account_id_fkey from bite_pair (other, account_id) to users (account_id, id) does not pair",
		"R1: table bite_nokey has no account_id and no single-column primary key",
		"R2: SECURITY DEFINER function bite_definer(uuid) is written in sql",
		"function bite_lock(): R5",
		"R6: tenant table bite_tenant: row-level security enabled=false",
		"R6: tenant table user_emails: row-level security enabled=true forced=false",
		"function bite_upsert(bytea,interval): R7: INSERT INTO login_throttle … ON CONFLICT DO UPDATE SET last_failure_at = ",
		"function bite_upsert(bytea,interval): R7: INSERT INTO login_throttle … ON CONFLICT DO UPDATE WHERE ",
	} {
		if !slices.ContainsFunc(bad, func(v string) bool { return strings.HasPrefix(v, want) }) {
			t.Errorf("no violation %q in\n%s", want, strings.Join(bad, "\n"))
		}
	}
	for _, v := range bad {
		if strings.Contains(v, "bite_upsert_ok") || strings.Contains(v, "SET failures") {
			t.Errorf("false positive: %s", v)
		}
	}
}

// freshUpTo returns a superuser connection to a new database migrated up
// to (and including) version.
func freshUpTo(t *testing.T, version int64) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	base := pgtest.ServerURL(t)
	root, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close(ctx)
	name := fmt.Sprintf("test_upto%d_%s", version, strings.ReplaceAll(uuid.NewString(), "-", "")[:12])
	if _, err := root.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	if err := postgres.MigrateUpTo(ctx, u.String(), version); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestDistributionRules_Bite_Script(t *testing.T) {
	_, tables, err := catalogViolations(context.Background(), pgtest.Shared(t).Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(repoRoot, "migrations/citus/distribute.sql"))
	if err != nil {
		t.Fatal(err)
	}
	script := string(b)
	for _, c := range []struct{ from, to, want string }{
		{"SELECT create_distributed_table('public.users', 'account_id', colocate_with => 'public.accounts');", "",
			"R6: distribute.sql does not distribute users"},
		{"'public.sessions', 'account_id'", "'public.sessions', 'id'", "R6: distribute.sql distributes sessions by id, want account_id"},
		{"'public.audit_events', 'account_id', colocate_with => 'public.accounts'", "'public.audit_events', 'account_id', colocate_with => 'none'",
			"R6: distribute.sql does not co-locate audit_events"},
		{"'public.user_emails', 'email'", "'public.user_emails', 'account_id'", "R6: distribute.sql distributes user_emails by account_id"},
	} {
		broken := strings.Replace(script, c.from, c.to, 1)
		if broken == script {
			t.Fatalf("%q not in distribute.sql", c.from)
		}
		got := scriptViolations(broken, tables)
		if !slices.ContainsFunc(got, func(v string) bool { return strings.HasPrefix(v, c.want) }) {
			t.Errorf("want %q, got %v", c.want, got)
		}
	}
	// R8: the script as it was before sessiond_throttler got LOGIN (every
	// sign-in answered 503 on Citus), and a LOGIN for a role that owns no
	// definer function.
	owners, err := definerOwners(context.Background(), pgtest.Shared(t).Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ from, to, want string }{
		{"ALTER ROLE sessiond_throttler LOGIN;", "",
			"R8: distribute.sql does not give sessiond_throttler LOGIN, but it owns the SECURITY DEFINER functions auth_login_throttle_check(bytea)"},
		{"ALTER ROLE sessiond_janitor LOGIN;", "ALTER ROLE sessiond_janitor LOGIN;\nALTER ROLE sessiond_app_admin WITH LOGIN;",
			"R8: distribute.sql gives sessiond_app_admin LOGIN, but it owns no SECURITY DEFINER function"},
	} {
		broken := strings.Replace(script, c.from, c.to, 1)
		if broken == script {
			t.Fatalf("%q not in distribute.sql", c.from)
		}
		got := loginViolations(broken, owners)
		if len(got) != 1 || !strings.HasPrefix(got[0], c.want) {
			t.Errorf("want %q, got %v", c.want, got)
		}
	}
}

// citusStubs stand in for the Citus functions distribute.sql calls, so that
// the script runs on plain PostgreSQL: create_distributed_table records its
// arguments; run_command_on_shards runs the command on the table itself,
// as if it were its only shard (result as text, as a worker returns it).
const citusStubs = `
CREATE SCHEMA citus_stub;
CREATE TABLE citus_stub.pg_dist_partition (logicalrelid regclass PRIMARY KEY, partkey text, colocate text);
CREATE FUNCTION citus_stub.create_distributed_table(t regclass, col text, colocate_with text DEFAULT 'default')
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM pg_attribute a WHERE a.attrelid = t AND a.attname = col AND NOT a.attisdropped;
    IF NOT FOUND THEN RAISE EXCEPTION 'create_distributed_table: % has no column %', t, col; END IF;
    IF colocate_with NOT IN ('default', 'none') AND NOT EXISTS (
        SELECT 1 FROM citus_stub.pg_dist_partition p WHERE p.logicalrelid = colocate_with::regclass) THEN
        RAISE EXCEPTION 'create_distributed_table: % is not distributed yet', colocate_with;
    END IF;
    INSERT INTO citus_stub.pg_dist_partition VALUES (t, col, colocate_with);
END $$;
CREATE FUNCTION citus_stub.run_command_on_shards(t regclass, cmd text)
RETURNS TABLE (shardid bigint, success boolean, result text) LANGUAGE plpgsql AS $$
DECLARE v text;
BEGIN
    EXECUTE replace(cmd, '%s', t::text) INTO v;
    RETURN QUERY SELECT 1::bigint, true, v;
END $$;
SET LOCAL search_path = public, citus_stub;
`

// distribute.sql runs, on plain PostgreSQL with the Citus functions
// stubbed, in a transaction that is rolled back (ALTER ROLE included): it
// distributes every table by the column the rules give it, handles a
// non-tenant table keyed by one column (as migration 00005's), and stops on
// a tenant table it does not name.
func TestDistributeScript_RunsAgainstTheMigratedSchema(t *testing.T) {
	// Not distributed, on Citus too: the stubs stand in for Citus (make
	// test-citus runs the script itself on every test database).
	conn := pgtest.FreshPlain(t).Admin(t)
	ctx := context.Background()
	b, err := os.ReadFile(filepath.Join(repoRoot, "migrations/citus/distribute.sql"))
	if err != nil {
		t.Fatal(err)
	}
	var script strings.Builder
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if !strings.HasPrefix(line, `\`) { // psql meta-commands
			script.WriteString(line)
		}
	}
	run := func(extra string) (map[string][2]string, error) {
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, citusStubs+extra); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, script.String()); err != nil {
			return nil, err
		}
		rows, err := tx.Query(ctx, `SELECT logicalrelid::text, partkey, colocate FROM citus_stub.pg_dist_partition`)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][2]string{}
		for rows.Next() {
			var tbl, col, colo string
			if err := rows.Scan(&tbl, &col, &colo); err != nil {
				t.Fatal(err)
			}
			got[tbl] = [2]string{col, colo}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		var setting string
		if err := tx.QueryRow(ctx, `SELECT array_to_string(s.setconfig, ',') FROM pg_db_role_setting s
			JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname = 'sessiond_app' AND s.setdatabase = 0`).Scan(&setting); err != nil {
			t.Fatalf("role setting: %v", err)
		}
		if !strings.Contains(setting, "citus.propagate_set_commands=local") {
			t.Errorf("sessiond_app settings %q", setting)
		}
		return got, nil
	}
	got, err := run(`CREATE TABLE public.bite_attempts (email_hash bytea PRIMARY KEY, failures integer NOT NULL);`)
	if err != nil {
		t.Fatalf("distribute.sql: %v", err)
	}
	want := map[string][2]string{
		"accounts":                  {"id", "default"},
		"users":                     {"account_id", "public.accounts"},
		"sessions":                  {"account_id", "public.accounts"},
		"password_reset_tokens":     {"account_id", "public.accounts"},
		"audit_events":              {"account_id", "public.accounts"},
		"auth_factors":              {"account_id", "public.accounts"},
		"recovery_codes":            {"account_id", "public.accounts"},
		"mfa_challenges":            {"account_id", "public.accounts"},
		"email_verification_tokens": {"account_id", "public.accounts"},
		"invitations":               {"account_id", "public.accounts"},
		"user_emails":               {"email", "none"},
		"webhook_streams":           {"account_id", "public.accounts"},
		"webhook_endpoints":         {"account_id", "public.accounts"},
		"webhook_attempts":          {"account_id", "public.accounts"},
		"login_throttle":            {"key_hash", "none"},
		"bite_attempts":             {"email_hash", "none"},
	}
	for tbl, w := range want {
		if got[tbl] != w {
			t.Errorf("%s distributed as %v, want %v", tbl, got[tbl], w)
		}
	}
	if _, ok := got["goose_db_version"]; ok || len(got) != len(want) {
		t.Errorf("distributed %v", got)
	}
	if _, err := run(`CREATE TABLE public.bite_tenant (account_id uuid, id uuid, PRIMARY KEY (account_id, id));`); err == nil ||
		!strings.Contains(err.Error(), "tenant table bite_tenant has no line in distribute.sql") {
		t.Errorf("a tenant table missing from the script: %v", err)
	}
}

// --- R7: no mutable function in ON CONFLICT DO UPDATE ------------------------

var (
	// PL/pgSQL declarations: name type [:= …];
	declareSection = regexp.MustCompile(`(?is)\bDECLARE\b(.*?)\bBEGIN\b`)
	declaration    = regexp.MustCompile(`(?m)^\s*(\w+)\s+([\w ."\[\]()]+?)\s*(?:(?::=|=|DEFAULT)[^;]*)?;`)
	insertTarget   = regexp.MustCompile(`(?is)^\s*INSERT\s+INTO\s+(?:public\.)?(\w+)(?:\s+AS\s+(\w+))?`)
	doUpdateSet    = regexp.MustCompile(`(?is)\bON\s+CONFLICT\b.*?\bDO\s+UPDATE\s+SET\b`)
	clauseEnd      = regexp.MustCompile(`(?i)^(?:WHERE|RETURNING)\b`)
	sqlcParam      = regexp.MustCompile(`sqlc\.n?arg\(\s*'?(\w+)'?\s*\)|@(\w+)`)
	dollarParam    = regexp.MustCompile(`\$(\d+)\b`)
)

// plpgsqlVariables returns the variables a PL/pgSQL body declares, with
// their types (records and %TYPE ones left out: R7 cannot type them).
func plpgsqlVariables(src string) map[string]string {
	vars := map[string]string{}
	m := declareSection.FindStringSubmatch(lineComment.ReplaceAllString(src, ""))
	if m == nil {
		return vars
	}
	for _, d := range declaration.FindAllStringSubmatch(m[1], -1) {
		typ := strings.TrimSpace(d[2])
		if strings.Contains(typ, "%") || strings.EqualFold(typ, "record") || strings.HasPrefix(strings.ToUpper(typ), "CONSTANT") {
			continue
		}
		vars[d[1]] = typ
	}
	return vars
}

// splitTopLevel splits s at sep outside quotes and parentheses.
func splitTopLevel(s string, sep byte) []string {
	var out []string
	depth, start, inQuote := 0, 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inQuote:
			if c == '\'' {
				inQuote = false
			}
		case c == '\'':
			inQuote = true
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == sep && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// topLevelClauseEnd is where a DO UPDATE SET list ends: its WHERE, its
// RETURNING, or the end, whichever comes first outside quotes and
// parentheses.
func topLevelClauseEnd(s string) int {
	depth, inQuote := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inQuote:
			if c == '\'' {
				inQuote = false
			}
		case c == '\'':
			inQuote = true
		case c == '(':
			depth++
		case c == ')':
			depth--
		case depth == 0 && (i == 0 || !isWordByte(s[i-1])) && clauseEnd.MatchString(s[i:]):
			return i
		}
	}
	return len(s)
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// conflictUpdateViolations applies R7 to every INSERT … ON CONFLICT DO
// UPDATE of src (SQL text of one or more statements, comments allowed).
// vars types the names the statements use besides columns: PL/pgSQL
// parameters and variables, or $n. Each expression of the DO UPDATE (every
// SET value, the WHERE) is offered to PostgreSQL as a stored generated
// column of a temporary table shaped like the target table, its column
// references made plain and every parameter a column of its own (a
// constant would be folded away before the check): PostgreSQL accepts it
// only when it is immutable (42P17 otherwise). So a stable function of
// parameters alone counts too: compute such a value into a variable first.
// Nothing is kept (one transaction, rolled back).
func conflictUpdateViolations(ctx context.Context, conn *pgx.Conn, src string, vars map[string]string) ([]string, error) {
	var bad []string
	for _, st := range splitTopLevel(lineComment.ReplaceAllString(src, ""), ';') {
		loc := doUpdateSet.FindStringIndex(st)
		if loc == nil {
			continue
		}
		// The INSERT may follow other text of a PL/pgSQL statement (a
		// label, a CTE): take the last INSERT INTO before ON CONFLICT.
		head := st[:loc[0]]
		i := strings.LastIndex(strings.ToUpper(head), "INSERT")
		if i < 0 {
			return nil, fmt.Errorf("ON CONFLICT without INSERT INTO: %.80q", st)
		}
		target := insertTarget.FindStringSubmatch(head[i:])
		if target == nil {
			return nil, fmt.Errorf("cannot read the INSERT's target: %.80q", head[i:])
		}
		table, alias := strings.ToLower(target[1]), strings.ToLower(target[2])
		rest := st[loc[1]:]
		end := topLevelClauseEnd(rest)
		var exprs [][2]string // column (""= the WHERE), expression
		for _, a := range splitTopLevel(rest[:end], ',') {
			col, expr, ok := strings.Cut(a, "=")
			col = strings.ToLower(strings.TrimSpace(col))
			if !ok || !regexp.MustCompile(`^\w+$`).MatchString(col) {
				return nil, fmt.Errorf("cannot read the assignment %q of the DO UPDATE SET on %s", strings.TrimSpace(a), table)
			}
			exprs = append(exprs, [2]string{col, expr})
		}
		if w := rest[end:]; regexp.MustCompile(`(?i)^WHERE\b`).MatchString(w) {
			cond := w[len("WHERE"):]
			if r := regexp.MustCompile(`(?i)\bRETURNING\b`).FindStringIndex(cond); r != nil {
				cond = cond[:r[0]]
			}
			exprs = append(exprs, [2]string{"", cond})
		}
		for _, e := range exprs {
			mutable, err := probeImmutable(ctx, conn, table, alias, e[0], e[1], vars)
			if err != nil {
				return nil, err
			}
			if mutable {
				what := "SET " + e[0] + " ="
				if e[0] == "" {
					what = "WHERE"
				}
				short := strings.Join(strings.Fields(e[1]), " ")
				if len(short) > 90 {
					short = short[:90] + "…"
				}
				bad = append(bad, fmt.Sprintf("R7: INSERT INTO %s … ON CONFLICT DO UPDATE %s a function that is not IMMUTABLE (Citus refuses it on a distributed table; compute the value first): %s", table, what, short))
			}
		}
	}
	return bad, nil
}

// probeImmutable reports whether PostgreSQL refuses expr (of the DO UPDATE
// of an INSERT into table) as an immutable expression; col is the column
// it assigns ("" for the WHERE: boolean).
func probeImmutable(ctx context.Context, conn *pgx.Conn, table, alias, col, expr string, vars map[string]string) (bool, error) {
	// Parameters and variables (never a qualified name) → probe columns.
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return len(names[i]) > len(names[j]) }) // $10 before $1
	var paramCols []string
	for _, n := range names {
		re := regexp.MustCompile(`(^|[^.\w$])` + regexp.QuoteMeta(n) + `\b`)
		if strings.HasPrefix(n, "$") {
			re = regexp.MustCompile(`()` + regexp.QuoteMeta(n) + `\b`)
		}
		if !re.MatchString(expr) {
			continue
		}
		col := "r7_" + strings.TrimPrefix(n, "$")
		expr = re.ReplaceAllString(expr, "${1}"+col)
		paramCols = append(paramCols, "ADD COLUMN "+col+" "+vars[n])
	}
	// Qualified columns of the target row or of EXCLUDED → the probe's own.
	quals := []string{"excluded", table}
	if alias != "" {
		quals = append(quals, alias)
	}
	for _, q := range quals {
		expr = regexp.MustCompile(`(?i)\b`+regexp.QuoteMeta(q)+`\.(\w+)`).ReplaceAllString(expr, "$1")
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	typ := "boolean"
	if col != "" {
		if err := tx.QueryRow(ctx, `SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
			WHERE a.attrelid = to_regclass('public.' || $1) AND a.attname = $2 AND NOT a.attisdropped`, table, col).Scan(&typ); err != nil {
			return false, fmt.Errorf("type of %s.%s: %w", table, col, err)
		}
	}
	if _, err := tx.Exec(ctx, "CREATE TEMP TABLE r7_probe (LIKE public."+pgx.Identifier{table}.Sanitize()+")"); err != nil {
		return false, err
	}
	if len(paramCols) > 0 {
		if _, err := tx.Exec(ctx, "ALTER TABLE r7_probe "+strings.Join(paramCols, ", ")); err != nil {
			return false, fmt.Errorf("probe columns %v: %w", paramCols, err)
		}
	}
	_, err = tx.Exec(ctx, "ALTER TABLE r7_probe ADD COLUMN r7_value "+typ+" GENERATED ALWAYS AS ("+expr+") STORED")
	var pg *pgconn.PgError
	switch {
	case err == nil:
		return false, nil
	case errors.As(err, &pg) && pg.Code == "42P17": // generation expression is not immutable
		return true, nil
	default:
		return false, fmt.Errorf("cannot judge %q on %s: %w", strings.TrimSpace(expr), table, err)
	}
}

// queryParams turns sqlc's named parameters into $n and asks PostgreSQL
// for their types (PREPARE), for R7 on a named query or a Go SQL string.
func queryParams(ctx context.Context, conn *pgx.Conn, sql string) (string, map[string]string, error) {
	index := map[string]int{}
	next := 0
	for _, m := range dollarParam.FindAllStringSubmatch(sql, -1) {
		n, _ := strconv.Atoi(m[1])
		next = max(next, n)
	}
	sql = sqlcParam.ReplaceAllStringFunc(sql, func(m string) string {
		sm := sqlcParam.FindStringSubmatch(m)
		name := sm[1] + sm[2]
		if _, ok := index[name]; !ok {
			next++
			index[name] = next
		}
		return fmt.Sprintf("$%d", index[name])
	})
	if _, err := conn.Exec(ctx, "PREPARE r7_stmt AS "+sql); err != nil {
		return "", nil, fmt.Errorf("PREPARE %.80q: %w", sql, err)
	}
	defer func() { _, _ = conn.Exec(ctx, "DEALLOCATE r7_stmt") }()
	var types []string
	if err := conn.QueryRow(ctx, `SELECT ARRAY(SELECT format_type(t, NULL) FROM unnest(parameter_types::oid[]) WITH ORDINALITY x(t, n) ORDER BY n)
		FROM pg_prepared_statements WHERE name = 'r7_stmt'`).Scan(&types); err != nil {
		return "", nil, err
	}
	vars := map[string]string{}
	for i, typ := range types {
		vars[fmt.Sprintf("$%d", i+1)] = typ
	}
	return sql, vars, nil
}

// queryFileConflictViolations applies R7 to each named query of a
// queries/*.sql file.
func queryFileConflictViolations(ctx context.Context, conn *pgx.Conn, file, src string) ([]string, error) {
	var bad []string
	idx := namedQuery.FindAllStringSubmatchIndex(src, -1)
	for i, m := range idx {
		end := len(src)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		body := src[m[1]:end]
		if nl := strings.IndexByte(body, '\n'); nl >= 0 {
			body = body[nl+1:] // past the rest of the "-- name:" line
		}
		v, err := queryConflictViolations(ctx, conn, body)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", file, src[m[2]:m[3]], err)
		}
		for _, x := range v {
			bad = append(bad, fmt.Sprintf("%s %s: %s", file, src[m[2]:m[3]], x))
		}
	}
	return bad, nil
}

// queryConflictViolations applies R7 to SQL with sqlc or $n parameters.
func queryConflictViolations(ctx context.Context, conn *pgx.Conn, sql string) ([]string, error) {
	if !doUpdateSet.MatchString(sql) {
		return nil, nil
	}
	stmt, vars, err := queryParams(ctx, conn, strings.TrimSuffix(strings.TrimSpace(lineComment.ReplaceAllString(sql, "")), ";"))
	if err != nil {
		return nil, err
	}
	return conflictUpdateViolations(ctx, conn, stmt, vars)
}

// --- R8: every definer function's owner may log in on Citus ------------------

var alterRoleLogin = regexp.MustCompile(`(?i)\bALTER\s+ROLE\s+(\w+)\s+(?:WITH\s+)?LOGIN\b`)

// definerOwners maps each role that owns a SECURITY DEFINER function of
// the schema (not an extension's) to its functions.
func definerOwners(ctx context.Context, conn *pgx.Conn) (map[string][]string, error) {
	rows, err := conn.Query(ctx, `
		SELECT o.rolname, array_agg(p.oid::regprocedure::text ORDER BY p.oid::regprocedure::text)
		FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_roles o ON o.oid = p.proowner
		WHERE n.nspname = 'public' AND p.prosecdef
		  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
		GROUP BY o.rolname`)
	if err != nil {
		return nil, err
	}
	owners := map[string][]string{}
	for rows.Next() {
		var role string
		var fns []string
		if err := rows.Scan(&role, &fns); err != nil {
			return nil, err
		}
		owners[role] = fns
	}
	return owners, rows.Err()
}

// loginViolations checks R8 on distribute.sql's text.
func loginViolations(script string, owners map[string][]string) []string {
	granted := map[string]bool{}
	for _, m := range alterRoleLogin.FindAllStringSubmatch(lineComment.ReplaceAllString(script, ""), -1) {
		granted[strings.ToLower(m[1])] = true
	}
	var bad []string
	for role, fns := range owners {
		if !granted[role] {
			bad = append(bad, fmt.Sprintf("R8: distribute.sql does not give %s LOGIN, but it owns the SECURITY DEFINER functions %s (Citus connects to the workers as the owner)",
				role, strings.Join(fns, ", ")))
		}
	}
	for role := range granted {
		if _, ok := owners[role]; !ok {
			bad = append(bad, fmt.Sprintf("R8: distribute.sql gives %s LOGIN, but it owns no SECURITY DEFINER function", role))
		}
	}
	sort.Strings(bad)
	return bad
}

// --- R9: SET LOCAL only inside an explicit transaction block -----------------

var (
	setLocalSQL  = regexp.MustCompile(`(?i)^\s*SET\s+LOCAL\b`)
	beginSQL     = regexp.MustCompile(`(?i)^\s*(?:BEGIN|START\s+TRANSACTION)\b`)
	savepointSQL = regexp.MustCompile(`(?i)\b(?:SAVEPOINT|RELEASE\s+SAVEPOINT|ROLLBACK\s+TO)\b`)
	// A savepoint statement of a .sql file (not the word in a comment).
	savepointStmt = regexp.MustCompile(`(?i)^\s*(?:SAVEPOINT|RELEASE|ROLLBACK\s+TO)\b`)
)

// stringConsts collects the string constants of Go sources (one package).
func stringConsts(files map[string][]byte) map[string]string {
	consts := map[string]string{}
	for name, src := range files {
		f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.SkipObjectResolution)
		if err != nil {
			continue
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, sp := range g.Specs {
				vs := sp.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i < len(vs.Values) {
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							if v, err := strconv.Unquote(lit.Value); err == nil {
								consts[n.Name] = v
							}
						}
					}
				}
			}
		}
	}
	return consts
}

// setLocalViolations checks R9 on one Go file: the tenant setting (a call
// of setLocalTenant, or a SET LOCAL string) is only ever an element of a
// statement list whose first element is BEGIN; consts resolves the names
// of the package's string constants.
func setLocalViolations(file string, src []byte, consts map[string]string) ([]string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	sqlOf := func(e ast.Expr) string {
		switch x := e.(type) {
		case *ast.BasicLit:
			if x.Kind == token.STRING {
				v, _ := strconv.Unquote(x.Value)
				return v
			}
		case *ast.Ident:
			return consts[x.Name]
		}
		return ""
	}
	isSetLocal := func(e ast.Expr) bool {
		if c, ok := e.(*ast.CallExpr); ok {
			if id, ok := c.Fun.(*ast.Ident); ok && id.Name == "setLocalTenant" {
				return true
			}
		}
		return setLocalSQL.MatchString(sqlOf(e))
	}
	var bad []string
	checked := map[ast.Expr]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.CompositeLit:
			for i, el := range x.Elts {
				if !isSetLocal(el) {
					continue
				}
				checked[el] = true
				if i == 0 || !beginSQL.MatchString(sqlOf(x.Elts[0])) {
					bad = append(bad, fmt.Sprintf("%s:%d: R9: the tenant setting is sent in a statement list that does not start with BEGIN (outside a transaction block Citus does not forward SET LOCAL to the workers)",
						file, fset.Position(el.Pos()).Line))
				}
			}
		case *ast.CallExpr:
			for _, a := range x.Args {
				if isSetLocal(a) && !checked[a] {
					bad = append(bad, fmt.Sprintf("%s:%d: R9: the tenant setting is sent on its own, outside a statement list that starts with BEGIN",
						file, fset.Position(a.Pos()).Line))
				}
			}
		}
		return true
	})
	return bad, nil
}
