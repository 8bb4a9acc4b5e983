-- 0020 matching: export orders filled from village producers' free capacity (matchd, service
-- ovop.matching), their allocation lines, which are also the reservations of capacity, and the
-- event-log cursor of the job that marks orders fulfilled when their shipment departs.
--
-- Capacity model. A product's capacity in a delivery window [from, to] is capacity_per_month
-- times the calendar months touched by the window that are in the product's season (every month
-- when season_months is empty). Its free capacity is that minus the quantities of the product
-- held by other orders (PROPOSED, ACCEPTED, SHIPMENT_CREATED) whose windows overlap: an
-- overlapping reservation counts whole, whatever the overlap, so capacity is never promised
-- twice. matching.propose() checks every line and writes the reservations in one transaction,
-- under a transaction-scoped advisory lock per product (class 7310120) taken in product order:
-- two matchd instances proposing at once serialize on the products they share, and the second
-- sees the first's reservations (a new statement, a new snapshot under READ COMMITTED). A line
-- that no longer fits is refused as 'stale' with reason CAPACITY_TAKEN, and matchd computes the
-- allocation again.
--
-- matchd reads the registry only through registry_api: the views below publish the columns
-- allocation needs (capacity, season, price, certifications, locations, OVOP certificates).

-- ------------------------------------------------------------------ registry_api for matchd

CREATE VIEW registry_api.product_offers AS
    SELECT id, producer_id, hs6, category, unit, capacity_per_month, season_months, price_usd,
           certifications, territory_code, name_en, name_ru
      FROM registry.products;
COMMENT ON VIEW registry_api.product_offers IS
    'published interface of the registry (read by matching): what a product offers an order: '
    'HS code, category, unit, monthly capacity, season months (empty: all year), price, '
    'certifications (organic, halal...)';

CREATE VIEW registry_api.producer_places AS
    SELECT id, legal_name, territory_code, lat, lon, status FROM registry.producers;
COMMENT ON VIEW registry_api.producer_places IS
    'published interface of the registry (read by matching): producers, their coordinates '
    '(NULL: those of their territory) and status';

CREATE VIEW registry_api.certificates AS
    SELECT number, producer_id, product_id, stars, issued_on, expires_on, status
      FROM registry.certificates;
COMMENT ON VIEW registry_api.certificates IS
    'published interface of the registry (read by matching): OVOP brand certificates of a '
    'producer''s product, their stars, expiry and status (active, suspended, revoked)';

CREATE VIEW registry_api.territory_points AS
    SELECT code, parent_code, name_en, name_ru, lat, lon, valid_to FROM registry.territories;
COMMENT ON VIEW registry_api.territory_points IS
    'published interface of the registry (read by matching): territories with their names and '
    'coordinates, every version (valid_to NULL: current)';

CREATE VIEW registry_api.hs_code_units AS
    SELECT hs6, unit, description FROM registry.hs_codes;
COMMENT ON VIEW registry_api.hs_code_units IS
    'published interface of the registry (read by matching): HS codes and their unit';

CREATE TRIGGER refuse_write INSTEAD OF INSERT OR UPDATE OR DELETE ON registry_api.product_offers
    FOR EACH ROW EXECUTE FUNCTION registry_api.refuse_write();
CREATE TRIGGER refuse_write INSTEAD OF INSERT OR UPDATE OR DELETE ON registry_api.producer_places
    FOR EACH ROW EXECUTE FUNCTION registry_api.refuse_write();
CREATE TRIGGER refuse_write INSTEAD OF INSERT OR UPDATE OR DELETE ON registry_api.certificates
    FOR EACH ROW EXECUTE FUNCTION registry_api.refuse_write();
CREATE TRIGGER refuse_write INSTEAD OF INSERT OR UPDATE OR DELETE
    ON registry_api.territory_points
    FOR EACH ROW EXECUTE FUNCTION registry_api.refuse_write();
