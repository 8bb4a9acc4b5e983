-- 0016 iam: the principals of the bus. Every connection to the broker is CurveZMQ; its
-- long-term public key names a principal here: an operator (the national team, regional and
-- district officers), an agency (../data/agencies.csv) or a service (each daemon kind). The
-- broker's ZAP handler accepts a key only while it is current and its principal active, and
-- hands the principal (id, kind, roles, territory, agency) to the worker with every request.
--
-- Secret keys never come here: only public keys (Z85, 40 characters). Every change is kept in
-- iam.history with who made it. iam.state.generation grows with every change, so the broker
-- polls one integer and reloads the keyring only when it moved.

CREATE SCHEMA iam;

-- The registry publishes its territories (current and past versions) for the principals'
-- territorial scope: a principal's territory must be a SOATE code the registry knows.
CREATE VIEW registry_api.territories AS
    SELECT code, kind, parent_code, valid_from, valid_to FROM registry.territories;
COMMENT ON VIEW registry_api.territories IS
    'published interface of the registry: SOATE territories, every version with its validity';
COMMENT ON SCHEMA iam IS 'principals of the bus, their CurveZMQ public keys and roles';

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ovop_broker') THEN
        BEGIN
            CREATE ROLE ovop_broker LOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
END
$$;

-- The catalogue of roles: a principal holds only roles named here. The permission table
-- (services/permissions.tsv) says which role may call which method.
CREATE TABLE iam.roles (
    name text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9._:-]{0,63}$'),
    description text NOT NULL
);

INSERT INTO iam.roles (name, description) VALUES
    ('iam.admin', 'adds, disables and enables principals, grants and revokes roles, rotates and revokes keys'),
    ('territory.admin', 'creates, renames, re-parents, retires and imports SOATE territories'),
    ('registry.editor', 'registers and edits producers, products, cooperatives and specializations, and submits certification applications, inside the principal''s territory'),
    ('certification.district', 'scores and decides certification applications up to 3 stars, suspends and reinstates certificates, inside the principal''s territory'),
    ('certification.region', 'as certification.district, up to 4 stars'),
    ('certification.national', 'as certification.region, up to 5 stars; sets the rubric, renews and revokes certificates'),
    ('exports.clerk', 'creates shipments, attaches commercial documents and records the moves no agency owns'),
    ('customs', 'records release and exit of shipments and the customs declaration (the customs service and its officers)'),
    ('plant_quarantine', 'issues phytosanitary certificates and records violation notices'),
    ('veterinary', 'issues veterinary certificates'),
    ('chamber', 'issues certificates of origin (CT-1, Form A)'),
    ('worker:ovop.registry', 'may register as a worker of ovop.registry (registryd)'),
    ('worker:ovop.exports', 'may register as a worker of ovop.exports (exportd)'),
    ('worker:ovop.matching', 'may register as a worker of ovop.matching (matchd)'),
    ('worker:ovop.notify', 'may register as a worker of ovop.notify (notifyd)');

CREATE TABLE iam.principals (
    id text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
    kind text NOT NULL CHECK (kind IN ('operator', 'agency', 'service')),
    display_name text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    roles text[] NOT NULL DEFAULT '{}',
    territory text CHECK (territory ~ '^417[0-9]{11}$'),
    agency text CHECK (agency ~ '^[a-z][a-z0-9_]{0,31}$'),
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    version bigint NOT NULL DEFAULT 1,
    CHECK (kind <> 'agency' OR agency = id)
);

