-- 0018 least_privilege: each daemon's database role may do what its daemon does and nothing
-- more. Until now every daemon connected as the owner (a superuser); now registryd connects
-- as ovop_registry, exportd as ovop_exports and the broker as ovop_broker (ovop_matching and
-- ovop_notify wait for their daemons), and the grants of 0001..0016 were looser than that:
--
-- * ALL on every table of the own schema: TRUNCATE (empties a table without a trace, past
--   every trigger), REFERENCES and TRIGGER included, and writes to the reference data the
--   migrations seed (countries, statuses, transitions, document rules, HS codes...), which
--   no method changes. Now SELECT, INSERT, UPDATE, DELETE on the daemon's own tables,
--   SELECT only on its reference tables, no UPDATE or DELETE on the append-only shipment
--   history; the same for tables later migrations create (default privileges).
-- * ALL on the own sequences: setval (UPDATE) could move an id sequence back onto ids in use.
--   Now USAGE and SELECT (nextval, currval).
-- * INSERT on every bus table created later, by default: new bus tables get nothing now;
--   their migration grants what is needed. INSERT on bus.sequencer (one row) goes.
-- * EXECUTE on every function for PUBLIC (PostgreSQL's default), the owner-only
--   iam.bootstrap included. Now a schema's functions are executable by its daemon's role
--   only (registry.* by ovop_registry, exports.* by ovop_exports, iam.* by ovop_broker but
--   iam.bootstrap by nobody but the owner), bus.* by every daemon role; functions created
--   later in those schemas get the same (default privileges).
-- * CONNECT and TEMPORARY on this database for PUBLIC: now CONNECT for the daemon roles only
--   (any other login of the cluster cannot open the database), TEMPORARY for nobody (no
--   daemon makes temporary tables).
-- * CREATE on schema public for PUBLIC (PostgreSQL before 15): revoked.
--
-- exportd reads the registry only through registry_api (0013). exports.create_shipment locks
-- the exporter's row there FOR KEY SHARE, which PostgreSQL allows only with UPDATE on the
-- relation named, the view: ovop_exports gets UPDATE on the id column of
-- registry_api.producers and .cooperatives, and every registry_api view refuses writes with
-- an INSTEAD OF trigger, so that privilege locks rows and changes none (a simple view is
-- updatable with its owner's rights otherwise).
--
-- Runs as the owner, like every migration: default privileges belong to the role that
-- creates the objects, so later migrations must run as the same role.

-- The daemon roles (cluster-wide) are plain logins, whatever made them. Only a role that is
-- more is altered: ALTER ROLE rewrites a shared catalog row, and databases of one cluster
-- migrated at once would collide on it.
DO $$
DECLARE
    r text;
BEGIN
    FOR r IN SELECT rolname FROM pg_roles
              WHERE rolname IN ('ovop_registry', 'ovop_exports', 'ovop_broker', 'ovop_matching',
                                'ovop_notify')
                AND (rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls)
              ORDER BY rolname
    LOOP
        EXECUTE format('ALTER ROLE %I NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION '
                       'NOBYPASSRLS', r);
    END LOOP;
END
$$;

-- ------------------------------------------------------------------------- the database

REVOKE CREATE ON SCHEMA public FROM PUBLIC;

DO $$
BEGIN
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO ovop_registry, ovop_exports, ovop_broker, '
                   'ovop_matching, ovop_notify', current_database());
END
$$;

-- ------------------------------------------------------------------- the daemons' schemas

DO $$
DECLARE
    s text;
BEGIN
    FOREACH s IN ARRAY ARRAY['registry', 'exports', 'matching', 'notify']
    LOOP
        EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM %I', s, 'ovop_' || s);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO %I',
                       s, 'ovop_' || s);
        EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA %I FROM %I', s, 'ovop_' || s);
        EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO %I', s,
                       'ovop_' || s);
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I REVOKE ALL ON TABLES FROM %I', s,
                       'ovop_' || s);
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I '
                       'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I', s, 'ovop_' || s);
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I REVOKE ALL ON SEQUENCES FROM %I',
                       s, 'ovop_' || s);
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I '
                       'GRANT USAGE, SELECT ON SEQUENCES TO %I', s, 'ovop_' || s);
        -- New bus tables get no privilege by default any more.
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA bus REVOKE ALL ON TABLES FROM %I',
                       'ovop_' || s);
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA bus REVOKE ALL ON SEQUENCES FROM %I',
                       'ovop_' || s);
        EXECUTE format('REVOKE INSERT ON bus.sequencer FROM %I', 'ovop_' || s);
    END LOOP;
