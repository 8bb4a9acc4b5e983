-- 0007 territory changes (create, rename, re-parent, retire, the statistics committee's
-- import) and village specializations, one statement each (see common/mutation.h).
--
-- Territory changes follow laws: they are rare and they touch a tree. Every one of them
-- takes the same transaction-scoped advisory lock before anything else, so they run one at a
-- time and each sees what the one before it committed (a retry of the same request then
-- finds the first one's reply instead of a half-checked state). registryd reads the state it
-- decides on with registry.territory_state() and sends back the version of every code it
-- looked at; each change of a code raises max(version) over its rows, so a function that
-- finds another version refuses with 'stale' and the client sends the request again.

-- The lock every territory change holds until it commits ("ovopterr" has no meaning: any
-- key distinct from the event sequencer's 7310042 would do).
CREATE FUNCTION registry.lock_territories() RETURNS void
LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(7310107);
$$;

-- max(version) of a code's rows, 0 when the code has none: the value changes read, and
-- compare with what they read.
CREATE FUNCTION registry.territory_version(p_code text) RETURNS int
LANGUAGE sql STABLE AS $$
    SELECT coalesce(max(version), 0) FROM registry.territories WHERE code = p_code;
$$;

-- The latest version of each of p_codes that has one, with what changes decide on: the first
-- date the code was valid, its version, its children valid today and the children whose rows
-- still reach past p_on (a territory with those cannot be retired on p_on).
CREATE FUNCTION registry.territory_state(p_codes text[], p_on date)
RETURNS TABLE (code text, kind text, parent_code text, name_ru text, name_ky text,
               name_en text, lat double precision, lon double precision, valid_from text,
               valid_to text, superseded_by text, version int, first_from text, children int,
               children_after int)
LANGUAGE sql STABLE AS $$
    SELECT l.code::text, l.kind, coalesce(l.parent_code::text, ''), l.name_ru, l.name_ky,
           l.name_en, l.lat, l.lon, l.valid_from::text, coalesce(l.valid_to::text, ''),
           coalesce(l.superseded_by::text, ''), v.version, v.first_from::text,
           (SELECT count(*)::int FROM registry.territories c
             WHERE c.parent_code = l.code AND c.valid_from <= current_date
               AND (c.valid_to IS NULL OR c.valid_to > current_date)),
           (SELECT count(DISTINCT c.code)::int FROM registry.territories c
             WHERE c.parent_code = l.code AND (c.valid_to IS NULL OR c.valid_to > p_on))
      FROM (SELECT DISTINCT ON (t.code) t.* FROM registry.territories t
             WHERE t.code = ANY (p_codes::bpchar[])
             ORDER BY t.code, t.valid_from DESC) l
      CROSS JOIN LATERAL (SELECT max(t.version) AS version, min(t.valid_from) AS first_from
                            FROM registry.territories t WHERE t.code = l.code) v;
$$;

-- Makes the current version of p_code end on p_on and a new one with the given kind, parent
-- and names (location kept) start there. On the day the current version itself started it
-- is corrected in place instead: it would cover no date once replaced. Either way the
-- version goes up by one.
CREATE FUNCTION registry.territory_next_version(p_code text, p_on date, p_kind text,
                                                p_parent text, p_name_ru text, p_name_ky text,
                                                p_name_en text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_cur registry.territories%ROWTYPE;
BEGIN
    SELECT * INTO STRICT v_cur FROM registry.territories
     WHERE code = p_code AND valid_to IS NULL FOR UPDATE;
    IF v_cur.valid_from = p_on THEN
        UPDATE registry.territories
           SET kind = p_kind, parent_code = p_parent, name_ru = p_name_ru,
               name_ky = p_name_ky, name_en = p_name_en, version = version + 1
         WHERE id = v_cur.id;
    ELSE
        UPDATE registry.territories SET valid_to = p_on WHERE id = v_cur.id;
        INSERT INTO registry.territories (code, kind, parent_code, name_ru, name_ky, name_en,
                                          lat, lon, valid_from, version)
        VALUES (p_code, p_kind, p_parent, p_name_ru, p_name_ky, p_name_en, v_cur.lat,
                v_cur.lon, p_on, v_cur.version + 1);
    END IF;
END
$$;

-- Why a change of p_code read at p_version cannot go on, as (outcome, field, message), or
-- no row when it can: the code must still be at that version and have a current row that
-- started on or before p_on (after it, when p_after).
CREATE FUNCTION registry.territory_change_problem(p_code text, p_version int, p_on date,
                                                  p_after boolean)
RETURNS TABLE (outcome text, field text, message text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_version int := registry.territory_version(p_code);
    v_cur registry.territories%ROWTYPE;
BEGIN
    IF v_version = 0 THEN
        RETURN QUERY SELECT 'not_found', 'code', format('no territory with code %s', p_code);
        RETURN;
    END IF;
    IF v_version <> p_version THEN
        RETURN QUERY SELECT 'stale', 'code',
            format('territory %s changed while this request was checked; send it again',
                   p_code);
        RETURN;
    END IF;
    SELECT * INTO v_cur FROM registry.territories WHERE code = p_code AND valid_to IS NULL;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'precondition', 'code',
            format('territory %s was retired on %s', p_code,
                   (SELECT max(valid_to) FROM registry.territories WHERE code = p_code));
        RETURN;
    END IF;
    IF p_on < v_cur.valid_from OR (p_after AND p_on = v_cur.valid_from) THEN
        RETURN QUERY SELECT 'invalid', 'effective_on',
            format('must be %s %s, when the current version of %s took effect, got %s',
                   CASE WHEN p_after THEN 'after' ELSE 'on or after' END, v_cur.valid_from,
                   p_code, p_on);
        RETURN;
    END IF;
END
$$;

-- The refusal when the territory p_code (parent or successor, named by p_field) is no longer
-- at the version the caller read, or no row.
CREATE FUNCTION registry.territory_moved(p_code text, p_version int, p_field text)
RETURNS TABLE (outcome text, field text, message text)
LANGUAGE sql STABLE AS $$
    SELECT 'stale', p_field,
           format('territory %s changed while this request was checked; send it again', p_code)
     WHERE p_code IS NOT NULL AND registry.territory_version(p_code) <> p_version;
$$;

CREATE FUNCTION registry.create_territory(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_code text, p_kind text, p_parent text, p_name_ru text, p_name_ky text, p_name_en text,
    p_lat double precision, p_lon double precision, p_valid_from date, p_parent_version int,
    p_event_id uuid, p_event bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text)
LANGUAGE plpgsql AS $$
DECLARE
    v_prev bytea;
    v_row registry.territories%ROWTYPE;
    v_problem record;
BEGIN
    PERFORM registry.lock_territories();
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '';
        RETURN;
    END IF;
    SELECT * INTO v_row FROM registry.territories WHERE code = p_code
     ORDER BY valid_from DESC LIMIT 1;
    IF FOUND THEN
        RETURN QUERY SELECT 'exists', NULL::bytea, 'code',
            CASE WHEN v_row.valid_to IS NULL
                 THEN format('territory %s already exists (%s %s)', p_code, v_row.kind,
                             v_row.name_ru)
                 ELSE format('code %s belonged to %s, retired on %s; SOATE codes are not reused',
                             p_code, v_row.name_ru, v_row.valid_to) END;
        RETURN;
    END IF;
    SELECT * INTO v_problem FROM registry.territory_moved(p_parent, p_parent_version,
                                                          'parent_code');
    IF FOUND THEN
        RETURN QUERY SELECT v_problem.outcome, NULL::bytea, v_problem.field, v_problem.message;
        RETURN;
    END IF;
    INSERT INTO registry.territories (code, kind, parent_code, name_ru, name_ky, name_en, lat,
                                      lon, valid_from)
    VALUES (p_code, p_kind, p_parent, p_name_ru, p_name_ky, p_name_en, p_lat, p_lon,
            p_valid_from);
    PERFORM bus.emit(p_event_id, '/ovop/registry', 'ovop.registry.territory.created',
                     'territory/' || p_code, 'ovop.v1.Territory', p_event, NULL, p_code, NULL,
                     p_request_id);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '';
END
$$;

CREATE FUNCTION registry.rename_territory(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_code text, p_version int, p_on date, p_name_ru text, p_name_ky text, p_name_en text,
    p_event_id uuid, p_event bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text)
LANGUAGE plpgsql AS $$
DECLARE
    v_prev bytea;
    v_problem record;
    v_cur registry.territories%ROWTYPE;
BEGIN
    PERFORM registry.lock_territories();
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '';
        RETURN;
    END IF;
    SELECT * INTO v_problem FROM registry.territory_change_problem(p_code, p_version, p_on,
                                                                   false);
    IF FOUND THEN
        RETURN QUERY SELECT v_problem.outcome, NULL::bytea, v_problem.field, v_problem.message;
        RETURN;
    END IF;
    SELECT * INTO v_cur FROM registry.territories WHERE code = p_code AND valid_to IS NULL;
    PERFORM registry.territory_next_version(p_code, p_on, v_cur.kind, v_cur.parent_code,
                                            p_name_ru, p_name_ky, p_name_en);
    PERFORM bus.emit(p_event_id, '/ovop/registry', 'ovop.registry.territory.renamed',
                     'territory/' || p_code, 'ovop.v1.Territory', p_event, NULL, p_code, NULL,
                     p_request_id);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '';
END
$$;

CREATE FUNCTION registry.reparent_territory(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_code text, p_version int, p_on date, p_parent text, p_parent_version int,
    p_event_id uuid, p_event bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text)
LANGUAGE plpgsql AS $$
DECLARE
    v_prev bytea;
    v_problem record;
    v_cur registry.territories%ROWTYPE;
BEGIN
    PERFORM registry.lock_territories();
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '';
        RETURN;
    END IF;
    SELECT * INTO v_problem FROM registry.territory_change_problem(p_code, p_version, p_on,
                                                                   false);
    IF NOT FOUND THEN
        SELECT * INTO v_problem FROM registry.territory_moved(p_parent, p_parent_version,
                                                              'parent_code');
    END IF;
    IF FOUND THEN
        RETURN QUERY SELECT v_problem.outcome, NULL::bytea, v_problem.field, v_problem.message;
        RETURN;
    END IF;
    SELECT * INTO v_cur FROM registry.territories WHERE code = p_code AND valid_to IS NULL;
    PERFORM registry.territory_next_version(p_code, p_on, v_cur.kind, p_parent, v_cur.name_ru,
                                            v_cur.name_ky, v_cur.name_en);
    PERFORM bus.emit(p_event_id, '/ovop/registry', 'ovop.registry.territory.reparented',
                     'territory/' || p_code, 'ovop.v1.Territory', p_event, NULL, p_code, NULL,
                     p_request_id);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '';
END
$$;

-- Closes the current version on p_on. Children still valid after that date keep a retired
-- parent otherwise, so they must be re-parented or retired first; registryd checked that on
-- what it read, and it is checked again here because creating a child does not change the
-- parent's version.
CREATE FUNCTION registry.retire_territory(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_code text, p_version int, p_on date, p_successor text, p_successor_version int,
    p_event_id uuid, p_event bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text)
LANGUAGE plpgsql AS $$
DECLARE
    v_prev bytea;
    v_problem record;
    v_children int;
BEGIN
    PERFORM registry.lock_territories();
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '';
        RETURN;
    END IF;
    SELECT * INTO v_problem FROM registry.territory_change_problem(p_code, p_version, p_on,
                                                                   true);
    IF NOT FOUND THEN
        SELECT * INTO v_problem FROM registry.territory_moved(p_successor, p_successor_version,
                                                              'superseded_by');
    END IF;
    IF FOUND THEN
        RETURN QUERY SELECT v_problem.outcome, NULL::bytea, v_problem.field, v_problem.message;
        RETURN;
    END IF;
    SELECT count(DISTINCT code) INTO v_children FROM registry.territories
     WHERE parent_code = p_code AND (valid_to IS NULL OR valid_to > p_on);
    IF v_children > 0 THEN
        RETURN QUERY SELECT 'precondition', NULL::bytea, 'code',
            format('territory %s has %s territories under it after %s; re-parent or retire '
                   'them first', p_code, v_children, p_on);
        RETURN;
    END IF;
    UPDATE registry.territories
       SET valid_to = p_on, superseded_by = p_successor, version = version + 1
     WHERE code = p_code AND valid_to IS NULL;
    PERFORM bus.emit(p_event_id, '/ovop/registry', 'ovop.registry.territory.retired',
                     'territory/' || p_code, 'ovop.v1.Territory', p_event, NULL, p_code, NULL,
                     p_request_id);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '';
END
$$;

-- One batch of the statistics committee's list, classified by registryd on the state it read:
-- p_expect is [{"code", "version"}] for every code it looked at (rows and parents, version 0
-- for a code without rows), p_rows the writes, [{"op": "insert" | "update", "code", "kind",
-- "parent", "ru", "ky", "en", "type" (event type), "id" (event id), "event" (the Territory,
-- hex)}], in the order they apply (parents first). All of it or nothing commits.
CREATE FUNCTION registry.import_territories(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_valid_from date, p_expect jsonb, p_rows jsonb)
RETURNS TABLE (outcome text, reply bytea, field text, message text)
LANGUAGE plpgsql AS $$
DECLARE
    v_prev bytea;
    v_moved text;
    r record;
BEGIN
    PERFORM registry.lock_territories();
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '';
        RETURN;
    END IF;
    SELECT e.code INTO v_moved FROM jsonb_to_recordset(p_expect) AS e(code text, version int)
     WHERE registry.territory_version(e.code) <> e.version LIMIT 1;
    IF FOUND THEN
        RETURN QUERY SELECT 'stale', NULL::bytea, 'rows',
            format('territory %s changed while this batch was checked; send the batch again',
                   v_moved);
        RETURN;
    END IF;
    FOR r IN SELECT * FROM jsonb_to_recordset(p_rows)
                 AS x(op text, code text, kind text, parent text, ru text, ky text, en text)
    LOOP
        IF r.op = 'insert' THEN
            INSERT INTO registry.territories (code, kind, parent_code, name_ru, name_ky, name_en,
                                              valid_from)
            VALUES (r.code, r.kind, nullif(r.parent, ''), r.ru, r.ky, r.en, p_valid_from);
        ELSE
            PERFORM registry.territory_next_version(r.code, p_valid_from, r.kind,
                                                    nullif(r.parent, ''), r.ru, r.ky, r.en);
        END IF;
    END LOOP;
    PERFORM bus.emit(x.id, '/ovop/registry', x.type, 'territory/' || x.code, 'ovop.v1.Territory',
                     decode(x.event, 'hex'), NULL, x.code, NULL, p_request_id)
       FROM jsonb_to_recordset(p_rows) AS x(id uuid, type text, code text, event text);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '';
END
$$;

-- ---------------------------------------------------------------- specializations

-- Why p_code cannot declare a specialization today, or NULL when it can.
CREATE FUNCTION registry.specialization_territory_problem(p_code text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_kind text;
    v_from date;
    v_to date;
BEGIN
    SELECT kind INTO v_kind FROM registry.territories
     WHERE code = p_code AND valid_from <= current_date
       AND (valid_to IS NULL OR valid_to > current_date);
    IF FOUND THEN
        IF v_kind IN ('village', 'town', 'city_oblast', 'aiyl_aimak', 'rayon', 'oblast') THEN
            RETURN NULL;
        END IF;
        RETURN format('must be a village, town, city of oblast rank, aiyl aimak, district '
                      '(rayon) or region (oblast); %s is a %s', p_code, v_kind);
    END IF;
    SELECT min(valid_from) FILTER (WHERE valid_to IS NULL), max(valid_to) INTO v_from, v_to
      FROM registry.territories WHERE code = p_code;
    IF v_from IS NOT NULL THEN
        RETURN format('territory %s is valid only from %s', p_code, v_from);
    ELSIF v_to IS NOT NULL THEN
        RETURN format('territory %s was retired on %s', p_code, v_to);
    END IF;
    RETURN format('no territory with code %s', p_code);
END
$$;

CREATE FUNCTION registry.declare_specialization(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_id bigint, p_territory text, p_hs6 text, p_narrative text, p_declared_on date,
    p_event_id uuid, p_event bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text)
LANGUAGE plpgsql AS $$
DECLARE
    v_prev bytea;
    v_problem text;
    v_other registry.specializations%ROWTYPE;
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '';
        RETURN;
    END IF;
    v_problem := registry.specialization_territory_problem(p_territory);
    IF v_problem IS NOT NULL THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, 'territory_code', v_problem;
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM registry.hs_codes WHERE hs6 = p_hs6) THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, 'hs_code',
            format('%s is not in the programme''s list of HS codes', p_hs6);
        RETURN;
    END IF;
    IF p_declared_on > current_date THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, 'declared_on',
            format('must not be in the future, got %s', p_declared_on);
        RETURN;
    END IF;
    SELECT * INTO v_other FROM registry.specializations
     WHERE territory_code = p_territory AND hs6 = p_hs6 AND withdrawn_on IS NULL;
    IF FOUND THEN
        RETURN QUERY SELECT 'exists', NULL::bytea, 'hs_code',
            format('territory %s already declares %s (specialization %s, version %s); '
                   'withdraw it first to declare it again', p_territory, p_hs6, v_other.id,
                   v_other.version);
        RETURN;
    END IF;
    INSERT INTO registry.specializations (id, territory_code, hs6, narrative, declared_on)
    VALUES (p_id, p_territory, p_hs6, p_narrative, p_declared_on);
    PERFORM bus.emit(p_event_id, '/ovop/registry', 'ovop.registry.specialization.declared',
                     'specialization/' || p_id, 'ovop.v1.Specialization', p_event, p_hs6,
                     p_territory, NULL, p_request_id);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '';
END
$$;

CREATE FUNCTION registry.withdraw_specialization(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_id bigint, p_version int, p_withdrawn_on date, p_event_id uuid, p_event bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text)
LANGUAGE plpgsql AS $$
DECLARE
    v_prev bytea;
    v_cur registry.specializations%ROWTYPE;
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '';
        RETURN;
    END IF;
    SELECT * INTO v_cur FROM registry.specializations WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found', NULL::bytea, 'id',
            format('no specialization with id %s', p_id);
        RETURN;
    END IF;
    IF v_cur.version <> p_version THEN
        RETURN QUERY SELECT 'stale', NULL::bytea, 'version',
            format('specialization %s is at version %s, not %s: read it again and reapply '
                   'your change', p_id, v_cur.version, p_version);
        RETURN;
    END IF;
    IF v_cur.withdrawn_on IS NOT NULL THEN
        RETURN QUERY SELECT 'precondition', NULL::bytea, 'id',
            format('specialization %s was already withdrawn on %s', p_id, v_cur.withdrawn_on);
        RETURN;
    END IF;
    IF p_withdrawn_on < v_cur.declared_on OR p_withdrawn_on > current_date THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, 'withdrawn_on',
            format('must be between the declaration (%s) and today, got %s', v_cur.declared_on,
                   p_withdrawn_on);
        RETURN;
    END IF;
    UPDATE registry.specializations
       SET withdrawn_on = p_withdrawn_on, version = version + 1
     WHERE id = p_id;
    PERFORM bus.emit(p_event_id, '/ovop/registry', 'ovop.registry.specialization.withdrawn',
                     'specialization/' || p_id, 'ovop.v1.Specialization', p_event, v_cur.hs6,
                     v_cur.territory_code, NULL, p_request_id);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '';
END
$$;

