-- +goose Up
-- Security events out of the database (adapters/audit, README "Webhooks")
-- and a bounded audit trail.
--
-- 1. The audit table is the outbox. A committed audit row is the event;
--    nothing is delivered that did not commit, and nothing committed is
--    lost when a process dies (the delivery state lives here, not in
--    memory). The delivery worker stamps each committed event of an account
--    that has webhook endpoints with the account's next sequence number
--    (audit_events.delivery_seq, in the order the events are found:
--    created_at, then id), and each endpoint keeps a cursor, the last
--    sequence number it has delivered (or skipped, for event types it does
--    not want). Deliveries per endpoint go one at a time in sequence order
--    and carry the number. Events of accounts without endpoints are never
--    stamped (delivery_seq stays NULL): no write on them.
-- 2. Several instances: an instance leases an account (webhook_streams,
--    a conditional UPDATE pinned by account_id; no SKIP LOCKED across
--    tenants, no cross-shard lock) before it stamps or delivers for it,
--    so each event goes out once in the normal case; after a crash the
--    lease runs out and another instance delivers what was not recorded
--    as delivered, with the same webhook-id.
-- 3. Audit storage is bounded: audit_events is partitioned by week of
--    created_at; expired weeks are dropped whole (audit_partitions_maintain).

-- (1) The stamp. The runtime role may set delivery_seq and no other column:
-- the rest of an audit row stays append-only (AUD-01).
ALTER TABLE audit_events ADD COLUMN delivery_seq bigint;

