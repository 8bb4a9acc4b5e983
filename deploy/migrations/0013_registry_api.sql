-- 0013 registry_api: the registry's published interface to the other daemons. exportd read
-- registryd's tables (registry.producers, products, ...) directly, a coupling that nothing
-- named and that per-daemon roles limited to their own schema break. Now the registry
-- publishes views with the columns other daemons use, and exportd (its SQL functions here,
-- its statements in services/exports) reads only them; registry.* stays registryd's to
-- change, as long as these views keep their columns and meaning.
--
-- Each view is a plain SELECT of one table: PostgreSQL expands it into the query that uses
-- it, so plans (and their indexes) are those of the table, and row locks (FOR KEY SHARE) go
-- through to it. The views run with their owner's rights: a daemon's role needs SELECT on
-- the view, not on registry.*.
--
-- exports.create_shipment and exports.record_violation are re-created below with their
-- bodies as 0009 defined them (no later migration changed them), registry. changed to
-- registry_api. and nothing else.

CREATE SCHEMA registry_api;
COMMENT ON SCHEMA registry_api IS
    'the registry''s published interface to other daemons: views over registry.*';

CREATE VIEW registry_api.producers AS
    SELECT id, legal_name, territory_code, status FROM registry.producers;
COMMENT ON VIEW registry_api.producers IS
    'published interface of the registry (read by exports): producers, their location and '
    'status (active, suspended, closed)';

CREATE VIEW registry_api.cooperatives AS
    SELECT id, name, territory_code FROM registry.cooperatives;
COMMENT ON VIEW registry_api.cooperatives IS
    'published interface of the registry (read by exports): cooperatives and their location';

CREATE VIEW registry_api.cooperative_members AS
    SELECT cooperative_id, producer_id, joined_on, left_on FROM registry.cooperative_members;
COMMENT ON VIEW registry_api.cooperative_members IS
    'published interface of the registry (read by exports): memberships of producers in '
    'cooperatives, from joined_on until left_on (excluded; NULL: still a member)';

CREATE VIEW registry_api.products AS
    SELECT id, producer_id, hs6, unit, name_en, name_ru, name_ky FROM registry.products;
COMMENT ON VIEW registry_api.products IS
    'published interface of the registry (read by exports): products, their maker, HS code, '
    'unit and names';

CREATE VIEW registry_api.hs_codes AS
    SELECT hs6, origin FROM registry.hs_codes;
COMMENT ON VIEW registry_api.hs_codes IS
    'published interface of the registry (read by exports): HS codes and their origin (plant, '
    'animal, other), which decides the sanitary documents an export needs';

-- exportd's role reads the registry through the interface only. (exports.create_shipment
-- locks the exporter's row FOR KEY SHARE, which PostgreSQL allows only with UPDATE on the
-- relation named: the view now, the table before; ovop_exports had neither, and the daemons
-- still connect as the administrator.)
GRANT USAGE ON SCHEMA registry_api TO ovop_exports;
GRANT SELECT ON ALL TABLES IN SCHEMA registry_api TO ovop_exports;
REVOKE SELECT ON registry.producers, registry.cooperatives, registry.cooperative_members,
                 registry.products, registry.hs_codes, registry.territories FROM ovop_exports;
REVOKE USAGE ON SCHEMA registry FROM ovop_exports;


