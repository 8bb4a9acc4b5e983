-- 0001 foundation: one schema per service plus `bus`, one login role per service, request
-- idempotency, and the SOATE territory classifier.
--
-- Runs as the administrator (a superuser: btree_gist is an extension) inside the
-- transaction ovop_migrate opens; no BEGIN/COMMIT here. bus.schema_migrations is created by
-- ovop_migrate itself before any migration runs. bus.events, the commit-ordered event log,
-- belongs to a later migration.

CREATE SCHEMA IF NOT EXISTS bus;
CREATE SCHEMA IF NOT EXISTS registry;
CREATE SCHEMA IF NOT EXISTS exports;
CREATE SCHEMA IF NOT EXISTS matching;
CREATE SCHEMA IF NOT EXISTS notify;

-- Roles are cluster-wide and may exist already (another database, an earlier install).
-- Two databases migrated at once can race on CREATE ROLE: a unique violation there means the
-- other one won. Production sets passwords; none here.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['ovop_registry', 'ovop_exports', 'ovop_matching', 'ovop_notify']
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I LOGIN', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
        END IF;
    END LOOP;
END
$$;

-- Each daemon's role: USAGE (never CREATE) on its own schema and on bus, every privilege on
-- the tables and sequences of its own schema, now and for tables the migrating role creates
-- later, and SELECT + INSERT on bus tables.
DO $$
DECLARE
    s text;
BEGIN
    FOREACH s IN ARRAY ARRAY['registry', 'exports', 'matching', 'notify']
    LOOP
        EXECUTE format('GRANT USAGE ON SCHEMA %I, bus TO %I', s, 'ovop_' || s);
        EXECUTE format('GRANT ALL ON ALL TABLES IN SCHEMA %I TO %I', s, 'ovop_' || s);
        EXECUTE format('GRANT ALL ON ALL SEQUENCES IN SCHEMA %I TO %I', s, 'ovop_' || s);
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT ALL ON TABLES TO %I',
                       s, 'ovop_' || s);
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT ALL ON SEQUENCES TO %I',
                       s, 'ovop_' || s);
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA bus GRANT SELECT, INSERT ON TABLES TO %I',
                       'ovop_' || s);
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA bus GRANT USAGE ON SEQUENCES TO %I',
                       'ovop_' || s);
        -- Daemons read the schema version at start; only the administrator records one.
        EXECUTE format('GRANT SELECT ON bus.schema_migrations TO %I', 'ovop_' || s);
    END LOOP;
END
$$;

-- Replies to mutating requests by (service, request id), so that a retried request gets the
-- first reply instead of acting twice. Written in the same transaction as the change.
CREATE TABLE bus.idempotency (
    service text NOT NULL,
    request_id text NOT NULL,
    method text NOT NULL,
    reply bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service, request_id)
);
COMMENT ON TABLE bus.idempotency IS
    'first reply to each mutating request, returned again when the request is retried';

-- Territories: the SOATE classifier as a versioned tree. A code names one territory; laws
-- create, rename and re-parent them, so each change closes the current row (valid_to) and
-- opens a new one. At any date a code has at most one valid row.
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE registry.territories (
    id bigserial PRIMARY KEY,
    code char(14) NOT NULL CHECK (code ~ '^417[0-9]{11}$'),
    kind text NOT NULL CHECK (kind IN ('republic', 'oblast', 'city_republican', 'city_oblast',
                                       'city_district', 'rayon', 'aiyl_aimak', 'village',
                                       'town')),
    parent_code char(14) CHECK (parent_code ~ '^417[0-9]{11}$'),
    name_ru text NOT NULL CHECK (name_ru <> ''),
    name_en text NOT NULL DEFAULT '',
    name_ky text NOT NULL DEFAULT '',
    lat double precision CHECK (lat BETWEEN -90 AND 90),
    lon double precision CHECK (lon BETWEEN -180 AND 180),
    valid_from date NOT NULL,
    valid_to date CHECK (valid_to > valid_from),
    superseded_by char(14) CHECK (superseded_by ~ '^417[0-9]{11}$'),
    version int NOT NULL DEFAULT 1 CHECK (version >= 1),
    CONSTRAINT territories_location_pair CHECK ((lat IS NULL) = (lon IS NULL)),
    CONSTRAINT territories_one_version_per_date
        EXCLUDE USING gist (code WITH =, daterange(valid_from, valid_to) WITH &&)
);
COMMENT ON TABLE registry.territories IS
    'SOATE territories, one row per version; valid_to NULL is the current version';

CREATE UNIQUE INDEX territories_current_code ON registry.territories (code)
    WHERE valid_to IS NULL;
CREATE INDEX territories_parent_kind_code ON registry.territories (parent_code, kind, code);
CREATE INDEX territories_kind_code ON registry.territories (kind, code);