CREATE TABLE iam.keys (
    public_key text PRIMARY KEY
        CHECK (public_key ~ '^[0-9a-zA-Z.:+=^!/*?&<>()\[\]{}@%$#-]{40}$'),
    principal_id text NOT NULL REFERENCES iam.principals (id),
    added_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX keys_principal ON iam.keys (principal_id);

CREATE TABLE iam.history (
    seq bigserial PRIMARY KEY,
    principal_id text NOT NULL REFERENCES iam.principals (id),
    at timestamptz NOT NULL DEFAULT now(),
    change text NOT NULL CHECK (change IN ('added', 'disabled', 'enabled', 'granted', 'revoked',
                                           'key_added', 'key_revoked')),
    by text NOT NULL,
    detail text NOT NULL DEFAULT ''
);
CREATE INDEX history_principal ON iam.history (principal_id, seq);

CREATE TABLE iam.state (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    generation bigint NOT NULL
);
INSERT INTO iam.state (generation) VALUES (1);

-- Every unknown role in a principal's roles is refused, whoever writes the row.
CREATE FUNCTION iam.check_roles() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_bad text;
BEGIN
    SELECT r INTO v_bad FROM unnest(NEW.roles) r
     WHERE NOT EXISTS (SELECT 1 FROM iam.roles WHERE name = r) LIMIT 1;
    IF v_bad IS NOT NULL THEN
        RAISE EXCEPTION 'unknown role "%"', v_bad USING ERRCODE = '23514';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER principals_roles BEFORE INSERT OR UPDATE OF roles ON iam.principals
    FOR EACH ROW EXECUTE FUNCTION iam.check_roles();

-- Any change of who may connect moves the generation the broker polls.
CREATE FUNCTION iam.bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE iam.state SET generation = generation + 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER principals_bump AFTER INSERT OR UPDATE OR DELETE ON iam.principals
    FOR EACH STATEMENT EXECUTE FUNCTION iam.bump();
CREATE TRIGGER keys_bump AFTER INSERT OR UPDATE OR DELETE ON iam.keys
    FOR EACH STATEMENT EXECUTE FUNCTION iam.bump();

-- What the broker loads: every key that may open a connection now or later (a key whose
-- expiry lies ahead is loaded with it; the broker stops accepting it then without a reload).
CREATE VIEW iam.keyring AS
    SELECT k.public_key, p.id, p.kind, p.display_name, p.roles,
           coalesce(p.territory, '') AS territory, coalesce(p.agency, '') AS agency,
           coalesce((extract(epoch FROM k.expires_at) * 1000000)::bigint, 0) AS expires_us
      FROM iam.keys k JOIN iam.principals p ON p.id = k.principal_id
     WHERE p.status = 'active' AND k.revoked_at IS NULL
       AND (k.expires_at IS NULL OR k.expires_at > now());

CREATE FUNCTION iam.rfc3339(t timestamptz) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;

-- A principal as ovop.v1.PrincipalRecord columns (pbrow names), keys as JSON objects.
CREATE VIEW iam.principal_records AS
    SELECT p.id AS "principal.id", p.kind AS "principal.kind", p.roles AS "principal.roles",
           coalesce(p.territory, '') AS "principal.territory",
           coalesce(p.agency, '') AS "principal.agency",
           p.display_name AS "principal.display_name",
           p.status,
           coalesce((SELECT json_agg(json_build_object(
                        'public_key', k.public_key,
                        'added_at', iam.rfc3339(k.added_at),
                        'expires_at', coalesce(iam.rfc3339(k.expires_at), ''),
                        'revoked_at', coalesce(iam.rfc3339(k.revoked_at), ''),
                        'current', k.revoked_at IS NULL
                                   AND (k.expires_at IS NULL OR k.expires_at > now()))
                        ORDER BY k.added_at, k.public_key)
                       FROM iam.keys k WHERE k.principal_id = p.id), '[]') AS keys,
           iam.rfc3339(p.created_at) AS created_at, iam.rfc3339(p.updated_at) AS updated_at,
           p.version, p.id AS sort_id
      FROM iam.principals p;

-- ---------------------------------------------------------------------------------------------
-- Changes. Each follows the mutation convention of common/mutation.h (replay, check, write,
-- history, remember) and records p_by, the authenticated principal that made it.

-- Refusal when a key is malformed or belongs to someone already: NULL when fine.
CREATE FUNCTION iam.key_problem(p_key text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN p_key IS NULL OR p_key !~ '^[0-9a-zA-Z.:+=^!/*?&<>()\[\]{}@%$#-]{40}$'
            THEN 'must be a Z85 CurveZMQ public key of 40 characters (ovopctl keygen writes one)'
        WHEN EXISTS (SELECT 1 FROM iam.keys WHERE public_key = p_key)
            THEN 'this key is registered already (a key belongs to one principal, once)'
    END
$$;

CREATE FUNCTION iam.add_principal(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_id text, p_kind text, p_display_name text, p_roles text[], p_territory text,
    p_agency text, p_public_key text, p_by text, p_at timestamptz DEFAULT now())
RETURNS TABLE (outcome text, reply bytea, field text, message text)
LANGUAGE plpgsql AS $$
DECLARE
    v_prev bytea;
    v_bad text;
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '';
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM iam.principals WHERE id = p_id) THEN
        RETURN QUERY SELECT 'exists', NULL::bytea, 'id', format('principal %s exists already', p_id);
        RETURN;
    END IF;
    SELECT r INTO v_bad FROM unnest(p_roles) r
     WHERE NOT EXISTS (SELECT 1 FROM iam.roles WHERE name = r) LIMIT 1;
    IF v_bad IS NOT NULL THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, 'roles',
            format('unknown role "%s" (ovopctl principal roles lists them)', v_bad);
        RETURN;
    END IF;
    IF p_territory IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM registry_api.territories WHERE code = p_territory) THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, 'territory',
            format('no territory with code %s', p_territory);
        RETURN;
    END IF;
    v_bad := iam.key_problem(p_public_key);
    IF v_bad IS NOT NULL THEN
        RETURN QUERY SELECT CASE WHEN v_bad LIKE 'this key%' THEN 'exists' ELSE 'invalid' END,
            NULL::bytea, 'public_key', v_bad;
        RETURN;
    END IF;
    INSERT INTO iam.principals (id, kind, display_name, roles, territory, agency, created_at,
                                updated_at)
    VALUES (p_id, p_kind, p_display_name, p_roles, p_territory, p_agency, p_at, p_at);
    INSERT INTO iam.keys (public_key, principal_id, added_at) VALUES (p_public_key, p_id, p_at);
    INSERT INTO iam.history (principal_id, at, change, by, detail)
    VALUES (p_id, p_at, 'added', p_by, format('kind %s, roles %s, key %s', p_kind,
                                        array_to_string(p_roles, ' '), p_public_key));
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '';
END
$$;

