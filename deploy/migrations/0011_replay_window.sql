-- 0011 replay window: the stored replies of bus.idempotency are kept for each daemon's
-- --replay-window-h (7 days by default), then deleted in batches by bus.prune_idempotency(),
-- which every daemon runs every --replay-prune-ms. A retry within the window gets its first
-- reply back; after it, the same request id is a new request.

CREATE INDEX idempotency_created ON bus.idempotency (created_at);

-- Deletes up to p_max stored replies older than p_hours hours, oldest first. One pruner at a
-- time: returns -1 when another holds the lock, else the number deleted.
CREATE FUNCTION bus.prune_idempotency(p_hours int, p_max int DEFAULT 10000) RETURNS int
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    v_n int;
BEGIN
    IF p_hours < 1 OR p_max < 1 THEN
        RAISE EXCEPTION 'bus.prune_idempotency(%, %): both must be at least 1', p_hours, p_max
            USING ERRCODE = '22023';
    END IF;
    IF NOT pg_try_advisory_xact_lock(7310044) THEN
        RETURN -1;
    END IF;
    DELETE FROM bus.idempotency i
     USING (SELECT o.service, o.request_id FROM bus.idempotency o
             WHERE o.created_at < now() - make_interval(hours => p_hours)
             ORDER BY o.created_at
             LIMIT p_max) old
     WHERE i.service = old.service AND i.request_id = old.request_id;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END
$$;

DO $$
DECLARE
    s text;
BEGIN
    FOREACH s IN ARRAY ARRAY['registry', 'exports', 'matching', 'notify']
    LOOP
        EXECUTE format('GRANT DELETE ON bus.idempotency TO %I', 'ovop_' || s);
    END LOOP;
END
$$;
