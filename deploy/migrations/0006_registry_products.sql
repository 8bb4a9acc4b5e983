-- 0006 products, search and cooperatives: one-statement mutations (see common/mutation.h:
-- service, request id, method, fingerprint and reply first; returns outcome, reply, field,
-- message), each writing the change, its event and the reply in one transaction, and the
-- search query builder.

-- registry.at_us() (exact timestamps from the daemon's microseconds) is defined in 0005.

-- ---------------------------------------------------------------- products

-- Why a product cannot be stored for p_producer with p_hs and p_unit, as (outcome, field,
-- message), or outcome NULL when it can; then territory is the producer's. Locks the producer
-- row against a concurrent status change until the transaction ends.
CREATE FUNCTION registry.product_problem(p_producer bigint, p_hs text, p_unit text,
                                         OUT outcome text, OUT field text, OUT message text,
                                         OUT territory text)
LANGUAGE plpgsql AS $$
DECLARE
    v_status text;
    v_unit text;
BEGIN
    SELECT status, territory_code INTO v_status, territory FROM registry.producers
     WHERE id = p_producer FOR SHARE;
    IF NOT FOUND THEN
        outcome := 'not_found';
        field := 'producer_id';
        message := format('no producer with id %s', p_producer);
        RETURN;
    END IF;
    IF v_status <> 'active' THEN
        outcome := 'precondition';
        field := 'producer_id';
        message := format('producer %s is %s; only an active producer''s products can change',
                          p_producer, v_status);
        RETURN;
    END IF;
    SELECT unit INTO v_unit FROM registry.hs_codes WHERE hs6 = p_hs;
    IF NOT FOUND THEN
        outcome := 'invalid';
        field := 'hs_code';
        message := format('HS code %s is not in the programme''s list of HS codes', p_hs);
        RETURN;
    END IF;
    IF p_unit <> v_unit AND p_unit NOT IN ('kg', 'l', 'pcs', 'pair', 'm2', 't') THEN
        outcome := 'invalid';
        field := 'unit';
        message := format('must be %s (the unit of HS %s) or one of kg, l, pcs, pair, m2, t; '
                          'got "%s"', v_unit, p_hs, p_unit);
        RETURN;
    END IF;
END
$$;

-- Another product of the producer with the same HS code and the same names (ignoring case),
-- or NULL: the same product registered twice.
CREATE FUNCTION registry.product_twin(p_producer bigint, p_except bigint, p_hs text,
                                      p_ru text, p_en text, p_ky text) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT id FROM registry.products
     WHERE producer_id = p_producer AND id <> p_except AND hs6 = p_hs
       AND lower(name_ru) = lower(p_ru) AND lower(name_en) = lower(p_en)
       AND lower(name_ky) = lower(p_ky)
     LIMIT 1;
$$;

CREATE FUNCTION registry.create_product(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_id bigint, p_producer bigint, p_name_ru text, p_name_en text, p_name_ky text,
    p_category text, p_hs text, p_unit text, p_capacity numeric, p_season jsonb,
    p_price numeric, p_raw jsonb, p_certs jsonb, p_at_us bigint, p_event_id uuid,
    p_event bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text)
LANGUAGE plpgsql AS $$
DECLARE
    v_prev bytea;
    v_chk record;
    v_twin bigint;
    v_at timestamptz := registry.at_us(p_at_us);
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '';
        RETURN;
    END IF;
    v_chk := registry.product_problem(p_producer, p_hs, p_unit);
    IF v_chk.outcome IS NOT NULL THEN
        RETURN QUERY SELECT v_chk.outcome, NULL::bytea, v_chk.field, v_chk.message;
        RETURN;
    END IF;
    v_twin := registry.product_twin(p_producer, 0, p_hs, p_name_ru, p_name_en, p_name_ky);
    IF v_twin IS NOT NULL THEN
        RETURN QUERY SELECT 'exists', NULL::bytea, 'name',
            format('producer %s already has this product under HS %s (product %s)',
                   p_producer, p_hs, v_twin);
        RETURN;
    END IF;
    INSERT INTO registry.products (id, producer_id, name_ru, name_en, name_ky, category, hs6,
                                   unit, capacity_per_month, season_months, price_usd,
                                   raw_materials, certifications, created_at, updated_at)
    VALUES (p_id, p_producer, p_name_ru, p_name_en, p_name_ky, p_category, p_hs, p_unit,
            p_capacity,
            ARRAY(SELECT x::smallint FROM jsonb_array_elements_text(p_season) WITH ORDINALITY
                                          AS e(x, n) ORDER BY n),
            p_price,
            ARRAY(SELECT x FROM jsonb_array_elements_text(p_raw) WITH ORDINALITY AS e(x, n)
                  ORDER BY n),
            ARRAY(SELECT x FROM jsonb_array_elements_text(p_certs) WITH ORDINALITY AS e(x, n)
                  ORDER BY n),
            v_at, v_at);
    PERFORM bus.emit(p_event_id, '/ovop/registry', 'ovop.registry.product.created',
                     'product/' || p_id, 'ovop.v1.Product', p_event, p_hs, v_chk.territory,
                     NULL, p_request_id);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '';
END
$$;

-- Full replacement of a product's details under optimistic versioning; the producer stays.
CREATE FUNCTION registry.update_product(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_id bigint, p_version int, p_name_ru text, p_name_en text, p_name_ky text,
    p_category text, p_hs text, p_unit text, p_capacity numeric, p_season jsonb,
    p_price numeric, p_raw jsonb, p_certs jsonb, p_at_us bigint, p_event_id uuid,
    p_event bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text)
LANGUAGE plpgsql AS $$
DECLARE
    v_prev bytea;
    v_cur registry.products%ROWTYPE;
    v_chk record;
    v_twin bigint;
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '';
        RETURN;
    END IF;
    SELECT * INTO v_cur FROM registry.products WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found', NULL::bytea, 'id', format('no product with id %s', p_id);
        RETURN;
    END IF;
    IF v_cur.version <> p_version THEN
        RETURN QUERY SELECT 'stale', NULL::bytea, 'version',
            format('product %s is at version %s, not %s: read it again and reapply your change',
                   p_id, v_cur.version, p_version);
        RETURN;
    END IF;
    v_chk := registry.product_problem(v_cur.producer_id, p_hs, p_unit);
    IF v_chk.outcome IS NOT NULL THEN
        RETURN QUERY SELECT v_chk.outcome, NULL::bytea, v_chk.field, v_chk.message;
        RETURN;
    END IF;
    v_twin := registry.product_twin(v_cur.producer_id, p_id, p_hs, p_name_ru, p_name_en,
                                    p_name_ky);
    IF v_twin IS NOT NULL THEN
        RETURN QUERY SELECT 'exists', NULL::bytea, 'name',
            format('producer %s already has this product under HS %s (product %s)',
                   v_cur.producer_id, p_hs, v_twin);
        RETURN;
    END IF;
    UPDATE registry.products
       SET name_ru = p_name_ru, name_en = p_name_en, name_ky = p_name_ky,
           category = p_category, hs6 = p_hs, unit = p_unit, capacity_per_month = p_capacity,
           season_months = ARRAY(SELECT x::smallint
                                   FROM jsonb_array_elements_text(p_season) WITH ORDINALITY
                                        AS e(x, n) ORDER BY n),
           price_usd = p_price,
           raw_materials = ARRAY(SELECT x FROM jsonb_array_elements_text(p_raw)
                                               WITH ORDINALITY AS e(x, n) ORDER BY n),
           certifications = ARRAY(SELECT x FROM jsonb_array_elements_text(p_certs)
                                                WITH ORDINALITY AS e(x, n) ORDER BY n),
           version = version + 1, updated_at = registry.at_us(p_at_us)
     WHERE id = p_id;
    PERFORM bus.emit(p_event_id, '/ovop/registry', 'ovop.registry.product.updated',
                     'product/' || p_id, 'ovop.v1.Product', p_event, p_hs, v_chk.territory,
                     NULL, p_request_id);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '';
END
$$;

-- ---------------------------------------------------------------- search

-- The full-text query of a user's words under the 'simple' configuration: every word must
-- match, the last one also as a prefix (someone still typing "apric" finds apricots). The
-- words come out of the text search parser as lexemes and are quoted into the tsquery's own
-- syntax, so no character of the input is ever read as a tsquery operator. Hyphenated
-- compounds are matched by their parts (the stored vectors hold both). NULL when the text
-- holds no word.
CREATE FUNCTION registry.search_query(p_text text) RETURNS tsquery
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    WITH words AS (
        SELECT d.lexemes[1] AS lexeme, d.n
          FROM ts_debug('simple', p_text) WITH ORDINALITY AS d(alias, description, token,
                                                               dictionaries, dictionary,
                                                               lexemes, n)
         WHERE cardinality(d.lexemes) > 0
           AND d.alias NOT IN ('asciihword', 'hword', 'numhword')
    ), last AS (
        SELECT max(n) AS n FROM words
    )
    SELECT nullif(string_agg('''' || replace(replace(w.lexeme, '\', '\\'), '''', '''''') || ''''
                             || CASE WHEN w.n = last.n THEN ':*' ELSE '' END,
                             ' & ' ORDER BY w.n), '')::tsquery
      FROM words w, last;
$$;

-- ---------------------------------------------------------------- cooperatives

-- Why a cooperative may not be registered at p_code today, or NULL when it may: any territory
-- valid today below the republic (a village, a town, an aiyl aimak, a district, a region).
CREATE FUNCTION registry.cooperative_location_problem(p_code text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_kind text;
    v_to date;
BEGIN
    SELECT kind INTO v_kind FROM registry.territories
     WHERE code = p_code AND valid_from <= current_date
       AND (valid_to IS NULL OR valid_to > current_date);
    IF FOUND THEN
        IF v_kind <> 'republic' THEN
            RETURN NULL;
        END IF;
        RETURN format('must be a region, district, town or village; %s is the republic', p_code);
    END IF;
    SELECT max(valid_to) INTO v_to FROM registry.territories WHERE code = p_code;
    IF v_to IS NOT NULL THEN
        RETURN format('territory %s was retired on %s', p_code, v_to);
    END IF;
    RETURN format('no territory with code %s', p_code);
END
$$;

-- Why producer p_id cannot join a cooperative, as (outcome, message), or outcome NULL. Locks
-- the producer row against a concurrent status change.
CREATE FUNCTION registry.member_problem(p_id bigint, OUT outcome text, OUT message text)
LANGUAGE plpgsql AS $$
DECLARE
    v_status text;
BEGIN
    SELECT status INTO v_status FROM registry.producers WHERE id = p_id FOR SHARE;
    IF NOT FOUND THEN
        outcome := 'not_found';
        message := format('no producer with id %s', p_id);
    ELSIF v_status <> 'active' THEN
        outcome := 'precondition';
        message := format('producer %s is %s; only active producers can join a cooperative',
                          p_id, v_status);
    END IF;
END
$$;

CREATE FUNCTION registry.create_cooperative(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_id bigint, p_name text, p_territory text, p_founded date, p_members jsonb,
    p_at_us bigint, p_event_id uuid, p_event bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text)
LANGUAGE plpgsql AS $$
DECLARE
    v_prev bytea;
    v_problem text;
    v_chk record;
    v_other bigint;
    v_member bigint;
    v_i int := 0;
    v_at timestamptz := registry.at_us(p_at_us);
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '';
        RETURN;
    END IF;
    IF p_founded > current_date THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, 'founded_on',
            format('must not be in the future, got %s', p_founded);
        RETURN;
    END IF;
    v_problem := registry.cooperative_location_problem(p_territory);
    IF v_problem IS NOT NULL THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, 'territory_code', v_problem;
        RETURN;
    END IF;
    SELECT id INTO v_other FROM registry.cooperatives WHERE lower(name) = lower(p_name);
    IF FOUND THEN
        RETURN QUERY SELECT 'exists', NULL::bytea, 'name',
            format('a cooperative named "%s" is already registered (id %s)', p_name, v_other);
        RETURN;
    END IF;
    FOR v_member IN SELECT x::bigint FROM jsonb_array_elements_text(p_members) AS e(x)
    LOOP
        v_chk := registry.member_problem(v_member);
        IF v_chk.outcome IS NOT NULL THEN
            RETURN QUERY SELECT v_chk.outcome, NULL::bytea,
                format('founding_members[%s]', v_i), v_chk.message;
            RETURN;
        END IF;
        v_i := v_i + 1;
    END LOOP;
    INSERT INTO registry.cooperatives (id, name, territory_code, founded_on, created_at,
                                       updated_at)
    VALUES (p_id, p_name, p_territory, p_founded, v_at, v_at);
    INSERT INTO registry.cooperative_members (cooperative_id, producer_id, joined_on)
    SELECT p_id, x::bigint, p_founded FROM jsonb_array_elements_text(p_members) AS e(x);
    PERFORM bus.emit(p_event_id, '/ovop/registry', 'ovop.registry.cooperative.created',
                     'cooperative/' || p_id, 'ovop.v1.Cooperative', p_event, NULL, p_territory,
                     NULL, p_request_id);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '';
END
$$;

-- A producer joins on p_on: active, on or after the founding, not in the future, and not a
-- member at any date from p_on on (the membership it opens has no end yet).
CREATE FUNCTION registry.join_cooperative(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_id bigint, p_version int, p_producer bigint, p_on date, p_at_us bigint,
    p_event_id uuid, p_event bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text)
LANGUAGE plpgsql AS $$
DECLARE
    v_prev bytea;
    v_cur registry.cooperatives%ROWTYPE;
    v_chk record;
    v_m registry.cooperative_members%ROWTYPE;
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '';
        RETURN;
    END IF;
    SELECT * INTO v_cur FROM registry.cooperatives WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found', NULL::bytea, 'cooperative_id',
            format('no cooperative with id %s', p_id);
        RETURN;
    END IF;
    IF v_cur.version <> p_version THEN
        RETURN QUERY SELECT 'stale', NULL::bytea, 'version',
            format('cooperative %s is at version %s, not %s: read it again and reapply your '
                   'change', p_id, v_cur.version, p_version);
        RETURN;
    END IF;
    IF p_on > current_date THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, 'joined_on',
            format('must not be in the future, got %s', p_on);
        RETURN;
    END IF;
    IF p_on < v_cur.founded_on THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, 'joined_on',
            format('cooperative %s was founded on %s; joined_on must be on or after it, got %s',
                   p_id, v_cur.founded_on, p_on);
        RETURN;
    END IF;
    v_chk := registry.member_problem(p_producer);
    IF v_chk.outcome IS NOT NULL THEN
        RETURN QUERY SELECT v_chk.outcome, NULL::bytea, 'producer_id', v_chk.message;
        RETURN;
    END IF;
    SELECT * INTO v_m FROM registry.cooperative_members m
     WHERE m.cooperative_id = p_id AND m.producer_id = p_producer
       AND daterange(m.joined_on, m.left_on, '[)') && daterange(p_on, NULL, '[)')
     ORDER BY m.joined_on DESC LIMIT 1;
    IF FOUND THEN
        IF v_m.left_on IS NULL THEN
            RETURN QUERY SELECT 'exists', NULL::bytea, 'producer_id',
                format('producer %s is already a member of cooperative %s since %s',
                       p_producer, p_id, v_m.joined_on);
        ELSE
            RETURN QUERY SELECT 'invalid', NULL::bytea, 'joined_on',
                format('producer %s was a member of cooperative %s until %s; joined_on must be '
                       'on or after that, got %s', p_producer, p_id, v_m.left_on, p_on);
        END IF;
        RETURN;
    END IF;
    INSERT INTO registry.cooperative_members (cooperative_id, producer_id, joined_on)
    VALUES (p_id, p_producer, p_on);
    UPDATE registry.cooperatives SET version = version + 1, updated_at = registry.at_us(p_at_us)
     WHERE id = p_id;
    PERFORM bus.emit(p_event_id, '/ovop/registry', 'ovop.registry.cooperative.member_joined',
                     'cooperative/' || p_id, 'ovop.v1.Cooperative', p_event, NULL,
                     v_cur.territory_code, NULL, p_request_id);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '';
END
$$;

-- A member leaves on p_on: its open membership ends there (left_on >= joined_on; not in
-- the future). A producer with no open membership is not a member and cannot leave.
CREATE FUNCTION registry.leave_cooperative(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_id bigint, p_version int, p_producer bigint, p_on date, p_at_us bigint,
    p_event_id uuid, p_event bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text)
LANGUAGE plpgsql AS $$
DECLARE
    v_prev bytea;
    v_cur registry.cooperatives%ROWTYPE;
    v_joined date;
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '';
        RETURN;
    END IF;
    SELECT * INTO v_cur FROM registry.cooperatives WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found', NULL::bytea, 'cooperative_id',
            format('no cooperative with id %s', p_id);
        RETURN;
    END IF;
    IF v_cur.version <> p_version THEN
        RETURN QUERY SELECT 'stale', NULL::bytea, 'version',
            format('cooperative %s is at version %s, not %s: read it again and reapply your '
                   'change', p_id, v_cur.version, p_version);
        RETURN;
    END IF;
    IF p_on > current_date THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, 'left_on',
            format('must not be in the future, got %s', p_on);
        RETURN;
    END IF;
    SELECT joined_on INTO v_joined FROM registry.cooperative_members
     WHERE cooperative_id = p_id AND producer_id = p_producer AND left_on IS NULL;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'precondition', NULL::bytea, 'producer_id',
            format('producer %s is not a member of cooperative %s', p_producer, p_id);
        RETURN;
    END IF;
    IF p_on < v_joined THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, 'left_on',
            format('producer %s joined cooperative %s on %s; left_on must be on or after it, '
                   'got %s', p_producer, p_id, v_joined, p_on);
        RETURN;
    END IF;
    UPDATE registry.cooperative_members SET left_on = p_on
     WHERE cooperative_id = p_id AND producer_id = p_producer AND left_on IS NULL;
    UPDATE registry.cooperatives SET version = version + 1, updated_at = registry.at_us(p_at_us)
     WHERE id = p_id;
    PERFORM bus.emit(p_event_id, '/ovop/registry', 'ovop.registry.cooperative.member_left',
                     'cooperative/' || p_id, 'ovop.v1.Cooperative', p_event, NULL,
                     v_cur.territory_code, NULL, p_request_id);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '';
END
$$;

-- Membership lookups by cooperative (the EXCLUDE constraint's index leads with it too, but a
-- plain btree serves the joins of reads and the capacity sum).
CREATE INDEX cooperative_members_cooperative
    ON registry.cooperative_members (cooperative_id, joined_on, producer_id);
