-- 0010 exports: set-based moves of the lifecycle, many requests per statement.
--
-- exportd coalesces the TransitionShipment requests that arrive while its previous statement
-- runs into one call of exports.apply_transitions (each request with its own outcome; the
-- reasons of refusals from exports.move_refusals), and sends each RecordShipmentEvents batch
-- to exports.apply_moves (all or nothing). The checks of a move are exports.move_check, one
-- inlinable SQL function for both; the single-move function (exports.record_move), the batch
-- function (exports.record_moves) and the PL/pgSQL checks they called (exports.move_problem)
-- are gone.

DROP FUNCTION exports.record_move(text, text, text, text, bytea, text, bigint, text, bigint,
                                  text, text, text, text, int, uuid, text, bytea);
DROP FUNCTION exports.record_moves(text, text, text, text, bytea, text, bigint[], text[],
                                   bigint[], text[], text[], text[], text[], int[], uuid[],
                                   text[], bytea[]);
DROP FUNCTION exports.count_export(bigint, text, date, int);
DROP FUNCTION exports.move_problem(exports.shipments, text, timestamptz, int, text,
                                   timestamptz, text, text, int);

-- The status a shipment left by its last move, written by the move itself (an UPDATE's
-- RETURNING sees only the new row, and the history needs both ends of the move).
ALTER TABLE exports.shipments ADD COLUMN previous_status text;

-- Their bodies use timestamptz arithmetic, which is STABLE: declared IMMUTABLE they were
-- never inlined, and a SQL function that is not inlined is parsed and planned again in every
-- statement that calls it.
ALTER FUNCTION exports.at_us(bigint) STABLE;
ALTER FUNCTION exports.us_of(timestamptz) STABLE;

-- The required documents (of p_required, in order) of shipment p_shipment that are not issued
-- and valid today, as one row; none without looking when p_needed is false. A plain SELECT,
-- so that the statements of the moves inline it (a PL/pgSQL call per move would start its own
-- executor every time).
CREATE FUNCTION exports.missing_docs(p_shipment bigint, p_required text[],
                                     p_needed bool DEFAULT true)
RETURNS TABLE (missing text[]) LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(req.code ORDER BY req.n), '{}')
      FROM unnest(p_required) WITH ORDINALITY AS req(code, n)
     WHERE p_needed AND NOT EXISTS (
           SELECT 1 FROM exports.documents d
            WHERE d.shipment_id = p_shipment AND d.doc_type = req.code AND d.status = 'issued'
              AND (d.valid_until IS NULL OR d.valid_until >= current_date));
$$;

-- The encoded documents list of a shipment's events (its issued documents), as one row;
-- inlinable for the same reason.
CREATE FUNCTION exports.document_list(p_shipment bigint)
RETURNS TABLE (refs bytea) LANGUAGE sql STABLE AS $$
    SELECT coalesce(string_agg(d.ref_pb, ''::bytea ORDER BY d.id), ''::bytea)
      FROM exports.documents d
     WHERE d.shipment_id = p_shipment AND d.status = 'issued';
$$;

-- The scalar forms the other functions and queries use, now on the inlinable ones.
CREATE OR REPLACE FUNCTION exports.missing_documents(p_shipment bigint) RETURNS text[]
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT m.missing FROM exports.shipments s
             CROSS JOIN LATERAL exports.missing_docs(s.id, s.required_docs) m
             WHERE s.id = p_shipment);
END
$$;

CREATE OR REPLACE FUNCTION exports.document_refs(p_shipment bigint) RETURNS bytea
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT l.refs FROM exports.document_list(p_shipment) l);
END
$$;

-- The lifecycle's checks of a move of shipment p_s (NULL when there is none) from p_from
-- (reached at p_prev_at, at version p_version) to p_to at p_at, in order: problem is the
-- number of the first that fails, 0 when the move may happen, with the facts the messages
-- need. The one list of the checks; a plain SELECT, so that PostgreSQL inlines it into the
-- statements of the moves and runs the costly ones (documents, compliance block) only for
-- the transitions that need them.
--   1 no such shipment            5 at before the current status was reached
--   2 stale expected_version      6 required documents missing
--   3 no such transition          7 exporter blocked from phytosanitary certificates
--   4 agency may not record it    8 crossing point unknown or not for its transport
CREATE FUNCTION exports.move_check(p_s exports.shipments, p_from text, p_prev_at timestamptz,
                                   p_version int, p_to text, p_at timestamptz, p_agency text,
                                   p_border text, p_expected int)
