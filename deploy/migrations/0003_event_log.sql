-- 0003 event log: bus.events, the commit-ordered log every agency feed reads.
--
-- Writers insert events in the same transaction as the change they describe, with seq NULL.
-- A sequencer (bus.sequence_events, run by every daemon that writes events, one at a time
-- under an advisory lock) numbers the committed, not yet numbered rows 1, 2, 3... without
-- gaps. A row committed late by a slow transaction is simply numbered later, so a reader that
-- follows "seq > my cursor" never skips it: numbers are handed out only to rows already
-- visible, in batches that commit atomically. (A bigserial alone would not do: ids are taken
-- at insert time and become visible in commit order, so a reader can pass a small id that
-- commits after a bigger one.)

CREATE TABLE bus.events (
    pk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id uuid NOT NULL UNIQUE,
    seq bigint UNIQUE,
    source text NOT NULL CHECK (source <> ''),
    type text NOT NULL CHECK (type ~ '^[a-z][a-z0-9_.]*$'),
    subject text NOT NULL,
    time timestamptz NOT NULL DEFAULT clock_timestamp(),
    data_schema text NOT NULL,
    data bytea NOT NULL,
    -- Routing dimensions that subscriptions filter on (NULL when they do not apply).
    hs6 char(6),
    soate char(14),
    destination char(2),
    request_id text
);
COMMENT ON TABLE bus.events IS
    'CloudEvents with protobuf payloads; seq is the delivery sequence, in commit order';
COMMENT ON COLUMN bus.events.seq IS
    'gap-free delivery sequence assigned by bus.sequence_events after commit; NULL until then';

CREATE INDEX events_unsequenced ON bus.events (pk) WHERE seq IS NULL;

CREATE TABLE bus.sequencer (
    id int PRIMARY KEY CHECK (id = 1),
    last_seq bigint NOT NULL
);
INSERT INTO bus.sequencer VALUES (1, 0);

-- Appends one event; called by the services' mutation functions inside their transaction.
CREATE FUNCTION bus.emit(p_id uuid, p_source text, p_type text, p_subject text,
                         p_data_schema text, p_data bytea, p_hs6 text DEFAULT NULL,
                         p_soate text DEFAULT NULL, p_destination text DEFAULT NULL,
                         p_request_id text DEFAULT NULL)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO bus.events (id, source, type, subject, data_schema, data, hs6, soate,
                            destination, request_id)
    VALUES (p_id, p_source, p_type, p_subject, p_data_schema, p_data, p_hs6, p_soate,
            p_destination, p_request_id);
$$;

-- Numbers up to p_max committed events. Returns how many it numbered, or -1 when another
-- sequencer holds the lock (it will number them). Wakes readers with NOTIFY bus_sequenced.
CREATE FUNCTION bus.sequence_events(p_max int DEFAULT 10000)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    v_last bigint;
    v_n int;
BEGIN
    IF NOT pg_try_advisory_xact_lock(7310042) THEN
        RETURN -1;
    END IF;
    -- A new statement, so a new snapshot: it sees everything committed before the lock.
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
    END IF;
    RETURN v_n;
END
$$;

-- Idempotency: the first reply of a mutating request, bound to a fingerprint of the request
-- so that a request id reused for a different request is refused instead of answered wrongly.
ALTER TABLE bus.idempotency ADD COLUMN fingerprint text NOT NULL DEFAULT '';

-- Looks up the stored reply of (service, request_id). Returns NULL when there is none;
-- raises 'OV409' when the id was used for a different request.
CREATE FUNCTION bus.replay(p_service text, p_request_id text, p_fingerprint text)
RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE
    v_reply bytea;
    v_fp text;
BEGIN
    SELECT reply, fingerprint INTO v_reply, v_fp FROM bus.idempotency
     WHERE service = p_service AND request_id = p_request_id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF v_fp <> p_fingerprint THEN
        RAISE EXCEPTION 'request id % was already used for a different request', p_request_id
            USING ERRCODE = 'OV409';
    END IF;
    RETURN v_reply;
END
$$;

-- Records the reply; a concurrent twin of the same request loses on the primary key and its
-- transaction rolls back, so the change happens once.
CREATE FUNCTION bus.remember(p_service text, p_request_id text, p_method text,
                             p_fingerprint text, p_reply bytea)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO bus.idempotency (service, request_id, method, fingerprint, reply)
    VALUES (p_service, p_request_id, p_method, p_fingerprint, p_reply);
$$;

DO $$
DECLARE
    s text;
BEGIN
    FOREACH s IN ARRAY ARRAY['registry', 'exports', 'matching', 'notify']
    LOOP
        EXECUTE format('GRANT SELECT, INSERT ON bus.events, bus.idempotency TO %I', 'ovop_' || s);
        EXECUTE format('GRANT UPDATE (seq) ON bus.events TO %I', 'ovop_' || s);
        EXECUTE format('GRANT SELECT, UPDATE ON bus.sequencer TO %I', 'ovop_' || s);
    END LOOP;
END
$$;
