-- programme: the support programme beyond the system of record (issue 14; programd,
-- service ovop.programme): stakeholders, programmes and their participants, sales channels
-- and the monthly sales and jobs reports of producers, with the queries the programme office
-- needs.
--
-- programd connects as ovop_programme and reads other services only through their published
-- interfaces: registry_api (producers, cooperatives, territories, HS codes) and exports_api,
-- created here: exports had no published interface, and "which trainings preceded a first
-- export" and the export totals beside sales statistics need its departed lots. Both are
-- read-only views (INSTEAD OF triggers refuse writes).
--
-- Territorial scope (as registry.in_scope, 0017): bus.act() makes the caller's territory the
-- transaction's ovop.scope; a row with a territory is inside when that territory is the scope
-- or lies below it in today's tree of territories (registry_api.territory_points), a row
-- without one (national) only for a principal without a territory. Every mutation function
-- checks it before writing and refuses with outcome 'denied', reason OUT_OF_SCOPE.
--
-- Sales reports: one per producer and month; a second submission is a correction that adds
-- revision n + 1 and marks the previous one superseded (kept: the history). Statistics read
-- the current revisions (superseded_at IS NULL).

-- ------------------------------------------------------------------- the role and schema

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ovop_programme') THEN
        BEGIN
            CREATE ROLE ovop_programme LOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO ovop_programme', current_database());
END
$$;

CREATE SCHEMA programme;
COMMENT ON SCHEMA programme IS
    'ovop.programme (programd): stakeholders, programmes, participants, sales channels and '
    'monthly sales reports';

-- What 0001, 0003, 0011 and 0018 gave the other daemon roles.
GRANT USAGE ON SCHEMA programme, bus TO ovop_programme;
ALTER DEFAULT PRIVILEGES IN SCHEMA programme
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ovop_programme;
ALTER DEFAULT PRIVILEGES IN SCHEMA programme GRANT USAGE, SELECT ON SEQUENCES TO ovop_programme;
ALTER DEFAULT PRIVILEGES IN SCHEMA programme GRANT EXECUTE ON FUNCTIONS TO ovop_programme;
ALTER DEFAULT PRIVILEGES IN SCHEMA bus GRANT EXECUTE ON FUNCTIONS TO ovop_programme;
GRANT SELECT ON bus.schema_migrations TO ovop_programme;
GRANT SELECT, INSERT, DELETE ON bus.idempotency TO ovop_programme;
GRANT SELECT, INSERT ON bus.events TO ovop_programme;
GRANT UPDATE (seq) ON bus.events TO ovop_programme;
GRANT SELECT, UPDATE ON bus.sequencer TO ovop_programme;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA bus TO ovop_programme;

GRANT USAGE ON SCHEMA registry_api TO ovop_programme;
GRANT SELECT ON registry_api.producers, registry_api.cooperatives,
    registry_api.territory_points, registry_api.hs_code_units TO ovop_programme;

INSERT INTO iam.roles (name, description) VALUES
    ('worker:ovop.programme', 'may register as a worker of ovop.programme (programd)'),
    ('programme.officer', 'registers stakeholders, programmes, participants and their outcomes, '
                          'and sales channels (ovop.programme; inside its territory when it has '
                          'one)'),
    ('programme.reporter', 'submits and corrects producers'' monthly sales and jobs reports '
                           '(district officers, the producers'' association; inside its '
                           'territory when it has one)');

-- ------------------------------------------------------------------------- exports_api

CREATE SCHEMA exports_api;
COMMENT ON SCHEMA exports_api IS
    'the export service''s published interface to other daemons: views over exports.*';

CREATE VIEW exports_api.departed_lots AS
    SELECT l.shipment_id, l.ord, l.producer_id, l.hs6, l.territory_code, s.destination,
           (s.departed_at AT TIME ZONE 'Asia/Bishkek')::date AS departed_on, l.net_kg,
           l.value_usd, l.value_som
      FROM exports.lots l JOIN exports.shipments s ON s.id = l.shipment_id
     WHERE s.departed_at IS NOT NULL AND s.status IN ('departed', 'delivered');
