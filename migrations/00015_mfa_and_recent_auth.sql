-- +goose Up
-- Second factor (TOTP, RFC 6238) and recent authentication
-- (docs/session-rules.md §11, docs/architecture.md "Second factor").
--
-- A factor is a row of auth_factors, not columns on users, so another kind
-- (a passkey) is another row with its own kind and amr value. Every table
-- is a tenant table: account_id, forced row-level security, distributed by
-- account_id on Citus (migrations/citus/distribute.sql).

-- The assurance a session was signed in with, and when it last proved it.
--   aal            1 (password) or 2 (password and a second factor)
--   amr            RFC 8176 methods of the latest authentication ('pwd', 'otp')
--   last_auth_at   the latest authentication (sign-in or reauthenticate);
--                  NULL on sessions from before this migration: auth_time
--   mfa_enrol_only signed in under a policy that requires a second factor
--                  the user has not enrolled: the session may only enrol
ALTER TABLE sessions
    ADD COLUMN aal smallint NOT NULL DEFAULT 1 CHECK (aal IN (1, 2)),
    ADD COLUMN amr text[] NOT NULL DEFAULT '{pwd}',
    ADD COLUMN last_auth_at timestamptz,
    ADD COLUMN mfa_enrol_only boolean NOT NULL DEFAULT false;

-- The tenant's policy (NULL = system default, as for the other fields).
ALTER TABLE accounts
    ADD COLUMN mfa_required text CHECK (mfa_required IN ('off', 'owners', 'all')),
    ADD COLUMN reauth_max_age_minutes integer CHECK (reauth_max_age_minutes BETWEEN 1 AND 1440);

CREATE TABLE auth_factors (
    account_id     uuid        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id             uuid        NOT NULL,
    user_id        uuid        NOT NULL,
    kind           text        NOT NULL CHECK (kind IN ('totp')),
    -- The TOTP secret sealed with AES-256-GCM under the server's
    -- MFA_ENCRYPTION_KEY (nonce || ciphertext); never stored in clear.
    secret_sealed  bytea       NOT NULL,
    -- NULL until the first code confirms the enrolment.
    confirmed_at   timestamptz,
    -- The newest TOTP time step accepted: a code of this step or an
    -- earlier one is refused (replay).
    last_used_step bigint,
    created_at     timestamptz NOT NULL,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, user_id) REFERENCES users (account_id, id) ON DELETE CASCADE
);
-- One factor of each kind per user (a re-enrolment replaces it).
CREATE UNIQUE INDEX auth_factors_user_kind ON auth_factors (account_id, user_id, kind);

CREATE TABLE recovery_codes (
    account_id uuid        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    user_id    uuid        NOT NULL,
    -- SHA-256 of the code; the code itself is shown once.
    code_hash  bytea       NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (account_id, user_id, code_hash),
    FOREIGN KEY (account_id, user_id) REFERENCES users (account_id, id) ON DELETE CASCADE
);

CREATE TABLE mfa_challenges (
    account_id uuid        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id         uuid        NOT NULL,
    user_id    uuid        NOT NULL,
    -- SHA-256 of the challenge token; the token exists only in the answer
    -- to the sign-in.
    token_hash bytea       NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    attempts   integer     NOT NULL DEFAULT 0,
    ip_address inet,
    user_agent text,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, user_id) REFERENCES users (account_id, id) ON DELETE CASCADE,
    CHECK (expires_at > created_at)
);
CREATE INDEX mfa_challenges_token_hash ON mfa_challenges (token_hash);

-- SECURITY: tenant isolation, exactly as for the other tenant tables.
ALTER TABLE auth_factors ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth_factors FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON auth_factors FOR ALL
    USING (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid)
    WITH CHECK (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid);
ALTER TABLE recovery_codes ENABLE ROW LEVEL SECURITY;
ALTER TABLE recovery_codes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON recovery_codes FOR ALL
    USING (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid)
    WITH CHECK (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid);
ALTER TABLE mfa_challenges ENABLE ROW LEVEL SECURITY;
ALTER TABLE mfa_challenges FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON mfa_challenges FOR ALL
    USING (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid)
    WITH CHECK (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid);

GRANT SELECT, INSERT, UPDATE, DELETE ON auth_factors, recovery_codes TO sessiond_app;
GRANT SELECT, INSERT, UPDATE ON mfa_challenges TO sessiond_app;

-- SECURITY: the narrow pre-tenant path for the second step of a sign-in,
-- as for reset tokens: the challenge token is all the caller has; this
-- returns only the tenant and the user it belongs to (no row when
-- unknown) — the user names the second-factor counter checked before the
-- tenant transaction — and the challenge is locked and judged in that
-- tenant's transaction.
GRANT SELECT (account_id, user_id, token_hash) ON mfa_challenges TO sessiond_definer;
CREATE POLICY definer_lookup ON mfa_challenges FOR SELECT TO sessiond_definer USING (true);

-- +goose StatementBegin
CREATE FUNCTION auth_mfa_challenge_owner(p_token_hash bytea)
RETURNS TABLE (account_id uuid, user_id uuid)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY SELECT c.account_id, c.user_id FROM public.mfa_challenges c WHERE c.token_hash = p_token_hash LIMIT 1;
END
$$;
-- +goose StatementEnd
ALTER FUNCTION auth_mfa_challenge_owner(bytea) OWNER TO sessiond_definer;
REVOKE ALL ON FUNCTION auth_mfa_challenge_owner(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_mfa_challenge_owner(bytea) TO sessiond_app;

-- +goose Down
DROP FUNCTION IF EXISTS auth_mfa_challenge_owner(bytea);
DROP TABLE IF EXISTS mfa_challenges;
DROP TABLE IF EXISTS recovery_codes;
DROP TABLE IF EXISTS auth_factors;
ALTER TABLE accounts DROP COLUMN IF EXISTS reauth_max_age_minutes, DROP COLUMN IF EXISTS mfa_required;
ALTER TABLE sessions DROP COLUMN IF EXISTS mfa_enrol_only, DROP COLUMN IF EXISTS last_auth_at,
    DROP COLUMN IF EXISTS amr, DROP COLUMN IF EXISTS aal;
