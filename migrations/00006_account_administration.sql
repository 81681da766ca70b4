-- +goose Up
-- Account administration (docs/session-rules.md §5): the per-user session limit of the
-- tenant policy.
--
-- max_sessions_per_user: how many live sessions one user of the account may
-- hold; NULL = unlimited (the default). The bounds 1..100 are the product's
-- (core checks them first and answers 422 policy_out_of_bounds naming the
-- field); the CHECK is the database's own guarantee.
-- session_limit_action: what a sign-in beyond the limit does.
--   evict_oldest  the sign-in succeeds; the user's least recently used live
--                 sessions beyond the limit are revoked (reason 'evicted').
--   deny          the sign-in is refused (409 session_limit_reached).
-- Enforced inside the sign-in transaction with the user's row locked, so
-- concurrent sign-ins of one user are counted one after the other.
ALTER TABLE accounts
    ADD COLUMN max_sessions_per_user integer
        CONSTRAINT accounts_max_sessions_per_user_bounds CHECK (max_sessions_per_user BETWEEN 1 AND 100),
    ADD COLUMN session_limit_action text NOT NULL DEFAULT 'evict_oldest'
        CONSTRAINT accounts_session_limit_action_known CHECK (session_limit_action IN ('evict_oldest', 'deny'));

-- The account-wide session list (GET /accounts/me/sessions) orders by
-- (last_used_at DESC, id DESC). No index is added for that order, on
-- purpose: last_used_at changes on every refresh, and an index on it would
-- make every rotation a non-HOT update (a new entry in every index of
-- sessions, plus index bloat) on the service's hottest write path, to speed
-- up a rare owner-only read. Instead the list reads the account's live
-- sessions through sessions_live_by_user (account_id, user_id) WHERE
-- revoked_at IS NULL (an index scan on its account_id prefix, never a
-- sequential scan of every tenant's sessions; with the user_id filter, an
-- exact index match) and keeps the top page with a bounded top-N sort. A
-- page therefore costs O(live sessions of the account), not O(page): fine
-- for thousands of live sessions per account. Should an account outgrow
-- that, the alternative is
--   CREATE INDEX sessions_live_by_activity ON sessions
--       (account_id, last_used_at DESC, id DESC) WHERE revoked_at IS NULL;
-- at the price above on every refresh.

-- +goose Down
ALTER TABLE accounts
    DROP COLUMN IF EXISTS session_limit_action,
    DROP COLUMN IF EXISTS max_sessions_per_user;