RETURNS TABLE (problem int, agencies text[], missing text[], blocked_until date,
               block_country char(2))
LANGUAGE sql STABLE AS $$
    SELECT CASE
               WHEN (p_s).id IS NULL THEN 1
               WHEN p_expected <> 0 AND p_expected <> p_version THEN 2
               WHEN t.from_status IS NULL THEN 3
               WHEN cardinality(t.agencies) > 0 AND NOT p_agency = ANY (t.agencies) THEN 4
               WHEN p_at < p_prev_at THEN 5
               WHEN cardinality(d.missing) > 0 THEN 6
               WHEN b.until IS NOT NULL THEN 7
               WHEN p_border <> ''
                    AND NOT coalesce((p_s).transport_mode = ANY (bp.modes), false) THEN 8
               ELSE 0
           END,
           t.agencies, d.missing, b.until, b.country
      FROM (SELECT 1) AS one
      LEFT JOIN exports.transitions t ON t.from_status = p_from AND t.to_status = p_to
      LEFT JOIN LATERAL exports.missing_docs((p_s).id, (p_s).required_docs,
                                             t.needs_documents) d ON true
      -- Most exporters never had a notice: look for a block only when there are some.
      LEFT JOIN LATERAL (SELECT k.blocked_until AS until, k.country
                           FROM exports.phyto_block((p_s).exporter_kind, (p_s).exporter_id,
                                                    current_date) k
                          WHERE t.phyto_check AND 'plant' = ANY ((p_s).origins)
                            AND EXISTS (SELECT 1 FROM exports.violation_notices n
                                         WHERE n.exporter_kind = (p_s).exporter_kind
                                           AND n.exporter_id = (p_s).exporter_id)) b ON true
      LEFT JOIN exports.border_points bp ON bp.code = p_border;
$$;

-- The same move judged in words: one row (kind, field, message), kind being an outcome of
-- the mutation convention, or (NULL, NULL, NULL) when the move may happen. For refusals.
CREATE FUNCTION exports.move_verdict(p_id bigint, p_s exports.shipments, p_from text,
                                     p_prev_at timestamptz, p_version int, p_to text,
                                     p_at timestamptz, p_agency text, p_border text,
                                     p_expected int)
RETURNS TABLE (kind text, field text, message text)
LANGUAGE sql STABLE AS $$
    SELECT (ARRAY['not_found', 'stale', 'precondition', 'invalid', 'invalid', 'precondition',
                  'precondition', 'invalid'])[c.problem],
           (ARRAY['shipment_id', 'expected_version', 'to', 'agency', 'at_us', 'to', 'to',
                  'border_point'])[c.problem],
           CASE c.problem
           WHEN 1 THEN format('no shipment with id %s', p_id)
           WHEN 2 THEN format('shipment %s is at version %s, not %s: read it again', p_id,
                              p_version, p_expected)
           WHEN 3 THEN format('shipment %s is %s and cannot become %s%s', p_id, p_from, p_to,
                              coalesce((SELECT format(' (it can become %s)',
                                                      string_agg(a.to_status, ', '
                                                                 ORDER BY st.ord))
                                          FROM exports.transitions a
                                          JOIN exports.statuses st ON st.code = a.to_status
                                         WHERE a.from_status = p_from
                                        HAVING count(*) > 0),
                                       format(': %s is final', p_from)))
           WHEN 4 THEN format('a move to %s is recorded by %s, got "%s"', p_to,
                              array_to_string(c.agencies, ' or '), p_agency)
           WHEN 5 THEN format('%s is before the shipment became %s (%s)', p_at, p_from,
                              p_prev_at)
           WHEN 6 THEN format('shipment %s cannot become %s: missing documents: %s', p_id, p_to,
                              array_to_string(c.missing, ', '))
           WHEN 7 THEN format('shipment %s carries plant products and %s %s is blocked from '
                              'new phytosanitary certificates until %s, after violation '
                              'notices from %s', p_id, (p_s).exporter_kind,
                              (p_s).exporter_id, c.blocked_until, c.block_country)
           WHEN 8 THEN format('%s is not a crossing point for %s transport', p_border,
                              (p_s).transport_mode)
           END
      FROM exports.move_check(p_s, p_from, p_prev_at, p_version, p_to, p_at, p_agency,
                              p_border, p_expected) c;
