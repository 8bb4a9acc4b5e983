-- 0005 producer mutations, one statement each (see common/mutation.h for the convention:
-- service, request id, method, fingerprint and reply first; returns outcome, reply, field,
-- message). Each writes the change, its event and the reply in one transaction.

-- Exact timestamps from the microseconds the daemon put into the reply (to_timestamp takes a
-- double and may be a microsecond off).
CREATE FUNCTION registry.at_us(p_us bigint) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT timestamptz 'epoch' + p_us * interval '1 microsecond';
$$;

-- Products carry their producer's territory (see registry.products.territory_code).
CREATE FUNCTION registry.product_territory() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT territory_code INTO NEW.territory_code FROM registry.producers
     WHERE id = NEW.producer_id;
    RETURN NEW;
END
$$;
CREATE TRIGGER products_territory BEFORE INSERT OR UPDATE OF producer_id
    ON registry.products FOR EACH ROW EXECUTE FUNCTION registry.product_territory();

CREATE FUNCTION registry.producer_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE registry.products SET territory_code = NEW.territory_code
     WHERE producer_id = NEW.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER producers_moved AFTER UPDATE OF territory_code ON registry.producers
    FOR EACH ROW WHEN (OLD.territory_code IS DISTINCT FROM NEW.territory_code)
    EXECUTE FUNCTION registry.producer_moved();