COMMENT ON VIEW exports_api.departed_lots IS
    'published interface of exports (read by programme): the lots of shipments that departed '
    '(and were not returned), their producer, HS code, village, destination, departure day '
    '(Bishkek time), weight and value';

CREATE FUNCTION exports_api.refuse_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'exports_api.% is read-only: the export service''s published interface; '
                    'changes go through ovop.exports', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER refuse_write INSTEAD OF INSERT OR UPDATE OR DELETE ON exports_api.departed_lots
    FOR EACH ROW EXECUTE FUNCTION exports_api.refuse_write();

GRANT USAGE ON SCHEMA exports_api TO ovop_programme;
GRANT SELECT ON exports_api.departed_lots TO ovop_programme;

-- ---------------------------------------------------------------------------- tables

CREATE TABLE programme.stakeholders (
    id bigint PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('state_body', 'fund', 'academic', 'association',
                                       'business')),
    name text NOT NULL CHECK (name <> '' AND length(name) <= 300),
    territory_code text NOT NULL DEFAULT '',
    contact_name text NOT NULL DEFAULT '',
    contact_email text NOT NULL DEFAULT '',
    contact_phone text NOT NULL DEFAULT '',
    website text NOT NULL DEFAULT '',
    created_by text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX stakeholders_name ON programme.stakeholders (lower(name));
CREATE SEQUENCE programme.stakeholder_ids OWNED BY programme.stakeholders.id;
COMMENT ON TABLE programme.stakeholders IS
    'who runs programmes: state bodies, funds, academic institutions, associations, businesses';

CREATE TABLE programme.programmes (
    id bigint PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('training', 'mentoring', 'grant', 'fair',
                                       'export_mission')),
    topic text NOT NULL DEFAULT '' CHECK (topic IN ('', 'business_management', 'marketing',
                                                    'quality', 'export_procedures', 'other')),
    name text NOT NULL CHECK (name <> '' AND length(name) <= 300),
    starts_on date NOT NULL,
    ends_on date NOT NULL,
    territory_code text NOT NULL DEFAULT '',
    status text NOT NULL CHECK (status IN ('planned', 'running', 'finished', 'cancelled')),
    created_by text NOT NULL,
    created_at timestamptz NOT NULL,
    CHECK (ends_on >= starts_on),
    CHECK ((kind = 'training') = (topic <> ''))
);
CREATE SEQUENCE programme.programme_ids OWNED BY programme.programmes.id;
COMMENT ON TABLE programme.programmes IS
    'trainings (with a topic), mentoring, grants, fairs and export missions';

CREATE TABLE programme.runs (
    programme_id bigint NOT NULL REFERENCES programme.programmes,
    ord smallint NOT NULL,  -- 0: the lead, whose funds a grant is
    stakeholder_id bigint NOT NULL REFERENCES programme.stakeholders,
    PRIMARY KEY (programme_id, ord),
    UNIQUE (programme_id, stakeholder_id)
);
CREATE INDEX runs_stakeholder ON programme.runs (stakeholder_id, programme_id);
COMMENT ON TABLE programme.runs IS 'which stakeholders run a programme, the lead first';

CREATE TABLE programme.participants (
    programme_id bigint NOT NULL REFERENCES programme.programmes,
    kind text NOT NULL CHECK (kind IN ('producer', 'cooperative')),
    participant_id bigint NOT NULL,
    name text NOT NULL,
    territory_code text NOT NULL,
    outcome text NOT NULL CHECK (outcome IN ('enrolled', 'completed', 'dropped', 'certificate')),
    grant_minor bigint NOT NULL DEFAULT 0 CHECK (grant_minor >= 0),
    currency char(3) NOT NULL DEFAULT 'KGS' CHECK (currency = 'KGS'),
    outcome_on date,
    updated_by text NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (programme_id, kind, participant_id)
);
CREATE INDEX participants_who ON programme.participants (kind, participant_id);
CREATE INDEX participants_paid ON programme.participants (outcome_on) WHERE grant_minor > 0;
COMMENT ON TABLE programme.participants IS
    'producers and cooperatives in programmes, their outcome and a grant''s amount (tyiyn)';