$$;

-- Applies moves of the lifecycle for many requests ("groups") in one transaction; exportd
-- sends each RecordShipmentEvents batch as one group. Group g (1-based) is request
-- p_requests[g] of method p_methods[g] with fingerprint p_fps[g], reply p_replies[g] and
-- caller p_callers[g]; move i belongs to group p_group[i], the moves of a group are contiguous
-- and in order, and a shipment is in one group only.
--
-- Each group g gets one row: its outcome in the mutation convention's columns ('ok' or
-- 'replay' with the reply; 'invalid' for a request id reused for another request; otherwise
-- the first refused move's), then g, and for a refusal every refused move in problems,
-- [[i, field, message], ...] with i the 0-based index of the move in the arrays. A group is
-- all or nothing; groups do not wait for one another's refusals. Written for the accepted
-- groups, in one statement: the shipments' new state, a history row and an event per move,
-- the statistics of DEPARTED and RETURNED, and the stored reply. Shipments are locked in id
-- order and statistics rows in key order, so concurrent calls never deadlock on them.
--
-- Every table here is read by key. Its plans are made once per session (generic plans: the
-- arrays would make PostgreSQL plan every call again) and a plan made while a table was
-- still nearly empty would go on scanning it whole as it grows, hence enable_seqscan off.
CREATE FUNCTION exports.apply_moves(
    p_service text, p_methods text[], p_requests text[], p_fps text[], p_replies bytea[],
    p_callers text[], p_group int[], p_ids bigint[], p_to text[], p_at_us bigint[],
    p_agency text[], p_reason text[], p_reference text[], p_border text[], p_expected int[],
    p_event_ids uuid[], p_types text[], p_heads bytea[])
