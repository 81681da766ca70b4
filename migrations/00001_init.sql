-- +goose Up
-- Schema, roles and row-level security for the session service.
--
-- Roles (cluster-wide, created idempotently because several databases of one
-- cluster may be migrated at once, e.g. by parallel test packages):
--   sessiond_app      the runtime role the server logs in as. Not superuser,
--                     no BYPASSRLS, owns nothing: row-level security always
--                     applies to it.
--   sessiond_definer  owns the few SECURITY DEFINER functions that run before
--                     the tenant is known (login by email, refresh-token
--                     tenant, session liveness). No login, no BYPASSRLS: it
--                     reads through its own narrow SELECT policies.
-- +goose StatementBegin
DO $$
BEGIN
    BEGIN
        CREATE ROLE sessiond_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
    BEGIN
        CREATE ROLE sessiond_definer NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
END
$$;
-- +goose StatementEnd

GRANT USAGE ON SCHEMA public TO sessiond_app, sessiond_definer;

CREATE TABLE accounts (
    id                       uuid        PRIMARY KEY,
    name                     text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- Session-policy override; NULL means "use the system default".
    session_idle_minutes     integer     CHECK (session_idle_minutes > 0),
    session_absolute_minutes integer     CHECK (session_absolute_minutes > 0),
    created_at               timestamptz NOT NULL,
    updated_at               timestamptz NOT NULL,
    -- Only the both-set case can be checked here; the effective-value
    -- invariant (override or default) is enforced by core.
    CONSTRAINT accounts_idle_le_absolute CHECK (
        session_idle_minutes IS NULL OR session_absolute_minutes IS NULL
        OR session_idle_minutes <= session_absolute_minutes)
);

CREATE TABLE users (
    account_id    uuid        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id            uuid        NOT NULL,
    -- Stored normalised (trimmed, lower-case). Unique across the whole
    -- service because sign-in takes only an email (product decision).
    email         text        NOT NULL CHECK (email = lower(email)),
    name          text        NOT NULL,
    password_hash text        NOT NULL,
    account_role  text        NOT NULL CHECK (account_role IN ('owner', 'member')),
    is_active     boolean     NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (account_id, id)
);
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE sessions (
    account_id          uuid        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id                  uuid        NOT NULL,
    user_id             uuid        NOT NULL,
    device_name         text,
    device_id           text,
    ip_address          inet,
    user_agent          text,
    -- Policy snapshot taken at sign-in; carried forward on every rotation.
    auth_time           timestamptz NOT NULL,
    idle_seconds        integer     NOT NULL CHECK (idle_seconds > 0),
    absolute_seconds    integer     NOT NULL CHECK (absolute_seconds > 0),
    created_at          timestamptz NOT NULL,
    last_used_at        timestamptz NOT NULL,
    idle_expires_at     timestamptz NOT NULL,
    absolute_expires_at timestamptz NOT NULL,
    -- Rotation state of the family. The session row is the lock point of
    -- every rotation and revocation, so these columns are always read fresh
    -- under FOR UPDATE. Only SHA-256 hashes of jtis are stored; the current
    -- jti is kept sealed under a key derived from the previous (raw) jti, so
    -- only a holder of the parent token can recover it (grace-window answer).
    current_jti_hash    bytea       NOT NULL,
    previous_jti_hash   bytea,
    current_jti_sealed  bytea,
    rotated_at          timestamptz,
    generation          integer     NOT NULL DEFAULT 0,
    revoked_at          timestamptz,
    revoke_reason       text,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, user_id) REFERENCES users (account_id, id) ON DELETE CASCADE,
    CHECK (idle_seconds <= absolute_seconds)
);
CREATE INDEX sessions_live_by_user ON sessions (account_id, user_id) WHERE revoked_at IS NULL;
CREATE INDEX sessions_absolute_expires_at ON sessions (absolute_expires_at);