CREATE TABLE programme.channels (
    id bigint PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('ovop_shop', 'fair', 'online_marketplace',
                                       'wholesale_domestic', 'export')),
    name text NOT NULL CHECK (name <> '' AND length(name) <= 300),
    territory_code text NOT NULL DEFAULT '',
    created_by text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX channels_name ON programme.channels (kind, lower(name));
CREATE SEQUENCE programme.channel_ids OWNED BY programme.channels.id;
COMMENT ON TABLE programme.channels IS
    'where producers sell: OVOP shops, fairs, online marketplaces, wholesale buyers, export';

CREATE TABLE programme.sales_reports (
    producer_id bigint NOT NULL,
    month date NOT NULL CHECK (extract(day FROM month) = 1),
    revision int NOT NULL CHECK (revision >= 1),
    territory_code text NOT NULL,
    employees int NOT NULL CHECK (employees BETWEEN 0 AND 100000),
    seasonal_workers int NOT NULL CHECK (seasonal_workers BETWEEN 0 AND 100000),
    reported_by text NOT NULL,
    reported_at timestamptz NOT NULL,
    superseded_at timestamptz,
    request_id text NOT NULL,
    PRIMARY KEY (producer_id, month, revision)
);
CREATE UNIQUE INDEX sales_reports_current ON programme.sales_reports (producer_id, month)
    WHERE superseded_at IS NULL;
CREATE INDEX sales_reports_month ON programme.sales_reports (month, territory_code)
    WHERE superseded_at IS NULL;
COMMENT ON TABLE programme.sales_reports IS
    'monthly sales and jobs reports of producers, every revision (superseded_at NULL: current)';

CREATE TABLE programme.sales_lines (
    producer_id bigint NOT NULL,
    month date NOT NULL,
    revision int NOT NULL,
    ord smallint NOT NULL,
    hs6 char(6) NOT NULL,
    channel_id bigint NOT NULL REFERENCES programme.channels,
    quantity numeric(16, 3) NOT NULL CHECK (quantity > 0),
    unit text NOT NULL,
    value_minor bigint NOT NULL CHECK (value_minor >= 0),
    currency char(3) NOT NULL CHECK (currency = 'KGS'),
    market text NOT NULL CHECK (market IN ('domestic', 'export')),
    PRIMARY KEY (producer_id, month, revision, ord),
    FOREIGN KEY (producer_id, month, revision) REFERENCES programme.sales_reports
);
COMMENT ON TABLE programme.sales_lines IS
    'the lines of a sales report: HS code, channel, quantity, value (tyiyn), market';

-- -------------------------------------------------------------------------- helpers

-- Whether p_code is p_scope or lies below it in today's tree (registry.in_scope through the
-- published interface).
CREATE FUNCTION programme.in_scope(p_code text, p_scope text) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_code text := p_code;
BEGIN
    IF coalesce(p_scope, '') = '' THEN
        RETURN true;
    END IF;
    FOR i IN 1..10 LOOP
        IF v_code IS NULL OR v_code = '' THEN
            RETURN false;
        ELSIF v_code = p_scope THEN
            RETURN true;
        END IF;
        SELECT t.parent_code INTO v_code FROM registry_api.territory_points t
         WHERE t.code = v_code::bpchar AND t.valid_to IS NULL;
    END LOOP;
    RETURN false;
END
$$;