-- Per-tenant audit retention (days; NULL = the server's default). The
-- bounds are the server's settings (core checks them first); the CHECK is
-- the database's own outer bound.
ALTER TABLE accounts ADD COLUMN audit_retention_days integer
    CONSTRAINT accounts_audit_retention_days_bounds CHECK (audit_retention_days BETWEEN 1 AND 3660);

-- (3) audit_events becomes a partitioned table, by range of created_at.
-- The existing table is kept as it is and attached as the partition of
-- everything before the cut-over (no copy); from the cut-over on, one
-- partition per week (Monday 00:00 UTC), created ahead by
-- audit_partitions_maintain; a DEFAULT partition takes rows whose week has
-- no partition (a clock far off, or the maintenance not run for weeks), so
-- an audited change never fails for want of a partition.
--
-- Every unique key of a partitioned table includes the partition column:
-- the primary key becomes (account_id, created_at, id). The id stays a
-- random UUID; nothing looks an event up by id alone.
ALTER TABLE audit_events RENAME TO audit_events_legacy;
ALTER INDEX audit_events_listing RENAME TO audit_events_legacy_listing;
ALTER INDEX audit_events_by_action RENAME TO audit_events_legacy_by_action;
ALTER INDEX audit_events_by_actor RENAME TO audit_events_legacy_by_actor;
ALTER INDEX audit_events_by_subject RENAME TO audit_events_legacy_by_subject;
ALTER INDEX audit_events_by_session RENAME TO audit_events_legacy_by_session;
-- A partition has the parent's primary key: (account_id, created_at, id).
ALTER TABLE audit_events_legacy DROP CONSTRAINT audit_events_pkey,
    ADD CONSTRAINT audit_events_legacy_pkey PRIMARY KEY (account_id, created_at, id);

CREATE TABLE audit_events (
    account_id    uuid        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id            uuid        NOT NULL,
    actor_user_id uuid,
    action        text        NOT NULL,
    resource_type text        NOT NULL,
    resource_id   text,
    details       jsonb       NOT NULL DEFAULT '{}'::jsonb
        CONSTRAINT audit_events_details_check CHECK (jsonb_typeof(details) = 'object'),
    ip_address    inet,
    user_agent    text,
    created_at    timestamptz NOT NULL,
    -- As migrations/00012 defines it (the same expression: a partition's
    -- generated column must be the parent's).
    subject_user_id text GENERATED ALWAYS AS (
        CASE WHEN resource_type = 'user' THEN resource_id
             ELSE coalesce(details ->> 'user_id', CASE WHEN resource_type = 'session' THEN actor_user_id::text END)
        END) STORED,
    delivery_seq  bigint,
    PRIMARY KEY (account_id, created_at, id)
) PARTITION BY RANGE (created_at);
-- The indexes of migrations/00001 and 00012, now partitioned indexes: each
-- partition has its own copy (the legacy partition's are attached), and
-- the owner's filters stay index conditions of their own index
-- (adapters/postgres/explain_test.go).
CREATE INDEX audit_events_listing ON audit_events (account_id, created_at DESC, id DESC);
CREATE INDEX audit_events_by_action ON audit_events (account_id, action, created_at DESC, id DESC);
CREATE INDEX audit_events_by_actor ON audit_events (account_id, actor_user_id, created_at DESC, id DESC);
CREATE INDEX audit_events_by_subject ON audit_events (account_id, subject_user_id, created_at DESC, id DESC);
CREATE INDEX audit_events_by_session ON audit_events (account_id, resource_id, created_at DESC, id DESC)
    WHERE resource_type = 'session';
-- The outbox index: an account's unstamped events in time order
-- (delivery_seq IS NULL, then created_at) and its stamped ones in sequence
-- order, both as index ranges.
CREATE INDEX audit_events_delivery ON audit_events (account_id, delivery_seq, created_at, id);

ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_events FOR ALL
    USING (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid)
    WITH CHECK (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid);
GRANT SELECT, INSERT ON audit_events TO sessiond_app;
GRANT UPDATE (delivery_seq) ON audit_events TO sessiond_app;

-- The owner of the partitioned table and its partitions: only the owner
-- may create and drop partitions, so the maintenance function runs as it.
-- NOLOGIN, no BYPASSRLS (forced row-level security binds it too); the
-- function body is the only code that ever runs as sessiond_archivist.
-- +goose StatementBegin
DO $$
BEGIN
    CREATE ROLE sessiond_archivist NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
-- +goose StatementEnd
GRANT USAGE, CREATE ON SCHEMA public TO sessiond_archivist;
-- The migrating role keeps the right to alter the table in later
-- migrations.
GRANT sessiond_archivist TO CURRENT_USER;
-- The foreign key to accounts needs REFERENCES for the table's owner.
GRANT REFERENCES (id) ON accounts TO sessiond_archivist;
-- The maintenance reads the retention of every account (one column).
GRANT SELECT (audit_retention_days) ON accounts TO sessiond_archivist;
CREATE POLICY archivist_read ON accounts FOR SELECT TO sessiond_archivist USING (true);
-- and checks whether the DEFAULT partition holds rows of a week before it
-- creates that week's partition.
CREATE POLICY archivist_read ON audit_events FOR SELECT TO sessiond_archivist USING (true);

-- Attach the old table as the partition of everything before the
-- cut-over (the Monday after the latest existing event, or this week's
-- Monday, whichever is later); an empty one (a new database) is dropped
-- instead. Then this week's partition and four more.
-- +goose StatementBegin
DO $$
DECLARE
    v_cut  timestamptz;
    v_week timestamptz;
BEGIN
    v_cut := date_trunc('week', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    IF EXISTS (SELECT 1 FROM audit_events_legacy) THEN
        SELECT greatest(v_cut, (date_trunc('week', max(created_at) AT TIME ZONE 'UTC') + interval '7 days') AT TIME ZONE 'UTC')
        INTO v_cut FROM audit_events_legacy;
        EXECUTE format('ALTER TABLE audit_events ATTACH PARTITION audit_events_legacy FOR VALUES FROM (MINVALUE) TO (%L)', v_cut);
    ELSE
        DROP TABLE audit_events_legacy;
    END IF;
    v_week := v_cut;
    FOR i IN 1..5 LOOP
        EXECUTE format('CREATE TABLE public.%I PARTITION OF public.audit_events FOR VALUES FROM (%L) TO (%L)',
                       'audit_events_p' || to_char(v_week AT TIME ZONE 'UTC', 'YYYYMMDD'), v_week, v_week + interval '7 days');
        v_week := v_week + interval '7 days';
    END LOOP;
END
$$;
-- +goose StatementEnd
CREATE TABLE audit_events_default PARTITION OF audit_events DEFAULT;

-- Ownership and row-level security of every partition. The runtime role
-- has no privilege on a partition itself (it reads and writes through
-- audit_events); RLS on each partition is the second guarantee.
-- +goose StatementBegin
DO $$
DECLARE
    r record;
BEGIN
    ALTER TABLE audit_events OWNER TO sessiond_archivist;
    FOR r IN SELECT c.oid::regclass AS part FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'public.audit_events'::regclass LOOP
        EXECUTE format('ALTER TABLE %s OWNER TO sessiond_archivist', r.part);
        EXECUTE format('REVOKE ALL ON %s FROM sessiond_app', r.part);
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', r.part);
        EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', r.part);
        IF NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = r.part AND p.polname = 'tenant_isolation') THEN
            EXECUTE format($p$CREATE POLICY tenant_isolation ON %s FOR ALL
                USING (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid)
                WITH CHECK (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid)$p$, r.part);
        END IF;
    END LOOP;
END
$$;
-- +goose StatementEnd

-- audit_partition_create: the partition of the week starting p_week
-- (a Monday 00:00 UTC), with row-level security like every tenant table;
-- false when it exists, overlaps another partition, or its rows are
-- already in the DEFAULT partition (PostgreSQL refuses a partition that
-- would leave them out of place; they stay there). Not callable by the
-- runtime role: audit_partitions_maintain calls it.
-- +goose StatementBegin
CREATE FUNCTION audit_partition_create(p_week timestamptz)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_name text := 'audit_events_p' || pg_catalog.to_char(p_week AT TIME ZONE 'UTC', 'YYYYMMDD');
BEGIN
    IF p_week <> pg_catalog.date_trunc('week', p_week AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' THEN
        RAISE EXCEPTION 'audit_partition_create: % is not a Monday 00:00 UTC', p_week;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'public' AND c.relname = v_name)
       -- through the parent: with no partition for the week, its rows can
       -- only be in the DEFAULT partition
       OR EXISTS (SELECT 1 FROM public.audit_events d
                  WHERE d.created_at >= p_week AND d.created_at < p_week + interval '7 days') THEN
        RETURN false;
    END IF;
    BEGIN
        EXECUTE pg_catalog.format('CREATE TABLE public.%I PARTITION OF public.audit_events FOR VALUES FROM (%L) TO (%L)',
                                  v_name, p_week, p_week + interval '7 days');
    EXCEPTION WHEN invalid_object_definition OR check_violation THEN
        RETURN false; -- overlaps the legacy partition, or rows arrived meanwhile
    END;
    EXECUTE pg_catalog.format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', v_name);
    EXECUTE pg_catalog.format('ALTER TABLE public.%I FORCE ROW LEVEL SECURITY', v_name);
    EXECUTE pg_catalog.format($p$CREATE POLICY tenant_isolation ON public.%I FOR ALL
        USING (account_id = NULLIF(pg_catalog.current_setting('app.account_id', true), '')::uuid)
        WITH CHECK (account_id = NULLIF(pg_catalog.current_setting('app.account_id', true), '')::uuid)$p$, v_name);
    RETURN true;
END
$$;
-- +goose StatementEnd
ALTER FUNCTION audit_partition_create(timestamptz) OWNER TO sessiond_archivist;
REVOKE ALL ON FUNCTION audit_partition_create(timestamptz) FROM PUBLIC;

-- audit_partitions_maintain: creates the weekly partitions from this week
-- to p_ahead_weeks ahead (1..52), and drops every partition that ends
-- before the retention horizon, both by the database's own clock (the
-- caller chooses no time: a caller-chosen "now" could drop a live week).
-- The horizon is the longest retention in force: the largest of the
-- server's default (p_default_days) and every account's own setting,
-- capped by the server maximum (p_max_days), never under 7 days. A week
-- whose rows are still in the DEFAULT partition is not created (the
-- rows stay where they are; PostgreSQL refuses a partition that would
-- leave the DEFAULT partition's rows out of place). Returns the names of
-- the partitions created and dropped.
-- Every statement pins nothing and locks no row: partition DDL only.
-- +goose StatementBegin
CREATE FUNCTION audit_partitions_maintain(p_ahead_weeks integer, p_default_days integer, p_max_days integer)
RETURNS TABLE (partition_name text, change text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_week    timestamptz := pg_catalog.date_trunc('week', pg_catalog.now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    v_days    integer;
    v_horizon timestamptz;
    v_name    text;
    v_bound   text;
    v_upper   timestamptz;
    r         record;
BEGIN
    IF p_ahead_weeks IS NULL OR p_ahead_weeks < 1 OR p_ahead_weeks > 52 THEN
        RAISE EXCEPTION 'audit_partitions_maintain: ahead weeks % not in 1..52', p_ahead_weeks;
    END IF;
    FOR i IN 0..p_ahead_weeks LOOP
        IF public.audit_partition_create(v_week) THEN
            partition_name := 'audit_events_p' || pg_catalog.to_char(v_week AT TIME ZONE 'UTC', 'YYYYMMDD');
            change := 'created';
            RETURN NEXT;
        END IF;
        v_week := v_week + interval '7 days';
    END LOOP;

    SELECT GREATEST(7, LEAST(p_max_days, GREATEST(p_default_days, coalesce(max(a.audit_retention_days), 0))))
    INTO v_days FROM public.accounts a;
    v_horizon := pg_catalog.now() - pg_catalog.make_interval(days => v_days);
    FOR r IN SELECT c.relname::text AS name, pg_catalog.pg_get_expr(c.relpartbound, c.oid) AS bound
             FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'public.audit_events'::regclass
             ORDER BY c.relname LOOP
        v_bound := r.bound;
        CONTINUE WHEN v_bound = 'DEFAULT';
        -- FOR VALUES FROM (...) TO ('2031-03-10 00:00:00+00')
        v_upper := pg_catalog.substring(v_bound, 'TO \(''([^'']+)''\)')::timestamptz;
        IF v_upper IS NOT NULL AND v_upper <= v_horizon THEN
            EXECUTE pg_catalog.format('DROP TABLE public.%I', r.name);
            partition_name := r.name; change := 'dropped';
            RETURN NEXT;
        END IF;
    END LOOP;
END
$$;
-- +goose StatementEnd
ALTER FUNCTION audit_partitions_maintain(integer, integer, integer) OWNER TO sessiond_archivist;
REVOKE ALL ON FUNCTION audit_partitions_maintain(integer, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_partitions_maintain(integer, integer, integer) TO sessiond_app;

-- (2) One row per account that has (or had) webhook endpoints: the
-- account's sequence and the delivery lease.
CREATE TABLE webhook_streams (
    account_id  uuid        PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    -- The last sequence number stamped.
    last_seq    bigint      NOT NULL DEFAULT 0,
    -- Events older than this (the first endpoint's creation) are never
    -- stamped: an endpoint receives what happens after it exists.
    since       timestamptz NOT NULL,
    lease_owner uuid,
    lease_until timestamptz
);

CREATE TABLE webhook_endpoints (
    account_id      uuid        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id              uuid        NOT NULL,
    url             text        NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    description     text        NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    -- Audit action names this endpoint receives.
    event_types     text[]      NOT NULL CHECK (cardinality(event_types) BETWEEN 1 AND 100),
    -- The owner's switch.
    enabled         boolean     NOT NULL DEFAULT true,
    -- 'failing': retries were exhausted; deliveries wait until the owner
    -- enables the endpoint again (nothing is dropped meanwhile).
    state           text        NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'failing')),
    failure_reason  text,
    failing_since   timestamptz,
    -- The signing secret, sealed with the server's key (AES-256-GCM, bound
    -- to the account and endpoint ids); never stored in clear. The
    -- previous secret keeps signing too until it expires (rotation).
    secret_sealed           bytea       NOT NULL,
    previous_secret_sealed  bytea,
    previous_secret_expires timestamptz,
    -- The cursor: the last sequence number delivered or skipped.
    delivered_seq   bigint      NOT NULL DEFAULT 0 CHECK (delivered_seq >= 0),
    -- The retry state of the event at the head of the queue.
    attempts        integer     NOT NULL DEFAULT 0,
    first_failed_at timestamptz,
    retry_at        timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (account_id, id)
);

-- Delivery attempts, listed per endpoint for the owner, purged after a
-- bounded time (maintenance_purge_webhook_attempts).
CREATE TABLE webhook_attempts (
    account_id   uuid        NOT NULL,
    id           uuid        NOT NULL,
    endpoint_id  uuid        NOT NULL,
    event_id     uuid        NOT NULL,
    event_type   text        NOT NULL,
    sequence     bigint,
    attempted_at timestamptz NOT NULL,
    outcome      text        NOT NULL,
    status_code  integer,
    latency_ms   integer     NOT NULL CHECK (latency_ms >= 0),
    error        text,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, endpoint_id) REFERENCES webhook_endpoints (account_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_attempts_by_endpoint ON webhook_attempts (account_id, endpoint_id, attempted_at DESC, id DESC);
CREATE INDEX webhook_attempts_attempted_at ON webhook_attempts (attempted_at);

-- SECURITY: tenant isolation, as for every tenant table.
ALTER TABLE webhook_streams ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_streams FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_streams FOR ALL
    USING (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid)
    WITH CHECK (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid);
ALTER TABLE webhook_endpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_endpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_endpoints FOR ALL
    USING (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid)
    WITH CHECK (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid);
ALTER TABLE webhook_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_attempts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_attempts FOR ALL
    USING (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid)
    WITH CHECK (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE ON webhook_streams TO sessiond_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_endpoints TO sessiond_app;
GRANT SELECT, INSERT ON webhook_attempts TO sessiond_app;

-- SECURITY: the one cross-tenant read of the delivery worker, which must
-- find the accounts with work before it knows a tenant. Owned by
-- sessiond_definer (already the owner of the pre-tenant lookups), which
-- may read only the columns that say whether there is work, through
-- SELECT-only policies of its own; no payload, URL or secret.
GRANT SELECT (account_id, since, last_seq, lease_until) ON webhook_streams TO sessiond_definer;
GRANT SELECT (account_id, enabled, state, delivered_seq, retry_at) ON webhook_endpoints TO sessiond_definer;
GRANT SELECT (account_id, delivery_seq, created_at) ON audit_events TO sessiond_definer;
CREATE POLICY definer_lookup ON webhook_streams FOR SELECT TO sessiond_definer USING (true);
CREATE POLICY definer_lookup ON webhook_endpoints FOR SELECT TO sessiond_definer USING (true);
CREATE POLICY definer_lookup ON audit_events FOR SELECT TO sessiond_definer USING (true);

-- webhook_work: every account with webhook endpoints, whether its lease is
-- free at p_now, whether it has work due (an event not yet stamped, or an
-- active endpoint behind the stream whose retry time has come), and the
-- time of its oldest event not yet delivered to every active endpoint (the
-- queue lag). One pinned query per account (single-shard on Citus); the
-- loop over webhook_streams is the only cross-tenant read.
-- +goose StatementBegin
CREATE FUNCTION webhook_work(p_now timestamptz)
RETURNS TABLE (account_id uuid, lease_free boolean, due boolean, oldest_pending timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s         record;
    v_min_seq bigint;
    v_due     boolean;
    v_unst    timestamptz;
    v_behind  timestamptz;
BEGIN
    FOR s IN SELECT w.account_id, w.since, w.last_seq, w.lease_until FROM public.webhook_streams w LOOP
        SELECT min(e.delivered_seq), bool_or(e.retry_at IS NULL OR e.retry_at <= p_now)
        INTO v_min_seq, v_due
        FROM public.webhook_endpoints e
        WHERE e.account_id = s.account_id AND e.enabled AND e.state = 'active';
        CONTINUE WHEN v_min_seq IS NULL;
        SELECT a.created_at INTO v_unst FROM public.audit_events a
        WHERE a.account_id = s.account_id AND a.delivery_seq IS NULL AND a.created_at >= s.since
        ORDER BY a.delivery_seq, a.created_at LIMIT 1;
        v_behind := NULL;
        IF v_min_seq < s.last_seq THEN
            SELECT a.created_at INTO v_behind FROM public.audit_events a
            WHERE a.account_id = s.account_id AND a.delivery_seq > v_min_seq
            ORDER BY a.delivery_seq LIMIT 1;
        END IF;
        account_id := s.account_id;
        lease_free := s.lease_until IS NULL OR s.lease_until <= p_now;
        oldest_pending := LEAST(v_unst, v_behind);
        due := coalesce(v_due, false) AND (v_unst IS NOT NULL OR v_min_seq < s.last_seq);
        RETURN NEXT;
    END LOOP;
END
$$;
-- +goose StatementEnd
ALTER FUNCTION webhook_work(timestamptz) OWNER TO sessiond_definer;
REVOKE ALL ON FUNCTION webhook_work(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook_work(timestamptz) TO sessiond_app;

-- webhook_failing_endpoints: how many endpoints are failing (a metric).
GRANT SELECT (account_id, state) ON webhook_endpoints TO sessiond_definer;
-- +goose StatementBegin
CREATE FUNCTION webhook_failing_endpoints()
RETURNS bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (SELECT count(*) FROM public.webhook_endpoints e WHERE e.state = 'failing' AND e.enabled);
END
$$;
-- +goose StatementEnd
ALTER FUNCTION webhook_failing_endpoints() OWNER TO sessiond_definer;
REVOKE ALL ON FUNCTION webhook_failing_endpoints() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook_failing_endpoints() TO sessiond_app;

-- maintenance_purge_webhook_attempts: removes at most p_batch delivery
-- attempts older than p_retention (never less than one day) by the
-- database's clock, in turns with other instances (an advisory lock, as
-- maintenance_purge_expired since migrations/00007), and returns how many.
GRANT SELECT (account_id, id, attempted_at), DELETE ON webhook_attempts TO sessiond_janitor;
CREATE POLICY janitor_read ON webhook_attempts FOR SELECT TO sessiond_janitor USING (true);
CREATE POLICY janitor_purge ON webhook_attempts FOR DELETE TO sessiond_janitor USING (true);
-- +goose StatementBegin
CREATE FUNCTION maintenance_purge_webhook_attempts(p_retention interval, p_batch integer)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_cutoff timestamptz := pg_catalog.now() - GREATEST(p_retention, interval '1 day');
    n        bigint;
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('sessiond.maintenance_purge_webhook_attempts'));
    DELETE FROM public.webhook_attempts w
    WHERE (w.account_id, w.id) IN (
            SELECT x.account_id, x.id FROM public.webhook_attempts x
            WHERE x.attempted_at < v_cutoff
            ORDER BY x.attempted_at
            LIMIT GREATEST(p_batch, 0))
      AND w.attempted_at < v_cutoff;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
-- +goose StatementEnd
ALTER FUNCTION maintenance_purge_webhook_attempts(interval, integer) OWNER TO sessiond_janitor;
REVOKE ALL ON FUNCTION maintenance_purge_webhook_attempts(interval, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION maintenance_purge_webhook_attempts(interval, integer) TO sessiond_app;

-- +goose Down
DROP FUNCTION IF EXISTS maintenance_purge_webhook_attempts(interval, integer);
DROP FUNCTION IF EXISTS webhook_failing_endpoints();
DROP FUNCTION IF EXISTS webhook_work(timestamptz);
DROP FUNCTION IF EXISTS audit_partitions_maintain(integer, integer, integer);
DROP FUNCTION IF EXISTS audit_partition_create(timestamptz);
DROP TABLE IF EXISTS webhook_attempts;
DROP TABLE IF EXISTS webhook_endpoints;
DROP TABLE IF EXISTS webhook_streams;

-- audit_events back to one table as migrations/00012 left it, every row
-- copied (the partitions are dropped with their parent).
CREATE TABLE audit_events_unpartitioned (
    account_id    uuid        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id            uuid        NOT NULL,
    actor_user_id uuid,
    action        text        NOT NULL,
    resource_type text        NOT NULL,
    resource_id   text,
    details       jsonb       NOT NULL DEFAULT '{}'::jsonb
        CONSTRAINT audit_events_details_check2 CHECK (jsonb_typeof(details) = 'object'),
    ip_address    inet,
    user_agent    text,
    created_at    timestamptz NOT NULL,
    subject_user_id text GENERATED ALWAYS AS (
        CASE WHEN resource_type = 'user' THEN resource_id
             ELSE coalesce(details ->> 'user_id', CASE WHEN resource_type = 'session' THEN actor_user_id::text END)
        END) STORED,
    CONSTRAINT audit_events_unpartitioned_pkey PRIMARY KEY (account_id, id)
);
INSERT INTO audit_events_unpartitioned (account_id, id, actor_user_id, action, resource_type, resource_id, details, ip_address, user_agent, created_at)
SELECT account_id, id, actor_user_id, action, resource_type, resource_id, details, ip_address, user_agent, created_at FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE audit_events_unpartitioned RENAME TO audit_events;
ALTER TABLE audit_events RENAME CONSTRAINT audit_events_unpartitioned_pkey TO audit_events_pkey;
ALTER TABLE audit_events RENAME CONSTRAINT audit_events_details_check2 TO audit_events_details_check;
CREATE INDEX audit_events_listing ON audit_events (account_id, created_at DESC, id DESC);
CREATE INDEX audit_events_by_action ON audit_events (account_id, action, created_at DESC, id DESC);
CREATE INDEX audit_events_by_actor ON audit_events (account_id, actor_user_id, created_at DESC, id DESC);
CREATE INDEX audit_events_by_subject ON audit_events (account_id, subject_user_id, created_at DESC, id DESC);
CREATE INDEX audit_events_by_session ON audit_events (account_id, resource_id, created_at DESC, id DESC)
    WHERE resource_type = 'session';
ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_events FOR ALL
    USING (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid)
    WITH CHECK (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid);
GRANT SELECT, INSERT ON audit_events TO sessiond_app;

-- sessiond_archivist keeps nothing in this database (the role itself is
-- the cluster's, possibly in use by another database).
DROP POLICY IF EXISTS archivist_read ON accounts;
REVOKE ALL ON accounts FROM sessiond_archivist;
REVOKE ALL ON SCHEMA public FROM sessiond_archivist;
ALTER TABLE accounts DROP COLUMN IF EXISTS audit_retention_days;
