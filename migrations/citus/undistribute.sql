-- Brings every distributed table of the schema back onto the coordinator
-- (Citus's undistribute_table, following foreign keys), so that a migration
-- Citus refuses on distributed tables can run: the upgrade of a distributed
-- database (README "Scaling out on Citus", upgrading) is
--
--   psql -v ON_ERROR_STOP=1 -d sessiond -f migrations/citus/undistribute.sql
--   sessiond migrate
--   psql -v ON_ERROR_STOP=1 -d sessiond -f migrations/citus/distribute.sql
--
-- with the servers stopped. Every row travels to the coordinator and back:
-- the coordinator needs room for the whole database, and the time grows with
-- its size. Run as a superuser, on the coordinator. Row-level security, the
-- policies and the grants stay with the tables; distribute.sql restates and
-- checks them on the new shards. Tested by
-- adapters/postgres/citus_upgrade_test.go.

\set ON_ERROR_STOP on

DO $$
DECLARE
    v_tbl regclass;
BEGIN
    LOOP
        v_tbl := NULL;
        -- A partitioned table is undistributed with its partitions; a table
        -- that references or is referenced by others, with them.
        SELECT p.logicalrelid::regclass INTO v_tbl
          FROM pg_dist_partition p
          JOIN pg_class c ON c.oid = p.logicalrelid
         WHERE c.relnamespace = 'public'::regnamespace
           AND NOT c.relispartition
         ORDER BY c.relname
         LIMIT 1;
        EXIT WHEN v_tbl IS NULL;
        RAISE NOTICE 'undistributing % (and what its foreign keys connect it to)', v_tbl;
        PERFORM undistribute_table(v_tbl, cascade_via_foreign_keys => true);
    END LOOP;
END
$$;