-- Why a producer may not be located at p_code today, or NULL when it may.
CREATE FUNCTION registry.producer_location_problem(p_code text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_kind text;
    v_to date;
BEGIN
    SELECT kind INTO v_kind FROM registry.territories
     WHERE code = p_code AND valid_from <= current_date
       AND (valid_to IS NULL OR valid_to > current_date);
    IF FOUND THEN
        IF v_kind IN ('village', 'town', 'city_oblast', 'city_republican') THEN
            RETURN NULL;
        END IF;
        RETURN format('must be a village or town; %s is a %s', p_code, v_kind);
    END IF;
    SELECT max(valid_to) INTO v_to FROM registry.territories WHERE code = p_code;
    IF v_to IS NOT NULL THEN
        RETURN format('territory %s was retired on %s', p_code, v_to);
    END IF;
    RETURN format('no territory with code %s', p_code);
END
$$;

CREATE FUNCTION registry.register_producer(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_id bigint, p_kind text, p_legal_name text, p_tax_id text, p_phone text, p_email text,
    p_address text, p_territory text, p_lat double precision, p_lon double precision,
    p_members jsonb, p_at_us bigint, p_event_id uuid, p_event bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text)
LANGUAGE plpgsql AS $$
DECLARE
    v_prev bytea;
    v_problem text;
    v_other bigint;
    v_at timestamptz := registry.at_us(p_at_us);
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '';
        RETURN;
    END IF;
    v_problem := registry.producer_location_problem(p_territory);
    IF v_problem IS NOT NULL THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, 'territory_code', v_problem;
        RETURN;
    END IF;
    SELECT id INTO v_other FROM registry.producers WHERE tax_id = p_tax_id;
    IF FOUND THEN
        RETURN QUERY SELECT 'exists', NULL::bytea, 'tax_id',
            format('a producer with tax id %s is already registered (id %s)', p_tax_id, v_other);
        RETURN;
    END IF;
    INSERT INTO registry.producers (id, kind, legal_name, tax_id, phone, email, address,
                                    territory_code, lat, lon, members, created_at, updated_at)
    VALUES (p_id, p_kind, p_legal_name, p_tax_id, p_phone, p_email, p_address, p_territory,
            p_lat, p_lon, p_members, v_at, v_at);
    PERFORM bus.emit(p_event_id, '/ovop/registry', 'ovop.registry.producer.registered',
                     'producer/' || p_id, 'ovop.v1.Producer', p_event, NULL, p_territory,
                     NULL, p_request_id);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '';
END
$$;

-- Full replacement of a producer's details under optimistic versioning.
CREATE FUNCTION registry.update_producer(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_id bigint, p_version int, p_kind text, p_legal_name text, p_tax_id text, p_phone text,
    p_email text, p_address text, p_territory text, p_lat double precision,
    p_lon double precision, p_members jsonb, p_at_us bigint, p_event_id uuid, p_event bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text)
LANGUAGE plpgsql AS $$
DECLARE
    v_prev bytea;
    v_cur registry.producers%ROWTYPE;
    v_problem text;
    v_other bigint;
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '';
        RETURN;
    END IF;
    SELECT * INTO v_cur FROM registry.producers WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found', NULL::bytea, 'id', format('no producer with id %s', p_id);
        RETURN;
    END IF;
    IF v_cur.version <> p_version THEN
        RETURN QUERY SELECT 'stale', NULL::bytea, 'version',
            format('producer %s is at version %s, not %s: read it again and reapply your change',
                   p_id, v_cur.version, p_version);
        RETURN;
    END IF;
    IF v_cur.status = 'closed' THEN
        RETURN QUERY SELECT 'precondition', NULL::bytea, 'id',
            format('producer %s is closed', p_id);
        RETURN;
    END IF;
    IF v_cur.territory_code <> p_territory THEN
        v_problem := registry.producer_location_problem(p_territory);
        IF v_problem IS NOT NULL THEN
            RETURN QUERY SELECT 'invalid', NULL::bytea, 'territory_code', v_problem;
            RETURN;
        END IF;
    END IF;
    SELECT id INTO v_other FROM registry.producers WHERE tax_id = p_tax_id AND id <> p_id;
    IF FOUND THEN
        RETURN QUERY SELECT 'exists', NULL::bytea, 'tax_id',
            format('a producer with tax id %s is already registered (id %s)', p_tax_id, v_other);
        RETURN;
    END IF;
    UPDATE registry.producers
       SET kind = p_kind, legal_name = p_legal_name, tax_id = p_tax_id, phone = p_phone,
           email = p_email, address = p_address, territory_code = p_territory, lat = p_lat,
           lon = p_lon, members = p_members, version = version + 1,
           updated_at = registry.at_us(p_at_us)
     WHERE id = p_id;
    PERFORM bus.emit(p_event_id, '/ovop/registry', 'ovop.registry.producer.updated',
                     'producer/' || p_id, 'ovop.v1.Producer', p_event, NULL, p_territory,
                     NULL, p_request_id);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '';
END
$$;

-- Status changes: active <-> suspended, active or suspended -> closed; closed is final.
CREATE FUNCTION registry.set_producer_status(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_id bigint, p_version int, p_status text, p_reason text, p_at_us bigint,
    p_event_id uuid, p_event bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text)
LANGUAGE plpgsql AS $$
DECLARE
    v_prev bytea;
    v_cur registry.producers%ROWTYPE;
    v_type text;
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '';
        RETURN;
    END IF;
    SELECT * INTO v_cur FROM registry.producers WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found', NULL::bytea, 'id', format('no producer with id %s', p_id);
        RETURN;
    END IF;
    IF v_cur.version <> p_version THEN
        RETURN QUERY SELECT 'stale', NULL::bytea, 'version',
            format('producer %s is at version %s, not %s: read it again and reapply your change',
                   p_id, v_cur.version, p_version);
        RETURN;
    END IF;
    IF v_cur.status = 'closed' THEN
        RETURN QUERY SELECT 'precondition', NULL::bytea, 'status',
            format('producer %s is closed; a closed producer cannot change status', p_id);
        RETURN;
    END IF;
    IF v_cur.status = p_status THEN
        RETURN QUERY SELECT 'precondition', NULL::bytea, 'status',
            format('producer %s is already %s', p_id, p_status);
        RETURN;
    END IF;
    v_type := CASE p_status WHEN 'suspended' THEN 'ovop.registry.producer.suspended'
                            WHEN 'closed' THEN 'ovop.registry.producer.closed'
                            ELSE 'ovop.registry.producer.reactivated' END;
    UPDATE registry.producers
       SET status = p_status, status_reason = p_reason, version = version + 1,
           updated_at = registry.at_us(p_at_us)
     WHERE id = p_id;
    PERFORM bus.emit(p_event_id, '/ovop/registry', v_type, 'producer/' || p_id,
                     'ovop.v1.Producer', p_event, NULL, v_cur.territory_code, NULL,
                     p_request_id);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '';
END
$$;
