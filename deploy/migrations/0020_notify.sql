-- 0020 notify: agencies' feeds of the event log (ovop.notify, notifyd).
--
-- An agency (an iam principal of kind agency) sees only what its access scope allows
-- (notify.scopes, set by the national team: no row = nothing), and receives it through
-- subscriptions: a filter inside the scope, a delivery (a ZeroMQ stream session or a webhook
-- endpoint) and a cursor, the highest sequence acknowledged (stream) or answered 2xx or
-- dead-lettered (webhook). The cursor never moves past an event that was not delivered, so
-- an agency never misses one. One notifyd instance at a time delivers a subscription: it
-- holds the subscription's lease (lease_holder, lease_until), renewed every second.
--
-- Webhook signing secrets are stored sealed (AES-256-GCM under notifyd's --secrets-key, the
-- endpoint id as associated data): the database never holds one in clear.

INSERT INTO iam.roles (name, description) VALUES
    ('notify.subscriber', 'manages its own agency''s webhook endpoints and subscriptions and receives their events (ovop.notify)'),
    ('notify.admin', 'sets agencies'' access scopes, manages any agency''s endpoints and subscriptions, replays and re-drives dead letters (ovop.notify)');

-- notifyd authenticates stream sessions with the broker's keyring.
GRANT USAGE ON SCHEMA iam TO ovop_notify;
GRANT SELECT ON iam.keyring, iam.state TO ovop_notify;

-- What an agency may see. In each dimension a list of patterns (event types: exact, or a
-- prefix ending in ".*"; SOATE and HS codes: prefixes; destinations: ISO 3166-1 alpha-2);
-- '*' alone = unrestricted in that dimension; an empty list = nothing passes.
CREATE TABLE notify.scopes (
    agency text PRIMARY KEY CHECK (agency ~ '^[a-z][a-z0-9_]{0,31}$'),
    event_types text[] NOT NULL DEFAULT '{}',
    soate_prefixes text[] NOT NULL DEFAULT '{}',
    hs_prefixes text[] NOT NULL DEFAULT '{}',
    destinations text[] NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text NOT NULL
);

CREATE TABLE notify.endpoints (
    id uuid PRIMARY KEY,
    agency text NOT NULL CHECK (agency ~ '^[a-z][a-z0-9_]{0,31}$'),
    url text NOT NULL CHECK (length(url) BETWEEN 8 AND 2000),
    format text NOT NULL CHECK (format IN ('cloudevents_json', 'cloudevents_protobuf',
                                           'epcis_jsonld')),
    secret_sealed text NOT NULL,
    old_secret_sealed text,
    old_secret_until timestamptz,
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'failing', 'disabled')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    created_by text NOT NULL,
    request_id text NOT NULL,
    UNIQUE (agency, request_id)
);
CREATE INDEX endpoints_agency ON notify.endpoints (agency);

CREATE TABLE notify.subscriptions (
    id uuid PRIMARY KEY,
    agency text NOT NULL CHECK (agency ~ '^[a-z][a-z0-9_]{0,31}$'),
    delivery text NOT NULL CHECK (delivery IN ('stream', 'webhook')),
    endpoint_id uuid REFERENCES notify.endpoints (id),
    event_types text[] NOT NULL DEFAULT '{}',
    hs_prefixes text[] NOT NULL DEFAULT '{}',
    soate_prefixes text[] NOT NULL DEFAULT '{}',
    destinations text[] NOT NULL DEFAULT '{}',
    exporters text[] NOT NULL DEFAULT '{}',
    cursor bigint NOT NULL CHECK (cursor >= 0),
    status text NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'paused', 'unsubscribed_by_endpoint', 'deleted')),
    lease_holder text,
    lease_until timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    created_by text NOT NULL,
    request_id text NOT NULL,
    UNIQUE (agency, request_id),
    CHECK ((delivery = 'webhook') = (endpoint_id IS NOT NULL))
);
CREATE INDEX subscriptions_agency ON notify.subscriptions (agency);
CREATE INDEX subscriptions_webhook ON notify.subscriptions (lease_until)
    WHERE delivery = 'webhook' AND status = 'active';