-- Creates a draft shipment. p_lots: [[product_id, producer_id, quantity, unit, net_kg,
-- value_usd, value_som], ...] with numbers as strings. p_head and p_static are the move and
-- the goods-and-route parts of its events (see the top of 0009_exports.sql).
CREATE OR REPLACE FUNCTION exports.create_shipment(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_id bigint, p_caller text, p_exporter_kind text, p_exporter_id bigint,
    p_buyer_name text, p_buyer_country text, p_buyer_address text, p_destination text,
    p_incoterm text, p_mode text, p_vehicle text, p_note text, p_border text,
    p_departure date, p_arrival date, p_lots jsonb, p_at_us bigint, p_event_id uuid,
    p_head bytea, p_static bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text)
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    v_prev bytea;
    v_name text;
    v_territory text;
    v_status text;
    v_modes text[];
    v_problem record;
    v_hs6 text;
    v_at timestamptz := exports.at_us(p_at_us);
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '';
        RETURN;
    END IF;
    IF p_exporter_kind = 'producer' THEN
        SELECT legal_name, territory_code, status INTO v_name, v_territory, v_status
          FROM registry_api.producers WHERE id = p_exporter_id FOR KEY SHARE;
    ELSE
        SELECT name, territory_code, 'active' INTO v_name, v_territory, v_status
          FROM registry_api.cooperatives WHERE id = p_exporter_id FOR KEY SHARE;
    END IF;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, 'exporter.id',
            format('no %s with id %s', p_exporter_kind, p_exporter_id);
        RETURN;
    END IF;
    IF v_status <> 'active' THEN
        RETURN QUERY SELECT 'precondition', NULL::bytea, 'exporter.id',
            format('producer %s is %s and cannot export', p_exporter_id, v_status);
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM exports.countries WHERE code = p_buyer_country) THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, 'buyer.country',
            format('unknown country code "%s": use ISO 3166-1 alpha-2, e.g. CN, KZ, JP',
                   p_buyer_country);
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM exports.countries WHERE code = p_destination) THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, 'destination',
            format('unknown country code "%s": use ISO 3166-1 alpha-2, e.g. CN, KZ, JP',
                   p_destination);
        RETURN;
    END IF;
    SELECT modes INTO v_modes FROM exports.border_points WHERE code = p_border;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, 'border_point',
            format('no crossing point %s; known: %s', p_border,
                   (SELECT string_agg(code, ', ' ORDER BY code) FROM exports.border_points));
        RETURN;
    END IF;
    IF NOT p_mode = ANY (v_modes) THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, 'border_point',
            format('%s serves %s transport, not %s', p_border, array_to_string(v_modes, ', '),
                   p_mode);
        RETURN;
    END IF;

    -- The first problem of the lots, in order.
    WITH l AS (
        SELECT (n - 1)::int AS i, (e->>0)::bigint AS product_id, (e->>1)::bigint AS producer_id,
               e->>3 AS unit
          FROM jsonb_array_elements(p_lots) WITH ORDINALITY AS x(e, n)
    )
    SELECT l.i, x.ord, l.product_id, l.producer_id, l.unit, p.producer_id AS maker,
           p.unit AS product_unit, pr.status AS producer_status
      INTO v_problem
      FROM l
      LEFT JOIN registry_api.products p ON p.id = l.product_id
      LEFT JOIN registry_api.producers pr ON pr.id = l.producer_id
     CROSS JOIN LATERAL (
           SELECT f.ord FROM (VALUES
               (1, p.id IS NULL),
               (2, pr.id IS NULL),
               (3, p.producer_id <> l.producer_id),
               (4, pr.status <> 'active'),
               (5, l.unit <> p.unit),
               (6, p_exporter_kind = 'producer' AND l.producer_id <> p_exporter_id),
               (7, p_exporter_kind = 'cooperative' AND NOT EXISTS (
                       SELECT 1 FROM registry_api.cooperative_members m
                        WHERE m.cooperative_id = p_exporter_id AND m.producer_id = l.producer_id
                          AND m.joined_on <= current_date
                          AND (m.left_on IS NULL OR m.left_on > current_date)))
           ) f(ord, bad)
           WHERE f.bad ORDER BY f.ord LIMIT 1) x
     ORDER BY l.i
     LIMIT 1;
    IF FOUND THEN
        RETURN QUERY SELECT
            CASE WHEN v_problem.ord = 4 THEN 'precondition' ELSE 'invalid' END, NULL::bytea,
            format('lots[%s].%s', v_problem.i,
                   CASE v_problem.ord WHEN 1 THEN 'product_id' WHEN 5 THEN 'unit'
                                      ELSE 'producer_id' END),
            CASE v_problem.ord
                WHEN 1 THEN format('no product with id %s', v_problem.product_id)
                WHEN 2 THEN format('no producer with id %s', v_problem.producer_id)
                WHEN 3 THEN format('product %s is made by producer %s, not %s',
                                   v_problem.product_id, v_problem.maker, v_problem.producer_id)
                WHEN 4 THEN format('producer %s is %s and cannot export',
                                   v_problem.producer_id, v_problem.producer_status)
                WHEN 5 THEN format('product %s is counted in %s, not %s',
                                   v_problem.product_id, v_problem.product_unit, v_problem.unit)
                WHEN 6 THEN format('a producer exports its own goods: producer %s is not the '
                                   'exporter (producer %s); export through a cooperative',
                                   v_problem.producer_id, p_exporter_id)
                ELSE format('producer %s is not a member of cooperative %s today',
                            v_problem.producer_id, p_exporter_id) END;
        RETURN;
    END IF;

    INSERT INTO exports.shipments (
        id, exporter_kind, exporter_id, exporter_name, buyer_name, buyer_country, buyer_address,
        destination, incoterm, transport_mode, vehicle, consignment_note, border_point,
        planned_departure, planned_arrival, origin_territory, hs6, origins, required_docs,
        net_kg, value_usd, value_som, status, version, created_at, created_by, status_at,
        event_pb)
    SELECT p_id, p_exporter_kind, p_exporter_id, v_name, p_buyer_name, p_buyer_country,
           p_buyer_address, p_destination, p_incoterm, p_mode, p_vehicle, p_note, p_border,
           p_departure, p_arrival, v_territory, g.hs6, g.origins,
           exports.required_documents(p_destination, g.origins, p_mode), g.net_kg, g.value_usd,
           g.value_som, 'draft', 1, v_at, p_caller, v_at, p_static
      FROM (SELECT (array_agg(p.hs6 ORDER BY (x.e->>4)::numeric DESC, x.n))[1] AS hs6,
                   array_agg(DISTINCT h.origin ORDER BY h.origin) AS origins,
                   sum((x.e->>4)::numeric) AS net_kg, sum((x.e->>5)::numeric) AS value_usd,
                   sum((x.e->>6)::numeric) AS value_som
              FROM jsonb_array_elements(p_lots) WITH ORDINALITY AS x(e, n)
              JOIN registry_api.products p ON p.id = (x.e->>0)::bigint
              JOIN registry_api.hs_codes h ON h.hs6 = p.hs6) g
    RETURNING hs6 INTO v_hs6;
    INSERT INTO exports.lots (shipment_id, ord, product_id, producer_id, hs6, product_name,
                              quantity, unit, net_kg, value_usd, value_som, territory_code)
    SELECT p_id, x.n, p.id, pr.id, p.hs6,
           coalesce(nullif(p.name_en, ''), nullif(p.name_ru, ''), p.name_ky),
           (x.e->>2)::numeric, p.unit, (x.e->>4)::numeric, (x.e->>5)::numeric,
           (x.e->>6)::numeric, pr.territory_code
      FROM jsonb_array_elements(p_lots) WITH ORDINALITY AS x(e, n)
      JOIN registry_api.products p ON p.id = (x.e->>0)::bigint
      JOIN registry_api.producers pr ON pr.id = (x.e->>1)::bigint;
    INSERT INTO exports.shipment_history (shipment_id, version, from_status, to_status, at,
                                          caller, agency, reason, reference, request_id,
                                          event_id)
    VALUES (p_id, 1, NULL, 'draft', v_at, p_caller, '', '', '', p_request_id, p_event_id);
    PERFORM bus.emit(p_event_id, '/ovop/exports', 'ovop.exports.shipment.created',
                     'shipment/' || p_id, 'ovop.v1.ExportEvent', p_head || p_static, v_hs6,
                     v_territory, p_destination, p_request_id);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '';