CREATE TABLE refresh_tokens (
    account_id uuid        NOT NULL,
    -- SHA-256 of the token's jti; the raw token or jti is never stored.
    jti_hash   bytea       NOT NULL,
    session_id uuid        NOT NULL,
    issued_at  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz,
    PRIMARY KEY (account_id, jti_hash),
    FOREIGN KEY (account_id, session_id) REFERENCES sessions (account_id, id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_jti_hash ON refresh_tokens (jti_hash);
CREATE INDEX refresh_tokens_session ON refresh_tokens (account_id, session_id);

CREATE TABLE audit_events (
    account_id    uuid        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id            uuid        NOT NULL,
    actor_user_id uuid,
    action        text        NOT NULL,
    resource_type text        NOT NULL,
    resource_id   text,
    details       jsonb       NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(details) = 'object'),
    ip_address    inet,
    user_agent    text,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (account_id, id)
);
CREATE INDEX audit_events_listing ON audit_events (account_id, created_at DESC, id DESC);
CREATE INDEX audit_events_by_action ON audit_events (account_id, action, created_at DESC, id DESC);

-- SECURITY: tenant isolation. Every tenant table has RLS enabled and forced
-- (so even the table owner is subject to it) with one policy covering ALL
-- commands, USING and WITH CHECK alike. NULLIF: after a transaction-local
-- set_config commits, the setting reads '' (not NULL) on that connection, and
-- ''::uuid would raise; NULLIF turns it into "no tenant" → no rows.
ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE accounts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON accounts FOR ALL
    USING (id = NULLIF(current_setting('app.account_id', true), '')::uuid)
    WITH CHECK (id = NULLIF(current_setting('app.account_id', true), '')::uuid);

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON users FOR ALL
    USING (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid)
    WITH CHECK (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid);

ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sessions FOR ALL
    USING (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid)
    WITH CHECK (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid);

ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON refresh_tokens FOR ALL
    USING (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid)
    WITH CHECK (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid);

ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_events FOR ALL
    USING (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid)
    WITH CHECK (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid);

-- Runtime privileges. Audit events are append-only for the runtime role.
GRANT SELECT, INSERT, UPDATE, DELETE ON accounts, users, sessions, refresh_tokens TO sessiond_app;
GRANT SELECT, INSERT ON audit_events TO sessiond_app;

-- SECURITY: the narrow pre-tenant path. sessiond_definer may read exactly the
-- columns these functions need, through SELECT-only policies of its own; the
-- runtime role can only call the functions, which return only what the caller
-- needs next.
GRANT SELECT (account_id, id, email, password_hash, is_active, account_role) ON users TO sessiond_definer;
GRANT SELECT (account_id, jti_hash) ON refresh_tokens TO sessiond_definer;
GRANT SELECT (account_id, id, revoked_at, idle_expires_at, absolute_expires_at) ON sessions TO sessiond_definer;
CREATE POLICY definer_lookup ON users FOR SELECT TO sessiond_definer USING (true);
CREATE POLICY definer_lookup ON refresh_tokens FOR SELECT TO sessiond_definer USING (true);
CREATE POLICY definer_lookup ON sessions FOR SELECT TO sessiond_definer USING (true);

-- auth_user_for_login: the credentials of one user by normalised email.
CREATE FUNCTION auth_user_for_login(p_email text)
RETURNS TABLE (user_id uuid, account_id uuid, password_hash text, is_active boolean, account_role text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT u.id, u.account_id, u.password_hash, u.is_active, u.account_role
    FROM public.users u
    WHERE u.email = p_email
$$;

-- auth_refresh_token_account: the tenant of a refresh token, for tokens that
-- do not carry the tid claim (issued before it existed).
CREATE FUNCTION auth_refresh_token_account(p_jti_hash bytea)
RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT rt.account_id FROM public.refresh_tokens rt WHERE rt.jti_hash = p_jti_hash LIMIT 1
$$;

-- auth_session_is_live: one round trip per authenticated request, so that a
-- revoked session stops its access tokens at once.
CREATE FUNCTION auth_session_is_live(p_account_id uuid, p_session_id uuid, p_now timestamptz)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (
        SELECT 1 FROM public.sessions s
        WHERE s.account_id = p_account_id AND s.id = p_session_id
          AND s.revoked_at IS NULL
          AND s.absolute_expires_at > p_now
          AND s.idle_expires_at > p_now)
$$;

ALTER FUNCTION auth_user_for_login(text) OWNER TO sessiond_definer;
ALTER FUNCTION auth_refresh_token_account(bytea) OWNER TO sessiond_definer;
ALTER FUNCTION auth_session_is_live(uuid, uuid, timestamptz) OWNER TO sessiond_definer;
REVOKE ALL ON FUNCTION auth_user_for_login(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION auth_refresh_token_account(bytea) FROM PUBLIC;
REVOKE ALL ON FUNCTION auth_session_is_live(uuid, uuid, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_user_for_login(text) TO sessiond_app;
GRANT EXECUTE ON FUNCTION auth_refresh_token_account(bytea) TO sessiond_app;
GRANT EXECUTE ON FUNCTION auth_session_is_live(uuid, uuid, timestamptz) TO sessiond_app;

-- +goose Down
DROP FUNCTION IF EXISTS auth_session_is_live(uuid, uuid, timestamptz);
DROP FUNCTION IF EXISTS auth_refresh_token_account(bytea);
DROP FUNCTION IF EXISTS auth_user_for_login(text);
DROP TABLE IF EXISTS audit_events;
DROP TABLE IF EXISTS refresh_tokens;
DROP TABLE IF EXISTS sessions;
DROP TABLE IF EXISTS users;
DROP TABLE IF EXISTS accounts;