-- The refusal of a write outside the caller's territory (NULL: inside).
CREATE FUNCTION programme.scope_problem(p_code text, p_what text)
RETURNS TABLE (outcome text, reply bytea, field text, message text, reason text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_scope text := coalesce(current_setting('ovop.scope', true), '');
BEGIN
    IF NOT programme.in_scope(p_code, v_scope) THEN
        RETURN QUERY SELECT 'denied', NULL::bytea, '',
            format('%s is in %s, outside your territory %s', p_what,
                   coalesce(nullif(p_code, ''), 'the whole country'), v_scope),
            'OUT_OF_SCOPE';
    END IF;
END
$$;

-- The SOATE prefix of a territory: its code up to its last level that is not zeros
-- (41705214000000 -> 41705214, a district; 41705000000000 -> 41705, a region).
CREATE FUNCTION programme.soate_prefix(p_code text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN substr(p_code, 12, 3) <> '000' THEN p_code
                WHEN substr(p_code, 9, 3) <> '000' THEN left(p_code, 11)
                WHEN substr(p_code, 6, 3) <> '000' THEN left(p_code, 8)
                WHEN substr(p_code, 4, 2) <> '00' THEN left(p_code, 5)
                ELSE left(p_code, 3) END;
$$;

CREATE FUNCTION programme.region_of(p_code text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT left(p_code, 5) || '000000000'; $$;

CREATE FUNCTION programme.district_of(p_code text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT left(p_code, 8) || '000000'; $$;

CREATE FUNCTION programme.territory_name(p_code text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT coalesce(nullif(t.name_en, ''), t.name_ru)
                       FROM registry_api.territory_points t
                      WHERE t.code = p_code::bpchar AND t.valid_to IS NULL LIMIT 1), '');
$$;

-- Why a territory a request names cannot be used (NULL: it can; '' is the whole country).
CREATE FUNCTION programme.territory_problem(p_code text, p_field text)
RETURNS TABLE (outcome text, reply bytea, field text, message text, reason text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_code <> '' AND NOT EXISTS (SELECT 1 FROM registry_api.territory_points t
                                     WHERE t.code = p_code::bpchar AND t.valid_to IS NULL) THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, p_field,
            format('no current territory %s', p_code), 'UNKNOWN_TERRITORY';
    END IF;
END
$$;

-- ------------------------------------------------------------------------- mutations

CREATE FUNCTION programme.create_stakeholder(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_id bigint, p_kind text, p_name text, p_territory text, p_contact_name text,
    p_contact_email text, p_contact_phone text, p_website text, p_at_us bigint,
    p_event_id uuid, p_event bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text, reason text)
LANGUAGE plpgsql AS $$
DECLARE
    v_prev bytea;
    v record;
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '', '';
        RETURN;
    END IF;
    SELECT * INTO v FROM programme.territory_problem(p_territory, 'stakeholder.territory_code');
    IF NOT FOUND THEN
        SELECT * INTO v FROM programme.scope_problem(p_territory, 'the stakeholder');
    END IF;
    IF FOUND THEN
        RETURN QUERY SELECT v.outcome, v.reply, v.field, v.message, v.reason;
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM programme.stakeholders WHERE lower(name) = lower(p_name)) THEN
        RETURN QUERY SELECT 'exists', NULL::bytea, 'stakeholder.name',
            format('a stakeholder named %s exists', p_name), 'STAKEHOLDER_EXISTS';
        RETURN;
    END IF;
    INSERT INTO programme.stakeholders (id, kind, name, territory_code, contact_name,
        contact_email, contact_phone, website, created_by, created_at)
    VALUES (p_id, p_kind, p_name, p_territory, p_contact_name, p_contact_email, p_contact_phone,
        p_website, current_setting('ovop.principal', true), to_timestamp(p_at_us / 1e6));
    PERFORM bus.emit(p_event_id, '/ovop/programme', 'ovop.programme.stakeholder.created',
                     'stakeholder/' || p_id, 'ovop.v1.Stakeholder', p_event, NULL,
                     nullif(p_territory, ''), NULL, p_request_id);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '', '';
END
$$;

CREATE FUNCTION programme.create_programme(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_id bigint, p_kind text, p_topic text, p_name text, p_stakeholders bigint[],
    p_starts_on date, p_ends_on date, p_territory text, p_status text, p_at_us bigint,
    p_event_id uuid, p_event bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text, reason text)
LANGUAGE plpgsql AS $$
DECLARE
    v_prev bytea;
    v record;
    v_missing bigint;
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '', '';
        RETURN;
    END IF;
    SELECT * INTO v FROM programme.territory_problem(p_territory, 'programme.territory_code');
    IF NOT FOUND THEN
        SELECT * INTO v FROM programme.scope_problem(p_territory, 'the programme');
    END IF;
    IF FOUND THEN
        RETURN QUERY SELECT v.outcome, v.reply, v.field, v.message, v.reason;
        RETURN;
    END IF;
    SELECT s INTO v_missing FROM unnest(p_stakeholders) s
     WHERE NOT EXISTS (SELECT 1 FROM programme.stakeholders k WHERE k.id = s) LIMIT 1;
    IF FOUND THEN
        RETURN QUERY SELECT 'not_found', NULL::bytea, 'programme.stakeholder_ids',
            format('no stakeholder with id %s', v_missing), 'UNKNOWN_STAKEHOLDER';
        RETURN;
    END IF;
    INSERT INTO programme.programmes (id, kind, topic, name, starts_on, ends_on, territory_code,
        status, created_by, created_at)
    VALUES (p_id, p_kind, p_topic, p_name, p_starts_on, p_ends_on, p_territory, p_status,
        current_setting('ovop.principal', true), to_timestamp(p_at_us / 1e6));
    INSERT INTO programme.runs (programme_id, ord, stakeholder_id)
    SELECT p_id, (n - 1)::smallint, s FROM unnest(p_stakeholders) WITH ORDINALITY AS u(s, n);
    PERFORM bus.emit(p_event_id, '/ovop/programme', 'ovop.programme.programme.created',
                     'programme/' || p_id, 'ovop.v1.Programme', p_event, NULL,
                     nullif(p_territory, ''), NULL, p_request_id);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '', '';
END
$$;

-- p_name and p_territory: the participant's registry record as programd read it.
CREATE FUNCTION programme.add_participant(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_programme_id bigint, p_kind text, p_participant_id bigint, p_name text, p_territory text,
    p_at_us bigint, p_event_id uuid, p_event bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text, reason text)
LANGUAGE plpgsql AS $$
DECLARE
    v_prev bytea;
    v record;
    v_p programme.programmes%ROWTYPE;
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '', '';
        RETURN;
    END IF;
    SELECT * INTO v_p FROM programme.programmes WHERE id = p_programme_id FOR KEY SHARE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found', NULL::bytea, 'programme_id',
            format('no programme with id %s', p_programme_id), 'NOT_FOUND';
        RETURN;
    ELSIF v_p.status = 'cancelled' THEN
        RETURN QUERY SELECT 'precondition', NULL::bytea, 'programme_id',
            format('programme %s is cancelled', p_programme_id), 'PROGRAMME_CANCELLED';
        RETURN;
    END IF;
    SELECT * INTO v FROM programme.scope_problem(p_territory, 'the participant');
    IF FOUND THEN
        RETURN QUERY SELECT v.outcome, v.reply, v.field, v.message, v.reason;
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM programme.participants WHERE programme_id = p_programme_id
                 AND kind = p_kind AND participant_id = p_participant_id) THEN
        RETURN QUERY SELECT 'exists', NULL::bytea, 'participant_id',
            format('%s %s already takes part in programme %s', p_kind, p_participant_id,
                   p_programme_id), 'ALREADY_PARTICIPATES';
        RETURN;
    END IF;
    INSERT INTO programme.participants (programme_id, kind, participant_id, name,
        territory_code, outcome, updated_by, updated_at)
    VALUES (p_programme_id, p_kind, p_participant_id, p_name, p_territory, 'enrolled',
        current_setting('ovop.principal', true), to_timestamp(p_at_us / 1e6));
    PERFORM bus.emit(p_event_id, '/ovop/programme', 'ovop.programme.participant.added',
                     'programme/' || p_programme_id || '/' || p_kind || '/' || p_participant_id,
                     'ovop.v1.Participant', p_event, NULL, p_territory, NULL, p_request_id);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '', '';
END
$$;

CREATE FUNCTION programme.set_outcome(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_programme_id bigint, p_kind text, p_participant_id bigint, p_outcome text,
    p_grant_minor bigint, p_outcome_on date, p_at_us bigint, p_event_id uuid, p_event bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text, reason text)
LANGUAGE plpgsql AS $$
DECLARE
    v_prev bytea;
    v record;
    v_row programme.participants%ROWTYPE;
    v_kind text;
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '', '';
        RETURN;
    END IF;
    SELECT * INTO v_row FROM programme.participants WHERE programme_id = p_programme_id
       AND kind = p_kind AND participant_id = p_participant_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found', NULL::bytea, 'participant_id',
            format('%s %s does not take part in programme %s', p_kind, p_participant_id,
                   p_programme_id), 'NOT_FOUND';
        RETURN;
    END IF;
    SELECT * INTO v FROM programme.scope_problem(v_row.territory_code, 'the participant');
    IF FOUND THEN
        RETURN QUERY SELECT v.outcome, v.reply, v.field, v.message, v.reason;
        RETURN;
    END IF;
    SELECT kind INTO v_kind FROM programme.programmes WHERE id = p_programme_id;
    IF p_grant_minor > 0 AND v_kind <> 'grant' THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, 'grant',
            format('programme %s is a %s, not a grant', p_programme_id, v_kind),
            'NOT_A_GRANT';
        RETURN;
    END IF;
    UPDATE programme.participants SET outcome = p_outcome, grant_minor = p_grant_minor,
           outcome_on = p_outcome_on, updated_by = current_setting('ovop.principal', true),
           updated_at = to_timestamp(p_at_us / 1e6)
     WHERE programme_id = p_programme_id AND kind = p_kind AND participant_id = p_participant_id;
    PERFORM bus.emit(p_event_id, '/ovop/programme', 'ovop.programme.participant.outcome_set',
                     'programme/' || p_programme_id || '/' || p_kind || '/' || p_participant_id,
                     'ovop.v1.Participant', p_event, NULL, v_row.territory_code, NULL,
                     p_request_id);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '', '';
END
$$;

CREATE FUNCTION programme.create_channel(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_id bigint, p_kind text, p_name text, p_territory text, p_at_us bigint,
    p_event_id uuid, p_event bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text, reason text)
LANGUAGE plpgsql AS $$
DECLARE
    v_prev bytea;
    v record;
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '', '';
        RETURN;
    END IF;
    SELECT * INTO v FROM programme.territory_problem(p_territory, 'channel.territory_code');
    IF NOT FOUND THEN
        SELECT * INTO v FROM programme.scope_problem(p_territory, 'the channel');
    END IF;
    IF FOUND THEN
        RETURN QUERY SELECT v.outcome, v.reply, v.field, v.message, v.reason;
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM programme.channels WHERE kind = p_kind
                 AND lower(name) = lower(p_name)) THEN
        RETURN QUERY SELECT 'exists', NULL::bytea, 'channel.name',
            format('a %s channel named %s exists', p_kind, p_name), 'CHANNEL_EXISTS';
        RETURN;
    END IF;
    INSERT INTO programme.channels (id, kind, name, territory_code, created_by, created_at)
    VALUES (p_id, p_kind, p_name, p_territory, current_setting('ovop.principal', true),
        to_timestamp(p_at_us / 1e6));
    PERFORM bus.emit(p_event_id, '/ovop/programme', 'ovop.programme.channel.created',
                     'channel/' || p_id, 'ovop.v1.SalesChannel', p_event, NULL,
                     nullif(p_territory, ''), NULL, p_request_id);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '', '';
END
$$;

-- A report or its correction. p_revision: the revision programd built the reply with (the
-- current one + 1 when it read); another submission committed meanwhile refuses this one as
-- 'stale' (REPORT_CHANGED) and programd reads again. p_expected: the client's check (NULL:
-- none; 0: no report yet).
CREATE FUNCTION programme.submit_sales_report(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_producer_id bigint, p_month date, p_revision int, p_expected int, p_territory text,
    p_employees int, p_seasonal_workers int, p_lines jsonb, p_at_us bigint, p_event_id uuid,
    p_event bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text, reason text)