RETURNS TABLE (outcome text, reply bytea, field text, message text, grp int, problems json)
LANGUAGE plpgsql SET jit = off SET plan_cache_mode = force_generic_plan SET enable_seqscan = off
AS $$
#variable_conflict use_column
BEGIN
    PERFORM 1 FROM exports.shipments s WHERE s.id = ANY (p_ids) ORDER BY s.id FOR UPDATE;

    -- One statement, so one snapshot, taken after the locks: it sees the shipments as the
    -- last change left them, and the stored reply of a retried twin that changed them.
    RETURN QUERY
    WITH r AS MATERIALIZED (
        -- Each request's stored reply when it is a retry (a scalar subquery: one index
        -- lookup per request, whatever the table's size when the plan was made).
        SELECT g, (SELECT i FROM bus.idempotency i
                    WHERE i.service = p_service AND i.request_id = p_requests[g]) AS i
          FROM generate_subscripts(p_requests, 1) AS g
    ), checked AS MATERIALIZED (
        SELECT m.*, p_group[m.idx] AS g, v.kind, v.field AS problem_field,
               v.message AS problem
          FROM exports.moves(p_ids, p_to, p_at_us, p_border, p_expected) m
         CROSS JOIN LATERAL exports.move_verdict(m.id, m.s, m.from_status, m.prev_at,
                                                 m.version_before, m.to_status, m.at,
                                                 p_agency[m.idx], m.border, m.expected) v
    ), groups AS MATERIALIZED (
        SELECT r.g, r.i,
               CASE WHEN r.i IS NOT NULL AND (r.i).fingerprint = p_fps[r.g] THEN 'replay'
                    WHEN r.i IS NOT NULL THEN 'reused'
                    WHEN b.g IS NOT NULL THEN 'refused'
                    ELSE 'ok' END AS fate,
               b.kind, b.problem_field, b.problem, b.problems
          FROM r
          LEFT JOIN (SELECT c.g, (array_agg(c.kind ORDER BY c.idx))[1] AS kind,
                            (array_agg(c.problem_field ORDER BY c.idx))[1] AS problem_field,
                            (array_agg(c.problem ORDER BY c.idx))[1] AS problem,
                            json_agg(json_build_array(c.idx - 1, c.problem_field, c.problem)
                                     ORDER BY c.idx) AS problems
                       FROM checked c WHERE c.kind IS NOT NULL GROUP BY c.g) b ON b.g = r.g
    ), m AS MATERIALIZED (
        -- The moves to apply: those of the groups accepted whole.
        SELECT c.*, p_agency[c.idx] AS agency, p_reason[c.idx] AS reason,
               p_reference[c.idx] AS reference, p_event_ids[c.idx] AS event_id,
               p_types[c.idx] AS event_type, p_heads[c.idx] AS head,
               CASE WHEN c.to_status = 'departed'
                    THEN coalesce(nullif(c.border, ''), (c.s).border_point) END AS via
          FROM checked c JOIN groups k ON k.g = c.g AND k.fate = 'ok'
    ), last AS (
        SELECT DISTINCT ON (m.id) m.id, m.from_status, m.to_status, m.at,
               m.version_before + 1 AS version
          FROM m ORDER BY m.id, m.idx DESC
    ), marks AS (
        SELECT m.id,
               max(m.at) FILTER (WHERE m.to_status = 'declared') AS declared,
               max(m.at) FILTER (WHERE m.to_status = 'documents_complete') AS complete,
               max(m.at) FILTER (WHERE m.to_status = 'released') AS released,
               max(m.at) FILTER (WHERE m.to_status = 'departed') AS departed,
               max(m.at) FILTER (WHERE m.to_status = 'delivered') AS delivered,
               max(m.via) AS via
          FROM m GROUP BY m.id
    ), upd AS (
        UPDATE exports.shipments s
           SET status = l.to_status, previous_status = l.from_status, version = l.version,
               status_at = l.at,
               declared_at = coalesce(k.declared, s.declared_at),
               documents_complete_at = coalesce(k.complete, s.documents_complete_at),
               released_at = coalesce(k.released, s.released_at),
               departed_at = coalesce(k.departed, s.departed_at),
               delivered_at = coalesce(k.delivered, s.delivered_at),
               departed_via = coalesce(k.via, s.departed_via),
               stats_month = CASE WHEN l.to_status = 'returned' THEN NULL
                                  WHEN k.departed IS NOT NULL THEN exports.month_of(k.departed)
                                  ELSE s.stats_month END
          FROM last l JOIN marks k ON k.id = l.id
         WHERE s.id = l.id
    ), hist AS (
        INSERT INTO exports.shipment_history (shipment_id, version, from_status, to_status, at,
                                              caller, agency, reason, reference, border_point,
                                              request_id, event_id)
        SELECT m.id, m.version_before + 1, m.from_status, m.to_status, m.at, p_callers[m.g],
               m.agency, m.reason, m.reference, m.via, p_requests[m.g], m.event_id
          FROM m
    ), docs AS (
        SELECT k.id, l.refs FROM marks k CROSS JOIN LATERAL exports.document_list(k.id) l
    ), ev AS (
        -- bus.emit's insert, set-based.
        INSERT INTO bus.events (id, source, type, subject, data_schema, data, hs6, soate,
                                destination, request_id)
        SELECT m.event_id, '/ovop/exports', m.event_type, 'shipment/' || m.id,
               'ovop.v1.ExportEvent', m.head || (m.s).event_pb || d.refs, (m.s).hs6,
               (m.s).origin_territory, (m.s).destination, p_requests[m.g]
          FROM m JOIN docs d ON d.id = m.id ORDER BY m.idx
    ), remembered AS (
        INSERT INTO bus.idempotency (service, request_id, method, fingerprint, reply)
        SELECT p_service, p_requests[k.g], p_methods[k.g], p_fps[k.g], p_replies[k.g]
          FROM groups k WHERE k.fate = 'ok'
    ), counted AS (
        SELECT m.idx, m.id, (m.s).destination AS destination,
               CASE m.to_status WHEN 'departed' THEN 1 ELSE -1 END AS sign,
               exports.month_of(CASE m.to_status WHEN 'departed' THEN m.at
                                                 ELSE m.departed_before END) AS month
          FROM m WHERE m.to_status IN ('departed', 'returned')
    ), cells AS (
        SELECT c.month, exports.region_of(l.territory_code) AS region,
               exports.district_of(l.territory_code) AS district, l.hs6, c.destination,
               (c.sign * sum(l.net_kg) * 1000)::bigint AS net_g,
               (c.sign * sum(l.value_usd) * 100)::bigint AS usd_cents,
               (c.sign * sum(l.value_som) * 100)::bigint AS som_tyiyn, c.sign AS n
          FROM counted c JOIN exports.lots l ON l.shipment_id = c.id
         GROUP BY c.idx, c.sign, c.month, 2, 3, l.hs6, c.destination
    ), counts AS (
        INSERT INTO exports.stats_monthly AS t (month, region, district, hs6, destination,
                                                stripe, net_g, usd_cents, som_tyiyn, shipments)
        SELECT c.month, c.region, c.district, c.hs6, c.destination,
               (pg_backend_pid() % 8)::smallint, sum(c.net_g), sum(c.usd_cents),
               sum(c.som_tyiyn), sum(c.n)
          FROM cells c
         GROUP BY 1, 2, 3, 4, 5
         ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (month, region, district, hs6, destination, stripe) DO UPDATE
           SET net_g = t.net_g + excluded.net_g, usd_cents = t.usd_cents + excluded.usd_cents,
               som_tyiyn = t.som_tyiyn + excluded.som_tyiyn,
               shipments = t.shipments + excluded.shipments
    )
    SELECT CASE k.fate WHEN 'refused' THEN k.kind WHEN 'reused' THEN 'invalid' ELSE k.fate END,
           CASE k.fate WHEN 'ok' THEN p_replies[k.g] WHEN 'replay' THEN (k.i).reply END,
           CASE k.fate WHEN 'refused' THEN k.problem_field WHEN 'reused' THEN 'request_id'
                       ELSE '' END,
           CASE k.fate WHEN 'refused' THEN k.problem
                       WHEN 'reused' THEN 'was already used for a different request'
                       ELSE '' END,
           k.g, CASE k.fate WHEN 'refused' THEN k.problems END
      FROM groups k;