END
$$;

-- Records a violation notice. p_expected_until is the block the daemon computed for its
-- reply (exports.phyto_block with this notice added); if the notices changed meanwhile the
-- statement fails with a serialization failure and the client retries. Notices of one
-- exporter are recorded one at a time.
CREATE OR REPLACE FUNCTION exports.record_violation(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_id bigint, p_caller text, p_kind text, p_exporter bigint, p_country text, p_on date,
    p_authority text, p_reference text, p_description text, p_shipment bigint,
    p_expected_until date, p_at_us bigint, p_event_id uuid, p_event bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text)
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    v_prev bytea;
    v_territory text;
    v_other bigint;
    v_until date;
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '';
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('exports.notices/' || p_kind || '/'
                                                   || p_exporter, 0));
    IF p_kind = 'producer' THEN
        SELECT territory_code INTO v_territory FROM registry_api.producers WHERE id = p_exporter;
    ELSE
        SELECT territory_code INTO v_territory FROM registry_api.cooperatives WHERE id = p_exporter;
    END IF;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, 'exporter.id',
            format('no %s with id %s', p_kind, p_exporter);
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM exports.countries WHERE code = p_country) THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, 'country',
            format('unknown country code "%s": use ISO 3166-1 alpha-2, e.g. CN, KZ, JP',
                   p_country);
        RETURN;
    END IF;
    IF p_shipment IS NOT NULL AND NOT EXISTS (
           SELECT 1 FROM exports.shipments
            WHERE id = p_shipment AND exporter_kind = p_kind AND exporter_id = p_exporter) THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, 'shipment_id',
            format('no shipment %s of %s %s', p_shipment, p_kind, p_exporter);
        RETURN;
    END IF;
    SELECT id INTO v_other FROM exports.violation_notices
     WHERE exporter_kind = p_kind AND exporter_id = p_exporter AND country = p_country
       AND reference = p_reference AND p_reference <> '';
    IF FOUND THEN
        RETURN QUERY SELECT 'exists', NULL::bytea, 'reference',
            format('notice %s from %s is already recorded (id %s)', p_reference, p_country,
                   v_other);
        RETURN;
    END IF;
    INSERT INTO exports.violation_notices (id, exporter_kind, exporter_id, country, noticed_on,
                                           authority, reference, description, shipment_id,
                                           created_at, created_by)
    VALUES (p_id, p_kind, p_exporter, p_country, p_on, p_authority, p_reference, p_description,
            p_shipment, exports.at_us(p_at_us), p_caller);
    SELECT b.blocked_until INTO v_until FROM exports.phyto_block(p_kind, p_exporter, current_date) b;
    IF v_until IS DISTINCT FROM p_expected_until THEN
        RAISE EXCEPTION 'the notices of % % changed while recording one', p_kind, p_exporter
            USING ERRCODE = 'serialization_failure';
    END IF;
    PERFORM bus.emit(p_event_id, '/ovop/exports', 'ovop.exports.violation.recorded',
                     'violation/' || p_id, 'ovop.v1.ViolationNotice', p_event, NULL,
                     v_territory, p_country, p_request_id);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '';
END
$$;
