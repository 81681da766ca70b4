package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/adapters/postgres/pgtest"
	"github.com/sessiond/sessiond/core"
)

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

// RLS-05 (outside review, finding 6), from the catalog: every primary key
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
