-- +goose Up
-- Verified emails and invitations (docs/session-rules.md, "Verified emails"
-- and "Invitations").
--
-- users.email_verified_at: when the person proved they read mail at the
-- address (a verification link, or an accepted invitation). NULL is an
-- unverified registration: it cannot sign in, and a new registration of the
-- same email reclaims it. Every user that exists before this migration was
-- created without the rule and is taken as verified (their creation time).
ALTER TABLE users ADD COLUMN email_verified_at timestamptz;
-- users has FORCE ROW LEVEL SECURITY, which binds its owner (the migrating
-- role) too; lifted for this statement only, as in 00007.
ALTER TABLE users NO FORCE ROW LEVEL SECURITY;
UPDATE users SET email_verified_at = created_at;
ALTER TABLE users FORCE ROW LEVEL SECURITY;

-- Email-verification tokens: exactly the shape of password_reset_tokens
-- (00002), for the same reasons. SHA-256 of the token; the raw token exists
-- only in the mail.
CREATE TABLE email_verification_tokens (
    account_id uuid        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    token_hash bytea       NOT NULL,
    user_id    uuid        NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (account_id, token_hash),
    FOREIGN KEY (account_id, user_id) REFERENCES users (account_id, id) ON DELETE CASCADE,
    CHECK (expires_at > created_at)
);
CREATE INDEX email_verification_tokens_token_hash ON email_verification_tokens (token_hash);

-- Invitations: an owner invites an email with a role; the invitee accepts
-- with the mailed token. The token is stored hashed; a resend replaces the
-- hash (the earlier link stops working) and restarts the lifetime.
-- invited_by has no foreign key: the inviter may be removed, the
-- invitation (and its audit trail) stays.
CREATE TABLE invitations (
    account_id       uuid        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id               uuid        NOT NULL,
    email            text        NOT NULL CHECK (email = lower(email)),
    account_role     text        NOT NULL CHECK (account_role IN ('owner', 'member')),
    token_hash       bytea       NOT NULL,
    invited_by       uuid,
    created_at       timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL,
    last_sent_at     timestamptz NOT NULL,
    send_count       integer     NOT NULL DEFAULT 1,
    accepted_at      timestamptz,
    accepted_user_id uuid,
    revoked_at       timestamptz,
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, token_hash),
    CHECK (expires_at > created_at)
);
CREATE INDEX invitations_token_hash ON invitations (token_hash);
-- The owner's list of pending invitations, oldest first (keyset on
-- created_at, id).
CREATE INDEX invitations_pending ON invitations (account_id, created_at, id)
    WHERE accepted_at IS NULL AND revoked_at IS NULL;

-- SECURITY: tenant isolation, exactly as for the other tenant tables.
ALTER TABLE email_verification_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE email_verification_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON email_verification_tokens FOR ALL
    USING (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid)
    WITH CHECK (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid);
ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON invitations FOR ALL
    USING (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid)
    WITH CHECK (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid);

-- Neither is deleted by the runtime role: tokens are marked used,
-- invitations accepted or revoked.
GRANT SELECT, INSERT, UPDATE ON email_verification_tokens, invitations TO sessiond_app;

-- SECURITY: the narrow pre-tenant paths, as auth_password_reset_account
-- (00002, 00007): the token is all the caller has; each returns only the
-- tenant the token belongs to (or NULL), and the token is then locked and
-- judged in that tenant's transaction.
GRANT SELECT (account_id, token_hash) ON email_verification_tokens, invitations TO sessiond_definer;
CREATE POLICY definer_lookup ON email_verification_tokens FOR SELECT TO sessiond_definer USING (true);
CREATE POLICY definer_lookup ON invitations FOR SELECT TO sessiond_definer USING (true);

-- +goose StatementBegin
CREATE FUNCTION auth_email_verification_account(p_token_hash bytea)
RETURNS uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (SELECT t.account_id FROM public.email_verification_tokens t WHERE t.token_hash = p_token_hash LIMIT 1);
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION auth_invitation_account(p_token_hash bytea)
RETURNS uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (SELECT i.account_id FROM public.invitations i WHERE i.token_hash = p_token_hash LIMIT 1);
END
$$;
-- +goose StatementEnd

-- auth_user_for_login also says whether the email is verified, so that
-- sign-in answers an unverified registration (after a correct password)
-- without another round trip. The return type changes: drop and create,
-- with the same owner, grants and search_path as 00007.
DROP FUNCTION auth_user_for_login(text);
GRANT SELECT (email_verified_at) ON users TO sessiond_definer;
-- +goose StatementBegin
CREATE FUNCTION auth_user_for_login(p_email text)
RETURNS TABLE (user_id uuid, account_id uuid, password_hash text, is_active boolean, account_role text, email_verified boolean)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_account_id uuid;
    v_user_id    uuid;
BEGIN
    SELECT e.account_id, e.user_id INTO v_account_id, v_user_id
    FROM public.user_emails e
    WHERE e.email = p_email;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT u.id, u.account_id, u.password_hash, u.is_active, u.account_role, u.email_verified_at IS NOT NULL
        FROM public.users u
        WHERE u.account_id = v_account_id AND u.id = v_user_id;
END
$$;
-- +goose StatementEnd

ALTER FUNCTION auth_user_for_login(text) OWNER TO sessiond_definer;
ALTER FUNCTION auth_email_verification_account(bytea) OWNER TO sessiond_definer;
ALTER FUNCTION auth_invitation_account(bytea) OWNER TO sessiond_definer;
REVOKE ALL ON FUNCTION auth_user_for_login(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION auth_email_verification_account(bytea) FROM PUBLIC;
REVOKE ALL ON FUNCTION auth_invitation_account(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_user_for_login(text) TO sessiond_app;
GRANT EXECUTE ON FUNCTION auth_email_verification_account(bytea) TO sessiond_app;
GRANT EXECUTE ON FUNCTION auth_invitation_account(bytea) TO sessiond_app;

-- +goose Down
DROP FUNCTION IF EXISTS auth_user_for_login(text);
-- +goose StatementBegin
CREATE FUNCTION auth_user_for_login(p_email text)
RETURNS TABLE (user_id uuid, account_id uuid, password_hash text, is_active boolean, account_role text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_account_id uuid;
    v_user_id    uuid;
BEGIN
    SELECT e.account_id, e.user_id INTO v_account_id, v_user_id
    FROM public.user_emails e
    WHERE e.email = p_email;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT u.id, u.account_id, u.password_hash, u.is_active, u.account_role
        FROM public.users u
        WHERE u.account_id = v_account_id AND u.id = v_user_id;
END
$$;
-- +goose StatementEnd
ALTER FUNCTION auth_user_for_login(text) OWNER TO sessiond_definer;
REVOKE ALL ON FUNCTION auth_user_for_login(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_user_for_login(text) TO sessiond_app;
DROP FUNCTION IF EXISTS auth_invitation_account(bytea);
DROP FUNCTION IF EXISTS auth_email_verification_account(bytea);
DROP TABLE IF EXISTS invitations;
DROP TABLE IF EXISTS email_verification_tokens;
REVOKE SELECT (email_verified_at) ON users FROM sessiond_definer;
ALTER TABLE users DROP COLUMN IF EXISTS email_verified_at;