-- Status, roles and keys: p_version is the version the caller read (its reply was built from
-- it), so a concurrent change makes this one stale instead of answering a wrong record.
CREATE FUNCTION iam.change_principal(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_id text, p_version bigint, p_change text, p_by text, p_status text DEFAULT NULL,
    p_roles text[] DEFAULT NULL, p_public_key text DEFAULT NULL, p_overlap_s int DEFAULT NULL,
    p_detail text DEFAULT '', p_at timestamptz DEFAULT now())
RETURNS TABLE (outcome text, reply bytea, field text, message text)
LANGUAGE plpgsql AS $$
DECLARE
    v_prev bytea;
    v_cur iam.principals%ROWTYPE;
    v_bad text;
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '';
        RETURN;
    END IF;
    SELECT * INTO v_cur FROM iam.principals WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found', NULL::bytea, 'id', format('no principal %s', p_id);
        RETURN;
    END IF;
    IF v_cur.version <> p_version THEN
        RETURN QUERY SELECT 'stale', NULL::bytea, 'id',
            format('principal %s changed meanwhile; retry', p_id);
        RETURN;
    END IF;
    IF p_change IN ('granted', 'revoked') THEN
        SELECT r INTO v_bad FROM unnest(p_roles) r
         WHERE NOT EXISTS (SELECT 1 FROM iam.roles WHERE name = r) LIMIT 1;
        IF v_bad IS NOT NULL THEN
            RETURN QUERY SELECT 'invalid', NULL::bytea, 'roles',
                format('unknown role "%s" (ovopctl principal roles lists them)', v_bad);
            RETURN;
        END IF;
        UPDATE iam.principals
           SET roles = CASE p_change
                   WHEN 'granted' THEN ARRAY(SELECT DISTINCT r FROM unnest(roles || p_roles) r ORDER BY r)
                   ELSE ARRAY(SELECT r FROM unnest(roles) r WHERE r <> ALL (p_roles) ORDER BY r) END
         WHERE id = p_id;
        p_detail := array_to_string(p_roles, ' ');
    ELSIF p_change IN ('disabled', 'enabled') THEN
        UPDATE iam.principals SET status = p_status WHERE id = p_id;
    ELSIF p_change = 'key_added' THEN
        v_bad := iam.key_problem(p_public_key);
        IF v_bad IS NOT NULL THEN
            RETURN QUERY SELECT CASE WHEN v_bad LIKE 'this key%' THEN 'exists' ELSE 'invalid' END,
                NULL::bytea, 'public_key', v_bad;
            RETURN;
        END IF;
        UPDATE iam.keys
           SET expires_at = least(coalesce(expires_at, 'infinity'),
                                  p_at + make_interval(secs => p_overlap_s))
         WHERE principal_id = p_id AND revoked_at IS NULL;
        INSERT INTO iam.keys (public_key, principal_id, added_at) VALUES (p_public_key, p_id, p_at);
        p_detail := format('key %s, other keys accepted for %s s more', p_public_key, p_overlap_s);
    ELSIF p_change = 'key_revoked' THEN
        UPDATE iam.keys SET revoked_at = p_at
         WHERE principal_id = p_id AND public_key = p_public_key AND revoked_at IS NULL;
        IF NOT FOUND THEN
            RETURN QUERY SELECT 'not_found', NULL::bytea, 'public_key',
                format('principal %s has no unrevoked key %s', p_id, p_public_key);
            RETURN;
        END IF;
        p_detail := format('key %s', p_public_key);
    ELSE
        RAISE EXCEPTION 'iam.change_principal: unknown change %', p_change USING ERRCODE = '22023';
    END IF;
    UPDATE iam.principals SET version = version + 1, updated_at = p_at WHERE id = p_id;
    INSERT INTO iam.history (principal_id, at, change, by, detail)
    VALUES (p_id, p_at, p_change, p_by, coalesce(p_detail, ''));
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '';
END
$$;

