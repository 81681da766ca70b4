-- +goose Up
-- The owner's lists answer precisely (GET /accounts/me/members and
-- /accounts/me/audit-events with their filters): each filter is an index
-- condition, so a page costs about its own size whatever the size of the
-- tenant's trail (adapters/postgres/explain_test.go proves the plans).
--
-- audit_events: one index per filter, each ending in the listing's order
-- (created_at DESC, id DESC) so the newest matching rows are read first and
-- LIMIT stops the walk. The exact action filter walks audit_events_by_action
-- (00001); a prefix (several actions) reads the tenant's events of those
-- actions through it and sorts them; the time range walks
-- audit_events_listing.
-- Each is one more entry per audited change (sign-in writes one event);
-- refresh rotations write no event and are untouched.
CREATE INDEX audit_events_by_actor ON audit_events (account_id, actor_user_id, created_at DESC, id DESC);
-- The user an event is about (core.TenantTx.AuditList): the resource for
-- events on a user, else the details' user_id (an owner acting on someone's
-- session), else, for events on a session, the actor. A stored generated
-- column, not an expression index: under row-level security PostgreSQL
-- uses a condition as an index condition only when every function in it is
-- leakproof, and jsonb's ->> and uuid's text output are not, so the
-- expression could never be an index condition for the runtime role; the
-- column's text equality is. Adding it rewrites audit_events once (an
-- ACCESS EXCLUSIVE lock for the length of a copy of the table).
ALTER TABLE audit_events ADD COLUMN subject_user_id text GENERATED ALWAYS AS (
    CASE WHEN resource_type = 'user' THEN resource_id
         ELSE coalesce(details ->> 'user_id', CASE WHEN resource_type = 'session' THEN actor_user_id::text END)
    END) STORED;
CREATE INDEX audit_events_by_subject ON audit_events (account_id, subject_user_id, created_at DESC, id DESC);
CREATE INDEX audit_events_by_session ON audit_events (account_id, resource_id, created_at DESC, id DESC)
    WHERE resource_type = 'session';

-- users: the member list's two orders and the email-prefix filter, a range
-- of text_pattern_ops operators (byte order whatever the database's
-- collation; leakproof, unlike LIKE, so an index condition under row-level
-- security). users change rarely; sign-in does not write them.
CREATE INDEX users_by_created ON users (account_id, created_at, id);
CREATE INDEX users_by_name ON users (account_id, name, id);
CREATE INDEX users_by_email ON users (account_id, email text_pattern_ops);

-- +goose Down
DROP INDEX IF EXISTS users_by_email;
DROP INDEX IF EXISTS users_by_name;
DROP INDEX IF EXISTS users_by_created;
DROP INDEX IF EXISTS audit_events_by_session;
DROP INDEX IF EXISTS audit_events_by_subject;
ALTER TABLE audit_events DROP COLUMN IF EXISTS subject_user_id;
DROP INDEX IF EXISTS audit_events_by_actor;