END
$$;

-- Applies single moves of many requests (TransitionShipment), one per shipment, in one
-- statement: request g moves shipment p_ids[g]. Each row of the result is one request, in the
-- mutation convention's columns then g: 'ok' with p_replies[g]; 'replay' with the stored
-- reply of a retry; 'invalid' on request_id for an id used before by another request; or
-- 'check' when the move was not made: exports.move_refusals says why (refusals are rare, so
-- their checks are not planned and started on every call of this one).
--
-- No lock before the statement: the UPDATE locks each row and, when another transaction
-- changed it meanwhile, checks the move again against the row as that one left it
-- (PostgreSQL's re-check of the WHERE clause under READ COMMITTED), so exports.move_check
-- always judges the state the move is applied to. Statistics rows are written in key order.
CREATE FUNCTION exports.apply_transitions(
    p_service text, p_requests text[], p_fps text[], p_replies bytea[], p_callers text[],
    p_ids bigint[], p_to text[], p_at_us bigint[], p_agency text[], p_reason text[],
    p_reference text[], p_border text[], p_expected int[], p_event_ids uuid[], p_types text[],
    p_heads bytea[])
RETURNS TABLE (outcome text, reply bytea, field text, message text, grp int)
LANGUAGE plpgsql SET jit = off SET plan_cache_mode = force_generic_plan SET enable_seqscan = off
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH i AS MATERIALIZED (
        SELECT g, p_ids[g] AS id, p_to[g] AS to_status, exports.at_us(p_at_us[g]) AS at,
               p_agency[g] AS agency, p_border[g] AS border, p_expected[g] AS expected,
               -- A retry's stored reply (a scalar subquery: one index lookup per request,
               -- whatever the table's size when the plan was made).
               (SELECT x FROM bus.idempotency x
                 WHERE x.service = p_service AND x.request_id = p_requests[g]) AS prev
          FROM generate_subscripts(p_ids, 1) AS g
         -- The UPDATE meets (and locks) the shipments in this order: by id, as every
         -- statement of moves does, so that two of them rarely wait on each other in a
         -- cycle (when they do, PostgreSQL breaks it and exportd retries each request).
         ORDER BY p_ids[g]
    ), u AS (
        UPDATE exports.shipments s
           SET status = i.to_status, previous_status = s.status, version = s.version + 1,
               status_at = i.at,
               declared_at = CASE WHEN i.to_status = 'declared' THEN i.at ELSE s.declared_at END,
               documents_complete_at = CASE WHEN i.to_status = 'documents_complete' THEN i.at
                                            ELSE s.documents_complete_at END,
               released_at = CASE WHEN i.to_status = 'released' THEN i.at ELSE s.released_at END,
               departed_at = CASE WHEN i.to_status = 'departed' THEN i.at ELSE s.departed_at END,
               delivered_at = CASE WHEN i.to_status = 'delivered' THEN i.at
                                   ELSE s.delivered_at END,
               departed_via = CASE WHEN i.to_status = 'departed'
                                   THEN coalesce(nullif(i.border, ''), s.border_point)
                                   ELSE s.departed_via END,
               stats_month = CASE WHEN i.to_status = 'departed' THEN exports.month_of(i.at)
                                  WHEN i.to_status = 'returned' THEN NULL
                                  ELSE s.stats_month END
          FROM i
         WHERE s.id = i.id AND i.prev IS NULL
           AND (SELECT c.problem FROM exports.move_check(s, s.status, s.status_at, s.version,
                                                         i.to_status, i.at, i.agency, i.border,
                                                         i.expected) c) = 0
        RETURNING i.g, s.id, s.previous_status, s.status, s.version, s.status_at,
                  s.departed_at, s.departed_via, s.event_pb, s.hs6, s.origin_territory,
                  s.destination
    ), hist AS (
        INSERT INTO exports.shipment_history (shipment_id, version, from_status, to_status, at,
                                              caller, agency, reason, reference, border_point,
                                              request_id, event_id)
        SELECT u.id, u.version, u.previous_status, u.status, u.status_at, p_callers[u.g],
               p_agency[u.g], p_reason[u.g], p_reference[u.g],
               CASE WHEN u.status = 'departed' THEN u.departed_via END, p_requests[u.g],
               p_event_ids[u.g]
          FROM u
    ), ev AS (
        INSERT INTO bus.events (id, source, type, subject, data_schema, data, hs6, soate,
                                destination, request_id)
        SELECT p_event_ids[u.g], '/ovop/exports', p_types[u.g], 'shipment/' || u.id,
               'ovop.v1.ExportEvent', p_heads[u.g] || u.event_pb || l.refs, u.hs6,
               u.origin_territory, u.destination, p_requests[u.g]
          FROM u CROSS JOIN LATERAL exports.document_list(u.id) l
         ORDER BY u.g
    ), remembered AS (
        INSERT INTO bus.idempotency (service, request_id, method, fingerprint, reply)
        SELECT p_service, p_requests[u.g], 'TransitionShipment', p_fps[u.g], p_replies[u.g]
          FROM u
    ), counts AS (
        -- DEPARTED adds the shipment to the month it left in, RETURNED takes it out again.
        INSERT INTO exports.stats_monthly AS t (month, region, district, hs6, destination,
                                                stripe, net_g, usd_cents, som_tyiyn, shipments)
        SELECT c.month, c.region, c.district, c.hs6, c.destination,
               (pg_backend_pid() % 8)::smallint, sum(c.net_g), sum(c.usd_cents),
               sum(c.som_tyiyn), sum(c.n)
          FROM (SELECT exports.month_of(u.departed_at) AS month,
                       exports.region_of(l.territory_code) AS region,
                       exports.district_of(l.territory_code) AS district, l.hs6,
                       u.destination, k.sign * (sum(l.net_kg) * 1000)::bigint AS net_g,
                       k.sign * (sum(l.value_usd) * 100)::bigint AS usd_cents,
                       k.sign * (sum(l.value_som) * 100)::bigint AS som_tyiyn, k.sign AS n
                  FROM u
                  CROSS JOIN LATERAL (SELECT CASE u.status WHEN 'departed' THEN 1
                                                           ELSE -1 END AS sign) k
                  JOIN exports.lots l ON l.shipment_id = u.id
                 WHERE u.status IN ('departed', 'returned')
                 GROUP BY u.id, k.sign, 1, 2, 3, l.hs6, u.destination) c
         GROUP BY 1, 2, 3, 4, 5
         ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (month, region, district, hs6, destination, stripe) DO UPDATE
           SET net_g = t.net_g + excluded.net_g, usd_cents = t.usd_cents + excluded.usd_cents,
               som_tyiyn = t.som_tyiyn + excluded.som_tyiyn,
               shipments = t.shipments + excluded.shipments
    )
    SELECT CASE WHEN (i.prev).fingerprint = p_fps[i.g] THEN 'replay'
                WHEN i.prev IS NOT NULL THEN 'invalid'
                WHEN u.g IS NOT NULL THEN 'ok'
                ELSE 'check' END,
           CASE WHEN (i.prev).fingerprint = p_fps[i.g] THEN (i.prev).reply
                WHEN i.prev IS NULL AND u.g IS NOT NULL THEN p_replies[i.g] END,
           CASE WHEN i.prev IS NOT NULL AND (i.prev).fingerprint <> p_fps[i.g]
                THEN 'request_id' ELSE '' END,
           CASE WHEN i.prev IS NOT NULL AND (i.prev).fingerprint <> p_fps[i.g]
                THEN 'was already used for a different request' ELSE '' END,
           i.g
      FROM i LEFT JOIN u ON u.g = i.g;
END
$$;

-- Why the single moves that exports.apply_transitions did not make were refused, one row per
-- move in the same columns: the stored reply when the request turns out to be a retry whose
-- twin committed meanwhile, else the first refusal of exports.move_verdict, else 'none' (the
-- shipment changed again since: the move can be tried again).
CREATE FUNCTION exports.move_refusals(
    p_service text, p_requests text[], p_fps text[], p_ids bigint[], p_to text[],
    p_at_us bigint[], p_agency text[], p_border text[], p_expected int[])
RETURNS TABLE (outcome text, reply bytea, field text, message text, grp int)
LANGUAGE plpgsql STABLE SET jit = off AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT CASE WHEN (k.prev).fingerprint = p_fps[k.g] THEN 'replay'
                WHEN k.prev IS NOT NULL THEN 'invalid'
                ELSE coalesce(v.kind, 'none') END,
           CASE WHEN (k.prev).fingerprint = p_fps[k.g] THEN (k.prev).reply END,
           CASE WHEN k.prev IS NOT NULL AND (k.prev).fingerprint <> p_fps[k.g]
                THEN 'request_id' WHEN k.prev IS NULL THEN coalesce(v.field, '') ELSE '' END,
           CASE WHEN k.prev IS NOT NULL AND (k.prev).fingerprint <> p_fps[k.g]
                THEN 'was already used for a different request'
                WHEN k.prev IS NULL THEN coalesce(v.message, '') ELSE '' END,
           k.g
      FROM (SELECT g, (SELECT x FROM bus.idempotency x
                        WHERE x.service = p_service AND x.request_id = p_requests[g]) AS prev,
                   (SELECT s FROM exports.shipments s WHERE s.id = p_ids[g]) AS s
              FROM generate_subscripts(p_ids, 1) AS g
            OFFSET 0) k
     CROSS JOIN LATERAL exports.move_verdict(p_ids[k.g], k.s, (k.s).status, (k.s).status_at,
                                             (k.s).version, p_to[k.g],
                                             exports.at_us(p_at_us[k.g]), p_agency[k.g],
                                             p_border[k.g], p_expected[k.g]) v;
END
$$;

-- The sequencer's plans are kept per session too: made on a nearly empty bus.events, they
-- would scan the whole table on every run once it has grown.
ALTER FUNCTION bus.sequence_events(int) SET enable_seqscan = off;