-- For deploy tools, run by the database owner (never granted to a daemon): creates the
-- principal when it is missing, sets its kind, name, roles, territory and agency, makes it
-- active and adds the key when it is new. The first principals (the local operator, each
-- service) come from here; everything else goes through ovop.iam with iam.admin.
CREATE FUNCTION iam.bootstrap(p_id text, p_kind text, p_display_name text, p_roles text[],
                              p_public_key text, p_territory text DEFAULT NULL,
                              p_agency text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO iam.principals AS p (id, kind, display_name, roles, territory, agency)
    VALUES (p_id, p_kind, p_display_name, p_roles, p_territory, p_agency)
    ON CONFLICT (id) DO UPDATE
       SET kind = EXCLUDED.kind, display_name = EXCLUDED.display_name, roles = EXCLUDED.roles,
           territory = EXCLUDED.territory, agency = EXCLUDED.agency, status = 'active',
           version = p.version + 1, updated_at = now()
     WHERE (p.kind, p.display_name, p.roles, p.territory, p.agency, p.status)
           IS DISTINCT FROM (EXCLUDED.kind, EXCLUDED.display_name, EXCLUDED.roles,
                             EXCLUDED.territory, EXCLUDED.agency, 'active');
    IF FOUND THEN
        INSERT INTO iam.history (principal_id, change, by, detail)
        VALUES (p_id, 'added', 'bootstrap', format('kind %s, roles %s', p_kind,
                                                   array_to_string(p_roles, ' ')));
    END IF;
    IF p_public_key IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM iam.keys WHERE public_key = p_public_key
                                                AND principal_id = p_id AND revoked_at IS NULL) THEN
        INSERT INTO iam.keys (public_key, principal_id) VALUES (p_public_key, p_id);
        INSERT INTO iam.history (principal_id, change, by, detail)
        VALUES (p_id, 'key_added', 'bootstrap', format('key %s', p_public_key));
    END IF;
END
$$;

-- Every mutation (common/mutation.c) runs as
--   SELECT f.* FROM bus.act(principal, scope, service) AS a(service), LATERAL fn(...) f
-- so the authenticated principal and its territorial scope are settings of the transaction
-- (ovop.principal; ovop.scope, '' for the whole country) before the change runs: triggers
-- enforce the scope whatever function makes a change. Returns p_service.
CREATE FUNCTION bus.act(p_principal text, p_scope text, p_service text) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM set_config('ovop.principal', coalesce(p_principal, ''), true);
    PERFORM set_config('ovop.scope', coalesce(p_scope, ''), true);
    RETURN p_service;
END
$$;

-- A stored reply records who made the request (the principal bus.act() set for the
-- transaction), and since a request's fingerprint covers its principal, another principal
-- reusing the request id is refused (REQUEST_ID_REUSED) instead of receiving the reply.
-- Never NULL ('' when no principal was set, as for rows written before): functions test
-- whole rows of these tables with IS NOT NULL, which a NULL column would make false.
ALTER TABLE bus.idempotency
    ADD COLUMN principal text NOT NULL DEFAULT coalesce(current_setting('ovop.principal', true), '');
-- Likewise every event records the principal whose change wrote it.
ALTER TABLE bus.events
    ADD COLUMN principal text NOT NULL DEFAULT coalesce(current_setting('ovop.principal', true), '');

-- The broker reads the keyring and the principals, and makes the changes of ovop.iam; it
-- touches nothing else (its ops are bus.replay and bus.remember).
GRANT USAGE ON SCHEMA iam, bus, registry_api TO ovop_broker;
GRANT SELECT ON iam.roles, iam.keyring, iam.principal_records, iam.state, iam.history
    TO ovop_broker;
GRANT SELECT, INSERT, UPDATE ON iam.principals, iam.keys TO ovop_broker;
GRANT INSERT ON iam.history TO ovop_broker;
GRANT USAGE ON SEQUENCE iam.history_seq_seq TO ovop_broker;
GRANT UPDATE ON iam.state TO ovop_broker;
GRANT SELECT ON registry_api.territories TO ovop_broker;
GRANT SELECT, INSERT, DELETE ON bus.idempotency TO ovop_broker;
GRANT SELECT ON bus.schema_migrations TO ovop_broker;