CREATE TRIGGER refuse_write INSTEAD OF INSERT OR UPDATE OR DELETE ON registry_api.hs_code_units
    FOR EACH ROW EXECUTE FUNCTION registry_api.refuse_write();

GRANT USAGE ON SCHEMA registry_api TO ovop_matching;
GRANT SELECT ON registry_api.product_offers, registry_api.producer_places,
    registry_api.certificates, registry_api.territory_points, registry_api.hs_code_units,
    registry_api.cooperative_members TO ovop_matching;

-- ----------------------------------------------------------------------------------- roles

INSERT INTO iam.roles (name, description) VALUES
    ('matching.buyer', 'creates export orders and has them matched (trade promotion desk, '
                       'on behalf of foreign buyers)'),
    ('matching.exporter', 'accepts or rejects the allocation proposed for an export order'),
    ('exports.from_order', 'creates the export shipment of an accepted order (the matching '
                           'service principal svc-ovop.matching, on behalf of the acceptor)');

-- ---------------------------------------------------------------------------------- tables

CREATE TABLE matching.orders (
    id bigint PRIMARY KEY,
    buyer_name text NOT NULL CHECK (buyer_name <> '' AND length(buyer_name) <= 300),
    buyer_country char(2) NOT NULL CHECK (buyer_country ~ '^[A-Z]{2}$'),
    buyer_address text NOT NULL DEFAULT '',
    destination char(2) NOT NULL CHECK (destination ~ '^[A-Z]{2}$'),
    hs6 char(6) NOT NULL CHECK (hs6 ~ '^[0-9]{6}$'),
    category text NOT NULL DEFAULT '',
    quantity numeric(16, 3) NOT NULL CHECK (quantity > 0),
    unit text NOT NULL,
    min_stars int NOT NULL DEFAULT 0 CHECK (min_stars BETWEEN 0 AND 5),
    certifications text[] NOT NULL DEFAULT '{}',
    window_from date NOT NULL,
    window_to date NOT NULL,
    cons_territory text NOT NULL DEFAULT '',
    cons_lat double precision NOT NULL CHECK (cons_lat BETWEEN -90 AND 90),
    cons_lon double precision NOT NULL CHECK (cons_lon BETWEEN -180 AND 180),
    cons_name text NOT NULL DEFAULT '',
    price_ceiling_cents bigint NOT NULL DEFAULT 0 CHECK (price_ceiling_cents >= 0),
    allow_partial boolean NOT NULL DEFAULT false,
    status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'proposed', 'accepted',
        'shipment_created', 'fulfilled', 'rejected', 'expired')),
    version int NOT NULL DEFAULT 1 CHECK (version >= 1),
    filled numeric(16, 3) NOT NULL DEFAULT 0,
    total_cost_cents bigint NOT NULL DEFAULT 0,
    cooperative_id bigint NOT NULL DEFAULT 0,
    shortfalls jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(shortfalls) = 'array'),
    shipment_id bigint,
    accept_pb bytea,  -- the AcceptOrderRequest: what the shipment is created from
    created_by text NOT NULL,
    created_at timestamptz NOT NULL,
    proposed_at timestamptz,
    expires_at timestamptz,
    accepted_by text NOT NULL DEFAULT '',
    status_reason text NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL,
    CHECK (window_to >= window_from)
);
COMMENT ON TABLE matching.orders IS
    'export orders (ovop.matching): what a buyer wants, where and when, and the current proposal';
CREATE SEQUENCE matching.order_ids OWNED BY matching.orders.id;
CREATE INDEX orders_live ON matching.orders (status, id)
    WHERE status IN ('open', 'proposed', 'accepted');
CREATE INDEX orders_shipment ON matching.orders (shipment_id) WHERE shipment_id IS NOT NULL;