-- Live notifyd instances (for the fair share of webhook subscriptions).
CREATE TABLE notify.instances (
    id text PRIMARY KEY,
    seen_at timestamptz NOT NULL DEFAULT now()
);

-- Every webhook attempt (pruned after notifyd's --log-retention).
CREATE TABLE notify.deliveries (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id uuid NOT NULL REFERENCES notify.subscriptions (id),
    seq bigint NOT NULL,
    attempt int NOT NULL,
    status_code int NOT NULL,
    latency_ms double precision NOT NULL,
    error text NOT NULL DEFAULT '',
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deliveries_subscription ON notify.deliveries (subscription_id, seq, attempt);
CREATE INDEX deliveries_at ON notify.deliveries (at);

-- Events whose retries were exhausted; the cursor moved past them. A re-drive delivers them
-- again (before the live cursor) and marks them redriven.
CREATE TABLE notify.dead_letters (
    subscription_id uuid NOT NULL REFERENCES notify.subscriptions (id),
    seq bigint NOT NULL,
    attempts int NOT NULL,
    last_status int NOT NULL,
    last_error text NOT NULL DEFAULT '',
    at timestamptz NOT NULL DEFAULT now(),
    redrive_requested_at timestamptz,
    PRIMARY KEY (subscription_id, seq)
);

-- ------------------------------------------------------------------------- matching

-- True when type t matches one of the patterns: '*', an exact type, or a prefix "a.b.*".
CREATE FUNCTION notify.type_match(p_type text, p_patterns text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT EXISTS (SELECT 1 FROM unnest(p_patterns) p
                    WHERE p = '*' OR p = p_type
                       OR (right(p, 2) = '.*' AND starts_with(p_type, left(p, -1))));
$$;

-- True when v starts with one of the prefixes ('*' matches everything, a NULL v nothing else).
CREATE FUNCTION notify.prefix_match(p_value text, p_prefixes text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT EXISTS (SELECT 1 FROM unnest(p_prefixes) p
                    WHERE p = '*' OR (p_value IS NOT NULL AND starts_with(p_value, p)));
$$;

-- Scope AND filter (an empty filter dimension = everything the scope allows). The exporter
-- filter is applied by notifyd (it needs the payload).
CREATE FUNCTION notify.visible(e bus.events, s notify.subscriptions, sc notify.scopes)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT notify.type_match(e.type, sc.event_types)
       AND notify.prefix_match(e.soate, sc.soate_prefixes)
       AND notify.prefix_match(e.hs6, sc.hs_prefixes)
       AND notify.prefix_match(e.destination, sc.destinations)
       AND (cardinality(s.event_types) = 0 OR notify.type_match(e.type, s.event_types))
       AND (cardinality(s.soate_prefixes) = 0 OR notify.prefix_match(e.soate, s.soate_prefixes))
       AND (cardinality(s.hs_prefixes) = 0 OR notify.prefix_match(e.hs6, s.hs_prefixes))
       AND (cardinality(s.destinations) = 0 OR notify.prefix_match(e.destination, s.destinations));
$$;

-- The events after p_after up to p_upper that subscription p_id may receive, in sequence
-- order, at most p_limit. Raises OVN01 when the subscription is no longer active and OVN02
-- when p_holder no longer holds its lease: the caller must stop delivering it.
CREATE FUNCTION notify.fetch(p_id uuid, p_holder text, p_after bigint, p_upper bigint,
                             p_limit int)
RETURNS TABLE (seq bigint, id uuid, source text, type text, subject text, time_us bigint,
               data_schema text, data bytea, hs6 text, soate text, destination text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    s notify.subscriptions;
    sc notify.scopes;
BEGIN
    SELECT * INTO s FROM notify.subscriptions x WHERE x.id = p_id;
    IF NOT FOUND OR s.status <> 'active' THEN
        RAISE EXCEPTION 'subscription % is not active', p_id USING ERRCODE = 'OVN01';
    END IF;
    IF s.lease_holder IS DISTINCT FROM p_holder THEN
        RAISE EXCEPTION 'lease of subscription % lost', p_id USING ERRCODE = 'OVN02';
    END IF;
    SELECT * INTO sc FROM notify.scopes x WHERE x.agency = s.agency;
    IF NOT FOUND THEN
        RETURN; -- no scope: nothing is visible
    END IF;
    RETURN QUERY
        SELECT e.seq, e.id, e.source, e.type, e.subject,
               (extract(epoch FROM e.time) * 1000000)::bigint, e.data_schema, e.data,
               coalesce(e.hs6::text, ''), coalesce(e.soate::text, ''),
               coalesce(e.destination::text, '')
          FROM bus.events e
         WHERE e.seq > p_after AND e.seq <= p_upper AND notify.visible(e, s, sc)
         ORDER BY e.seq
         LIMIT p_limit;
END
$$;

-- ------------------------------------------------------------------ the wake-up by commit

-- As in 0003, and it also says the new head on channel ovop_events, which notifyd LISTENs
-- on: delivery is woken by the numbering commit, not by a timer.
CREATE OR REPLACE FUNCTION bus.sequence_events(p_max int DEFAULT 10000)
RETURNS int LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    v_last bigint;
    v_n int;
BEGIN
    IF NOT pg_try_advisory_xact_lock(7310042) THEN
        RETURN -1;
    END IF;
    SELECT last_seq INTO v_last FROM bus.sequencer WHERE id = 1;
    WITH pending AS (
        SELECT pk FROM bus.events WHERE seq IS NULL ORDER BY pk LIMIT p_max
    ), numbered AS (
        SELECT pk, v_last + row_number() OVER (ORDER BY pk) AS s FROM pending
    )
    UPDATE bus.events e SET seq = n.s FROM numbered n WHERE e.pk = n.pk;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    IF v_n > 0 THEN
        UPDATE bus.sequencer SET last_seq = v_last + v_n WHERE id = 1;
        PERFORM pg_notify('bus_sequenced', (v_last + v_n)::text);
        PERFORM pg_notify('ovop_events', (v_last + v_n)::text);
    END IF;
    RETURN v_n;
END
$$;

-- --------------------------------------------------------------------------- the methods

-- The filter lies inside the scope: every pattern of each filter dimension is within a
-- pattern of the scope's. Returns the first dimension that is wider, or NULL.
CREATE FUNCTION notify.wider_dimension(s notify.scopes, p_types text[], p_soate text[],
                                       p_hs text[], p_dest text[]) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT d FROM (VALUES
        ('event_types', EXISTS (SELECT 1 FROM unnest(p_types) f WHERE NOT EXISTS (
            SELECT 1 FROM unnest(s.event_types) p
             WHERE p = '*' OR p = f
                OR (right(p, 2) = '.*' AND starts_with(f, left(p, -1)))))),
        ('soate_prefixes', EXISTS (SELECT 1 FROM unnest(p_soate) f WHERE NOT EXISTS (
            SELECT 1 FROM unnest(s.soate_prefixes) p WHERE p = '*' OR starts_with(f, p)))),
        ('hs_prefixes', EXISTS (SELECT 1 FROM unnest(p_hs) f WHERE NOT EXISTS (
            SELECT 1 FROM unnest(s.hs_prefixes) p WHERE p = '*' OR starts_with(f, p)))),
        ('destinations', EXISTS (SELECT 1 FROM unnest(p_dest) f WHERE NOT EXISTS (
            SELECT 1 FROM unnest(s.destinations) p WHERE p = '*' OR p = f)))
    ) v(d, wider) WHERE wider LIMIT 1;
$$;

-- Creates a subscription (or returns the one this request created before: the request id
-- is remembered per agency). Refusals come back as (reason, message) with no row written.
CREATE FUNCTION notify.create_subscription(
    p_id uuid, p_agency text, p_delivery text, p_endpoint uuid, p_types text[],
    p_hs text[], p_soate text[], p_dest text[], p_exporters text[], p_start_seq bigint,
    p_start_time timestamptz, p_epcis_types_ok boolean, p_caller text, p_request_id text)
RETURNS TABLE (reason text, message text, id uuid)
LANGUAGE plpgsql AS $$
DECLARE
    sc notify.scopes;
    v_wider text;
    v_head bigint;
    v_cursor bigint;
    v_fmt text;
    v_existing uuid;
BEGIN
    SELECT x.id INTO v_existing FROM notify.subscriptions x
     WHERE x.agency = p_agency AND x.request_id = p_request_id;
    IF FOUND THEN
        RETURN QUERY SELECT ''::text, ''::text, v_existing;
        RETURN;
    END IF;
    SELECT * INTO sc FROM notify.scopes x WHERE x.agency = p_agency;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'NO_SCOPE'::text,
            format('agency %s has no access scope: the national team sets one first', p_agency),
            NULL::uuid;
        RETURN;
    END IF;
    v_wider := notify.wider_dimension(sc, p_types, p_soate, p_hs, p_dest);
    IF v_wider IS NOT NULL THEN
        RETURN QUERY SELECT 'FILTER_WIDER_THAN_SCOPE'::text,
            format('filter.%s reaches beyond agency %s''s access scope', v_wider, p_agency),
            NULL::uuid;
        RETURN;
    END IF;
    IF p_delivery = 'webhook' THEN
        SELECT e.format INTO v_fmt FROM notify.endpoints e
         WHERE e.id = p_endpoint AND e.agency = p_agency AND e.status <> 'disabled';
        IF NOT FOUND THEN
            RETURN QUERY SELECT 'ENDPOINT_NOT_FOUND'::text,
                format('agency %s has no usable endpoint %s', p_agency, p_endpoint), NULL::uuid;
            RETURN;
        END IF;
        IF v_fmt = 'epcis_jsonld' AND NOT p_epcis_types_ok THEN
            RETURN QUERY SELECT 'FORMAT_NOT_APPLICABLE'::text,
                'format epcis_jsonld needs filter.event_types all within ovop.exports.*'::text,
                NULL::uuid;
            RETURN;
        END IF;
    END IF;
    SELECT last_seq INTO v_head FROM bus.sequencer WHERE bus.sequencer.id = 1;
    IF p_start_seq > 0 THEN
        IF p_start_seq > v_head + 1 THEN
            RETURN QUERY SELECT 'START_BEYOND_HEAD'::text,
                format('start_sequence %s is beyond the head %s + 1', p_start_seq, v_head),
                NULL::uuid;
            RETURN;
        END IF;
        v_cursor := p_start_seq - 1;
    ELSIF p_start_time IS NOT NULL THEN
        SELECT coalesce(max(e.seq), 0) INTO v_cursor FROM bus.events e
         WHERE e.seq IS NOT NULL AND e.time < p_start_time;
    ELSE
        v_cursor := v_head;
    END IF;
    INSERT INTO notify.subscriptions (id, agency, delivery, endpoint_id, event_types,
                                      hs_prefixes, soate_prefixes, destinations, exporters,
                                      cursor, created_by, request_id)
    VALUES (p_id, p_agency, p_delivery, p_endpoint, p_types, p_hs, p_soate, p_dest,
            p_exporters, v_cursor, p_caller, p_request_id);
    RETURN QUERY SELECT ''::text, ''::text, p_id;
END
$$;

-- The subscription as the API shows it (columns named like ovop.v1.Subscription's fields).
CREATE VIEW notify.subscription_view AS
    SELECT s.id::text AS id, s.agency, s.delivery, coalesce(s.endpoint_id::text, '') AS endpoint_id,
           s.status, s.cursor, q.last_seq AS head, greatest(q.last_seq - s.cursor, 0) AS lag,
           CASE WHEN s.lease_until > now() THEN coalesce(split_part(s.lease_holder, '#', 1), '')
                ELSE '' END AS lease_holder,
           (extract(epoch FROM s.created_at) * 1000000)::bigint AS created_us,
           to_json(s.event_types)::text AS "filter.event_types",
           to_json(s.hs_prefixes)::text AS "filter.hs_prefixes",
           to_json(s.soate_prefixes)::text AS "filter.soate_prefixes",
           to_json(s.destinations)::text AS "filter.destinations",
           to_json(s.exporters)::text AS "filter.exporters"
      FROM notify.subscriptions s, bus.sequencer q
     WHERE q.id = 1;

CREATE VIEW notify.endpoint_view AS
    SELECT e.id::text AS id, e.agency, e.url, e.format, e.status,
           coalesce((extract(epoch FROM e.old_secret_until) * 1000000)::bigint, 0)
               AS old_secret_until_us,
           (extract(epoch FROM e.created_at) * 1000000)::bigint AS created_us
      FROM notify.endpoints e;

CREATE VIEW notify.scope_view AS
    SELECT s.agency, to_json(s.event_types)::text AS event_types,
           to_json(s.soate_prefixes)::text AS soate_prefixes,
           to_json(s.hs_prefixes)::text AS hs_prefixes,
           to_json(s.destinations)::text AS destinations,
           (extract(epoch FROM s.updated_at) * 1000000)::bigint AS updated_us, s.updated_by
      FROM notify.scopes s;

GRANT SELECT ON bus.sequencer TO ovop_notify;

-- What notifyd matches events against in memory (the events themselves it reads once for
-- every subscription): {"scope": [types, soate, hs, destinations] or null when the agency
-- has no scope, "filter": [types, soate, hs, destinations]} (exporters come apart).
CREATE FUNCTION notify.rules(s notify.subscriptions) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'scope', (SELECT json_build_array(sc.event_types, sc.soate_prefixes, sc.hs_prefixes,
                                          sc.destinations)
                    FROM notify.scopes sc WHERE sc.agency = s.agency),
        'filter', json_build_array(s.event_types, s.soate_prefixes, s.hs_prefixes,
                                   s.destinations))::text;
$$;

-- A stream session's Subscribe: checks the subscription is the agency's (p_agency '' for
-- notify.admin), a stream one, active, and that p_from leaves no gap, then takes its lease
-- for p_holder (the newest Subscribe wins: a live session elsewhere loses the lease at its
-- next renewal).
CREATE FUNCTION notify.take_stream(p_id uuid, p_holder text, p_agency text, p_from bigint)
RETURNS TABLE (reason text, message text, cursor bigint, head bigint, exporters text,
               rules text)
LANGUAGE plpgsql AS $$
DECLARE
    s notify.subscriptions;
    v_head bigint;
BEGIN
    SELECT * INTO s FROM notify.subscriptions x WHERE x.id = p_id FOR UPDATE;
    IF NOT FOUND OR s.status = 'deleted' THEN
        RETURN QUERY SELECT 'NOT_FOUND'::text, format('no subscription %s', p_id), 0::bigint,
                            0::bigint, ''::text, ''::text;
    ELSIF p_agency <> '' AND s.agency <> p_agency THEN
        RETURN QUERY SELECT 'NOT_YOURS'::text,
            format('subscription %s belongs to another agency', p_id), 0::bigint, 0::bigint,
            ''::text, ''::text;
    ELSIF s.delivery <> 'stream' THEN
        RETURN QUERY SELECT 'NOT_STREAM'::text,
            format('subscription %s is delivered by webhook', p_id), 0::bigint, 0::bigint,
            ''::text, ''::text;
    ELSIF s.status <> 'active' THEN
        RETURN QUERY SELECT 'SUBSCRIPTION_NOT_ACTIVE'::text,
            format('subscription %s is %s', p_id, s.status), 0::bigint, 0::bigint, ''::text,
            ''::text;
    ELSIF p_from > s.cursor + 1 THEN
        RETURN QUERY SELECT 'GAP_NOT_ALLOWED'::text,
            format('from_sequence %s is beyond cursor %s + 1', p_from, s.cursor), 0::bigint,
            0::bigint, ''::text, ''::text;
    ELSE
        UPDATE notify.subscriptions x SET lease_holder = p_holder,
               lease_until = now() + interval '5 s', updated_at = now()
         WHERE x.id = p_id;
        SELECT q.last_seq INTO v_head FROM bus.sequencer q WHERE q.id = 1;
        RETURN QUERY SELECT ''::text, ''::text, s.cursor, v_head, to_json(s.exporters)::text,
                            notify.rules(s);
    END IF;
END
$$;

-- Pause (from active), resume (from paused or unsubscribed_by_endpoint) or delete a
-- subscription of p_agency ('' = any, notify.admin).
CREATE FUNCTION notify.set_status(p_id uuid, p_agency text, p_to text)
RETURNS TABLE (reason text, message text)
LANGUAGE plpgsql AS $$
DECLARE
    s notify.subscriptions;
BEGIN
    SELECT * INTO s FROM notify.subscriptions x WHERE x.id = p_id FOR UPDATE;
    IF NOT FOUND OR s.status = 'deleted' THEN
        RETURN QUERY SELECT 'NOT_FOUND'::text, format('no subscription %s', p_id);
    ELSIF p_agency <> '' AND s.agency <> p_agency THEN
        RETURN QUERY SELECT 'NOT_YOURS'::text,
            format('subscription %s belongs to another agency', p_id);
    ELSIF p_to = 'paused' AND s.status NOT IN ('active', 'paused') THEN
        RETURN QUERY SELECT 'NOT_ACTIVE'::text,
            format('subscription %s is %s, not active', p_id, s.status);
    ELSIF p_to = 'active' AND s.status = 'active' THEN
        RETURN QUERY SELECT ''::text, ''::text;
    ELSE
        -- The holder sees the new status at its next renewal (within a second), stops and
        -- releases the lease.
        UPDATE notify.subscriptions x SET status = p_to, updated_at = now() WHERE x.id = p_id;
        PERFORM pg_notify('ovop_subscriptions', p_id::text);
        RETURN QUERY SELECT ''::text, ''::text;
    END IF;
END
$$;

-- Replay: the cursor goes back to p_from - 1 (or to the last sequence before p_time_us) and
-- the lease is dropped, so the holder stops and the subscription is delivered again from
-- there (a stream session gets SUBSCRIPTION_TAKEN_OVER and subscribes again).
CREATE FUNCTION notify.replay(p_id uuid, p_from bigint, p_time_us bigint)
RETURNS TABLE (reason text, message text)
LANGUAGE plpgsql AS $$
DECLARE
    s notify.subscriptions;
    v_cursor bigint;
BEGIN
    SELECT * INTO s FROM notify.subscriptions x WHERE x.id = p_id FOR UPDATE;
    IF NOT FOUND OR s.status = 'deleted' THEN
        RETURN QUERY SELECT 'NOT_FOUND'::text, format('no subscription %s', p_id);
        RETURN;
    END IF;
    IF p_from > 0 THEN
        IF p_from > s.cursor + 1 THEN
            RETURN QUERY SELECT 'GAP_NOT_ALLOWED'::text,
                format('from_sequence %s is beyond cursor %s + 1', p_from, s.cursor);
            RETURN;
        END IF;
        v_cursor := p_from - 1;
    ELSE
        SELECT coalesce(max(e.seq), 0) INTO v_cursor FROM bus.events e
         WHERE e.seq IS NOT NULL AND e.time < to_timestamp(p_time_us / 1e6);
        v_cursor := least(v_cursor, s.cursor);
    END IF;
    UPDATE notify.subscriptions x SET cursor = v_cursor, lease_holder = NULL,
           lease_until = NULL, updated_at = now()
     WHERE x.id = p_id;
    PERFORM pg_notify('ovop_subscriptions', p_id::text);
    RETURN QUERY SELECT ''::text, ''::text;
END
$$;

-- Deletes up to p_batch delivery log rows older than p_hours (one instance at a time: -1
-- when another holds the job's lock).
CREATE FUNCTION notify.prune_deliveries(p_hours int, p_batch int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    v_n int;
BEGIN
    IF NOT pg_try_advisory_xact_lock(7310043) THEN
        RETURN -1;
    END IF;
    DELETE FROM notify.deliveries d
     WHERE d.id IN (SELECT x.id FROM notify.deliveries x
                     WHERE x.at < now() - make_interval(hours => p_hours)
                     ORDER BY x.at LIMIT p_batch);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END
$$;

-- A scope set or changed: notifyd holds every subscription it delivers until it has read
-- their rules again (channel ovop_subscriptions; a subscription's id when one changed), so a
-- narrowed scope, a pause or a replay applies before the next event, not a second later.
CREATE FUNCTION notify.scope_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ovop_subscriptions', 'agency:' || NEW.agency);
    RETURN NULL;
END
$$;
CREATE TRIGGER scope_changed AFTER INSERT OR UPDATE ON notify.scopes
    FOR EACH ROW EXECUTE FUNCTION notify.scope_changed();