LANGUAGE plpgsql AS $$
DECLARE
    v_prev bytea;
    v record;
    v_current int;
    v_at timestamptz := to_timestamp(p_at_us / 1e6);
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '', '';
        RETURN;
    END IF;
    SELECT * INTO v FROM programme.scope_problem(p_territory, 'the producer');
    IF FOUND THEN
        RETURN QUERY SELECT v.outcome, v.reply, v.field, v.message, v.reason;
        RETURN;
    END IF;
    -- Submissions for one producer and month queue here.
    PERFORM pg_advisory_xact_lock(7310220, hashtext(p_producer_id || '/' || p_month));
    SELECT coalesce(max(r.revision), 0) INTO v_current FROM programme.sales_reports r
     WHERE r.producer_id = p_producer_id AND r.month = p_month;
    IF p_expected IS NOT NULL AND p_expected <> v_current THEN
        RETURN QUERY SELECT 'stale', NULL::bytea, 'expected_revision',
            format('the report of producer %s for %s is at revision %s, not %s', p_producer_id,
                   to_char(p_month, 'YYYY-MM'), v_current, p_expected), 'REVISION_MISMATCH';
        RETURN;
    ELSIF v_current + 1 <> p_revision THEN
        RETURN QUERY SELECT 'stale', NULL::bytea, '',
            format('the report of producer %s for %s changed meanwhile', p_producer_id,
                   to_char(p_month, 'YYYY-MM')), 'REPORT_CHANGED';
        RETURN;
    END IF;
    UPDATE programme.sales_reports SET superseded_at = v_at
     WHERE producer_id = p_producer_id AND month = p_month AND superseded_at IS NULL;
    INSERT INTO programme.sales_reports (producer_id, month, revision, territory_code, employees,
        seasonal_workers, reported_by, reported_at, request_id)
    VALUES (p_producer_id, p_month, p_revision, p_territory, p_employees, p_seasonal_workers,
        current_setting('ovop.principal', true), v_at, p_request_id);
    INSERT INTO programme.sales_lines (producer_id, month, revision, ord, hs6, channel_id,
        quantity, unit, value_minor, currency, market)
    SELECT p_producer_id, p_month, p_revision, (n - 1)::smallint, l.hs6, l.channel_id,
           l.quantity, l.unit, l.value_minor, l.currency, l.market
      FROM ROWS FROM (jsonb_to_recordset(p_lines) AS (hs6 text, channel_id bigint,
               quantity numeric, unit text, value_minor bigint, currency text, market text))
           WITH ORDINALITY AS l(hs6, channel_id, quantity, unit, value_minor, currency, market,
                                n);
    PERFORM bus.emit(p_event_id, '/ovop/programme',
                     CASE WHEN p_revision = 1 THEN 'ovop.programme.sales_report.submitted'
                          ELSE 'ovop.programme.sales_report.corrected' END,
                     'sales/' || p_producer_id || '/' || to_char(p_month, 'YYYY-MM'),
                     'ovop.v1.SalesReport', p_event, p_lines -> 0 ->> 'hs6', p_territory, NULL,
                     p_request_id);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '', '';
