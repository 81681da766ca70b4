-- +goose Up
-- The purge (docs/session-rules.md §5 and §9 "Expiry"; checklist VER-09)
-- also removes two kinds of dead rows that nothing removed:
--
--   * second-factor challenges (migrations/00015) that were used or have
--     expired, more than the retention ago: maintenance_purge_expired
--     deletes them with the sessions and reset tokens, and says how many;
--   * unverified registrations nobody verified nor reclaimed:
--     maintenance_purge_unverified_registrations, a function of its own,
--     because only the server knows whether EMAIL_VERIFICATION is
--     required — with it off, an unverified owner signs in and their
--     account is live, so the server calls it only when it is required.
--
-- The same safety as migrations/00004 and 00007: the database's clock
-- decides, the retention has a floor of one day whatever the caller
-- passes, each function takes its own advisory lock (instances purge in
-- turns), and every row removed is re-checked when it is removed. Neither
-- takes a time from its caller: the runtime role that may EXECUTE them
-- cannot make them remove anything live.

-- The unverified users, oldest first: the purge's candidates, and few
-- (a registration is verified or reclaimed within the verification TTL).
CREATE INDEX users_unverified ON users (created_at) WHERE email_verified_at IS NULL;

-- sessiond_janitor (migrations/00002): NOLOGIN on plain PostgreSQL, no
-- BYPASSRLS; only these functions run as it. It reads the columns the
-- decisions need, deletes challenges, accounts (whose rows go by their
-- foreign keys' cascades, as the reclaim of core.Register) and email keys
-- (user_emails has no foreign key), and locks — never updates — the
-- user and the account it is about to delete: UPDATE on one column with
-- a WITH CHECK (false) policy lets it take FOR UPDATE and nothing else.
GRANT SELECT (account_id, id, expires_at, used_at), DELETE ON mfa_challenges TO sessiond_janitor;
CREATE POLICY janitor_read ON mfa_challenges FOR SELECT TO sessiond_janitor USING (true);
CREATE POLICY janitor_purge ON mfa_challenges FOR DELETE TO sessiond_janitor USING (true);

GRANT SELECT (account_id, id, email, email_verified_at, created_at), UPDATE (email_verified_at) ON users TO sessiond_janitor;
CREATE POLICY janitor_read ON users FOR SELECT TO sessiond_janitor USING (true);
CREATE POLICY janitor_lock ON users FOR UPDATE TO sessiond_janitor USING (true) WITH CHECK (false);
GRANT SELECT (id), UPDATE (updated_at), DELETE ON accounts TO sessiond_janitor;
CREATE POLICY janitor_read ON accounts FOR SELECT TO sessiond_janitor USING (true);
CREATE POLICY janitor_lock ON accounts FOR UPDATE TO sessiond_janitor USING (true) WITH CHECK (false);
CREATE POLICY janitor_purge ON accounts FOR DELETE TO sessiond_janitor USING (true);
GRANT SELECT (email, account_id, user_id), DELETE ON user_emails TO sessiond_janitor;
CREATE POLICY janitor_read ON user_emails FOR SELECT TO sessiond_janitor USING (true);
CREATE POLICY janitor_purge ON user_emails FOR DELETE TO sessiond_janitor USING (true);
GRANT SELECT (account_id, user_id, expires_at, used_at) ON email_verification_tokens TO sessiond_janitor;
CREATE POLICY janitor_read ON email_verification_tokens FOR SELECT TO sessiond_janitor USING (true);
GRANT SELECT (account_id, accepted_at, revoked_at, expires_at) ON invitations TO sessiond_janitor;
CREATE POLICY janitor_read ON invitations FOR SELECT TO sessiond_janitor USING (true);
-- sessions and password_reset_tokens: janitor_read and the columns read
-- here (account_id, expires_at, used_at) since migrations/00002.

-- maintenance_purge_expired as in migrations/00007, plus the second-factor
-- challenges used or expired before the cutoff (a challenge lives minutes:
-- one past the cutoff can never be answered; kept until then for the
-- sign-in's forensics). The result gains a column: drop and create, with
-- the owner, grants and search_path as before.
DROP FUNCTION maintenance_purge_expired(interval, integer);
-- +goose StatementBegin
CREATE FUNCTION maintenance_purge_expired(p_retention interval, p_batch integer)
RETURNS TABLE (purged_sessions bigint, purged_reset_tokens bigint, purged_mfa_challenges bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_cutoff     timestamptz := pg_catalog.now() - GREATEST(p_retention, interval '1 day');
    v_batch      integer := GREATEST(p_batch, 0);
    v_sessions   bigint;
    v_tokens     bigint;
    v_challenges bigint;
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('sessiond.maintenance_purge_expired'));

    DELETE FROM public.sessions s
    WHERE (s.account_id, s.id) IN (
            SELECT x.account_id, x.id
            FROM public.sessions x
            WHERE x.absolute_expires_at < v_cutoff
            ORDER BY x.absolute_expires_at
            LIMIT v_batch)
      AND s.absolute_expires_at < v_cutoff;
    GET DIAGNOSTICS v_sessions = ROW_COUNT;

    DELETE FROM public.password_reset_tokens p
    WHERE (p.account_id, p.token_hash) IN (
            SELECT x.account_id, x.token_hash
            FROM public.password_reset_tokens x
            WHERE x.expires_at < pg_catalog.now() OR x.used_at < pg_catalog.now()
            LIMIT v_batch)
      AND (p.expires_at < pg_catalog.now() OR p.used_at < pg_catalog.now());
    GET DIAGNOSTICS v_tokens = ROW_COUNT;

    DELETE FROM public.mfa_challenges c
    WHERE (c.account_id, c.id) IN (
            SELECT x.account_id, x.id
            FROM public.mfa_challenges x
            WHERE x.expires_at < v_cutoff OR x.used_at < v_cutoff
            LIMIT v_batch)
      AND (c.expires_at < v_cutoff OR c.used_at < v_cutoff);
    GET DIAGNOSTICS v_challenges = ROW_COUNT;

    purged_sessions := v_sessions;
    purged_reset_tokens := v_tokens;
    purged_mfa_challenges := v_challenges;
    RETURN NEXT;
END
$$;
-- +goose StatementEnd
ALTER FUNCTION maintenance_purge_expired(interval, integer) OWNER TO sessiond_janitor;
REVOKE ALL ON FUNCTION maintenance_purge_expired(interval, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION maintenance_purge_expired(interval, integer) TO sessiond_app;

-- maintenance_purge_unverified_registrations removes at most p_batch
-- registrations that can no longer be verified, and returns how many. A
-- registration is its account, the account's one user — unverified — and
-- that user's verification tokens; it is dead when every one of those
-- tokens expired before the cutoff (now, by the database's clock, minus
-- the retention, at least a day) and none was used. What it owns goes
-- with the account by the foreign keys' cascades (the user, the tokens,
-- the account.created audit event, any webhook rows), and its email
-- key is deleted (no foreign key): the email is free, as a new
-- registration's reclaim would have made it. The brute-force and mail-rate
-- counters of the address are keyed by a hash of the email, not by the
-- account: they expire on their own (maintenance_purge_login_throttle).
--
-- Never removed: a verified user, a user without any verification token
-- (created without the verification flow), an account with another user,
-- a session, a pending invitation or a usable password-reset token (the
-- owner may still prove the mailbox with it: core verifiedByMail). The
-- batch is chosen by all of these conditions (a registration kept for one
-- of them never takes a batch's place, so the purge always progresses);
-- each candidate is then locked — its user, then its account, the order of
-- the reclaim — and judged again by a statement run after the locks: a
-- verification, a resend or anything else that writes a row of the
-- account (every such row's foreign key share-locks the account) either
-- committed before, and is seen, or waits and then fails its foreign key.
-- Every statement after the batch's selection pins the tenant (single
-- shard on Citus); the selection reads every shard without locking.
-- +goose StatementBegin
CREATE FUNCTION maintenance_purge_unverified_registrations(p_retention interval, p_batch integer)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_cutoff   timestamptz := pg_catalog.now() - GREATEST(p_retention, interval '1 day');
    v_accounts uuid[];
    v_users    uuid[];
    v_account  uuid;
    v_user     uuid;
    v_email    text;
    v_dead     boolean;
    n          bigint := 0;
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('sessiond.maintenance_purge_unverified_registrations'));

    SELECT coalesce(array_agg(c.account_id), '{}'), coalesce(array_agg(c.id), '{}')
    INTO v_accounts, v_users
    FROM (
        SELECT u.account_id, u.id
        FROM public.users u
        WHERE u.email_verified_at IS NULL
          AND u.created_at < v_cutoff
          AND NOT EXISTS (SELECT 1 FROM public.users o
                          WHERE o.account_id = u.account_id AND (o.id <> u.id OR o.email_verified_at IS NOT NULL))
          AND EXISTS (SELECT 1 FROM public.email_verification_tokens t
                      WHERE t.account_id = u.account_id AND t.user_id = u.id)
          AND NOT EXISTS (SELECT 1 FROM public.email_verification_tokens t
                          WHERE t.account_id = u.account_id AND (t.expires_at >= v_cutoff OR t.used_at IS NOT NULL))
          AND NOT EXISTS (SELECT 1 FROM public.sessions s WHERE s.account_id = u.account_id)
          AND NOT EXISTS (SELECT 1 FROM public.invitations i
                          WHERE i.account_id = u.account_id AND i.accepted_at IS NULL AND i.revoked_at IS NULL
                            AND i.expires_at > pg_catalog.now())
          AND NOT EXISTS (SELECT 1 FROM public.password_reset_tokens p
                          WHERE p.account_id = u.account_id AND p.used_at IS NULL AND p.expires_at > pg_catalog.now())
        ORDER BY u.created_at
        LIMIT GREATEST(p_batch, 0)) c;

    FOR i IN 1 .. coalesce(array_length(v_accounts, 1), 0) LOOP
        v_account := v_accounts[i];
        v_user := v_users[i];
        SELECT u.email INTO v_email
        FROM public.users u
        WHERE u.account_id = v_account AND u.id = v_user AND u.email_verified_at IS NULL
        FOR UPDATE;
        CONTINUE WHEN NOT FOUND;
        PERFORM 1 FROM public.accounts a WHERE a.id = v_account FOR UPDATE;
        CONTINUE WHEN NOT FOUND;
        SELECT NOT EXISTS (SELECT 1 FROM public.users o
                           WHERE o.account_id = v_account AND (o.id <> v_user OR o.email_verified_at IS NOT NULL))
           AND EXISTS (SELECT 1 FROM public.email_verification_tokens t
                       WHERE t.account_id = v_account AND t.user_id = v_user)
           AND NOT EXISTS (SELECT 1 FROM public.email_verification_tokens t
                           WHERE t.account_id = v_account AND (t.expires_at >= v_cutoff OR t.used_at IS NOT NULL))
           AND NOT EXISTS (SELECT 1 FROM public.sessions s WHERE s.account_id = v_account)
           AND NOT EXISTS (SELECT 1 FROM public.invitations i
                           WHERE i.account_id = v_account AND i.accepted_at IS NULL AND i.revoked_at IS NULL
                             AND i.expires_at > pg_catalog.now())
           AND NOT EXISTS (SELECT 1 FROM public.password_reset_tokens p
                           WHERE p.account_id = v_account AND p.used_at IS NULL AND p.expires_at > pg_catalog.now())
        INTO v_dead;
        CONTINUE WHEN NOT v_dead;
        DELETE FROM public.user_emails e WHERE e.email = v_email AND e.account_id = v_account AND e.user_id = v_user;
        DELETE FROM public.accounts a WHERE a.id = v_account;
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;
-- +goose StatementEnd
ALTER FUNCTION maintenance_purge_unverified_registrations(interval, integer) OWNER TO sessiond_janitor;
REVOKE ALL ON FUNCTION maintenance_purge_unverified_registrations(interval, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION maintenance_purge_unverified_registrations(interval, integer) TO sessiond_app;

-- +goose Down
DROP FUNCTION IF EXISTS maintenance_purge_unverified_registrations(interval, integer);
DROP FUNCTION IF EXISTS maintenance_purge_expired(interval, integer);
-- +goose StatementBegin
CREATE FUNCTION maintenance_purge_expired(p_retention interval, p_batch integer)
RETURNS TABLE (purged_sessions bigint, purged_reset_tokens bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_cutoff   timestamptz := pg_catalog.now() - GREATEST(p_retention, interval '1 day');
    v_batch    integer := GREATEST(p_batch, 0);
    v_sessions bigint;
    v_tokens   bigint;
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('sessiond.maintenance_purge_expired'));

    DELETE FROM public.sessions s
    WHERE (s.account_id, s.id) IN (
            SELECT x.account_id, x.id
            FROM public.sessions x
            WHERE x.absolute_expires_at < v_cutoff
            ORDER BY x.absolute_expires_at
            LIMIT v_batch)
      AND s.absolute_expires_at < v_cutoff;
    GET DIAGNOSTICS v_sessions = ROW_COUNT;

    DELETE FROM public.password_reset_tokens p
    WHERE (p.account_id, p.token_hash) IN (
            SELECT x.account_id, x.token_hash
            FROM public.password_reset_tokens x
            WHERE x.expires_at < pg_catalog.now() OR x.used_at < pg_catalog.now()
            LIMIT v_batch)
      AND (p.expires_at < pg_catalog.now() OR p.used_at < pg_catalog.now());
    GET DIAGNOSTICS v_tokens = ROW_COUNT;

    purged_sessions := v_sessions;
    purged_reset_tokens := v_tokens;
    RETURN NEXT;
END
$$;
-- +goose StatementEnd
ALTER FUNCTION maintenance_purge_expired(interval, integer) OWNER TO sessiond_janitor;
REVOKE ALL ON FUNCTION maintenance_purge_expired(interval, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION maintenance_purge_expired(interval, integer) TO sessiond_app;
DROP POLICY IF EXISTS janitor_read ON invitations;
DROP POLICY IF EXISTS janitor_read ON email_verification_tokens;
DROP POLICY IF EXISTS janitor_read ON user_emails;
DROP POLICY IF EXISTS janitor_purge ON user_emails;
DROP POLICY IF EXISTS janitor_read ON accounts;
DROP POLICY IF EXISTS janitor_lock ON accounts;
DROP POLICY IF EXISTS janitor_purge ON accounts;
DROP POLICY IF EXISTS janitor_read ON users;
DROP POLICY IF EXISTS janitor_lock ON users;
DROP POLICY IF EXISTS janitor_read ON mfa_challenges;
DROP POLICY IF EXISTS janitor_purge ON mfa_challenges;
REVOKE ALL ON invitations, email_verification_tokens, user_emails, accounts, users, mfa_challenges FROM sessiond_janitor;
DROP INDEX IF EXISTS users_unverified;