-- The lines of an order's current proposal; held lines are the reservations of capacity.
CREATE TABLE matching.reservations (
    order_id bigint NOT NULL REFERENCES matching.orders (id),
    ord smallint NOT NULL,
    producer_id bigint NOT NULL,
    product_id bigint NOT NULL,
    hs6 char(6) NOT NULL,  -- the order's: matchd reads an HS code's reservations at once
    quantity numeric(16, 3) NOT NULL CHECK (quantity > 0),
    km double precision NOT NULL CHECK (km >= 0),
    transport_cost_cents bigint NOT NULL,
    coordination_cost_cents bigint NOT NULL,
    territory_code text NOT NULL,
    producer_name text NOT NULL,
    unit_price_cents bigint NOT NULL,
    window_from date NOT NULL,
    window_to date NOT NULL,
    held boolean NOT NULL DEFAULT true,
    PRIMARY KEY (order_id, ord)
);
COMMENT ON TABLE matching.reservations IS
    'allocation lines of orders; held: capacity promised (released on reject and expiry)';
CREATE INDEX reservations_held ON matching.reservations (product_id, window_from, window_to)
    WHERE held;
CREATE INDEX reservations_held_hs ON matching.reservations (hs6, window_from) WHERE held;

CREATE TABLE matching.cursors (
    name text PRIMARY KEY,
    seq bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE matching.cursors IS
    'how far matchd read the event log (bus.events.seq): shipments (departures, shared by the '
    'instances), index:<instance> (registry events applied to that instance''s in-memory index; '
    'its lag is bus.sequencer.last_seq - seq)';
INSERT INTO matching.cursors (name) VALUES ('shipments');

-- -------------------------------------------------------------------------------- helpers

-- The capacity of a product in a window: capacity_per_month times the window's months in the
-- season.
CREATE FUNCTION matching.window_capacity(p_cap numeric, p_season smallint[], p_from date,
                                         p_to date) RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_cap * count(*)
      FROM generate_series(date_trunc('month', p_from), p_to, interval '1 month') AS m
     WHERE cardinality(p_season) = 0 OR extract(month FROM m)::smallint = ANY (p_season);
$$;

-- A protobuf varint (for the events the jobs write without matchd's C side).
CREATE FUNCTION matching.pb_varint(p_v bigint) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_out bytea := '';
    v numeric := CASE WHEN p_v < 0 THEN p_v + 18446744073709551616 ELSE p_v END;
BEGIN
    LOOP
        IF v < 128 THEN
            RETURN v_out || set_byte('\x00'::bytea, 0, v::int);
        END IF;
        v_out := v_out || set_byte('\x00'::bytea, 0, (mod(v, 128) + 128)::int);
        v := div(v, 128);
    END LOOP;
END
$$;

-- The event payload of a change a job makes: an ovop.v1.Order with id (1), status (15),
-- version (16), shipment_id (22) and status_reason (28).
CREATE FUNCTION matching.order_stub(p_id bigint, p_status int, p_version int, p_shipment bigint,
                                    p_reason text) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
    SELECT '\x08'::bytea || matching.pb_varint(p_id)
        || '\x78'::bytea || matching.pb_varint(p_status)
        || '\x8001'::bytea || matching.pb_varint(p_version)
        || CASE WHEN coalesce(p_shipment, 0) = 0 THEN ''::bytea
                ELSE '\xb001'::bytea || matching.pb_varint(p_shipment) END
        || CASE WHEN p_reason = '' THEN ''::bytea
                ELSE '\xe201'::bytea || matching.pb_varint(octet_length(convert_to(p_reason, 'UTF8')))
                     || convert_to(p_reason, 'UTF8') END;
$$;

-- OrderStatus numbers (matching.proto).
CREATE FUNCTION matching.status_number(p_status text) RETURNS int
LANGUAGE sql IMMUTABLE AS $$
    SELECT array_position(ARRAY['open', 'proposed', 'accepted', 'shipment_created', 'fulfilled',
                                'rejected', 'expired'], p_status);
$$;

CREATE FUNCTION matching.emit_job_event(p_o matching.orders, p_type text) RETURNS void
LANGUAGE sql AS $$
    SELECT bus.emit(gen_random_uuid(), '/ovop/matching', 'ovop.matching.order.' || p_type,
                    'order/' || p_o.id, 'ovop.v1.Order',
                    matching.order_stub(p_o.id, matching.status_number(p_o.status), p_o.version,
                                        p_o.shipment_id, p_o.status_reason),
                    p_o.hs6, NULL, p_o.destination, NULL);
$$;

-- Why an order names what the registry does not have (NULL: it is fine).
CREATE FUNCTION matching.order_problem(p_hs6 text, p_cons_territory text)
RETURNS TABLE (field text, message text, reason text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM registry_api.hs_code_units WHERE hs6 = p_hs6) THEN
        RETURN QUERY SELECT 'order.hs_code', format('no HS code %s in the registry', p_hs6),
            'UNKNOWN_HS_CODE';
    ELSIF p_cons_territory <> '' AND NOT EXISTS (
            SELECT 1 FROM registry_api.territory_points
             WHERE code = p_cons_territory AND valid_to IS NULL AND lat IS NOT NULL) THEN
        RETURN QUERY SELECT 'order.consolidation.territory_code',
            format('no current territory %s with coordinates', p_cons_territory),
            'UNKNOWN_CONSOLIDATION_POINT';
    END IF;
END
$$;

-- ------------------------------------------------------------------------------ mutations

CREATE FUNCTION matching.create_order(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_id bigint, p_buyer_name text, p_buyer_country text, p_buyer_address text,
    p_destination text, p_hs6 text, p_category text, p_quantity numeric, p_unit text,
    p_min_stars int, p_certifications text[], p_window_from date, p_window_to date,
    p_cons_territory text, p_cons_lat double precision, p_cons_lon double precision,
    p_cons_name text, p_price_ceiling_cents bigint, p_allow_partial boolean, p_at_us bigint,
    p_event_id uuid, p_event bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text, reason text)
LANGUAGE plpgsql AS $$
DECLARE
    v_prev bytea;
    v_p record;
    v_at timestamptz := to_timestamp(p_at_us / 1e6);
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '', '';
        RETURN;
    END IF;
    SELECT * INTO v_p FROM matching.order_problem(p_hs6, p_cons_territory);
    IF FOUND THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, v_p.field, v_p.message, v_p.reason;
        RETURN;
    END IF;
    INSERT INTO matching.orders (id, buyer_name, buyer_country, buyer_address, destination, hs6,
        category, quantity, unit, min_stars, certifications, window_from, window_to,
        cons_territory, cons_lat, cons_lon, cons_name, price_ceiling_cents, allow_partial,
        created_by, created_at, updated_at)
    VALUES (p_id, p_buyer_name, p_buyer_country, p_buyer_address, p_destination, p_hs6,
        p_category, p_quantity, p_unit, p_min_stars, p_certifications, p_window_from,
        p_window_to, p_cons_territory, p_cons_lat, p_cons_lon, p_cons_name,
        p_price_ceiling_cents, p_allow_partial, current_setting('ovop.principal', true), v_at,
        v_at);
    PERFORM bus.emit(p_event_id, '/ovop/matching', 'ovop.matching.order.created',
                     'order/' || p_id, 'ovop.v1.Order', p_event, p_hs6, NULL, p_destination,
                     p_request_id);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '', '';
END
$$;

-- The common head of a change of an existing order: the order locked, its version as read by
-- matchd (p_version, which the reply was built from) and its status one of p_from.
CREATE FUNCTION matching.order_for_change(p_id bigint, p_version int, p_from text[])
RETURNS TABLE (outcome text, field text, message text, reason text)
LANGUAGE plpgsql AS $$
DECLARE
    v matching.orders%ROWTYPE;
BEGIN
    SELECT * INTO v FROM matching.orders WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found', 'id', format('no order with id %s', p_id), 'NOT_FOUND';
    ELSIF v.version <> p_version THEN
        RETURN QUERY SELECT 'stale', 'expected_version',
            format('order %s is at version %s, not %s', p_id, v.version, p_version),
            'VERSION_MISMATCH';
    ELSIF NOT v.status = ANY (p_from) THEN
        RETURN QUERY SELECT 'precondition', 'id',
            format('order %s is %s; this needs it %s', p_id, v.status,
                   array_to_string(p_from, ' or ')), 'ORDER_STATUS';
    END IF;
END
$$;

-- Records a proposal: releases the order's previous lines, checks every new line against the
-- product's free capacity under the per-product locks, and reserves them. MatchOrder's
-- statement: the order is locked and checked here (as order_for_change does) rather than
-- through a second set-returning function, and the lines are parsed once into a typed row set
-- (each function call and each ->> extraction costs more than the statement it serves).
CREATE FUNCTION matching.propose(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_id bigint, p_version int, p_lines jsonb, p_filled numeric, p_total_cost_cents bigint,
    p_cooperative_id bigint, p_shortfalls jsonb, p_valid_seconds int, p_at_us bigint,
    p_event_id uuid, p_event bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text, reason text)
LANGUAGE plpgsql AS $$
DECLARE
    v_prev bytea;
    v_chk record;
    v matching.orders%ROWTYPE;
    v_at timestamptz := to_timestamp(p_at_us / 1e6);
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '', '';
        RETURN;
    END IF;
    SELECT * INTO v FROM matching.orders WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found', NULL::bytea, 'id', format('no order with id %s', p_id),
            'NOT_FOUND';
        RETURN;
    ELSIF v.version <> p_version THEN
        RETURN QUERY SELECT 'stale', NULL::bytea, 'expected_version',
            format('order %s is at version %s, not %s', p_id, v.version, p_version),
            'VERSION_MISMATCH';
        RETURN;
    ELSIF v.status NOT IN ('open', 'proposed') THEN
        RETURN QUERY SELECT 'precondition', NULL::bytea, 'id',
            format('order %s is %s; this needs it open or proposed', p_id, v.status),
            'ORDER_STATUS';
        RETURN;
    END IF;
    DELETE FROM matching.reservations WHERE order_id = p_id;
    PERFORM pg_advisory_xact_lock(7310120, hashtext(x.product_id::text))
       FROM (SELECT DISTINCT l.product_id
               FROM jsonb_to_recordset(p_lines) AS l(product_id bigint) ORDER BY 1) x;
    -- A new statement after the locks: it sees reservations committed while this one waited.
    SELECT l.product_id, l.quantity, c.free INTO v_chk
      FROM (SELECT e.product_id, sum(e.quantity) AS quantity
              FROM jsonb_to_recordset(p_lines) AS e(product_id bigint, quantity numeric)
             GROUP BY 1) l
      LEFT JOIN LATERAL (
            SELECT matching.window_capacity(o.capacity_per_month, o.season_months,
                                            v.window_from, v.window_to)
                   - coalesce((SELECT sum(r.quantity) FROM matching.reservations r
                                WHERE r.product_id = l.product_id AND r.held
                                  AND r.window_from <= v.window_to
                                  AND r.window_to >= v.window_from), 0) AS free
              FROM registry_api.product_offers o WHERE o.id = l.product_id) c ON true
     WHERE c.free IS NULL OR round(l.quantity, 3) > c.free
     ORDER BY l.product_id LIMIT 1;
    IF FOUND THEN
        RETURN QUERY SELECT 'stale', NULL::bytea, 'id',
            format('product %s has %s free in the window, %s asked: taken meanwhile',
                   v_chk.product_id, coalesce(v_chk.free, 0), v_chk.quantity), 'CAPACITY_TAKEN';
        RETURN;
    END IF;
    INSERT INTO matching.reservations (order_id, ord, producer_id, product_id, hs6, quantity, km,
        transport_cost_cents, coordination_cost_cents, territory_code, producer_name,
        unit_price_cents, window_from, window_to)
    SELECT p_id, (n - 1)::smallint, l.producer_id, l.product_id, v.hs6, round(l.quantity, 3),
           l.km, l.transport_cost_cents, l.coordination_cost_cents, l.territory_code,
           l.producer_name, l.unit_price_cents, v.window_from, v.window_to
      FROM ROWS FROM (jsonb_to_recordset(p_lines) AS (producer_id bigint, product_id bigint,
               quantity numeric, km double precision, transport_cost_cents bigint,
               coordination_cost_cents bigint, territory_code text, producer_name text,
               unit_price_cents bigint)) WITH ORDINALITY AS l(producer_id, product_id, quantity,
               km, transport_cost_cents, coordination_cost_cents, territory_code, producer_name,
               unit_price_cents, n);
    UPDATE matching.orders SET status = 'proposed', version = version + 1, filled = p_filled,
           total_cost_cents = p_total_cost_cents, cooperative_id = p_cooperative_id,
           shortfalls = p_shortfalls, proposed_at = v_at,
           expires_at = least(v_at + make_interval(secs => p_valid_seconds),
                              (window_to + 1)::timestamptz),
           status_reason = '', updated_at = v_at
     WHERE id = p_id;
    PERFORM bus.emit(p_event_id, '/ovop/matching', 'ovop.matching.order.proposed',
                     'order/' || p_id, 'ovop.v1.Order', p_event, v.hs6, NULL, v.destination,
                     p_request_id);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '', '';
END
$$;

-- Accepts or rejects a proposal (p_accept NULL: reject, with p_reason).
CREATE FUNCTION matching.decide(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_id bigint, p_version int, p_accept bytea, p_reason text, p_at_us bigint,
    p_event_id uuid, p_event bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text, reason text)
LANGUAGE plpgsql AS $$
DECLARE
    v_prev bytea;
    v_chk record;
    v matching.orders%ROWTYPE;
    v_at timestamptz := to_timestamp(p_at_us / 1e6);
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '', '';
        RETURN;
    END IF;
    SELECT * INTO v_chk FROM matching.order_for_change(p_id, p_version, ARRAY['proposed']);
    IF FOUND THEN
        RETURN QUERY SELECT v_chk.outcome, NULL::bytea, v_chk.field, v_chk.message, v_chk.reason;
        RETURN;
    END IF;
    SELECT * INTO v FROM matching.orders WHERE id = p_id;
    IF p_accept IS NOT NULL AND v.expires_at <= now() THEN
        RETURN QUERY SELECT 'precondition', NULL::bytea, 'id',
            format('the proposal of order %s expired at %s; match it again', p_id,
                   v.expires_at), 'PROPOSAL_EXPIRED';
        RETURN;
    END IF;
    IF p_accept IS NULL THEN
        UPDATE matching.reservations SET held = false WHERE order_id = p_id;
    END IF;
    UPDATE matching.orders
       SET status = CASE WHEN p_accept IS NULL THEN 'rejected' ELSE 'accepted' END,
           version = version + 1, accept_pb = p_accept,
           accepted_by = CASE WHEN p_accept IS NULL THEN '' ELSE
                             current_setting('ovop.principal', true) END,
           status_reason = p_reason, updated_at = v_at
     WHERE id = p_id;
    PERFORM bus.emit(p_event_id, '/ovop/matching',
                     'ovop.matching.order.' || CASE WHEN p_accept IS NULL THEN 'rejected'
                                                    ELSE 'accepted' END,
                     'order/' || p_id, 'ovop.v1.Order', p_event, v.hs6, NULL, v.destination,
                     p_request_id);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '', '';
END
$$;

-- ----------------------------------------------------------------------------------- jobs

-- Where an instance's in-memory index stands in the event log (written at most once a second
-- by each instance; a restart rebuilds the index from the tables and starts a new position).
CREATE FUNCTION matching.save_index_cursor(p_instance text, p_seq bigint) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO matching.cursors (name, seq, updated_at)
    VALUES ('index:' || left(p_instance, 200), p_seq, now())
    ON CONFLICT (name) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at;
$$;

-- The shipment of an accepted order exists (or could not be made: p_shipment 0, p_error).
CREATE FUNCTION matching.shipment_result(p_id bigint, p_shipment bigint, p_error text)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    v matching.orders%ROWTYPE;
BEGIN
    IF p_shipment = 0 THEN
        UPDATE matching.orders SET status_reason = left(p_error, 500), updated_at = now()
         WHERE id = p_id AND status = 'accepted';
        RETURN 0;
    END IF;
    UPDATE matching.orders SET status = 'shipment_created', shipment_id = p_shipment,
           version = version + 1, status_reason = '', updated_at = now()
     WHERE id = p_id AND status = 'accepted'
    RETURNING * INTO v;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    PERFORM matching.emit_job_event(v, 'shipment_created');
    RETURN 1;
END
$$;

-- Expires proposals past their validity and orders whose delivery window passed, releasing
-- their reservations. -1 when another instance runs it.
CREATE FUNCTION matching.expire_orders(p_batch int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    v matching.orders%ROWTYPE;
    v_n int := 0;
BEGIN
    IF NOT pg_try_advisory_xact_lock(7310121) THEN
        RETURN -1;
    END IF;
    FOR v IN
        UPDATE matching.orders o
           SET status = 'expired', version = o.version + 1, updated_at = now(),
               status_reason = CASE WHEN o.window_to < current_date
                                    THEN 'the delivery window passed'
                                    ELSE 'the proposal was not accepted in time' END
          FROM (SELECT id FROM matching.orders
                 WHERE (status = 'proposed' AND expires_at <= now())
                    OR (status IN ('open', 'proposed') AND window_to < current_date)
                 ORDER BY id LIMIT p_batch FOR UPDATE SKIP LOCKED) d
         WHERE o.id = d.id
        RETURNING o.*
    LOOP
        UPDATE matching.reservations SET held = false WHERE order_id = v.id;
        PERFORM matching.emit_job_event(v, 'expired');
        v_n := v_n + 1;
    END LOOP;
    RETURN v_n;
END
$$;

-- Marks orders fulfilled when their shipment's departure appears in the event log, from the
-- cursor on. -1 when another instance runs it.
CREATE FUNCTION matching.follow_shipments(p_batch int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    v_cur bigint;
    v_last bigint;
    v_n int;
    v matching.orders%ROWTYPE;
BEGIN
    IF NOT pg_try_advisory_xact_lock(7310122) THEN
        RETURN -1;
    END IF;
    SELECT seq INTO v_cur FROM matching.cursors WHERE name = 'shipments';
    SELECT max(seq), count(*) INTO v_last, v_n
      FROM (SELECT seq FROM bus.events WHERE seq > v_cur ORDER BY seq LIMIT p_batch) e;
    IF v_n = 0 THEN
        RETURN 0;
    END IF;
    FOR v IN
        UPDATE matching.orders o
           SET status = 'fulfilled', version = o.version + 1, updated_at = now()
          FROM (SELECT substring(subject FROM '^shipment/([0-9]+)$')::bigint AS shipment_id
                  FROM bus.events
                 WHERE seq > v_cur AND seq <= v_last
                   AND type = 'ovop.exports.shipment.departed') d
         WHERE o.shipment_id = d.shipment_id AND o.status = 'shipment_created'
        RETURNING o.*
    LOOP
        -- The reservations stay held: the capacity went into this shipment.
        PERFORM matching.emit_job_event(v, 'fulfilled');
    END LOOP;
    UPDATE matching.cursors SET seq = v_last, updated_at = now() WHERE name = 'shipments';
    RETURN v_n;
END
$$;
