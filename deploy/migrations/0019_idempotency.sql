-- 0019 identical retries serialize on their request id. bus.replay() looked the stored reply
-- up without waiting for a twin in flight: eight concurrent copies of one request (a client
-- retrying on a timeout, or the same request resent to another instance after a restart,
-- while the first one's backend still ran) all found nothing, so the copies raced. The
-- losers were answered ALREADY_EXISTS about the record the request itself had created, or
-- ABORTED REQUEST_IN_PROGRESS (their bus.remember() lost on the primary key) although the
-- first copy went on to commit: a client that then gave up, or resubmitted under a fresh
-- id, duplicated the change.
--
-- Now every mutation first takes a transaction-scoped advisory lock on (service, request
-- id): a twin waits until the first copy commits or rolls back, then its lookup (a new
-- statement, so a new snapshot under READ COMMITTED) finds the stored reply, or nothing
-- when the first copy was refused and wrote nothing. bus.replay() takes it, so every
-- mutation function that starts with it (the convention of common/mutation.h) gets it
-- unchanged. Statements of many requests (exportd's coalesced moves and batches) take the
-- locks of all their requests before anything else, in the order of their keys: two such
-- statements never wait on each other in a cycle, and a single mutation holds one such lock
-- only, taken before any row lock.
--
-- The lock is the two-key form (class 7310019, hash): it never collides with the one-key
-- locks of the sequencer (7310042) and the pruner (7310044). Two different requests whose
-- hashes collide merely wait on each other.

CREATE FUNCTION bus.request_key(p_service text, p_request_id text) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT hashtext(p_service || '/' || p_request_id);
$$;

-- Waits until no other transaction is processing (service, request id), and keeps it until
-- this transaction ends.
CREATE FUNCTION bus.lock_request(p_service text, p_request_id text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7310019, bus.request_key(p_service, p_request_id));
END
$$;

-- The same for many requests, in the order of their keys (each key once).
CREATE FUNCTION bus.lock_requests(p_service text, p_request_ids text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7310019, k.key)
       FROM (SELECT DISTINCT bus.request_key(p_service, r) AS key
               FROM unnest(p_request_ids) AS r
              ORDER BY 1) k;
END
$$;

CREATE OR REPLACE FUNCTION bus.replay(p_service text, p_request_id text, p_fingerprint text)
RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE
    v_reply bytea;
    v_fp text;
BEGIN
    PERFORM bus.lock_request(p_service, p_request_id);
    -- A new statement, so a new snapshot: it sees the reply of a twin that committed while
    -- this one waited.
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

-- exportd's statements of moves: the functions of 0010 and 0014 keep their bodies under the
-- name ..._unlocked, and the names exportd calls lock the requests first. Their one
-- statement starts after the locks, so it sees the stored reply of a twin that committed
-- meanwhile.
ALTER FUNCTION exports.apply_transitions(text, text[], text[], bytea[], text[], bigint[],
                                         text[], bigint[], text[], text[], text[], text[],
                                         int[], uuid[], text[], bytea[])
    RENAME TO apply_transitions_unlocked;

CREATE FUNCTION exports.apply_transitions(
    p_service text, p_requests text[], p_fps text[], p_replies bytea[], p_callers text[],
    p_ids bigint[], p_to text[], p_at_us bigint[], p_agency text[], p_reason text[],
    p_reference text[], p_border text[], p_expected int[], p_event_ids uuid[], p_types text[],
    p_heads bytea[])
RETURNS TABLE (outcome text, reply bytea, field text, message text, grp int)
LANGUAGE plpgsql SET jit = off AS $$
BEGIN
    PERFORM bus.lock_requests(p_service, p_requests);
    RETURN QUERY
    SELECT * FROM exports.apply_transitions_unlocked(p_service, p_requests, p_fps, p_replies,
                                                   p_callers, p_ids, p_to, p_at_us, p_agency,
                                                   p_reason, p_reference, p_border,
                                                   p_expected, p_event_ids, p_types, p_heads);
END
$$;

ALTER FUNCTION exports.apply_moves(text, text[], text[], text[], bytea[], text[], int[],
                                   bigint[], text[], bigint[], text[], text[], text[], text[],
                                   int[], uuid[], text[], bytea[])
    RENAME TO apply_moves_unlocked;

CREATE FUNCTION exports.apply_moves(
    p_service text, p_methods text[], p_requests text[], p_fps text[], p_replies bytea[],
    p_callers text[], p_group int[], p_ids bigint[], p_to text[], p_at_us bigint[],
    p_agency text[], p_reason text[], p_reference text[], p_border text[], p_expected int[],
    p_event_ids uuid[], p_types text[], p_heads bytea[])
RETURNS TABLE (outcome text, reply bytea, field text, message text, grp int, problems json,
               reason text, metadata json)
LANGUAGE plpgsql SET jit = off AS $$
BEGIN
    PERFORM bus.lock_requests(p_service, p_requests);
    RETURN QUERY
    SELECT * FROM exports.apply_moves_unlocked(p_service, p_methods, p_requests, p_fps,
                                             p_replies, p_callers, p_group, p_ids, p_to,
                                             p_at_us, p_agency, p_reason, p_reference,
                                             p_border, p_expected, p_event_ids, p_types,
                                             p_heads);
END
$$;