END
$$;

-- Reference data: seeded by the migrations, read by the daemons, changed by a migration only.
REVOKE INSERT, UPDATE, DELETE ON registry.hs_codes FROM ovop_registry;
REVOKE INSERT, UPDATE, DELETE ON exports.countries, exports.country_groups,
    exports.border_points, exports.document_types, exports.document_rules, exports.statuses,
    exports.transitions, exports.compliance_policy FROM ovop_exports;
-- A shipment's history is appended to, never rewritten.
REVOKE UPDATE, DELETE ON exports.shipment_history FROM ovop_exports;

-- ---------------------------------------------------------------------------- functions

-- Functions the owner creates from now on: no EXECUTE for PUBLIC, except in schema public
-- (extensions put their functions there, and queries of every role may use them).
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT EXECUTE ON FUNCTIONS TO PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA registry GRANT EXECUTE ON FUNCTIONS TO ovop_registry;
ALTER DEFAULT PRIVILEGES IN SCHEMA exports GRANT EXECUTE ON FUNCTIONS TO ovop_exports;
ALTER DEFAULT PRIVILEGES IN SCHEMA matching GRANT EXECUTE ON FUNCTIONS TO ovop_matching;
ALTER DEFAULT PRIVILEGES IN SCHEMA notify GRANT EXECUTE ON FUNCTIONS TO ovop_notify;
ALTER DEFAULT PRIVILEGES IN SCHEMA iam GRANT EXECUTE ON FUNCTIONS TO ovop_broker;
ALTER DEFAULT PRIVILEGES IN SCHEMA bus GRANT EXECUTE ON FUNCTIONS
    TO ovop_registry, ovop_exports, ovop_broker, ovop_matching, ovop_notify;

-- The functions that exist.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA bus, registry, exports, matching, notify, iam,
    registry_api FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA registry TO ovop_registry;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA exports TO ovop_exports;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA iam TO ovop_broker;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA bus
    TO ovop_registry, ovop_exports, ovop_broker, ovop_matching, ovop_notify;
-- The deploy tools' way in (ovopctl db bootstrap), for the owner alone.
REVOKE EXECUTE ON FUNCTION iam.bootstrap(text, text, text, text[], text, text, text)
    FROM ovop_broker;

-- -------------------------------------------------------------------------- registry_api

CREATE FUNCTION registry_api.refuse_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'registry_api.% is read-only: the registry''s published interface; '
                    'changes go through ovop.registry', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
COMMENT ON FUNCTION registry_api.refuse_write() IS
    'INSTEAD OF trigger of every registry_api view: the interface is read-only';

DO $$
DECLARE
    v text;
BEGIN
    FOR v IN SELECT c.relname FROM pg_class c
              WHERE c.relnamespace = 'registry_api'::regnamespace AND c.relkind = 'v'
              ORDER BY c.relname
    LOOP
        EXECUTE format('CREATE TRIGGER refuse_write INSTEAD OF INSERT OR UPDATE OR DELETE '
                       'ON registry_api.%I FOR EACH ROW '
                       'EXECUTE FUNCTION registry_api.refuse_write()', v);
    END LOOP;
END
$$;

-- FOR KEY SHARE through the views (exports.create_shipment): the lock needs UPDATE.
GRANT UPDATE (id) ON registry_api.producers, registry_api.cooperatives TO ovop_exports;
