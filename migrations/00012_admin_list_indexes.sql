-- +goose Up
-- The owner's lists answer precisely (GET /accounts/me/members and
-- /accounts/me/audit-events with their filters): each filter is an index
-- condition, so a page costs about its own size whatever the size of the
-- tenant's trail (adapters/postgres/explain_test.go proves the plans).
--
-- audit_events: one index per filter, each ending in the listing's order
-- (created_at DESC, id DESC) so the newest matching rows are read first and
-- LIMIT stops the walk. Exact and prefix action filters use
-- audit_events_by_action (00001); the time range, audit_events_listing.
-- Each is one more entry per audited change (sign-in writes one event);
-- refresh rotations write no event and are untouched.
CREATE INDEX audit_events_by_actor ON audit_events (account_id, actor_user_id, created_at DESC, id DESC);
-- The user an event is about (core.TenantTx.AuditList): the resource for
-- events on a user, else the details' user_id, else, for events on a
-- session, the actor. queries/audit_events.sql writes the same expression.
CREATE INDEX audit_events_by_subject ON audit_events (
    account_id,
    (CASE WHEN resource_type = 'user' THEN resource_id
          ELSE coalesce(details ->> 'user_id', CASE WHEN resource_type = 'session' THEN actor_user_id::text END)
     END),
    created_at DESC, id DESC);
CREATE INDEX audit_events_by_session ON audit_events (account_id, resource_id, created_at DESC, id DESC)
    WHERE resource_type = 'session';

-- users: the member list's two orders and the email-prefix filter
-- (text_pattern_ops: LIKE 'prefix%' as an index range whatever the
-- database's collation). users change rarely; sign-in does not write them.
CREATE INDEX users_by_created ON users (account_id, created_at, id);
CREATE INDEX users_by_name ON users (account_id, name, id);
CREATE INDEX users_by_email ON users (account_id, email text_pattern_ops);

-- +goose Down
DROP INDEX IF EXISTS users_by_email;
DROP INDEX IF EXISTS users_by_name;
DROP INDEX IF EXISTS users_by_created;
DROP INDEX IF EXISTS audit_events_by_session;
DROP INDEX IF EXISTS audit_events_by_subject;
DROP INDEX IF EXISTS audit_events_by_actor;