END
$$;

-- -------------------------------------------------------------------------- queries

-- Sales and jobs of the current reports in [p_from, p_to] (months), grouped by p_group
-- (region, district, hs_code, channel), inside p_prefix (a SOATE prefix, '' all) and for HS
-- codes starting with p_hs ('' all), with exports' departed lots of the same months and
-- grouping beside them (region, district, HS code). The statement is made for the grouping
-- asked (EXECUTE, planned with the values): as an inlined SQL function it evaluated its CASE
-- on the grouping and its argument expressions (programd's casts of its text parameters)
-- once per row, and a prepared call took several times as long as one with literals.
CREATE FUNCTION programme.sales_stats(p_group text, p_from date, p_to date, p_prefix text,
                                      p_hs text)
RETURNS TABLE (key text, label text, domestic_minor bigint, export_minor bigint,
               quantity float8, reports int, employees bigint, seasonal_workers bigint,
               exports_available boolean, exports_minor bigint, exports_net_kg float8,
               export_shipments int)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_key text := CASE p_group WHEN 'region' THEN 'programme.region_of(r.territory_code)'
                               WHEN 'district' THEN 'programme.district_of(r.territory_code)'
                               WHEN 'hs_code' THEN 'l.hs6::text'
                               WHEN 'channel' THEN 'l.channel_id::text' END;
    v_ex_key text := CASE p_group WHEN 'region' THEN 'programme.region_of(d.territory_code)'
                                  WHEN 'district' THEN 'programme.district_of(d.territory_code)'
                                  ELSE 'd.hs6::text' END;
    v_label text := CASE p_group
        WHEN 'hs_code' THEN 'coalesce((SELECT h.description FROM registry_api.hs_code_units h '
                            'WHERE h.hs6 = k.key::bpchar), '''')'
        WHEN 'channel' THEN 'coalesce((SELECT c.kind || '': '' || c.name FROM '
                            'programme.channels c WHERE c.id = k.key::bigint), '''')'
        ELSE 'programme.territory_name(k.key)' END;
BEGIN
    IF v_key IS NULL THEN
        RAISE EXCEPTION 'programme.sales_stats: no grouping %', p_group;
    END IF;
    RETURN QUERY EXECUTE format($q$
    WITH lines AS (
        SELECT %1$s AS key, r.producer_id, r.month, r.employees, r.seasonal_workers,
               l.quantity, l.value_minor, l.market
          FROM programme.sales_reports r
          JOIN programme.sales_lines l USING (producer_id, month, revision)
         WHERE r.superseded_at IS NULL AND r.month BETWEEN $1 AND $2
           AND r.territory_code LIKE $3 AND l.hs6 LIKE $4),
    sales AS (
        SELECT key, sum(value_minor) FILTER (WHERE market = 'domestic') AS domestic,
               sum(value_minor) FILTER (WHERE market = 'export') AS export,
               sum(quantity) AS quantity
          FROM lines GROUP BY key),
    jobs AS (
        SELECT key, count(*) AS reports, sum(employees) AS employees,
               sum(seasonal_workers) AS seasonal
          FROM (SELECT DISTINCT key, producer_id, month, employees, seasonal_workers
                  FROM lines) d GROUP BY key),
    ex AS (
        SELECT %2$s AS key, sum(d.value_som) AS som, sum(d.net_kg) AS kg,
               count(DISTINCT d.shipment_id) AS shipments
          FROM exports_api.departed_lots d
         WHERE %3$s AND d.departed_on >= $1 AND d.departed_on < ($2 + interval '1 month')
           AND d.territory_code LIKE $3 AND d.hs6 LIKE $4
         GROUP BY 1)
    SELECT k.key, %4$s,
           coalesce(s.domestic, 0)::bigint, coalesce(s.export, 0)::bigint,
           %5$s, coalesce(j.reports, 0)::int, coalesce(j.employees, 0)::bigint,
           coalesce(j.seasonal, 0)::bigint, %3$s,
           coalesce(round(e.som * 100), 0)::bigint, coalesce(e.kg, 0)::float8,
           coalesce(e.shipments, 0)::int
      FROM (SELECT key FROM sales UNION SELECT key FROM ex) k
      LEFT JOIN sales s USING (key) LEFT JOIN jobs j USING (key) LEFT JOIN ex e USING (key)
     ORDER BY k.key$q$,
        v_key, v_ex_key, (p_group <> 'channel')::text, v_label,
        CASE WHEN p_group = 'hs_code' THEN 'coalesce(s.quantity, 0)::float8'
             ELSE '0::float8' END)
    USING p_from, p_to, p_prefix || '%', p_hs || '%';
END
$$;
